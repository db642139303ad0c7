"""The `modelport` command: `serve` models over HTTP, `deploy` them on Ray Serve, or list a target's `models`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, get_origin

from modelport import __version__
from modelport.catalog import build_registry
from modelport.config import Settings, load_settings
from modelport.errors import SignatureError
from modelport.predictor import ImageSignature, ModelSpec, SpeechSignature, TranscriptionSignature
from modelport.runtime import Registry


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelport", description="Serve AI models through the OpenAI API.")
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    fields = Settings.model_fields
    serve = commands.add_parser("serve", help="serve models over HTTP")
    serve.add_argument("targets", nargs="*", metavar="TARGET", help=fields["targets"].description)
    serve.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY",
        help=f"{fields['api_keys'].description} Repeatable.",
    )
    serve.add_argument(
        "--admin-key",
        dest="admin_keys",
        action="append",
        metavar="KEY",
        help=f"{fields['admin_keys'].description} Repeatable.",
    )
    serve.add_argument(
        "--model-dir",
        dest="model_dirs",
        action="append",
        metavar="DIR",
        help=f"{fields['model_dirs'].description} Repeatable.",
    )
    serve.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        metavar="ORIGIN",
        help=f"{fields['cors_origins'].description} Repeatable.",
    )
    serve.add_argument(
        "--builtin",
        dest="builtins",
        action="append",
        metavar="NAME",
        help=f"{fields['builtins'].description} Repeatable.",
    )
    serve.add_argument(
        "--image-model",
        dest="image_models",
        action="append",
        metavar="[NAME=]PATH",
        help=f"{fields['image_models'].description} Repeatable.",
    )
    serve.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        metavar="HOST",
        help=f"{fields['allowed_hosts'].description} Repeatable.",
    )
    _add_setting_options(serve)
    serve.add_argument("--config", metavar="FILE", help="a TOML file of settings (also MODELPORT_CONFIG)")

    deploy = commands.add_parser(
        "deploy",
        help="serve models over HTTP, each a Ray Serve deployment (`deploy status`, `deploy shutdown` manage it)",
        description="Deploy each model on Ray Serve (a local Ray bound to 127.0.0.1, or --ray-address) and serve "
        "them through the same OpenAI API as `modelport serve`, on --host and --port. `modelport deploy status` "
        "lists the deployments and their replicas; `modelport deploy shutdown` deletes them (both with "
        "--ray-address, default `auto`: the running cluster). Needs the `ray` extra.",
    )
    deploy.add_argument(
        "targets", nargs="*", metavar="TARGET", help=f"{fields['targets'].description} Or `status`, `shutdown`."
    )
    deploy.add_argument(
        "--config",
        dest="deploy_config",
        metavar="FILE",
        help="a deploy.toml: [defaults] for every model and [models.NAME] for one, with num_replicas or "
        "[models.NAME.autoscaling] (min_replicas, max_replicas, target_ongoing_requests, upscale_delay_s, "
        "downscale_delay_s), ray_actor_options (num_cpus, fractions allowed; num_gpus; memory), "
        "max_ongoing_requests and max_queued_requests (default: 1 replica of 0.1 CPU, 16 requests at once)",
    )
    deploy.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="an existing Ray cluster (say, auto or 10.0.0.5:6379); default: start a local Ray on 127.0.0.1",
    )
    deploy.add_argument(
        "--deploy-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long the replicas may take to start before the deployment is deleted (default 600)",
    )
    deploy.add_argument(
        "--app-name",
        default="modelport",
        metavar="NAME",
        help="the Serve application that holds the deployments, one per model (default modelport)",
    )
    deploy.add_argument(
        "--builtin",
        dest="builtins",
        action="append",
        metavar="NAME",
        help=f"{fields['builtins'].description} Repeatable.",
    )
    deploy.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY",
        help=f"{fields['api_keys'].description} Repeatable.",
    )
    _add_setting_options(deploy)
    deploy.add_argument("--settings", dest="config", metavar="FILE", help="a TOML file of `modelport serve` settings")

    listing = commands.add_parser("models", help="check and list the models a target holds, without serving")
    listing.add_argument("targets", nargs="*", metavar="TARGET", help=fields["targets"].description)
    listing.add_argument(
        "--image-model", dest="image_models", action="append", metavar="[NAME=]PATH", help="as for serve"
    )
    listing.add_argument("--config", metavar="FILE", help="a TOML file of settings (also MODELPORT_CONFIG)")
    listing.add_argument("--models-file", metavar="FILE", help=fields["models_file"].description)
    return parser


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One `--option` per scalar setting, named and documented after the Settings field."""
    for name, field in Settings.model_fields.items():
        # Lists and tables have options of their own above (repeatable) or come from files and the environment.
        if get_origin(field.annotation) in (dict, list):
            continue
        default = field.get_default(call_default_factory=True)
        shown = f" (default {default})" if default is not None else ""
        option = f"--{name.replace('_', '-')}"
        if field.annotation is bool:
            # `--x` and `--no-x`; unset leaves the setting to the environment and the config file.
            action = argparse.BooleanOptionalAction
            parser.add_argument(option, dest=name, action=action, default=None, help=f"{field.description}{shown}")
            continue
        converters: dict[Any, Callable[[str], Any]] = {int: int, float: float}
        converter = converters.get(field.annotation, str)
        parser.add_argument(option, dest=name, type=converter, help=f"{field.description}{shown}")


