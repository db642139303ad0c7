"""Tool calls and structured output for Qwen-style chat models.

Qwen2.5's chat template asks the model to answer a call as
`<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`. When a call is required, a grammar built
from the tools' JSON schemas makes that the only possible output; under `auto`, the output is parsed
afterwards, and bare JSON naming a known tool counts as a call too.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from llama_cpp import llama_grammar

from modelport.errors import InvalidRequestError

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


def function_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The `function` part of each tool, checked."""
    functions = []
    for index, tool in enumerate(tools or ()):
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
            raise InvalidRequestError(
                "Each tool must be {'type': 'function', 'function': {'name': ..., 'parameters': {...}}}.",
                param=f"tools[{index}]",
            )
        functions.append(function)
    return functions


def chosen_tools(functions: list[dict[str, Any]], tool_choice: str | dict[str, Any] | None) -> tuple[str, list[str]]:
    """The mode ("none", "auto" or "required") and the names the model may call."""
    names: list[str] = [str(f["name"]) for f in functions]
    if not functions:
        if tool_choice not in (None, "none", "auto"):
            raise InvalidRequestError("tool_choice needs tools.", param="tool_choice")
        return "none", []
    if tool_choice is None or tool_choice == "auto":
        return "auto", names
    if tool_choice == "none":
        return "none", []
    if tool_choice == "required":
        return "required", names
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if name in names:
            return "required", [name]
        raise InvalidRequestError(
            f"tool_choice names the function {name!r}, which is not among the tools: {', '.join(names)}.",
            param="tool_choice",
        )
    raise InvalidRequestError(
        "tool_choice must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}.",
        param="tool_choice",
    )


def schema_grammar(schema: dict[str, Any]) -> str:
    """GBNF for JSON that matches `schema`."""
    try:
        return str(llama_grammar.json_schema_to_gbnf(json.dumps(schema)))
    except Exception as exc:
        raise InvalidRequestError(f"The JSON schema cannot be enforced: {exc}.", param="response_format") from None


def tool_call_grammar(functions: list[dict[str, Any]], names: list[str], parallel: bool) -> str:
    """GBNF for one or more `<tool_call>` blocks calling the named functions with valid arguments."""
    schemas = [
        {
            "type": "object",
            "properties": {
                "name": {"const": function["name"]},
                "arguments": function.get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for function in functions
        if function["name"] in names
    ]
    call_json = schema_grammar(schemas[0] if len(schemas) == 1 else {"anyOf": schemas})
    # The converter names its top rule `root`; it becomes the body of each tagged call.
    call_json = re.sub(r"^root ::=", "call-json ::=", call_json, flags=re.MULTILINE)
    call = f'"{OPEN}\\n" call-json "\\n{CLOSE}"'
    root = f'root ::= {call} ( "\\n" {call} )*' if parallel else f"root ::= {call}"
    return f"{root}\n{call_json}"


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_tool_calls(text: str, names: list[str]) -> list[ToolCall] | None:
    """The calls in a model's output, or None when it is not (only) tool calls.

    Small models under `auto` answer a call in the trained tags, as bare JSON, or as JSON in a code fence.
    """
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    if stripped.startswith(OPEN):
        bodies = _BLOCK.findall(stripped)
    elif stripped.startswith("{"):
        bodies = [stripped]
    else:
        return None
    calls = []
    for body in bodies:
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict) or value.get("name") not in names:
            return None
        arguments = value.get("arguments", value.get("parameters", {}))
        arguments_text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        calls.append(ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=value["name"], arguments=arguments_text))
    return calls or None


def could_be_tool_call(text: str) -> bool:
    """Whether the output so far may still turn out to be a tool call (so it is held back, not streamed)."""
    stripped = text.lstrip()
    return any(stripped.startswith(p) or p.startswith(stripped) for p in (OPEN, "{", "```"))
