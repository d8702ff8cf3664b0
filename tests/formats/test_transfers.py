"""Provider transfer registry (spec section 6.1): sample, writer invariants, parser checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.formats import transfers
from connectors.formats.common import Period
from tests.formats.helpers import PROPERTY, TRANSFER_SAMPLE, codes, sample_bytes, sample_path

LINES = sample_bytes(TRANSFER_SAMPLE).decode("cp1251").split("\r\n")[:-1]
RATE = Decimal("0.01")


def join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("cp1251")


def run(data: bytes) -> tuple[list[transfers.TransferLine], transfers.TransferFile]:
    result = transfers.parse(data, "t.txt")
    return list(result), result


def test_sample_values() -> None:
    result = transfers.parse(sample_path(TRANSFER_SAMPLE))
    recs = list(result)
    assert result.ok and not result.line_errors
    assert result.header == transfers.TransferHeader(
        "6227000292", "40702810400000012345", dt.date(2025, 3, 10), dt.date(2025, 3, 16)
    )
    c = result.control
    assert c is not None
    assert (c.count, c.amount, c.agent_commission, c.center_fee, c.net, c.order_no, c.order_date) == (
        3,
        35403,
        467,
        354,
        34582,
        "1187",
        dt.date(2025, 3, 17),
    )
    a, b, p = recs
    assert (
        a.accepted_on,
        a.account,
        a.period,
        a.service_code,
        a.kind,
        a.amount,
        a.agent_commission,
        a.center_fee,
        a.net,
        a.agent,
        a.source_op_id,
    ) == (
        dt.date(2025, 3, 14),
        "1000123456",
        Period(2025, 2),
        "HVS",
        "01",
        23238,
        465,
        232,
        22541,
        "SBER",
        "179225238746",
    )
    assert b.kind == transfers.KIND_PENALTY and (b.amount, b.agent_commission, b.center_fee, b.net) == (
        115,
        2,
        1,
        112,
    )
    assert p.agent == "POST" and p.agent_commission == 0 and p.source_op_id == "390046-14032025-0000000043"
    # the fee is round half up of amount × 1 %: 232,38 → 2,32; 1,15 → 0,01; 120,50 → 1,21 (half up)
    assert [transfers.center_fee(r.amount, RATE) for r in recs] == [232, 1, 121]


def test_round_trip_is_byte_exact() -> None:
    result = transfers.parse(sample_path(TRANSFER_SAMPLE))
    recs = list(result)
    out = io.BytesIO()
    summary = transfers.write(
        out, result.header, recs, order_no="1187", order_date=dt.date(2025, 3, 17), fee_rate=RATE
    )
    assert out.getvalue() == sample_bytes(TRANSFER_SAMPLE)
    assert summary.count == 3 and summary.sums == {
        "amount": 35403,
        "agent_commission": 467,
        "center_fee": 354,
        "net": 34582,
    }


def test_writer_invariants() -> None:
    result = transfers.parse(sample_path(TRANSFER_SAMPLE))
    recs = list(result)
    header = result.header
    with pytest.raises(ValueError, match="net"):
        transfers.write(
            io.BytesIO(),
            header,
            [dataclasses.replace(recs[0], net=22540)],
            order_no="1",
            order_date=dt.date(2025, 3, 17),
        )
    with pytest.raises(ValueError, match="center fee"):
        bad = dataclasses.replace(recs[0], center_fee=233, net=22540)
        transfers.write(
            io.BytesIO(), header, [bad], order_no="1", order_date=dt.date(2025, 3, 17), fee_rate=RATE
        )
    with pytest.raises(ValueError, match="negative"):
        bad = dataclasses.replace(recs[1], agent_commission=115, net=-1)
        transfers.write(io.BytesIO(), header, [bad], order_no="1", order_date=dt.date(2025, 3, 17))
    with pytest.raises(ValueError, match="kind"):
        transfers.write(
            io.BytesIO(),
            header,
            [dataclasses.replace(recs[0], kind="03")],
            order_no="1",
            order_date=dt.date(2025, 3, 17),
        )
    out = io.BytesIO()
    transfers.write(
        out,
        header,
        [dataclasses.replace(recs[0], fio="ИВАНОВ;ИВАН", service_name="a\r\nb")],
        order_no="1",
        order_date=dt.date(2025, 3, 17),
    )
    back = list(transfers.parse(out.getvalue(), "x.txt"))
    assert back[0].fio == "ИВАНОВ,ИВАН" and back[0].service_name == "a  b"


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (["#PROVIDE 6227000292;1", *LINES[1:]], "F015"),
        ([LINES[0], "#DATES 10.03.2025", *LINES[2:]], "F015"),
        (LINES[:-1], "F006"),
        ([*LINES, LINES[-1]], "F007"),
        ([*LINES, LINES[2]], "F008"),
        ([*LINES[:2], LINES[2] + ";x", *LINES[3:]], "F005"),
        ([*LINES[:-1], LINES[-1].replace("=3;", "=2;")], "F010"),
        ([*LINES[:-1], LINES[-1].replace("345,82", "345,81")], "F010"),
        ([*LINES[:-1], LINES[-1].replace("17.03.2025", "17-03-2025")], "F009"),
    ],
    ids=[
        "provider",
        "dates",
        "no-control",
        "two-controls",
        "after-control",
        "fields",
        "count",
        "sum",
        "control",
    ],
)
def test_file_errors(lines: list[str], code: str) -> None:
    _, result = run(join(lines))
    assert code in codes(result.file_errors), result.file_errors


@pytest.mark.parametrize(
    ("old", "new", "code", "field"),
    [
        (";225,41;", ";225,40;", "L009", "К перечислению"),
        (";01;232,38", ";03;232,38", "L015", "Вид суммы"),
        ("14.03.2025;1000123456", "14.13.2025;1000123456", "L001", "Дата приёма"),
        (";022025;", ";132025;", "L005", "Период"),
    ],
)
def test_line_errors(old: str, new: str, code: str, field: str) -> None:
    lines = list(LINES)
    lines[2] = lines[2].replace(old, new)
    recs, result = run(join(lines))
    assert [(e.code.code, e.field) for e in recs[0].errors] == [(code, field)]


_TEXT = st.text(alphabet=st.sampled_from("АБВГДЕЁЖЗабвгдеёжз №.,-0123456789ABCabc"), max_size=30)


@st.composite
def transfer_lines(draw: st.DrawFn) -> transfers.TransferLine:
    amount = draw(st.integers(0, 10**10))
    fee = transfers.center_fee(amount, RATE)
    commission = draw(st.integers(0, amount - fee))
    return transfers.TransferLine(
        draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 1, 1))),
        draw(st.from_regex(r"[0-9]{1,20}", fullmatch=True)),
        draw(_TEXT),
        draw(_TEXT),
        Period(draw(st.integers(2000, 2099)), draw(st.integers(1, 12))),
        draw(st.from_regex(r"[A-Z]{1,10}", fullmatch=True)),
        draw(_TEXT),
        draw(st.sampled_from(["01", "02"])),
        amount,
        commission,
        fee,
        amount - commission - fee,
        draw(st.sampled_from(["SBER", "POST"])),
        draw(st.from_regex(r"[0-9-]{1,40}", fullmatch=True)),
    )


@PROPERTY
@given(st.lists(transfer_lines(), max_size=10))
def test_property_round_trip(lines: list[transfers.TransferLine]) -> None:
    header = transfers.TransferHeader(
        "6227000292", "40702810400000012345", dt.date(2025, 3, 10), dt.date(2025, 3, 16)
    )
    out = io.BytesIO()
    transfers.write(out, header, lines, order_no="7", order_date=dt.date(2025, 3, 17), fee_rate=RATE)
    result = transfers.parse(out.getvalue(), "x.txt")
    back = list(result)
    assert result.ok, result.file_errors
    assert back == lines and result.header == header
