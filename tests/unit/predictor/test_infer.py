"""Task inference and every signature rule of the predictor contract (modelport.predictor.infer)."""

from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import pytest

from modelport import ChatCompletionChunk, Message, Parameter, SignatureError, Task, model
from modelport.app import spec_of
from modelport.predictor import (
    ChatSignature,
    EmbeddingSignature,
    ImageSignature,
    SpeechSignature,
    TranscriptionSignature,
    build_spec,
)

Embedding = Annotated[np.ndarray, Parameter.Embedding()]
Speech = Annotated[np.ndarray, Parameter.Audio(sample_rate=24_000)]
Audio16k = Annotated[np.ndarray, Parameter.Audio(sample_rate=16_000)]
Image = Annotated[np.ndarray, Parameter.Image()]
Voice = Annotated[Literal["alloy", "echo"], Parameter.AudioVoice()]
Speed = Annotated[float, Parameter.AudioSpeed(0.5, 2.0)]
EMPTY = np.zeros(0, dtype=np.float32)


class Register(StrEnum):
    LOW = "low"
    HIGH = "high"


def rule_broken(target: Any, rule: str, parameter: str | None = None, **options: Any) -> SignatureError:
    """Build a spec, expecting a SignatureError that names the target, the parameter at fault and the rule."""
    with pytest.raises(SignatureError) as excinfo:
        build_spec(target, **options)
    message = str(excinfo.value)
    qualname = target.__qualname__
    assert message.startswith(qualname), message
    assert rule in message, f"rule {rule!r} not in {message!r}"
    if parameter is not None:
        assert f"'{parameter}'" in message, f"parameter {parameter!r} not named in {message!r}"
        assert excinfo.value.parameter == parameter
    return excinfo.value


# Task inference


def test_chat_from_a_sync_generator_of_chunks() -> None:
    def chat(messages: list[Message], temperature: float = 1.0) -> Iterator[ChatCompletionChunk]:
        yield from ()

    spec = build_spec(chat)
    assert spec.task is Task.CHAT
    assert spec.signature == ChatSignature(messages="messages", yields_text=False)
    assert not spec.is_async
    assert not spec.is_class
    assert spec.name == "chat"
    assert spec.qualname == chat.__qualname__
    assert spec.target is chat


def test_chat_from_an_async_generator_of_chunks() -> None:
    async def chat(messages: list[Message]) -> AsyncIterator[ChatCompletionChunk]:
        for _ in ():
            yield _

    spec = build_spec(chat)
    assert spec.task is Task.CHAT
    assert spec.signature == ChatSignature(messages="messages", yields_text=False)
    assert spec.is_async


def test_chat_from_text_deltas() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield "hi"

    async def achat(messages: list[Message]) -> AsyncIterator[str]:
        yield "hi"

    assert build_spec(chat).signature == ChatSignature(messages="messages", yields_text=True)
    assert build_spec(achat).signature == ChatSignature(messages="messages", yields_text=True)


def test_chat_messages_are_found_by_type_not_name() -> None:
    def chat(conversation: Sequence[Message]) -> Generator[ChatCompletionChunk, None, None]:
        yield from ()

    spec = build_spec(chat)
    assert spec.task is Task.CHAT
    assert spec.signature == ChatSignature(messages="conversation")


def test_embeddings() -> None:
    def embed(texts: list[str], dimensions: Annotated[int, Parameter.EmbeddingDims(8, 64)] = 64) -> Embedding:
        return np.zeros((len(texts), dimensions), dtype=np.float32)

    spec = build_spec(embed)
    assert spec.task is Task.EMBEDDINGS
    assert spec.signature == EmbeddingSignature(
        texts="texts", dims_param="dimensions", dims=Parameter.EmbeddingDims(8, 64)
    )


def test_embeddings_without_dims() -> None:
    def embed(sentences: list[str]) -> Annotated[npt.NDArray[np.float32], Parameter.Embedding()]:
        return np.zeros((len(sentences), 4), dtype=np.float32)

    spec = build_spec(embed)
    assert spec.task is Task.EMBEDDINGS
    assert spec.signature == EmbeddingSignature(texts="sentences")


def test_speech() -> None:
    def speak(text: str, voice: Voice, speed: Speed = 1.0) -> Speech:
        return EMPTY

    spec = build_spec(speak)
    assert spec.task is Task.SPEECH
    assert spec.signature == SpeechSignature(
        text="text",
        voice_param="voice",
        voices=("alloy", "echo"),
        sample_rate=24_000,
        speed_param="speed",
        speed=Parameter.AudioSpeed(0.5, 2.0),
    )


