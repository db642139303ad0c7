"""What `modelport deploy` is told per model: replicas, autoscaling, resources and queue limits.

Plain data, with no import of Ray, so a `deploy.toml` is checked before a cluster is started.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Ray's default is one CPU per replica: a 2-core machine then places two replicas and `serve.run` waits
# forever for the third. A tenth leaves room for every model of a small machine; the OS shares the cores.
DEFAULT_NUM_CPUS = 0.1


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
        return self


class DeploymentOptions(BaseModel):
    """One model's deployment on Ray Serve; the defaults fit a small machine."""

    model_config = ConfigDict(extra="forbid")

    num_replicas: int | None = Field(None, ge=1, description="a fixed replica count (1 when neither is given)")
    autoscaling: Autoscaling | None = None
    ray_actor_options: dict[str, Any] = Field(default_factory=dict, description="num_cpus, num_gpus, memory, ...")
    max_ongoing_requests: int = Field(5, ge=1, description="requests one replica runs at once")
    max_queued_requests: int = Field(
        -1, ge=-1, description="requests waiting for a replica before new ones get 429 (-1: no limit)"
    )

    @model_validator(mode="after")
    def _one_scaling(self) -> DeploymentOptions:
        if self.num_replicas is not None and self.autoscaling is not None:
            raise ValueError("give num_replicas or autoscaling, not both")
        return self

    @property
    def num_cpus(self) -> float:
        return float(self.ray_actor_options.get("num_cpus", DEFAULT_NUM_CPUS))

    @property
    def least_replicas(self) -> int:
        """How many replicas must be placed before the deployment is up."""
        if self.autoscaling is None:
            return self.num_replicas or 1
        initial = self.autoscaling.initial_replicas
        return self.autoscaling.min_replicas if initial is None else initial

    def serve_options(self) -> dict[str, Any]:
        """The keyword arguments of Ray Serve's `Deployment.options`."""
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": DEFAULT_NUM_CPUS, **self.ray_actor_options},
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
        }
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

    def for_model(self, name: str) -> DeploymentOptions:
        return DeploymentOptions.model_validate({**self.defaults, **self.models.get(name, {})})


def load_deploy_config(path: str | Path | None) -> DeployConfig:
    """The config at `path` (a TOML file), or the defaults; an unknown key is an error naming it."""
    if path is None:
        return DeployConfig()
    with Path(path).open("rb") as file:
        return DeployConfig.model_validate(tomllib.load(file))
