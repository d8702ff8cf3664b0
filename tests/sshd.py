"""A real OpenSSH ``sshd`` for tests: start, use, stop — never left running.

Usage (any test folder; run pytest from the repo root with ``python -m pytest`` so ``tests`` imports)::

    from tests.sshd import start_sshd

    with start_sshd(tmp_path) as srv:
        srv.write("inbox/a.txt", b"data")          # a file on the server, owned by the server user
        ...  # connect to srv.host:srv.port as srv.user with srv.client_key, pin srv.host_key_line
        assert (srv.root / "archive" / "a.txt").exists()

What it does:

* installs ``openssh-server`` with ``scripts/ensure_sshd.sh`` when ``/usr/sbin/sshd`` is missing;
* generates a fresh ed25519 host key and two client keys (ed25519 and RSA PEM), an
  ``authorized_keys`` file, a ``known_hosts`` file and an ``sshd_config``;
* runs ``/usr/sbin/sshd -D -e`` on 127.0.0.1 on a free port, **as an unprivileged user**: the current
  user when not root; when root, a dedicated system user ``unipaysftp`` (created on first use, account
  unlocked with ``usermod -p '*'``, shell nologin). A non-root sshd lets exactly that one user log in
  (public key only, ``ForceCommand internal-sftp``). No chroot: the SFTP start directory
  (``internal-sftp -d``) is :attr:`SshdServer.root`, holding ``inbox/``, ``archive/`` and ``outbox/``,
  so relative remote paths such as ``inbox/a.txt`` land in ``root / "inbox" / "a.txt"``;
* when root, the server files live in a private ``/tmp/unipay-sshd-*`` folder owned by ``unipaysftp``
  (pytest's own tmp folders are mode 0700 and unreachable for another user) that is removed on stop;
  the sshd log is copied to ``<tmp_dir>/sshd.log`` for post-mortems;
* stops the server and every connection process it forked on ``stop()``/``__exit__``, and again at
  interpreter exit (``atexit``) as a safety net; started from the main thread, sshd also gets
  SIGTERM when the test process dies (``PR_SET_PDEATHSIG``).

Environment overrides: ``UNIPAY_SSHD`` (sshd binary, default ``/usr/sbin/sshd``), ``UNIPAY_SSHD_USER``
(the server user when running as root, default ``unipaysftp``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENSURE_SCRIPT = REPO_ROOT / "scripts" / "ensure_sshd.sh"
SSHD_BIN = os.environ.get("UNIPAY_SSHD", "/usr/sbin/sshd")
SERVER_USER_AS_ROOT = os.environ.get("UNIPAY_SSHD_USER", "unipaysftp")
DEFAULT_FOLDERS = ("inbox", "archive", "outbox")
START_TIMEOUT = 15.0

_LIVE: set[SshdServer] = set()
try:  # resolved in the parent: the child must not dlopen() between fork and exec
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not glibc
    _PRCTL = None
_LIVE_LOCK = threading.Lock()


def ensure_sshd_installed() -> str:
    """Return the sshd binary path, installing openssh-server via scripts/ensure_sshd.sh if needed."""
    if os.access(SSHD_BIN, os.X_OK) and shutil.which("ssh-keygen") and os.path.isdir("/run/sshd"):
        return SSHD_BIN
    # installs openssh-server if missing; creates the privilege-separation directory /run/sshd,
    # which apt does not create on a machine without systemd
    proc = subprocess.run(["sh", str(ENSURE_SCRIPT)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not os.access(SSHD_BIN, os.X_OK):
        raise RuntimeError(
            f"sshd is not available and {ENSURE_SCRIPT} failed (rc={proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return SSHD_BIN


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path, kind: str, comment: str) -> None:
    args = ["ssh-keygen", "-q", "-N", "", "-C", comment, "-f", str(path)]
    args += ["-t", "rsa", "-b", "2048", "-m", "PEM"] if kind == "rsa" else ["-t", "ed25519"]
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """Create (root only) an unlocked, shell-less system user for the non-root sshd."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        proc = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            capture_output=True,
            text=True,
        )
        try:  # another test process may have created it concurrently
            pw = pwd.getpwnam(name)
        except KeyError:
            raise RuntimeError(f"useradd {name} failed: {proc.stderr.strip()}") from None
    # useradd leaves the password field '!' (locked); with UsePAM no, sshd then refuses the user.
    locked = True
    with contextlib.suppress(OSError), open("/etc/shadow", encoding="utf-8") as fh:
        for line in fh:
            parts = line.split(":")
            if parts[0] == name:
                locked = parts[1].startswith("!")
                break
    if locked:
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    return pw


