"""Social protection (УСЗН) exchange in XML, formats spec section 4.

* 4.1 inbound ``BeneficiaryList`` (``SZN_BEN_*.xml``): :func:`parse` → :class:`SznBeneficiaryFile`
  yielding :class:`Beneficiary` records after the whole document passed the security checks, the
  XSD (``connectors/xsd/szn_beneficiaries.xsd``) and the header counts;
  :func:`write_beneficiaries` / :func:`beneficiaries_bytes` write one from a
  :class:`BeneficiaryHeader` and records: XSD-valid, header counts checked, laid out like the
  spec sample (byte-equal to it for the same data);
* 4.2 outbound ``ChargeReport`` (``SZN_CHG_*.xml``): :func:`write_charges` builds an XSD-valid
  document laid out like the spec sample (C14N-equal to it for the same data);
  :func:`parse_charges` reads one back (round trips, checks).

Security: documents with a DOCTYPE (DTD, entity declarations: XXE, "billion laughs") are
rejected before parsing; lxml runs with ``resolve_entities=False, no_network=True,
load_dtd=False, huge_tree=False``. XML files are validated as a whole (lxml keeps the tree;
limit ``max_bytes``, default 256 MiB): streaming XSD validation in lxml reports no line numbers
and lets truncated documents through, and УСЗН files are small (one district a month).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import IO, Any

from lxml import etree

from .common import (
    FieldValueError,
    LineError,
    ParsedFile,
    Period,
    RecordMeta,
    Source,
    SourceKind,
    WriteSummary,
    format_decimal,
    format_money,
    open_dest,
    open_source,
    parse_money,
    snils_is_valid,
    source_name,
)
from .protocol import ErrorCode

__all__ = [
    "NS",
    "Address",
    "Benefit",
    "Beneficiary",
    "BeneficiaryHeader",
    "SznBeneficiaryFile",
    "parse",
    "parse_beneficiaries",
    "beneficiaries_bytes",
    "write_beneficiaries",
    "Debt",
    "ChargeService",
    "ChargeBeneficiary",
    "ChargeHeader",
    "ChargeReport",
    "SznChargesFile",
    "write_charges",
    "charges_bytes",
    "parse_charges",
    "c14n",
    "schema",
    "safe_parse",
]

NS = "urn:unipay:szn:1"
_Q = f"{{{NS}}}"
MAX_BYTES = 256 << 20
BENEFICIARIES_XSD = "szn_beneficiaries.xsd"
CHARGES_XSD = "szn_charges.xsd"


@cache
def schema(name: str) -> etree.XMLSchema:
    """The packaged XSD ``name`` (from ``connectors/xsd``)."""
    data = resources.files("connectors").joinpath("xsd", name).read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.fromstring(data, parser))


class XmlRejected(Exception):
    """Raised by :func:`safe_parse` with an error code and a Russian detail."""

    def __init__(self, code: ErrorCode, detail: str, line_no: int = 0) -> None:
        super().__init__(detail)
        self.code, self.detail, self.line_no = code, detail, line_no


_DOCTYPE_RE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def safe_parse(data: bytes) -> etree._ElementTree:
    """Parse XML bytes safely: no DTD, no entities, no network, UTF-8 only.

    Raises :class:`XmlRejected` (XML_FORBIDDEN, XML_MALFORMED or ENCODING).
    """
    m = _DOCTYPE_RE.search(data)
    if m:
        line = data.count(b"\n", 0, m.start()) + 1
        raise XmlRejected(
            ErrorCode.XML_FORBIDDEN,
            "объявления DOCTYPE/ENTITY запрещены (защита от XXE и «billion laughs»)",
            line,
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        tree = etree.parse(io.BytesIO(data), parser)
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(ErrorCode.XML_MALFORMED, str(exc.msg), exc.lineno or 0) from exc
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRejected(ErrorCode.XML_FORBIDDEN, "DTD запрещены")
    if (docinfo.encoding or "UTF-8").upper() not in ("UTF-8", "UTF8"):
        raise XmlRejected(ErrorCode.ENCODING, f"ожидается UTF-8, объявлено {docinfo.encoding}")
    for el in tree.iter(etree.Entity):  # pragma: no cover - impossible without a DTD
        raise XmlRejected(ErrorCode.XML_FORBIDDEN, f"ссылка на сущность {el.text}", el.sourceline or 0)
    return tree


def _read_limited(source: Source, max_bytes: int) -> bytes | None:
    with open_source(source) as stream:
        data = stream.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def _validate(tree: etree._ElementTree, xsd_name: str) -> list[tuple[int, str]]:
    xsd = schema(xsd_name)
    if xsd.validate(tree):
        return []
    return [(e.line, e.message) for e in xsd.error_log]


def c14n(data: bytes) -> bytes:
    """Canonical XML (C14N 1.0, without comments) of a document, for comparisons."""
    return etree.tostring(safe_parse(data), method="c14n")


def _sub(
    parent: Any,
    tag: str,
    text: str | None = None,
    tail: str | None = None,
    attrs: dict[str, str] | None = None,
) -> Any:
    el = etree.SubElement(parent, _Q + tag)
    for k, v in (attrs or {}).items():
        el.set(k, v)
    if text is not None:
        el.text = text
    if tail is not None:
        el.tail = tail
    return el


# --------------------------------------------------------------------------------------------
# 4.1 beneficiaries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    settlement: str
    street: str
    house: str
    building: str | None = None
    flat: str | None = None
    room: str | None = None


@dataclass(frozen=True)
class Benefit:
    code: str
    kind: str  # LGOTA / EDK / SUBSIDY
    date_from: dt.date
    date_to: dt.date | None = None
    name: str | None = None
    share_percent: Decimal | None = None
    covered_persons: int | None = None


@dataclass(frozen=True)
class Beneficiary(RecordMeta):
    """One ``Beneficiary``; ``line_no`` is its line in the XML."""

    id: str  # person id at УСЗН
    action: str  # NEW / CHANGE / STOP
    snils: str | None
    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: dt.date
    account: str | None
    address: Address
    benefits: tuple[Benefit, ...]


@dataclass(frozen=True)
class BeneficiaryHeader:
    file_id: str
    sender_code: str
    sender_name: str
    period: Period
    created_at: dt.datetime
    record_count: int
    benefit_count: int


def _t(el: Any, name: str) -> str | None:
    child = el.find(_Q + name)
    return None if child is None else (child.text or "")


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])


class SznBeneficiaryFile(ParsedFile[Beneficiary]):
    """Result of :func:`parse`. ``header`` is set once iteration starts (None on file errors)."""

    kind = SourceKind.SZN

    def __init__(
        self,
        source: Source,
        file_name: str,
        *,
        today: dt.date | None,
        benefit_codes: Collection[str] | None,
        max_bytes: int,
    ) -> None:
        super().__init__(file_name)
        self._source = source
        self.today = today or dt.date.today()
        self.benefit_codes = None if benefit_codes is None else frozenset(benefit_codes)
        self.max_bytes = max_bytes
        self.header: BeneficiaryHeader | None = None

    def _load(self) -> Any:
        data = _read_limited(self._source, self.max_bytes)
        if data is None:
            self._file_error(ErrorCode.FILE_TOO_LARGE, f"более {self.max_bytes} байт")
            return None
        if not data.strip():
            self._file_error(ErrorCode.EMPTY_FILE)
            return None
        try:
            tree = safe_parse(data)
        except XmlRejected as exc:
            self._file_error(exc.code, exc.detail, line_no=exc.line_no)
            return None
        problems = _validate(tree, BENEFICIARIES_XSD)
        for line, msg in problems[:100]:
            self._file_error(ErrorCode.XML_SCHEMA, msg, line_no=line)
        if problems:
            return None
        return tree.getroot()

    def _records(self) -> Iterator[Beneficiary]:
        root = self._load()
        if root is None:
            return
        h = root.find(_Q + "Header")
        self.header = BeneficiaryHeader(
            _t(h, "FileId") or "",
            _t(h, "SenderCode") or "",
            _t(h, "SenderName") or "",
            Period.parse(_t(h, "Period") or "", "YYYY-MM"),
            dt.datetime.fromisoformat(_t(h, "CreatedAt") or ""),
            int(_t(h, "RecordCount") or 0),
            int(_t(h, "BenefitCount") or 0),
        )
        bens = root.findall(_Q + "Beneficiary")
        nben = sum(len(b.findall(_Q + "Benefit")) for b in bens)
        hl = h.sourceline or 0
        if self.header.record_count != len(bens):
            self._file_error(
                ErrorCode.CONTROL_MISMATCH,
                f"RecordCount = {self.header.record_count}, элементов Beneficiary {len(bens)}",
                line_no=hl,
                field="RecordCount",
            )
        if self.header.benefit_count != nben:
            self._file_error(
                ErrorCode.CONTROL_MISMATCH,
                f"BenefitCount = {self.header.benefit_count}, элементов Benefit {nben}",
                line_no=hl,
                field="BenefitCount",
            )
        seen: dict[str, int] = {}
        for b in bens:
            bid = b.get("id")
            if bid in seen:
                # the XSD's xs:unique selects unqualified "Beneficiary" and so never fires; enforce here
                self._file_error(
                    ErrorCode.DUPLICATE_KEY_IN_FILE,
                    f"id «{bid}» уже был в строке {seen[bid]}",
                    line_no=b.sourceline or 0,
                    field="Beneficiary/@id",
                )
            else:
                seen[bid] = b.sourceline or 0
        if self.file_errors:
            return
        for b in bens:
            yield self._beneficiary(b)

    def _beneficiary(self, b: Any) -> Beneficiary:
        line_no = b.sourceline or 0
        errors: list[LineError] = []
        bid = b.get("id")

        def err(code: ErrorCode, field: str, detail: str = "") -> None:
            errors.append(
                self._line_error(code, line_no, field, f"id {bid}: {detail}" if detail else f"id {bid}")
            )

        snils = _t(b, "Snils")
        if snils is not None and not snils_is_valid(snils):
            err(ErrorCode.SNILS_CHECKSUM, "Snils", snils)
        birth = _date(_t(b, "BirthDate") or "")
        if birth > self.today:
            err(ErrorCode.DATE_IN_FUTURE, "BirthDate", birth.isoformat())
        a = b.find(_Q + "Address")
        address = Address(
            _t(a, "Settlement") or "",
            _t(a, "Street") or "",
            _t(a, "House") or "",
            _t(a, "Building"),
            _t(a, "Flat"),
            _t(a, "Room"),
        )
        benefits = []
        for be in b.findall(_Q + "Benefit"):
            d_to = be.get("dateTo")
            share = be.get("sharePercent")
            covered = be.get("coveredPersons")
            benefit = Benefit(
                be.get("code"),
                be.get("kind"),
                _date(be.get("dateFrom")),
                _date(d_to) if d_to else None,
                be.get("name"),
                Decimal(share) if share is not None else None,
                int(covered) if covered is not None else None,
            )
            if benefit.date_to is not None and benefit.date_to < benefit.date_from:
                err(
                    ErrorCode.DATE_RANGE,
                    "Benefit/@dateTo",
                    f"льгота {benefit.code}: {benefit.date_to} < {benefit.date_from}",
                )
            if self.benefit_codes is not None and benefit.code not in self.benefit_codes:
                err(ErrorCode.UNKNOWN_BENEFIT, "Benefit/@code", benefit.code)
            benefits.append(benefit)
        raw = etree.tostring(b, encoding="unicode", with_tail=False)
        return Beneficiary(
            bid,
            b.get("action"),
            snils,
            _t(b, "LastName") or "",
            _t(b, "FirstName") or "",
            _t(b, "MiddleName"),
            birth,
            _t(b, "Account"),
            address,
            tuple(benefits),
            line_no=line_no,
            raw=raw.split("\n", 1)[0],
            errors=tuple(errors),
        )


def parse(
    source: Source,
    file_name: str | None = None,
    *,
    today: dt.date | None = None,
    benefit_codes: Collection[str] | None = None,
    max_bytes: int = MAX_BYTES,
) -> SznBeneficiaryFile:
    """Parse a beneficiaries list. ``benefit_codes``: known benefit codes (reference data); when
    given, an unknown code is a line error. Checks needing the store (FileId already loaded,
    Period not open, STOP/CHANGE for an unknown id, matching to accounts) are the loader's."""
    return SznBeneficiaryFile(
        source, source_name(source, file_name), today=today, benefit_codes=benefit_codes, max_bytes=max_bytes
    )


