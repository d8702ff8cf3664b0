"""Fuzzing the inbound readers with hypothesis: valid sample files (bank, post, social-protection XML,
legacy DBF zip) mutated by byte flips, truncation, inserted separators and line ends, huge numbers and
a wrong encoding. Parsing must end with clean validation results (file and line problems with Russian
messages), never an exception; loading through ``ingest_file`` must never leave a partial load: either
the file is rejected (or a duplicate) and nothing but its rejection record is written, or its accepted
lines are all in the store and the money adds up. Loading runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select

from connectors.formats import bank, legacy_dbf, post, szn
from connectors.formats.common import Problem
from hub.ingest import ingest_file
from hub.store import models as m
from tests.ingest.helpers import BANK, DATA, LEGACY, POST, SZN_BEN, TODAY

CENTER_INN = "6234000011"
SAMPLES = {"bank": BANK, "post": POST, "szn": SZN_BEN, "legacy": LEGACY}
ENCODINGS = {"bank": "cp1251", "post": "cp866", "szn": "utf-8", "legacy": "cp866"}
SEPARATORS = [
    b";",
    b";;",
    b"\r\n",
    b"\n",
    b"\r",
    b"=",
    b"\x00",
    b"\t",
    b"<",
    b"</x>",
    b"&",
    b",",
    b".",
    b"-",
    b" ",
]
HUGE = [b"9" * 40, b"99999999999999999,99", b"-1", b"1e308", b"NaN", b"0,001", b"\xd0\xb9" * 3]
PARSE = settings(database=None, deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
LOAD = settings(
    database=None,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def sample(kind: str) -> bytes:
    return (DATA / SAMPLES[kind]).read_bytes()


@st.composite
def mutated(draw: st.DrawFn, data: bytes, encoding: str) -> bytes:
    """``data`` with 1–4 mutations."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "huge", "encoding", "swap"]))
        at = draw(st.integers(0, max(0, len(out) - 1)))
        if op == "flip" and out:
            out[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del out[at:]
        elif op == "insert":
            out[at:at] = draw(st.sampled_from(SEPARATORS))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 40))]
        elif op == "huge":
            digits = [mt.span() for mt in re.finditer(rb"\d+", bytes(out))]
            if digits:
                a, b = draw(st.sampled_from(digits))
                out[a:b] = draw(st.sampled_from(HUGE))
        elif op == "encoding":
            wrong = draw(
                st.sampled_from(
                    [e for e in ("utf-8", "cp1251", "cp866", "koi8-r", "utf-16") if e != encoding]
                )
            )
            out = bytearray(bytes(out).decode(encoding, errors="replace").encode(wrong, errors="replace"))
        elif op == "swap":
            lines = bytes(out).split(b"\n")
            if len(lines) > 2:
                i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
                out = bytearray(b"\n".join(lines))
    return bytes(out)


@st.composite
def mutated_zip(draw: st.DrawFn, data: bytes) -> bytes:
    """The legacy set with one DBF member mutated and the zip rebuilt (valid CRCs), or the raw zip bytes
    mutated."""
    if draw(st.booleans()):
        return draw(mutated(data, "latin-1"))
    src = zipfile.ZipFile(io.BytesIO(data))
    names = [i.filename for i in src.infolist()]
    victim = draw(st.sampled_from(names))
    drop = draw(st.integers(0, 9)) == 0
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in names:
            body = src.read(name)
            if name == victim:
                if drop:
                    continue
                body = draw(mutated(body, "cp866"))
            dst.writestr(name, body)
    return buf.getvalue()


def mutations(kind: str) -> st.SearchStrategy[bytes]:
    data = sample(kind)
    return mutated_zip(data) if kind == "legacy" else mutated(data, ENCODINGS[kind])


PARSERS: dict[str, Callable[[bytes], Any]] = {
    "bank": lambda b: bank.parse(b, BANK, today=TODAY),
    "post": lambda b: post.parse(b, POST, center_inn=CENTER_INN),
    "szn": lambda b: szn.parse(b, SZN_BEN, today=TODAY),
    "legacy": lambda b: legacy_dbf.parse(b, LEGACY),
}


def check_problems(problems: list[Problem], name: str) -> None:
    for p in problems:
        msg = p.message
        assert msg.startswith(f"Файл «{name}»"), msg
        assert CYRILLIC.search(p.code.title), p.code
        assert p.code.title in msg, msg


def _parse_clean(kind: str, data: bytes) -> None:
    parsed = PARSERS[kind](data)
    records = list(parsed)  # must not raise
    assert parsed.finished
    check_problems(list(parsed.problems), SAMPLES[kind])
    if parsed.file_errors:
        return
    for rec in records:
        assert rec.ok == (not rec.errors)


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_samples_are_clean(kind: str) -> None:
    parsed = PARSERS[kind](sample(kind))
    parsed.consume()
    assert not parsed.file_errors


@PARSE
@given(data=mutations("bank"))
def test_fuzz_parse_bank(data: bytes) -> None:
    _parse_clean("bank", data)


@PARSE
@given(data=mutations("post"))
def test_fuzz_parse_post(data: bytes) -> None:
    _parse_clean("post", data)


