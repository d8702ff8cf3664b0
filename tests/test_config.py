"""Configuration: defaults describe the example center of the format samples; a TOML file overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, load_settings


def test_defaults_are_the_sample_center(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.center.inn == "6234000011"
    assert s.center.account == "40702810900000001234"
    assert s.db_url == f"sqlite:///{tmp_path}/var/unipay.db"


def test_toml_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "center.toml"
    cfg.write_text(
        'db_url = "sqlite:////x.db"\n[center]\ninn = "7700000000"\nname = "ЕИРЦ"\n'
        'account = "40702810000000000001"\ndue_day_from_2026_03 = 15\n',
        encoding="utf-8",
    )
    s = load_settings(cfg)
    assert (s.center.inn, s.center.name, s.db_url) == ("7700000000", "ЕИРЦ", "sqlite:////x.db")
    monkeypatch.setenv("UNIPAY_DB_URL", "postgresql://u@h/db")
    assert load_settings(cfg).db_url == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[center]\ncolour = "red"\n', "[center].colour"),
        ('[center]\naccount = "123"\n', "[center].account"),
        ('[center]\ndue_day_from_2026_03 = "15"\n', "[center].due_day_from_2026_03"),
        ("[center\n", "TOML"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, body: str, message: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert "bad.toml" in str(info.value) and message in str(info.value)