parse_beneficiaries = parse


_XSD_NS_RE = re.compile(r"\{" + re.escape(NS) + r"\}")
# characters XML 1.0 cannot hold (lxml would refuse them with a message naming no field)
_NOT_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _need(value: Any, kind: type | tuple[type, ...], what: str, optional: bool = False) -> Any:
    """``value`` if it has the Python type the writer formats (``None`` allowed if ``optional``)."""
    if value is None and optional:
        return None
    wrong_date = kind is dt.date and isinstance(value, dt.datetime)
    if not isinstance(value, kind) or isinstance(value, bool) or wrong_date:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"{what}: expected {names}, got {value!r}")
    return value


def _str(value: Any, what: str) -> str:
    """A text value for the document: ``str`` without characters XML cannot hold."""
    text: str = _need(value, str, what)
    m = _NOT_XML_RE.search(text)
    if m:
        raise ValueError(f"{what}: character U+{ord(m.group()):04X} is not allowed in XML ({text!r})")
    return text


def _opt(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _date_text(value: Any, what: str) -> str:
    day: dt.date = _need(value, dt.date, what)
    return day.isoformat()


def _build_beneficiary(parent: Any, b: Beneficiary) -> int:
    """Append one ``Beneficiary`` laid out like the spec sample; returns its number of benefits."""
    who = f"beneficiary {b.id}"
    if b.snils is not None and not snils_is_valid(_str(b.snils, f"{who}: Snils")):
        raise ValueError(f"{who}: Snils {b.snils!r} is not a valid СНИЛС (NNN-NNN-NNN CC, correct checksum)")
    if not _need(b.benefits, (tuple, list), f"{who}: benefits"):
        raise ValueError(f"{who}: no Benefit (the spec requires at least one)")
    el = _sub(parent, "Beneficiary", "\n", "\n", {"id": b.id, "action": _str(b.action, f"{who}: action")})
    if b.snils is not None:
        _sub(el, "Snils", b.snils)
    _sub(el, "LastName", _str(b.last_name, f"{who}: LastName"))
    _sub(el, "FirstName", _str(b.first_name, f"{who}: FirstName"))
    if _opt(b.middle_name, f"{who}: MiddleName") is not None:
        _sub(el, "MiddleName", b.middle_name, "\n")
    last = _sub(el, "BirthDate", _date_text(b.birth_date, f"{who}: BirthDate"))
    if _opt(b.account, f"{who}: Account") is not None:
        last = _sub(el, "Account", b.account)
    last.tail = "\n"
    a = _need(b.address, Address, f"{who}: Address")
    ad = _sub(el, "Address", tail="\n")
    for tag, value, optional in (
        ("Settlement", a.settlement, False),
        ("Street", a.street, False),
        ("House", a.house, False),
        ("Building", a.building, True),
        ("Flat", a.flat, True),
        ("Room", a.room, True),
    ):
        text = _opt(value, f"{who}: Address/{tag}") if optional else _str(value, f"{who}: Address/{tag}")
        if text is not None:
            _sub(ad, tag, text)
    for x in b.benefits:
        what = f"{who}, benefit {_need(x, Benefit, f'{who}: Benefit').code}"
        attrs = {"code": _str(x.code, f"{what}: code"), "kind": _str(x.kind, f"{what}: kind")}
        if x.name is not None:
            attrs["name"] = _str(x.name, f"{what}: name")
        attrs["dateFrom"] = _date_text(x.date_from, f"{what}: dateFrom")
        if x.date_to is not None:
            attrs["dateTo"] = _date_text(x.date_to, f"{what}: dateTo")
            if x.date_to < x.date_from:
                raise ValueError(f"{what}: dateTo {x.date_to} is before dateFrom {x.date_from}")
        share = _need(x.share_percent, (Decimal, int), f"{what}: sharePercent", optional=True)
        if share is not None:
            attrs["sharePercent"] = format(Decimal(share), "f")
        if _need(x.covered_persons, int, f"{what}: coveredPersons", optional=True) is not None:
            attrs["coveredPersons"] = str(x.covered_persons)
        _sub(el, "Benefit", tail="\n", attrs=attrs)
    return len(b.benefits)


def _xsd_problems(root: Any) -> list[str]:
    """XSD errors of a built document, each prefixed with the beneficiary it is in."""
    xsd = schema(BENEFICIARIES_XSD)
    if xsd.validate(root):
        return []
    tree = root.getroottree()
    problems = []
    for e in xsd.error_log:
        where = "Header"
        for node in tree.xpath(e.path) if e.path else ():
            ben = (
                node if node.tag == _Q + "Beneficiary" else next(node.iterancestors(_Q + "Beneficiary"), None)
            )
            if ben is not None:
                where = f"beneficiary {ben.get('id')}"
        problems.append(f"{where}: {_XSD_NS_RE.sub('', e.message)}")
    return problems


def _beneficiaries_doc(
    header: BeneficiaryHeader, beneficiaries: Iterable[Beneficiary]
) -> tuple[bytes, WriteSummary]:
    h = _need(header, BeneficiaryHeader, "header")
    bens = list(beneficiaries)
    seen: set[str] = set()
    for b in bens:
        _need(b, Beneficiary, "record")
        if not _str(b.id, "Beneficiary/@id"):
            raise ValueError(f"beneficiary {b.last_name} {b.first_name}: empty id")
        if b.id in seen:
            raise ValueError(f"beneficiary id {b.id!r} occurs more than once")
        seen.add(b.id)
    root = etree.Element(_Q + "BeneficiaryList", nsmap={None: NS})
    root.text = "\n"
    hd = _sub(root, "Header", tail="\n")
    _sub(hd, "FileId", _str(h.file_id, "Header/FileId"))
    _sub(hd, "SenderCode", _str(h.sender_code, "Header/SenderCode"))
    _sub(hd, "SenderName", _str(h.sender_name, "Header/SenderName"), "\n")
    _sub(hd, "Period", str(_need(h.period, Period, "Header/Period")))
    created = _need(h.created_at, dt.datetime, "Header/CreatedAt")
    _sub(hd, "CreatedAt", created.replace(microsecond=0).isoformat())
    nben = sum(_build_beneficiary(root, b) for b in bens)
    if (h.record_count, h.benefit_count) != (len(bens), nben):
        raise ValueError(
            f"header says RecordCount {h.record_count}, BenefitCount {h.benefit_count}; "
            f"the records hold {len(bens)} beneficiaries and {nben} benefits"
        )
    _sub(hd, "RecordCount", str(len(bens)))
    _sub(hd, "BenefitCount", str(nben))
    problems = _xsd_problems(root)
    if problems:
        raise ValueError("generated BeneficiaryList is not XSD-valid: " + "; ".join(problems))
    body = etree.tostring(root, encoding="unicode")
    data = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")
    return data, WriteSummary(len(bens), 0, {"benefits": nben})


def beneficiaries_bytes(header: BeneficiaryHeader, beneficiaries: Iterable[Beneficiary]) -> bytes:
    """The BeneficiaryList document (4.1) as UTF-8 bytes (LF), laid out like the spec sample
    (byte-equal to it for the same data). Raises ``ValueError`` naming the beneficiary and field
    if the records cannot make a valid document: not XSD-valid, a repeated or empty id, a СНИЛС
    with a wrong checksum, dateTo < dateFrom, no Benefit, header counts that differ from the
    records. ``CreatedAt`` is written to the second; ``sharePercent`` as the Decimal's plain text
    (``Decimal("50")`` → ``50``, never an exponent)."""
    return _beneficiaries_doc(header, beneficiaries)[0]


def write_beneficiaries(
    dst: str | IO[bytes], header: BeneficiaryHeader, beneficiaries: Iterable[Beneficiary]
) -> WriteSummary:
    """Write the BeneficiaryList (see :func:`beneficiaries_bytes`); nothing is written if it
    raises. Returns ``count`` = beneficiaries, ``sums["benefits"]`` = benefits (no money)."""
    data, summary = _beneficiaries_doc(header, beneficiaries)
    with open_dest(dst) as out:
        out.write(data)
    return summary


# --------------------------------------------------------------------------------------------
# 4.2 charges reply
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Debt:
    months: int
    sum: int  # kopecks
    court_decision: bool


@dataclass(frozen=True)
class ChargeService:
    code: str
    name: str
    provider_inn: str
    unit: str
    method: str  # meter / norm / average / area
    tariff: Decimal
    quantity: Decimal  # ≤ 6 decimals
    charged: int  # kopecks, charge without the benefit
    benefit: int  # kopecks, ≤ charged
    norm: Decimal | None = None
    benefit_code: str | None = None
    paid: int | None = None


@dataclass(frozen=True)
class ChargeBeneficiary(RecordMeta):
    id: str
    status: str  # FOUND / NOT_FOUND / AMBIGUOUS
    account: str | None = None
    area_total: Decimal | None = None
    registered: int | None = None
    living: int | None = None
    debt: Debt | None = None
    services: tuple[ChargeService, ...] = ()


@dataclass(frozen=True)
class ChargeHeader:
    file_id: str
    center_inn: str
    receiver_code: str
    period: Period
    created_at: dt.datetime
    reply_to: str | None = None


@dataclass(frozen=True)
class ChargeReport:
    header: ChargeHeader
    beneficiaries: Sequence[ChargeBeneficiary]


def _qty(value: Decimal, what: str) -> str:
    q = value.quantize(Decimal("0.000001"))
    if q != value:
        raise ValueError(f"{what} {value} has more than 6 decimals")
    return format(q, "f")


def _area(value: Decimal) -> str:
    q = value.quantize(Decimal("0.01"))
    if q != value:
        raise ValueError(f"AreaTotal {value} has more than 2 decimals")
    return format(q, "f")


def _build(report: ChargeReport, expected_ids: Iterable[str] | None) -> etree._Element:
    h = report.header
    bens = list(report.beneficiaries)
    ids = [b.id for b in bens]
    if len(set(ids)) != len(ids):
        raise ValueError("a beneficiary id is answered more than once")
    if expected_ids is not None:
        expected = list(expected_ids)
        missing = set(expected) - set(ids)
        extra = set(ids) - set(expected)
        if missing or extra:
            raise ValueError(f"ids not answered: {sorted(missing)}; ids not asked: {sorted(extra)}")
    charged = benefit = nserv = 0
    for b in bens:
        if b.status != "FOUND" and (b.services or b.debt):
            raise ValueError(f"beneficiary {b.id}: status {b.status} must not carry services or debt")
        for s in b.services:
            if s.benefit > s.charged:
                raise ValueError(f"beneficiary {b.id}, service {s.code}: benefit > charged")
            if s.benefit < 0 or s.charged < 0:
                raise ValueError(f"beneficiary {b.id}, service {s.code}: negative amount")
            charged += s.charged
            benefit += s.benefit
            nserv += 1
    root = etree.Element(_Q + "ChargeReport", nsmap={None: NS})
    root.text = "\n"
    hd = _sub(root, "Header", tail="\n")
    _sub(hd, "FileId", h.file_id)
    if h.reply_to is not None:
        _sub(hd, "ReplyTo", h.reply_to)
    _sub(hd, "CenterInn", h.center_inn, tail="\n")
    _sub(hd, "ReceiverCode", h.receiver_code)
    _sub(hd, "Period", str(h.period))
    _sub(hd, "CreatedAt", h.created_at.replace(microsecond=0).isoformat(), tail="\n")
    _sub(hd, "BeneficiaryCount", str(len(bens)))
    _sub(hd, "ServiceCount", str(nserv))
    _sub(hd, "ChargedTotal", format_money(charged, "."))
    _sub(hd, "BenefitTotal", format_money(benefit, "."))
    for b in bens:
        be = _sub(root, "Beneficiary", tail="\n", attrs={"id": b.id, "status": b.status})
        simple = [
            ("Account", b.account),
            ("AreaTotal", _area(b.area_total) if b.area_total is not None else None),
            ("Registered", None if b.registered is None else str(b.registered)),
            ("Living", None if b.living is None else str(b.living)),
        ]
        present = [(n, v) for n, v in simple if v is not None]
        if present or b.debt or b.services:
            be.text = "\n"
        for i, (n, v) in enumerate(present):
            _sub(be, n, v, tail="\n" if i == len(present) - 1 else None)
        if b.debt is not None:
            _sub(
                be,
                "Debt",
                tail="\n",
                attrs={
                    "months": str(b.debt.months),
                    "sum": format_money(b.debt.sum, "."),
                    "courtDecision": "true" if b.debt.court_decision else "false",
                },
            )
        for s in b.services:
            attrs = {
                "code": s.code,
                "name": s.name,
                "providerInn": s.provider_inn,
                "unit": s.unit,
                "method": s.method,
                "tariff": format_decimal(s.tariff, ".", min_places=2),
            }
            if s.norm is not None:
                attrs["norm"] = _qty(s.norm, "norm")
            attrs["quantity"] = _qty(s.quantity, "quantity")
            attrs["charged"] = format_money(s.charged, ".")
            attrs["benefit"] = format_money(s.benefit, ".")
            if s.benefit_code is not None:
                attrs["benefitCode"] = s.benefit_code
            if s.paid is not None:
                attrs["paid"] = format_money(s.paid, ".")
            _sub(be, "Service", tail="\n", attrs=attrs)
    return root


def charges_bytes(report: ChargeReport, *, expected_ids: Iterable[str] | None = None) -> bytes:
    """The ChargeReport document as UTF-8 bytes (LF). Raises ``ValueError`` if an invariant is
    broken or the result is not XSD-valid. ``expected_ids``: the inbound ids (each must be
    answered exactly once)."""
    root = _build(report, expected_ids)
    xsd = schema(CHARGES_XSD)
    if not xsd.validate(root):
        raise ValueError(f"generated ChargeReport is not XSD-valid: {xsd.error_log}")
    body = etree.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def write_charges(
    dst: str | IO[bytes], report: ChargeReport, *, expected_ids: Iterable[str] | None = None
) -> None:
    """Write the ChargeReport (see :func:`charges_bytes`)."""
    data = charges_bytes(report, expected_ids=expected_ids)
    with open_dest(dst) as out:
        out.write(data)


class SznChargesFile(ParsedFile[ChargeBeneficiary]):
    """Result of :func:`parse_charges`; ``header`` and ``declared`` (counts/totals) after start."""

    kind = SourceKind.SZN_CHARGES

    def __init__(self, source: Source, file_name: str, max_bytes: int) -> None:
        super().__init__(file_name)
        self._source = source
        self.max_bytes = max_bytes
        self.header: ChargeHeader | None = None
        self.declared: dict[str, int] = {}

    def _records(self) -> Iterator[ChargeBeneficiary]:
        data = _read_limited(self._source, self.max_bytes)
        if data is None:
            self._file_error(ErrorCode.FILE_TOO_LARGE)
            return
        try:
            tree = safe_parse(data)
        except XmlRejected as exc:
            self._file_error(exc.code, exc.detail, line_no=exc.line_no)
            return
        problems = _validate(tree, CHARGES_XSD)
        for line, msg in problems[:100]:
            self._file_error(ErrorCode.XML_SCHEMA, msg, line_no=line)
        if problems:
            return
        root = tree.getroot()
        h = root.find(_Q + "Header")
        self.header = ChargeHeader(
            _t(h, "FileId") or "",
            _t(h, "CenterInn") or "",
            _t(h, "ReceiverCode") or "",
            Period.parse(_t(h, "Period") or "", "YYYY-MM"),
            dt.datetime.fromisoformat(_t(h, "CreatedAt") or ""),
            _t(h, "ReplyTo"),
        )
        self.declared = {
            "BeneficiaryCount": int(_t(h, "BeneficiaryCount") or 0),
            "ServiceCount": int(_t(h, "ServiceCount") or 0),
            "ChargedTotal": parse_money(_t(h, "ChargedTotal") or "", decimal_sep=".", allow_negative=True),
            "BenefitTotal": parse_money(_t(h, "BenefitTotal") or "", decimal_sep=".", allow_negative=True),
        }
        actual = dict.fromkeys(self.declared, 0)
        for b in root.findall(_Q + "Beneficiary"):
            rec = self._beneficiary(b)
            actual["BeneficiaryCount"] += 1
            actual["ServiceCount"] += len(rec.services)
            actual["ChargedTotal"] += sum(s.charged for s in rec.services)
            actual["BenefitTotal"] += sum(s.benefit for s in rec.services)
            yield rec
        for k, v in self.declared.items():
            if actual[k] != v:
                self._file_error(
                    ErrorCode.CONTROL_MISMATCH, f"{k} = {v}, по содержимому {actual[k]}", field=k
                )

    def _beneficiary(self, b: Any) -> ChargeBeneficiary:
        errors: list[LineError] = []
        line_no = b.sourceline or 0

        def money(s: str | None, what: str) -> int:
            try:
                return parse_money(s or "", decimal_sep=".", allow_negative=True)
            except FieldValueError as exc:
                errors.append(self._line_error(exc.code, line_no, what, exc.detail))
                return 0

        d = b.find(_Q + "Debt")
        debt = (
            None
            if d is None
            else Debt(
                int(d.get("months")),
                money(d.get("sum"), "Debt/@sum"),
                d.get("courtDecision") in ("true", "1"),
            )
        )
        services = []
        for s in b.findall(_Q + "Service"):
            norm = s.get("norm")
            paid = s.get("paid")
            services.append(
                ChargeService(
                    s.get("code"),
                    s.get("name"),
                    s.get("providerInn"),
                    s.get("unit"),
                    s.get("method"),
                    Decimal(s.get("tariff")),
                    Decimal(s.get("quantity")),
                    money(s.get("charged"), "Service/@charged"),
                    money(s.get("benefit"), "Service/@benefit"),
                    Decimal(norm) if norm is not None else None,
                    s.get("benefitCode"),
                    money(paid, "Service/@paid") if paid is not None else None,
                )
            )
        area = _t(b, "AreaTotal")
        reg, liv = _t(b, "Registered"), _t(b, "Living")
        return ChargeBeneficiary(
            b.get("id"),
            b.get("status"),
            _t(b, "Account"),
            Decimal(area) if area is not None else None,
            int(reg) if reg is not None else None,
            int(liv) if liv is not None else None,
            debt,
            tuple(services),
            line_no=line_no,
            errors=tuple(errors),
        )


def parse_charges(
    source: Source, file_name: str | None = None, *, max_bytes: int = MAX_BYTES
) -> SznChargesFile:
    """Read a ChargeReport back (round trips, checks of generated files)."""
    return SznChargesFile(source, source_name(source, file_name), max_bytes)