def test_speech_voices_from_a_str_enum_and_no_speed() -> None:
    def speak(
        words: str, register: Annotated[Register, Parameter.AudioVoice()]
    ) -> Annotated[np.ndarray, Parameter.Audio(sample_rate=22_050)]:
        return EMPTY

    signature = build_spec(speak).signature
    assert isinstance(signature, SpeechSignature)
    assert signature.voices == ("low", "high")
    assert signature.voice_param == "register"
    assert signature.text == "words"
    assert signature.sample_rate == 22_050
    assert signature.speed_param is None
    assert signature.speed is None


def test_transcription() -> None:
    def transcribe(audio: Audio16k, language: str | None = None, prompt: str | None = None) -> str:
        return ""

    spec = build_spec(transcribe)
    assert spec.task is Task.TRANSCRIPTION
    assert spec.signature == TranscriptionSignature(audio="audio", sample_rate=16_000)


def test_transcription_accepts_a_parametrised_ndarray() -> None:
    def transcribe(
        samples: Annotated[npt.NDArray[np.float32], Parameter.Audio(sample_rate=8_000)],
    ) -> str:
        return ""

    assert build_spec(transcribe).signature == TranscriptionSignature(audio="samples", sample_rate=8_000)


def test_image() -> None:
    def draw(prompt: str, size: Literal["64x64"] = "64x64", n: int = 1, seed: int | None = None) -> Image:
        return np.zeros((64, 64, 3), dtype=np.uint8)

    spec = build_spec(draw)
    assert spec.task is Task.IMAGE
    assert spec.signature == ImageSignature(prompt="prompt", size_param="size", sizes=("64x64",), n_param="n")


def test_params_are_recorded_with_annotations_defaults_and_markers() -> None:
    marker = Parameter.Generic(description="stop after this many words")

    def chat(messages: list[Message], max_tokens: Annotated[int | None, marker] = None) -> Iterator[str]:
        yield ""

    spec = build_spec(chat)
    messages, max_tokens = spec.params
    assert messages.name == "messages"
    assert messages.required
    assert max_tokens.name == "max_tokens"
    assert max_tokens.annotation == int | None
    assert max_tokens.default is None
    # typing caches Annotated[...] by equality, so an equal marker from elsewhere may be the one recorded.
    assert max_tokens.marker == marker
    assert not max_tokens.required
    assert spec.optional_params() == {"max_tokens": max_tokens}


def test_a_signature_that_fits_no_task() -> None:
    def double(x: int) -> int:
        return 2 * x

    rule_broken(double, "cannot infer the task")


# An explicit task


def test_explicit_task_by_name_or_enum() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield ""

    assert build_spec(chat, task="chat").task is Task.CHAT
    assert build_spec(chat, task=Task.CHAT).task is Task.CHAT


def test_explicit_task_unknown() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield ""

    error = rule_broken(chat, "unknown task 'video'", task="video")
    for task in Task:
        assert task.value in str(error)


def test_explicit_task_checks_that_tasks_rules() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield ""

    rule_broken(chat, "a speech function takes a voice", task="speech")


# Chat rules


def test_chat_without_messages() -> None:
    def chat(prompt: str) -> Iterator[ChatCompletionChunk]:
        yield from ()

    rule_broken(chat, "takes exactly one parameter typed list[Message]")


def test_chat_with_two_message_lists() -> None:
    def chat(messages: list[Message], history: list[Message]) -> Iterator[str]:
        yield ""

    rule_broken(chat, "takes exactly one parameter typed list[Message]")


def test_chat_messages_with_a_default() -> None:
    def chat(messages: list[Message] = ()) -> Iterator[str]:
        yield ""

    rule_broken(chat, "messages parameter must be required", "messages")


def test_chat_another_required_param() -> None:
    def chat(messages: list[Message], temperature: float) -> Iterator[str]:
        yield ""

    rule_broken(chat, "other parameters need defaults", "temperature")


@pytest.mark.parametrize("returns", [str, list[str], Iterator[int], AsyncIterator[bytes], ChatCompletionChunk])
def test_chat_wrong_return_type(returns: Any) -> None:
    def chat(messages: list[Message]) -> Any:
        return None

    chat.__annotations__["return"] = returns
    rule_broken(chat, "a chat function returns Iterator[ChatCompletionChunk]", task="chat")


