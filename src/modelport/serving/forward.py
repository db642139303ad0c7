"""Requests handed whole to predictors that forward them (an upstream server's models), answers relayed back.

A forwarding predictor gets every field the client sent, unknown ones included, and its answer comes back
in the API's own shapes: chunks pass through one by one as they arrive, renamed to the local model name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from modelport.errors import UpstreamUnavailableError
from modelport.predictor import ForwardRequest
from modelport.runtime import Predictor

M = TypeVar("M", bound=BaseModel)


class ForwardedEvent(BaseModel):
    """A streamed event relayed as the upstream sent it: every field kept, none checked."""

    model_config = ConfigDict(extra="allow")


def forwards(predictor: Predictor) -> bool:
    """Whether the predictor takes requests whole (an upstream server's model)."""
    return predictor.spec.forwards


def _request(
    endpoint: str,
    fields: dict[str, Any],
    reply: Literal["json", "events", "bytes"],
    file: tuple[str, bytes] | None = None,
) -> dict[str, Any]:
    return {"request": ForwardRequest(endpoint=endpoint, fields=fields, reply=reply, file=file)}


async def forward_json(
    predictor: Predictor, endpoint: str, fields: dict[str, Any], file: tuple[str, bytes] | None = None
) -> dict[str, Any]:
    """The predictor's whole JSON answer, its `model` the local name."""
    answer = await predictor.call(**_request(endpoint, fields, "json", file))
    if not isinstance(answer, dict):
        raise _broken(predictor, endpoint)
    if "model" in answer:
        answer["model"] = fields.get("model", predictor.name)
    return answer


async def forward_get(predictor: Predictor, endpoint: str, query: dict[str, Any]) -> dict[str, Any]:
    """The predictor's JSON answer to a `GET` of `endpoint` (`audio/voices`), as its server sent it."""
    request = ForwardRequest(endpoint=endpoint, fields=query, reply="json", method="GET")
    answer = await predictor.call(request=request)
    if not isinstance(answer, dict):
        raise _broken(predictor, endpoint)
    return answer


async def forward_events(
    predictor: Predictor, endpoint: str, fields: dict[str, Any], file: tuple[str, bytes] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """The predictor's streamed events as they arrive, each with the local model name."""
    async for event in predictor.stream(**_request(endpoint, fields, "events", file)):
        if not isinstance(event, dict):
            raise _broken(predictor, endpoint)
        if "model" in event:
            event["model"] = fields.get("model", predictor.name)
        yield event


async def forward_bytes(predictor: Predictor, endpoint: str, fields: dict[str, Any]) -> AsyncIterator[bytes]:
    """The body of the predictor's answer as it arrives (streamed speech)."""
    async for data in predictor.stream(**_request(endpoint, fields, "bytes")):
        if not isinstance(data, bytes):
            raise _broken(predictor, endpoint)
        yield data


def parsed(predictor: Predictor, endpoint: str, kind: type[M], value: dict[str, Any]) -> M:
    """`value` as the API's type `kind`; a shape the API does not allow is a 502 naming the model."""
    try:
        return kind.model_validate(value)
    except ValidationError as exc:
        raise UpstreamUnavailableError(
            f"The model `{predictor.name}` answered {endpoint} with a body that is not a {kind.__name__}: "
            f"{exc.errors()[0]['msg'] if exc.errors() else exc}."
        ) from None


def _broken(predictor: Predictor, endpoint: str) -> UpstreamUnavailableError:
    return UpstreamUnavailableError(f"The model `{predictor.name}` answered {endpoint} in a shape it cannot have.")
