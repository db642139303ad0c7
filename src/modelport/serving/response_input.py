"""A Responses request as the chat request the one chat path takes, and its input as stored items."""

from __future__ import annotations

import uuid
from typing import Any

from modelport.errors import InvalidRequestError
from modelport.protocol.chat import ChatCompletionRequest
from modelport.protocol.responses import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputImage,
    InputItem,
    InputText,
    MessageItem,
    OutputText,
    Refusal,
    ResponsesRequest,
)
from modelport.serving.chat_request import build_chat_request

# Built-in tools that run on OpenAI's side; a local server has none of them.
_HOSTED_TOOLS = (
    "web_search, web_search_preview, file_search, computer_use_preview, code_interpreter, image_generation, "
    "mcp, local_shell, shell, apply_patch, custom"
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def input_items(request: ResponsesRequest) -> list[InputItem]:
    if isinstance(request.input, str):
        return [MessageItem(role="user", content=request.input)]
    return list(request.input)


def _text_of(content: str | list[Any], where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        if isinstance(part, InputText | OutputText):
            texts.append(part.text)
        elif isinstance(part, Refusal):
            texts.append(part.refusal)
        else:
            raise InvalidRequestError(
                f"Only text parts are allowed here, not '{part.type}'.", param=f"{where}.content[{i}]"
            )
    return "".join(texts)


def _user_content(content: str | list[Any], where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        if isinstance(part, InputText | OutputText):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, InputImage):
            if not part.image_url:
                raise InvalidRequestError(
                    "An input_image needs an image_url (a URL or a data URL); file ids are not served here.",
                    param=f"{where}.content[{i}].image_url",
                )
            image: dict[str, Any] = {"url": part.image_url}
            if part.detail:
                image["detail"] = part.detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise InvalidRequestError(
                f"A user message takes input_text and input_image parts, not '{part.type}'.",
                param=f"{where}.content[{i}]",
            )
    return parts


def chat_messages(items: list[InputItem]) -> list[dict[str, Any]]:
    """Input items as chat messages; a run of function calls becomes one assistant message's tool calls."""
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if isinstance(item, MessageItem):
            if item.role == "user":
                messages.append({"role": "user", "content": _user_content(item.content, where)})
            else:
                messages.append({"role": item.role, "content": _text_of(item.content, where)})
        elif isinstance(item, FunctionCallItem):
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, FunctionCallOutputItem):
            output = item.output if isinstance(item.output, str) else _text_of(item.output, where + ".output")
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": output})
    return messages


def stored_items(items: list[InputItem]) -> list[dict[str, Any]]:
    """The input as the items `GET /v1/responses/{id}/input_items` lists, each with an id."""
    stored: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, MessageItem):
            if isinstance(item.content, str):
                kind = "output_text" if item.role == "assistant" else "input_text"
                part: dict[str, Any] = {"type": kind, "text": item.content}
                if kind == "output_text":
                    part["annotations"] = []
                content = [part]
            else:
                content = [p.model_dump(exclude_none=True) for p in item.content]
            stored.append(
                {"id": item.id or new_id("msg"), "type": "message", "role": item.role, "content": content}
                | {"status": "completed"}
            )
        elif isinstance(item, FunctionCallItem):
            stored.append(item.model_dump(exclude_none=True) | {"id": item.id or new_id("fc"), "status": "completed"})
        elif isinstance(item, FunctionCallOutputItem):
            stored.append(item.model_dump(exclude_none=True) | {"id": item.id or new_id("fco"), "status": "completed"})
        else:
            stored.append(item.model_dump(exclude_none=True) | {"id": item.id or new_id("rs")})
    return stored


def function_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The request's tools, which must all be function tools; a built-in tool is a clear 400."""
    functions = []
    for i, tool in enumerate(tools or ()):
        kind = tool.get("type")
        if kind != "function":
            raise InvalidRequestError(
                f"The tool type {kind!r} is not supported: this server runs function tools (type 'function') "
                f"only, not the built-in tools ({_HOSTED_TOOLS}).",
                param=f"tools[{i}].type",
                code="unsupported_tool",
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise InvalidRequestError("A function tool needs a name.", param=f"tools[{i}].name")
        functions.append(tool)
    return functions


def _chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
    for key in ("description", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if choice is None or isinstance(choice, str):
        if choice not in (None, "auto", "none", "required"):
            raise InvalidRequestError(
                f"tool_choice must be 'auto', 'none', 'required' or a function, not {choice!r}.", param="tool_choice"
            )
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequestError(
        "tool_choice takes 'auto', 'none', 'required' or {'type': 'function', 'name': ...}; built-in tools are "
        "not served here.",
        param="tool_choice",
    )


def _response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
    if not fmt:
        return None
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequestError("text.format json_schema needs a 'schema' object.", param="text.format.schema")
        json_schema = {"name": fmt.get("name") or "response", "schema": schema}
        for key in ("description", "strict"):
            if fmt.get(key) is not None:
                json_schema[key] = fmt[key]
        return {"type": "json_schema", "json_schema": json_schema}
    raise InvalidRequestError(
        f"text.format type must be 'text', 'json_object' or 'json_schema', not {kind!r}.", param="text.format.type"
    )


_CHAT_EXTRAS = ("seed", "top_k", "stop", "presence_penalty", "frequency_penalty")


def chat_request_for(
    request: ResponsesRequest, history: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> ChatCompletionRequest:
    """The chat request for this turn: instructions first, then the earlier turns, then the new input."""
    conversation = ([{"role": "system", "content": request.instructions}] if request.instructions else []) + [
        *history,
        *messages,
    ]
    values: dict[str, Any] = {"model": request.model, "messages": conversation}
    tools = function_tools(request.tools)
    if tools:
        values["tools"] = [_chat_tool(tool) for tool in tools]
    choice = _chat_tool_choice(request.tool_choice)
    if choice is not None:
        values["tool_choice"] = choice
    response_format = _response_format(request.text)
    if response_format is not None:
        values["response_format"] = response_format
    for source, target in (
        ("max_output_tokens", "max_completion_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("user", "user"),
    ):
        value = getattr(request, source)
        if value is not None:
            values[target] = value
    # Sampling fields the Responses API lacks but chat models take pass on, as chat completions would.
    for key, value in (request.model_extra or {}).items():
        if key in _CHAT_EXTRAS:
            values[key] = value
    return build_chat_request(values)


def output_messages(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A response's output items as the assistant messages that continue the conversation."""
    messages: list[dict[str, Any]] = []
    for item in output:
        if item["type"] == "message":
            text = "".join(part.get("text", "") for part in item["content"] if part["type"] == "output_text")
            messages.append({"role": "assistant", "content": text})
        elif item["type"] == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            if messages and messages[-1]["role"] == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    return messages
