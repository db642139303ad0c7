"""`modelport.client` exports exactly its public API."""

from __future__ import annotations

import modelport.client


def test_all_is_the_public_namespace() -> None:
    public = {name for name in vars(modelport.client) if not name.startswith("_")}
    # Submodules are attributes of a package once imported; they are not part of __all__.
    modules = {name for name in public if type(getattr(modelport.client, name)).__name__ == "module"}
    assert set(modelport.client.__all__) == public - modules
    assert len(modelport.client.__all__) == len(set(modelport.client.__all__))


def test_every_export_has_a_docstring() -> None:
    for name in modelport.client.__all__:
        value = getattr(modelport.client, name)
        if callable(value):
            assert value.__doc__, name
