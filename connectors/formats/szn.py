"""Social protection (УСЗН) exchange in XML, formats spec section 4.

* 4.1 inbound ``BeneficiaryList`` (``SZN_BEN_*.xml``): :func:`parse` → :class:`SznBeneficiaryFile`
  yielding :class:`Beneficiary` records after the whole document passed the security checks, the
  XSD (``connectors/xsd/szn_beneficiaries.xsd``) and the header counts;
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