def test_chat_async_def_annotated_iterator() -> None:
    async def chat(messages: list[Message]) -> Iterator[str]:
        yield ""

    rule_broken(chat, "an `async def` generator must be annotated AsyncIterator")


def test_chat_plain_generator_annotated_async_iterator() -> None:
    def chat(messages: list[Message]) -> AsyncIterator[str]:
        yield ""

    rule_broken(chat, "a plain generator must be annotated Iterator[...], not AsyncIterator")


# Embedding rules


def test_embeddings_with_no_required_param() -> None:
    def embed(texts: list[str] = ()) -> Embedding:
        return EMPTY

    error = rule_broken(embed, "exactly one required parameter, the list of texts")
    assert "found: none" in str(error)


def test_embeddings_with_two_required_params() -> None:
    def embed(texts: list[str], model: str) -> Embedding:
        return EMPTY

    error = rule_broken(embed, "exactly one required parameter, the list of texts")
    assert "found: texts, model" in str(error)


@pytest.mark.parametrize("annotation", [str, list[int], tuple[str, ...], list[Message]])
def test_embeddings_texts_not_a_list_of_str(annotation: Any) -> None:
    def embed(texts: Any) -> Embedding:
        return EMPTY

    embed.__annotations__["texts"] = annotation
    rule_broken(embed, "the texts parameter must be typed list[str]", "texts")


def test_embeddings_dims_not_int() -> None:
    def embed(texts: list[str], dims: Annotated[float, Parameter.EmbeddingDims(8, 64)] = 64.0) -> Embedding:
        return EMPTY

    rule_broken(embed, "an EmbeddingDims parameter must be typed int", "dims")


def test_embeddings_dims_without_default() -> None:
    def embed(texts: list[str], dims: Annotated[int, Parameter.EmbeddingDims(8, 64)]) -> Embedding:
        return EMPTY

    # A required dims parameter is a second required parameter; either rule may report it, naming it.
    with pytest.raises(SignatureError, match=r"exactly one required parameter|needs an int default") as excinfo:
        build_spec(embed)
    message = str(excinfo.value)
    assert message.startswith(embed.__qualname__)
    assert "dims" in message.removeprefix(embed.__qualname__)


@pytest.mark.parametrize("default", [4, 65, 0])
def test_embeddings_dims_default_out_of_range(default: int) -> None:
    def embed(texts: list[str], dims: Annotated[int, Parameter.EmbeddingDims(8, 64)] = default) -> Embedding:
        return EMPTY

    rule_broken(embed, "needs an int default between 8 and 64", "dims")


@pytest.mark.parametrize(
    "returns",
    [
        np.ndarray,
        Annotated[np.ndarray, Parameter.Audio(sample_rate=8_000)],
        Annotated[list[float], Parameter.Embedding()],
    ],
)
def test_embeddings_return_not_annotated_embedding(returns: Any) -> None:
    def embed(texts: list[str]) -> Any:
        return EMPTY

    embed.__annotations__["return"] = returns
    rule_broken(embed, "an embedding function returns Annotated[np.ndarray, Parameter.Embedding()]", task="embeddings")


def test_embeddings_two_dims_params() -> None:
    def embed(
        texts: list[str],
        dims: Annotated[int, Parameter.EmbeddingDims(8, 64)] = 64,
        size: Annotated[int, Parameter.EmbeddingDims(8, 64)] = 64,
    ) -> Embedding:
        return EMPTY

    rule_broken(embed, "only one parameter may be annotated Parameter.EmbeddingDims", "size")


# Speech rules


def test_speech_without_voice() -> None:
    def speak(text: str) -> Speech:
        return EMPTY

    rule_broken(speak, "a speech function takes a voice")


@pytest.mark.parametrize("annotation", [str, Literal[1, 2], int])
def test_speech_voice_not_literal_or_str_enum(annotation: Any) -> None:
    def speak(text: str, voice: Any) -> Speech:
        return EMPTY

    speak.__annotations__["voice"] = Annotated[annotation, Parameter.AudioVoice()]
    rule_broken(speak, "voice must be typed Literal[...] of strings or a StrEnum", "voice")


def test_speech_voice_with_default() -> None:
    def speak(text: str, voice: Voice = "alloy") -> Speech:
        return EMPTY

    rule_broken(speak, "voice must be required (no default)", "voice")


