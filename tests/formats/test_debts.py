"""Debts file for banks (spec section 6.2): sample, bank profiles, writer invariants."""

from __future__ import annotations

import dataclasses
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.formats import debts
from connectors.formats.common import Period
from tests.formats.helpers import DEBTS_SAMPLE, PROPERTY, codes, sample_bytes, sample_path

LINES = sample_bytes(DEBTS_SAMPLE).decode("cp1251").split("\r\n")[:-1]
PROFILE = dataclasses.replace(debts.DEFAULT_PROFILE, service_code="5258")


def join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("cp1251")


def write(lines, profile=PROFILE) -> tuple[bytes, debts.WriteSummary]:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    summary = debts.write(out, lines, profile)
    return out.getvalue(), summary


def test_sample_values_and_round_trip() -> None:
    result = debts.parse(sample_path(DEBTS_SAMPLE))
    recs = list(result)
    assert result.ok and not result.line_errors
    assert result.header == debts.DebtsHeader(385142, "7", "5258")  # #FILESUM 3851.42
    assert [(r.fio, r.address, r.account, r.balance, r.service, r.period, r.els) for r in recs] == [
        (
            "ИВАНОВ ИВАН ИВАНОВИЧ",
            "Рязань г,Ленина ул,5,12",
            "1000123456",
            296102,
            "ЖКУ",
            Period(2025, 3),
            "62АБ001234",
        ),
        (
            "ПЕТРОВА АННА СЕРГЕЕВНА",
            "Рязань г,Ленина ул,7,3",
            "1000123999",
            0,
            "ЖКУ",
            Period(2025, 3),
            "62АБ001235",
        ),
        ("СИДОРОВ П П", "Рязань г,Победы ул,10А,", "1000124007", 89040, "ЖКУ", Period(2025, 3), ""),
    ]
    data, summary = write(recs)
    assert data == sample_bytes(DEBTS_SAMPLE)
    assert (summary.count, summary.total_kop, summary.skipped) == (3, 385142, 0)


def test_file_name() -> None:
    assert debts.debts_file_name("6234000011", "40702810900000001234", 1, Period(2025, 3)) == DEBTS_SAMPLE


def test_writer_invariants() -> None:
    base = debts.DebtLine(
        "1", "ОЧЕНЬ ДЛИННАЯ ФАМИЛИЯ ИМЯ ОТЧЕСТВО", "Рязань г;Ленина ул,1,1", 1000, period=Period(2025, 3)
    )
    closed_zero = debts.DebtLine("2", "Б", "А", 0, closed=True)
    closed_debt = debts.DebtLine("3", "В", "А", 500, closed=True)
    overpaid = debts.DebtLine("4", "Г", "А", -700)
    open_zero = debts.DebtLine("5", "Д", "А", 0)
    data, summary = write([base, closed_zero, closed_debt, overpaid, open_zero])
    lines = data.decode("cp1251").split("\r\n")
    assert lines[0] == "#FILESUM 15.00"  # 10.00 + 5.00 + 0.00 (overpayment written as 0.00) + 0.00
    body = lines[3:-1]
    assert [x.split(";")[2] for x in body] == ["1", "3", "4", "5"]  # closed without debt left out
    assert body[0].split(";")[0] == "ОЧЕНЬ ДЛИННАЯ ФАМИЛИЯ ИМЯ"  # cut to 25, no ellipsis
    assert body[0].split(";")[1] == "Рязань г,Ленина ул,1,1"  # no ";" inside fields
    assert body[2].split(";")[3] == "0.00"
    assert (summary.count, summary.total_kop, summary.skipped) == (4, 1500, 1)
    negative = dataclasses.replace(PROFILE, allow_negative=True)
    data, summary = write([base, overpaid], negative)
    assert data.decode("cp1251").split("\r\n")[0] == "#FILESUM 3.00" and summary.total_kop == 300
    with pytest.raises(ValueError, match="repeat"):
        write([base, base])


def test_profiles_decimal_comma_encoding_and_s5() -> None:
    recs = list(debts.parse(sample_path(DEBTS_SAMPLE)))
    prof = dataclasses.replace(PROFILE, decimal_sep=",", encoding="koi8_r")
    data, _ = write(recs, prof)
    text = data.decode("koi8_r")
    assert text.startswith("#FILESUM 3851,42\r\n") and "2961,02" in text
    back = debts.parse(data, "x.txt", prof)
    assert list(back) == recs and back.ok
    s5 = [dataclasses.replace(r, fias="a1b2c3,12") for r in recs]
    data, _ = write(s5, debts.SBER_S5_PROFILE)
    first = data.decode("cp1251").split("\r\n")[0]
    assert (
        first == "1000123456;62АБ001234;a1b2c3,12;ИВАНОВ ИВАН ИВАНОВИЧ;Рязань г,Ленина ул,5,12;032025;2961.02"
    )
    # the S5 column "ФИАС,кв" has a comma inside; the field itself cannot hold ";"
    back = debts.parse(data, "s5.txt", debts.SBER_S5_PROFILE)
    assert [r.without_meta() for r in back] == [dataclasses.replace(r, service=None) for r in s5]
    with pytest.raises(ValueError):
        debts.BankProfile(columns=("fio", "balance"))


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([LINES[0].replace("3851.42", "3851.43"), *LINES[1:]], "F010"),
        (["#FILESUM", *LINES[1:]], "F015"),
        ([*LINES[:3], LINES[3] + ";x", *LINES[4:]], "F005"),
        ([*LINES, LINES[3]], "F011"),
    ],
    ids=["filesum", "header", "fields", "duplicate"],
)
def test_file_errors(lines: list[str], code: str) -> None:
    result = debts.parse(join(lines), "d.txt").consume()
    assert code in codes(result.file_errors)


def test_line_error_bad_balance() -> None:
    lines = [
        LINES[0].replace("3851.42", "890.40"),
        *LINES[1:3],
        LINES[3].replace("2961.02", "2961,02"),
        *LINES[4:],
    ]
    result = debts.parse(join(lines), "d.txt")
    recs = list(result)
    assert codes(recs[0].errors) == ["L007"] and result.ok


_TEXT = st.text(alphabet=st.sampled_from("АБВГДЕЁЖЗабвгдеёжз .-0123456789"), max_size=25)


@PROPERTY
@given(
    st.lists(
        st.builds(
            debts.DebtLine,
            st.from_regex(r"[0-9]{1,20}", fullmatch=True),
            _TEXT,
            _TEXT,
            st.integers(0, 10**12),
            st.just("ЖКУ"),
            st.one_of(st.none(), st.builds(Period, st.integers(2000, 2099), st.integers(1, 12))),
            st.from_regex(r"[0-9А-Я]{0,10}", fullmatch=True),
        ),
        max_size=10,
        unique_by=lambda d: d.account,
    )
)
def test_property_round_trip(lines: list[debts.DebtLine]) -> None:
    data, summary = write(lines)
    result = debts.parse(data, "x.txt")
    back = list(result)
    assert result.ok, result.file_errors
    assert back == lines and result.header.filesum == summary.total_kop == sum(d.balance for d in lines)
