"""Social protection XML exchange (spec section 4): beneficiaries in, charges out, XML security."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.formats import szn
from connectors.formats.common import Period, snils_checksum, snils_is_valid
from tests.formats.helpers import (
    PROPERTY,
    SZN_BEN_SAMPLE,
    SZN_CHG_SAMPLE,
    codes,
    sample_bytes,
    sample_path,
)

TODAY = dt.date(2025, 3, 20)
BEN = sample_bytes(SZN_BEN_SAMPLE)
CHG = sample_bytes(SZN_CHG_SAMPLE)


def run(data: bytes, **kw) -> tuple[list[szn.Beneficiary], szn.SznBeneficiaryFile]:  # type: ignore[no-untyped-def]
    result = szn.parse(data, "ben.xml", today=TODAY, **kw)
    return list(result), result


# --------------------------------------------------------------------------------------------- 4.1


def test_beneficiaries_sample() -> None:
    result = szn.parse(sample_path(SZN_BEN_SAMPLE), today=TODAY, benefit_codes={"073", "SUB", "051"})
    recs = list(result)
    assert result.ok and not result.line_errors and result.finished
    assert result.header == szn.BeneficiaryHeader(
        "SZN_BEN_0612_202503_001",
        "0612",
        "УСЗН Октябрьского района",
        Period(2025, 3),
        dt.datetime(2025, 3, 3, 10, 15),
        2,
        3,
    )
    a, b = recs
    assert (a.id, a.action, a.snils, a.last_name, a.first_name, a.middle_name, a.birth_date, a.account) == (
        "77001",
        "NEW",
        "112-233-445 95",
        "Иванова",
        "Мария",
        "Петровна",
        dt.date(1948, 5, 17),
        "1000123456",
    )
    assert a.address == szn.Address("г Рязань", "ул Ленина", "5", None, "12", None)
    assert a.benefits == (
        szn.Benefit("073", "EDK", dt.date(2025, 3, 1), None, "Ветеран труда", Decimal("50"), 1),
        szn.Benefit("SUB", "SUBSIDY", dt.date(2025, 1, 1), dt.date(2025, 6, 30)),
    )
    assert (b.id, b.action, b.snils, b.account, b.middle_name) == ("77002", "STOP", None, None, None)
    assert b.benefits == (szn.Benefit("051", "LGOTA", dt.date(2019, 1, 1), dt.date(2025, 2, 28)),)
    assert (a.line_no, b.line_no) == (5, 12)


def test_snils_checksum_rule() -> None:
    assert snils_is_valid("112-233-445 95")  # Σ = 95 → 95
    assert not snils_is_valid("112-233-445 96")
    assert snils_is_valid("900-000-083 00")  # Σ = 100 → 00
    assert snils_is_valid("900-000-084 00")  # Σ = 101 → 00
    assert snils_is_valid("999-999-999 01")  # Σ = 405 → 405 mod 101 = 1
    assert snils_is_valid("106-897-449 00")  # Σ = 201 → mod 101 = 100 → 00
    assert not snils_is_valid("999-999-999 00")
    assert snils_is_valid("001-001-998 77")  # numbers up to 001-001-998 are not checked
    assert not snils_is_valid("001-001-999 77")
    assert not snils_is_valid("11223344595")


@pytest.mark.parametrize(
    ("old", "new", "code", "field"),
    [
        (b"112-233-445 95", b"112-233-445 96", "L017", "Snils"),
        (
            b'dateFrom="2025-01-01" dateTo="2025-06-30"',
            b'dateFrom="2025-01-01" dateTo="2024-12-31"',
            "L018",
            "Benefit/@dateTo",
        ),
        (b"<BirthDate>1948-05-17", b"<BirthDate>2025-03-21", "L003", "BirthDate"),
        (b'code="SUB"', b'code="XYZ"', "L019", "Benefit/@code"),
    ],
    ids=["snils", "date-range", "birth-future", "benefit-code"],
)
def test_beneficiary_line_errors(old: bytes, new: bytes, code: str, field: str) -> None:
    assert old in BEN
    recs, result = run(BEN.replace(old, new), benefit_codes={"073", "SUB", "051"})
    assert result.ok, result.file_errors
    assert [(e.code.code, e.field) for e in recs[0].errors] == [(code, field)]
    assert recs[1].ok
    assert recs[0].errors[0].line_no == 5 and "id 77001" in recs[0].errors[0].message


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (BEN.replace(b"<RecordCount>2", b"<RecordCount>3"), "F010"),
        (BEN.replace(b"<BenefitCount>3", b"<BenefitCount>2"), "F010"),
        (BEN.replace(b'id="77002"', b'id="77001"'), "F011"),
        (BEN.replace(b"<Snils>112-233-445 95", b"<Snils>11223344595"), "F021"),
        (BEN.replace(b'action="STOP"', b'action="DELETE"'), "F021"),
        (BEN.replace(b"<Period>2025-03", b"<Period>2025-13"), "F021"),
        (BEN.replace(b"</Header>", b"</Headr>"), "F020"),
        (BEN[:-40], "F020"),
        (BEN.decode().replace('encoding="UTF-8"', 'encoding="windows-1251"').encode("cp1251"), "F001"),
        (b"", "F003"),
    ],
    ids=[
        "record-count",
        "benefit-count",
        "duplicate-id",
        "xsd-pattern",
        "xsd-enum",
        "xsd-period",
        "malformed",
        "truncated",
        "encoding",
        "empty",
    ],
)
def test_beneficiary_file_errors(data: bytes, code: str) -> None:
    recs, result = run(data)
    assert code in codes(result.file_errors), result.file_errors
    assert recs == []  # nothing is yielded from a rejected XML file
    assert all(e.message.startswith("Файл «ben.xml»") for e in result.file_errors)


def test_schema_error_names_line() -> None:
    _, result = run(BEN.replace(b"<Snils>112-233-445 95", b"<Snils>11223344595"))
    err = result.file_errors[0]
    assert err.line_no == 6 and "строка 6" in err.message


def test_too_large() -> None:
    _, result = run(BEN, max_bytes=100)
    assert codes(result.file_errors) == ["F023"]


# ------------------------------------------------------------------------------ 4.1 writer


def _sample_records() -> tuple[szn.BeneficiaryHeader, list[szn.Beneficiary]]:
    result = szn.parse(BEN, "ben.xml", today=TODAY)
    recs = list(result)
    assert result.ok and result.header is not None
    return result.header, recs


def test_beneficiaries_writer_matches_sample(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Sample → records + header → writer gives the sample back. The records keep everything
    the sample holds (every optional element and attribute it uses: MiddleName, Account, Flat,
    Benefit name/dateTo/sharePercent/coveredPersons; it has no comments or processing
    instructions), so the whole document is compared: C14N-equal, and even byte-equal because the
    writer uses the sample's line layout."""
    header, recs = _sample_records()
    data = szn.beneficiaries_bytes(header, recs)
    assert szn.c14n(data) == szn.c14n(BEN)
    assert data == BEN
    assert szn.schema(szn.BENEFICIARIES_XSD).validate(szn.safe_parse(data))
    path = tmp_path / SZN_BEN_SAMPLE
    summary = szn.write_beneficiaries(str(path), header, iter(recs))
    assert path.read_bytes() == BEN
    assert (summary.count, summary.total_kop, summary.sums) == (2, 0, {"benefits": 3})