def test_speech_two_voices() -> None:
    def speak(text: str, voice: Voice, other: Voice) -> Speech:
        return EMPTY

    rule_broken(speak, "only one parameter may be annotated Parameter.AudioVoice", "other")


def test_speech_speed_without_default() -> None:
    def speak(text: str, voice: Voice, speed: Speed) -> Speech:
        return EMPTY

    rule_broken(speak, "speed needs a default", "speed")


@pytest.mark.parametrize("default", [0.25, 3.0])
def test_speech_speed_default_out_of_range(default: float) -> None:
    def speak(text: str, voice: Voice, speed: Speed = default) -> Speech:
        return EMPTY

    rule_broken(speak, "the speed's default must lie between 0.5 and 2.0", "speed")


def test_speech_speed_typed_str() -> None:
    def speak(text: str, voice: Voice, speed: Annotated[str, Parameter.AudioSpeed()] = "1.0") -> Speech:
        return EMPTY

    rule_broken(speak, "a speed parameter must be typed float", "speed")


@pytest.mark.parametrize(
    "returns",
    [np.ndarray, Annotated[np.ndarray, Parameter.Embedding()], Annotated[bytes, Parameter.Audio(sample_rate=8_000)]],
)
def test_speech_return_without_audio(returns: Any) -> None:
    def speak(text: str, voice: Voice) -> Any:
        return EMPTY

    speak.__annotations__["return"] = returns
    rule_broken(
        speak, "a speech function returns Annotated[np.ndarray, Parameter.Audio(sample_rate=...)]", task="speech"
    )


def test_speech_without_text() -> None:
    def speak(voice: Voice) -> Speech:
        return EMPTY

    rule_broken(speak, "exactly one required str parameter, the text to speak")


def test_speech_text_not_str() -> None:
    def speak(text: bytes, voice: Voice) -> Speech:
        return EMPTY

    rule_broken(speak, "exactly one required str parameter, the text to speak")


# Transcription rules


def test_transcription_audio_not_ndarray() -> None:
    def transcribe(audio: Annotated[bytes, Parameter.Audio(sample_rate=16_000)]) -> str:
        return ""

    rule_broken(transcribe, "the audio parameter must be typed np.ndarray", "audio")


def test_transcription_audio_with_default() -> None:
    def transcribe(audio: Audio16k = EMPTY) -> str:
        return ""

    rule_broken(transcribe, "the audio parameter must be required", "audio")


def test_transcription_another_required_param() -> None:
    def transcribe(audio: Audio16k, language: str) -> str:
        return ""

    rule_broken(transcribe, "a transcription function's other parameters need defaults", "language")


@pytest.mark.parametrize("returns", [bytes, list[str], Iterator[str]])
def test_transcription_return_not_str(returns: Any) -> None:
    def transcribe(audio: Audio16k) -> Any:
        return ""

    transcribe.__annotations__["return"] = returns
    rule_broken(transcribe, "a transcription function returns str", task="transcription")


def test_transcription_without_audio_param() -> None:
    def transcribe(audio: np.ndarray) -> str:
        return ""

    rule_broken(transcribe, "takes its audio as Annotated[np.ndarray, Parameter.Audio", task="transcription")


# Image rules


@pytest.mark.parametrize("annotation", [int, bytes, list[str]])
def test_image_prompt_not_str(annotation: Any) -> None:
    def draw(prompt: Any) -> Image:
        return EMPTY

    draw.__annotations__["prompt"] = annotation
    rule_broken(draw, "an image function's prompt is a required str", "prompt")


def test_image_prompt_and_another_required_param() -> None:
    def draw(prompt: str, size: str) -> Image:
        return EMPTY

    rule_broken(draw, "an image function's other parameters need defaults", "size")


def test_image_without_prompt() -> None:
    def draw(prompt: str = "a cat") -> Image:
        return EMPTY

    rule_broken(draw, "an image function's prompt is a required str", "prompt")


def test_image_return_not_marked() -> None:
    def draw(prompt: str) -> np.ndarray:
        return EMPTY

    rule_broken(
        draw, "an image function returns Annotated[PIL.Image.Image or np.ndarray, Parameter.Image()]", task="image"
    )


# Rules for every task


def test_param_without_annotation() -> None:
    def chat(messages: list[Message], temperature=1.0) -> Iterator[str]:
        yield ""

    rule_broken(chat, "every parameter needs a type annotation", "temperature")


