"""The `modelport` command: `serve` models over HTTP, or list what `models` a target holds."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

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
    serve.add_argument("--host", help=f"{fields['host'].description} (default {fields['host'].default})")
    serve.add_argument("--port", type=int, help=f"{fields['port'].description} (default {fields['port'].default})")
    serve.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY",
        help=f"{fields['api_keys'].description} Repeatable.",
    )
    serve.add_argument("--max-request-bytes", type=int, help=fields["max_request_bytes"].description)
    serve.add_argument("--log-level", help=fields["log_level"].description)
    serve.add_argument("--config", metavar="FILE", help="a TOML file of settings (also MODELPORT_CONFIG)")

    listing = commands.add_parser("models", help="check and list the models a target holds, without serving")
    listing.add_argument("targets", nargs="*", metavar="TARGET", help=fields["targets"].description)
    listing.add_argument("--config", metavar="FILE", help="a TOML file of settings (also MODELPORT_CONFIG)")
    return parser


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
