"""Users and roles of the dashboards, from a TOML file with salted password hashes.

The file is ``$UNIPAY_USERS``, else ``./users.toml`` (example: ``users.example.toml``)::

    [users.director]
    name = "Иванова А. П."
    role = "management"                  # management | provider | operator
    password = "pbkdf2_sha256$600000$<salt>$<hash>"

    [users.vodokanal]
    role = "provider"
    provider_inn = "6227000292"          # the provider whose money this user sees
    password = "pbkdf2_sha256$…"

Roles: *management* sees every page and every provider; *provider* sees the money flow, the analytics and
the accounts of its own services only (the reports filter by its ``provider_id`` in SQL); *operator* sees
the exchange monitoring and the account lookup.

Passwords are PBKDF2-HMAC-SHA256 with a random 16-byte salt (``hashlib.pbkdf2_hmac``), compared in
constant time. Add or change a user::

    python -m hub.auth add-user vodokanal --role provider --provider-inn 6227000292
    python -m hub.auth list-users
    python -m hub.auth remove-user vodokanal
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import json
import os
import secrets
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

ROLES = {"management": "руководство", "provider": "поставщик", "operator": "оператор"}
SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000


class AuthError(ValueError):
    """A users file is unreadable or holds a bad entry; the message names the file and the user."""


@dataclass(frozen=True)
class User:
    """A signed-in user: the login, the role and, for a provider, whose money it sees."""

    login: str
    role: str
    name: str = ""
    provider_inn: str | None = None
    provider_id: int | None = None
    provider_name: str | None = None

    @property
    def scope(self) -> int | None:
        """The provider filter of every report (None = the whole center)."""
        if self.role == "provider":
            if self.provider_id is None:
                raise AuthError(f"пользователь {self.login}: поставщик не найден в хранилище")
            return self.provider_id
        return None

    @property
    def title(self) -> str:
        who = self.name or self.login
        extra = f", {self.provider_name}" if self.provider_name else ""
        return f"{who} ({ROLES.get(self.role, self.role)}{extra})"


# ------------------------------------------------------------------------------------------------
# Passwords
# ------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>`` of ``password`` with a fresh random salt."""
    if not password:
        raise AuthError("пароль не может быть пустым")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison; False on a bad hash)."""
    try:
        scheme, iterations, salt, digest = encoded.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# ------------------------------------------------------------------------------------------------
# The users file
# ------------------------------------------------------------------------------------------------


def users_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The users file: the argument, else ``$UNIPAY_USERS``, else ``./users.toml``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("UNIPAY_USERS") or "users.toml")


def load_users(path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Login → entry (role, name, provider_inn, password hash). A missing file gives no users."""
    p = users_path(path)
    if not p.exists():
        return {}
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AuthError(f"{p}: ошибка синтаксиса TOML: {exc}") from exc
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise AuthError(f"{p}: [users] должен быть таблицей")
    for login, entry in users.items():
        _check_entry(p, login, entry)
    return users


