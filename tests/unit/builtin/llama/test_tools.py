"""Tool-call parsing, tool choice and grammars for the built-in chat model (modelport.builtin.llama.tools)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelport.builtin.llama import tools
from modelport.errors import InvalidRequestError

WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME: dict[str, Any] = {"name": "get_time", "parameters": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        '  <tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
    ],
    ids=["tags", "bare", "fenced", "unclosed-string-arguments"],
)
def test_parse_one_call(text: str) -> None:
    calls = tools.parse_tool_calls(text, ["get_weather"])
    assert calls is not None
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert calls[0].id.startswith("call_")


def test_parse_parallel_calls() -> None:
    text = (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
    )
    calls = tools.parse_tool_calls(text, ["get_weather", "get_time"])
    assert calls is not None
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize(
    "text",
    [
        "The weather is nice.",
        '{"name": "unknown_tool", "arguments": {}}',
        '{"answer": 42}',
        "<tool_call>not json</tool_call>",
        "```python\nprint(1)\n```",
    ],
)
def test_parse_rejects_what_is_not_a_call(text: str) -> None:
    assert tools.parse_tool_calls(text, ["get_weather"]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("<tool", True),
        ("<tool_call>\n", True),
        ("<tool_call>\n{", True),
        ("{", True),
        ('{"na', True),
        ('{ "name": "get_weather"', True),
        ('{"arguments": {', True),
        ("``", True),
        ("```js", True),
        ("```json\n", True),
        ('```\n{"name"', True),
        ("Hi", False),
        ("```python\nprint(1)", False),
        ("```\ndef f():", False),
        ('{"answer": 42', False),
        ('{"ans', False),
        ("{1", False),
        ("<tool_call>\nnot json", False),
    ],
)
def test_could_be_tool_call(text: str, expected: bool) -> None:
    assert tools.could_be_tool_call(text) is expected


def test_chosen_tools() -> None:
    functions = [WEATHER, TIME]
    assert tools.chosen_tools(functions, None) == ("auto", ["get_weather", "get_time"])
    assert tools.chosen_tools(functions, "none") == ("none", [])
    assert tools.chosen_tools(functions, "required") == ("required", ["get_weather", "get_time"])
    named = {"type": "function", "function": {"name": "get_time"}}
    assert tools.chosen_tools(functions, named) == ("required", ["get_time"])
    assert tools.chosen_tools([], None) == ("none", [])


@pytest.mark.parametrize(
    ("functions", "choice", "param"),
    [
        ([WEATHER], {"type": "function", "function": {"name": "missing"}}, "tool_choice"),
        ([WEATHER], "sometimes", "tool_choice"),
        ([], "required", "tool_choice"),
    ],
)
def test_chosen_tools_errors(functions: list[dict[str, Any]], choice: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        tools.chosen_tools(functions, choice)
    assert caught.value.param == param


def test_function_tools_checks_shape() -> None:
    assert tools.function_tools([{"type": "function", "function": WEATHER}]) == [WEATHER]
    with pytest.raises(InvalidRequestError) as caught:
        tools.function_tools([{"type": "function", "function": {"description": "no name"}}])
    assert caught.value.param == "tools[0]"


def test_tool_call_grammar_wraps_the_schema_in_tags() -> None:
    grammar = tools.tool_call_grammar([WEATHER, TIME], ["get_weather"], parallel=False)
    root = grammar.splitlines()[0]
    assert root.startswith('root ::= "<tool_call>\\n" call-root "\\n</tool_call>"')
    assert "get_weather" in grammar
    assert "get_time" not in grammar
    assert grammar.count("\nroot ::=") == 0  # one root: the converter's became call-root


def test_parallel_grammar_repeats_calls() -> None:
    grammar = tools.tool_call_grammar([WEATHER, TIME], ["get_weather", "get_time"], parallel=True)
    assert ")*" in grammar.splitlines()[0]
    assert "get_time" in grammar


def test_schema_grammar_rejects_a_bad_schema() -> None:
    with pytest.raises(InvalidRequestError):
        tools.schema_grammar({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}})


def stream_calls(text: str, piece: int, names: list[str] | None = None) -> tuple[list[tuple[str, str]], int]:
    """Feed `text` in pieces of `piece` characters; the (name, arguments) of each call, and the deltas."""
    stream = tools.ToolCallStream(names or ["get_weather", "get_time"])
    deltas = [d for start in range(0, len(text), piece) for d in stream.feed(text[start : start + piece])]
    calls: dict[int, list[str]] = {}
    for delta in deltas:
        if delta.id is not None:
            assert delta.index == len(calls)
            assert delta.id.startswith("call_")
            assert delta.arguments == ""
            calls[delta.index] = [delta.name or "", ""]
        else:
            assert delta.name is None
            calls[delta.index][1] += delta.arguments
    return [(name, arguments) for name, arguments in calls.values()], len(deltas)


TRICKY = '{"city": "Paris {\\"the\\" [capital]}", "days": [1, {"n": 2}]}'


@pytest.mark.parametrize("piece", [1, 3, 1000])
@pytest.mark.parametrize(
    "text",
    [
        f'<tool_call>\n{{"name": "get_weather", "arguments": {TRICKY}}}\n</tool_call>',
        f'  {{"name":"get_weather","arguments":{TRICKY}}}',
        f'```json\n{{"name": "get_weather", "arguments": {TRICKY}}}\n```',
    ],
)
def test_stream_yields_the_name_then_the_arguments_as_they_come(text: str, piece: int) -> None:
    calls, count = stream_calls(text, piece)
    assert calls == [("get_weather", TRICKY)]
    assert json.loads(calls[0][1])["days"] == [1, {"n": 2}]
    if piece == 1:
        assert count > 10  # the arguments came in many fragments, not one at the end


def test_stream_parallel_calls_get_their_own_index() -> None:
    text = (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
    )
    for piece in (1, 7, len(text)):
        assert stream_calls(text, piece)[0] == [("get_weather", '{"city": "Oslo"}'), ("get_time", "{}")]


@pytest.mark.parametrize(
    "text",
    [
        "The weather in Paris is sunny.",
        '{"name": "unknown_tool", "arguments": {"x": 1}}',
        '{"arguments": {"city": "Paris"}, "name": "get_weather"}',  # parsed whole at the end instead
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
    ],
)
def test_stream_starts_no_call_for_other_shapes(text: str) -> None:
    stream = tools.ToolCallStream(["get_weather"])
    assert [d for c in text for d in stream.feed(c)] == []
    assert not stream.started


def test_auto_with_a_response_format_allows_calls_or_the_answer() -> None:
    answer = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}
    grammar = tools.tool_call_grammar([WEATHER], ["get_weather"], parallel=True, answer=answer)
    root = grammar.splitlines()[0]
    assert root.startswith('root ::= ( ( "<tool_call>\\n" call-root "\\n</tool_call>" | "```json\\n" call-root')
    assert root.endswith(" | answer-root")
    rules = [line.split(" ::= ")[0] for line in grammar.splitlines()]
    # Both schemas' rules are there, each under its own prefix, none defined twice.
    assert len(rules) == len(set(rules))
    assert {"call-root", "answer-root", "call-space", "answer-space"} <= set(rules)
    assert all(rule == "root" or rule.startswith(("call-", "answer-")) for rule in rules)
    # Literals and character classes are left as they were.
    assert '"\\"city\\""' in grammar
    assert "answer-integer" in grammar or "answer-n-kv" in grammar


def test_the_joined_grammar_parses() -> None:
    from llama_cpp import llama_grammar

    answer = {"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"]}
    grammar = tools.tool_call_grammar([WEATHER, TIME], ["get_weather", "get_time"], parallel=True, answer=answer)
    llama_grammar.LlamaGrammar.from_string(grammar, verbose=False)


CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'


@pytest.mark.parametrize(
    ("text", "parallel", "finished"),
    [
        (CALL[:-20], True, False),  # the arguments are still open
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}', False, True),
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}', True, False),
        (CALL, True, False),
        (CALL + "\n<tool", True, False),
        (CALL[:-5], True, False),  # in the closing tag
        ('```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```', True, False),
        ('{"name": "get_weather", "arguments": {"city": "Oslo"}}\n{"note": 1}', True, True),
        (CALL + "\n<tool_call>\n{", True, False),
        (CALL + "\nThe weather in Oslo", True, True),
        ('{"name": "get_weather", "arguments": {"city": "Oslo"}}\n\nThis calls', True, True),
        (CALL + "\n" + CALL, False, True),
    ],
)
def test_stream_knows_when_the_calls_are_over(text: str, parallel: bool, finished: bool) -> None:
    stream = tools.ToolCallStream(["get_weather"], parallel=parallel)
    stream.feed(text)
    assert stream.finished is finished


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_weather", "arguments": {"city": "Oslo"}}\n{"name": "get_time", "arguments": {}}',
        '```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```\n'
        '```json\n{"name": "get_time", "arguments": {}}\n```',
    ],
    ids=["bare", "fenced"],
)
def test_stream_reads_several_untagged_calls_in_a_row(text: str) -> None:
    for piece in range(1, len(text) + 1):
        assert stream_calls(text, piece)[0] == [("get_weather", '{"city": "Oslo"}'), ("get_time", "{}")]


REPEATS = '{"name": "get_weather", "arguments": {"city": "Paris"}}\n' * 3 + '{"name": "get_weather", "argu'


@pytest.mark.parametrize("piece", [1, 4, len(REPEATS)])
def test_a_repeated_call_ends_the_calls_and_is_dropped(piece: int) -> None:
    # What the built-in model writes under `auto` at temperature 0: the same call until the token limit.
    stream = tools.ToolCallStream(["get_weather"])
    deltas = [d for start in range(0, len(REPEATS), piece) for d in stream.feed(REPEATS[start : start + piece])]
    assert stream.finished
    assert stream.calls == 1
    assert {d.index for d in deltas} == {0}
    assert "".join(d.arguments for d in deltas) == '{"city": "Paris"}'


def test_a_call_to_the_same_tool_with_other_arguments_is_held_then_sent() -> None:
    text = (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>'
    )
    stream = tools.ToolCallStream(["get_weather"])
    middle = text.index("Tokyo")  # inside the second call's arguments
    first = stream.feed(text[:middle])
    assert stream.calls == 2
    assert {d.index for d in first} == {0}  # the second call is held while it may be a repeat
    rest = stream.feed(text[middle:])
    assert rest[0].index == 1
    assert rest[0].name == "get_weather"
    assert "".join(d.arguments for d in rest) == '{"city": "Tokyo"}'
    assert not stream.finished  # a third call may still follow
    for piece in (1, 9, len(text)):
        assert stream_calls(text, piece)[0] == [
            ("get_weather", '{"city": "Paris"}'),
            ("get_weather", '{"city": "Tokyo"}'),
        ]


def test_parse_drops_a_repeated_call_and_what_follows() -> None:
    text = '{"name": "get_weather", "arguments": {"city": "Paris"}}\n' * 2
    calls = tools.parse_tool_calls("<tool_call>" + text.replace("\n", "</tool_call>\n<tool_call>"), ["get_weather"])
    assert calls is not None
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", '{"city": "Paris"}')]