def test_missing_return_annotation() -> None:
    def chat(messages: list[Message]):
        yield ""

    rule_broken(chat, "the return value needs a type annotation")


def test_var_positional() -> None:
    def chat(messages: list[Message], *extra: str) -> Iterator[str]:
        yield ""

    rule_broken(chat, "*args and **kwargs are not supported", "extra")


def test_var_keyword() -> None:
    def chat(messages: list[Message], **options: Any) -> Iterator[str]:
        yield ""

    rule_broken(chat, "*args and **kwargs are not supported", "options")


def test_positional_only() -> None:
    def chat(messages: list[Message], /) -> Iterator[str]:
        yield ""

    rule_broken(chat, "positional-only parameters are not supported", "messages")


def test_unresolvable_type_hints() -> None:
    def chat(messages: "list[Mesage]") -> Iterator[str]:  # noqa: F821
        yield ""

    rule_broken(chat, "its type hints cannot be resolved")


def test_not_callable() -> None:
    with pytest.raises(SignatureError, match="a model must be a function or a class with __call__"):
        build_spec(42)


# Classes


def test_class_with_call_load_and_unload() -> None:
    class Embedder:
        """Embeds texts.

        More detail.
        """

        def __init__(self, scale: float = 1.0) -> None:
            self.scale = scale

        def load(self) -> None: ...

        def unload(self, force: bool = False) -> None: ...

        def __call__(self, texts: list[str]) -> Embedding:
            return np.full((len(texts), 4), self.scale, dtype=np.float32)

    spec = build_spec(Embedder)
    assert spec.task is Task.EMBEDDINGS
    assert spec.is_class
    assert not spec.is_async
    assert spec.name == "Embedder"
    assert spec.qualname == Embedder.__qualname__
    assert spec.description == "Embeds texts."
    assert [p.name for p in spec.params] == ["texts"]


def test_class_with_async_call_and_hooks() -> None:
    class Chat:
        async def load(self) -> None: ...

        async def unload(self) -> None: ...

        async def __call__(self, messages: list[Message]) -> AsyncIterator[str]:
            yield ""

    spec = build_spec(Chat)
    assert spec.task is Task.CHAT
    assert spec.is_class
    assert spec.is_async


def test_configured_instance_is_served_as_it_is() -> None:
    class Embedder:
        """Embeds texts at a scale."""

        def __init__(self, scale: float) -> None:
            self.scale = scale

        def load(self) -> None: ...

        def __call__(self, texts: list[str]) -> Embedding:
            return np.full((len(texts), 4), self.scale, dtype=np.float32)

    instance = Embedder(2.0)
    spec = build_spec(instance, name="scaled")
    assert (spec.task, spec.name, spec.target) == (Task.EMBEDDINGS, "scaled", instance)
    assert spec.is_instance
    assert not spec.is_class
    assert spec.qualname == Embedder.__qualname__
    assert spec.description == "Embeds texts at a scale."
    assert [p.name for p in spec.params] == ["texts"]
    with pytest.raises(SignatureError, match="the model needs a name"):
        build_spec(instance)


def test_class_inherits_call() -> None:
    class Base:
        def __call__(self, prompt: str) -> Image:
            return EMPTY

    class Child(Base):
        pass

    spec = build_spec(Child)
    assert spec.task is Task.IMAGE
    assert spec.name == "Child"


def test_class_without_call() -> None:
    class NotAModel:
        def predict(self, texts: list[str]) -> Embedding:
            return EMPTY

    rule_broken(NotAModel, "a model class must define __call__")


def test_class_whose_init_needs_args() -> None:
    class Embedder:
        def __init__(self, path: str) -> None:
            self.path = path

        def __call__(self, texts: list[str]) -> Embedding:
            return EMPTY

    rule_broken(Embedder, "a model class is created with no arguments", "path")


@pytest.mark.parametrize("hook", ["load", "unload"])
def test_class_hook_needing_args(hook: str) -> None:
    class Embedder:
        def __call__(self, texts: list[str]) -> Embedding:
            return EMPTY

    def needs_device(self: Any, device: str) -> None: ...

    setattr(Embedder, hook, needs_device)
    rule_broken(Embedder, f"{hook}() is called with no arguments", "device")


def test_class_hook_not_a_method() -> None:
    class Embedder:
        load = 5

        def __call__(self, texts: list[str]) -> Embedding:
            return EMPTY

    rule_broken(Embedder, "load must be a method")


# Parameter annotations