def _check_entry(p: Path, login: str, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise AuthError(f"{p}: [users.{login}] должен быть таблицей")
    role = entry.get("role")
    if role not in ROLES:
        raise AuthError(f"{p}: [users.{login}].role — одна из {', '.join(ROLES)}, получено {role!r}")
    if not str(entry.get("password", "")).startswith(SCHEME + "$"):
        raise AuthError(
            f"{p}: [users.{login}].password — ожидается хэш {SCHEME}$… (python -m hub.auth add-user)"
        )
    if role == "provider":
        inn = str(entry.get("provider_inn", ""))
        if not (inn.isdigit() and len(inn) in (10, 12)):
            raise AuthError(f"{p}: [users.{login}].provider_inn — ИНН поставщика из 10 или 12 цифр")


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def save_users(users: dict[str, dict[str, Any]], path: str | os.PathLike[str] | None = None) -> Path:
    """Write the users file (mode 0600: it holds password hashes)."""
    p = users_path(path)
    out = ["# unipay dashboard users: python -m hub.auth add-user NAME --role ROLE [--provider-inn INN]", ""]
    for login in sorted(users):
        out.append(f"[users.{_toml_str(login)}]")
        for key in ("name", "role", "provider_inn", "password"):
            if users[login].get(key) not in (None, ""):
                out.append(f"{key} = {_toml_str(str(users[login][key]))}")
        out.append("")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text("\n".join(out), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(p)
    return p


def resolve_provider(engine: Engine, inn: str) -> tuple[int, str] | None:
    """The store's provider (id, name) with this ИНН."""
    from hub.store import models as m

    with engine.connect() as conn:
        row = conn.execute(select(m.Provider.id, m.Provider.name).where(m.Provider.inn == inn)).first()
    return (int(row[0]), str(row[1])) if row else None


def authenticate(
    login: str, password: str, engine: Engine | None = None, path: str | os.PathLike[str] | None = None
) -> User | None:
    """The user when the login and password match (a provider's id is looked up in the store)."""
    users = load_users(path)
    entry = users.get((login or "").strip())
    if entry is None:
        verify_password(password or "x", hash_password("x", iterations=1000))  # similar work either way
        return None
    if not verify_password(password or "", str(entry["password"])):
        return None
    user = User(
        login=login.strip(),
        role=str(entry["role"]),
        name=str(entry.get("name", "")),
        provider_inn=entry.get("provider_inn"),
    )
    if user.role == "provider" and user.provider_inn:
        found = resolve_provider(engine, str(user.provider_inn)) if engine is not None else None
        if found is None:
            return None
        user = User(user.login, user.role, user.name, user.provider_inn, found[0], found[1])
    return user


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Пароль: ")
    if first != getpass.getpass("Пароль ещё раз: "):
        raise AuthError("пароли не совпадают")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub.auth", description="Пользователи панелей unipay")
    parser.add_argument("--file", help="файл пользователей (по умолчанию $UNIPAY_USERS или ./users.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="добавить пользователя или сменить его пароль и роль")
    add.add_argument("login")
    add.add_argument("--role", required=True, choices=sorted(ROLES))
    add.add_argument("--provider-inn", help="ИНН поставщика (для роли provider)")
    add.add_argument("--name", default="", help="имя для показа")
    add.add_argument("--password-stdin", action="store_true", help="прочитать пароль из первой строки stdin")
    sub.add_parser("list-users", help="список пользователей")
    rm = sub.add_parser("remove-user", help="удалить пользователя")
    rm.add_argument("login")
    args = parser.parse_args(argv)
    try:
        users = load_users(args.file)
        path = users_path(args.file)
        if args.command == "list-users":
            for login in sorted(users):
                e = users[login]
                extra = f" ИНН {e['provider_inn']}" if e.get("provider_inn") else ""
                print(f"{login}\t{e['role']}{extra}\t{e.get('name', '')}")
            return 0
        if args.command == "remove-user":
            if users.pop(args.login, None) is None:
                raise AuthError(f"пользователь {args.login} не найден в {path}")
            save_users(users, path)
            print(f"Пользователь {args.login} удалён из {path}")
            return 0
        if args.role == "provider" and not args.provider_inn:
            raise AuthError("для роли provider укажите --provider-inn")
        if args.role != "provider" and args.provider_inn:
            raise AuthError("--provider-inn нужен только для роли provider")
        entry = {
            "name": args.name,
            "role": args.role,
            "provider_inn": args.provider_inn,
            "password": hash_password(_read_password(args.password_stdin)),
        }
        _check_entry(path, args.login, entry)
        users[args.login] = entry
        save_users(users, path)
        print(f"Пользователь {args.login} ({args.role}) записан в {path}")
        return 0
    except AuthError as exc:
        print(f"Ошибка: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