def _child_setup(uid_gid: tuple[int, int] | None, pdeathsig: bool) -> None:
    """Runs in the sshd child between fork and exec."""
    if uid_gid is not None:
        os.setgroups([])
        os.setgid(uid_gid[1])
        os.setuid(uid_gid[0])
    # the *thread* that started us counts as the parent: only asked for when started from the main thread
    if pdeathsig and _PRCTL is not None:
        with contextlib.suppress(Exception):
            _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _kill(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class SshdServer:
    """A running (or stopped) test sshd. Attributes are valid once constructed by :func:`start_sshd`.

    host, port, user:        where and as whom to connect
    client_key, client_key_rsa:  private key files (ed25519 / RSA PEM) authorised for ``user``
    host_key_line:           ``"ssh-ed25519 AAAA…"`` — the server's public host key (for pinning)
    known_hosts:             a known_hosts file with ``[127.0.0.1]:port ssh-ed25519 AAAA…``
    root:                    the SFTP start folder on disk (``inbox/``, ``archive/``, ``outbox/`` inside)
    log_path:                sshd's log (stderr, LogLevel VERBOSE)
    """

    def __init__(self, tmp_dir: Path, folders: tuple[str, ...] = DEFAULT_FOLDERS) -> None:
        self.sshd_bin = ensure_sshd_installed()
        self.tmp_dir = Path(tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_fh = None
        self._is_root = os.geteuid() == 0
        if self._is_root:
            pw = _ensure_system_user(SERVER_USER_AS_ROOT)
            self.base = Path(tempfile.mkdtemp(prefix="unipay-sshd-", dir="/tmp"))
            self._own_base = True
        else:
            pw = pwd.getpwuid(os.geteuid())
            self.base = Path(tempfile.mkdtemp(prefix="sshd-", dir=self.tmp_dir))
            self._own_base = False
        self.user = pw.pw_name
        self._uid, self._gid = pw.pw_uid, pw.pw_gid
        self.root = self.base / "root"
        self.etc = self.base / "etc"
        self.log_path = self.base / "sshd.log"
        self.client_key = self.base / "client_ed25519"
        self.client_key_rsa = self.base / "client_rsa"
        self.known_hosts = self.base / "known_hosts"
        self._build(folders)

    # -- setup -------------------------------------------------------------------------------
    def _build(self, folders: tuple[str, ...]) -> None:
        self.etc.mkdir()
        self.root.mkdir()
        for folder in folders:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        _keygen(self.etc / "ssh_host_ed25519_key", "ed25519", "unipay-test-host")
        _keygen(self.client_key, "ed25519", "unipay-test-client")
        _keygen(self.client_key_rsa, "rsa", "unipay-test-client-rsa")
        pub = (self.etc / "ssh_host_ed25519_key.pub").read_text().split()
        self.host_key_line = f"{pub[0]} {pub[1]}"
        (self.etc / "authorized_keys").write_text(
            Path(f"{self.client_key}.pub").read_text() + Path(f"{self.client_key_rsa}.pub").read_text()
        )
        if self._is_root:
            os.chmod(self.base, 0o755)
            for path in [self.base, *self.base.rglob("*")]:
                if path.name.startswith("client_"):
                    continue  # client keys stay root's (the test process reads them)
                os.chown(path, self._uid, self._gid)

    def _write_config(self) -> Path:
        cfg = self.etc / "sshd_config"
        root = str(self.root)
        cfg.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {self.host}",
                    f"HostKey {self.etc / 'ssh_host_ed25519_key'}",
                    f"PidFile {self.base / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.etc / 'authorized_keys'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "HostbasedAuthentication no",
                    "PermitRootLogin no",
                    f"AllowUsers {self.user}",
                    "UsePAM no",
                    "StrictModes no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "AllowAgentForwarding no",
                    "PermitTunnel no",
                    "PermitTTY no",
                    "PrintMotd no",
                    "MaxStartups 50:30:100",
                    "LogLevel VERBOSE",
                    f"Subsystem sftp internal-sftp -d {root}",
                    f"ForceCommand internal-sftp -d {root}",
                    "",
                ]
            )
        )
        if self._is_root:
            os.chown(cfg, self._uid, self._gid)
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {self.host_key_line}\n")
        return cfg

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, port: int | None = None) -> SshdServer:
        """Start sshd (on ``port``, else the previous port, else a free one) and wait until it answers."""
        if self.running:
            return self
        fixed = port or self.port or None
        last_err = ""
        for _ in range(1 if fixed else 5):
            self.port = fixed or _free_port()
            cfg = self._write_config()
            check = subprocess.run([self.sshd_bin, "-t", "-f", str(cfg)], capture_output=True, text=True)
            if check.returncode != 0:
                raise RuntimeError(f"sshd -t rejected {cfg}: {check.stderr.strip()}")
            self._log_fh = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            # drop privileges (when root) and ask for SIGTERM on our death, in the child before exec;
            # PR_SET_PDEATHSIG must come after the uid change (which would clear it)
            uid_gid = (self._uid, self._gid) if self._is_root else None
            on_main = threading.current_thread() is threading.main_thread()
            self._proc = subprocess.Popen(
                [self.sshd_bin, "-D", "-e", "-f", str(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=self._log_fh,
                stderr=self._log_fh,
                start_new_session=True,
                close_fds=True,
                preexec_fn=functools.partial(_child_setup, uid_gid, on_main),
            )
            with _LIVE_LOCK:
                _LIVE.add(self)
            try:
                self._wait_ready()
                return self
            except RuntimeError as exc:
                last_err = str(exc)
                self.stop()
        raise RuntimeError(f"sshd did not start: {last_err}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError(f"sshd exited early; log:\n{self.log_text()[-3000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                    s.settimeout(2.0)
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"sshd not answering on {self.host}:{self.port}; log:\n{self.log_text()[-3000:]}")

    def drop_connections(self) -> int:
        """Kill every per-connection process (clients see a dropped connection); the listener stays up.

        Returns the number of processes killed.
        """
        if not self.running or self._proc is None:
            return 0
        pids = _descendants(self._proc.pid)
        _kill(pids)
        return len(pids)

    def stop(self) -> None:
        """Stop the listener and all its connection processes. Safe to call repeatedly."""
        proc, self._proc = self._proc, None
        if proc is not None:
            children = _descendants(proc.pid)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            _kill(children + _descendants(proc.pid))
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def restart(self) -> SshdServer:
        """Stop and start again on the same port with the same keys (existing connections die)."""
        self.stop()
        return self.start(self.port)

    def close(self) -> None:
        """Stop the server and remove its private folder (when it is not under ``tmp_dir``)."""
        self.stop()
        with contextlib.suppress(OSError):
            shutil.copyfile(self.log_path, self.tmp_dir / "sshd.log")
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> SshdServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers for tests -------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def path(self, rel: str) -> Path:
        """The on-disk path of a server path relative to the SFTP start folder."""
        return self.root / rel

    def mkdir(self, rel: str) -> Path:
        """Create a folder (and parents) under the root, owned by the server user."""
        target = self.root / rel
        missing = [p for p in [target, *target.parents] if not p.exists()]
        target.mkdir(parents=True, exist_ok=True)
        if self._is_root:
            for p in missing:
                os.chown(p, self._uid, self._gid)
        return target

    def write(self, rel: str, data: bytes | str, mtime: float | None = None) -> Path:
        """Put a file on the server (as the partner would), owned by the server user."""
        target = self.root / rel
        if str(Path(rel).parent) != ".":
            self.mkdir(str(Path(rel).parent))
        target.write_bytes(data.encode() if isinstance(data, str) else data)
        if self._is_root:
            os.chown(target, self._uid, self._gid)
        if mtime is not None:
            os.utime(target, (mtime, mtime))
        return target

    def airflow_conn(self, **extra: object) -> str:
        """JSON for an ``AIRFLOW_CONN_<ID>`` variable (conn type sftp, key file, pinned host key)."""
        return json.dumps(
            {
                "conn_type": "sftp",
                "host": self.host,
                "port": self.port,
                "login": self.user,
                "extra": {"key_file": str(self.client_key), "host_key": self.host_key_line, **extra},
            }
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SshdServer {self.user}@{self.host}:{self.port} root={self.root} {state}>"


def start_sshd(tmp_dir: Path | str, folders: tuple[str, ...] = DEFAULT_FOLDERS) -> SshdServer:
    """Build and start a throw-away sshd; use the result as a context manager to stop it.

    If starting fails, everything built so far is removed before the error propagates.
    """
    server = SshdServer(Path(tmp_dir), folders)
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for server in live:
        with contextlib.suppress(Exception):
            server.close()


def _pytest_fixture():  # defined lazily so that importing this module never needs pytest
    import pytest

    @pytest.fixture(scope="session")
    def sshd_server(tmp_path_factory: pytest.TempPathFactory):
        """Session-wide real sshd (see the module docstring). Import it into a conftest.py:
        ``from tests.sshd import sshd_server  # noqa: F401``."""
        with start_sshd(tmp_path_factory.mktemp("sshd")) as server:
            yield server

    return sshd_server


try:
    sshd_server = _pytest_fixture()
except ImportError:  # pragma: no cover - pytest is not installed
    pass
