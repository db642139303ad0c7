"""Small questions about type hints that task inference asks."""

from __future__ import annotations

import collections.abc as cabc
import enum
import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import numpy as np
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from modelport.parameters import ANNOTATION_TYPES

_SYNC_ITERATORS = {cabc.Iterator, cabc.Iterable, cabc.Generator}
_ASYNC_ITERATORS = {cabc.AsyncIterator, cabc.AsyncIterable, cabc.AsyncGenerator}


def split_annotated(hint: Any) -> tuple[Any, object | None]:
    """`Annotated[T, marker, ...]` -> (T, the first modelport marker or None)."""
    if get_origin(hint) is Annotated:
        base, *metadata = get_args(hint)
        marker = next((m for m in metadata if isinstance(m, ANNOTATION_TYPES)), None)
        return base, marker
    return hint, None


def strip_optional(hint: Any) -> tuple[Any, bool]:
    """`T | None` -> (T, True); anything else -> (hint, False)."""
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return args[0], True
    return hint, False


def is_ndarray(hint: Any) -> bool:
    """`np.ndarray` or a parametrised form such as `npt.NDArray[np.float32]`."""
    return hint is np.ndarray or get_origin(hint) is np.ndarray


def is_list_of(hint: Any, item: Any) -> bool:
    """`list[item]` or `Sequence[item]`."""
    return get_origin(hint) in (list, cabc.Sequence) and get_args(hint) == (item,)


def is_message_list(hint: Any) -> bool:
    return is_list_of(hint, ChatCompletionMessageParam)


def iterator_item(hint: Any) -> tuple[Any, bool] | None:
    """For an iterator type, (its item type, whether it is async); None for anything else."""
    origin = get_origin(hint)
    if origin in _SYNC_ITERATORS or origin in _ASYNC_ITERATORS:
        args = get_args(hint)
        return (args[0] if args else Any), origin in _ASYNC_ITERATORS
    return None


def is_chunk_type(hint: Any) -> bool:
    return hint is ChatCompletionChunk


def literal_strings(hint: Any) -> tuple[str, ...] | None:
    """The values of `Literal["a", "b"]` or of a `StrEnum`, or None when the type is neither."""
    if get_origin(hint) is Literal:
        values = get_args(hint)
        if values and all(isinstance(v, str) for v in values):
            return tuple(values)
        return None
    if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
        return tuple(member.value for member in hint)
    return None


def is_float(hint: Any) -> bool:
    return hint is float or (get_origin(hint) in (Union, types.UnionType) and set(get_args(hint)) <= {int, float})


def image_kind(hint: Any) -> str | None:
    """ "pil" for `PIL.Image.Image`, "array" for an ndarray; None for anything else (PIL is not imported)."""
    if is_ndarray(hint):
        return "array"
    if isinstance(hint, type) and any(
        klass.__module__ == "PIL.Image" and klass.__name__ == "Image" for klass in hint.__mro__
    ):
        return "pil"
    return None


def is_list(hint: Any) -> bool:
    """`list[T]` or `Sequence[T]` for one T."""
    return get_origin(hint) in (list, cabc.Sequence) and len(get_args(hint)) == 1


def image_kind_of_list(hint: Any) -> str | None:
    """The image kind of `list[image]` or `Sequence[image]` (the item maybe `Annotated`), else None."""
    if is_list(hint):
        return image_kind(split_annotated(get_args(hint)[0])[0])
    return None


def describe(hint: Any) -> str:
    """A readable name for a type in error messages."""
    if isinstance(hint, type) and get_origin(hint) is None:
        return hint.__name__
    return str(typing._type_repr(hint))
