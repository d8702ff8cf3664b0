"""Fixtures of the transport tests: a session-wide real sshd and per-test exchange areas.

``area`` is parametrized over both transports (``local`` and ``sftp``) so one test body checks the
same semantics on each. Every SFTP area is a fresh sub-folder of the shared sshd's root, so tests
do not see each other's files. Destructive retry tests use their own server (``own_sshd``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.sshd` must import under plain `pytest` too
    sys.path.insert(0, str(ROOT))

from connectors.transport import LocalTransport, RetryPolicy, SftpConfig, SftpTransport, Transport  # noqa: E402
from tests.sshd import SshdServer, start_sshd  # noqa: E402

FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.02, factor=2.0, max_delay=0.2)
FOLDERS = ("inbox", "archive", "outbox")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    """One real OpenSSH server for the whole session (stopped at the end, also on failures)."""
    with start_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def own_sshd(tmp_path: Path) -> Iterator[SshdServer]:
    """A private server for tests that kill connections or restart sshd."""
    with start_sshd(tmp_path / "own_sshd") as server:
        yield server


def sftp_config(server: SshdServer, root: str = "", **overrides: object) -> SftpConfig:
    """A pinned, key-authenticated config for ``server`` with fast retries."""
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "key_file": str(server.client_key),
        "host_key": server.host_key_line,
        "root": root,
        "retry": FAST_RETRY,
        "connect_timeout": 5.0,
        "op_timeout": 10.0,
    }
    values.update(overrides)
    return SftpConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_sftp_config() -> Callable[..., SftpConfig]:
    """``make_sftp_config(server, root="", **overrides)`` for the tests."""
    return sftp_config


@dataclass
class Area:
    """An exchange area (inbox/archive/outbox) seen through a transport and on disk."""

    kind: str
    disk_root: Path
    make: Callable[[], Transport]
    put: Callable[..., Path]

    def disk(self, rel: str) -> Path:
        return self.disk_root / rel


@pytest.fixture(params=["local", "sftp"])
def area(request: pytest.FixtureRequest, tmp_path: Path) -> Area:
    if request.param == "local":
        root = tmp_path / "exchange"
        for folder in FOLDERS:
            (root / folder).mkdir(parents=True)

        def put_local(rel: str, data: bytes | str, mtime: float | None = None) -> Path:
            import os

            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.encode() if isinstance(data, str) else data)
            if mtime is not None:
                os.utime(target, (mtime, mtime))
            return target

        return Area("local", root, lambda: LocalTransport(root), put_local)

    server: SshdServer = request.getfixturevalue("sshd")
    sub = f"case_{uuid.uuid4().hex[:10]}"
    for folder in FOLDERS:
        server.mkdir(f"{sub}/{folder}")

    def put_sftp(rel: str, data: bytes | str, mtime: float | None = None) -> Path:
        return server.write(f"{sub}/{rel}", data, mtime)

    return Area("sftp", server.root / sub, lambda: SftpTransport(sftp_config(server, sub)), put_sftp)
