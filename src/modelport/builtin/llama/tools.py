"""Tool calls and structured output for Qwen-style chat models.

Qwen2.5's chat template asks the model to answer a call as
`<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`. When a call is required, a grammar built
from the tools' JSON schemas makes that the only possible output; under `auto`, the output is parsed
afterwards, and bare JSON naming a known tool counts as a call too. Under `auto` with a JSON response
format, the grammar allows either calls (in the tags, a JSON fence or bare, the shapes small models use) or
the answer in its schema, as OpenAI lets a model call tools first and answer in the format at the end.

`ToolCallStream` turns a call into OpenAI's streamed deltas while it is generated: the id, type and name as
soon as the name is known, then the arguments as they come.
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


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a streamed call: the first of each call carries its id and name, the rest arguments."""

    index: int
    arguments: str
    id: str | None = None
    name: str | None = None


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


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


# A token of GBNF: a quoted literal, a character class, or a word (a rule name or a repetition count).
_GBNF_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|[A-Za-z0-9-]+')


def _namespaced(grammar: str, prefix: str) -> str:
    """A grammar with each of its rules renamed `prefix-name`, so that two grammars can be joined."""
    names = set(re.findall(r"^([A-Za-z0-9-]+) ::=", grammar, flags=re.MULTILINE))
    return _GBNF_TOKEN.sub(lambda m: f"{prefix}-{m[0]}" if m[0] in names else m[0], grammar)


def tool_call_grammar(
    functions: list[dict[str, Any]], names: list[str], parallel: bool, answer: dict[str, Any] | None = None
) -> str:
    """GBNF for one or more `<tool_call>` blocks calling the named functions with valid arguments, or,
    when `answer` is a JSON schema, for either those calls or JSON matching the schema."""
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
    # The converter names its top rule `root`; as `call-root` it becomes the body of each tagged call.
    call_json = _namespaced(schema_grammar(schemas[0] if len(schemas) == 1 else {"anyOf": schemas}), "call")
    call = f'"{OPEN}\\n" call-root "\\n{CLOSE}"'
    if answer is None:
        calls = f'{call} ( "\\n" {call} )*' if parallel else call
        return f"root ::= {calls}\n{call_json}"
    # Left to choose, this model writes a call as JSON in a fence more often than in its tags; any of the
    # shapes is a call, and an object that is no call is the answer.
    shape = f'( {call} | "```json\\n" call-root "\\n```" | call-root )'
    calls = f'{shape} ( "\\n" {shape} )*' if parallel else shape
    answer_json = _namespaced(schema_grammar(answer), "answer")
    return f"root ::= ( {calls} ) | answer-root\n{call_json}\n{answer_json}"


