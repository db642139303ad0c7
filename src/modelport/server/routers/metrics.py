"""`GET /metrics`: every metric in Prometheus's text format."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from modelport.metrics import CONTENT_TYPE, Metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    collected: Metrics = request.app.state.metrics
    return Response(collected.render(), media_type=CONTENT_TYPE)
