"""An upstream server's models as predictors: each takes a request whole and forwards it, unknown fields and all."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from modelport.errors import ModelportError
from modelport.predictor import ForwardRequest, ForwardSignature, ModelSpec, Task
from modelport.upstream.client import UpstreamClient, models_in
from modelport.upstream.config import UpstreamConfig

logger = logging.getLogger(__name__)


class UpstreamModel:
    """One model of an upstream server. Served as it is: the server calls `load`, then `__call__`.

    Loading opens the connection pool its upstream's models share (and, with `check_as`, asks the upstream
    whether it serves the model, so that a model loaded at start-up means an upstream that answered);
    unloading closes the pool once its last model unloads. Nothing is held in memory here.
    """

    def __init__(self, client: UpstreamClient, upstream_id: str, *, check_as: str | None = None) -> None:
        self.client = client
        self.upstream_id = upstream_id
        # The local name, when loading checks that the upstream serves the model.
        self.check_as = check_as

    async def load(self) -> None:
        await self.client.open()
        if self.check_as is None:
            return
        try:
            await self.client.check_serves(self.upstream_id, self.check_as)
        except BaseException:
            await self.client.close()
            raise

    async def unload(self) -> None:
        await self.client.close()

    async def __call__(self, request: ForwardRequest) -> Any:
        """The upstream's answer: a JSON object, or an async iterator of its events or of its body's bytes."""
        fields = {**request.fields, "model": self.upstream_id}
        if request.method == "GET":
            return await self.client.get_json(request.endpoint, fields)
        if request.reply == "events":
            return self.client.post_events(request.endpoint, fields, request.file)
        if request.reply == "bytes":
            return self.client.post_bytes(request.endpoint, fields, request.file)
        return await self.client.post_json(request.endpoint, fields, request.file)

    def __repr__(self) -> str:
        return f"UpstreamModel({self.upstream_id!r} at {self.client.label})"


def upstream_specs(config: UpstreamConfig) -> list[ModelSpec]:
    """The specs of the models one upstream entry serves, all sharing one HTTP client.

    With no `models` listed, asks the upstream's `GET /models` now (a `ValueError` naming the upstream if it
    cannot answer). The models file and the settings' `upstreams` both go through here.
    """
    config.api_key()  # An unset key variable fails at start-up, not on the first request.
    client = UpstreamClient(config)
    entries = {model_id: {} for model_id in config.models} if config.models else _listed(client)
    return [_spec(config, UpstreamModel(client, upstream_id), entry) for upstream_id, entry in entries.items()]


def declared_upstream(
    name: str,
    config: UpstreamConfig,
    upstream_id: str,
    *,
    task: Task | None = None,
    aliases: tuple[str, ...] = (),
    description: str | None = None,
) -> ModelSpec:
    """The spec of one upstream model a models file declares (`engine = "upstream"`), served as `name`.

    Nothing is asked of the upstream until the model loads; its load checks that the upstream serves it.
    """
    config.api_key()  # An unset key variable fails at start-up, not on the first request.
    model = UpstreamModel(UpstreamClient(config), upstream_id, check_as=name)
    spec = _spec(config, model, {"task": task.value} if task else {})
    return replace(spec, name=name, aliases=aliases, description=description or spec.description)


def _spec(config: UpstreamConfig, model: UpstreamModel, entry: dict[str, Any]) -> ModelSpec:
    """`model`'s spec; `entry` is what the upstream's `/models` says of it (a modelport upstream says its task)."""
    owner = urlsplit(config.base_url).hostname or "upstream"
    owned_by = entry.get("owned_by") if isinstance(entry.get("owned_by"), str) else owner
    said = entry.get("task")
    listed = said if isinstance(said, str) and said in {member.value for member in Task} else None
    return ModelSpec(
        name=config.local_name(model.upstream_id),
        # Listed under the task the upstream says it has, if it says; chat otherwise. Any endpoint serves it.
        task=Task(listed) if listed else Task.CHAT,
        target=model,
        qualname=f"upstream {config.base_url} model {model.upstream_id}",
        signature=ForwardSignature(),
        params=(),
        description=f"{model.upstream_id} at {config.base_url}",
        is_async=True,
        is_instance=True,
        owned_by=str(owned_by),
    )


def _listed(client: UpstreamClient) -> dict[str, dict[str, Any]]:
    # At start-up, before any event loop: a plain synchronous request.
    try:
        response = httpx.get(f"{client.config.base_url}/models", headers=client.headers(), timeout=client.timeout())
    except httpx.HTTPError as exc:
        raise ValueError(f"upstream {client.label}: cannot list its models: {exc}") from None
    if response.status_code >= 400:
        raise ValueError(f"upstream {client.label}: GET /models answered {response.status_code}")
    try:
        entries = models_in(response.json(), client.label)
    except (ValueError, ModelportError) as exc:
        raise ValueError(f"upstream {client.label}: its /models answer is not a model list ({exc})") from None
    logger.info("upstream %s serves %d models", client.label, len(entries))
    return {entry["id"]: entry for entry in entries}