@PARSE
@given(data=mutations("szn"))
def test_fuzz_parse_szn(data: bytes) -> None:
    _parse_clean("szn", data)


@PARSE
@given(data=mutations("legacy"))
def test_fuzz_parse_legacy(data: bytes) -> None:
    _parse_clean("legacy", data)


# -- through ingest_file ------------------------------------------------------------------------

SNAP_TABLES = (
    m.Payment,
    m.MeterReading,
    m.Beneficiary,
    m.Benefit,
    m.Account,
    m.Person,
    m.Meter,
    m.OpeningDebt,
)


def snap(conn: Any) -> dict[str, int]:
    out = {
        t.__tablename__: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
        for t in SNAP_TABLES
    }
    out["payments_kop"] = int(
        conn.execute(select(func.coalesce(func.sum(m.Payment.amount_kop), 0))).scalar_one()
    )
    out["opening_kop"] = int(
        conn.execute(
            select(func.coalesce(func.sum(m.OpeningDebt.principal_kop + m.OpeningDebt.penalty_kop), 0))
        ).scalar_one()
    )
    return out


def _reset_exchange(engine: Engine) -> None:
    """Forget the payments and registry records of the last example (the city stays)."""
    with engine.begin() as conn:
        conn.execute(delete(m.MeterReading).where(m.MeterReading.registry_file_id.is_not(None)))
        conn.execute(delete(m.Payment))
        conn.execute(delete(m.Benefit))
        conn.execute(delete(m.Beneficiary))
        conn.execute(delete(m.RegistryError))
        conn.execute(delete(m.RegistryFile))


def _load_and_check(engine: Engine, tmp_path: Path, kind: str, data: bytes, *, reset: bool) -> None:
    path = tmp_path / SAMPLES[kind]
    path.write_bytes(data)
    with engine.connect() as conn:
        before = snap(conn)
    r = ingest_file(engine, path, source=kind, center_inn=CENTER_INN, today=TODAY)
    assert r.status in ("loaded", "loaded_with_errors", "rejected", "duplicate")
    with engine.connect() as conn:
        after = snap(conn)
        rf = (
            conn.execute(
                select(m.RegistryFile.__table__).where(m.RegistryFile.id == r.registry_file_id)
            ).one()
            if r.registry_file_id is not None
            else None
        )
        codes = set(
            conn.execute(
                select(m.RegistryError.code).where(m.RegistryError.file_id == r.registry_file_id)
            ).scalars()
        )
        mine = conn.execute(
            select(m.Payment.amount_kop, m.Payment.unidentified).where(
                m.Payment.registry_file_id == r.registry_file_id
            )
        ).all()
    for e in r.errors:
        assert e["message"].startswith("Файл «") and CYRILLIC.search(e["message"]), e
    if r.status in ("rejected", "duplicate"):
        assert after == before, (r.status, r.errors[:3])  # nothing written but the rejection record
        assert r.lines_loaded == 0 and r.amount_loaded_kop == 0 and r.amount_unidentified_kop == 0
    else:
        assert rf is not None and rf.status == r.status
        assert r.lines_total == r.lines_loaded + r.lines_rejected
        assert (rf.lines_loaded, rf.lines_rejected) == (r.lines_loaded, r.lines_rejected)
        assert (rf.amount_loaded_kop, rf.amount_unidentified_kop) == (
            r.amount_loaded_kop,
            r.amount_unidentified_kop,
        )
        if kind in ("bank", "post"):
            assert sum(a for a, u in mine if not u) == r.amount_loaded_kop
            assert sum(a for a, u in mine if u) == r.amount_unidentified_kop
            assert after["payments"] - before["payments"] == len(mine)
            assert (
                after["payments_kop"] - before["payments_kop"]
                == r.amount_loaded_kop + r.amount_unidentified_kop
            )
            if not r.details.get("duplicate_lines") and not codes & {"L007", "L008"}:
                assert r.amount_loaded_kop + r.amount_unidentified_kop == rf.control_sum_kop
        elif kind == "legacy":
            assert after["opening_kop"] - before["opening_kop"] == r.amount_loaded_kop
    if reset:
        _reset_exchange(engine)


@pytest.fixture
def base_store(store: Engine, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A fresh store with the legacy sample migrated into it (accounts for the payment samples)."""
    d = tmp_path_factory.mktemp("base")
    path = d / LEGACY
    path.write_bytes(sample("legacy"))
    assert ingest_file(store, path, today=TODAY).status == "loaded"
    _reset_exchange(store)
    return store


@pytest.mark.parametrize("kind", ["bank", "post", "szn"])
def test_fuzz_ingest_payments_and_lists(
    base_store: Engine, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> None:
    tmp = tmp_path_factory.mktemp(f"fuzz_{kind}")

    @LOAD
    @given(data=mutations(kind))
    def run(data: bytes) -> None:
        _load_and_check(base_store, tmp, kind, data, reset=True)

    _load_and_check(base_store, tmp, kind, sample(kind), reset=True)  # the unmutated file loads
    run()


def test_fuzz_ingest_legacy(store: Engine, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("fuzz_legacy")

    @LOAD
    @given(data=mutations("legacy"))
    def run(data: bytes) -> None:
        _load_and_check(store, tmp, "legacy", data, reset=False)

    run()
