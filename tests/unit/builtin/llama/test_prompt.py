"""Messages shaped for chat templates (modelport.builtin.llama.prompt)."""

from __future__ import annotations

import pytest

from modelport.builtin.llama.prompt import ChatTemplate, template_messages
from modelport.errors import InvalidRequestError

TEMPLATE = (
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}"
    "{% for c in m.tool_calls or [] %}[{{ c.function.name }} {{ c.function.arguments | tojson }}]{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)


def test_developer_becomes_system_and_parts_become_text() -> None:
    messages = template_messages(
        [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ]
    )
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a\nb"}]


def test_tool_call_arguments_are_parsed_for_the_template() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
    rendered = ChatTemplate(TEMPLATE, "", "</s>").render([{"role": "assistant", "content": None, "tool_calls": [call]}])
    assert rendered == '<assistant>[f {"x": 1}]<assistant>'


def test_images_are_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        template_messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    assert caught.value.code == "unsupported_content"
