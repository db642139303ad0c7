"""What a model's deployment is told: replicas or autoscaling, resources per replica, and queue limits.

Plain data, with no import of Ray, so a `deploy.toml` (or the arguments of `App.deploy`) is checked before a
cluster is started. The field names are Ray Serve's own, so its documentation reads for them, but for
`replica_queue`, modelport's: Ray's `max_ongoing_requests` is the calls a replica runs plus the ones it holds.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Ray's default is one CPU per replica: a 2-core machine then places two replicas and `serve.run` waits
# forever for the third. A tenth leaves room for every model of a small machine; the OS shares the cores.
DEFAULT_NUM_CPUS = 0.1
# One replica embeds the requests it holds at once in shared batches: it must be allowed to hold several.
DEFAULT_MAX_ONGOING_REQUESTS = 16
# Requests a replica holds waiting beyond the ones it runs: one is enough for the next call to start as one
# ends, where waiting in the router it would start only once the last call's end had reached the ingress and
# the next request had come back (bench/ray_trace.py: 28 ms a call at the median with four busy replicas).
DEFAULT_REPLICA_QUEUE = 1
# Which replica takes each request (modelport.ray.router): one with room, and when all are full, the one where
# a request just ended, instead of Ray's default, which polls full replicas.
REQUEST_ROUTER = "modelport.ray.router.SlotRouter"
# Ray's router polls replicas it knows nothing of with a back-off that doubles from 25 ms; at its default
# ceiling of 0.5 s a replica whose waiting request started could sit idle for most of that.
ROUTER_MAX_BACKOFF_SECONDS = 0.1
# Read by Ray Serve in each replica's process: the replica's own event loop runs the model's coroutines
# (they never block it: `LocalPredictor` runs sync code in threads) instead of a second loop in a thread,
# which cost a thread hop each way for every call and every streamed list.
REPLICA_ENVIRONMENT = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}


class Autoscaling(BaseModel):
    """Ray Serve's autoscaling: replicas between the bounds, aiming at a number of ongoing requests each."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=0, description="0 scales the model to zero when idle")
    max_replicas: int = Field(1, ge=1)
    initial_replicas: int | None = Field(None, ge=0)
    target_ongoing_requests: float = Field(2.0, gt=0)
    upscale_delay_s: float = Field(30.0, ge=0)
    downscale_delay_s: float = Field(600.0, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling: min_replicas must not exceed max_replicas")
        if self.initial_replicas is not None and not self.min_replicas <= self.initial_replicas <= self.max_replicas:
            raise ValueError("autoscaling: initial_replicas must lie between min_replicas and max_replicas")
        return self


class ActorOptions(BaseModel):
    """What one replica reserves on its node; a replica is placed only on a node that has all of it."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(DEFAULT_NUM_CPUS, ge=0, description="fractions allowed (0.25: four replicas a core)")
    num_gpus: float = Field(0.0, ge=0, description="fractions allowed: replicas share a GPU")
    memory: int | None = Field(None, gt=0, description="bytes of memory reserved (not a limit)")
    resources: dict[str, float] = Field(
        default_factory=dict, description="custom resources, say {node-a = 1}: the nodes started with them"
    )
    runtime_env: dict[str, Any] | None = Field(None, description="Ray's runtime_env, say a working_dir")

    def needs(self) -> dict[str, float]:
        """One replica's demand in Ray's resource names (`memory` in bytes), zeros left out."""
        demand = {"CPU": self.num_cpus, "GPU": self.num_gpus, "memory": float(self.memory or 0), **self.resources}
        return {name: amount for name, amount in demand.items() if amount > 0}


class DeploymentOptions(BaseModel):
    """One model's deployment on Ray Serve; the defaults fit a small machine."""

    model_config = ConfigDict(extra="forbid")

    num_replicas: int | None = Field(None, ge=1, description="a fixed replica count (1 when neither is given)")
    autoscaling: Autoscaling | None = None
    ray_actor_options: ActorOptions = Field(default_factory=ActorOptions)
    max_ongoing_requests: int = Field(
        DEFAULT_MAX_ONGOING_REQUESTS, ge=1, description="calls one replica runs at once (embeddings batch them)"
    )
    replica_queue: int = Field(
        DEFAULT_REPLICA_QUEUE,
        ge=0,
        description="requests one replica holds waiting for a free call, beyond max_ongoing_requests "
        "(they fail with the replica if its process dies; the rest wait in Ray's router)",
    )
    max_queued_requests: int = Field(
        -1, ge=-1, description="requests waiting for a replica before new ones get 429 (-1: no limit)"
    )

    @model_validator(mode="after")
    def _one_scaling(self) -> DeploymentOptions:
        if self.num_replicas is not None and self.autoscaling is not None:
            raise ValueError("give num_replicas or autoscaling, not both")
        return self

    @property
    def least_replicas(self) -> int:
        """How many replicas must be placed before the deployment is up."""
        if self.autoscaling is None:
            return self.num_replicas or 1
        initial = self.autoscaling.initial_replicas
        return self.autoscaling.min_replicas if initial is None else initial

    @property
    def most_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling is not None else self.least_replicas

    def serve_options(self) -> dict[str, Any]:
        """The keyword arguments of Ray Serve's `Deployment.options`: Ray sends a replica the requests it
        runs and the ones it holds waiting (the replica itself runs `max_ongoing_requests` at once)."""
        options: dict[str, Any] = {
            "ray_actor_options": self.ray_actor_options.model_dump(exclude_none=True),
            "max_ongoing_requests": self.max_ongoing_requests + self.replica_queue,
            "max_queued_requests": self.max_queued_requests,
            "request_router_config": {
                "request_router_class": REQUEST_ROUTER,
                "max_backoff_s": ROUTER_MAX_BACKOFF_SECONDS,
            },
        }
        if not options["ray_actor_options"]["resources"]:
            del options["ray_actor_options"]["resources"]
        runtime_env = dict(options["ray_actor_options"].get("runtime_env") or {})
        runtime_env["env_vars"] = {**REPLICA_ENVIRONMENT, **runtime_env.get("env_vars", {})}
        options["ray_actor_options"]["runtime_env"] = runtime_env
        if self.autoscaling is not None:
            options["autoscaling_config"] = self.autoscaling.model_dump(exclude_none=True)
        else:
            options["num_replicas"] = self.num_replicas or 1
        return options


class DeployConfig(BaseModel):
    """A `deploy.toml`: `[defaults]` for every model, `[models.NAME]` for one (fields as `DeploymentOptions`)."""

    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid(self) -> DeployConfig:
        # Every table is checked now, not when its model is deployed: a typo fails before Ray starts.
        for name in ("", *self.models):
            self.for_model(name)
        return self

    def for_model(self, name: str) -> DeploymentOptions:
        """The options of the model `name`: its own table over `[defaults]` (nested tables merged too)."""
        merged = dict(self.defaults)
        for key, value in self.models.get(name, {}).items():
            base = merged.get(key)
            merged[key] = {**base, **value} if isinstance(base, Mapping) and isinstance(value, Mapping) else value
        if "autoscaling" in self.models.get(name, {}) and "num_replicas" not in self.models.get(name, {}):
            merged.pop("num_replicas", None)
        if "num_replicas" in self.models.get(name, {}) and "autoscaling" not in self.models.get(name, {}):
            merged.pop("autoscaling", None)
        return DeploymentOptions.model_validate(merged)

    def check_names(self, served: list[str]) -> None:
        """A ValueError naming any `[models.NAME]` table for a model that is not deployed."""
        unknown = sorted(set(self.models) - set(served))
        if unknown:
            raise ValueError(
                f"the deploy config configures models that are not deployed: {', '.join(unknown)} "
                f"(deployed: {', '.join(served) or 'none'})"
            )


def deploy_config(
    models: Mapping[str, DeploymentOptions | Mapping[str, Any]] | None = None,
    defaults: DeploymentOptions | Mapping[str, Any] | None = None,
) -> DeployConfig:
    """A `DeployConfig` from Python values: per-model options over options for every model."""

    def plain(value: DeploymentOptions | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(value, DeploymentOptions):
            return value.model_dump(exclude_unset=True)
        return dict(value)

    return DeployConfig(
        defaults=plain(defaults) if defaults is not None else {},
        models={name: plain(value) for name, value in (models or {}).items()},
    )


def load_deploy_config(path: str | Path | None) -> DeployConfig:
    """The config at `path` (a TOML file), or the defaults; an unknown key is an error naming it."""
    if path is None:
        return DeployConfig()
    with Path(path).open("rb") as file:
        return DeployConfig.model_validate(tomllib.load(file))
