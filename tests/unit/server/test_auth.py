"""Key comparison (server.auth)."""

from modelport.server.auth import key_matches


def test_key_matches_any_configured_key_and_nothing_else() -> None:
    keys = ["first-key", "second-key"]
    assert key_matches("first-key", keys)
    assert key_matches("second-key", keys)
    assert not key_matches("first-ke", keys)
    assert not key_matches("first-key-and-more", keys)
    assert not key_matches("", keys)
    assert not key_matches("first-key", [])
