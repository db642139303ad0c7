"""Stored Responses in SQLite, in the state folder: they outlive the process, so a restart keeps them.

sqlite3 blocks, so every call runs in a worker thread; one connection, guarded by a lock, serves them all.
The database file is made on first use: a server that never stores a response writes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    response TEXT NOT NULL,
    input_items TEXT NOT NULL,
    conversation TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class StoredResponse:
    """A response as retrieved: the response object, its input items, and the conversation so far as chat
    messages (earlier turns, this input and this output; no instructions), which a next turn continues."""

    id: str
    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    conversation: list[dict[str, Any]]


class ResponseStore:
    """Responses by id in `<folder>/responses.sqlite3`."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "responses.sqlite3"
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            # WAL lets a second server process on the same folder read while this one writes.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
            self._connection = connection
        return self._connection

    def _save(self, record: StoredResponse) -> None:
        with self._lock:
            self._connect().execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                (
                    record.id,
                    time.time(),
                    json.dumps(record.response),
                    json.dumps(record.input_items),
                    json.dumps(record.conversation),
                ),
            )

    def _exists(self) -> bool:
        return self._connection is not None or self.path.exists()

    def _get(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            if not self._exists():
                return None
            row = (
                self._connect()
                .execute("SELECT response, input_items, conversation FROM responses WHERE id = ?", (response_id,))
                .fetchone()
            )
        if row is None:
            return None
        return StoredResponse(response_id, json.loads(row[0]), json.loads(row[1]), json.loads(row[2]))

    def _delete(self, response_id: str) -> bool:
        with self._lock:
            if not self._exists():
                return False
            cursor = self._connect().execute("DELETE FROM responses WHERE id = ?", (response_id,))
        return cursor.rowcount > 0

    async def save(self, record: StoredResponse) -> None:
        await anyio.to_thread.run_sync(self._save, record)

    async def get(self, response_id: str) -> StoredResponse | None:
        return await anyio.to_thread.run_sync(self._get, response_id)

    async def delete(self, response_id: str) -> bool:
        """Delete a response; False when there was none with this id."""
        return await anyio.to_thread.run_sync(self._delete, response_id)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
