"""Request fields passed to a predictor's optional parameters of the same name."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import PydanticSchemaGenerationError, TypeAdapter, ValidationError

from modelport.errors import InvalidRequestError
from modelport.predictor import ModelSpec


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def optional_arguments(spec: ModelSpec, values: Mapping[str, Any], skip: Collection[str] = ()) -> dict[str, Any]:
    """The request's values for the predictor's optional parameters, checked against their types.

    A field the request leaves out, or sets to null, keeps the predictor's default.
    """
    arguments: dict[str, Any] = {}
    for name, param in spec.optional_params().items():
        if name in skip or values.get(name) is None:
            continue
        try:
            arguments[name] = _adapter(param.annotation).validate_python(values[name])
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"] if exc.errors() else str(exc)
            raise InvalidRequestError(f"Invalid value for '{name}': {reason}.", param=name) from None
        except (TypeError, PydanticSchemaGenerationError):
            # An annotation pydantic cannot build a validator for: pass the value through unchecked.
            arguments[name] = values[name]
    return arguments
