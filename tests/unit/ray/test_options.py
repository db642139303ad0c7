"""deploy.toml and per-model deployment options: what reaches Ray Serve, and what is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from modelport.ray.options import (
    DEFAULT_NUM_CPUS,
    REPLICA_ENVIRONMENT,
    REQUEST_ROUTER,
    ROUTER_MAX_BACKOFF_SECONDS,
    DeployConfig,
    DeploymentOptions,
    deploy_config,
    load_deploy_config,
)


def test_defaults_fit_a_small_machine() -> None:
    options = DeploymentOptions().serve_options()
    assert options == {
        "ray_actor_options": {
            "num_cpus": DEFAULT_NUM_CPUS,
            "num_gpus": 0.0,
            "runtime_env": {"env_vars": REPLICA_ENVIRONMENT},
        },
        # 16 run in the replica, one more waits there for a free call.
        "max_ongoing_requests": 17,
        "max_queued_requests": -1,
        "request_router_config": {"request_router_class": REQUEST_ROUTER, "max_backoff_s": ROUTER_MAX_BACKOFF_SECONDS},
        "num_replicas": 1,
    }
    assert DEFAULT_NUM_CPUS < 1
    assert DeploymentOptions().ray_actor_options.needs() == {"CPU": DEFAULT_NUM_CPUS}


def test_config_file_defaults_and_per_model(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text(
        """
[defaults]
max_ongoing_requests = 8
num_replicas = 2
ray_actor_options = { num_cpus = 0.25 }

[models.echo]
num_replicas = 3
ray_actor_options = { num_gpus = 0.5, memory = 1_000_000, resources = { node-a = 1 } }

[models.embed.autoscaling]
min_replicas = 0
max_replicas = 4
target_ongoing_requests = 3
"""
    )
    config = load_deploy_config(path)
    echo = config.for_model("echo").serve_options()
    assert echo["num_replicas"] == 3
    assert echo["max_ongoing_requests"] == 8 + 1
    # A model's table is merged into the defaults' one, key by key.
    assert echo["ray_actor_options"] == {
        "num_cpus": 0.25,
        "num_gpus": 0.5,
        "memory": 1_000_000,
        "resources": {"node-a": 1.0},
        "runtime_env": {"env_vars": REPLICA_ENVIRONMENT},
    }
    assert config.for_model("echo").ray_actor_options.needs() == {
        "CPU": 0.25,
        "GPU": 0.5,
        "memory": 1_000_000.0,
        "node-a": 1.0,
    }
    embed = config.for_model("embed")
    # Autoscaling of its own overrides the defaults' replica count.
    assert "num_replicas" not in embed.serve_options()
    assert embed.serve_options()["autoscaling_config"]["max_replicas"] == 4
    assert embed.serve_options()["autoscaling_config"]["min_replicas"] == 0
    # Scaled to zero, nothing must be placed to start.
    assert embed.least_replicas == 0
    assert config.for_model("other").least_replicas == 2


def test_the_replica_queue_is_what_ray_sends_beyond_the_calls_that_run() -> None:
    assert DeploymentOptions(max_ongoing_requests=1, replica_queue=3).serve_options()["max_ongoing_requests"] == 4
    assert DeploymentOptions(max_ongoing_requests=2, replica_queue=0).serve_options()["max_ongoing_requests"] == 2


def test_a_runtime_env_of_ones_own_keeps_its_variables() -> None:
    runtime_env = {
        "working_dir": "/srv/app",
        "env_vars": {"HF_HOME": "/models", **dict.fromkeys(REPLICA_ENVIRONMENT, "1")},
    }
    options = DeploymentOptions.model_validate({"ray_actor_options": {"runtime_env": runtime_env}}).serve_options()
    # The user's value wins, even over modelport's own variables.
    assert options["ray_actor_options"]["runtime_env"] == runtime_env


def test_python_values_make_the_same_config() -> None:
    config = deploy_config(
        {"echo": {"num_replicas": 2}, "embed": DeploymentOptions(max_queued_requests=4)},
        defaults={"ray_actor_options": {"num_cpus": 0.5}},
    )
    assert config.for_model("echo").num_replicas == 2
    assert config.for_model("echo").ray_actor_options.num_cpus == 0.5
    assert config.for_model("embed").max_queued_requests == 4
    assert config.for_model("embed").ray_actor_options.num_cpus == 0.5
    with pytest.raises(ValueError, match="not deployed: embed"):
        config.check_names(["echo"])


@pytest.mark.parametrize(
    "fields",
    [
        {"num_replicas": 2, "autoscaling": {"max_replicas": 3}},
        {"autoscaling": {"min_replicas": 3, "max_replicas": 2}},
        {"autoscaling": {"min_replicas": 1, "max_replicas": 2, "initial_replicas": 3}},
        {"num_replicas": 0},
        {"replicas": 2},
        {"ray_actor_options": {"num_cpu": 1}},
        {"ray_actor_options": {"num_cpus": -1}},
        {"max_ongoing_requests": 0},
        {"replica_queue": -1},
    ],
)
def test_bad_options_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DeploymentOptions.model_validate(fields)


def test_a_bad_table_is_refused_when_the_file_is_read() -> None:
    with pytest.raises(ValidationError, match="num_cpu"):
        DeployConfig.model_validate({"models": {"echo": {"ray_actor_options": {"num_cpu": 1}}}})


def test_the_readme_example_is_a_valid_config(tmp_path: Path) -> None:
    readme = Path(__file__).resolve().parents[3] / "README.md"
    section = readme.read_text().split("## Scaling out on Ray Serve", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```toml\n(.*?)```", section, flags=re.DOTALL)
    path = tmp_path / "deploy.toml"
    path.write_text(block)
    config = load_deploy_config(path)
    assert config.for_model("echo").num_replicas == 2
    assert config.for_model("hash-embed").least_replicas == 0
    assert config.for_model("big-chat").ray_actor_options.needs() == {"CPU": 0.25, "GPU": 1.0, "gpu-box": 1.0}