def _image_routes(signature: ImageSignature) -> list[tuple[str, bool]]:
    return [("generations", signature.generates), ("edits", signature.edits), ("variations", signature.varies)]


def _describe(spec: ModelSpec) -> str:
    detail = ""
    if isinstance(spec.signature, SpeechSignature):
        detail = f" voices={','.join(spec.signature.voices)} sample_rate={spec.signature.sample_rate}"
    elif isinstance(spec.signature, TranscriptionSignature):
        detail = f" sample_rate={spec.signature.sample_rate}"
    elif isinstance(spec.signature, ImageSignature):
        served = [name for name, yes in _image_routes(spec.signature) if yes]
        detail = f" serves={','.join(served)}"
    aliases = f" aliases={','.join(spec.aliases)}" if spec.aliases else ""
    return f"{spec.name}\t{spec.task.value}\t{spec.qualname}{aliases}{detail}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    deploying = {
        key: vars(args).pop(key, None) for key in ("ray_address", "deploy_config", "deploy_timeout", "app_name")
    }
    if args.command == "deploy" and args.targets and args.targets[0] in ("status", "shutdown"):
        from modelport.ray.command import manage

        return manage(args.targets[0], deploying["ray_address"], deploying["app_name"])
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    if not overrides.get("targets"):
        overrides.pop("targets", None)
    try:
        settings = load_settings(args.config, **overrides)
        if args.command == "deploy":
            return _deploy(settings, **deploying)
        registry = build_registry(settings)
    # ValueError covers pydantic's ValidationError, and an upstream that cannot list its models or whose key
    # variable is unset.
    except (SignatureError, ValueError, FileNotFoundError, ImportError) as exc:
        print(f"modelport: error: {exc}", file=sys.stderr)
        return 2
    if args.command == "models":
        for predictor in registry:
            print(_describe(predictor.spec))
        return 0
    return serve_http(registry, settings)


def _deploy(
    settings: Settings, ray_address: str | None, deploy_config: str | None, deploy_timeout: float, app_name: str
) -> int:
    """`modelport deploy`: everything that can be wrong with the settings and the config is found before Ray
    starts (a bad config raises the errors `main` reports)."""
    from modelport.ray import DeployError, load_deploy_config, remote_factory
    from modelport.ray.cluster import check_settings
    from modelport.ray.command import run_deploy

    config = load_deploy_config(deploy_config)
    try:
        check_settings(settings)
    except DeployError as exc:
        raise ValueError(str(exc)) from None
    registry = build_registry(settings, factory=remote_factory(app_name))
    return run_deploy(
        registry, settings, config, ray_address=ray_address, deploy_timeout=deploy_timeout, app_name=app_name
    )


def serve_http(registry: Registry, settings: Settings) -> int:
    """Serve `registry` over HTTP on the settings' host and port until SIGTERM or SIGINT."""
    import uvicorn

    from modelport.logs import configure_logging
    from modelport.server import create_app
    from modelport.server.collector import freeze_after_start_up
    from modelport.server.shutdown import GracefulServer

    configure_logging(settings.log_level, settings.log_format)
    app = create_app(registry, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
        # modelport writes its own access log, with the model and the request id.
        access_log=False,
        # The stack the tests run, named rather than left to what happens to be installed: uvloop and
        # httptools (core dependencies) halve the server's CPU per small request against asyncio and h11.
        loop="asyncio" if sys.platform == "win32" else "uvloop",
        http="httptools",
    )
    GracefulServer(config, app.state.drain, started=lambda: freeze_after_start_up(registry)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
