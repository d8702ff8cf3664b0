"""SFTP-only behaviour against a real OpenSSH sshd: host-key pinning, key auth, retries, Airflow."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.transport import (
    HostKeyError,
    RetryPolicy,
    SftpConfig,
    SftpTransport,
    TransportAuthError,
    TransportConfigError,
    TransportConnectionError,
    fingerprint,
    parse_host_key,
    sftp_config_from_connection,
    sftp_transport_from_airflow,
)
from tests.sshd import SshdServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:paramiko")
MakeConfig = Callable[..., SftpConfig]


def _keypair(tmp_path: Path, name: str, kind: str = "ed25519") -> tuple[Path, str]:
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
    pub = Path(f"{path}.pub").read_text().split()
    return path, f"{pub[0]} {pub[1]}"


# -- host keys ----------------------------------------------------------------------------------


def test_pinned_host_key_string_and_known_hosts_file_work(
    sshd: SshdServer, make_sftp_config: MakeConfig
) -> None:
    sshd.write("inbox/pin.txt", b"ok")
    with SftpTransport(make_sftp_config(sshd)) as t:
        assert "pin.txt" in [f.name for f in t.list("inbox")]
    cfg = make_sftp_config(sshd, host_key=None, known_hosts=str(sshd.known_hosts))
    with SftpTransport(cfg) as t:
        assert t.read_bytes("inbox/pin.txt") == b"ok"


def test_unknown_host_key_is_refused(sshd: SshdServer, make_sftp_config: MakeConfig, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    other = parse_host_key(_keypair(tmp_path, "other_host")[1])
    known_hosts.write_text(f"[{sshd.host}]:{sshd.port + 1} {other.get_name()} {other.get_base64()}\n")
    before = known_hosts.read_text()
    t = SftpTransport(make_sftp_config(sshd, host_key=None, known_hosts=str(known_hosts)))
    started = time.monotonic()
    with pytest.raises(HostKeyError) as info:
        t.open()
    assert time.monotonic() - started < 3  # refused at once, not retried
    msg = str(info.value)
    assert "неизвестен" in msg and "unknown host key" in msg
    # the fingerprint to verify with the partner
    assert fingerprint(parse_host_key(sshd.host_key_line)) in msg
    assert known_hosts.read_text() == before  # nothing was learned
    assert t.connects == 0


def test_wrong_pinned_host_key_is_refused(
    sshd: SshdServer, make_sftp_config: MakeConfig, tmp_path: Path
) -> None:
    _, wrong = _keypair(tmp_path, "impostor")
    t = SftpTransport(make_sftp_config(sshd, host_key=wrong))
    with pytest.raises(HostKeyError) as info:
        t.list("inbox")
    msg = str(info.value)
    assert "НЕ совпадает" in msg and "mismatch" in msg
    assert fingerprint(parse_host_key(wrong)) in msg
    assert fingerprint(parse_host_key(sshd.host_key_line)) in msg
    assert t.connects == 0


def test_pinning_is_mandatory(sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    with pytest.raises(TransportConfigError, match="host_key"):
        make_sftp_config(sshd, host_key=None)
    with pytest.raises(TransportConfigError, match="host_key"):
        make_sftp_config(sshd, host_key="ssh-ed25519 not-base64!")
    with pytest.raises(TransportConfigError, match="key_file"):
        make_sftp_config(sshd, key_file=None)


# -- client keys --------------------------------------------------------------------------------


def test_rsa_key_and_inline_private_key(sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    with SftpTransport(make_sftp_config(sshd, key_file=str(sshd.client_key_rsa))) as t:
        assert t.exists("inbox")
    inline = sshd.client_key.read_text()
    with SftpTransport(make_sftp_config(sshd, key_file=None, private_key=inline)) as t:
        assert t.exists("inbox")


def test_unauthorised_key_is_refused_without_retries(
    sshd: SshdServer, make_sftp_config: MakeConfig, tmp_path: Path
) -> None:
    stranger, _ = _keypair(tmp_path, "stranger")
    t = SftpTransport(make_sftp_config(sshd, key_file=str(stranger)))
    with pytest.raises(TransportAuthError, match="отклонил ключ"):
        t.open()
    t = SftpTransport(make_sftp_config(sshd, key_file=str(tmp_path / "missing_key")))
    with pytest.raises(TransportAuthError, match="не найден"):
        t.open()


def test_remote_root_missing(sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    with pytest.raises(TransportConfigError, match="no_such_root"):
        SftpTransport(make_sftp_config(sshd, root="no_such_root")).open()


# -- retries ------------------------------------------------------------------------------------


def test_connection_dropped_between_operations(own_sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    own_sshd.write("inbox/a.txt", b"a")
    with SftpTransport(make_sftp_config(own_sshd)) as t:
        assert [f.name for f in t.list("inbox")] == ["a.txt"]
        assert own_sshd.drop_connections() > 0
        time.sleep(0.1)
        assert [f.name for f in t.list("inbox")] == ["a.txt"]
        assert t.connects == 2


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_connection_dropped_mid_transfer(
    own_sshd: SshdServer, make_sftp_config: MakeConfig, tmp_path: Path, direction: str
) -> None:
    payload = os.urandom(4 * 1024 * 1024)
    dropped: list[int] = []

    def progress(done: int, total: int) -> None:
        if not dropped and done >= 512 * 1024:
            dropped.append(own_sshd.drop_connections())

    with SftpTransport(make_sftp_config(own_sshd)) as t:
        if direction == "download":
            own_sshd.write("inbox/big.txt", payload)
            assert t.download("inbox/big.txt", tmp_path / "big.txt", progress=progress) == len(payload)
            assert (tmp_path / "big.txt").read_bytes() == payload
        else:
            (tmp_path / "big.txt").write_bytes(payload)
            assert t.upload(tmp_path / "big.txt", "outbox", progress=progress) == "outbox/big.txt"
            assert own_sshd.path("outbox/big.txt").read_bytes() == payload
            assert os.listdir(own_sshd.path("outbox")) == ["big.txt"]  # no temp file left behind
        assert dropped and dropped[0] > 0
        assert t.connects == 2


def test_sshd_restarted_between_operations(own_sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    own_sshd.write("inbox/a.txt", b"a")
    with SftpTransport(make_sftp_config(own_sshd)) as t:
        assert t.exists("inbox/a.txt")
        own_sshd.restart()
        assert t.move("a.txt", "inbox", "archive") == "archive/a.txt"
        assert t.connects == 2
    assert own_sshd.path("archive/a.txt").read_bytes() == b"a"


def test_sshd_down_for_a_while_then_back(own_sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    own_sshd.write("inbox/a.txt", b"a")
    retry = RetryPolicy(attempts=10, initial_delay=0.05, factor=2.0, max_delay=0.4)
    with SftpTransport(make_sftp_config(own_sshd, retry=retry)) as t:
        assert t.exists("inbox/a.txt")
        own_sshd.stop()
        revive = threading.Timer(0.5, own_sshd.start)
        revive.start()
        try:
            assert [f.name for f in t.list("inbox")] == ["a.txt"]  # waits through refused connects
        finally:
            revive.join(10)
        assert t.connects == 2


def test_retries_are_bounded(own_sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    t = SftpTransport(make_sftp_config(own_sshd, retry=RetryPolicy(attempts=3, initial_delay=0.05)))
    t.open()
    own_sshd.stop()
    started = time.monotonic()
    with pytest.raises(TransportConnectionError, match="после 3 попыток"):
        t.list("inbox")
    assert 0.15 <= time.monotonic() - started < 5  # slept 0.05 + 0.10 between the 3 attempts
    t.close()


def test_server_errors_are_not_retried(sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    with SftpTransport(make_sftp_config(sshd)) as t:
        with pytest.raises(FileNotFoundError):
            t.read_bytes("inbox/definitely-missing.txt")
        assert t.connects == 1


def test_rename_fallback_without_posix_rename(sshd: SshdServer, make_sftp_config: MakeConfig) -> None:
    sub = "case_fallback"
    sshd.mkdir(f"{sub}/outbox")
    sshd.write(f"{sub}/outbox/r.txt", b"old")
    with SftpTransport(make_sftp_config(sshd, root=sub, use_posix_rename=False)) as t:
        assert t.upload_bytes(b"new", "outbox", "r.txt") == "outbox/r.txt"
        assert t.upload_bytes(b"fresh", "outbox", "s.txt") == "outbox/s.txt"
    assert sshd.path(f"{sub}/outbox/r.txt").read_bytes() == b"new"
    assert sorted(os.listdir(sshd.path(f"{sub}/outbox"))) == ["r.txt", "s.txt"]


# -- Airflow Connection ------------------------------------------------------------------------


@pytest.fixture
def airflow_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> pytest.MonkeyPatch:
    if "AIRFLOW_HOME" not in os.environ:  # never touch ~/airflow
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return monkeypatch


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_transport_from_airflow_connection_env_var(sshd: SshdServer, airflow_env: pytest.MonkeyPatch) -> None:
    sshd.write("inbox/from_airflow.txt", b"af")
    airflow_env.setenv("AIRFLOW_CONN_UNIPAY_TEST_SBER", sshd.airflow_conn())
    t = sftp_transport_from_airflow("unipay_test_sber", retry=RetryPolicy(attempts=2, initial_delay=0.01))
    assert t.config.host == sshd.host and t.config.port == sshd.port and t.config.user == sshd.user
    assert t.config.retry.attempts == 2
    with t:
        assert "from_airflow.txt" in [f.name for f in t.list("inbox")]
    # inline private key + a remote root in the extras
    sshd.mkdir("af_root/inbox")
    airflow_env.setenv(
        "AIRFLOW_CONN_UNIPAY_TEST_POST",
        sshd.airflow_conn(key_file="", private_key=sshd.client_key.read_text(), root="af_root"),
    )
    with sftp_transport_from_airflow("UNIPAY_TEST_POST") as t2:
        assert t2.list("inbox") == []
        assert t2.config.root == "af_root"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_airflow_connection_without_pinned_key_is_refused(
    sshd: SshdServer, airflow_env: pytest.MonkeyPatch
) -> None:
    airflow_env.setenv(
        "AIRFLOW_CONN_UNIPAY_TEST_LAX",
        sshd.airflow_conn(host_key="", no_host_key_check=True),
    )
    with pytest.raises(TransportConfigError, match="no_host_key_check запрещён"):
        sftp_transport_from_airflow("unipay_test_lax")


def test_config_from_any_connection_like_object(sshd: SshdServer) -> None:
    class Conn:
        conn_id = "x"
        conn_type = "sftp"
        host = sshd.host
        port = sshd.port
        login = sshd.user
        password = None
        extra_dejson = {"key_file": str(sshd.client_key), "host_key": sshd.host_key_line, "conn_timeout": "7"}

    cfg = sftp_config_from_connection(Conn())
    assert cfg.connect_timeout == 7.0 and cfg.port == sshd.port
    Conn.extra_dejson = {"host_key": sshd.host_key_line}
    with pytest.raises(TransportConfigError, match="key authentication only"):
        sftp_config_from_connection(Conn())
    Conn.conn_type = "postgres"
    with pytest.raises(TransportConfigError, match="sftp"):
        sftp_config_from_connection(Conn())
