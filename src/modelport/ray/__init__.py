"""Scale-out on Ray Serve: each model a deployment with its own replicas, behind modelport's own app.

Only this package imports Ray; it needs the `ray` extra (`pip install 'modelport[ray]'`). `App.deploy` and
`modelport deploy` are the usual ways in; `start_ray` with `deploy_settings` or `deploy_app` are the steps.
"""

from __future__ import annotations

import os

# Read once, when Ray is imported: unset, Ray swaps 127.0.0.1 for the machine's network address wherever it
# meets it (the address of a local start, a loopback cluster's address), and a local Ray listens there.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

try:
    import ray as _ray  # noqa: F401
    from ray import serve as _serve  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "modelport's Ray Serve runtime needs Ray: install the `ray` extra (pip install 'modelport[ray]')"
    ) from exc

from modelport.ray.cluster import (
    APP_NAME,
    DeployError,
    Deployment,
    deploy,
    deploy_app,
    deploy_settings,
    deployment_status,
    local_node_options,
    remote_factory,
    start_ray,
)
from modelport.ray.options import (
    ActorOptions,
    Autoscaling,
    DeployConfig,
    DeploymentOptions,
    deploy_config,
    load_deploy_config,
)
from modelport.ray.predictor import RemotePredictor
from modelport.ray.replica import ModelSource

__all__ = [
    "APP_NAME",
    "ActorOptions",
    "Autoscaling",
    "DeployConfig",
    "DeployError",
    "Deployment",
    "DeploymentOptions",
    "ModelSource",
    "RemotePredictor",
    "deploy",
    "deploy_app",
    "deploy_config",
    "deploy_settings",
    "deployment_status",
    "load_deploy_config",
    "local_node_options",
    "remote_factory",
    "start_ray",
]
