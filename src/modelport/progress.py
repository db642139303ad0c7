"""Progress of long start-up work (joining weights, checking hashes): a bar in a terminal, log lines otherwise,
so that a first start of several minutes never looks hung."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import TextIO

logger = logging.getLogger("modelport.progress")

_LOG_EVERY = 10.0
_DRAW_EVERY = 0.1
_WIDTH = 30


class Progress:
    """Counts bytes done out of `total` for `label`; use as a context manager around the work."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self._stream = stream or sys.stderr
        self._terminal = self._stream.isatty()
        self._started = time.monotonic()
        self._shown = 0.0

    def __enter__(self) -> Progress:
        if not self._terminal:
            logger.info("%s: %s", self.label, _megabytes(self.total))
        return self

    def update(self, amount: int) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self._shown >= (_DRAW_EVERY if self._terminal else _LOG_EVERY):
            self._shown = now
            self._show(now)

    def _show(self, now: float) -> None:
        share = min(self.done / self.total, 1.0)
        if self._terminal:
            filled = int(share * _WIDTH)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            self._stream.write(f"\r{self.label} [{bar}] {share:4.0%} {_megabytes(self.done)}/{_megabytes(self.total)}")
            self._stream.flush()
        else:
            logger.info(
                "%s: %.0f%% (%s of %s, %.0f s)",
                self.label,
                share * 100,
                _megabytes(self.done),
                _megabytes(self.total),
                now - self._started,
            )

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        seconds = time.monotonic() - self._started
        if self._terminal:
            self._show(time.monotonic())
            self._stream.write(f" {seconds:.1f} s\n" if kind is None else " failed\n")
            self._stream.flush()
        elif kind is None:
            logger.info("%s: done in %.1f s", self.label, seconds)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB"
