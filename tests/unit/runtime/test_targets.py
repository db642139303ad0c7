"""Turning serve targets into model specs (modelport.runtime.targets)."""

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest

from modelport import App, Parameter, SignatureError, model
from modelport.predictor import ModelSpec, build_spec
from modelport.runtime import TargetError, load_targets, specs_from
from modelport.runtime.targets import load_target

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
EXAMPLE_MODELS = {"echo", "shout", "hash-embed", "audio-length", "tones", "patterns"}

HEADER = """\
from collections.abc import Iterator
from typing import Annotated

import numpy as np

from modelport import App, Message, Parameter, model

"""

MODELS = (
    HEADER
    + """\
@model("alpha")
def alpha(messages: list[Message]) -> Iterator[str]:
    yield "a"


@model("beta", aliases=["b"])
def beta(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    return np.ones((len(texts), 2), dtype=np.float32)


def helper(messages: list[Message]) -> Iterator[str]:
    yield "not served: not decorated"


def gamma(messages: list[Message]) -> Iterator[str]:
    yield "g"


app = App("demo", [beta, gamma])
pair = [alpha, beta]
not_a_model = 42
"""
)

ONLY_DECORATED = (
    HEADER
    + """\
@model("alpha")
def alpha(messages: list[Message]) -> Iterator[str]:
    yield "a"


def helper(messages: list[Message]) -> Iterator[str]:
    yield "not served: not decorated"
"""
)


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Undo what loading targets does to sys.path and sys.modules."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        location = getattr(module, "__file__", None) or ""
        if name.startswith("modelport_target_") or location.startswith(str(tmp_path)):
            del sys.modules[name]


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return path


@pytest.fixture
def importable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A folder on sys.path, for `module` and `module:attr` targets."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def names(specs: list[ModelSpec]) -> list[str]:
    return [spec.name for spec in specs]


# Files and folders


def test_file(tmp_path: Path) -> None:
    path = write(tmp_path, "chat.py", ONLY_DECORATED)
    specs = load_target(str(path))
    assert names(specs) == ["alpha"]
    assert specs[0].qualname == "alpha"


def test_file_with_an_app_serves_only_the_app(tmp_path: Path) -> None:
    path = write(tmp_path, "models.py", MODELS)
    assert names(load_target(str(path))) == ["beta", "gamma"]