_XML_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")) | st.sampled_from("\t\n\r&<>\"' "),
    max_size=12,
)
_S40 = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=40)
_S10 = st.text(st.sampled_from("0123456789АБВабв/- "), max_size=10)
_DAY = st.dates(dt.date(1920, 1, 1), dt.date(2025, 3, 20))


@st.composite
def _snils(draw: st.DrawFn) -> str:
    digits = f"{draw(st.integers(1_001_999, 999_999_999)):09d}"
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]} {snils_checksum(digits):02d}"


@st.composite
def _benefit(draw: st.DrawFn) -> szn.Benefit:
    date_from = draw(_DAY)
    return szn.Benefit(
        draw(_S10),
        draw(st.sampled_from(["LGOTA", "EDK", "SUBSIDY"])),
        date_from,
        draw(st.none() | st.dates(date_from, dt.date(2030, 12, 31))),
        draw(st.none() | _XML_TEXT),
        draw(st.none() | st.decimals(0, 100, places=2) | st.sampled_from([Decimal("50"), Decimal("33.3")])),
        draw(st.none() | st.integers(1, 20)),
    )


@st.composite
def _beneficiary(draw: st.DrawFn, ben_id: str) -> szn.Beneficiary:
    return szn.Beneficiary(
        ben_id,
        draw(st.sampled_from(["NEW", "CHANGE", "STOP"])),
        draw(st.none() | _snils()),
        draw(_S40),
        draw(_S40),
        draw(st.none() | _S40),
        draw(_DAY),
        draw(st.none() | _XML_TEXT),
        szn.Address(
            draw(_S40),
            draw(_S40),
            draw(_S10),
            draw(st.none() | _S10),
            draw(st.none() | _S10),
            draw(st.none() | _S10),
        ),
        tuple(draw(st.lists(_benefit(), min_size=1, max_size=4))),
    )


