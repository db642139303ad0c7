"""Debian's Chromium driven by Playwright (no browser is downloaded), kept off every host but 127.0.0.1.

One browser serves the test module; each test gets a fresh context and page. Every request the page makes to
another host is refused and fails the test, and each test leaves a screenshot in `test-artifacts/playground/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, expect, sync_playwright

CHROMIUM = os.environ.get("MODELPORT_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "playground"
# Chromium's own traffic (updates, sync, field trials, QUIC probes) is switched off, so the only requests
# are the page's.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # A fake microphone (a steady beep) with permission granted, for the recording paths.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
# Generous: on a loaded two-core machine the real chat model may take a minute to answer (about a second
# when the machine is quiet).
TIMEOUT_MS = 180_000
expect.set_options(timeout=TIMEOUT_MS)


# Module scope, not session: Playwright's sync API runs its own event loop, which must be gone before the
# async tests of other modules start theirs (with it alive, anyio's runner finds a closed loop).
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        # Shown in the summary (pytest -ra). `make test` installs Chromium where it can (root with apt-get).
        pytest.skip(
            f"browser tests skipped: no Chromium at {CHROMIUM} (`make test` installs Debian's chromium when run as "
            "root with apt-get; or set MODELPORT_TEST_CHROMIUM to a Chromium binary)"
        )
    # Playwright starts Chromium with a fresh temporary profile (user-data dir) and removes it afterwards.
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    try:
        yield launched
    finally:
        launched.close()


class Outside:
    """Requests the page tried to make to other hosts; each was refused."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def route(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.urls.append(url)
            route.abort("blockedbyclient")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(TIMEOUT_MS)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    outside = Outside()
    context.route("**/*", outside.route)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if not opened.is_closed():
            opened.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    assert not outside.urls, f"the page asked for other hosts: {outside.urls}"
    assert not errors, f"the page's scripts failed: {errors}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ARTIFACTS.is_dir():
        terminalreporter.write_line(f"playground screenshots: {ARTIFACTS}")
