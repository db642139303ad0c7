"""Chat requests built by the other API surfaces (Responses, Anthropic Messages) from their own requests."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from modelport.errors import InvalidRequestError
from modelport.protocol.chat import ChatCompletionRequest


def build_chat_request(values: dict[str, Any]) -> ChatCompletionRequest:
    """The chat request for `values`; what chat completions would refuse is a 400 here too."""
    try:
        return ChatCompletionRequest.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        reason = first.get("msg", "invalid value")
        raise InvalidRequestError(f"The request translates to an invalid chat request at {where}: {reason}.") from None
