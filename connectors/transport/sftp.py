"""SFTP transport (paramiko): key authentication only, pinned host keys, retries on dropped connections.

Security rules, not options:

* **Key authentication only** (ed25519, ECDSA or RSA private key from ``key_file`` or inline
  ``private_key``); no passwords, no agent, no ``~/.ssh`` look-up.
* **Pinned host keys, never auto-accept**: the server key must match ``host_key``
  (``"ssh-ed25519 AAAA…"``, the server's ``.pub`` line) or an entry of a ``known_hosts`` file. Unknown or
  different keys raise :class:`HostKeyError` with both SHA256 fingerprints (a paramiko ``RejectPolicy``).
  An Airflow Connection with ``no_host_key_check`` and no pinned key is refused.

Reliability: every operation runs through :meth:`SftpTransport._run`; when it fails because the
connection is gone (EOF, reset, timeout, refused, SSH-level error), the transport reconnects and
retries the whole operation with exponential back-off (:class:`RetryPolicy`). Errors reported by a
live server (no such file, permission denied) and host-key/authentication errors are not retried.
Uploads go to a hidden temporary name and are renamed with the ``posix-rename@openssh.com``
extension (atomic replace); servers without it get a plain rename, and when that refuses to
overwrite, remove-then-rename.

Airflow: :func:`sftp_transport_from_airflow` builds the transport from an Airflow Connection (conn
type ``sftp``/``ssh``; e.g. the env var ``AIRFLOW_CONN_SBER``); Airflow is imported only inside it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import paramiko

from .base import (
    DEFAULT_MARKER_SUFFIX,
    LocalPath,
    Progress,
    RemoteFile,
    Transport,
    check_name,
    check_rel,
    join,
    numbered,
    temp_name,
)
from .errors import (
    HostKeyError,
    TransportAuthError,
    TransportConfigError,
    TransportConnectionError,
    TransportError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded reconnect-and-retry: ``attempts`` tries in all, waiting ``initial_delay``,
    ``initial_delay*factor``, … (at most ``max_delay``) seconds between them."""

    attempts: int = 4
    initial_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial_delay < 0 or self.factor < 1 or self.max_delay < 0:
            raise TransportConfigError(f"Некорректная политика повторов (bad retry policy): {self}")

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after the ``failed_attempt``-th (1-based) failure."""
        return min(self.max_delay, self.initial_delay * self.factor ** (failed_attempt - 1))


@dataclass(frozen=True)
class SftpConfig:
    """Where and how to connect. Exactly what a partner profile or an Airflow Connection provides."""

    host: str
    user: str
    port: int = 22
    key_file: str | None = None
    private_key: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    host_key: str | None = None
    known_hosts: str | None = None
    #: remote folder the partner folders are relative to ('' = the login's start folder)
    root: str = ""
    connect_timeout: float = 15.0
    #: per-request timeout on the SFTP channel (a stalled server counts as a dropped connection)
    op_timeout: float = 60.0
    keepalive: int = 30
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: try the posix-rename@openssh.com extension for atomic replace (falls back automatically)
    use_posix_rename: bool = True

    def __post_init__(self) -> None:
        where = f"SFTP {self.user}@{self.host}:{self.port}"
        if not self.host or not self.user:
            raise TransportConfigError(f"{where}: не заданы host и/или user (host and user are required)")
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise TransportConfigError(f"{where}: некорректный порт {self.port!r} (bad port)")
        if not (self.key_file or self.private_key):
            raise TransportConfigError(
                f"{where}: не задан ключ клиента key_file или private_key; вход по паролю не поддерживается "
                "(key authentication only)"
            )
        if not (self.host_key or self.known_hosts):
            raise TransportConfigError(
                f"{where}: не закреплён ключ сервера: укажите host_key "
                '("ssh-ed25519 AAAA…") или known_hosts; '
                "автоматическое принятие ключей запрещено (host key must be pinned, auto-accept is forbidden)"
            )
        if self.host_key:
            parse_host_key(self.host_key)  # fail early on a malformed pin

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


# -- keys --------------------------------------------------------------------------------------


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:…`` fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _blob_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    (n,) = struct.unpack(">I", blob[:4])
    if n > 64 or len(blob) < 4 + n:
        return None
    try:
        return blob[4 : 4 + n].decode("ascii")
    except UnicodeDecodeError:
        return None


def parse_host_key(text: str) -> paramiko.PKey:
    """Parse a pinned host key: ``"ssh-ed25519 AAAA… [comment]"``, a bare base64 blob, or a
    known_hosts line ``"host ssh-ed25519 AAAA…"``."""
    tokens = (text or "").split()
    for i, token in enumerate(tokens):
        try:
            blob = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            continue
        key_type = _blob_type(blob)
        if key_type is None or (i > 0 and tokens[i - 1] != key_type):
            continue
        try:
            return paramiko.PKey.from_type_string(key_type, blob)
        except Exception as exc:  # unknown key type, corrupt blob
            raise TransportConfigError(
                f"Не удалось разобрать host_key {text[:40]!r}…: {exc} (bad host key)"
            ) from exc
    raise TransportConfigError(
        f'Не удалось разобрать host_key {text[:40]!r}: ожидается строка вида "ssh-ed25519 AAAA…" '
        "(содержимое .pub-файла ключа сервера) (bad host key format)"
    )


_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def load_private_key(
    key_file: str | os.PathLike[str] | None = None,
    private_key: str | None = None,
    passphrase: str | None = None,
) -> paramiko.PKey:
    """Load the client key from a file (OpenSSH or PEM format) or from inline text."""
    try:
        if key_file:
            path = Path(key_file).expanduser()
            if not path.is_file():
                raise TransportAuthError(f"Файл ключа {path} не найден (key file not found)")
            return paramiko.PKey.from_path(path, passphrase)
        if private_key:
            last: Exception | None = None
            for cls in _KEY_CLASSES:
                try:
                    return cls.from_private_key(io.StringIO(private_key), password=passphrase)
                except paramiko.PasswordRequiredException:
                    raise
                except (paramiko.SSHException, ValueError) as exc:
                    last = exc
            raise TransportAuthError(f"Не удалось прочитать private_key: {last} (unreadable private key)")
    except paramiko.PasswordRequiredException as exc:
        raise TransportAuthError(
            "Ключ клиента зашифрован, а пароль ключа не задан (key is encrypted, passphrase missing)"
        ) from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise TransportAuthError(
            f"Не удалось прочитать ключ клиента {key_file or ''}: {exc} (bad key)"
        ) from exc
    raise TransportAuthError("Не задан ключ клиента (no client key)")


class _PinnedOnlyPolicy(paramiko.RejectPolicy):
    """RejectPolicy with an operator-friendly message: an unknown server key is never accepted."""

    def __init__(self, address: str) -> None:
        self.address = address

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyError(
            f"Ключ сервера {self.address} неизвестен: он не закреплён в host_key/known_hosts "
            f"(unknown host key, rejected). Сервер предъявил {key.get_name()} {fingerprint(key)}. "
            "Сверьте отпечаток с партнёром по независимому каналу и закрепите ключ; "
            "автоматическое принятие ключей запрещено."
        )


# -- the transport -----------------------------------------------------------------------------


class SftpTransport(Transport):
    """One partner's folders on an SFTP server. Use as a context manager; see the module docstring."""

    kind = "sftp"

    def __init__(self, config: SftpConfig) -> None:
        self.config = config
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._pkey: paramiko.PKey | None = None
        self._posix_rename: bool | None = None if config.use_posix_rename else False
        self._dirs: set[str] = set()
        self._lock = threading.RLock()
        #: connections made so far (1 after the first connect; more after reconnects)
        self.connects = 0

    def __repr__(self) -> str:
        return f"SftpTransport({self.config.user}@{self.config.address}, root={self.config.root!r})"

    # -- connection ------------------------------------------------------------------------
    def open(self) -> SftpTransport:
        self._run("подключение", lambda sftp, attempt: None)
        return self

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        self._dirs.clear()
        for thing in (sftp, client):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()

    def _alive(self) -> bool:
        client = self._client
        transport = client.get_transport() if client is not None else None
        return bool(transport is not None and transport.is_active())

    def _connect(self) -> paramiko.SFTPClient:
        cfg = self.config
        if self._pkey is None:
            self._pkey = load_private_key(cfg.key_file, cfg.private_key, cfg.key_passphrase)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_PinnedOnlyPolicy(cfg.address))
        known = client.get_host_keys()  # not load_host_keys(): that would remember a file to save into
        if cfg.known_hosts:
            path = Path(cfg.known_hosts).expanduser()
            try:
                known.load(str(path))
            except OSError as exc:
                raise TransportConfigError(
                    f"Файл known_hosts {path} не читается: {exc} (known_hosts unreadable)"
                ) from exc
        pinned = parse_host_key(cfg.host_key) if cfg.host_key else None
        host_entry = cfg.host if cfg.port == 22 else f"[{cfg.host}]:{cfg.port}"
        if pinned is not None:
            known.add(host_entry, pinned.get_name(), pinned)
        try:
            client.connect(
                cfg.host,
                port=cfg.port,
                username=cfg.user,
                pkey=self._pkey,
                look_for_keys=False,
                allow_agent=False,
                timeout=cfg.connect_timeout,
                banner_timeout=cfg.connect_timeout,
                auth_timeout=cfg.connect_timeout,
                channel_timeout=cfg.connect_timeout,
            )
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(cfg.keepalive)
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(cfg.op_timeout)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"Ключ сервера {cfg.address} НЕ совпадает с закреплённым (host key mismatch, rejected): "
                f"ожидался {exc.expected_key.get_name()} {fingerprint(exc.expected_key)}, "
                f"получен {exc.key.get_name()} {fingerprint(exc.key)}. Возможна подмена сервера. "
                "Если партнёр действительно сменил ключ, сверьте отпечаток и обновите host_key."
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise TransportAuthError(
                f"Сервер {cfg.address} отклонил ключ клиента для пользователя {cfg.user} "
                f"(authentication failed): {exc}"
            ) from exc
        except BaseException:
            client.close()
            raise
        if cfg.root:
            try:
                sftp.chdir(cfg.root)
            except OSError as exc:
                client.close()
                if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError):
                    raise TransportConfigError(
                        f"Удалённый каталог {cfg.root!r} на {cfg.address} недоступен: {exc} "
                        "(remote root missing)"
                    ) from exc
                raise
        self._client, self._sftp = client, sftp
        self.connects += 1
        log.info("SFTP connected to %s@%s (connection #%d)", cfg.user, cfg.address, self.connects)
        return sftp

    def _ensure(self) -> paramiko.SFTPClient:
        if self._sftp is not None and self._alive():
            return self._sftp
        self._drop()
        return self._connect()

    def _is_connection_error(self, exc: BaseException) -> bool:
        if isinstance(exc, TransportError | paramiko.AuthenticationException | paramiko.BadHostKeyException):
            return False
        if isinstance(
            exc, EOFError | ConnectionError | TimeoutError | socket.timeout | paramiko.SSHException
        ):
            return True
        # "Socket is closed" and friends: plain OSErrors, but only when the connection is really gone;
        # errors reported by a live server (no such file, permission denied, failure) are final.
        return isinstance(exc, OSError) and not self._alive()

    def _run(self, what: str, op: Callable[[paramiko.SFTPClient, int], T]) -> T:
        policy = self.config.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._lock:
                    return op(self._ensure(), attempt)
            except Exception as exc:
                if not self._is_connection_error(exc):
                    raise
                with self._lock:
                    self._drop()
                if attempt >= policy.attempts:
                    raise TransportConnectionError(
                        f"SFTP {self.config.user}@{self.config.address}: {what} не выполнено после {attempt} "
                        f"попыток, связь с сервером потеряна ({what} failed, connection lost): "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                delay = policy.delay(attempt)
                log.warning(
                    "SFTP %s: %s failed (%s: %s), reconnecting in %.2f s (attempt %d of %d)",
                    self.config.address,
                    what,
                    type(exc).__name__,
                    exc,
                    delay,
                    attempt + 1,
                    policy.attempts,
                )
                time.sleep(delay)

    # -- helpers (called inside _run with a live client) ---------------------------------------
    @staticmethod
    def _p(rel: str) -> str:
        return rel or "."

    @staticmethod
    def _exists(sftp: paramiko.SFTPClient, rel: str) -> bool:
        try:
            sftp.stat(SftpTransport._p(rel))
            return True
        except FileNotFoundError:
            return False

    def _makedirs(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        if not folder or folder in self._dirs:
            return
        parts = folder.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in self._dirs or self._exists(sftp, sub):
                continue
            try:
                sftp.mkdir(sub)
            except OSError:
                if not self._alive() or not self._exists(sftp, sub):
                    raise
        self._dirs.add(folder)

    def _replace(self, sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
        """Rename ``src`` onto ``dst``, replacing it (atomically where the server allows)."""
        if self._posix_rename is not False:
            try:
                sftp.posix_rename(src, dst)
                self._posix_rename = True
                return
            except OSError as exc:
                if not self._alive() or self._posix_rename is True or exc.errno is not None:
                    raise
                log.info("SFTP %s: posix-rename unavailable (%s), using rename", self.config.address, exc)
                self._posix_rename = False
        try:
            sftp.rename(src, dst)
        except OSError:
            if not self._alive() or not self._exists(sftp, dst):
                raise
            # plain SFTP rename does not overwrite: remove, then rename (a short window without dst)
            sftp.remove(dst)
            sftp.rename(src, dst)

    # -- operations ------------------------------------------------------------------------
    def list(self, folder: str) -> list[RemoteFile]:
        folder = check_rel(folder, what="каталог")

        def op(sftp: paramiko.SFTPClient, attempt: int) -> list[RemoteFile]:
            out = []
            for a in sftp.listdir_attr(self._p(folder)):
                if a.filename.startswith(".") or not stat.S_ISREG(a.st_mode or 0):
                    continue
                out.append(RemoteFile(a.filename, int(a.st_size or 0), float(a.st_mtime or 0), folder))
            return sorted(out, key=lambda f: f.name)

        return self._run(f"список {folder or '.'}", op)

    def download(self, name: str, local_path: LocalPath, *, progress: Progress | None = None) -> int:
        remote = check_rel(name)
        dst = Path(local_path)
        tmp = dst.with_name(temp_name(dst.name))

        def op(sftp: paramiko.SFTPClient, attempt: int) -> int:
            size = sftp.stat(remote).st_size
            with open(tmp, "wb") as fo:
                got = sftp.getfo(remote, fo, callback=progress)
            if size is not None and got != size:
                raise OSError(f"Получено {got} байт из {size}: {remote} (short download)")
            os.replace(tmp, dst)
            return got

        try:
            return self._run(f"скачивание {remote}", op)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _put(
        self, opener: Callable[[], Any], total: int, folder: str, name: str, progress: Progress | None
    ) -> str:
        folder = check_rel(folder, what="каталог")
        check_name(name)
        final = join(folder, name)
        tmp = join(folder, temp_name(name))

        def op(sftp: paramiko.SFTPClient, attempt: int) -> str:
            self._makedirs(sftp, folder)
            with opener() as fi:
                sftp.putfo(fi, tmp, file_size=total, callback=progress, confirm=True)
            self._replace(sftp, tmp, final)
            return final

        try:
            return self._run(f"загрузка {final}", op)
        except BaseException:
            if self._alive() and self._sftp is not None:  # best effort: no stray temp files
                with contextlib.suppress(Exception):
                    self._sftp.remove(tmp)
            raise

    def upload(
        self, local_path: LocalPath, folder: str, name: str | None = None, *, progress: Progress | None = None
    ) -> str:
        src = Path(local_path)
        return self._put(lambda: open(src, "rb"), src.stat().st_size, folder, name or src.name, progress)

    def upload_bytes(self, data: bytes, folder: str, name: str) -> str:
        return self._put(lambda: io.BytesIO(data), len(data), folder, name, None)

    def move(
        self,
        name: str,
        from_folder: str,
        to_folder: str,
        *,
        marker_suffix: str | None = DEFAULT_MARKER_SUFFIX,
    ) -> str:
        check_name(name)
        from_folder = check_rel(from_folder, what="каталог")
        to_folder = check_rel(to_folder, what="каталог")
        src = join(from_folder, name)
        done: dict[str, str] = {}

        def op(sftp: paramiko.SFTPClient, attempt: int) -> str:
            if "dst" not in done:
                if attempt > 1 and done.get("trying") and not self._exists(sftp, src):
                    # the rename reached the server before the connection dropped
                    if self._exists(sftp, done["trying"]):
                        done["dst"] = done["trying"]
                if "dst" not in done:
                    self._makedirs(sftp, to_folder)
                    n = 0
                    while True:
                        dst = join(to_folder, numbered(name, n))
                        if self._exists(sftp, dst):
                            n += 1
                            continue
                        done["trying"] = dst
                        try:
                            sftp.rename(src, dst)  # SSH_FXP_RENAME never overwrites
                        except OSError:
                            if self._alive() and self._exists(sftp, dst):
                                n += 1  # somebody else took the name meanwhile
                                continue
                            raise
                        done["dst"] = dst
                        break
            if marker_suffix:
                marker = src + marker_suffix
                if self._exists(sftp, marker):
                    self._replace(sftp, marker, done["dst"] + marker_suffix)
            return done["dst"]

        return self._run(f"перемещение {src} → {to_folder}", op)

    def exists(self, name: str) -> bool:
        rel = check_rel(name)
        return self._run(f"проверка {rel}", lambda sftp, attempt: self._exists(sftp, rel))

    def read_bytes(self, name: str) -> bytes:
        rel = check_rel(name)

        def op(sftp: paramiko.SFTPClient, attempt: int) -> bytes:
            buf = io.BytesIO()
            sftp.getfo(rel, buf)
            return buf.getvalue()

        return self._run(f"чтение {rel}", op)

    def delete(self, name: str) -> None:
        rel = check_rel(name)
        self._run(f"удаление {rel}", lambda sftp, attempt: sftp.remove(rel))


# -- Airflow -----------------------------------------------------------------------------------


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on") if value is not None else False


def sftp_config_from_connection(
    conn: Any, *, root: str | None = None, retry: RetryPolicy | None = None
) -> SftpConfig:
    """Build an :class:`SftpConfig` from an Airflow ``Connection`` (or anything with ``conn_type``,
    ``host``, ``port``, ``login``, ``password`` and ``extra_dejson``).

    Extras understood: ``key_file`` or ``private_key`` (+ ``private_key_passphrase``), ``host_key``
    and/or ``known_hosts`` (ours), ``conn_timeout`` (or ``timeout``), ``root`` (ours).
    """
    conn_id = getattr(conn, "conn_id", None) or "?"
    conn_type = getattr(conn, "conn_type", None)
    if conn_type not in (None, "sftp", "ssh"):
        raise TransportConfigError(
            f"Airflow Connection {conn_id}: тип {conn_type!r}, ожидается sftp (conn type must be sftp)"
        )
    extra = dict(getattr(conn, "extra_dejson", None) or {})
    host_key = extra.get("host_key") or None
    known_hosts = extra.get("known_hosts") or None
    if not (host_key or known_hosts):
        hint = " (no_host_key_check запрещён)" if _truthy(extra.get("no_host_key_check")) else ""
        raise TransportConfigError(
            f"Airflow Connection {conn_id}: не закреплён ключ сервера{hint}; добавьте в extra "
            '"host_key": "ssh-ed25519 AAAA…" (host key must be pinned, auto-accept is forbidden)'
        )
    if not (extra.get("key_file") or extra.get("private_key")):
        raise TransportConfigError(
            f"Airflow Connection {conn_id}: нужен key_file или private_key в extra; "
            "вход по паролю не поддерживается (key authentication only)"
        )
    timeout = extra.get("conn_timeout") or extra.get("timeout")
    kwargs: dict[str, Any] = {}
    if timeout:
        kwargs["connect_timeout"] = float(timeout)
    if retry is not None:
        kwargs["retry"] = retry
    try:
        return SftpConfig(
            host=getattr(conn, "host", None) or "",
            port=int(getattr(conn, "port", None) or 22),
            user=getattr(conn, "login", None) or "",
            key_file=extra.get("key_file") or None,
            private_key=extra.get("private_key") or None,
            key_passphrase=extra.get("private_key_passphrase") or None,
            host_key=host_key,
            known_hosts=known_hosts,
            root=root if root is not None else str(extra.get("root") or ""),
            **kwargs,
        )
    except TransportConfigError as exc:
        raise TransportConfigError(f"Airflow Connection {conn_id}: {exc}") from exc


def sftp_transport_from_airflow(
    conn_id: str, *, root: str | None = None, retry: RetryPolicy | None = None
) -> SftpTransport:
    """The SFTP transport of Airflow Connection ``conn_id`` (e.g. from ``AIRFLOW_CONN_SBER``).

    Works inside tasks (Task SDK) and outside them (secrets backends, env vars). Not connected yet:
    use it as a context manager.
    """
    try:
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
    except ImportError:  # Airflow 2
        from airflow.models.connection import Connection as LegacyConnection

        conn = LegacyConnection.get_connection_from_secrets(conn_id)
    return SftpTransport(sftp_config_from_connection(conn, root=root, retry=retry))
