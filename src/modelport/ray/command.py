"""`modelport deploy`: the models on Ray Serve, modelport's own app in front of them on --host and --port."""

from __future__ import annotations

import json
import logging
import sys

from ray import serve

from modelport.config import Settings
from modelport.ray.cluster import APP_NAME, DeployError, deploy, deployment_status, start_ray
from modelport.ray.options import load_deploy_config
from modelport.runtime import Registry


def run_deploy(
    registry: Registry,
    settings: Settings,
    *,
    ray_address: str | None,
    deploy_config: str | None,
    deploy_timeout: float | None,
) -> int:
    """Deploy the registry's models and serve them until interrupted; 2 for a deployment that cannot run."""
    import uvicorn
    from pydantic import ValidationError

    from modelport.server import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    try:
        config = load_deploy_config(deploy_config)
        options = {predictor.name: config.for_model(predictor.name) for predictor in registry}
        unknown = sorted(set(config.models) - set(options))
        if unknown:
            raise DeployError(f"{deploy_config} configures models that are not deployed: {', '.join(unknown)}")
    except (ValidationError, DeployError, OSError, ValueError) as exc:
        print(f"modelport: error: {exc}", file=sys.stderr)
        return 2
    start_ray(ray_address)
    try:
        deployment = deploy(settings.targets, options, settings=settings, timeout=deploy_timeout or 600.0)
    except DeployError as exc:
        print(f"modelport: error: {exc}", file=sys.stderr)
        return 2
    app = create_app(deployment.registry, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
    return 0


def manage(action: str, ray_address: str | None) -> int:
    """`deploy status` prints each deployment's state and replicas as JSON; `deploy shutdown` deletes them."""
    start_ray(ray_address or "auto")
    if action == "status":
        print(json.dumps(deployment_status(), indent=2))
    else:
        serve.delete(APP_NAME)
        print(f"deleted the Serve application {APP_NAME!r}")
    return 0
