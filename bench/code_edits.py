"""The code-edit workload of `bench/chat.py`: functions of 45-73 lines, each asked back with a small change.

The functions are generated from a fixed seed, so every run (and llama-server) gets the same prompts. They
read like ordinary application code: a record-checking function per entity, with a check per field, some
arithmetic and a summary, of a length set by the number of fields.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ENTITIES = ("invoice", "shipment", "patient", "booking", "sensor_reading", "payroll_entry", "listing", "ticket")
FIELDS = (
    "amount", "quantity", "weight", "distance", "duration", "price", "discount", "tax_rate", "height", "width",
    "depth", "score", "priority", "age", "balance", "deposit", "latitude", "longitude", "temperature", "pressure",
    "humidity", "capacity", "rating", "retries", "timeout", "interval", "volume", "margin", "fee", "budget",
)  # fmt: skip
EDITS = (
    "Rename the variable `problems` to `errors` everywhere in it.",
    "Change the default of `strict` to True.",
    "Rename the function to `check_{entity}_record`.",
    "Replace the `print` call with `logger.warning`, keeping its message.",
    # The model rewrites the function with this one and does not stop: last, out of the four prompts used.
    "Make every error message start with `invalid: ` instead of the field name.",
    "Add a keyword argument `limit: int = 100` and stop after `limit` records.",
)


@dataclass(frozen=True)
class CodeEdit:
    """One prompt of the workload: a function, what to change in it, and the chat message asking for it."""

    function: str
    instruction: str

    @property
    def lines(self) -> int:
        return self.function.count("\n")

    def messages(self) -> list[dict[str, str]]:
        content = (
            f"{self.instruction} Reply with the whole changed function in one code block and nothing else."
            f"\n\n```python\n{self.function}```"
        )
        return [{"role": "user", "content": content}]


def _function(entity: str, fields: list[str], rng: random.Random) -> str:
    lines = [
        f'def validate_{entity}s(records, strict=False, currency="EUR"):',
        f'    """Check every {entity.replace("_", " ")} record and sum up the valid ones."""',
        "    problems = []",
        "    valid = []",
        "    totals = {}",
        "    for index, record in enumerate(records):",
        "        issues = []",
    ]
    for field in fields:
        low, high = rng.randint(0, 50), rng.randint(100, 10_000)
        lines += [
            f'        {field} = record.get("{field}")',
            f"        if {field} is None:",
            f'            issues.append("{field} is missing")',
            f"        elif not {low} <= {field} <= {high}:",
            f'            issues.append(f"{field} {{{field}}} is outside {low}..{high}")',
            "        else:",
            f'            totals["{field}"] = totals.get("{field}", 0) + {field}',
        ]
    lines += [
        "        if issues:",
        "            problems.append((index, issues))",
        "            if strict:",
        f'                raise ValueError(f"{entity} {{index}}: " + "; ".join(issues))',
        "            continue",
        "        valid.append(record)",
        "    count = len(valid)",
        "    averages = {name: round(total / count, 2) for name, total in totals.items()} if count else {}",
        "    if problems:",
        f'        print(f"{{len(problems)}} of {{len(records)}} {entity} records have problems")',
        "    return {",
        '        "valid": valid,',
        '        "problems": problems,',
        '        "totals": totals,',
        '        "averages": averages,',
        '        "currency": currency,',
        "    }",
    ]
    return "\n".join(lines) + "\n"


def code_edits(count: int = 4, seed: int = 17) -> list[CodeEdit]:
    """`count` prompts with functions from about 40 to 120 lines, the same for a given seed."""
    rng = random.Random(seed)
    edits = []
    for i in range(count):
        entity = ENTITIES[i % len(ENTITIES)]
        # 7 lines a field and 24 around them: 3 to 7 fields make 45 to 73 lines (400 to 750 tokens), long
        # enough to copy for a while, short enough that a run on two cores takes minutes.
        n_fields = 3 + round(4 * i / max(1, count - 1))
        fields = rng.sample(FIELDS, n_fields)
        instruction = EDITS[i % len(EDITS)].format(entity=entity)
        edits.append(CodeEdit(_function(entity, fields, rng), instruction))
    return edits
