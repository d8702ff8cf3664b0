"""Legacy DBF set (spec section 5): sample, writer round trip, Decimal exactness, zip safety, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile
from decimal import Decimal

import pytest
from dbfread import DBF, FieldParser

from connectors.formats import legacy_dbf as L
from connectors.formats.common import Period
from tests.formats.helpers import LEGACY_SAMPLE, codes, sample_bytes, sample_path

SAMPLE = sample_bytes(LEGACY_SAMPLE)


def parse(data: bytes, **kw) -> tuple[list[L.LegacyRecord], L.LegacyFile]:  # type: ignore[no-untyped-def]
    result = L.parse(data, "legacy.zip", **kw)
    return list(result), result


def by_table(recs: list[L.LegacyRecord]) -> dict[str, list[L.LegacyRecord]]:
    out: dict[str, list[L.LegacyRecord]] = {"KART": [], "PROPIS": [], "SCHET": [], "SALDO": []}
    for r in recs:
        out[r.table].append(r)
    return out


SAMPLE_RECS = by_table(list(L.parse(sample_path(LEGACY_SAMPLE))))


def build(**tables) -> bytes:  # type: ignore[no-untyped-def]
    """A set made of the sample's tables with some replaced (ITOG recomputed by the writer)."""
    rows = {k.lower(): v for k, v in SAMPLE_RECS.items()}
    rows.update({k.lower(): v for k, v in tables.items()})
    out = io.BytesIO()
    L.write_set(
        out,
        kart=rows["kart"],
        propis=rows["propis"],
        schet=rows["schet"],
        saldo=rows["saldo"],
        header_date=dt.date(2025, 3, 31),
    )
    return out.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def dbf(fields, rows, *, language_driver: int = 0x26, encoding: str = "cp866") -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    w = L.DbfWriter(
        buf, fields, language_driver=language_driver, encoding=encoding, header_date=dt.date(2025, 3, 1)
    )
    for r in rows:
        w.add(r)
    w.close()
    return buf.getvalue()


def kart_rows() -> list[dict]:
    return [L._record_values(r) for r in SAMPLE_RECS["KART"]]


# --------------------------------------------------------------------------------------------- sample


def test_sample_values() -> None:
    recs, result = parse(SAMPLE)
    assert result.ok and not result.line_errors and not result.warnings, result.problems
    assert result.counts == {"ITOG": 4, "KART": 2, "PROPIS": 5, "SCHET": 2, "SALDO": 2}
    assert result.encodings["KART"] == "cp866" and result.period == Period(2025, 3)
    assert {k: (v.nrec, v.summa) for k, v in result.itog.items()} == {
        "KART": (2, Decimal("105.60")),
        "PROPIS": (5, Decimal("0.00")),
        "SCHET": (2, Decimal("446.12")),
        "SALDO": (2, Decimal("465.91")),
    }
    t = by_table(recs)
    k = t["KART"][0]
    assert (k.ls, k.fio, k.kul, k.ulica, k.nd, k.kw, k.opl, k.ppl, k.kpr, k.psch, k.datn, k.datk) == (
        "1000123456",
        "ИВАНОВ ИВАН ИВАНОВИЧ",
        "0012",
        "ЛЕНИНА",
        "5",
        "12",
        Decimal("44.10"),
        Decimal("28.30"),
        2,
        0,
        dt.date(2001, 4, 15),
        None,
    )
    assert not k.closed and isinstance(k.opl, Decimal)
    p = t["PROPIS"][0]
    assert (p.ls, p.id, p.fam, p.im, p.ot, p.drog, p.pol, p.status, p.dprop, p.dvyb, p.snils) == (
        "1000123456",
        501,
        "ИВАНОВ",
        "ИВАН",
        "ИВАНОВИЧ",
        dt.date(1962, 3, 11),
        "М",
        1,
        dt.date(2001, 4, 15),
        None,
        "112-233-445 95",
    )
    s = t["SCHET"][0]
    assert (s.ls, s.nsch, s.usl, s.tarz, s.dust, s.dpov, s.pok, s.dpok) == (
        "1000123456",
        "0123456",
        "HVS",
        1,
        dt.date(2019, 2, 1),
        dt.date(2025, 2, 1),
        Decimal("345.120"),
        dt.date(2025, 2, 25),
    )
    sa = t["SALDO"][0]
    assert (sa.ls, sa.usl, sa.mg, sa.saldo, sa.peni, sa.amount) == (
        "1000123456",
        "HVS",
        Period(2025, 3),
        46476,
        115,
        46591,
    )
    assert [len(v) for v in t.values()] == [2, 5, 2, 2]


