"""deploy.toml and per-model deployment options: what reaches Ray Serve, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from modelport.ray.options import DEFAULT_NUM_CPUS, DeploymentOptions, load_deploy_config


def test_defaults_fit_a_small_machine() -> None:
    options = DeploymentOptions().serve_options()
    assert options == {
        "ray_actor_options": {"num_cpus": DEFAULT_NUM_CPUS},
        "max_ongoing_requests": 5,
        "max_queued_requests": -1,
        "num_replicas": 1,
    }
    assert DEFAULT_NUM_CPUS < 1


def test_config_file_defaults_and_per_model(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text(
        """
[defaults]
max_ongoing_requests = 8
ray_actor_options = { num_cpus = 0.25 }

[models.echo]
num_replicas = 3

[models.embed.autoscaling]
min_replicas = 0
max_replicas = 4
target_ongoing_requests = 3
"""
    )
    config = load_deploy_config(path)
    echo = config.for_model("echo").serve_options()
    assert echo["num_replicas"] == 3
    assert echo["max_ongoing_requests"] == 8
    assert echo["ray_actor_options"] == {"num_cpus": 0.25}
    embed = config.for_model("embed")
    assert "num_replicas" not in embed.serve_options()
    assert embed.serve_options()["autoscaling_config"]["max_replicas"] == 4
    # Scaled to zero, nothing must be placed to start.
    assert embed.least_replicas == 0
    assert config.for_model("other").least_replicas == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"num_replicas": 2, "autoscaling": {"max_replicas": 3}},
        {"autoscaling": {"min_replicas": 3, "max_replicas": 2}},
        {"num_replicas": 0},
        {"replicas": 2},
    ],
)
def test_bad_options_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DeploymentOptions.model_validate(fields)
