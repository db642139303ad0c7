"""`GET /`: the web playground, a page of plain HTML, CSS and JavaScript shipped in the package."""

from __future__ import annotations

import mimetypes
from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from modelport.errors import NotFoundError

router = APIRouter(include_in_schema=False)

# The page must not be cached across upgrades of the package, but it is small: revalidate every time.
_HEADERS = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}


@cache
def _assets() -> dict[str, tuple[bytes, str]]:
    """Every file of the playground folder by name, with its media type; read once."""
    folder = resources.files("modelport") / "playground"
    found: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        if entry.is_file() and not entry.name.startswith((".", "_")) and not entry.name.endswith(".py"):
            media_type = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type.endswith("javascript"):
                media_type += "; charset=utf-8"
            found[entry.name] = (entry.read_bytes(), media_type)
    return found


def _serve(name: str) -> Response:
    asset = _assets().get(name)
    if asset is None:
        raise NotFoundError(f"The playground has no file `{name}`.", code="not_found")
    content, media_type = asset
    return Response(content, media_type=media_type, headers=_HEADERS)


@router.get("/")
async def page() -> Response:
    return _serve("index.html")


@router.get("/playground/{name}")
async def asset(name: str) -> Response:
    return _serve(name)
