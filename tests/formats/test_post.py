"""Post office fixed-width registry (spec section 3): sample, round trip, file and line errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.formats import post
from connectors.formats.common import Period
from tests.formats.helpers import POST_SAMPLE, PROPERTY, codes, sample_bytes, sample_path

RECORDS = sample_bytes(POST_SAMPLE).decode("cp866").split("\r\n")[:-1]
H, B, P1, P2, P3, E, T = RECORDS


def join(records: list[str]) -> bytes:
    return ("\r\n".join(records) + "\r\n").encode("cp866")


def put(record: str, pos: int, value: str) -> str:
    """Overwrite ``record`` at 1-based position ``pos``."""
    return record[: pos - 1] + value + record[pos - 1 + len(value) :]


def rebuild(records: list[str]) -> bytes:
    """Recompute E and T totals from the P records (so only the intended error remains)."""
    out: list[str] = []
    batch: list[Decimal] = []
    all_sums: list[Decimal] = []
    nb = 0

    def money(text: str) -> Decimal:
        try:
            return Decimal(text)
        except ArithmeticError:
            return Decimal(0)

    for r in records:
        if r.startswith("B"):
            batch = []
            nb += 1
        elif r.startswith("P"):
            batch.append(money(r[160:172]))
            all_sums.append(money(r[160:172]))
        elif r.startswith("E"):
            r = put(r, 8, f"{len(batch):06d}{sum(batch, Decimal(0)):012.2f}")
        elif r.startswith("T"):
            r = put(r, 2, f"{nb:04d}{len(all_sums):08d}{sum(all_sums, Decimal(0)):015.2f}")
        out.append(r)
    return join(out)


def run(data: bytes, **kw) -> tuple[list[post.PostPayment], post.PostFile]:  # type: ignore[no-untyped-def]
    result = post.parse(data, "post.txt", **kw)
    return list(result), result


def test_sample_parses_with_spec_values() -> None:
    result = post.parse(sample_path(POST_SAMPLE), center_inn="6234000011")
    recs = list(result)
    assert result.ok and not result.line_errors and result.finished
    assert result.header == post.PostHeader(
        "390000", dt.date(2025, 3, 15), 1, "6234000011", "40702810900000001234"
    )
    assert result.sender == "POST:390000"
    assert (result.batch_count, result.payment_count, result.total_kop) == (1, 3, 284235)  # 2842,35
    a, b, c = recs
    assert a.batch == post.PostBatch("390046", dt.date(2025, 3, 14), 1)
    assert (a.getd, a.oper, a.typep, a.account, a.period) == (
        dt.date(2025, 3, 14),
        "017",
        "01",
        "1000123456",
        Period(2025, 2),
    )
    assert (a.fio, a.street, a.house, a.flat, a.num1, a.num2, a.amount) == (
        "ИВАНОВ И И",
        "ЛЕНИНА УЛ",
        "5",
        "12",
        41,
        345,
        250000,
    )
    assert b.is_penalty and b.amount == 1235 and b.num2 is None and not a.is_penalty
    assert (c.oper, c.account, c.house, c.flat, c.amount, c.period) == (
        "021",
        "1000124007",
        "10А",
        "",
        33000,
        Period(2025, 1),
    )
    assert c.key == ("390046", dt.date(2025, 3, 14), 43)
    assert c.operation_id == "390046-14032025-0000000043"  # as in the transfer registry sample


def test_round_trip_is_byte_exact() -> None:
    result = post.parse(sample_path(POST_SAMPLE))
    recs = list(result)
    out = io.BytesIO()
    summary = post.write(out, result.header, post.group_batches(recs))
    assert out.getvalue() == sample_bytes(POST_SAMPLE)
    assert (summary.count, summary.total_kop, summary.sums["batches"]) == (3, 284235, 1)


def test_two_batches_and_trailing_empty_line() -> None:
    b2 = put(B, 2, "390047")
    p4 = put(put(P3, 141, "0000000044"), 15, "1000124008")
    e2 = put(E, 2, "390047")
    data = rebuild([H, B, P1, P2, P3, E, b2, p4, e2, T])
    recs, result = run(data + b"\r\n")
    assert result.ok, result.file_errors
    assert [r.batch.ops for r in recs] == ["390046"] * 3 + ["390047"]
    assert result.batch_count == 2


# --------------------------------------------------------------------------------------------- file errors


@pytest.mark.parametrize(
    ("records", "code"),
    [
        ([H, B, P1[:-1], P2, P3, E, T], "F012"),
        ([H, B, P1, P2, P3, E, "X" + T[1:], T], "F013"),
        ([H, P1, B, P2, P3, E, T], "F014"),
        ([H, B, P1, P2, P3, T], "F014"),
        ([H, B, E, T], "F014"),
        ([H, B, P1, P2, P3, E, T, B], "F014"),
        ([B, P1, P2, P3, E, T], "F015"),
        ([H, B, P1, P2, P3, E], "F016"),
        ([H, B, P1, P2, P3, put(E, 8, "000004"), T], "F018"),
        ([H, B, P1, P2, P3, put(E, 14, "000002842.36"), T], "F018"),
        ([H, B, P1, P2, P3, put(E, 2, "390047"), T], "F018"),
        ([H, B, P1, P2, P3, E, put(T, 2, "0002")], "F010"),
        ([H, B, P1, P2, P3, E, put(T, 6, "00000004")], "F010"),
        ([H, B, P1, P2, P3, E, put(T, 14, "000000002842.30")], "F010"),
        ([put(H, 19, "62340000AA"), B, P1, P2, P3, E, T], "F017"),
        ([put(H, 50, "X"), B, P1, P2, P3, E, T], "F017"),
        ([H, B, P1, P2, P3, put(E, 14, "0000002842,35"), T], "F017"),
        ([H, B, put(P1, 45, "\x01"), P2, P3, E, T], "F002"),
        ([], "F003"),
    ],
    ids=[
        "length",
        "type",
        "P-before-B",
        "no-E",
        "empty-batch",
        "after-T",
        "no-H",
        "no-T",
        "E-count",
        "E-sum",
        "E-ops",
        "T-batches",
        "T-count",
        "T-sum",
        "H-inn-format",
        "H-filler",
        "E-format",
        "control-char",
        "empty",
    ],
)
def test_file_errors(records: list[str], code: str) -> None:
    _, result = run(join(records) if records else b"")
    assert code in codes(result.file_errors), result.file_errors
    assert all(e.message.startswith("Файл «post.txt»") for e in result.file_errors)


def test_wrong_recipient_inn() -> None:
    _, result = run(sample_bytes(POST_SAMPLE), center_inn="6234000012")
    assert codes(result.file_errors) == ["F019"]
    _, result = run(sample_bytes(POST_SAMPLE), center_inn="6234000011")
    assert result.ok


# --------------------------------------------------------------------------------------------- line errors


@pytest.mark.parametrize(
    ("p2", "code", "field"),
    [
        (put(P2, 2, "15032025"), "L014", "GETD"),
        (put(P2, 2, "32032025"), "L001", "GETD"),
        (put(P2, 13, "03"), "L015", "TYPEP"),
        (put(P2, 35, "202513"), "L005", "YEAR/MONTH"),
        (put(P2, 35, "202101"), "L006", "YEAR/MONTH"),
        (put(P2, 161, "000000000.00"), "L008", "SUMMA"),
        (put(P2, 15, " " * 20), "L011", "LC"),
        (put(P2, 141, "00000000A2"), "L013", "NUM_1"),
        (put(P2, 151, "12 45     "), "L013", "NUM_2"),
        (put(P2, 141, "0000000041"), "L016", "NUM_1"),
    ],
    ids=[
        "getd-batch",
        "getd",
        "typep",
        "month",
        "period-range",
        "zero",
        "lc",
        "num1",
        "num2",
        "dup",
    ],
)
def test_line_errors(p2: str, code: str, field: str) -> None:
    recs, result = run(rebuild([H, B, P1, p2, P3, E, T]))
    assert result.ok, result.file_errors
    assert recs[0].ok and recs[2].ok
    assert [(e.code.code, e.field) for e in recs[1].errors] == [(code, field)]
    err = recs[1].errors[0]
    assert err.line_no == 4 and "строка 4" in err.message and f"поле «{field}»" in err.message


def test_unparseable_summa_is_a_line_error_and_breaks_totals() -> None:
    recs, result = run(join([H, B, P1, put(P2, 161, "00000012.345"), P3, E, T]))
    assert codes(recs[1].errors) == ["L007"]
    assert codes(result.file_errors) == ["F018", "F010"]


# --------------------------------------------------------------------------------------------- properties

CP866_TEXT = st.text(alphabet=st.sampled_from("АБВГДЕЖЗИКЛМНОПРСТУФЭЮЯабвгдежз0123456789 .-/"), max_size=40)


@st.composite
def registries(
    draw: st.DrawFn,
) -> tuple[post.PostHeader, list[tuple[post.PostBatch, list[post.PostPayment]]]]:
    header = post.PostHeader(
        draw(st.from_regex(r"[0-9]{6}", fullmatch=True)),
        draw(st.dates(dt.date(2020, 1, 1))),
        draw(st.integers(0, 999)),
        "6234000011",
        "40702810900000001234",
    )
    batches = []
    num1 = 0
    for bno in range(1, draw(st.integers(1, 3)) + 1):
        day = draw(st.dates(dt.date(2021, 1, 1), dt.date(2030, 12, 31)))
        batch = post.PostBatch(draw(st.from_regex(r"[0-9]{6}", fullmatch=True)), day, bno)
        pays = []
        for _ in range(draw(st.integers(1, 4))):
            num1 += 1
            pays.append(
                post.PostPayment(
                    batch,
                    day,
                    draw(st.from_regex(r"[0-9]{3}", fullmatch=True)),
                    draw(st.sampled_from(["01", "02"])),
                    draw(st.from_regex(r"[0-9]{1,20}", fullmatch=True)),
                    Period.of(day).add_months(draw(st.integers(-36, 3))),
                    draw(CP866_TEXT)[:40].strip(),
                    draw(CP866_TEXT)[:40].strip(),
                    draw(CP866_TEXT)[:10].strip(),
                    draw(CP866_TEXT)[:10].strip(),
                    num1,
                    draw(st.one_of(st.none(), st.integers(0, 10**10 - 1))),
                    draw(st.integers(1, 2 * 10**10)),
                )
            )
        batches.append((batch, pays))
    return header, batches


@PROPERTY
@given(registries())
def test_property_round_trip(reg) -> None:  # type: ignore[no-untyped-def]
    header, batches = reg
    out = io.BytesIO()
    post.write(out, header, batches)
    result = post.parse(out.getvalue(), "p.txt")
    back = list(result)
    assert result.ok, result.file_errors
    assert result.header == header
    assert back == [p for _, pays in batches for p in pays]
    assert all(r.ok for r in back)
    out2 = io.BytesIO()
    post.write(out2, result.header, post.group_batches(back))
    assert out2.getvalue() == out.getvalue()


def test_writer_is_strict() -> None:
    recs = list(post.parse(sample_path(POST_SAMPLE)))
    bad = dataclasses.replace(recs[0], fio="Я" * 41)
    with pytest.raises(ValueError, match="FIO"):
        post.write(io.BytesIO(), _header(), [(recs[0].batch, [bad])])


def _header() -> post.PostHeader:
    return post.PostHeader("390000", dt.date(2025, 3, 15), 1, "6234000011", "40702810900000001234")
