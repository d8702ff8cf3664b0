"""Loading a social-protection beneficiaries list (formats §4.1) into ``beneficiaries``/``benefits``.

Store checks: the file's ``FileId`` must not be loaded yet and its ``Period`` must be the open
billing period or the one before it (a store without any billing period accepts any period);
``CHANGE``/``STOP`` for an id the store does not know is a line error (``UNKNOWN_PERSON_ID``).

A beneficiary is keyed by (office code = ``SenderCode``, its ``id``). ``NEW`` and ``CHANGE`` write
the person's data (a ``NEW`` for a known id updates it, so a list sent twice under a new FileId is
harmless); ``STOP`` marks the beneficiary ``stopped`` and writes the end dates of the benefits it
lists. Benefits are keyed by (beneficiary, code, dateFrom); a missing ``sharePercent`` takes the
benefit code's share from the reference catalogue (none for subsidies), ``coveredPersons``
defaults to 1.

Matching to an account: by ``Account`` when that account exists, else by normalized address
(settlement, street without its type, house, building, flat) + ФИО + birth date among the persons
registered on accounts (status other than 4 «выбыл»). Not matched, or matched to several accounts:
the beneficiary is stored without an account and answered ``NOT_FOUND`` in the reply (4.2) — not an
error. The list is small (one office, one month), so it is read whole (the XML parser keeps the tree
anyway) and matched in one pass.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from connectors.formats import szn
from connectors.formats.common import FileError, Period, Problem
from connectors.formats.protocol import ErrorCode
from hub.ingest.common import FileContext
from hub.store import models as m

__all__ = ["SznLoader", "norm_name", "norm_street", "norm_settlement", "szn_file_message", "open_period"]

LOADED_STATUSES = ("loaded", "loaded_with_errors")
STREET_TYPES = (
    "ул",
    "улица",
    "пр-кт",
    "проспект",
    "пр",
    "пер",
    "переулок",
    "б-р",
    "бульвар",
    "ш",
    "шоссе",
    "пл",
    "площадь",
    "наб",
    "набережная",
    "проезд",
    "пр-д",
    "мкр",
    "тупик",
    "туп",
    "аллея",
    "линия",
)
SETTLEMENT_TYPES = ("г", "город", "пгт", "п", "пос", "с", "село", "д", "дер", "рп", "ст", "х")


def szn_file_message(file_id: str) -> str:
    """The journal's message of a loaded list (the FileId itself is ``registry_files.partner_file_id``)."""
    return f"FileId={file_id}"


def norm_name(text: str | None) -> str:
    return re.sub(r"\s+", " ", (text or "").upper().replace("Ё", "Е")).strip()


def _strip_types(text: str, types: Iterable[str]) -> str:
    words = [w for w in re.split(r"[\s,]+", norm_name(text).replace(".", " ")) if w]
    kinds = {t.upper() for t in types}
    kept = [w for w in words if w not in kinds]
    return " ".join(kept or words)


def norm_street(text: str | None) -> str:
    return _strip_types(text or "", STREET_TYPES)


def norm_settlement(text: str | None) -> str:
    return _strip_types(text or "", SETTLEMENT_TYPES)


def _norm_no(text: str | None) -> str:
    return re.sub(r"\s+", "", norm_name(text))


def open_period(conn: Connection) -> int | None:
    """The open billing period (the latest one if several are open), or None."""
    return conn.execute(
        select(m.BillingPeriod.period)
        .where(m.BillingPeriod.status == "open")
        .order_by(m.BillingPeriod.period.desc())
    ).scalar()


def _address_text(a: szn.Address) -> str:
    parts = [a.settlement, a.street, f"д {a.house}"]
    if a.building:
        parts.append(f"корп {a.building}")
    if a.flat:
        parts.append(f"кв {a.flat}")
    if a.room:
        parts.append(f"комн {a.room}")
    return ", ".join(parts)[:300]


