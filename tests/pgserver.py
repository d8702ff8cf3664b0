"""A PostgreSQL for the tests: the server named by ``UNIPAY_TEST_PG_URL``, or a private cluster.

- ``UNIPAY_TEST_PG_URL`` set: that server is used; an unreachable server fails the run (never a skip).
  Every test run creates its own databases there (``unipay_t<pid>_<n>``) and drops them at the end.
- unset: Debian's ``postgresql`` is installed if missing, and a private cluster is initialized in a
  temporary folder (as the ``postgres`` user when running as root), started on a free port, and
  stopped and removed when the run ends.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        subprocess.run([str(ROOT / "scripts" / "ensure_debian_packages.sh"), "postgresql"], check=True)
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL server binary {name} not found after installing postgresql")
    return found[-1]


class PgServer:
    """Hands out fresh databases on one PostgreSQL server; cleans everything up in :meth:`stop`."""

    def __init__(self) -> None:
        self.base_url: str
        self._dir: Path | None = None
        self._as_postgres = False
        self._created: list[str] = []
        env_url = os.environ.get("UNIPAY_TEST_PG_URL")
        if env_url:
            self.base_url = env_url.replace("postgresql+psycopg://", "postgresql://")
            try:
                psycopg.connect(self.base_url, connect_timeout=5).close()
            except psycopg.OperationalError as exc:
                raise RuntimeError(f"UNIPAY_TEST_PG_URL={env_url} is unreachable: {exc}") from exc
        else:
            self._start_private()

    def _run(self, args: list[str]) -> None:
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _start_private(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        self._dir = Path(tempfile.mkdtemp(prefix="unipay_pg_"))
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self._dir, "postgres", "postgres")
            os.chmod(self._dir, 0o700)
        data, sock = self._dir / "data", self._dir
        self._run(
            [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        )
        port = _free_port()
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sock} -c fsync=off"
        self._run([pg_ctl, "-D", str(data), "-l", str(self._dir / "pg.log"), "-w", "-o", opts, "start"])
        self._pg_ctl = pg_ctl
        self.base_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"unipay_t{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        head, _, _ = self.base_url.rpartition("/")
        return f"postgresql+psycopg://{head.split('://', 1)[1]}/{name}"

    def stop(self) -> None:
        if self._dir is not None:
            try:
                self._run([self._pg_ctl, "-D", str(self._dir / "data"), "-m", "immediate", "-w", "stop"])
            finally:
                shutil.rmtree(self._dir, ignore_errors=True)
            return
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
