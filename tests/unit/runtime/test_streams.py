"""Several async streams read as one (modelport.runtime.streams)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest

from modelport.runtime.streams import merge


async def counting(name: str, count: int, closed: list[str] | None = None) -> AsyncIterator[str]:
    try:
        for i in range(count):
            await anyio.lowlevel.checkpoint()
            yield f"{name}{i}"
    finally:
        if closed is not None:
            closed.append(name)


@pytest.mark.anyio
async def test_every_item_arrives_in_its_stream_order() -> None:
    items = [item async for item in merge([counting("a", 3), counting("b", 2)])]
    assert sorted(items) == ["a0", "a1", "a2", "b0", "b1"]
    assert [i for i in items if i[0] == "a"] == ["a0", "a1", "a2"]


@pytest.mark.anyio
async def test_an_error_ends_the_merge() -> None:
    async def failing() -> AsyncIterator[str]:
        yield "x"
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        async for _ in merge([failing(), counting("a", 100)]):
            pass


@pytest.mark.anyio
async def test_stopping_early_closes_the_streams() -> None:
    closed: list[str] = []
    stream = merge([counting("a", 1000, closed), counting("b", 1000, closed)])
    assert await anext(stream)
    await stream.aclose()
    for _ in range(10):
        await anyio.lowlevel.checkpoint()
    assert sorted(closed) == ["a", "b"]


@pytest.mark.anyio
async def test_no_streams() -> None:
    assert [item async for item in merge([])] == []


@pytest.mark.anyio
async def test_one_stream_passes_through_and_is_closed_when_the_reader_stops() -> None:
    assert [item async for item in merge([counting("a", 3)])] == ["a0", "a1", "a2"]
    closed: list[str] = []
    stream = merge([counting("a", 1000, closed)])
    assert await anext(stream) == "a0"
    await stream.aclose()
    assert closed == ["a"]


@pytest.mark.anyio
async def test_one_streams_error_reaches_the_reader() -> None:
    async def failing() -> AsyncIterator[str]:
        yield "x"
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        async for _ in merge([failing()]):
            pass
