"""Telling a streaming image model's previews from its result (modelport.serving.images)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from modelport.serving import images
from modelport.serving.images import _marked_preview, _with_last


def _image(preview: bool = False) -> Image.Image:
    image = Image.new("RGB", (8, 8))
    if preview:
        image.info["preview"] = True
    return image


def test_a_preview_is_marked_on_every_image() -> None:
    assert _marked_preview([_image(True), _image(True)])
    assert _marked_preview(_image(True))
    assert not _marked_preview([_image(True), _image()])
    assert not _marked_preview([])
    assert not _marked_preview(_image())


@pytest.mark.anyio
async def test_a_marked_preview_goes_out_while_the_model_works_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the preview unmarked, it would wait this long for the stream to go on or end.
    monkeypatch.setattr(images, "LAST_ITEM_GRACE", 600.0)
    working = asyncio.Event()
    result = [_image()]

    async def model() -> AsyncIterator[list[Image.Image]]:
        yield [_image(True)]
        await working.wait()
        yield result

    steps = _with_last(model(), _marked_preview)
    preview, last = await asyncio.wait_for(anext(steps), 30)
    assert (preview[0].info, last) == ({"preview": True}, False)
    working.set()
    assert await asyncio.wait_for(anext(steps), 30) == (result, True)
    assert [step async for step in steps] == []
