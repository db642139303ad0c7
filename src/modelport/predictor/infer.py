"""Task inference and the signature rules of the predictor contract.

`build_spec` reads a function's (or a class's `__call__`) type hints, decides which task it serves and
checks every rule of that task. A broken rule raises `SignatureError` naming the function, the parameter
and the rule, so a bad model fails at start-up instead of on its first request.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

from modelport.errors import SignatureError
from modelport.parameters import Parameter
from modelport.predictor import hints
from modelport.predictor.spec import (
    ChatSignature,
    EmbeddingSignature,
    ImageInput,
    ImageSignature,
    ModelSpec,
    ParamSpec,
    SpeechSignature,
    Task,
    TaskSignature,
    TranscriptionSignature,
)
from modelport.transcript import Transcript

_TRANSCRIPTION_RESULTS = (str, Transcript, str | Transcript)


def build_spec(
    target: Any,
    *,
    name: str | None = None,
    task: Task | str | None = None,
    aliases: Sequence[str] = (),
    description: str | None = None,
) -> ModelSpec:
    """Validate `target` (a function, or a class with `__call__`) and describe how to serve it."""
    is_class = inspect.isclass(target)
    # An object with `__call__` (say, a configured model class's instance) is served as it is.
    is_instance = not is_class and callable(target) and not inspect.isroutine(target)
    owner = type(target) if is_instance else target
    qualname = getattr(owner, "__qualname__", repr(target))
    function = _callable_of(owner, qualname)
    params, returns = _read_signature(function, qualname, skip_self=is_class or is_instance)
    chosen = _infer_task(params, returns, qualname) if task is None else _parse_task(task, qualname)
    signature = _CHECKS[chosen](params, returns, qualname)
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    streaming = SpeechSignature | TranscriptionSignature | ImageSignature
    if chosen is Task.CHAT or (isinstance(signature, streaming) and signature.streams):
        _check_chat_sync_async(function, returns, qualname)
    if is_class:
        _check_init(target, qualname)
    if is_class or is_instance:
        _check_lifecycle(owner, qualname)
    if description is None:
        description = (inspect.getdoc(target) or "").split("\n\n")[0].replace("\n", " ")
    model_name = name or getattr(target, "__name__", "")
    if not model_name:
        raise SignatureError(qualname, "the model needs a name")
    return ModelSpec(
        name=model_name,
        task=chosen,
        target=target,
        qualname=qualname,
        signature=signature,
        params=tuple(params.values()),
        description=description,
        aliases=tuple(aliases),
        is_async=is_async,
        is_class=is_class,
        is_instance=is_instance,
    )


def _callable_of(target: Any, qualname: str) -> Callable[..., Any]:
    if inspect.isclass(target):
        # Look in the class and its bases only: `target.__call__` would find the metaclass's `type.__call__`.
        call = next((klass.__dict__["__call__"] for klass in target.__mro__ if "__call__" in klass.__dict__), None)
        if call is None:
            raise SignatureError(qualname, "a model class must define __call__")
        return typing.cast(Callable[..., Any], call)
    if not callable(target):
        raise SignatureError(qualname, "a model must be a function or a class with __call__")
    return typing.cast(Callable[..., Any], target)


def _read_signature(
    function: Callable[..., Any], qualname: str, *, skip_self: bool
) -> tuple[dict[str, ParamSpec], Any]:
    try:
        type_hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:
        raise SignatureError(qualname, f"its type hints cannot be resolved ({exc})") from exc
    signature = inspect.signature(function)
    items = list(signature.parameters.values())
    if skip_self and items:
        items = items[1:]
    params: dict[str, ParamSpec] = {}
    for param in items:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise SignatureError(qualname, "*args and **kwargs are not supported; name every parameter", param.name)
        if param.kind is param.POSITIONAL_ONLY:
            raise SignatureError(qualname, "positional-only parameters are not supported", param.name)
        if param.name not in type_hints:
            raise SignatureError(qualname, "every parameter needs a type annotation", param.name)
        base, marker = hints.split_annotated(type_hints[param.name])
        params[param.name] = ParamSpec(param.name, base, param.default, marker)
    if "return" not in type_hints:
        raise SignatureError(qualname, "the return value needs a type annotation")
    return params, type_hints["return"]


def _parse_task(task: Task | str, qualname: str) -> Task:
    try:
        return Task(task)
    except ValueError:
        valid = ", ".join(t.value for t in Task)
        raise SignatureError(qualname, f"unknown task {task!r}; valid tasks: {valid}") from None


def _infer_task(params: dict[str, ParamSpec], returns: Any, qualname: str) -> Task:
    base, marker = hints.split_annotated(returns)
    item = hints.iterator_item(base)
    if item is not None:
        base, marker = hints.split_annotated(item[0])
    if marker is None and hints.is_list(base):
        # `list[Annotated[PIL.Image.Image, Parameter.Image()]]`: the marker is on the item.
        marker = hints.split_annotated(typing.get_args(base)[0])[1]
    if isinstance(marker, Parameter.Embedding):
        return Task.EMBEDDINGS
    if isinstance(marker, Parameter.Audio):
        return Task.SPEECH
    if isinstance(marker, Parameter.Image):
        return Task.IMAGE
    # A conversation annotated Parameter.Audio is a chat function's, one that hears its input audio itself.
    if any(isinstance(p.marker, Parameter.Audio) and not hints.is_message_list(p.annotation) for p in params.values()):
        return Task.TRANSCRIPTION
    if hints.is_chunk_type(base) or any(hints.is_message_list(p.annotation) for p in params.values()):
        return Task.CHAT
    raise SignatureError(
        qualname,
        "cannot infer the task: take `messages: list[Message]` for chat, return "
        "Annotated[np.ndarray, Parameter.Embedding()] for embeddings or Annotated[np.ndarray, "
        "Parameter.Audio(sample_rate=...)] for speech, take an Annotated[np.ndarray, Parameter.Audio(...)] "
        "parameter for transcription, return Parameter.Image() for images, or pass task=",
    )


def _only_one_required(params: dict[str, ParamSpec], allowed: set[str], qualname: str, task: str) -> None:
    for p in params.values():
        if p.required and p.name not in allowed:
            raise SignatureError(
                qualname,
                f"a {task} function's other parameters need defaults; give this one a default",
                p.name,
            )


def _find_marked(params: dict[str, ParamSpec], kind: type, qualname: str, label: str) -> ParamSpec | None:
    found = [p for p in params.values() if isinstance(p.marker, kind)]
    if len(found) > 1:
        raise SignatureError(qualname, f"only one parameter may be annotated {label}", found[1].name)
    return found[0] if found else None


def _check_chat(params: dict[str, ParamSpec], returns: Any, qualname: str) -> ChatSignature:
    messages = [p for p in params.values() if hints.is_message_list(p.annotation)]
    if len(messages) != 1:
        raise SignatureError(
            qualname, "a chat function takes exactly one parameter typed list[Message] (the conversation)"
        )
    if not messages[0].required:
        raise SignatureError(qualname, "a chat function's messages parameter must be required", messages[0].name)
    _only_one_required(params, {messages[0].name}, qualname, "chat")
    base, _ = hints.split_annotated(returns)
    item = hints.iterator_item(base)
    if item is None or not (hints.is_chunk_type(item[0]) or item[0] is str):
        raise SignatureError(
            qualname,
            "a chat function returns Iterator[ChatCompletionChunk] or AsyncIterator[ChatCompletionChunk] "
            f"(or an iterator of str text deltas), not {hints.describe(returns)}",
        )
    marker = messages[0].marker
    rate = marker.sample_rate if isinstance(marker, Parameter.Audio) else None
    return ChatSignature(messages=messages[0].name, yields_text=item[0] is str, audio_sample_rate=rate)


def _check_chat_sync_async(function: Callable[..., Any], returns: Any, qualname: str) -> None:
    item = hints.iterator_item(hints.split_annotated(returns)[0])
    if item is None:
        return
    if inspect.isasyncgenfunction(function) and not item[1]:
        raise SignatureError(qualname, "an `async def` generator must be annotated AsyncIterator[...]")
    if inspect.isgeneratorfunction(function) and item[1]:
        raise SignatureError(qualname, "a plain generator must be annotated Iterator[...], not AsyncIterator")


def _check_embeddings(params: dict[str, ParamSpec], returns: Any, qualname: str) -> EmbeddingSignature:
    dims_param = _find_marked(params, Parameter.EmbeddingDims, qualname, "Parameter.EmbeddingDims")
    dims: Parameter.EmbeddingDims | None = None
    if dims_param is not None:
        dims = typing.cast(Parameter.EmbeddingDims, dims_param.marker)
        if dims_param.annotation is not int:
            raise SignatureError(qualname, "an EmbeddingDims parameter must be typed int", dims_param.name)
        default = dims_param.default
        if not isinstance(default, int) or not dims.min <= default <= dims.max:
            raise SignatureError(
                qualname,
                f"an EmbeddingDims parameter needs an int default between {dims.min} and {dims.max}",
                dims_param.name,
            )
    required = [p for p in params.values() if p.required]
    if len(required) != 1:
        names = ", ".join(p.name for p in required) or "none"
        raise SignatureError(
            qualname,
            f"an embedding function has exactly one required parameter, the list of texts (found: {names})",
        )
    texts = required[0]
    if not hints.is_list_of(texts.annotation, str):
        raise SignatureError(
            qualname,
            f"the texts parameter must be typed list[str], not {hints.describe(texts.annotation)}",
            texts.name,
        )
    base, marker = hints.split_annotated(returns)
    if not isinstance(marker, Parameter.Embedding) or not hints.is_ndarray(base):
        raise SignatureError(
            qualname,
            "an embedding function returns Annotated[np.ndarray, Parameter.Embedding()] (float32, shape (N, D)), "
            f"not {hints.describe(returns)}",
        )
    return EmbeddingSignature(texts=texts.name, dims_param=dims_param.name if dims_param else None, dims=dims)


def _check_speech(params: dict[str, ParamSpec], returns: Any, qualname: str) -> SpeechSignature:
    voice = _find_marked(params, Parameter.AudioVoice, qualname, "Parameter.AudioVoice")
    if voice is None:
        raise SignatureError(
            qualname,
            "a speech function takes a voice: Annotated[Literal[...] or a StrEnum, Parameter.AudioVoice()]",
        )
    voices = hints.literal_strings(voice.annotation)
    if voices is None:
        raise SignatureError(
            qualname,
            f"a speech function's voice must be typed Literal[...] of strings or a StrEnum, not "
            f"{hints.describe(voice.annotation)}",
            voice.name,
        )
    if not voice.required:
        raise SignatureError(qualname, "a speech function's voice must be required (no default)", voice.name)
    speed_param = _find_marked(params, Parameter.AudioSpeed, qualname, "Parameter.AudioSpeed")
    speed: Parameter.AudioSpeed | None = None
    if speed_param is not None:
        speed = typing.cast(Parameter.AudioSpeed, speed_param.marker)
        if not hints.is_float(speed_param.annotation):
            raise SignatureError(qualname, "a speed parameter must be typed float", speed_param.name)
        default = speed_param.default
        if speed_param.required:
            raise SignatureError(qualname, "a speech function's speed needs a default (usually 1.0)", speed_param.name)
        if not isinstance(default, int | float) or not speed.min <= default <= speed.max:
            raise SignatureError(
                qualname,
                f"the speed's default must lie between {speed.min} and {speed.max}",
                speed_param.name,
            )
    texts = [p for p in params.values() if p.required and p.name != voice.name]
    if len(texts) != 1 or texts[0].annotation is not str:
        raise SignatureError(
            qualname,
            "a speech function takes exactly one required str parameter, the text to speak, besides its voice",
        )
    base, marker = hints.split_annotated(returns)
    # Either one array, or an iterator of arrays (say, one per sentence) that the server streams as it comes.
    item = hints.iterator_item(base)
    if item is not None:
        base, item_marker = hints.split_annotated(item[0])
        marker = marker or item_marker
    if not isinstance(marker, Parameter.Audio) or not hints.is_ndarray(base):
        raise SignatureError(
            qualname,
            "a speech function returns Annotated[np.ndarray, Parameter.Audio(sample_rate=...)] "
            "(float32, (F,) or (F, C)) or an iterator of such arrays, not "
            f"{hints.describe(returns)}",
        )
    return SpeechSignature(
        streams=item is not None,
        text=texts[0].name,
        voice_param=voice.name,
        voices=voices,
        sample_rate=marker.sample_rate,
        speed_param=speed_param.name if speed_param else None,
        speed=speed,
    )


def _check_transcription(params: dict[str, ParamSpec], returns: Any, qualname: str) -> TranscriptionSignature:
    audio = _find_marked(params, Parameter.Audio, qualname, "Parameter.Audio")
    if audio is None:
        raise SignatureError(
            qualname,
            "a transcription function takes its audio as Annotated[np.ndarray, Parameter.Audio(sample_rate=...)]",
        )
    if not hints.is_ndarray(audio.annotation):
        raise SignatureError(qualname, "the audio parameter must be typed np.ndarray", audio.name)
    if not audio.required:
        raise SignatureError(qualname, "the audio parameter must be required", audio.name)
    _only_one_required(params, {audio.name}, qualname, "transcription")
    base = hints.split_annotated(returns)[0]
    # A Transcript, or an iterator of them: the transcript so far each time it grows, the last one whole.
    item = hints.iterator_item(base)
    streams = item is not None and hints.split_annotated(item[0])[0] is Transcript
    if base not in _TRANSCRIPTION_RESULTS and not streams:
        raise SignatureError(
            qualname,
            "a transcription function returns str (the text), a Transcript, or an iterator of Transcripts, "
            f"not {hints.describe(returns)}",
        )
    marker = typing.cast(Parameter.Audio, audio.marker)
    return TranscriptionSignature(audio=audio.name, sample_rate=marker.sample_rate, streams=streams)


_IMAGE_RESULT = (
    "an image function returns Annotated[PIL.Image.Image or np.ndarray, Parameter.Image()], a list of those, "
    "or an iterator of either (previews, then the result)"
)


def _check_image(params: dict[str, ParamSpec], returns: Any, qualname: str) -> ImageSignature:
    prompt = _image_prompt(params, qualname)
    image = _image_input(params.get("image"), qualname)
    mask = _image_input(params.get("mask"), qualname)
    if mask is not None:
        if image is None:
            raise SignatureError(qualname, "a mask needs an `image` parameter to apply to", "mask")
        if mask.required or mask.many:
            raise SignatureError(qualname, "the mask is one optional image: give it the default None", "mask")
    if prompt is None and image is None:
        raise SignatureError(qualname, "an image function takes a `prompt: str`, an `image` to edit or vary, or both")
    taken = {prompt, "image", "mask"}
    for p in params.values():
        if p.required and p.name not in taken:
            raise SignatureError(
                qualname, "an image function's other parameters need defaults; give this one a default", p.name
            )
    size_param, sizes, size_range = _image_size(params, qualname)
    n = params.get("n")
    if n is not None and n.annotation is not int:
        raise SignatureError(qualname, "an image function's `n` must be typed int", "n")
    base, marker = hints.split_annotated(returns)
    item = hints.iterator_item(base)
    if item is not None:
        base, item_marker = hints.split_annotated(item[0])
        marker = marker or item_marker
    if marker is None and hints.is_list(base):
        marker = hints.split_annotated(typing.get_args(base)[0])[1]
    single, many = hints.image_kind(base), hints.image_kind_of_list(base)
    if not isinstance(marker, Parameter.Image) or (single is None and many is None):
        raise SignatureError(qualname, f"{_IMAGE_RESULT}, not {hints.describe(returns)}")
    return ImageSignature(
        prompt=prompt,
        image=image,
        mask=mask,
        size_param=size_param,
        sizes=sizes,
        size_range=size_range,
        n_param=n.name if n is not None else None,
        returns_list=many is not None,
        streams=item is not None,
    )


def _image_prompt(params: dict[str, ParamSpec], qualname: str) -> str | None:
    prompt = params.get("prompt")
    if prompt is None:
        # The rule before edits and variations: the one required str parameter is the prompt.
        others = [p for p in params.values() if p.required and p.name not in ("image", "mask")]
        if len(others) == 1 and others[0].annotation is str:
            return others[0].name
        return None
    if prompt.annotation is not str or not prompt.required:
        raise SignatureError(qualname, "an image function's prompt is a required str", "prompt")
    return prompt.name


def _image_input(param: ParamSpec | None, qualname: str) -> ImageInput | None:
    if param is None:
        return None
    annotation, optional = hints.strip_optional(param.annotation)
    kind, many = hints.image_kind(annotation), False
    if kind is None:
        kind, many = hints.image_kind_of_list(annotation), True
    if kind is None:
        raise SignatureError(
            qualname,
            "an image parameter is typed PIL.Image.Image or np.ndarray (uint8, (H, W, 3) or (H, W, 4)), or a list "
            f"of them, optionally `| None`; not {hints.describe(param.annotation)}",
            param.name,
        )
    if not param.required and param.default is not None:
        raise SignatureError(qualname, "an optional image parameter's default is None", param.name)
    if optional and param.required:
        raise SignatureError(qualname, "an image parameter typed `| None` needs the default None", param.name)
    return ImageInput(param.name, kind, many=many, required=param.required)


def _image_size(
    params: dict[str, ParamSpec], qualname: str
) -> tuple[str | None, tuple[str, ...] | None, Parameter.ImageSize | None]:
    marked = _find_marked(params, Parameter.ImageSize, qualname, "Parameter.ImageSize")
    size = marked or params.get("size")
    if size is None:
        return None, None, None
    if size.required:
        raise SignatureError(qualname, "an image function's size needs a default", size.name)
    if isinstance(size.marker, Parameter.ImageSize):
        if hints.strip_optional(size.annotation)[0] is not str:
            raise SignatureError(qualname, "a Parameter.ImageSize parameter is typed str", size.name)
        return size.name, None, size.marker
    sizes = hints.literal_strings(hints.strip_optional(size.annotation)[0])
    if sizes is None or not all(_is_size(s) for s in sizes):
        raise SignatureError(
            qualname,
            'an image function\'s size is typed Literal["WIDTHxHEIGHT", ...] or '
            "Annotated[str, Parameter.ImageSize(min, max)]",
            size.name,
        )
    return size.name, sizes, None


def _is_size(text: str) -> bool:
    width, _, height = text.partition("x")
    return width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0


def _check_init(cls: type, qualname: str) -> None:
    required = [
        p
        for p in inspect.signature(cls).parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise SignatureError(
            qualname,
            "a model class is created with no arguments; serve a configured instance instead",
            required[0].name,
        )


def _check_lifecycle(cls: type, qualname: str) -> None:
    for hook in ("load", "unload"):
        method = getattr(cls, hook, None)
        if method is None:
            continue
        if not callable(method):
            raise SignatureError(qualname, f"{hook} must be a method")
        required = [
            p
            for p in list(inspect.signature(method).parameters.values())[1:]
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            raise SignatureError(qualname, f"{hook}() is called with no arguments", required[0].name)


_CHECKS: dict[Task, Callable[[dict[str, ParamSpec], Any, str], TaskSignature]] = {
    Task.CHAT: _check_chat,
    Task.EMBEDDINGS: _check_embeddings,
    Task.SPEECH: _check_speech,
    Task.TRANSCRIPTION: _check_transcription,
    Task.IMAGE: _check_image,
}