def test_files_of_the_same_name_in_two_folders(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = write(tmp_path / "one", "models.py", ONLY_DECORATED)
    second = write(tmp_path / "two", "models.py", ONLY_DECORATED.replace('"alpha"', '"omega"'))
    assert names(load_targets([str(first), str(second)])) == ["alpha", "omega"]


def test_file_can_import_its_neighbours(tmp_path: Path) -> None:
    write(tmp_path, "mp_neighbour_helpers.py", "GREETING = 'hi'\n")
    path = write(
        tmp_path,
        "served.py",
        HEADER
        + """\
from mp_neighbour_helpers import GREETING


@model
def greet(messages: list[Message]) -> Iterator[str]:
    yield GREETING
""",
    )
    assert names(load_target(str(path))) == ["greet"]


def test_folder_of_examples() -> None:
    specs = load_target(str(EXAMPLES))
    assert set(names(specs)) == EXAMPLE_MODELS
    assert len(specs) == len(EXAMPLE_MODELS)


def test_folder_skips_private_files(tmp_path: Path) -> None:
    write(tmp_path, "chat.py", ONLY_DECORATED)
    write(tmp_path, "_private.py", "raise RuntimeError('must not be imported')\n")
    assert names(load_target(str(tmp_path))) == ["alpha"]


def test_folder_without_python_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no models here")
    with pytest.raises(TargetError, match=r"holds no Python files"):
        load_target(str(tmp_path))


def test_load_targets_in_order() -> None:
    specs = load_targets([str(EXAMPLES / "tone_speech.py"), str(EXAMPLES / "echo_chat.py")])
    assert names(specs) == ["tones", "echo", "shout"]


def test_load_targets_serves_each_model_once() -> None:
    specs = load_targets([str(EXAMPLES), str(EXAMPLES / "echo_chat.py")])
    assert sorted(names(specs)) == sorted(EXAMPLE_MODELS)


# Modules


def test_module(importable: Path) -> None:
    write(importable, "mp_only_decorated.py", ONLY_DECORATED)
    assert names(load_target("mp_only_decorated")) == ["alpha"]


def test_module_with_an_app_serves_only_the_app(importable: Path) -> None:
    write(importable, "mp_models.py", MODELS)
    assert names(load_target("mp_models")) == ["beta", "gamma"]


def test_module_attr_app(importable: Path) -> None:
    write(importable, "mp_models.py", MODELS)
    specs = load_target("mp_models:app")
    assert names(specs) == ["beta", "gamma"]
    assert specs[0].aliases == ("b",)


def test_module_attr_single_model(importable: Path) -> None:
    write(importable, "mp_models.py", MODELS)
    assert names(load_target("mp_models:alpha")) == ["alpha"]


def test_module_attr_list(importable: Path) -> None:
    write(importable, "mp_models.py", MODELS)
    assert names(load_target("mp_models:pair")) == ["alpha", "beta"]


def test_module_attr_in_a_package(importable: Path) -> None:
    package = importable / "mp_package"
    package.mkdir()
    write(package, "__init__.py", "")
    write(package, "models.py", MODELS)
    assert names(load_target("mp_package.models:app")) == ["beta", "gamma"]


# Errors


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    with pytest.raises(TargetError, match=r"no such file: .*nope\.py"):
        load_target(str(missing))


def test_file_with_an_import_error(tmp_path: Path) -> None:
    path = write(tmp_path, "broken_import.py", "import mp_missing_dependency_xyz\n")
    with pytest.raises(TargetError, match="mp_missing_dependency_xyz") as excinfo:
        load_target(str(path))
    assert "broken_import.py" in str(excinfo.value)


def test_missing_module() -> None:
    with pytest.raises(TargetError, match=r"cannot import 'mp_no_such_module_xyz'"):
        load_target("mp_no_such_module_xyz")


def test_module_with_an_import_error(importable: Path) -> None:
    write(importable, "mp_broken_import.py", "import mp_missing_dependency_xyz\n")
    with pytest.raises(TargetError, match=r"cannot import 'mp_broken_import'.*mp_missing_dependency_xyz"):
        load_target("mp_broken_import:app")


def test_missing_attr(importable: Path) -> None:
    write(importable, "mp_models.py", MODELS)
    with pytest.raises(TargetError, match=r"'mp_models' has no attribute 'missing'"):
        load_target("mp_models:missing")


def test_attr_that_is_not_a_model(importable: Path) -> None:
    write(importable, "mp_models.py", MODELS)
    with pytest.raises(TargetError, match=r"mp_models:not_a_model is not a model, an App or a list of models"):
        load_target("mp_models:not_a_model")


def test_file_without_models(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.py", "def add(a: int, b: int) -> int:\n    return a + b\n")
    with pytest.raises(TargetError, match=r"plain\.py defines no models: decorate a function"):
        load_target(str(path))


def test_module_without_models(importable: Path) -> None:
    write(importable, "mp_plain.py", "VALUE = 1\n")
    with pytest.raises(TargetError, match=r"mp_plain defines no models"):
        load_target("mp_plain")


def test_signature_errors_pass_through(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad_signature.py",
        HEADER
        + """\
@model
def bad(messages: list[Message], temperature: float) -> Iterator[str]:
    yield ""
""",
    )
    with pytest.raises(SignatureError, match=r"bad, parameter 'temperature'"):
        load_target(str(path))


def test_target_error_is_a_value_error() -> None:
    assert issubclass(TargetError, ValueError)


# specs_from


def test_specs_from() -> None:
    def embed(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
        return np.ones((len(texts), 2), dtype=np.float32)

    spec = build_spec(embed)
    app = App("x")
    app.add(embed, name="other")
    decorated = model("decorated")(embed)
    assert specs_from(spec) == [spec]
    assert names(specs_from(app)) == ["other"]
    assert names(specs_from(decorated)) == ["decorated"]
    assert names(specs_from([spec, app, (spec,)])) == ["embed", "other", "embed"]
    assert specs_from(42) == []
    assert specs_from(build_spec) == []