def test_embedding_dims_min_above_max() -> None:
    with pytest.raises(ValueError, match="EmbeddingDims needs 1 <= min <= max"):
        Parameter.EmbeddingDims(64, 8)


def test_embedding_dims_min_below_one() -> None:
    with pytest.raises(ValueError, match="EmbeddingDims needs 1 <= min <= max"):
        Parameter.EmbeddingDims(0, 8)


@pytest.mark.parametrize("rate", [0, -16_000])
def test_audio_sample_rate_not_positive(rate: int) -> None:
    with pytest.raises(ValueError, match="Audio needs a positive sample_rate"):
        Parameter.Audio(sample_rate=rate)


@pytest.mark.parametrize(("low", "high"), [(0, 1), (-1, 1), (2.0, 1.0)])
def test_audio_speed_bounds(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="AudioSpeed needs 0 < min <= max"):
        Parameter.AudioSpeed(low, high)


def test_annotations_carry_a_description_and_compare_by_value() -> None:
    assert Parameter.Generic(description="doc").description == "doc"
    assert Parameter.EmbeddingDims(8, 64) == Parameter.EmbeddingDims(min=8, max=64)
    assert Parameter.AudioSpeed() == Parameter.AudioSpeed(0.25, 4.0)


# Description, aliases and the decorator


def test_description_defaults_to_the_first_docstring_paragraph() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        """Repeats the last message
        back to the user.

        Longer explanation that is not part of the description.
        """
        yield ""

    assert build_spec(chat).description == "Repeats the last message back to the user."


def test_description_without_docstring_is_empty() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield ""

    assert build_spec(chat).description == ""


def test_explicit_description_wins() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        """Docstring."""
        yield ""

    assert build_spec(chat, description="Explicit.").description == "Explicit."
    assert build_spec(chat, description="").description == ""


def test_name_and_aliases_are_recorded() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield ""

    spec = build_spec(chat, name="echo", aliases=["echo-1", "gpt-echo"])
    assert spec.name == "echo"
    assert spec.aliases == ("echo-1", "gpt-echo")
    assert spec.names == ("echo", "echo-1", "gpt-echo")


def test_bare_decorator() -> None:
    def chat(messages: list[Message]) -> Iterator[str]:
        yield "hello"

    decorated = model(chat)
    assert decorated is chat
    assert list(chat([])) == ["hello"]
    spec = spec_of(chat)
    assert spec is not None
    assert spec.name == "chat"
    assert spec.task is Task.CHAT


def test_decorator_with_arguments() -> None:
    def embed(texts: list[str]) -> Embedding:
        return np.ones((len(texts), 2), dtype=np.float32)

    decorated = model("hash", aliases=["h"], description="Hashes.")(embed)
    assert decorated is embed
    assert embed(["a"]).shape == (1, 2)
    spec = spec_of(embed)
    assert spec is not None
    assert (spec.name, spec.aliases, spec.description, spec.task) == ("hash", ("h",), "Hashes.", Task.EMBEDDINGS)


def test_decorator_with_empty_parentheses_and_on_a_class() -> None:
    @model()
    def draw(prompt: str) -> Image:
        return EMPTY

    @model
    class Draw:
        def __call__(self, prompt: str) -> Image:
            return EMPTY

    function_spec, class_spec = spec_of(draw), spec_of(Draw)
    assert function_spec is not None
    assert function_spec.name == "draw"
    assert class_spec is not None
    assert class_spec.is_class
    assert class_spec.name == "Draw"
    assert isinstance(Draw(), Draw)


def test_decorator_raises_at_decoration_time() -> None:
    def chat(messages: list[Message], temperature: float) -> Iterator[str]:
        yield ""

    decorate = model("chat")
    with pytest.raises(SignatureError, match=r"parameter 'temperature': a chat function's other parameters"):
        decorate(chat)
    assert spec_of(chat) is None


def test_decorator_with_explicit_task() -> None:
    def embed(texts: list[str]) -> Embedding:
        return EMPTY

    decorate = model(task="speech")
    with pytest.raises(SignatureError, match="a speech function takes a voice"):
        decorate(embed)


def test_signature_error_is_a_type_error_with_fields() -> None:
    error = SignatureError("f", "a rule", "x")
    assert isinstance(error, TypeError)
    assert str(error) == "f, parameter 'x': a rule"
    assert (error.function, error.parameter, error.rule) == ("f", "x", "a rule")
    assert str(SignatureError("f", "a rule")) == "f: a rule"
