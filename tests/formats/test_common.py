"""Common pieces: money, dates, periods, the problem model, duplicates, protocol, sniffing."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.formats import bank, sniff
from connectors.formats.common import (
    DuplicateTracker,
    FieldValueError,
    FileError,
    LineError,
    Period,
    SourceKind,
    format_money,
    iter_lines,
    parse_date,
    parse_money,
    parse_time,
)
from connectors.formats.protocol import ErrorCode, ErrorKind, parse_protocol, protocol_bytes, protocol_name
from tests.formats.helpers import (
    BANK_SAMPLE,
    DEBTS_SAMPLE,
    LEGACY_SAMPLE,
    POST_SAMPLE,
    PROPERTY,
    SZN_BEN_SAMPLE,
    SZN_CHG_SAMPLE,
    TRANSFER_SAMPLE,
    sample_bytes,
    sample_path,
)


@pytest.mark.parametrize(
    ("text", "kop"),
    [
        ("2500,00", 250000),
        ("2500.00", 250000),
        ("0,01", 1),
        ("10", 1000),
        ("6,6", 660),
        ("000002500.00", 250000),
        ("4120,00", 412000),
    ],
)
def test_parse_money(text: str, kop: int) -> None:
    assert parse_money(text) == kop
    assert isinstance(parse_money(text), int)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "не указана"),
        ("12,345", "более двух знаков"),
        ("1 000,00", "разделители разрядов"),
        ("1.000,00", "разделители разрядов"),
        ("1,000.00", "разделители разрядов"),
        ("1e3", "экспоненциальная"),
        ("2,5E+3", "экспоненциальная"),
        ("+5,00", "ожидается число"),
        ("abc", "ожидается число"),
        ("-5,00", "отрицательная"),
        ("5,", "ожидается число"),
        (",50", "ожидается число"),
        ("١٠,٠٠", "ожидается"),
    ],
)
def test_parse_money_rejects(text: str, why: str) -> None:
    with pytest.raises(FieldValueError) as exc:
        parse_money(text)
    assert exc.value.code is ErrorCode.BAD_AMOUNT and why in exc.value.detail


def test_parse_money_options() -> None:
    assert parse_money("-12,35", allow_negative=True) == -1235
    with pytest.raises(FieldValueError):
        parse_money("12.35", decimal_sep=",")
    assert parse_money("12", decimal_sep=",") == 1200


@PROPERTY
@given(st.integers(-(10**15), 10**15), st.sampled_from([",", "."]))
def test_money_round_trip(kop: int, sep: str) -> None:
    assert parse_money(format_money(kop, sep), allow_negative=True) == kop


def test_format_money() -> None:
    assert format_money(412000) == "4120,00" and format_money(-5, ".") == "-0.05"
    assert format_money(250000, ".", width=12) == "000002500.00"
    with pytest.raises(TypeError):
        format_money(1.5)  # type: ignore[arg-type]


def test_dates_times_periods() -> None:
    assert parse_date("14-03-2025", "DD-MM-YYYY") == dt.date(2025, 3, 14)
    assert parse_date("14.03.2025", "DD.MM.YYYY") == parse_date("20250314", "YYYYMMDD")
    for bad in ("31-02-2025", "1-03-2025", "14/03/2025", "٠١-٠٣-٢٠٢٥"):
        with pytest.raises(FieldValueError):
            parse_date(bad, "DD-MM-YYYY")
    assert parse_time("09-31-07") == dt.time(9, 31, 7)
    for bad in ("24-00-00", "09:31:07", "9-31-07", "09-6a-07"):
        with pytest.raises(FieldValueError) as exc:
            parse_time(bad)
        assert exc.value.code is ErrorCode.BAD_TIME
    assert Period.parse("0225", "MMYY") == Period(2025, 2) == Period.parse("225", "MMYY")
    assert (
        Period.parse("022025", "MMYYYY")
        == Period.parse("202502", "YYYYMM")
        == Period.parse("2025-02", "YYYY-MM")
    )
    assert Period(2025, 2).add_months(-3) == Period(2024, 11) and str(Period(2025, 2)) == "2025-02"
    assert Period(2025, 1).format("MMYY") == "0125" and Period(2025, 1).mmyyyy == "012025"
    assert Period(2025, 3).as_int == 202503 and Period.from_int(202503) == Period(2025, 3)
    for bad in ("1325", "0025", "25", "12345"):
        with pytest.raises(FieldValueError):
            Period.parse(bad, "MMYY")


def test_problem_messages_are_russian_and_name_file_line_field() -> None:
    e = LineError("a.txt", 12, "Сумма операции", ErrorCode.BAD_AMOUNT, "«1,234»: более двух знаков")
    assert (
        e.message
        == "Файл «a.txt», строка 12, поле «Сумма операции»: неверная сумма: «1,234»: более двух знаков"
    )
    assert e.kind is ErrorKind.LINE and not e.is_warning
    f = FileError("a.txt", 0, "", ErrorCode.NO_CONTROL)
    assert f.message == "Файл «a.txt»: нет контрольной строки"
    assert str(f).startswith("[F006]")


def test_error_codes_are_unique_and_russian() -> None:
    values = [c.code for c in ErrorCode]
    assert len(values) == len(set(values))
    for c in ErrorCode:
        assert re.search("[а-яё]", c.title), c
        assert c.code[0] == {"file": "F", "line": "L", "warning": "W"}[c.kind.value]
        assert c.origin in ("parser", "store")


def test_iter_lines() -> None:
    lines = list(iter_lines(io.BytesIO(b"a\r\nb\n\r\nc\r\n\r\n")))
    assert lines == [(1, b"a"), (2, b"b"), (3, b""), (4, b"c")]  # one trailing empty line dropped
    assert list(iter_lines(io.BytesIO(b"x" * 100), max_line=10)) == [(1, None)]


def test_duplicate_tracker() -> None:
    t = DuplicateTracker()
    for i, key in enumerate(["a", "b", "a", "c", "b", "a"], start=1):
        t.add(key, i)
    assert t.duplicates() == [[1, 3, 6], [2, 5]] and len(t) == 6
    assert DuplicateTracker().duplicates() == []


def test_protocol_file() -> None:
    data = sample_bytes(BANK_SAMPLE).decode("cp1251").split("\r\n")
    data[1] = data[1].replace("1290,00;1264,20", "1290,00;1264,00")
    data[3] = data[3].replace("4037,60", "4037,50")  # Σ transfers is 4037,40 now
    result = bank.parse(
        ("\r\n".join(data)).encode("cp1251"), BANK_SAMPLE, today=dt.date(2025, 3, 20)
    ).consume()
    assert protocol_name(BANK_SAMPLE) == BANK_SAMPLE + ".err.txt"
    raw = protocol_bytes(result.problems, accepted_lines=2, accepted_kop=result.accepted_kop)
    rows, summary = parse_protocol(raw)
    assert raw.endswith(b"\r\n") and raw.decode("cp1251")
    assert [(r.line_no, r.field, r.code) for r in rows] == [(0, "", "F010"), (2, "Сумма операции", "L009")]
    assert rows[1].source == data[1]  # the source line (with its ";") is the last column
    assert "строка 2" in rows[1].message and "Файл «" in rows[1].message
    assert (summary.problems, summary.accepted_lines, summary.accepted_kop) == (2, 2, 283000)
    assert raw.decode("cp1251").split("\r\n")[-2] == "=2;2;2830,00"


def test_protocol_store_codes_and_warnings() -> None:
    problems = [
        LineError("b.txt", 1, "Лицевой счёт", ErrorCode.ACCOUNT_UNKNOWN, "1000123456", "src;line"),
        LineError("b.txt", 1, "Доп. реквизит 1", ErrorCode.METER_UNKNOWN, "ПУ 0123456"),
        FileError("b.txt", 0, "", ErrorCode.ALREADY_LOADED),
    ]
    rows, summary = parse_protocol(protocol_bytes(problems, accepted_lines=0, accepted_kop=0))
    assert [r.code for r in rows] == ["L101", "W101", "F101"] and summary.problems == 3
    rows, summary = parse_protocol(
        protocol_bytes(problems, accepted_lines=0, accepted_kop=0, include_warnings=False)
    )
    assert [r.code for r in rows] == ["L101", "F101"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (BANK_SAMPLE, SourceKind.BANK),
        (POST_SAMPLE, SourceKind.POST),
        (SZN_BEN_SAMPLE, SourceKind.SZN),
        (SZN_CHG_SAMPLE, SourceKind.SZN_CHARGES),
        (LEGACY_SAMPLE, SourceKind.LEGACY),
        (TRANSFER_SAMPLE, SourceKind.TRANSFER),
        (DEBTS_SAMPLE, SourceKind.DEBTS),
    ],
)
def test_sniff(name: str, kind: SourceKind) -> None:
    assert sniff(sample_path(name)) is kind  # by content
    assert sniff(sample_bytes(name), "renamed.dat") is kind  # content without a telling name
    from connectors.formats import sniff_name

    assert sniff_name(name) is kind  # by name alone
    stream = io.BytesIO(sample_bytes(name))
    assert sniff(stream, name) is kind and stream.tell() == 0


def test_sniff_falls_back_to_name_and_unknown() -> None:
    assert sniff(b"1000123456;;;\r\n", DEBTS_SAMPLE) is SourceKind.DEBTS  # headerless profile: name decides
    assert sniff(b"hello", "x.txt") is SourceKind.UNKNOWN
    assert sniff(b"PK\x03\x04garbage", "x.zip") is SourceKind.UNKNOWN


def test_parse_any() -> None:
    from connectors.formats import parse_any

    result = parse_any(sample_path(POST_SAMPLE))
    assert len(list(result)) == 3 and result.ok
    with pytest.raises(ValueError):
        parse_any(b"hello", "x.txt")
    from connectors.formats import validate

    checked = validate(sample_path(BANK_SAMPLE), today=dt.date(2025, 3, 20))
    assert checked.finished and checked.ok and checked.record_count == 3 and checked.total_kop == 412000


def test_every_error_code_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    for c in ErrorCode:
        assert f"| {c.code} | `{c.name}` | {c.kind.value} | {c.origin} | {c.title} |" in doc, c