def test_reader_agrees_with_dbfread(tmp_path) -> None:  # type: ignore[no-untyped-def]
    class DecimalParser(FieldParser):
        def parseN(self, field, data):  # type: ignore[no-untyped-def]  # noqa: N802
            text = data.strip().decode("ascii")
            return Decimal(text) if text else None

    for name, data in members(SAMPLE).items():
        if name == "ITOG.DBF":
            continue
        (tmp_path / name).write_bytes(data)
        theirs = [dict(r) for r in DBF(str(tmp_path / name), encoding="cp866", parserclass=DecimalParser)]
        ours = [L._record_values(r) for r in SAMPLE_RECS[name[:-4]]]
        assert len(theirs) == len(ours)
        for t, o in zip(theirs, ours, strict=True):
            for key, value in t.items():
                mine = o[key.lower()]
                if name == "SALDO.DBF" and key in ("SALDO", "PENI"):
                    mine = Decimal(mine)
                if key == "MG":
                    mine = mine if isinstance(mine, str) else mine.yyyymm
                assert (value if value not in ("", None) else None) == (
                    mine if mine not in ("", None) else None
                ) or (value == 0 and mine == 0), (name, key, value, mine)


def test_writer_round_trip_and_dbfread_reads_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = build()
    recs, result = parse(data)
    assert result.ok and not result.warnings
    assert by_table(recs) == SAMPLE_RECS
    assert {k: (v.nrec, v.summa) for k, v in result.itog.items()} == {
        "KART": (2, Decimal("105.60")),
        "PROPIS": (5, Decimal("0.00")),
        "SCHET": (2, Decimal("446.12")),
        "SALDO": (2, Decimal("465.91")),
    }
    (tmp_path / "KART.DBF").write_bytes(members(data)["KART.DBF"])
    rows = list(DBF(str(tmp_path / "KART.DBF"), encoding="cp866"))
    assert (
        rows[0]["FIO"] == "ИВАНОВ ИВАН ИВАНОВИЧ"
        and rows[1]["KPR"] == 3
        and rows[0]["DATN"] == dt.date(2001, 4, 15)
    )


def test_numeric_fields_never_go_through_float() -> None:
    rows = [L.SaldoRecord(f"{i}", "HVS", Period(2025, 3), 10, 20) for i in range(1000)]  # 0.10 + 0.20 each
    rows.append(L.SaldoRecord("big", "HVS", Period(2025, 3), 99_999_999_999, 1))  # 999 999 999,99
    kart = [
        L.KartRecord(r.ls, "", "", "", "", "", "", "", "", Decimal("0.01"), Decimal(0), 0, 0, None, None)
        for r in rows
    ]
    recs, result = parse(build(kart=kart, propis=[], schet=[], saldo=rows))
    assert result.ok, result.file_errors
    exact = sum(r.saldo + r.peni for r in by_table(recs)["SALDO"])
    assert exact == 1000 * 30 + 99_999_999_999 + 1
    assert result.itog["SALDO"].summa == Decimal(exact) / 100
    assert result.itog["KART"].summa == Decimal("10.01")
    float_sum = 0.0  # what a float-converting reader would accumulate
    for _ in range(1000):
        float_sum += 0.10
        float_sum += 0.20
    assert float_sum != 300.0 and Decimal(exact - 99_999_999_999 - 1) / 100 == 300


def test_deleted_records_are_skipped_and_not_counted() -> None:
    kart = kart_rows()
    kart.insert(1, {**kart[0], "LS": "DELETED", "_deleted": True})
    recs, result = parse(build(kart=kart))
    assert result.ok, result.problems
    assert [r.ls for r in by_table(recs)["KART"]] == ["1000123456", "1000123999"]
    assert [r.line_no for r in by_table(recs)["KART"]] == [1, 3]  # physical record numbers
    assert result.counts["KART"] == 2 and result.itog["KART"].nrec == 2


def test_language_drivers() -> None:
    files = members(SAMPLE)
    # 0x00 → cp866 assumed
    for name in list(files):
        files[name] = files[name][:29] + b"\x00" + files[name][30:]
    _, result = parse(rezip(files))
    assert result.ok and result.encodings["KART"] == "cp866"
    # 0xC9 → cp1251
    out = io.BytesIO()
    L.write_set(
        out,
        kart=SAMPLE_RECS["KART"],
        propis=SAMPLE_RECS["PROPIS"],
        schet=SAMPLE_RECS["SCHET"],
        saldo=SAMPLE_RECS["SALDO"],
        encoding="cp1251",
        language_driver=0xC9,
    )
    recs, result = parse(out.getvalue())
    assert result.ok and result.encodings["KART"] == "cp1251"
    assert by_table(recs)["KART"][0].fio == "ИВАНОВ ИВАН ИВАНОВИЧ"
    # anything else is a file error
    files = members(SAMPLE)
    files["KART.DBF"] = files["KART.DBF"][:29] + b"\x57" + files["KART.DBF"][30:]
    _, result = parse(rezip(files))
    assert codes(result.file_errors) == ["F030"]


