"""Starting Ray (local and loopback-only, or an existing cluster) and one Serve deployment per model."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import serve

from modelport.config import Settings
from modelport.predictor import ModelSpec
from modelport.ray.options import DeploymentOptions
from modelport.ray.predictor import RemotePredictor
from modelport.ray.replica import ModelReplica, find_specs
from modelport.runtime.registry import Registry

logger = logging.getLogger(__name__)

APP_NAME = "modelport"
# A cold local Ray on a loaded 2-core machine takes minutes, not the 16-20 s it takes on a quiet one.
DEFAULT_START_TIMEOUT = 600.0
DEFAULT_OBJECT_STORE_BYTES = 256 * 1024 * 1024


class DeployError(RuntimeError):
    """The models cannot be deployed as asked (say, their replicas need more CPUs than the cluster has)."""


def start_ray(address: str | None = None, *, object_store_memory: int = DEFAULT_OBJECT_STORE_BYTES) -> None:
    """Connect to the cluster at `address`, or start a local Ray bound to 127.0.0.1 with usage stats off."""
    if ray.is_initialized():
        return
    if address is not None:
        ray.init(address=address, logging_level=logging.WARNING)
        return
    # Read by the Ray processes started below: loopback only, no usage reports, no token (nothing leaves lo).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        object_store_memory=object_store_memory,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )


@dataclass
class Deployment:
    """Models running on Ray Serve: the registry of their remote predictors, for modelport's own app."""

    registry: Registry
    options: dict[str, DeploymentOptions] = field(default_factory=dict)

    def status(self) -> dict[str, dict[str, Any]]:
        """Each model's deployment state and its replicas by state."""
        return deployment_status()

    def shutdown(self) -> None:
        """Delete the models' deployments (the Ray instance stays, as do other Serve applications)."""
        serve.delete(APP_NAME)


class _Directory:
    """The application's ingress deployment: Serve wants one; modelport's own FastAPI app is the real one."""

    def __init__(self, **models: Any) -> None:
        self.models = sorted(models)

    def names(self) -> list[str]:
        return self.models


def _fits(specs: Sequence[ModelSpec], options: Mapping[str, DeploymentOptions]) -> None:
    """Refuse a deployment whose replicas cannot all be placed: `serve.run` would wait for them forever."""
    available = ray.cluster_resources().get("CPU", 0.0)  # type: ignore[no-untyped-call]
    needed = sum(options[spec.name].num_cpus * options[spec.name].least_replicas for spec in specs)
    if needed > available + 1e-9:
        detail = ", ".join(
            f"{spec.name}: {options[spec.name].least_replicas} x {options[spec.name].num_cpus}" for spec in specs
        )
        raise DeployError(
            f"the replicas need {needed:g} CPUs but the Ray cluster has {available:g} ({detail}); "
            "lower ray_actor_options.num_cpus (fractions are allowed) or the replica counts"
        )


def deploy(
    targets: Sequence[str],
    options: Mapping[str, DeploymentOptions] | None = None,
    *,
    settings: Settings | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
) -> Deployment:
    """Deploy each model of `targets` (the built-in models when empty) as its own Serve deployment.

    Ray must be started (`start_ray`). `options` maps a model name to its `DeploymentOptions` (the defaults
    otherwise). Returns once every deployment is running, or raises `DeployError` after `timeout` seconds.
    """
    settings = settings or Settings()
    # Replicas run elsewhere: paths must not depend on the working directory.
    targets = [str(Path(t).resolve()) if Path(t).exists() else t for t in targets]
    specs = find_specs(targets, settings)
    unknown = sorted(set(options or {}) - {spec.name for spec in specs})
    if unknown:
        raise DeployError(f"options for models that are not deployed: {', '.join(unknown)}")
    chosen = {spec.name: (options or {}).get(spec.name) or DeploymentOptions() for spec in specs}
    _fits(specs, chosen)
    serve.start(proxy_location="Disabled")
    # Ray's annotations of `serve.deployment` miss the form that takes a class directly.
    body: Any = serve.deployment(ModelReplica)
    directory: Any = serve.deployment(_Directory)
    bound = {
        spec.name: body.options(name=spec.name, **chosen[spec.name].serve_options()).bind(
            targets, settings.model_dump(mode="json"), spec.name, [p for p in sys.path if p]
        )
        for spec in specs
    }
    ingress = directory.options(name="directory", ray_actor_options={"num_cpus": 0}).bind(**bound)
    _run_with_timeout(ingress, timeout)
    handles = {spec.name: serve.get_deployment_handle(spec.name, app_name=APP_NAME) for spec in specs}
    registry = Registry(specs, factory=lambda spec: RemotePredictor(spec, handles[spec.name]))
    return Deployment(registry, chosen)


def _run_with_timeout(app: Any, timeout: float) -> None:
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve.run(app, name=APP_NAME, route_prefix=None, blocking=False)
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="modelport-serve-run", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise DeployError(
            f"the deployments were not running after {timeout:g} s; `modelport deploy status` shows which "
            "replicas wait (for resources, or in a failing constructor)"
        )
    if failure:
        raise DeployError(f"the deployment failed: {failure[0]}") from failure[0]


def deployment_status() -> dict[str, dict[str, Any]]:
    """Each model deployment of the modelport application: its state, and how many replicas are in each state."""
    application = serve.status().applications.get(APP_NAME)
    if application is None:
        return {}
    return {
        name: {"status": _text(d.status), "replicas": {_text(k): v for k, v in d.replica_states.items()}}
        for name, d in application.deployments.items()
        if name != "directory"
    }


def _text(state: Any) -> str:
    # Ray's states are str enums in some versions and plain strings in others.
    return str(getattr(state, "value", state))
