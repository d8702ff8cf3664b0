"""Social protection XML exchange (spec section 4): beneficiaries in, charges out, XML security."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from connectors.formats import szn
from connectors.formats.common import Period, snils_is_valid
from tests.formats.helpers import SZN_BEN_SAMPLE, SZN_CHG_SAMPLE, codes, sample_bytes, sample_path

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
