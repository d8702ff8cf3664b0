"""Users and roles: salted password hashes, the users file, sign-in with a provider's store id, the CLI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hub import auth


def test_hashes_are_salted_and_verified() -> None:
    a = auth.hash_password("секрет", iterations=1000)
    b = auth.hash_password("секрет", iterations=1000)
    assert a != b and a.startswith("pbkdf2_sha256$1000$")
    assert auth.verify_password("секрет", a) and auth.verify_password("секрет", b)
    assert not auth.verify_password("Секрет", a)
    assert not auth.verify_password("секрет", "plain-text")
    assert not auth.verify_password("x", "pbkdf2_sha256$zz$$")
    with pytest.raises(auth.AuthError):
        auth.hash_password("")


def test_cli_adds_lists_and_removes_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    path = tmp_path / "users.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("pw-1\n"))
    assert (
        auth.main(
            [
                "--file",
                str(path),
                "add-user",
                "vk",
                "--role",
                "provider",
                "--provider-inn",
                "6227000292",
                "--name",
                "Водоканал",
                "--password-stdin",
            ]
        )
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("pw-2\n"))
    assert (
        auth.main(["--file", str(path), "add-user", "boss", "--role", "management", "--password-stdin"]) == 0
    )
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    users = auth.load_users(path)
    assert users["vk"]["role"] == "provider" and users["vk"]["provider_inn"] == "6227000292"
    assert auth.verify_password("pw-1", users["vk"]["password"]) and "pw-1" not in path.read_text()
    capsys.readouterr()
    assert auth.main(["--file", str(path), "list-users"]) == 0
    assert "vk\tprovider ИНН 6227000292" in capsys.readouterr().out
    # a provider needs its ИНН; unknown roles are refused by argparse
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert auth.main(["--file", str(path), "add-user", "x", "--role", "provider", "--password-stdin"]) == 2
    with pytest.raises(SystemExit):
        auth.main(["--file", str(path), "add-user", "x", "--role", "admin", "--password-stdin"])
    assert auth.main(["--file", str(path), "remove-user", "vk"]) == 0
    assert set(auth.load_users(path)) == {"boss"}


def test_users_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text('[users.a]\nrole = "admin"\npassword = "x"\n', encoding="utf-8")
    with pytest.raises(auth.AuthError, match="role"):
        auth.load_users(path)
    path.write_text('[users.a]\nrole = "operator"\npassword = "plain"\n', encoding="utf-8")
    with pytest.raises(auth.AuthError, match="password"):
        auth.load_users(path)
    assert auth.load_users(tmp_path / "missing.toml") == {}


def test_authenticate_resolves_the_provider(city, users_file: Path) -> None:
    user = auth.authenticate("vodokanal", "pw-vodokanal", city.engine, users_file)
    assert user is not None and user.role == "provider" and user.provider_id is not None
    assert user.scope == user.provider_id and "Водоканал" in (user.provider_name or "")
    assert auth.authenticate("vodokanal", "wrong", city.engine, users_file) is None
    assert auth.authenticate("nobody", "x", city.engine, users_file) is None
    boss = auth.authenticate("director", "pw-director", city.engine, users_file)
    assert boss is not None and boss.scope is None


def test_example_users_file_is_valid() -> None:
    users = auth.load_users(Path(__file__).resolve().parents[2] / "users.example.toml")
    assert {u["role"] for u in users.values()} == set(auth.ROLES)
    assert auth.verify_password("demo-director", users["director"]["password"])
