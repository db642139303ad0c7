"""Generated images kept on disk for `response_format=url`, each for a limited time, then deleted."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from modelport.errors import NotFoundError

_SUFFIXES = {"png": ".png", "jpeg": ".jpeg", "webp": ".webp"}


class ImageFiles:
    """A folder of generated images, each under a random name nobody can guess, kept `ttl` seconds.

    The name is the only key to a file (as a signed URL is at OpenAI), so a browser can open the URL
    without an API key. Expired files are deleted whenever a file is saved or looked up.
    """

    def __init__(self, ttl: float, folder: Path | None = None) -> None:
        self.ttl = ttl
        self._own_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="modelport-images-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def save(self, data: bytes, output_format: str) -> str:
        """Keep `data`; returns the file's name, to put at the end of its URL."""
        name = secrets.token_urlsafe(24) + _SUFFIXES[output_format]
        (self.folder / name).write_bytes(data)
        with self._lock:
            self._expiry[name] = time.monotonic() + self.ttl
        self.sweep()
        return name

    def path(self, name: str) -> Path:
        """The file called `name`; a 404 when it never existed or has expired."""
        self.sweep()
        with self._lock:
            known = name in self._expiry
        if not known:
            raise NotFoundError("The image does not exist or has expired.", code="image_not_found")
        return self.folder / name

    def sweep(self) -> None:
        """Delete every expired file."""
        now = time.monotonic()
        with self._lock:
            expired = [name for name, deadline in self._expiry.items() if deadline <= now]
            for name in expired:
                del self._expiry[name]
        for name in expired:
            (self.folder / name).unlink(missing_ok=True)

    def close(self) -> None:
        """Delete every file (and the folder, when it was made here)."""
        with self._lock:
            names, self._expiry = list(self._expiry), {}
        for name in names:
            (self.folder / name).unlink(missing_ok=True)
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
