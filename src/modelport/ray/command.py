"""`modelport deploy`: the models on Ray Serve, modelport's own app in front of them on --host and --port;
`modelport deploy status` and `modelport deploy shutdown` for a deployment on a running cluster."""

from __future__ import annotations

import json
import sys

import ray
from ray import serve

from modelport.config import Settings
from modelport.ray.cluster import APP_NAME, DeployError, deploy, deployment_status, start_ray
from modelport.ray.options import DeployConfig
from modelport.ray.replica import ModelSource
from modelport.runtime import Registry


def run_deploy(
    registry: Registry,
    settings: Settings,
    config: DeployConfig,
    *,
    ray_address: str | None,
    deploy_timeout: float,
    app_name: str = APP_NAME,
) -> int:
    """Deploy the registry's models and serve them until interrupted; 2 for a deployment that cannot run.

    A local Ray (no `ray_address`) ends with this process; on a cluster the deployments stay until
    `modelport deploy shutdown`.
    """
    from modelport.cli import serve_http

    try:
        config.check_names([predictor.name for predictor in registry])
    except ValueError as exc:
        print(f"modelport: error: {exc}", file=sys.stderr)
        return 2
    start_ray(ray_address)
    address = ray.get_runtime_context().gcs_address
    print(
        f"modelport: Ray at {address}; `modelport deploy status --ray-address {address}` shows the replicas",
        file=sys.stderr,
    )
    try:
        try:
            deploy(registry, ModelSource.of(settings), settings, config, app_name=app_name, timeout=deploy_timeout)
        except DeployError as exc:
            print(f"modelport: error: {exc}", file=sys.stderr)
            return 2
        serve_http(registry, settings)
    finally:
        if ray_address is None:
            serve.shutdown()  # type: ignore[no-untyped-call]
            ray.shutdown()
    return 0


def manage(action: str, ray_address: str | None, app_name: str = APP_NAME) -> int:
    """`status` prints each deployment's state and replicas as JSON; `shutdown` deletes the deployments."""
    start_ray(ray_address or "auto")
    if action == "status":
        status = deployment_status(app_name)
        print(json.dumps(status, indent=2))
        return 0 if status else 1
    if app_name not in serve.status().applications:
        print(f"modelport: error: no Serve application {app_name!r} on this cluster", file=sys.stderr)
        return 1
    serve.delete(app_name)
    print(f"deleted the Serve application {app_name!r} and its deployments")
    return 0