@st.composite
def _document(draw: st.DrawFn) -> tuple[szn.BeneficiaryHeader, list[szn.Beneficiary]]:
    ids = draw(st.lists(st.text("0123456789", min_size=1, max_size=8), max_size=5, unique=True))
    bens = [draw(_beneficiary(i)) for i in ids]
    tz = draw(st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=3))]))
    header = szn.BeneficiaryHeader(
        draw(_XML_TEXT),
        draw(_S10),
        draw(_XML_TEXT),
        Period(draw(st.integers(2000, 2099)), draw(st.integers(1, 12))),
        draw(st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31))).replace(
            microsecond=0, tzinfo=tz
        ),
        len(bens),
        sum(len(b.benefits) for b in bens),
    )
    return header, bens


@PROPERTY
@given(_document())
def test_beneficiaries_write_parse_round_trip(
    doc: tuple[szn.BeneficiaryHeader, list[szn.Beneficiary]],
) -> None:
    """parse(write(records)) == records: several benefits, optional fields missing or empty,
    text needing escapes (& < > quotes, tab/CR/LF in attributes and elements), time zones."""
    header, bens = doc
    data = szn.beneficiaries_bytes(header, bens)
    result = szn.parse(data, "ben.xml", today=dt.date(2031, 1, 1))
    assert list(result) == bens
    assert result.ok and result.header == header
    assert all(b.ok for b in bens)


def test_beneficiaries_round_trip_varied_records() -> None:
    """A handful of hand-made records (the property test above covers the rest)."""
    header, recs = _sample_records()
    a, b = recs
    varied = [
        a,
        b,
        dataclasses.replace(
            b,
            id="77003",
            action="CHANGE",
            snils="001-001-998 77",  # not checked below 001-001-998
            account="",
            address=szn.Address("п Солотча", "ул Новая", "", "2", "3", "4"),
            benefits=(
                szn.Benefit("1", "LGOTA", dt.date(2025, 1, 1), dt.date(2025, 1, 1), "", Decimal("33.33"), 3),
                szn.Benefit("2", "EDK", dt.date(2025, 2, 1), name="Ветеран & «инвалид» <1>"),
                szn.Benefit("3", "SUBSIDY", dt.date(2025, 3, 1), share_percent=Decimal("100.00")),
            ),
        ),
    ]
    hdr = dataclasses.replace(header, record_count=3, benefit_count=6)
    data = szn.beneficiaries_bytes(hdr, varied)
    result = szn.parse(data, "ben.xml", today=TODAY)
    assert list(result) == varied and result.header == hdr
    assert b"<Building>2</Building><Flat>3</Flat><Room>4</Room>" in data
    assert b'sharePercent="100.00"' in data and b"<Account></Account>" in data
    assert (
        szn.beneficiaries_bytes(dataclasses.replace(hdr, record_count=0, benefit_count=0), []).count(
            b"Beneficiary "
        )
        == 0
    )


