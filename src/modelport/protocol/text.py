"""Text fields that must be real Unicode text.

JSON may carry a lone UTF-16 surrogate (`"\\ud800"`); Python reads it into a str that no encoder, tokenizer
or phonemizer takes. Such a field is a 400 at the door rather than a failure deep in a model.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_SURROGATE = re.compile("[\ud800-\udfff]")


def no_lone_surrogates(value: str) -> str:
    """`value` unchanged, or a ValueError naming the position of its first lone surrogate."""
    found = _SURROGATE.search(value)
    if found is not None:
        raise ValueError(
            f"the text holds a lone UTF-16 surrogate (\\u{ord(found.group()):04x}) at position {found.start()}, "
            "which is not a Unicode character"
        )
    return value


Text = Annotated[str, AfterValidator(no_lone_surrogates)]
"""A str without lone surrogates."""
