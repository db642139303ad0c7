"""Requests pass their dependencies on the event loop: FastAPI runs a plain `def` dependency in a worker
thread, two hops per request that cost more than an embedding request's own serving."""

from __future__ import annotations

from typing import Annotated, Any

import fastapi.dependencies.utils
import httpx
import numpy as np
import pytest

from modelport import Parameter, model
from modelport.config import Settings
from modelport.runtime import Registry, load_targets
from modelport.server import create_app

pytestmark = pytest.mark.anyio


@model
def ones(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    return np.ones((len(texts), 4), dtype=np.float32) / 2


async def test_a_request_hops_to_no_thread_for_its_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    threaded: list[str] = []
    run_in_threadpool = fastapi.dependencies.utils.run_in_threadpool

    async def recording(function: Any, *args: Any, **kwargs: Any) -> Any:
        threaded.append(getattr(function, "__qualname__", repr(function)))
        return await run_in_threadpool(function, *args, **kwargs)

    monkeypatch.setattr(fastapi.dependencies.utils, "run_in_threadpool", recording)
    app = create_app(Registry(load_targets([f"{__name__}:ones"])), Settings(api_keys=["key"]))
    headers = {"authorization": "Bearer key"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", headers=headers) as client:
        answer = await client.post("/v1/embeddings", json={"model": "ones", "input": "a"})
        assert answer.status_code == 200, answer.text
        assert (await client.get("/v1/models")).status_code == 200
    assert threaded == []