def answered_calls(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The (name, arguments) of each call made since the last user message whose result a tool message gives."""
    start = max((i + 1 for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
    results = {m.get("tool_call_id") for m in messages[start:] if m.get("role") == "tool"}
    answered = []
    for message in messages[start:]:
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or call.get("id") not in results:
                continue
            if not isinstance(function.get("arguments"), str):
                continue
            try:
                arguments: Any = json.loads(function["arguments"])
            except json.JSONDecodeError:
                arguments = function["arguments"]
            answered.append((str(function.get("name")), arguments))
    return answered


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
    seen: list[tuple[str, Any]] = []
    for body in bodies:
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict) or value.get("name") not in names:
            return None
        arguments = value.get("arguments", value.get("parameters", {}))
        if (value["name"], arguments) in seen:
            break  # a repeat ends the calls, as in `ToolCallStream`
        seen.append((value["name"], arguments))
        arguments_text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        calls.append(ToolCall(id=new_call_id(), name=value["name"], arguments=arguments_text))
    return calls or None


def could_be_tool_call(text: str) -> bool:
    """Whether the output so far may still turn out to be a tool call, so it is held back, not streamed.

    A call opens with the tags, a JSON fence or a brace, and its object's first key is "name" (or, in the
    shapes parsed at the end, "arguments" or "parameters"): code in another language, or JSON with other
    keys, streams as soon as that shows.
    """
    rest = text.lstrip()
    for opener in (OPEN, "```json", "```"):
        if opener.startswith(rest):
            return True  # still typing the opener
        if rest.startswith(opener):
            rest = rest[len(opener) :].lstrip()
            break
    if not rest:
        return True
    if not rest.startswith("{"):
        return False
    rest = rest[1:].lstrip()
    if not rest:
        return True
    if not rest.startswith('"'):
        return False
    key, closed, _ = rest[1:].partition('"')
    keys = ("name", "arguments", "parameters")
    return key in keys if closed else any(k.startswith(key) for k in keys)


# The start of a call, up to the arguments object: in the trained tags, or (under `auto`) as bare or fenced
# JSON. A call shaped otherwise (arguments first, a "parameters" key) is parsed whole at the end instead.
_HEADER = re.compile(
    r'\s*(<tool_call>|```(?:json)?)?\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*(?=\{)'
)
# Between two calls: the end of one (its object's brace, then the closing tag or fence that matches how it
# opened), then the next one's opening: the tag, a fence or a bare object. The end is atomic: a closing
# fence is never given back to be read as the next call's opening one.
_NEXT = {
    opener: re.compile(rf"(?>\s*\}}?\s*{closing})\s*(?=<tool_call>|```|\{{)")
    for opener, closing in (("<tool_call>", "(?:</tool_call>)?"), ("```", "(?:```)?"), ("", ""))
}


def _may_open_another(gap: str) -> bool:
    """Whether the text after a call's arguments may still lead to another call: the rest of this one
    (`}`, `</tool_call>`, a closing fence), then what may be the start of a call, or a start of those."""
    rest = gap
    for piece in ("}", CLOSE, "```"):
        rest = rest.lstrip()
        if rest and piece.startswith(rest):
            return True
        if rest.startswith(piece):
            rest = rest[len(piece) :]
    return could_be_tool_call(rest)


class ToolCallStream:
    """Reads a model's output as it is generated and yields OpenAI tool-call deltas.

    A call starts once its header names a known tool and its arguments object opens; from then on the
    arguments stream as they are generated, and a JSON scanner finds where the object ends, after which a
    further `<tool_call>` starts the next call. Text that never starts a call yields nothing: the caller
    decides what it was once the output is whole. `finished` tells when the calls are over (after the first
    one unless `parallel`; else once what follows a call cannot open another, or once a call repeats an
    earlier one), so generation can stop.

    Small models under `auto` often write the same call again and again until the token limit, or call again
    for a result the conversation already holds. A call with the same name and arguments as one before it in
    the same output, or as one `answered` (made and given its result since the user last spoke), asks for
    nothing new, so it ends the calls and is dropped: a call whose name was already called is held back
    until its arguments are whole, to tell whether it is such a repeat. `repeats_answered` tells the caller
    that the output opened with an answered call, so it has no calls at all.
    """

    def __init__(
        self, names: list[str], *, parallel: bool = True, answered: list[tuple[str, Any]] | None = None
    ) -> None:
        self.names = names
        self._answered = answered or []
        self.repeats_answered = False
        """Whether the output opened with a call the conversation already holds the result of."""
        self.parallel = parallel
        self.calls = 0
        self._buffer = ""
        self._in_arguments = False
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._done: list[tuple[str, Any]] = []  # (name, arguments) of each whole call
        self._current: tuple[str, str] | None = None  # the open call's name and arguments so far
        self._held: list[ToolCallDelta] | None = None  # the open call's deltas, while it may be a repeat
        self._repeated = False
        self._gap = False  # a call has ended and the end of it is still in the buffer
        self._opener = ""  # how the last call opened, so its end is known

    @property
    def started(self) -> bool:
        return self.calls > 0

    @property
    def finished(self) -> bool:
        """Whether the last call's arguments have ended and no further call can follow."""
        if self._repeated:
            return True
        if not self.started or self._in_arguments:
            return False
        if not self.parallel:
            return True
        return not (_may_open_another(self._buffer) if self._gap else could_be_tool_call(self._buffer))

    def feed(self, text: str) -> list[ToolCallDelta]:
        if self._repeated:
            return []
        self._buffer += text
        deltas: list[ToolCallDelta] = []
        while True:
            if self._in_arguments:
                fragment = self._scan_arguments()
                if fragment:
                    self._emit(deltas, ToolCallDelta(self.calls - 1, fragment))
                if self._in_arguments:
                    return deltas
                self._close_call(deltas)
                if self._repeated:
                    return deltas
            header = self._header()
            if header is None:
                return deltas
            self._emit(deltas, header)

    def _emit(self, deltas: list[ToolCallDelta], delta: ToolCallDelta) -> None:
        assert self._current is not None
        if delta.id is None:
            self._current = (self._current[0], self._current[1] + delta.arguments)
        (deltas if self._held is None else self._held).append(delta)

    def _close_call(self, deltas: list[ToolCallDelta]) -> None:
        """Records the call whose arguments just ended; a repeat of an earlier call ends the calls."""
        assert self._current is not None
        name, text = self._current
        try:
            arguments: Any = json.loads(text)
        except json.JSONDecodeError:
            arguments = text
        if (name, arguments) in self._done or (name, arguments) in self._answered:
            self.repeats_answered = not self._done
            self._repeated = True
            self.calls -= 1
        else:
            self._done.append((name, arguments))
            deltas.extend(self._held or ())
        self._current, self._held = None, None
        self._gap = True

    def _header(self) -> ToolCallDelta | None:
        if self._gap:
            # Between calls: only the end of the last one and the start of the next one may follow.
            gap = _NEXT[self._opener].match(self._buffer)
            if gap is None:
                return None
            self._buffer = self._buffer[gap.end() :]
            self._gap = False
        match = _HEADER.match(self._buffer)
        if match is None:
            return None
        try:
            name = json.loads(f'"{match.group(2)}"')
        except json.JSONDecodeError:
            return None
        if name not in self.names:
            return None
        self._buffer = self._buffer[match.end() :]
        self._in_arguments = True
        self.calls += 1
        self._current = (name, "")
        opener = match.group(1) or ""
        self._opener = "```" if opener.startswith("```") else opener
        if any(done == name for done, _ in self._done + self._answered):
            self._held = []
        return ToolCallDelta(self.calls - 1, "", id=new_call_id(), name=name)

    def _scan_arguments(self) -> str:
        """The arguments text in the buffer, up to the end of the object when it ends there."""
        for position, char in enumerate(self._buffer):
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                if self._depth == 0:
                    fragment, self._buffer = self._buffer[: position + 1], self._buffer[position + 1 :]
                    self._in_arguments = False
                    return fragment
        fragment, self._buffer = self._buffer, ""
        return fragment
