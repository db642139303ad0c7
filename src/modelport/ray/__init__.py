"""Scale-out on Ray Serve: each model a deployment with its own replicas, behind modelport's own app.

Only this package imports Ray; it needs the `ray` extra (`pip install 'modelport[ray]'`).
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401
    from ray import serve as _serve  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "modelport's Ray Serve runtime needs Ray: install the `ray` extra (pip install 'modelport[ray]')"
    ) from exc

from modelport.ray.cluster import DeployError, Deployment, deploy, deployment_status, start_ray
from modelport.ray.options import Autoscaling, DeployConfig, DeploymentOptions, load_deploy_config
from modelport.ray.predictor import RemotePredictor

__all__ = [
    "Autoscaling",
    "DeployConfig",
    "DeployError",
    "Deployment",
    "DeploymentOptions",
    "RemotePredictor",
    "deploy",
    "deployment_status",
    "load_deploy_config",
    "start_ray",
]
