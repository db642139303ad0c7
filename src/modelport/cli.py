"""The `modelport` command: `serve` models over HTTP, or list what `models` a target holds."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, get_origin

from pydantic import ValidationError

from modelport import __version__
from modelport.config import Settings, load_settings
from modelport.errors import SignatureError
from modelport.predictor import ModelSpec, SpeechSignature, TranscriptionSignature
from modelport.runtime import DuplicateModelError, Registry, TargetError, load_targets


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
        "--builtin",
        dest="builtins",
        action="append",
        metavar="NAME",
        help=f"{fields['builtins'].description} Repeatable.",
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

    listing = commands.add_parser("models", help="check and list the models a target holds, without serving")
    listing.add_argument("targets", nargs="*", metavar="TARGET", help=fields["targets"].description)
    listing.add_argument("--config", metavar="FILE", help="a TOML file of settings (also MODELPORT_CONFIG)")
    return parser


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One `--option` per scalar setting, named and documented after the Settings field."""
    for name, field in Settings.model_fields.items():
        if name in ("targets", "api_keys", "builtins", "allowed_hosts") or get_origin(field.annotation) in (dict, list):
            continue
        converters: dict[Any, Callable[[str], Any]] = {int: int, float: float}
        converter = converters.get(field.annotation, str)
        default = field.get_default(call_default_factory=True)
        shown = f" (default {default})" if default is not None else ""
        parser.add_argument(
            f"--{name.replace('_', '-')}", dest=name, type=converter, help=f"{field.description}{shown}"
        )


def _describe(spec: ModelSpec) -> str:
    detail = ""
    if isinstance(spec.signature, SpeechSignature):
        detail = f" voices={','.join(spec.signature.voices)} sample_rate={spec.signature.sample_rate}"
    elif isinstance(spec.signature, TranscriptionSignature):
        detail = f" sample_rate={spec.signature.sample_rate}"
    aliases = f" aliases={','.join(spec.aliases)}" if spec.aliases else ""
    return f"{spec.name}\t{spec.task.value}\t{spec.qualname}{aliases}{detail}"


def _registry(settings: Settings) -> Registry:
    if settings.targets:
        return Registry(load_targets(settings.targets))
    from modelport.builtin import builtin_specs

    specs = builtin_specs(settings)
    if not specs:
        raise TargetError(
            "nothing to serve: no built-in model is installed; pass a TARGET "
            "(a Python file, a folder, `module` or `module:attr`)"
        )
    return Registry(specs)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    if not overrides.get("targets"):
        overrides.pop("targets", None)
    try:
        settings = load_settings(args.config, **overrides)
        registry = _registry(settings)
    except (SignatureError, TargetError, DuplicateModelError, ValidationError, FileNotFoundError) as exc:
        print(f"modelport: error: {exc}", file=sys.stderr)
        return 2
    if args.command == "models":
        for predictor in registry:
            print(_describe(predictor.spec))
        return 0
    return _serve(registry, settings)


def _serve(registry: Registry, settings: Settings) -> int:
    import uvicorn

    from modelport.server import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    app = create_app(registry, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
