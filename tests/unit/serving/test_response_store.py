"""The SQLite store of Responses, for real: save, read back, delete, and reopen from the same folder."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from modelport.serving.response_store import ResponseStore, StoredResponse

RECORD = StoredResponse(
    "resp_1",
    {"id": "resp_1", "object": "response", "output": []},
    [{"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_save_get_delete_and_reopen(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "state")
    assert await store.get("resp_1") is None
    assert not (tmp_path / "state").exists()  # nothing is written before the first response
    await store.save(RECORD)
    assert await store.get("resp_1") == RECORD
    store.close()

    reopened = ResponseStore(tmp_path / "state")
    assert await reopened.get("resp_1") == RECORD
    assert await reopened.delete("resp_1")
    assert not await reopened.delete("resp_1")
    assert await reopened.get("resp_1") is None
    reopened.close()
    with sqlite3.connect(tmp_path / "state" / "responses.sqlite3") as raw:
        assert raw.execute("SELECT COUNT(*) FROM responses").fetchone() == (0,)
