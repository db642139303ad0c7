"""After start-up, what exists is frozen out of the collector's scans, and young collections are rarer;
garbage made later is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from modelport.runtime import Registry
from modelport.server.collector import YOUNG_THRESHOLD, freeze_after_start_up

pytestmark = pytest.mark.anyio


class _Node:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("unfrozen")
async def test_start_up_objects_are_frozen_and_later_cycles_still_collected() -> None:
    registry = Registry([])
    await registry.start()
    try:
        await freeze_after_start_up(registry)
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD > 700
        later = _Node()
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
    finally:
        await registry.stop()
