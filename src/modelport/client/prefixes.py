"""Embedding task types, and the text prefix a model wants for each.

Some embedding models are trained with an instruction in front of every text ("query: ", "passage: ",
...). Which prefix goes with which task is data, looked up in this order: the model's `config['prefixes']`;
the `task_prefixes` field of the model's object in the endpoint's `GET /models` list (a server can publish
its table there); the table of well-known public models below. A task with no prefix leaves texts as they
are.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from modelport.client.errors import ConfigurationError

__all__ = ["KNOWN_TASK_PREFIXES", "TaskType", "prefixes_from_model_object"]


class TaskType(StrEnum):
    """What embeddings are for; models trained with instructions embed differently per task."""

    RETRIEVAL_QUERY = "retrieval_query"
    RETRIEVAL_DOCUMENT = "retrieval_document"
    SIMILARITY = "similarity"
    CLASSIFICATION = "classification"
    CLUSTERING = "clustering"

    @classmethod
    def parse(cls, value: str | TaskType) -> TaskType:
        """Accept `retrieval_query`, `retrieval.query`, `RETRIEVAL-QUERY`, ... ."""
        normalized = str(value).strip().lower().replace(".", "_").replace("-", "_")
        try:
            return cls(normalized)
        except ValueError:
            choices = ", ".join(task.value for task in cls)
            raise ConfigurationError(f"Unknown task_type {value!r}; choose one of {choices}.") from None


PrefixTable = Mapping[TaskType, str]

_E5 = {
    TaskType.RETRIEVAL_QUERY: "query: ",
    TaskType.RETRIEVAL_DOCUMENT: "passage: ",
    # The E5 authors advise "query: " for symmetric tasks.
    TaskType.SIMILARITY: "query: ",
    TaskType.CLASSIFICATION: "query: ",
    TaskType.CLUSTERING: "query: ",
}
_NOMIC = {
    TaskType.RETRIEVAL_QUERY: "search_query: ",
    TaskType.RETRIEVAL_DOCUMENT: "search_document: ",
    TaskType.CLASSIFICATION: "classification: ",
    TaskType.CLUSTERING: "clustering: ",
}

KNOWN_TASK_PREFIXES: dict[str, PrefixTable] = {
    **{name: _E5 for name in ("e5-small-v2", "e5-base-v2", "e5-large-v2")},
    **{name: _E5 for name in ("multilingual-e5-small", "multilingual-e5-base", "multilingual-e5-large")},
    **{name: _NOMIC for name in ("nomic-embed-text-v1", "nomic-embed-text-v1.5", "nomic-embed-text")},
}
"""Prefixes of public models, by model id without its organisation (`intfloat/e5-base-v2` → `e5-base-v2`)."""


def parse_table(raw: Mapping[str, Any], where: str) -> dict[TaskType, str]:
    """A prefix table from `{task name: prefix}`; a ConfigurationError naming `where` if it is malformed."""
    table: dict[TaskType, str] = {}
    for task, prefix in raw.items():
        if not isinstance(prefix, str):
            raise ConfigurationError(f"{where}[{task!r}] must be a string, not {prefix!r}.")
        table[TaskType.parse(task)] = prefix
    return table


def known_prefixes(model_name: str) -> PrefixTable | None:
    """The built-in table for `model_name`, matched without its organisation and case-insensitively."""
    return KNOWN_TASK_PREFIXES.get(model_name.rsplit("/", 1)[-1].lower())


def prefixes_from_model_object(extra: Mapping[str, Any] | None) -> dict[TaskType, str] | None:
    """The table a server publishes as `task_prefixes` on a model object, or None when it publishes none."""
    raw = (extra or {}).get("task_prefixes")
    if not isinstance(raw, Mapping):
        return None
    try:
        return parse_table(raw, "task_prefixes")
    except ConfigurationError:
        # A server's table that this client cannot read is ignored rather than failing every request.
        return None
