"""The package's public API is exactly its `__all__`."""

from __future__ import annotations

import modelport


def test_all_names_exist_and_are_public() -> None:
    for name in modelport.__all__:
        assert hasattr(modelport, name), name
    assert sorted(modelport.__all__) == modelport.__all__


def test_public_names_are_all_listed() -> None:
    public = {name for name in vars(modelport) if not name.startswith("_")}
    # Subpackages appear as attributes once imported; they are reached by their own paths.
    modules = {name for name in public if type(getattr(modelport, name)).__name__ == "module"}
    assert public - modules == set(modelport.__all__) - {"__version__"}