# --------------------------------------------------------------------------------------------- file errors


def _replace_member(name: str, data: bytes) -> bytes:
    files = members(SAMPLE)
    files[name] = data
    return rezip(files)


def _kart_fields(**changes: L.FieldSpec | None) -> list[L.FieldSpec]:
    out = []
    for f in L.TABLES["KART"]:
        if f.name in changes:
            if changes[f.name] is not None:
                out.append(changes[f.name])
        else:
            out.append(f)
    return out


def _kart_with(fields: list[L.FieldSpec]) -> bytes:
    names = {f.name for f in fields}
    rows = [{k: v for k, v in r.items() if k.upper() in names} for r in kart_rows()]
    return _replace_member("KART.DBF", dbf(fields, rows))


def _drop(name: str) -> bytes:
    files = members(SAMPLE)
    del files[name]
    return rezip(files)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: _drop("SALDO.DBF"), "F027"),
        (lambda: _drop("ITOG.DBF"), "F027"),
        (lambda: _replace_member("KART.DBF", members(SAMPLE)["KART.DBF"][:20]), "F028"),
        (lambda: _replace_member("KART.DBF", b"\x07" + members(SAMPLE)["KART.DBF"][1:]), "F028"),
        (lambda: _replace_member("KART.DBF", members(SAMPLE)["KART.DBF"][:-100]), "F028"),
        (lambda: _kart_with(_kart_fields(KPR=None)), "F029"),
        (lambda: _kart_with(_kart_fields(OPL=L.FieldSpec("OPL", "C", 9))), "F029"),
        (lambda: _kart_with(_kart_fields(FIO=L.FieldSpec("FIO", "C", 50))), "F029"),
        (lambda: _kart_with(_kart_fields(OPL=L.FieldSpec("OPL", "N", 9, 1))), "F029"),
        (
            lambda: _replace_member(
                "ITOG.DBF",
                dbf(
                    L.TABLES["ITOG"],
                    [
                        {"TABL": "KART", "NREC": 3, "SUMMA": Decimal("105.60")},
                        {"TABL": "PROPIS", "NREC": 5, "SUMMA": 0},
                        {"TABL": "SCHET", "NREC": 2, "SUMMA": Decimal("446.12")},
                        {"TABL": "SALDO", "NREC": 2, "SUMMA": Decimal("465.91")},
                    ],
                ),
            ),
            "F010",
        ),
        (
            lambda: _replace_member(
                "ITOG.DBF",
                dbf(
                    L.TABLES["ITOG"],
                    [
                        {"TABL": "KART", "NREC": 2, "SUMMA": Decimal("105.60")},
                        {"TABL": "PROPIS", "NREC": 5, "SUMMA": 0},
                        {"TABL": "SCHET", "NREC": 2, "SUMMA": Decimal("446.12")},
                        {"TABL": "SALDO", "NREC": 2, "SUMMA": Decimal("465.92")},
                    ],
                ),
            ),
            "F010",
        ),
        (
            lambda: _replace_member(
                "ITOG.DBF",
                dbf(
                    L.TABLES["ITOG"],
                    [
                        {"TABL": "KART", "NREC": 2, "SUMMA": Decimal("105.60")},
                        {"TABL": "PROPIS", "NREC": 5, "SUMMA": 0},
                        {"TABL": "SCHET", "NREC": 2, "SUMMA": Decimal("446.12")},
                    ],
                ),
            ),
            "F010",
        ),
        (
            lambda: build(
                saldo=[
                    SAMPLE_RECS["SALDO"][0],
                    dataclasses.replace(SAMPLE_RECS["SALDO"][1], mg=Period(2025, 2)),
                ]
            ),
            "F031",
        ),
        (lambda: b"not a zip at all", "F024"),
    ],
    ids=[
        "no-saldo",
        "no-itog",
        "header-short",
        "version",
        "truncated",
        "field-missing",
        "field-type",
        "narrower",
        "decimals",
        "itog-nrec",
        "itog-summa",
        "itog-row-missing",
        "mixed-mg",
        "not-zip",
    ],
)
def test_file_errors(make, code: str) -> None:  # type: ignore[no-untyped-def]
    _, result = parse(make())
    assert code in codes(result.file_errors), result.file_errors
    assert all(e.message.startswith("Файл «legacy.zip»") for e in result.file_errors)


def test_wider_fields_are_accepted() -> None:
    recs, result = parse(
        _kart_with(_kart_fields(FIO=L.FieldSpec("FIO", "C", 80), OPL=L.FieldSpec("OPL", "N", 12, 3)))
    )
    assert result.ok, result.file_errors
    assert by_table(recs)["KART"][0].opl == Decimal("44.100")


# --------------------------------------------------------------------------------------------- zip safety


