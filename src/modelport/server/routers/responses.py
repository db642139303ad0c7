"""`/v1/responses`: create, retrieve, delete, and list a response's input items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from modelport.errors import InvalidRequestError, NotFoundError
from modelport.predictor import Task
from modelport.protocol.responses import ResponsesRequest
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.server.sse import StreamFormat, sse_response
from modelport.serving.response_store import ResponseStore, StoredResponse
from modelport.serving.responses import complete_response, prepare_turn, response_events

router = APIRouter()

# Responses events are named and the stream ends with its last event (`response.completed` or the like).
RESPONSES_STREAM = StreamFormat(named=True, ending=None)


async def get_store(request: Request) -> ResponseStore:
    store: ResponseStore = request.app.state.response_store
    return store


def _json(body: Any) -> JSONResponse:
    return JSONResponse(body)


@router.post("/v1/responses", response_model=None)
async def create_response(
    request: ResponsesRequest,
    registry: Annotated[Registry, Depends(get_registry)],
    store: Annotated[ResponseStore, Depends(get_store)],
) -> JSONResponse | StreamingResponse:
    predictor = await predictor_for(registry, request.model, Task.CHAT)
    turn = await prepare_turn(request, store)
    if request.stream:
        return await sse_response(response_events(predictor, turn, store, streaming=True), RESPONSES_STREAM)
    response = await complete_response(predictor, turn, store)
    return _json(response.model_dump(mode="json", exclude_unset=True, by_alias=True))


async def _stored(store: ResponseStore, response_id: str) -> StoredResponse:
    record = await store.get(response_id)
    if record is None:
        raise NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")
    return record


@router.get("/v1/responses/{response_id}", response_model=None)
async def retrieve_response(
    response_id: str, store: Annotated[ResponseStore, Depends(get_store)], stream: bool = False
) -> JSONResponse:
    if stream:
        raise InvalidRequestError("Replaying a stored response as a stream is not supported.", param="stream")
    return _json((await _stored(store, response_id)).response)


@router.delete("/v1/responses/{response_id}", response_model=None)
async def delete_response(response_id: str, store: Annotated[ResponseStore, Depends(get_store)]) -> JSONResponse:
    if not await store.delete(response_id):
        raise NotFoundError(f"Response with id '{response_id}' not found.", param="response_id")
    return _json({"id": response_id, "object": "response.deleted", "deleted": True})


@router.get("/v1/responses/{response_id}/input_items", response_model=None)
async def list_input_items(
    response_id: str,
    store: Annotated[ResponseStore, Depends(get_store)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> JSONResponse:
    items = (await _stored(store, response_id)).input_items
    if order == "desc":
        items = items[::-1]
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise InvalidRequestError(f"No input item with id '{after}' in this response.", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return _json(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
    )
