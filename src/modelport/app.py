"""The `model` decorator and `App`, a named set of models that `modelport serve module:attr` can serve."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from modelport.predictor import ModelSpec, Task, build_spec

if TYPE_CHECKING:
    from modelport.config import Settings
    from modelport.ray import Deployment, DeploymentOptions

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

SPEC_ATTRIBUTE = "__modelport_spec__"


@overload
def model(target: F, /) -> F: ...


@overload
def model(
    name: str | None = None,
    *,
    task: Task | str | None = None,
    aliases: Sequence[str] = (),
    description: str | None = None,
) -> Callable[[T], T]: ...


def model(
    name: Any = None,
    *,
    task: Task | str | None = None,
    aliases: Sequence[str] = (),
    description: str | None = None,
) -> Any:
    """Declare a function or class as a model, served under `name` (default: its own name).

    The task is inferred from the type hints unless `task` is given; the signature is checked here, so a
    function that breaks the contract fails when its module is imported. The function is returned
    unchanged and stays callable and testable as plain Python.

        @model("echo")
        def echo(messages: list[Message]) -> Iterator[str]: ...
    """
    if callable(name) and not isinstance(name, str):
        return model()(name)

    def decorate(target: T) -> T:
        spec = build_spec(target, name=name, task=task, aliases=aliases, description=description)
        setattr(target, SPEC_ATTRIBUTE, spec)
        return target

    return decorate


def spec_of(target: Any) -> ModelSpec | None:
    """The spec the `model` decorator attached to `target`, if any."""
    spec = getattr(target, SPEC_ATTRIBUTE, None)
    # An instance of a decorated class carries its class's spec, which describes the class, not it.
    return spec if isinstance(spec, ModelSpec) and spec.target is target else None


class App:
    """A named set of models.

        app = App("demo", [echo, embed])

        @app.model("tones")
        def speak(...): ...

    Models may be functions decorated with `model`, or plain typed functions and classes, which are then
    registered under their own names.
    """

    def __init__(self, name: str = "modelport", models: Iterable[Any] = ()) -> None:
        self.name = name
        self._specs: list[ModelSpec] = []
        for target in models:
            self.add(target)

    def add(
        self,
        target: Any,
        *,
        name: str | None = None,
        task: Task | str | None = None,
        aliases: Sequence[str] = (),
        description: str | None = None,
    ) -> ModelSpec:
        """Add a model; keyword arguments override what a `model` decorator said."""
        spec = spec_of(target)
        if spec is None or name or task or aliases or description is not None:
            spec = build_spec(
                target,
                name=name or (spec.name if spec else None),
                task=task or (spec.task if spec else None),
                aliases=aliases or (spec.aliases if spec else ()),
                description=description if description is not None else (spec.description if spec else None),
            )
        self._specs.append(spec)
        return spec

    @overload
    def model(self, target: F, /) -> F: ...

    @overload
    def model(
        self,
        name: str | None = None,
        *,
        task: Task | str | None = None,
        aliases: Sequence[str] = (),
        description: str | None = None,
    ) -> Callable[[T], T]: ...

    def model(
        self,
        name: Any = None,
        *,
        task: Task | str | None = None,
        aliases: Sequence[str] = (),
        description: str | None = None,
    ) -> Any:
        """Like the `model` decorator (bare or called), and adds the model to this app."""
        if callable(name) and not isinstance(name, str):
            return self.model()(name)

        def decorate(target: T) -> T:
            decorated = model(name, task=task, aliases=aliases, description=description)(target)
            self.add(decorated)
            return decorated

        return decorate

    @property
    def specs(self) -> tuple[ModelSpec, ...]:
        return tuple(self._specs)

    def deploy(
        self,
        models: Mapping[str, DeploymentOptions | Mapping[str, Any]] | None = None,
        *,
        defaults: DeploymentOptions | Mapping[str, Any] | None = None,
        ray_address: str | None = None,
        settings: Settings | None = None,
        name: str | None = None,
        timeout: float = 600.0,
    ) -> Deployment:
        """Run each model of the app as its own Ray Serve deployment; returns once every one is running.

        `models` maps a model name to its options, over `defaults` for every model; both take the fields
        of a `deploy.toml` table (`num_replicas` or `autoscaling`, `ray_actor_options`, `max_ongoing_requests`,
        `max_queued_requests`), as a dict or a `modelport.ray.DeploymentOptions`. Without `ray_address`
        a local Ray starts on 127.0.0.1. The result's `serve(host, port)` answers the OpenAI API in front
        of the deployments, as `modelport deploy` does; `status()` and `shutdown()` manage them.

            app.deploy({"echo": {"num_replicas": 2}}).serve(port=8000)

        Needs the `ray` extra; raises `modelport.ray.DeployError` for replicas that cannot be placed.
        """
        from modelport.ray import DeployError, deploy_app, deploy_config, start_ray

        # Options are checked before Ray starts: a typo fails at once.
        config = deploy_config(models, defaults)
        try:
            config.check_names([spec.name for spec in self._specs])
        except ValueError as exc:
            raise DeployError(str(exc)) from None
        start_ray(ray_address)
        return deploy_app(self, config, settings=settings, app_name=name or self.name, timeout=timeout)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"App({self.name!r}, models={[s.name for s in self._specs]})"
