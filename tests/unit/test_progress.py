"""Progress of long start-up work: a bar in a terminal, log lines otherwise (modelport.progress)."""

import io
import logging

import pytest

from modelport.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar() -> None:
    screen = Terminal()
    with Progress("joining model.gguf", 4_000_000, stream=screen) as progress:
        for _ in range(4):
            progress.update(1_000_000)
    shown = screen.getvalue()
    assert "\rjoining model.gguf [" in shown
    assert "100% 4 MB/4 MB" in shown
    assert shown.endswith(" s\n")


def test_elsewhere_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="modelport.progress"),
        Progress("checking a.bin", 10, stream=io.StringIO()) as p,
    ):
        p.update(10)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "checking a.bin: 0 MB"
    assert messages[-1].startswith("checking a.bin: done in ")
