"""Bank payment registry (spec section 2): sample, round trip, every file/line error, streaming."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.formats import bank
from connectors.formats.common import Period, format_money
from tests.formats.helpers import BANK_SAMPLE, PROPERTY, codes, sample_bytes, sample_path

TODAY = dt.date(2025, 3, 20)


def lines_of(data: bytes) -> list[str]:
    return data.decode("cp1251").split("\r\n")[:-1]


def join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("cp1251")


def with_control(lines: list[str], order: str = "654351;14-03-2025;") -> bytes:
    """Payment lines + a control line recomputed from them (so only the intended error remains)."""

    def dec(s: str) -> Decimal:
        try:
            return Decimal(s.replace(",", "."))
        except ArithmeticError:
            return Decimal(0)

    sums = [sum((dec(x.split(";")[i]) for x in lines), Decimal(0)) for i in (-3, -2, -1)]
    control = "=" + ";".join([str(len(lines)), *(f"{s:.2f}".replace(".", ",") for s in sums)]) + ";" + order
    return join([*lines, control])


def run(data: bytes, today: dt.date = TODAY) -> tuple[list[bank.BankPayment], bank.BankFile]:
    result = bank.parse(data, "bank.txt", today=today)
    return list(result), result


PAYMENTS = lines_of(sample_bytes(BANK_SAMPLE))[:3]
CONTROL = lines_of(sample_bytes(BANK_SAMPLE))[3]


# --------------------------------------------------------------------------------------------- sample


def test_sample_parses_with_spec_values() -> None:
    result = bank.parse(sample_path(BANK_SAMPLE), today=TODAY)
    recs = list(result)
    assert result.finished and result.ok and not result.line_errors and not result.warnings
    assert result.file_name == BANK_SAMPLE
    assert len(recs) == 3 and result.record_count == 3 and result.accepted_count == 3
    assert result.total_kop == 412000 and result.accepted_kop == 412000  # Σ 4120,00
    assert result.sums == {"amount": 412000, "transfer": 403760, "commission": 8240}
    c = result.control
    assert c is not None
    assert (c.count, c.amount, c.transfer, c.commission, c.order_no, c.order_date) == (
        3,
        412000,
        403760,
        8240,
        "654351",
        dt.date(2025, 3, 14),
    )
    assert result.sender == "BANK:8606"
    first, second, third = recs
    assert first.op_date == dt.date(2025, 3, 14) and first.op_time == dt.time(9, 31, 7)
    assert (first.branch, first.cashier, first.op_id, first.account) == (
        "8606/00020",
        "860600020",
        "179225238746",
        "1000123456",
    )
    assert first.payer == "ИВАНОВ ИВАН ИВАНОВИЧ"
    assert first.address == "Г РЯЗАНЬ, УЛ ЛЕНИНА, Д 5, КВ 12"
    assert first.readings == (
        bank.MeterReading("ХВС", "0123456", Decimal("345.120"), 1),
        bank.MeterReading("ГВС", "0654321", Decimal("101.000"), 2),
    )
    assert first.period == Period(2025, 2)
    assert (first.amount, first.transfer, first.commission) == (250000, 245000, 5000)
    assert second.extras == () and second.readings == () and second.amount == 129000
    assert third.extras == ("",) and third.cashier == "SBOL" and third.address == "НД"
    assert third.period == Period(2025, 1) and (third.amount, third.transfer, third.commission) == (
        33000,
        32340,
        660,
    )
    assert [r.line_no for r in recs] == [1, 2, 3] and first.key == "179225238746"


def test_round_trip_is_byte_exact() -> None:
    result = bank.parse(sample_path(BANK_SAMPLE), today=TODAY)
    recs = list(result)
    out = io.BytesIO()
    summary = bank.write(out, recs, order_no=result.control.order_no, order_date=result.control.order_date)
    assert out.getvalue() == sample_bytes(BANK_SAMPLE)
    assert (summary.count, summary.total_kop) == (3, 412000)


def test_writer_builds_extras_from_readings() -> None:
    recs = list(bank.parse(sample_path(BANK_SAMPLE), today=TODAY))
    import dataclasses

    first = dataclasses.replace(recs[0], extras=())
    assert bank.format_line(first) == PAYMENTS[0]


def test_lf_line_ends_and_dot_decimals_accepted() -> None:
    data = sample_bytes(BANK_SAMPLE).replace(b"\r\n", b"\n").replace(b"2500,00", b"2500.00")
    recs, result = run(data)
    assert result.ok and not result.line_errors and recs[0].amount == 250000


def test_split_control_variant() -> None:
    data = join([*PAYMENTS, "=", CONTROL[1:]])
    recs, result = run(data)
    assert result.ok, result.file_errors
    assert result.control is not None and result.control.split and result.control.count == 3
    out = io.BytesIO()
    bank.write(out, recs, order_no="654351", order_date=dt.date(2025, 3, 14), split_control=True)
    assert out.getvalue() == data


def test_split_control_without_trailing_separator_and_integer_money() -> None:
    # S1 test file: "=" alone, then totals without the trailing ";" and a commission of "10"
    lines = [*PAYMENTS]
    data = join([*lines, "=", "3;4120,00;4037,60;82,40;654351;14-03-2025"])
    _, result = run(data)
    assert result.ok


def test_one_trailing_empty_line_tolerated() -> None:
    _, result = run(sample_bytes(BANK_SAMPLE) + b"\r\n")
    assert result.ok
    _, result = run(sample_bytes(BANK_SAMPLE) + b"\r\n\r\n")
    assert codes(result.file_errors) == ["F008"]


def test_extra_fields_anchored_from_both_ends() -> None:
    line = PAYMENTS[1].replace(";0225;", ";;;ХВС-1:1;;0225;")
    recs, result = run(with_control([PAYMENTS[0], line, PAYMENTS[2]]))
    assert result.ok and not result.line_errors
    assert recs[1].extras == ("", "", "ХВС-1:1", "") and recs[1].readings[0].position == 3
    assert recs[1].amount == 129000 and recs[1].period == Period(2025, 2)


def test_three_digit_period() -> None:
    line = PAYMENTS[1].replace(";0225;", ";225;")
    recs, result = run(with_control([PAYMENTS[0], line, PAYMENTS[2]]))
    assert result.ok and not result.line_errors and recs[1].period == Period(2025, 2)


# --------------------------------------------------------------------------------------------- file errors


@pytest.mark.parametrize(
    ("variant", "code"),
    [
        (lambda L, C: join(L).replace("ИВАНОВ".encode("cp1251"), b"\x98", 1) + join([C]), "F001"),
        (lambda L, C: join([L[0].replace("ИВАНОВ", "ИВА\x01НОВ"), *L[1:], C]), "F002"),
        (lambda L, C: join(L), "F006"),
        (lambda L, C: join([*L, C, C]), "F007"),
        (lambda L, C: join([*L, C, L[0]]), "F008"),
        (lambda L, C: join([L[0], "14-03-2025;09-31-07;8606/00020;860600020", *L[1:], C]), "F005"),
        (lambda L, C: join([*L, C.replace("=3;", "=4;")]), "F010"),
        (lambda L, C: join([*L, C.replace("4120,00", "4120,01")]), "F010"),
        (lambda L, C: join([*L, C.replace("4037,60", "4037,00")]), "F010"),
        (lambda L, C: join([*L, C.replace("82,40", "82,41")]), "F010"),
        (lambda L, C: join([*L, C.replace("14-03-2025", "31-02-2025")]), "F009"),
        (lambda L, C: join([*L, C.replace(";654351", "")]), "F009"),
        (lambda L, C: join([*L, "="]), "F009"),
        (lambda L, C: b"", "F003"),
    ],
    ids=[
        "cp1251",
        "control-char",
        "no-control",
        "two-controls",
        "after-control",
        "few-fields",
        "count",
        "sum-amount",
        "sum-transfer",
        "sum-commission",
        "control-date",
        "control-fields",
        "split-no-totals",
        "empty",
    ],
)
def test_file_errors(variant, code: str) -> None:  # type: ignore[no-untyped-def]
    _, result = run(variant(list(PAYMENTS), CONTROL))
    assert result.finished
    assert code in codes(result.file_errors), result.file_errors
    assert not result.ok
    for e in result.file_errors:  # Russian message naming the file
        assert e.message.startswith("Файл «bank.txt»")


def test_duplicate_suip_is_a_file_error() -> None:
    dup = PAYMENTS[1].replace("179224536493", "179225238746")
    _, result = run(with_control([PAYMENTS[0], dup, PAYMENTS[2]]))
    assert codes(result.file_errors) == ["F011"]
    assert "строках 1, 2" in result.file_errors[0].message and "СУИП" in result.file_errors[0].message


def test_encoding_error_names_line() -> None:
    data = (
        join(PAYMENTS[:1])
        + join([PAYMENTS[1]]).replace("ПЕТРОВА".encode("cp1251"), b"\x98")
        + join([PAYMENTS[2], CONTROL])
    )
    _, result = run(data)
    err = next(e for e in result.file_errors if e.code.code == "F001")
    assert err.line_no == 2 and "строка 2" in err.message


# --------------------------------------------------------------------------------------------- line errors


def _replace(i: int, old: str, new: str) -> list[str]:
    lines = list(PAYMENTS)
    assert old in lines[i]
    lines[i] = lines[i].replace(old, new, 1)
    return lines


@pytest.mark.parametrize(
    ("lines", "code", "field"),
    [
        (_replace(1, "14-03-2025;11", "32-03-2025;11"), "L001", "Дата операции"),
        (_replace(1, "11-44-53", "25-44-53"), "L002", "Время операции"),
        (_replace(1, "11-44-53", "11:44:53"), "L002", "Время операции"),
        (_replace(1, "14-03-2025;11", "13-03-2025;11"), None, None),
        (_replace(1, "0225;1290", "1325;1290"), "L005", "Период оплаты"),
        (_replace(1, "0225;1290", "0221;1290"), "L006", "Период оплаты"),
        (_replace(1, "0225;1290", "0725;1290"), "L006", "Период оплаты"),
        (_replace(1, "0225;1290", "0625;1290"), None, None),
        (_replace(1, "1290,00;1264,20;25,80", "0,00;0,00;0,00"), "L008", "Сумма операции"),
        (_replace(1, "1290,00;1264,20", "1290,00;1264,00"), "L009", "Сумма операции"),
        (_replace(1, "1000123999", ""), "L011", "Лицевой счёт"),
        (_replace(1, "179224536493", ""), "L011", "СУИП"),
        (_replace(1, "1000123999", "1" * 21), "L012", "Лицевой счёт"),
        (_replace(1, ";0225;", ";ХВС0123456=5;0225;"), "L010", "Доп. реквизит 1"),
        (_replace(1, ";0225;", ";ХВС-0123456:5,1234567;0225;"), "L010", "Доп. реквизит 1"),
        (_replace(1, ";0225;", ";ХВС-:5;0225;"), "L010", "Доп. реквизит 1"),
        (_replace(1, ";0225;", ";" + "1" * 39 + ":5;0225;"), "L010", "Доп. реквизит 1"),
    ],
    ids=[
        "date",
        "time",
        "time-format",
        "date-ok",
        "month",
        "36-back",
        "3-ahead",
        "ahead-ok",
        "zero",
        "relation",
        "no-account",
        "no-suip",
        "too-long",
        "extra-format",
        "extra-decimals",
        "extra-no-meter",
        "extra-width",
    ],
)
def test_line_errors(lines: list[str], code: str | None, field: str | None) -> None:
    recs, result = run(with_control(lines))
    assert result.ok, result.file_errors  # only the line is rejected
    assert recs[0].ok and recs[2].ok
    if code is None:
        assert recs[1].ok and not result.line_errors
        return
    assert [(e.code.code, e.field) for e in recs[1].errors] == [(code, field)]
    assert result.line_errors == list(recs[1].errors)
    assert result.rejected_count == 1 and result.accepted_kop == result.total_kop - (recs[1].amount or 0)
    e = recs[1].errors[0]
    assert e.line_no == 2 and "строка 2" in e.message and f"поле «{field}»" in e.message
    assert e.source == lines[1]


def test_negative_amounts() -> None:
    recs, result = run(with_control(_replace(1, "1290,00;1264,20;25,80", "-10,00;0,00;0,00")))
    assert codes(recs[1].errors) == ["L008", "L009"] and result.ok
    recs, result = run(with_control(_replace(1, "1290,00;1264,20;25,80", "10,00;10,00;-0,00")))
    assert codes(recs[1].errors) == ["L007"]  # transfer and commission cannot be negative


def test_date_in_future_and_after_order_date() -> None:
    lines = _replace(1, "14-03-2025;11", "15-03-2025;11")
    recs, _ = run(with_control(lines))
    assert codes(recs[1].errors) == ["L004"]  # later than the п/п date 14-03-2025
    recs, _ = run(with_control(lines), today=dt.date(2025, 3, 14))
    assert codes(recs[1].errors) == ["L003"]  # in the future


@pytest.mark.parametrize("amount", ["1290,000", "1 290,00", "1.290,00", "1,29e3", "+1290,00", "1290,00 "])
def test_bad_money_is_a_line_error(amount: str) -> None:
    recs, result = run(join([*_replace(1, "1290,00;", f"{amount};"), CONTROL]))
    assert codes(recs[1].errors) == ["L007"]
    # an unparseable amount cannot be summed: the control totals no longer match
    assert codes(result.file_errors) == ["F010"]


# --------------------------------------------------------------------------------------------- properties

CP1251_CHARS = (
    "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != ";")
    + "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюяЁё№"
)
_text = st.text(alphabet=st.sampled_from(CP1251_CHARS), max_size=30)


@st.composite
def payments(draw: st.DrawFn) -> bank.BankPayment:
    op_date = draw(st.dates(dt.date(2020, 1, 1), dt.date(2025, 3, 14)))
    transfer = draw(st.integers(0, 10**9))
    commission = draw(st.integers(0, 10**6))
    readings = tuple(
        bank.MeterReading(
            draw(st.sampled_from([None, "ХВС", "ГВС", "EL"])),
            draw(st.from_regex(r"[0-9]{1,12}", fullmatch=True)),
            draw(st.decimals(0, 10**6, places=draw(st.integers(0, 6)))),
            i,
        )
        for i in range(1, draw(st.integers(0, 3)) + 1)
    )
    extras = tuple(bank._reading_text(r, ",") for r in readings)
    period = Period.of(op_date).add_months(draw(st.integers(-36, 3)))
    return bank.BankPayment(
        op_date,
        draw(st.times()).replace(microsecond=0),
        draw(_text.map(lambda s: s[:20])),
        draw(_text.map(lambda s: s[:20])),
        draw(st.from_regex(r"[0-9A-Z]{1,32}", fullmatch=True)),
        draw(st.from_regex(r"[0-9]{1,20}", fullmatch=True)),
        draw(_text),
        draw(_text),
        extras,
        readings,
        period,
        transfer + commission,
        transfer,
        commission,
    )


@PROPERTY
@given(st.lists(payments(), min_size=1, max_size=8, unique_by=lambda p: p.op_id), st.sampled_from([",", "."]))
def test_property_round_trip(records: list[bank.BankPayment], sep: str) -> None:
    out = io.BytesIO()
    bank.write(out, records, order_no="77", order_date=dt.date(2025, 3, 14), decimal_sep=sep)
    result = bank.parse(out.getvalue(), "p.txt", today=TODAY)
    back = list(result)
    assert result.ok, result.file_errors
    assert back == records
    if sep == ",":
        out2 = io.BytesIO()
        bank.write(out2, back, order_no="77", order_date=dt.date(2025, 3, 14))
        assert out2.getvalue() == out.getvalue()


# --------------------------------------------------------------------------------------------- streaming


def _write_big(path, n: int) -> int:  # type: ignore[no-untyped-def]
    """A registry of ``n`` payment lines (the three sample lines with fresh СУИПs); returns Σ kopecks."""
    template = PAYMENTS
    amounts = [250000, 129000, 33000]
    transfers = [245000, 126420, 32340]
    total = transfer = 0
    with open(path, "wb") as out:
        chunk = []
        for i in range(n):
            fields = template[i % 3].split(";")
            fields[4] = f"{100000000000 + i}"
            chunk.append(";".join(fields))
            total += amounts[i % 3]
            transfer += transfers[i % 3]
            if len(chunk) == 10_000:
                out.write(("\r\n".join(chunk) + "\r\n").encode("cp1251"))
                chunk = []
        if chunk:
            out.write(("\r\n".join(chunk) + "\r\n").encode("cp1251"))
        money = [format_money(total), format_money(transfer), format_money(total - transfer)]
        out.write(f"={n};{';'.join(money)};1;14-03-2025;\r\n".encode("cp1251"))
    return total


_CHILD = """
import datetime as dt, resource, sys
import numpy  # imported lazily by the duplicate check; load it before the baseline
from connectors.formats import bank
list(bank.parse(sys.argv[2], today=dt.date(2025, 3, 20)))  # warm up imports and caches
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = bank.parse(sys.argv[1], today=dt.date(2025, 3, 20))
n = sum(1 for _ in result)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(n, int(result.ok), len(result.line_errors), result.total_kop, peak - base)
"""


def test_streaming_200k_lines_bounded_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """200,000 lines parse with a bounded peak: the RSS high-water mark of a fresh process grows
    by less than 50 MiB (holding the records would take hundreds of MiB)."""
    n = 200_000
    path = tmp_path / "big.txt"
    total = _write_big(path, n)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(sample_path(BANK_SAMPLE))],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    count, ok, line_errors, total_kop, grown_kib = map(int, proc.stdout.split())
    assert (count, ok, line_errors, total_kop) == (n, 1, 0, total)
    assert grown_kib < 50 * 1024, f"peak RSS grew by {grown_kib / 1024:.1f} MiB"


def test_streaming_tracemalloc_peak(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Python-level allocations stay bounded while streaming (tracemalloc): one block of lines
    (256 KiB) at a time, whatever the size of the file."""
    path = tmp_path / "mid.txt"
    total = _write_big(path, 30_000)
    bank.parse(path, today=TODAY).consume()  # warm up: lazy imports (numpy), regex and date caches
    tracemalloc.start()
    try:
        result = bank.parse(path, today=TODAY)
        count = sum(1 for _ in result)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30_000 and result.ok and result.total_kop == total
    # keeping the 30,000 records would take ~45 MiB
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB"
