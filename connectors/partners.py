"""Partner profiles: who sends what, how and where — one TOML file (``partners.toml``).

A profile says which format a partner's files are in, how they travel (``local`` folder or
``sftp``), which folders to use (``inbox``, ``archive``, ``outbox`` for protocols/replies), whether
files must come with ``.done`` markers, the encoding, the commission/fee rates, the debts-file
variant for banks and the sender code. ``partners.example.toml`` at the repo root documents every
key. The CLI takes SFTP endpoints from the ``[partners.<CODE>.sftp]`` tables; DAGs take them from
Airflow Connections (``AIRFLOW_CONN_<CODE>``, conn id = ``airflow_conn_id``, default the code).

    cfg = load_partners("partners.toml")
    sber = cfg["SBER"]
    with transport_for_partner(sber) as t:      # connectors.transport
        for f in t.ready_files(sber.folders.inbox, sber):
            ...

Every validation error is a :class:`PartnerConfigError` naming the file and the full key, e.g.
``partners.toml: partners.SBER.center_fee_rate: …``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

KINDS = ("bank", "post", "szn", "legacy")
TRANSPORTS = ("local", "sftp")
#: inbound format ids = the values of ``connectors.formats.SourceKind`` for inbound files: bank registry
#: (formats §2), post fixed-width registry (§3), social protection XML (§4), legacy DBF set (§5)
FORMATS = ("bank", "post", "szn", "legacy")
DEFAULT_FORMAT = {"bank": "bank", "post": "post", "szn": "szn", "legacy": "legacy"}
DEFAULT_ENCODING = {"bank": "cp1251", "post": "cp866", "szn": "utf-8", "legacy": "cp866"}
#: debts file for banks (formats §6.2) = ``connectors.formats.debts.BankProfile.name``: "gorod" = the S6
#: «Город» layout (``DEFAULT_PROFILE``), "sber_s5" = the S5 variant (``SBER_S5_PROFILE``)
DEBTS_VARIANTS = ("gorod", "sber_s5")
CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")

_PARTNER_KEYS = {
    "name",
    "kind",
    "format",
    "transport",
    "encoding",
    "sender",
    "enabled",
    "markers_required",
    "marker_suffix",
    "settle_seconds",
    "agent_commission_rate",
    "center_fee_rate",
    "debts_variant",
    "airflow_conn_id",
    "folders",
    "sftp",
    "local",
}
_DEFAULTABLE = {
    "transport",
    "encoding",
    "markers_required",
    "marker_suffix",
    "settle_seconds",
    "agent_commission_rate",
    "center_fee_rate",
    "enabled",
    "folders",
}
_FOLDER_KEYS = {"inbox", "archive", "outbox"}
_SFTP_KEYS = {"host", "port", "user", "key_file", "host_key", "known_hosts", "root", "key_passphrase_env"}
_LOCAL_KEYS = {"root"}


class PartnerConfigError(ValueError):
    """A partners file is unreadable or invalid; the message names the file and the key."""


@dataclass(frozen=True)
class Folders:
    """Partner folders, relative to the transport root."""

    inbox: str = "inbox"
    archive: str = "archive"
    outbox: str = "outbox"


@dataclass(frozen=True)
class SftpEndpoint:
    """SFTP endpoint of a partner for the CLI (DAGs use the Airflow Connection instead)."""

    host: str
    user: str
    key_file: str | None = None
    port: int = 22
    host_key: str | None = None
    known_hosts: str | None = None
    root: str = ""
    #: name of the env var holding the key's passphrase (secrets never live in partners.toml)
    key_passphrase_env: str | None = None

    def key_passphrase(self) -> str | None:
        return os.environ.get(self.key_passphrase_env) if self.key_passphrase_env else None


@dataclass(frozen=True)
class PartnerProfile:
    """One partner. Also a ``ReadinessRules`` for ``Transport.ready_files``."""

    code: str
    kind: str
    format: str
    transport: str = "local"
    name: str = ""
    folders: Folders = field(default_factory=Folders)
    markers_required: bool = False
    marker_suffix: str = ".done"
    settle_seconds: float = 5.0
    encoding: str = "cp1251"
    agent_commission_rate: Decimal = Decimal("0")
    center_fee_rate: Decimal = Decimal("0")
    debts_variant: str | None = None
    sender: str = ""
    airflow_conn_id: str = ""
    enabled: bool = True
    sftp: SftpEndpoint | None = None
    local_root: str | None = None
    #: folder of the partners file (relative paths in the profile are relative to it)
    base_dir: Path = field(default=Path("."), compare=False)

    @property
    def airflow_env_var(self) -> str:
        """The env var Airflow reads this partner's connection from."""
        return "AIRFLOW_CONN_" + self.airflow_conn_id.upper()


