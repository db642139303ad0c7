"""Starting Ray (a local, loopback-only instance, or an existing cluster) and one Serve deployment per model.

This is where the runtime is chosen for `modelport deploy` and `App.deploy`: the registry the HTTP app
serves is built by the same code as for `modelport serve` (`catalog.build_registry`, or an App's models),
with a factory that makes a `RemotePredictor` instead of a `LocalPredictor` for each model. Nothing else in
the server changes; every model becomes a deployment of `ModelReplica`, which holds the `LocalPredictor`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import ray
from ray import serve

from modelport.app import App
from modelport.config import Settings
from modelport.predictor import ModelSpec
from modelport.ray.options import DeployConfig, DeploymentOptions
from modelport.ray.predictor import RemotePredictor
from modelport.ray.replica import ModelReplica, ModelSource
from modelport.runtime import PredictorFactory, Registry

logger = logging.getLogger(__name__)

APP_NAME = "modelport"
# A cold start on a loaded 2-core machine takes minutes, not the 16-20 s it takes on a quiet one.
DEFAULT_START_TIMEOUT = 600.0
DEFAULT_OBJECT_STORE_BYTES = 256 * 1024 * 1024
# Read by the Ray processes a local start spawns: no usage reports; the loopback address, not the host's;
# no token, since nothing listens beyond 127.0.0.1.
LOCAL_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
}
LOOPBACK = "127.0.0.1"


class DeployError(RuntimeError):
    """The models cannot be deployed as asked (say, their replicas need more CPUs than the cluster has)."""


def local_node_options(object_store_memory: int = DEFAULT_OBJECT_STORE_BYTES) -> dict[str, Any]:
    """What a local Ray node is started with (as `ray._private.parameter.RayParams` names it): loopback
    only, no dashboard, a bounded object store (Ray's default is 30% of the machine's memory), and the
    dashboard agent on a port the OS picks (Ray's default is the fixed 52365, which a second Ray on the
    machine would collide with)."""
    os.environ.update({key: os.environ.get(key, value) for key, value in LOCAL_ENVIRONMENT.items()})
    return {
        "node_ip_address": LOOPBACK,
        "include_dashboard": False,
        "object_store_memory": object_store_memory,
        "dashboard_agent_listen_port": 0,
    }


def start_ray(address: str | None = None, *, object_store_memory: int = DEFAULT_OBJECT_STORE_BYTES) -> None:
    """Connect to the cluster at `address`, or start a local Ray bound to 127.0.0.1 with usage stats off.

    Ray picks free ports for its own processes; Serve's HTTP proxy (port 8000 by default, as modelport's)
    is never started: modelport's own app is the HTTP server.
    """
    if ray.is_initialized():
        return
    if address is not None:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        return
    node = local_node_options(object_store_memory)
    _keep_loopback()
    _agent_port(node["dashboard_agent_listen_port"])
    ray.init(
        _node_ip_address=node["node_ip_address"],
        include_dashboard=node["include_dashboard"],
        object_store_memory=node["object_store_memory"],
        logging_level=logging.WARNING,
        log_to_driver=False,
    )


def _keep_loopback() -> None:
    """Make Ray keep 127.0.0.1 as the node's address even when it was imported before `modelport.ray` set
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (the constant Ray read then is what it consults when it resolves
    a loopback address)."""
    from ray._private import ray_constants

    if getattr(ray_constants, "ENABLE_RAY_CLUSTER", False):
        ray_constants.ENABLE_RAY_CLUSTER = False


def _agent_port(port: int) -> None:
    """Start local nodes' dashboard agents on `port`: `ray.init` has no argument for it, and the parameters
    it builds for the node default to 52365."""
    from ray._private import parameter

    init = parameter.RayParams.__init__
    if getattr(init, "modelport_port", None) == port:
        return
    original = getattr(init, "modelport_original", init)

    def with_port(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("dashboard_agent_listen_port", port)
        original(self, *args, **kwargs)

    with_port.modelport_port = port  # type: ignore[attr-defined]
    with_port.modelport_original = original  # type: ignore[attr-defined]
    setattr(parameter.RayParams, "__init__", with_port)  # noqa: B010 (mypy refuses assigning to a method)


def remote_factory(app_name: str = APP_NAME) -> PredictorFactory:
    """Which runtime serves each model: its deployment in the Serve application `app_name`."""
    return partial(RemotePredictor, app_name=app_name)


@dataclass
class Deployment:
    """Models running on Ray Serve, and the registry of their remote predictors for modelport's own app."""

    registry: Registry
    settings: Settings
    app_name: str
    options: dict[str, DeploymentOptions]

    def status(self) -> dict[str, dict[str, Any]]:
        """Each model's deployment state and its replicas by state."""
        return deployment_status(self.app_name)

    def shutdown(self) -> None:
        """Delete the models' deployments (the Ray instance stays, as do other Serve applications)."""
        serve.delete(self.app_name)

    def serve(self, host: str | None = None, port: int | None = None) -> None:
        """Serve the OpenAI API in front of the deployments until interrupted, as `modelport deploy` does."""
        from modelport.cli import serve_http

        settings = self.settings
        if host is not None or port is not None:
            settings = settings.model_copy(update={"host": host or settings.host, "port": port or settings.port})
        serve_http(self.registry, settings)


