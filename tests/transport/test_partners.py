"""Partner profiles (partners.toml): parsing, validation errors naming the key, transports built from them."""

from __future__ import annotations

import dataclasses
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.partners import PartnerConfigError, PartnerProfile, load_partners, parse_partners
from connectors.transport import (
    LocalTransport,
    RetryPolicy,
    SftpTransport,
    TransportConfigError,
    transport_for_partner,
)
from tests.sshd import SshdServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:paramiko")
EXAMPLE = Path(__file__).resolve().parents[2] / "partners.example.toml"


def write(tmp_path: Path, text: str, name: str = "partners.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


MINIMAL = """
[partners.KVPL]
kind = "legacy"
[partners.KVPL.local]
root = "exchange/kvpl"
"""


def test_example_file_is_valid_and_complete() -> None:
    cfg = load_partners(EXAMPLE)
    assert list(cfg.partners) == ["SBER", "POST_390000", "SZN_0612", "KVPL"]
    sber = cfg["SBER"]
    assert (sber.kind, sber.format, sber.transport, sber.encoding) == (
        "bank",
        "bank",
        "sftp",
        "cp1251",
    )
    assert sber.markers_required and sber.marker_suffix == ".done" and sber.settle_seconds == 10
    assert sber.agent_commission_rate == Decimal("0.01") and sber.center_fee_rate == Decimal("0.015")
    assert sber.debts_variant == "gorod" and sber.sender == "BANK:8606"
    assert sber.folders.inbox == "from_bank" and sber.folders.archive == "from_bank/archive"
    assert sber.sftp is not None and sber.sftp.host == "sftp.sberbank.example" and sber.sftp.port == 22
    assert sber.sftp.host_key and sber.sftp.host_key.startswith("ssh-ed25519 ")
    assert sber.airflow_conn_id == "sber" and sber.airflow_env_var == "AIRFLOW_CONN_SBER"

    post = cfg["POST_390000"]
    assert (post.format, post.encoding, post.markers_required) == ("post", "cp866", False)
    assert post.sftp is not None and post.sftp.known_hosts == "keys/known_hosts" and post.sftp.port == 2222
    assert post.debts_variant is None and post.airflow_conn_id == "post_390000"
    assert post.folders.inbox == "inbox" and post.settle_seconds == 30  # folders from [defaults.folders]

    szn = cfg["SZN_0612"]
    assert (szn.format, szn.encoding, szn.transport, szn.local_root) == (
        "szn",
        "utf-8",
        "local",
        "var/exchange/SZN_0612",
    )
    kvpl = cfg["KVPL"]
    assert (kvpl.kind, kvpl.format, kvpl.encoding) == ("legacy", "legacy", "cp866")
    assert (kvpl.folders.inbox, kvpl.folders.archive, kvpl.folders.outbox) == ("in", "done", "reports")
    assert [p.code for p in cfg.by_kind("bank")] == ["SBER"] and len(cfg.enabled()) == 4
    assert "SBER" in cfg and cfg.get("NOPE") is None
    with pytest.raises(KeyError, match="NOPE"):
        cfg["NOPE"]


def test_defaults_by_kind(tmp_path: Path) -> None:
    p = load_partners(write(tmp_path, MINIMAL))["KVPL"]
    assert isinstance(p, PartnerProfile)
    assert (p.format, p.encoding, p.transport, p.sender) == ("legacy", "cp866", "local", "KVPL")
    assert p.agent_commission_rate == Decimal(0) and p.settle_seconds == 5.0 and not p.markers_required
    assert p.base_dir == tmp_path


@pytest.mark.parametrize(
    ("snippet", "key", "words"),
    [
        ('kind = "bnk"', "partners.X.kind", "допустимо: bank, post, szn, legacy"),
        ('kind = "bank"\nformat = "csv"', "partners.X.format", "допустимо: bank, post, szn, legacy"),
        ('kind = "bank"\ncenter_fee_rate = "1.5"', "partners.X.center_fee_rate", "от 0 до 1"),
        ('kind = "bank"\nagent_commission_rate = "abc"', "partners.X.agent_commission_rate", "не число"),
        ('kind = "bank"\nencoding = "cp9999"', "partners.X.encoding", "неизвестная кодировка"),
        ('kind = "post"\ndebts_variant = "sber_s5"', "partners.X.debts_variant", "только для банков"),
        ('kind = "bank"\ndebts_variant = "vtb"', "partners.X.debts_variant", "gorod"),
        ('kind = "bank"\nmarkers_required = "yes"', "partners.X.markers_required", "true или false"),
        ('kind = "bank"\nsettle_seconds = -1', "partners.X.settle_seconds", "секунд"),
        ('kind = "bank"\ncomission = "0.01"', "partners.X.comission", "неизвестный ключ"),
        ('kind = "bank"\nfolders = { inbx = "in" }', "partners.X.folders.inbx", "неизвестный ключ"),
        ('kind = "bank"\nfolders = { inbox = "../etc" }', "partners.X.folders.inbox", "'..'"),
        ('kind = "bank"\nmarker_suffix = "done"', "partners.X.marker_suffix", ".done"),
        ('kind = "bank"\ntransport = "ftp"', "partners.X.transport", "local, sftp"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, snippet: str, key: str, words: str) -> None:
    text = f"[partners.X]\n{snippet}\n[partners.X.local]\nroot = 'x'\n"
    path = write(tmp_path, text)
    with pytest.raises(PartnerConfigError) as info:
        load_partners(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}:"), msg
    assert words in msg


SFTP_PARTNER = """
[partners.BANK2]
kind = "bank"
transport = "sftp"
[partners.BANK2.sftp]
host = "h"
user = "u"
key_file = "k"
"""


def test_sftp_endpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(
        PartnerConfigError, match=r"partners\.BANK2\.sftp\.host_key: ключ сервера не закреплён"
    ):
        load_partners(write(tmp_path, SFTP_PARTNER))
    with pytest.raises(PartnerConfigError, match=r"partners\.BANK2\.sftp\.host_key: Не удалось разобрать"):
        load_partners(write(tmp_path, SFTP_PARTNER + 'host_key = "ssh-ed25519 AAAA"\n'))
    with pytest.raises(PartnerConfigError, match=r"partners\.BANK2\.sftp\.port: некорректный порт"):
        load_partners(write(tmp_path, SFTP_PARTNER + 'known_hosts = "kh"\nport = 70000\n'))
    no_user = SFTP_PARTNER.replace('user = "u"\n', "") + 'known_hosts = "kh"\n'
    with pytest.raises(PartnerConfigError, match=r"partners\.BANK2\.sftp\.user: обязательный ключ"):
        load_partners(write(tmp_path, no_user))


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(PartnerConfigError, match="ошибка синтаксиса TOML"):
        load_partners(write(tmp_path, "[partners.X\nkind = 1"))
    with pytest.raises(PartnerConfigError, match="не удаётся прочитать"):
        load_partners(tmp_path / "missing.toml")
    with pytest.raises(PartnerConfigError, match="partners: не описано ни одного партнёра"):
        load_partners(write(tmp_path, "version = 1\n"))
    with pytest.raises(PartnerConfigError, match="version"):
        load_partners(write(tmp_path, "version = 2\n" + MINIMAL))
    with pytest.raises(PartnerConfigError, match=r"partners\.bad_code: код партнёра"):
        parse_partners({"partners": {"bad_code": {"kind": "bank"}}})
    with pytest.raises(PartnerConfigError, match=r"defaults\.kind: неизвестный ключ"):
        parse_partners({"defaults": {"kind": "bank"}, "partners": {}})
    dup = (
        MINIMAL + '\n[partners.KVPL2]\nkind = "legacy"\nsender = "KVPL"\n[partners.KVPL2.local]\nroot = "y"\n'
    )
    with pytest.raises(PartnerConfigError, match=r"partners\.KVPL2\.sender: .*уже занят партнёром KVPL"):
        load_partners(write(tmp_path, dup))
    with pytest.raises(PartnerConfigError, match=r"partners\.X\.local\.root"):
        parse_partners({"partners": {"X": {"kind": "bank"}}})


def test_local_transport_for_partner(tmp_path: Path) -> None:
    cfg = load_partners(write(tmp_path, MINIMAL))
    t = transport_for_partner(cfg["KVPL"])
    assert isinstance(t, LocalTransport) and t.root == tmp_path / "exchange" / "kvpl"
    p = cfg["KVPL"]
    with t:
        t.upload_bytes(b"dbf", p.folders.inbox, "LEGACY_KVPL_202503.zip")
        t.upload_bytes(b"", p.folders.inbox, "LEGACY_KVPL_202503.zip.done")
        ready = t.ready_files(
            p.folders.inbox, dataclasses.replace(p, settle_seconds=0.0, markers_required=True)
        )
        assert [f.name for f in ready] == ["LEGACY_KVPL_202503.zip"]
        assert t.move(ready[0].name, p.folders.inbox, p.folders.archive) == "archive/LEGACY_KVPL_202503.zip"


def _sftp_partner_toml(server: SshdServer, tmp_path: Path) -> Path:
    return write(
        tmp_path,
        f"""
        [partners.SBER]
        kind = "bank"
        transport = "sftp"
        markers_required = true
        settle_seconds = 0
        [partners.SBER.folders]
        inbox = "sber_in"
        [partners.SBER.sftp]
        host = "{server.host}"
        port = {server.port}
        user = "{server.user}"
        key_file = "{server.client_key}"
        host_key = "{server.host_key_line}"
        """,
    )


def test_sftp_transport_for_partner_from_profile(sshd: SshdServer, tmp_path: Path) -> None:
    sber = load_partners(_sftp_partner_toml(sshd, tmp_path))["SBER"]
    sshd.write("sber_in/reg_001.txt", b"=0;0,00;0,00;0,00;1;14-03-2025;")
    sshd.write("sber_in/reg_001.txt.done", b"")
    sshd.write("sber_in/reg_002.txt", b"still without marker")
    t = transport_for_partner(sber, retry=RetryPolicy(attempts=2, initial_delay=0.01))
    assert isinstance(t, SftpTransport)
    with t:
        ready = t.ready_files(sber.folders.inbox, sber)
        assert [f.name for f in ready] == ["reg_001.txt"]
        assert t.move("reg_001.txt", sber.folders.inbox, sber.folders.archive) == "archive/reg_001.txt"
    assert sshd.path("archive/reg_001.txt.done").exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sftp_transport_for_partner_from_airflow(
    sshd: SshdServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    import os

    if "AIRFLOW_HOME" not in os.environ:
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    cfg = load_partners(
        write(tmp_path, 'version = 1\n[partners.SZN_TEST]\nkind = "szn"\ntransport = "sftp"\n')
    )
    profile = cfg["SZN_TEST"]
    with pytest.raises(TransportConfigError, match="sftp endpoint missing"):
        transport_for_partner(profile)
    monkeypatch.setenv(profile.airflow_env_var, sshd.airflow_conn())
    with transport_for_partner(profile, use_airflow=True) as t:
        assert t.exists(profile.folders.inbox)
