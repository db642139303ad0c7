"""`/v1/images/generations`, `/v1/images/edits`, `/v1/images/variations`, and the files of `url` responses."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from modelport.errors import InvalidRequestError
from modelport.predictor import Task
from modelport.protocol.images import ImageEditForm, ImageGenerationRequest, ImageOptions, ImageVariationForm
from modelport.runtime import Registry
from modelport.server.dependencies import get_registry, predictor_for
from modelport.server.errors import validation_error
from modelport.server.sse import SELF_ENDING, sse_response
from modelport.serving.image_codec import MEDIA_TYPES
from modelport.serving.image_files import ImageFiles
from modelport.serving.images import ImageJob, Publish, create_images, image_events, prepare

router = APIRouter()
# The files behind image URLs need no API key: their random names are the key, as a signed URL's is.
files_router = APIRouter()

FILES_PATH = "/v1/images/files"

FormModel = TypeVar("FormModel", bound=ImageOptions)


def _files(request: Request) -> ImageFiles:
    files: ImageFiles = request.app.state.image_files
    return files


def _publisher(request: Request) -> Publish:
    """Keeps a file and returns its URL on the host and port the client called."""
    files = _files(request)
    base = str(request.base_url).rstrip("/")

    def publish(data: bytes, output_format: str) -> str:
        return f"{base}{FILES_PATH}/{files.save(data, output_format)}"

    return publish


async def _answer(request: Request, registry: Registry, job: ImageJob) -> Response:
    predictor = await predictor_for(registry, job.request.model, Task.IMAGE)
    await prepare(predictor, job)
    if job.streaming:
        # OpenAI's image streams end with their completed event, not `data: [DONE]`.
        return await sse_response(image_events(predictor, job), SELF_ENDING)
    response = await create_images(predictor, job, _publisher(request))
    return JSONResponse(response.model_dump(exclude_none=True))


async def _read_form(request: Request, model: type[FormModel]) -> tuple[FormModel, list[bytes], bytes | None]:
    """The multipart body: its fields checked against `model`, the `image` (or `image[]`) and `mask` files."""
    fields: dict[str, str] = {}
    images: list[bytes] = []
    mask: bytes | None = None
    # Leaving the block closes the uploads' temporary files.
    async with request.form() as form:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key in ("image", "image[]"):
                    images.append(await value.read())
                elif key == "mask":
                    mask = await value.read()
                else:
                    raise InvalidRequestError(f"Unexpected file field '{key}'.", param=key)
            else:
                fields[key] = value
    try:
        parsed = model.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(RequestValidationError(exc.errors())) from None
    return parsed, images, mask


@router.post("/v1/images/generations", response_model=None)
async def generations(
    body: ImageGenerationRequest, request: Request, registry: Annotated[Registry, Depends(get_registry)]
) -> Response:
    return await _answer(request, registry, ImageJob("generation", body))


def _multipart(form: type[ImageOptions], files: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The OpenAPI request body of a multipart endpoint whose form is read by hand: its files and fields."""
    schema = form.model_json_schema()
    schema["properties"] = {**files, **schema["properties"]}
    schema["required"] = [*required, *schema.get("required", [])]
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


_FILE = {"type": "string", "format": "binary"}
_EDIT_FILES = {
    "image": {"description": "PNG, JPEG or WebP; several as `image[]`", **_FILE},
    "mask": {"description": "edit where fully transparent; the image's size", **_FILE},
}


@router.post("/v1/images/edits", response_model=None, openapi_extra=_multipart(ImageEditForm, _EDIT_FILES, ["image"]))
async def edits(request: Request, registry: Annotated[Registry, Depends(get_registry)]) -> Response:
    """Multipart: `image` (or several `image[]`), an optional `mask`, and the fields of ImageEditForm."""
    form, images, mask = await _read_form(request, ImageEditForm)
    return await _answer(request, registry, ImageJob("edit", form, images, mask))


@router.post(
    "/v1/images/variations",
    response_model=None,
    openapi_extra=_multipart(ImageVariationForm, {"image": _FILE}, ["image"]),
)
async def variations(request: Request, registry: Annotated[Registry, Depends(get_registry)]) -> Response:
    """Multipart: one `image` and the fields of ImageVariationForm."""
    form, images, _ = await _read_form(request, ImageVariationForm)
    return await _answer(request, registry, ImageJob("variation", form, images))


@files_router.get(FILES_PATH + "/{name}")
async def image_file(name: str, request: Request) -> FileResponse:
    path = _files(request).path(name)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix.lstrip(".")])