def deploy_settings(
    settings: Settings,
    config: DeployConfig | None = None,
    *,
    app_name: str = APP_NAME,
    timeout: float = DEFAULT_START_TIMEOUT,
) -> Deployment:
    """Deploy what `modelport serve` would serve with `settings` (targets, built-ins, the models file,
    upstream servers); Ray must be started (`start_ray`)."""
    from modelport.catalog import build_registry

    check_settings(settings)
    registry = build_registry(settings, factory=remote_factory(app_name))
    return deploy(registry, ModelSource.of(settings), settings, config, app_name=app_name, timeout=timeout)


def deploy_app(
    app: App,
    config: DeployConfig | None = None,
    *,
    settings: Settings | None = None,
    app_name: str = APP_NAME,
    timeout: float = DEFAULT_START_TIMEOUT,
) -> Deployment:
    """Deploy the models of `app` (Ray pickles it to each replica); Ray must be started (`start_ray`)."""
    settings = settings or Settings()
    registry = Registry(app.specs, factory=remote_factory(app_name), load_timeout=settings.load_timeout)
    return deploy(registry, ModelSource.of(settings, app), settings, config, app_name=app_name, timeout=timeout)


def check_settings(settings: Settings) -> None:
    """Refuse what `modelport serve` can do and a deployment cannot."""
    if settings.model_dirs:
        raise DeployError(
            "model folders are searched on each request by name, which a deployment cannot do: "
            "list their models in a models file instead of --model-dir"
        )


def deploy(
    registry: Registry,
    source: ModelSource,
    settings: Settings,
    config: DeployConfig | None = None,
    *,
    app_name: str = APP_NAME,
    timeout: float = DEFAULT_START_TIMEOUT,
) -> Deployment:
    """Deploy each model of `registry` (whose factory is `remote_factory(app_name)`) as its own Serve
    deployment, its replicas built from `source`. Returns once every deployment runs; `DeployError` when
    the replicas cannot be placed, fail to start, or are not running after `timeout` seconds."""
    config = config or DeployConfig()
    specs = [predictor.spec for predictor in registry]
    if not specs:
        raise DeployError("nothing to deploy: no model was found")
    try:
        config.check_names([spec.name for spec in specs])
    except ValueError as exc:
        raise DeployError(str(exc)) from None
    chosen = {spec.name: config.for_model(spec.name) for spec in specs}
    check_placement(specs, chosen, redeploy=_app_exists(app_name))
    serve.start(proxy_location="Disabled")
    # Ray's annotations of `serve.deployment` miss the form that takes a class directly.
    body: Any = serve.deployment(ModelReplica)
    deployments = [body.options(name=spec.name, **chosen[spec.name].serve_options()) for spec in specs]
    slots = {spec.name: chosen[spec.name].max_ongoing_requests for spec in specs}
    others = {
        spec.name: d.bind(source, spec.name, slots[spec.name])
        for spec, d in zip(specs[1:], deployments[1:], strict=True)
    }
    root = deployments[0].bind(source, specs[0].name, slots[specs[0].name], **others)
    _run_with_timeout(root, app_name, timeout)
    return Deployment(registry, settings, app_name, chosen)