@pytest.mark.parametrize(
    "name", ["../KART.DBF", "/tmp/KART.DBF", "a/../../KART.DBF", "C:/KART.DBF", "..\\KART.DBF"]
)
def test_zip_path_traversal_rejected(name: str) -> None:
    files = members(SAMPLE)
    files[name] = files.pop("KART.DBF")
    recs, result = parse(rezip(files))
    assert codes(result.file_errors) == ["F025"] and recs == []


def test_zip_bomb_rejected() -> None:
    files = members(SAMPLE)
    files["PADDING.BIN"] = bytes(5 << 20)  # 5 MiB of zeros compress ~1000:1
    recs, result = parse(rezip(files))
    assert codes(result.file_errors) == ["F026"] and recs == []
    _, result = parse(SAMPLE, limits=L.ZipLimits(max_total_size=1000))
    assert codes(result.file_errors) == ["F026"]


def test_too_many_members_rejected() -> None:
    files = members(SAMPLE)
    files.update({f"X{i}.TXT": b"x" for i in range(40)})
    _, result = parse(rezip(files))
    assert codes(result.file_errors) == ["F026"]


def test_members_in_a_folder_and_lower_case_are_found() -> None:
    files = {f"legacy/{n.lower()}": d for n, d in members(SAMPLE).items()}
    _, result = parse(rezip(files))
    assert result.ok


# --------------------------------------------------------------------------------------------- line errors


def _propis(**changes) -> bytes:  # type: ignore[no-untyped-def]
    rows = [L._record_values(r) for r in SAMPLE_RECS["PROPIS"]]
    rows[0].update(changes)
    return build(propis=rows)


@pytest.mark.parametrize(
    ("data", "table", "code", "field"),
    [
        (
            lambda: build(kart=[dataclasses.replace(SAMPLE_RECS["KART"][0], ls=""), SAMPLE_RECS["KART"][1]]),
            "KART",
            "L011",
            "KART.LS",
        ),
        (lambda: _propis(ls="1000999999"), "PROPIS", "L020", "PROPIS.LS"),
        (lambda: _propis(drog="19621340"), "PROPIS", "L001", "PROPIS.DROG"),
        (lambda: _propis(dvyb=dt.date(2000, 1, 1)), "PROPIS", "L018", "PROPIS.DVYB"),
        (lambda: _propis(status=5), "PROPIS", "L021", "PROPIS.STATUS"),
        (lambda: _propis(id="12a"), "PROPIS", "L013", "PROPIS.ID"),
        (
            lambda: build(
                schet=[dataclasses.replace(SAMPLE_RECS["SCHET"][0], usl="XXX"), SAMPLE_RECS["SCHET"][1]]
            ),
            "SCHET",
            "L022",
            "SCHET.USL",
        ),
        (
            lambda: build(
                saldo=[dataclasses.replace(SAMPLE_RECS["SALDO"][0], ls="42"), SAMPLE_RECS["SALDO"][1]]
            ),
            "SALDO",
            "L020",
            "SALDO.LS",
        ),
    ],
    ids=["kart-empty-ls", "orphan", "bad-date", "dvyb", "status", "numeric", "usl", "saldo-orphan"],
)
def test_line_errors(data, table: str, code: str, field: str) -> None:  # type: ignore[no-untyped-def]
    recs, result = parse(data(), services={"HVS", "GVS"})
    assert result.ok, result.file_errors
    bad = [r for r in by_table(recs)[table] if r.errors]
    assert len(bad) == 1 and [(e.code.code, e.field) for e in bad[0].errors] == [(code, field)]
    assert bad[0].errors[0].line_no == 1 and "строка 1" in bad[0].errors[0].message


def test_repeated_ls_in_kart() -> None:
    k = SAMPLE_RECS["KART"]
    recs, result = parse(build(kart=[k[0], k[1], dataclasses.replace(k[1], kpr=0)]))
    kart = by_table(recs)["KART"]
    assert [codes(r.errors) for r in kart] == [[], [], ["L016"]]


def test_warnings() -> None:
    k = SAMPLE_RECS["KART"]
    propis = [L._record_values(r) for r in SAMPLE_RECS["PROPIS"]]
    propis[1]["snils"] = "112-233-445 96"
    schet = [dataclasses.replace(SAMPLE_RECS["SCHET"][0], nsch=""), SAMPLE_RECS["SCHET"][1]]
    recs, result = parse(build(kart=[dataclasses.replace(k[0], kpr=3), k[1]], propis=propis, schet=schet))
    assert result.ok and not result.line_errors
    assert sorted(codes(result.warnings)) == ["W001", "W002", "W003"]
    kpr = next(w for w in result.warnings if w.code.code == "W001")
    assert kpr.field == "KART.KPR" and "KPR = 3" in kpr.message and "— 2" in kpr.message