def _broken(what: str) -> tuple[szn.BeneficiaryHeader, list[szn.Beneficiary]]:
    header, (a, b) = _sample_records()
    r = dataclasses.replace
    changes = {
        "snils-checksum": lambda: [r(a, snils="112-233-445 96"), b],
        "snils-format": lambda: [r(a, snils="11223344595"), b],
        "empty-last-name": lambda: [a, r(b, last_name="")],
        "empty-settlement": lambda: [a, r(b, address=r(b.address, settlement=""))],
        "missing-birth-date": lambda: [a, r(b, birth_date=None)],
        "bad-action": lambda: [a, r(b, action="DELETE")],
        "bad-kind": lambda: [a, r(b, benefits=(r(b.benefits[0], kind="CASH"),))],
        "date-range": lambda: [a, r(b, benefits=(r(b.benefits[0], date_to=dt.date(2018, 12, 31)),))],
        "no-benefit": lambda: [a, r(b, benefits=())],
        "duplicate-id": lambda: [a, r(b, id="77001")],
        "empty-id": lambda: [a, r(b, id="")],
        "control-char": lambda: [a, r(b, first_name="Пе\x00тр")],
        "long-house": lambda: [a, r(b, address=r(b.address, house="10А корпус 2"))],
    }
    return header, changes[what]()


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("snils-checksum", r"beneficiary 77001: Snils '112-233-445 96' is not a valid СНИЛС"),
        ("snils-format", r"beneficiary 77001: Snils '11223344595' is not a valid СНИЛС"),
        ("empty-last-name", r"XSD-valid: beneficiary 77002: Element 'LastName': \[facet 'minLength'\]"),
        ("empty-settlement", r"beneficiary 77002: Element 'Settlement': \[facet 'minLength'\]"),
        ("missing-birth-date", r"beneficiary 77002: BirthDate: expected date, got None"),
        ("bad-action", r"beneficiary 77002: Element 'Beneficiary', attribute 'action'.*'DELETE'"),
        ("bad-kind", r"beneficiary 77002: Element 'Benefit', attribute 'kind'.*'CASH'"),
        ("date-range", r"beneficiary 77002, benefit 051: dateTo 2018-12-31 is before dateFrom 2019-01-01"),
        ("no-benefit", r"beneficiary 77002: no Benefit"),
        ("duplicate-id", r"beneficiary id '77001' occurs more than once"),
        ("empty-id", r"beneficiary Сидоров Петр: empty id"),
        ("control-char", r"beneficiary 77002: FirstName: character U\+0000 is not allowed in XML"),
        ("long-house", r"beneficiary 77002: Element 'House': \[facet 'maxLength'\]"),
    ],
)
def test_beneficiaries_writer_rejects_invalid_records(tmp_path, what: str, message: str) -> None:  # type: ignore[no-untyped-def]
    header, bens = _broken(what)
    if what == "no-benefit":
        header = dataclasses.replace(header, benefit_count=2)
    with pytest.raises(ValueError, match=message):
        szn.beneficiaries_bytes(header, bens)
    path = tmp_path / "out.xml"
    with pytest.raises(ValueError):
        szn.write_beneficiaries(str(path), header, bens)
    assert not path.exists()  # no broken file is left behind


def test_beneficiaries_writer_checks_header() -> None:
    header, recs = _sample_records()
    with pytest.raises(
        ValueError, match="RecordCount 2, BenefitCount 3; the records hold 1 beneficiaries and 2"
    ):
        szn.beneficiaries_bytes(header, recs[:1])
    with pytest.raises(ValueError, match=r"Header: Element 'SenderCode': \[facet 'maxLength'\]"):
        szn.beneficiaries_bytes(dataclasses.replace(header, sender_code="06120612061"), recs)
    with pytest.raises(ValueError, match="Header/CreatedAt: expected datetime"):
        szn.beneficiaries_bytes(dataclasses.replace(header, created_at=dt.date(2025, 3, 3)), recs)  # type: ignore[arg-type]


XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE BeneficiaryList [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<BeneficiaryList xmlns="urn:unipay:szn:1"><Header><FileId>&xxe;</FileId></Header></BeneficiaryList>
"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<BeneficiaryList xmlns="urn:unipay:szn:1"><Header><FileId>&lol9;</FileId></Header></BeneficiaryList>
"""


@pytest.mark.parametrize(
    "data",
    [
        XXE,
        LAUGHS,
        BEN.replace(
            b"<BeneficiaryList", b'<!DOCTYPE x SYSTEM "http://example.invalid/x.dtd">\n<BeneficiaryList', 1
        ),
    ],
    ids=["xxe", "billion-laughs", "external-dtd"],
)
def test_xml_attacks_are_rejected(data: bytes) -> None:
    recs, result = run(data)
    assert codes(result.file_errors) == ["F022"] and recs == []
    assert "DOCTYPE" in result.file_errors[0].message
    with pytest.raises(szn.XmlRejected):
        szn.safe_parse(data)


def test_entities_are_not_expanded_even_past_the_prefilter() -> None:
    """Second line of defence: lxml itself runs with resolve_entities=False/no_network/load_dtd=False."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        tree = etree.fromstring(XXE, parser)
    except etree.XMLSyntaxError:
        return
    assert b"root:" not in etree.tostring(tree)


# --------------------------------------------------------------------------------------------- 4.2


def _report() -> szn.ChargeReport:
    """The spec example built from domain values (not parsed)."""
    header = szn.ChargeHeader(
        "SZN_CHG_0612_202503_001",
        "6234000011",
        "0612",
        Period(2025, 3),
        dt.datetime(2025, 4, 5, 18, 0),
        reply_to="SZN_BEN_0612_202503_001",
    )
    hvs = szn.ChargeService(
        "HVS",
        "Холодное водоснабжение",
        "6227000292",
        "м3",
        "meter",
        Decimal("38.73"),
        Decimal("6"),
        23238,
        5810,
        benefit_code="073",
    )
    otop = szn.ChargeService(
        "OTOP",
        "Отопление",
        "6229054695",
        "Гкал",
        "norm",
        Decimal("2508.71"),
        Decimal("1.08486"),
        272160,
        68040,
        norm=Decimal("0.0246"),
        benefit_code="073",
    )
    found = szn.ChargeBeneficiary(
        "77001", "FOUND", "1000123456", Decimal("44.1"), 2, 2, szn.Debt(0, 0, False), (hvs, otop)
    )
    return szn.ChargeReport(header, [found, szn.ChargeBeneficiary("77002", "NOT_FOUND")])


def test_charges_writer_matches_sample() -> None:
    data = szn.charges_bytes(_report(), expected_ids=["77001", "77002"])
    assert szn.c14n(data) == szn.c14n(CHG)
    assert data == CHG  # even byte-exact
    assert szn.schema(szn.CHARGES_XSD).validate(szn.safe_parse(data))


def test_charges_round_trip_and_totals() -> None:
    result = szn.parse_charges(sample_path(SZN_CHG_SAMPLE))
    bens = list(result)
    assert result.ok and result.header.reply_to == "SZN_BEN_0612_202503_001"
    assert result.declared == {
        "BeneficiaryCount": 2,
        "ServiceCount": 2,
        "ChargedTotal": 295398,
        "BenefitTotal": 73850,
    }
    assert bens[0].services[1].quantity == Decimal("1.084860") and bens[0].services[1].charged == 272160
    assert bens == list(_report().beneficiaries)
    assert szn.c14n(szn.charges_bytes(szn.ChargeReport(result.header, bens))) == szn.c14n(CHG)


def test_charges_parse_detects_wrong_totals() -> None:
    result = szn.parse_charges(
        CHG.replace(b"<ChargedTotal>2953.98", b"<ChargedTotal>2953.99"), "c.xml"
    ).consume()
    assert codes(result.file_errors) == ["F010"]


def test_charges_writer_invariants() -> None:
    report = _report()
    found = report.beneficiaries[0]
    over = dataclasses.replace(found, services=(dataclasses.replace(found.services[0], benefit=23239),))
    with pytest.raises(ValueError, match="benefit > charged"):
        szn.charges_bytes(dataclasses.replace(report, beneficiaries=[over]))
    with pytest.raises(ValueError, match="not answered"):
        szn.charges_bytes(report, expected_ids=["77001", "77002", "77003"])
    with pytest.raises(ValueError, match="more than once"):
        szn.charges_bytes(dataclasses.replace(report, beneficiaries=[found, found]))
    fine = dataclasses.replace(found.services[0], quantity=Decimal("6.0000001"))
    with pytest.raises(ValueError, match="6 decimals"):
        szn.charges_bytes(
            dataclasses.replace(report, beneficiaries=[dataclasses.replace(found, services=(fine,))])
        )
    with pytest.raises(ValueError, match="NOT_FOUND"):
        szn.charges_bytes(
            dataclasses.replace(report, beneficiaries=[dataclasses.replace(found, status="NOT_FOUND")])
        )
    bad_method = dataclasses.replace(found.services[0], method="guess")
    with pytest.raises(ValueError, match="XSD"):
        szn.charges_bytes(
            dataclasses.replace(report, beneficiaries=[dataclasses.replace(found, services=(bad_method,))])
        )