def _app_exists(app_name: str) -> bool:
    try:
        return app_name in serve.status().applications
    except Exception:  # Serve not started on this cluster yet
        return False


def check_placement(
    specs: Sequence[ModelSpec], options: Mapping[str, DeploymentOptions], *, redeploy: bool = False
) -> None:
    """Refuse replicas that no node can hold, or more than the cluster has room for: `serve.run` would
    wait for them forever. A redeploy is checked against the whole cluster (its old replicas make room)."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]  # type: ignore[no-untyped-call]
    room = ray.cluster_resources() if redeploy else ray.available_resources()  # type: ignore[no-untyped-call]
    demand: dict[str, float] = {}
    for spec in specs:
        chosen = options[spec.name]
        need = chosen.ray_actor_options.needs()
        if chosen.least_replicas and not any(all(node.get(k, 0.0) >= v for k, v in need.items()) for node in nodes):
            raise DeployError(
                f"no node of the Ray cluster can hold a replica of {spec.name}, which needs {_amounts(need)}; "
                f"its nodes have {'; '.join(_amounts(node) for node in nodes)}"
            )
        for resource, amount in need.items():
            demand[resource] = demand.get(resource, 0.0) + amount * chosen.least_replicas
    short = {resource: amount for resource, amount in demand.items() if amount > room.get(resource, 0.0) + 1e-9}
    if short:
        detail = ", ".join(
            f"{spec.name}: {chosen.least_replicas} x {_amounts(chosen.ray_actor_options.needs())}"
            for spec in specs
            for chosen in [options[spec.name]]
        )
        wanted = "; ".join(f"{k} {_amount(k, v)} (free: {_amount(k, room.get(k, 0.0))})" for k, v in short.items())
        raise DeployError(
            f"the replicas need more than the Ray cluster has free: {wanted} ({detail}); lower "
            "ray_actor_options.num_cpus (fractions are allowed) or the replica counts"
        )


def _amount(resource: str, value: float) -> str:
    return f"{value / 2**20:.0f} MiB" if resource.endswith("memory") else f"{value:g}"


def _amounts(resources: Mapping[str, float]) -> str:
    shown = {k: v for k, v in resources.items() if not k.startswith("node:") and k != "object_store_memory"}
    return ", ".join(f"{k} {_amount(k, v)}" for k, v in sorted(shown.items())) or "nothing"


def _run_with_timeout(app: Any, app_name: str, timeout: float) -> None:
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve.run(app, name=app_name, route_prefix=None, blocking=False)
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="modelport-serve-run", daemon=True)
    started = time.monotonic()
    worker.start()
    while worker.is_alive() and time.monotonic() - started < timeout:
        worker.join(2.0)
    if worker.is_alive():
        waiting = _waiting_messages(app_name)
        # Replicas left pending would take the resources they wait for as soon as they appear.
        serve.delete(app_name, _blocking=False)
        raise DeployError(
            f"the deployments were not running after {timeout:g} s and were deleted"
            + (f": {waiting}" if waiting else "")
        )
    if failure:
        raise DeployError(f"the deployment failed: {failure[0]}") from failure[0]


def _waiting_messages(app_name: str) -> str:
    application = serve.status().applications.get(app_name)
    if application is None:
        return ""
    return "; ".join(f"{name}: {d.message}" for name, d in application.deployments.items() if d.message)


def deployment_status(app_name: str = APP_NAME) -> dict[str, dict[str, Any]]:
    """Each model deployment of the application: its state, and how many replicas are in each state."""
    application = serve.status().applications.get(app_name)
    if application is None:
        return {}
    return {
        name: {"status": _text(d.status), "replicas": {_text(k): v for k, v in d.replica_states.items()}}
        for name, d in application.deployments.items()
    }


def _text(state: Any) -> str:
    # Ray's states are str enums in some versions and plain strings in others.
    return str(getattr(state, "value", state))
