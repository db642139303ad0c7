"""What registration learns from a predictor's signature: its task and how to call it."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from modelport.parameters import Parameter


class Task(StrEnum):
    """The kinds of model modelport serves, each behind its OpenAI endpoint."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    SPEECH = "speech"
    TRANSCRIPTION = "transcription"
    IMAGE = "image"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a predictor: its name, its type without `Annotated`, its default and marker."""

    name: str
    annotation: Any
    default: Any = inspect.Parameter.empty
    marker: object | None = None

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


@dataclass(frozen=True)
class ChatSignature:
    messages: str
    # The predictor yields plain text deltas instead of ChatCompletionChunk objects.
    yields_text: bool = False
    # Messages annotated Parameter.Audio(sample_rate=...): the predictor takes `input_audio` parts itself,
    # decoded to samples at this rate, instead of their transcripts.
    audio_sample_rate: int | None = None


@dataclass(frozen=True)
class EmbeddingSignature:
    texts: str
    dims_param: str | None = None
    dims: Parameter.EmbeddingDims | None = None


@dataclass(frozen=True)
class SpeechSignature:
    text: str
    voice_param: str
    voices: tuple[str, ...]
    sample_rate: int
    speed_param: str | None = None
    speed: Parameter.AudioSpeed | None = None
    # The predictor returns an iterator of sample arrays (streamed as they come) instead of one array.
    streams: bool = False


@dataclass(frozen=True)
class TranscriptionSignature:
    audio: str
    sample_rate: int
    # The predictor yields the transcript as it grows (streamed as text deltas) instead of returning it.
    streams: bool = False


@dataclass(frozen=True)
class ImageInput:
    """An image parameter (`image` or `mask`): the server decodes uploads to what it is typed as."""

    name: str
    # "pil" for PIL.Image.Image, "array" for a uint8 np.ndarray (H, W, 3) or (H, W, 4).
    kind: str
    # Typed list[...]: it takes every uploaded image, not only one.
    many: bool = False
    required: bool = True


@dataclass(frozen=True)
class ImageSignature:
    """What an image function takes: a prompt (generations and edits) and/or an image (edits, variations)."""

    prompt: str | None = None
    image: ImageInput | None = None
    mask: ImageInput | None = None
    size_param: str | None = None
    # The sizes a `Literal[...]`-typed size allows, or the range of a `Parameter.ImageSize` one.
    sizes: tuple[str, ...] | None = None
    size_range: Parameter.ImageSize | None = None
    # The function takes `n` and makes that many images per call (otherwise it is called n times).
    n_param: str | None = None
    # The function returns a list of images rather than one.
    returns_list: bool = False
    # The function yields images as it works: every item but the last is a preview, the last the result.
    streams: bool = False

    @property
    def generates(self) -> bool:
        """Serves /v1/images/generations: a prompt, and no image it cannot do without."""
        return self.prompt is not None and (self.image is None or not self.image.required)

    @property
    def edits(self) -> bool:
        """Serves /v1/images/edits: a prompt and an image."""
        return self.prompt is not None and self.image is not None

    @property
    def varies(self) -> bool:
        """Serves /v1/images/variations: an image (a prompt, if taken, is left empty)."""
        return self.image is not None


@dataclass(frozen=True)
class ForwardSignature:
    """The predictor takes each request whole, as a `ForwardRequest`, and answers for every task: a model
    another server serves, say. Its spec's `task` is the one it is listed under."""


@dataclass(frozen=True)
class ForwardRequest:
    """One request as the client sent it, handed to a predictor with a `ForwardSignature`.

    `endpoint` is the OpenAI path below `/v1` (`chat/completions`, `embeddings`, `audio/speech`, ...);
    `fields` holds every field the client sent, unknown ones included; `reply` says what the caller
    reads back: one JSON object, the stream's JSON events, or the body's bytes as they arrive. A `GET`
    (`audio/voices`) sends `fields` as its query and reads one JSON object.
    """

    endpoint: str
    fields: dict[str, Any]
    reply: Literal["json", "events", "bytes"] = "json"
    # A multipart upload (transcriptions): the file's name and content.
    file: tuple[str, bytes] | None = None
    method: Literal["POST", "GET"] = "POST"


TaskSignature = (
    ChatSignature | EmbeddingSignature | SpeechSignature | TranscriptionSignature | ImageSignature | ForwardSignature
)


@dataclass(frozen=True)
class ModelSpec:
    """A validated predictor: the registry serves it under `name` and each of `aliases`."""

    name: str
    task: Task
    target: Any
    qualname: str
    signature: TaskSignature
    params: tuple[ParamSpec, ...]
    description: str = ""
    aliases: tuple[str, ...] = ()
    # The call is a coroutine function or an async generator function.
    is_async: bool = False
    is_class: bool = False
    # The target is an object with `__call__`, served as it is, with its load/unload hooks.
    is_instance: bool = False
    owned_by: str = "modelport"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def forwards(self) -> bool:
        """The predictor takes requests whole (`ForwardSignature`) and serves every endpoint."""
        return isinstance(self.signature, ForwardSignature)

    def optional_params(self) -> dict[str, ParamSpec]:
        """Parameters with defaults: each may be set by the request field of the same name."""
        return {p.name: p for p in self.params if not p.required}
