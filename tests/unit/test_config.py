"""Settings from arguments, MODELPORT_* variables and a TOML file (modelport.config)."""

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from modelport.config import DEFAULT_MAX_REQUEST_BYTES, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MODELPORT_* variable from the outer environment, and no stray file in the working directory."""
    for name in list(os.environ):
        if name.upper().startswith("MODELPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "modelport.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.targets == []
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.api_keys == []
    assert settings.max_request_bytes == DEFAULT_MAX_REQUEST_BYTES == 25 * 1024 * 1024
    assert settings.log_level == "info"
    assert settings.playground is True


def test_every_field_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no docstring"


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_HOST", "0.0.0.0")
    monkeypatch.setenv("MODELPORT_PORT", "9001")
    monkeypatch.setenv("MODELPORT_API_KEYS", "a,b")
    monkeypatch.setenv("MODELPORT_TARGETS", "examples/,pkg.models:app")
    monkeypatch.setenv("MODELPORT_MAX_REQUEST_BYTES", "1024")
    monkeypatch.setenv("MODELPORT_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.host == "0.0.0.0"
    assert settings.port == 9001
    assert settings.api_keys == ["a", "b"]
    assert settings.targets == ["examples/", "pkg.models:app"]
    assert settings.max_request_bytes == 1024
    assert settings.log_level == "debug"


def test_environment_lists_ignore_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_API_KEYS", " a , b ,, ")
    monkeypatch.setenv("MODELPORT_TARGETS", "")
    settings = load_settings()
    assert settings.api_keys == ["a", "b"]
    assert settings.targets == []


def test_environment_lower_case_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("modelport_port", "9002")
    assert load_settings().port == 9002


@pytest.mark.parametrize(("name", "value"), [("MODELPORT_PORT", "eighty"), ("MODELPORT_PORT", "70000")])
def test_invalid_environment(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="port"):
        load_settings()


def test_explicit_values() -> None:
    settings = load_settings(host="0.0.0.0", port=0, api_keys=["k"], targets=["a.py"])
    assert (settings.host, settings.port, settings.api_keys, settings.targets) == ("0.0.0.0", 0, ["k"], ["a.py"])


def test_explicit_none_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_PORT", "9001")
    settings = load_settings(port=None, host=None)
    assert settings.port == 9001
    assert settings.host == "127.0.0.1"


def test_config_file(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
targets = ["examples/", "pkg.models:app"]
host = "0.0.0.0"
port = 9100
api_keys = ["k1", "k2"]
max_request_bytes = 2048
log_level = "warning"
""",
    )
    settings = load_settings(path)
    assert isinstance(settings, Settings)
    assert settings.targets == ["examples/", "pkg.models:app"]
    assert settings.host == "0.0.0.0"
    assert settings.port == 9100
    assert settings.api_keys == ["k1", "k2"]
    assert settings.max_request_bytes == 2048
    assert settings.log_level == "warning"


def test_config_file_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_config(tmp_path, "port = 9200\n")
    monkeypatch.setenv("MODELPORT_CONFIG", str(path))
    assert load_settings().port == 9200


def test_config_file_argument_beats_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = write_config(tmp_path, "port = 9300\n")
    other = tmp_path / "other.toml"
    other.write_text("port = 9400\n")
    monkeypatch.setenv("MODELPORT_CONFIG", str(other))
    assert load_settings(chosen).port == 9300


def test_config_file_comma_separated_strings(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'api_keys = "a, b"\ntargets = "x.py"\n')
    settings = load_settings(path)
    assert settings.api_keys == ["a", "b"]
    assert settings.targets == ["x.py"]


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config file not found: .*missing\.toml"):
        load_settings(tmp_path / "missing.toml")


def test_config_file_with_an_unknown_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, "prot = 9000\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(path)


def test_config_file_with_an_invalid_value(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'port = "eighty"\n')
    with pytest.raises(ValidationError, match="port"):
        load_settings(path)


def test_precedence_explicit_then_environment_then_file_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path,
        """
host = "file-host"
port = 1111
api_keys = ["file-key"]
log_level = "warning"
""",
    )
    monkeypatch.setenv("MODELPORT_PORT", "2222")
    monkeypatch.setenv("MODELPORT_API_KEYS", "env-key")
    settings = load_settings(path, api_keys=["cli-key"])
    assert settings.api_keys == ["cli-key"], "explicit beats environment and file"
    assert settings.port == 2222, "environment beats file"
    assert settings.host == "file-host", "file beats default"
    assert settings.log_level == "warning"
    assert settings.max_request_bytes == DEFAULT_MAX_REQUEST_BYTES, "default when nothing sets it"


@pytest.mark.parametrize(
    ("explicit", "environment", "in_file", "expected"),
    [
        (3333, "2222", True, 3333),
        (None, "2222", True, 2222),
        (None, None, True, 1111),
        (None, None, False, 8000),
        (3333, None, True, 3333),
        (None, "2222", False, 2222),
    ],
)
def test_precedence_of_one_field(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    explicit: int | None,
    environment: str | None,
    in_file: bool,
    expected: int,
) -> None:
    if environment is not None:
        monkeypatch.setenv("MODELPORT_PORT", environment)
    path = write_config(tmp_path, "port = 1111\n" if in_file else "")
    assert load_settings(path, port=explicit).port == expected


def test_upstreams_from_json_and_speaches_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelport.config import configured_upstreams

    monkeypatch.setenv("MODELPORT_UPSTREAMS", '[{"base_url": "http://gpu:8000/v1/", "prefix": "gpu/"}]')
    settings = load_settings()
    assert settings.upstreams[0].base_url == "http://gpu:8000/v1"
    assert settings.upstreams[0].local_name("llama") == "gpu/llama"
    environ = {
        "CHAT_COMPLETION_BASE_URL": "http://box/v1",
        "CHAT_COMPLETION_MODEL": "m",
        "CHAT_COMPLETION_API_KEY": "k",
    }
    upstreams = configured_upstreams(settings, environ)
    assert [(u.base_url, u.models, u.api_key_env) for u in upstreams[1:]] == [
        ("http://box/v1", ["m"], "CHAT_COMPLETION_API_KEY")
    ]
    assert upstreams[1].api_key(environ) == "k"
    assert configured_upstreams(settings, {}) == settings.upstreams


def test_upstream_table_in_toml(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        '[[upstreams]]\nbase_url = "http://ollama:11434/v1"\nmodels = ["llama3.1:8b"]\n'
        'names = {"llama3.1:8b" = "llama"}\ntimeout = 30\n',
    )
    upstream = load_settings(path).upstreams[0]
    assert (upstream.local_name("llama3.1:8b"), upstream.timeout) == ("llama", 30)
    with pytest.raises(ValidationError, match="http"):
        Settings(upstreams=[{"base_url": "ollama:11434"}])  # type: ignore[list-item]
