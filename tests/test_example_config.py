"""The shipped example config is valid and equals the built-in defaults."""

from __future__ import annotations

from pathlib import Path

from hub.config import Center, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_loads_and_matches_defaults() -> None:
    s = load_settings(ROOT / "unipay.example.toml")
    assert s.center == Center()