class SznLoader:
    kind = "szn"

    def __init__(self, path: Path, name: str, sender: str, sha256: str, *, today: dt.date) -> None:
        self.path, self.name, self.sender, self.sha256, self.today = path, name, sender, sha256, today
        self.order_number: str | None = None
        self.order_date: dt.date | None = None
        self.file_date: dt.date | None = None
        self.message: str | None = None
        self.partner_file_id: str | None = None

    def run(self, conn: Connection, ctx: FileContext) -> list[FileError]:
        codes = {
            code: (kind, share)
            for code, kind, share in conn.execute(
                select(m.BenefitCode.code, m.BenefitCode.kind, m.BenefitCode.share_percent)
            )
        }
        parsed = szn.parse(self.path, self.name, today=self.today, benefit_codes=set(codes))
        records = list(parsed)
        errors = list(parsed.file_errors)
        header = parsed.header
        if errors or header is None:
            ctx.lines_total = len(records)
            return errors
        self.file_date = header.period.first_day
        self.message = szn_file_message(header.file_id)
        self.partner_file_id = header.file_id
        errors.extend(self._header_checks(conn, ctx, header))
        if errors:
            return errors
        self.szn_code = header.sender_code
        self.codes = codes
        matches = self._match(conn, [r for r in records if r.ok])
        for rec in records:
            ctx.lines_total += 1
            problems: list[Problem] = [*rec.errors, *rec.warnings]
            if rec.errors:
                ctx.lines_rejected += 1
                ctx.add(problems)
                continue
            existing = conn.execute(
                select(m.Beneficiary.id).where(
                    m.Beneficiary.szn_code == self.szn_code, m.Beneficiary.external_id == rec.id
                )
            ).scalar()
            if existing is None and rec.action in ("CHANGE", "STOP"):
                problems.append(
                    ctx.line_error(
                        ErrorCode.UNKNOWN_PERSON_ID,
                        rec.line_no,
                        "Beneficiary/@id",
                        f"id {rec.id}, action {rec.action}: получатель не загружался ранее",
                        rec.raw,
                    )
                )
                ctx.lines_rejected += 1
                ctx.add(problems)
                continue
            ctx.add(problems)
            account_id, person_id = matches.get(rec.id, (None, None))
            ctx.bump("matched" if account_id else "not_found")
            self._write(conn, ctx, rec, existing, account_id, person_id)
        return errors

    def _header_checks(
        self, conn: Connection, ctx: FileContext, header: szn.BeneficiaryHeader
    ) -> list[FileError]:
        errors: list[FileError] = []
        seen = conn.execute(
            select(m.RegistryFile.name).where(
                m.RegistryFile.kind == "szn",
                m.RegistryFile.partner_file_id == header.file_id,
                m.RegistryFile.status.in_(LOADED_STATUSES),
                m.RegistryFile.id != ctx.file_id,
            )
        ).first()
        if seen is not None:
            errors.append(
                ctx.file_error(
                    ErrorCode.FILE_ID_ALREADY_LOADED,
                    f"FileId {header.file_id} уже загружен в файле «{seen[0]}»",
                    field="FileId",
                )
            )
        current = open_period(conn)
        if current is not None:
            allowed = {current, _prev(current)}
            got = header.period.year * 100 + header.period.month
            if got not in allowed:
                errors.append(
                    ctx.file_error(
                        ErrorCode.PERIOD_NOT_OPEN,
                        f"Period {header.period}, открыт период {current // 100:04d}-{current % 100:02d}",
                        field="Period",
                    )
                )
        return errors

    # -- matching --------------------------------------------------------------------------------
    def _match(
        self, conn: Connection, records: list[szn.Beneficiary]
    ) -> dict[str, tuple[int | None, int | None]]:
        out: dict[str, tuple[int | None, int | None]] = {}
        numbers = sorted({r.account.strip() for r in records if r.account and r.account.strip()})
        by_number: dict[str, int] = {}
        for k in range(0, len(numbers), 1_000):
            for aid, number in conn.execute(
                select(m.Account.id, m.Account.number).where(m.Account.number.in_(numbers[k : k + 1_000]))
            ):
                by_number[number] = int(aid)
        births = sorted({r.birth_date for r in records})
        people: dict[dt.date | None, list[tuple[Any, ...]]] = {}
        for k in range(0, len(births), 500):
            stmt = (
                select(
                    m.Person.id,
                    m.Person.last_name,
                    m.Person.first_name,
                    m.Person.middle_name,
                    m.Person.birth_date,
                    m.Registration.account_id,
                    m.Building.settlement,
                    m.Building.street,
                    m.Building.house,
                    m.Building.korp,
                    m.Premises.flat,
                )
                .join(m.Registration, m.Registration.person_id == m.Person.id)
                .join(m.Account, m.Account.id == m.Registration.account_id)
                .join(m.Premises, m.Premises.id == m.Account.premises_id)
                .join(m.Building, m.Building.id == m.Premises.building_id)
                .where(m.Person.birth_date.in_(births[k : k + 500]), m.Registration.status != 4)
            )
            for row in conn.execute(stmt):
                people.setdefault(row[4], []).append(tuple(row))
        for r in records:
            name = (norm_name(r.last_name), norm_name(r.first_name), norm_name(r.middle_name))
            candidates = people.get(r.birth_date, [])

            def same_person(row: tuple[Any, ...], name: tuple[str, str, str] = name) -> bool:
                mid = norm_name(row[3])
                return (
                    norm_name(row[1]) == name[0]
                    and norm_name(row[2]) == name[1]
                    and (not name[2] or not mid or mid == name[2])
                )

            acc = by_number.get((r.account or "").strip())
            if acc is not None:
                person = next((row[0] for row in candidates if row[5] == acc and same_person(row)), None)
                out[r.id] = (acc, person)
                continue
            a = r.address
            want = (
                norm_settlement(a.settlement),
                norm_street(a.street),
                _norm_no(a.house),
                _norm_no(a.building),
                _norm_no(a.flat),
            )
            hits = {
                (row[5], row[0])
                for row in candidates
                if same_person(row)
                and (
                    norm_settlement(row[6]),
                    norm_street(row[7]),
                    _norm_no(row[8]),
                    _norm_no(row[9]),
                    _norm_no(row[10]),
                )
                == want
            }
            accounts = {h[0] for h in hits}
            if len(accounts) == 1:
                acc_id = accounts.pop()
                out[r.id] = (int(acc_id), int(min(h[1] for h in hits)))
            else:
                out[r.id] = (None, None)
        return out

    # -- writing ---------------------------------------------------------------------------------
    def _write(
        self,
        conn: Connection,
        ctx: FileContext,
        rec: szn.Beneficiary,
        existing: int | None,
        account_id: int | None,
        person_id: int | None,
    ) -> None:
        values = {
            "account_id": account_id,
            "person_id": person_id,
            "snils": rec.snils,
            "last_name": rec.last_name[:60],
            "first_name": rec.first_name[:60],
            "middle_name": (rec.middle_name or "")[:60],
            "birth_date": rec.birth_date,
            "address": _address_text(rec.address),
            "status": "stopped" if rec.action == "STOP" else "active",
            "registry_file_id": ctx.file_id,
        }
        if existing is None:
            bid = ctx.ids.take("beneficiaries", 1)[0]
            conn.execute(
                insert(m.Beneficiary).values(id=bid, szn_code=self.szn_code, external_id=rec.id, **values)
            )
        else:
            bid = existing
            conn.execute(update(m.Beneficiary).where(m.Beneficiary.id == bid).values(**values))
        for b in rec.benefits:
            kind, default_share = self.codes.get(b.code, (b.kind, None))
            share = b.share_percent if b.share_percent is not None else default_share
            if b.kind == "SUBSIDY" and b.share_percent is None:
                share = None
            row = {
                "kind": b.kind,
                "date_to": b.date_to,
                "share_percent": Decimal(share) if share is not None else None,
                "covered_persons": b.covered_persons or 1,
            }
            have = conn.execute(
                select(m.Benefit.id).where(
                    m.Benefit.beneficiary_id == bid,
                    m.Benefit.code == b.code,
                    m.Benefit.date_from == b.date_from,
                )
            ).scalar()
            if have is None:
                conn.execute(
                    insert(m.Benefit).values(
                        id=ctx.ids.take("benefits", 1)[0],
                        beneficiary_id=bid,
                        code=b.code,
                        date_from=b.date_from,
                        **row,
                    )
                )
            else:
                conn.execute(update(m.Benefit).where(m.Benefit.id == have).values(**row))
            ctx.bump("benefits")


def _prev(period: int) -> int:
    p = Period(period // 100, period % 100).add_months(-1)
    return p.year * 100 + p.month
