"""The HTTP layer: FastAPI routers, one per OpenAI resource, over the runtime."""

from modelport.server.app import create_app

__all__ = ["create_app"]