@dataclass(frozen=True)
class PartnersConfig:
    """All partner profiles of one file, by code (in file order)."""

    path: Path
    partners: dict[str, PartnerProfile]

    def __getitem__(self, code: str) -> PartnerProfile:
        try:
            return self.partners[code]
        except KeyError:
            known = ", ".join(self.partners) or "нет ни одного"
            raise KeyError(f"Партнёр {code!r} не описан в {self.path} (известны: {known})") from None

    def get(self, code: str) -> PartnerProfile | None:
        return self.partners.get(code)

    def __iter__(self) -> Iterator[PartnerProfile]:
        return iter(self.partners.values())

    def __len__(self) -> int:
        return len(self.partners)

    def __contains__(self, code: object) -> bool:
        return code in self.partners

    def by_kind(self, kind: str) -> list[PartnerProfile]:
        return [p for p in self if p.kind == kind]

    def enabled(self) -> list[PartnerProfile]:
        return [p for p in self if p.enabled]


# -- parsing -----------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, key: str, msg: str) -> PartnerConfigError:
        return PartnerConfigError(f"{self.source}: {key}: {msg}")

    def table(self, value: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.err(key, f"ожидается таблица, получено {type(value).__name__} (expected a table)")
        for k in value:
            if k not in allowed:
                raise self.err(
                    f"{key}.{k}", f"неизвестный ключ; допустимые: {', '.join(sorted(allowed))} (unknown key)"
                )
        return value

    def string(self, value: Any, key: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.err(key, f"ожидается непустая строка, получено {value!r} (expected a string)")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.err(key, f"ожидается true или false, получено {value!r} (expected a boolean)")
        return value

    def choice(self, value: Any, key: str, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.err(key, f"недопустимое значение {value!r}; допустимо: {', '.join(options)}")
        return value

    def rate(self, value: Any, key: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.err(key, f'ожидается доля, например "0.015", получено {value!r} (expected a rate)')
        try:
            rate = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.err(key, f"не число: {value!r} (not a number)") from None
        if not rate.is_finite() or not Decimal(0) <= rate < Decimal(1):
            raise self.err(
                key, f"доля должна быть от 0 до 1 (0.015 = 1,5 %), получено {value!r} (rate out of range)"
            )
        return rate

    def seconds(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value > 3600:
            raise self.err(key, f"ожидается число секунд от 0 до 3600, получено {value!r}")
        return float(value)

    def rel_folder(self, value: Any, key: str) -> str:
        from connectors.transport.base import check_rel

        text = self.string(value, key)
        try:
            return check_rel(text, what="каталог")
        except ValueError as exc:
            raise self.err(key, str(exc)) from None


def _sftp(ctx: _Ctx, raw: Any, key: str) -> SftpEndpoint:
    t = ctx.table(raw, key, _SFTP_KEYS)
    for req in ("host", "user", "key_file"):
        if req not in t:
            raise ctx.err(f"{key}.{req}", "обязательный ключ не задан (required key missing)")
    port = t.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ctx.err(f"{key}.port", f"некорректный порт {port!r} (bad port)")
    host_key = ctx.string(t["host_key"], f"{key}.host_key") if "host_key" in t else None
    known_hosts = ctx.string(t["known_hosts"], f"{key}.known_hosts") if "known_hosts" in t else None
    if not (host_key or known_hosts):
        raise ctx.err(
            f"{key}.host_key",
            'ключ сервера не закреплён: задайте host_key ("ssh-ed25519 AAAA…") или known_hosts; '
            "автоматическое принятие ключей запрещено (host key must be pinned)",
        )
    if host_key:
        from connectors.transport.sftp import parse_host_key

        try:
            parse_host_key(host_key)
        except ValueError as exc:
            raise ctx.err(f"{key}.host_key", str(exc)) from None
    root = t.get("root", "")
    if root:
        ctx.string(root, f"{key}.root")
    env = t.get("key_passphrase_env")
    return SftpEndpoint(
        host=ctx.string(t["host"], f"{key}.host"),
        user=ctx.string(t["user"], f"{key}.user"),
        key_file=ctx.string(t["key_file"], f"{key}.key_file"),
        port=port,
        host_key=host_key,
        known_hosts=known_hosts,
        root=root,
        key_passphrase_env=ctx.string(env, f"{key}.key_passphrase_env") if env is not None else None,
    )


def _partner(ctx: _Ctx, code: str, raw: Any, defaults: Mapping[str, Any], base_dir: Path) -> PartnerProfile:
    key = f"partners.{code}"
    if not CODE_RE.match(code):
        raise ctx.err(key, "код партнёра: латинские заглавные буквы, цифры и _, с буквы (bad partner code)")
    t = dict(ctx.table(raw, key, _PARTNER_KEYS))
    for k, v in defaults.items():
        if k == "folders" and "folders" in t:
            t["folders"] = {**v, **ctx.table(t["folders"], f"{key}.folders", _FOLDER_KEYS)}
        else:
            t.setdefault(k, v)

    def src(k: str) -> str:  # where a value came from, for error messages
        return f"{key}.{k}" if k in raw else f"defaults.{k}"

    if "kind" not in t:
        raise ctx.err(f"{key}.kind", f"обязательный ключ не задан; допустимо: {', '.join(KINDS)}")
    kind = ctx.choice(t["kind"], f"{key}.kind", KINDS)
    fmt = ctx.choice(t.get("format", DEFAULT_FORMAT[kind]), src("format"), FORMATS)
    transport = ctx.choice(t.get("transport", "local"), src("transport"), TRANSPORTS)
    encoding = ctx.string(t.get("encoding", DEFAULT_ENCODING[kind]), src("encoding"))
    try:
        "".encode(encoding)
    except LookupError:
        raise ctx.err(src("encoding"), f"неизвестная кодировка {encoding!r} (unknown encoding)") from None

    folders_raw = ctx.table(t.get("folders", {}), src("folders"), _FOLDER_KEYS)
    folders = Folders(
        **{
            k: ctx.rel_folder(folders_raw[k], f"{src('folders')}.{k}")
            for k in _FOLDER_KEYS
            if k in folders_raw
        }
    )

    debts_variant = None
    if "debts_variant" in t:
        if kind != "bank":
            raise ctx.err(
                f"{key}.debts_variant", "вариант файла долгов задаётся только для банков (kind = bank)"
            )
        debts_variant = ctx.choice(t["debts_variant"], f"{key}.debts_variant", DEBTS_VARIANTS)
    elif kind == "bank":
        debts_variant = DEBTS_VARIANTS[0]

    marker_suffix = ctx.string(t.get("marker_suffix", ".done"), src("marker_suffix"))
    if not marker_suffix.startswith(".") or "/" in marker_suffix or len(marker_suffix) < 2:
        raise ctx.err(src("marker_suffix"), f'суффикс маркера вида ".done", получено {marker_suffix!r}')

    sftp = _sftp(ctx, t["sftp"], f"{key}.sftp") if "sftp" in t else None
    local_root = None
    if "local" in t:
        lt = ctx.table(t["local"], f"{key}.local", _LOCAL_KEYS)
        if "root" not in lt:
            raise ctx.err(f"{key}.local.root", "обязательный ключ не задан (required key missing)")
        local_root = ctx.string(lt["root"], f"{key}.local.root")
    if transport == "local" and local_root is None:
        raise ctx.err(f"{key}.local.root", 'для transport = "local" нужен каталог обмена [local] root')

    conn_id = ctx.string(t.get("airflow_conn_id", code.lower()), src("airflow_conn_id"))
    if not re.fullmatch(r"[A-Za-z0-9_]+", conn_id):
        raise ctx.err(src("airflow_conn_id"), "только латиница, цифры и _ (it becomes AIRFLOW_CONN_<ID>)")

    return PartnerProfile(
        code=code,
        kind=kind,
        format=fmt,
        transport=transport,
        name=ctx.string(t.get("name", ""), src("name"), empty=True),
        folders=folders,
        markers_required=ctx.boolean(t.get("markers_required", False), src("markers_required")),
        marker_suffix=marker_suffix,
        settle_seconds=ctx.seconds(t.get("settle_seconds", 5.0), src("settle_seconds")),
        encoding=encoding,
        agent_commission_rate=ctx.rate(t.get("agent_commission_rate", "0"), src("agent_commission_rate")),
        center_fee_rate=ctx.rate(t.get("center_fee_rate", "0"), src("center_fee_rate")),
        debts_variant=debts_variant,
        sender=ctx.string(t.get("sender", code), src("sender")),
        airflow_conn_id=conn_id,
        enabled=ctx.boolean(t.get("enabled", True), src("enabled")),
        sftp=sftp,
        local_root=local_root,
        base_dir=base_dir,
    )


def parse_partners(
    data: Mapping[str, Any], source: str = "partners.toml", base_dir: Path | None = None
) -> PartnersConfig:
    """Validate already-parsed TOML data (``source`` is used in error messages)."""
    ctx = _Ctx(source)
    top = ctx.table(data, "(верхний уровень)", {"version", "defaults", "partners"})
    version = top.get("version", 1)
    if version != 1:
        raise ctx.err("version", f"поддерживается только version = 1, получено {version!r}")
    defaults = ctx.table(top.get("defaults", {}), "defaults", _DEFAULTABLE)
    if "folders" in defaults:
        ctx.table(defaults["folders"], "defaults.folders", _FOLDER_KEYS)
    partners_raw = top.get("partners", {})
    if not isinstance(partners_raw, Mapping):
        raise ctx.err("partners", "ожидается таблица [partners.<CODE>] (expected a table)")
    if not partners_raw:
        raise ctx.err("partners", "не описано ни одного партнёра (no [partners.<CODE>] tables)")
    base = base_dir if base_dir is not None else Path(source).parent
    partners = {code: _partner(ctx, code, raw, defaults, base) for code, raw in partners_raw.items()}
    senders: dict[str, str] = {}
    for p in partners.values():
        if p.sender in senders:
            raise ctx.err(
                f"partners.{p.code}.sender",
                f"код отправителя {p.sender!r} уже занят партнёром {senders[p.sender]} (duplicate sender)",
            )
        senders[p.sender] = p.code
    return PartnersConfig(Path(source), partners)


def load_partners(path: str | os.PathLike[str]) -> PartnersConfig:
    """Read and validate a partners file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PartnerConfigError(f"{p}: не удаётся прочитать файл партнёров: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PartnerConfigError(f"{p}: файл должен быть в UTF-8 ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PartnerConfigError(f"{p}: ошибка синтаксиса TOML: {exc}") from exc
    return parse_partners(data, str(p), p.resolve().parent)
