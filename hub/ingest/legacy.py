"""Migrating a legacy billing DBF set (formats §5) into the store.

The set (KART, PROPIS, SCHET, SALDO, ITOG) is streamed table by table and written in batches:

* ``KART`` → ``buildings`` (found or created by settlement + street type + street + house + korp),
  ``premises`` (building + flat) and ``accounts`` (open, or closed when PSCH is 8/9). An LS that
  already exists in the store is a line error: a migration never touches existing accounts.
* ``PROPIS`` → ``persons`` (legacy id ``<system>:<ID>``) and ``registrations`` (status, dates; the
  resident whose ФИО equals the account's FIO is the owner).
* ``SCHET`` → ``meters`` (one per account × serial × service; TARZ is the zone, so a two-zone meter
  comes as two rows) and the last reading of each zone → ``meter_readings`` (source ``legacy``).
* ``SALDO`` → ``opening_debts`` (account × service × MG: SALDO as principal, PENI as penalty).
* ``account_services`` for every service an account has a meter or a balance for.

Defaults where the set says nothing (see docs/ingest.md):

* settlement: the center's own (``[center] settlement``, default «г Рязань»); street type: taken
  from ULICA when it carries one (``УЛ ЛЕНИНА``, ``ЛЕНИНА УЛ``), else «ул»; names in title case;
* district: ``LEGACY`` («Перенесено из прежней системы»), created when missing; no management
  company; floors 0 (unknown); common area 0; building area = Σ premises areas of the set;
* premises: area OPL, living area PPL; rooms of a shared flat (KOMN) share one premises;
* account opened on DATN (else the first day of the set's month); a resident registered from DPROP
  (else the account's opening day); a meter installed on DUST (else the account's opening day);
* provider of a service: the provider of its latest tariff, else the provider most accounts get it
  from, else a placeholder provider ``UNASSIGNED`` (to be reassigned by an operator);
* method of a service: area (SOD, KAPR), soi (``*_SOI``), person (TKO), norm (OTOP), meter for a
  metered service with a meter on the account (VOD: with a ХВС or ГВС meter), else norm;
* zero balances (SALDO = PENI = 0) give no ``opening_debts`` row;
* a store without any billing period gets MG as its open period.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from connectors.formats import legacy_dbf
from connectors.formats.common import FileError, Period, Problem
from connectors.formats.protocol import ErrorCode, ErrorKind
from hub.ingest.common import BATCH, FileContext
from hub.ingest.szn import STREET_TYPES, norm_name
from hub.store import models as m
from hub.store.db import bulk_insert

__all__ = ["LegacyLoader", "legacy_system", "split_street", "PLACEHOLDER_PROVIDER"]

PLACEHOLDER_PROVIDER = "UNASSIGNED"
LEGACY_DISTRICT = "LEGACY"
_NAME_RE = re.compile(r"LEGACY_(\w+?)_(\d{6})\.zip", re.I)


def legacy_system(name: str, sender: str | None = None) -> tuple[str | None, Period | None]:
    """The legacy system code and month from ``LEGACY_{system}_{YYYYMM}.zip`` (or the sender
    ``LEGACY:<system>``)."""
    mt = _NAME_RE.fullmatch(name)
    if mt:
        try:
            period: Period | None = Period.parse(mt.group(2), "YYYYMM")
        except ValueError:
            period = None
        return mt.group(1).upper(), period
    if sender and sender.upper().startswith("LEGACY:"):
        return sender.split(":", 1)[1].upper() or None, None
    return None, None


def _title(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:].lower() for w in text.split())


def split_street(ulica: str) -> tuple[str, str]:
    """``УЛ ЛЕНИНА`` / ``ЛЕНИНА УЛ`` / ``ЛЕНИНА`` → (``ул``, ``Ленина``)."""
    words = ulica.replace(".", " ").split()
    types = {t.upper(): t for t in STREET_TYPES}
    canon = {"УЛИЦА": "ул", "ПРОСПЕКТ": "пр-кт", "ПР": "пр-кт", "ПЕРЕУЛОК": "пер", "БУЛЬВАР": "б-р"}
    st = "ул"
    if len(words) > 1 and words[0].upper() in types:
        st = canon.get(words[0].upper(), types[words[0].upper()])
        words = words[1:]
    elif len(words) > 1 and words[-1].upper() in types:
        st = canon.get(words[-1].upper(), types[words[-1].upper()])
        words = words[:-1]
    return st[:10], _title(" ".join(words))[:100]


class LegacyLoader:
    kind = "legacy"

    def __init__(
        self,
        path: Path,
        name: str,
        sender: str,
        sha256: str,
        *,
        today: dt.date,
        settlement: str,
        system: str | None = None,
    ) -> None:
        self.path, self.name, self.sender, self.sha256, self.today = path, name, sender, sha256, today
        self.settlement = settlement
        self.order_number: str | None = None
        self.order_date: dt.date | None = None
        self.file_date: dt.date | None = None
        self.message: str | None = None
        sys_code, period = legacy_system(name, sender)
        self.system = (system or sys_code or "").upper()
        self.name_period = period
        self.rejected_ls: set[str] = set()
        self.buildings: dict[tuple[str, str, str, str, str], int] = {}
        self.created_buildings: set[int] = set()
        self.providers: dict[int, int] = {}
        self.mg: Period | None = None

    # -- entry -----------------------------------------------------------------------------------
    def run(self, conn: Connection, ctx: FileContext) -> list[FileError]:
        self.conn, self.ctx = conn, ctx
        mapping = {
            code: int(sid)
            for code, sid in conn.execute(
                select(m.LegacyServiceCode.legacy_code, m.LegacyServiceCode.service_id).where(
                    m.LegacyServiceCode.system == self.system
                )
            )
        }
        if not mapping:
            known = sorted(set(conn.execute(select(m.LegacyServiceCode.system)).scalars()))
            return [
                ctx.file_error(
                    ErrorCode.UNKNOWN_SERVICE,
                    f"нет соответствия кодов услуг для системы «{self.system or '?'}» "
                    f"(имя файла LEGACY_<система>_<ГГГГММ>.zip; известны: {', '.join(known) or 'нет'})",
                    field="SALDO.USL",
                )
            ]
        self.mapping = mapping
        self.svc_code = {int(i): c for i, c in conn.execute(select(m.Service.id, m.Service.code))}
        self.metered = {int(i) for i, met in conn.execute(select(m.Service.id, m.Service.metered)) if met}
        self.default_open = self.name_period.first_day if self.name_period else self.today
        parsed = legacy_dbf.parse(self.path, self.name, services=set(mapping))
        table = ""
        batch: list[Any] = []
        for rec in parsed:
            if rec.table != table or len(batch) >= BATCH:
                self._flush(table, batch)
                batch = []
                table = rec.table
            batch.append(rec)
        self._flush(table, batch)
        errors = list(parsed.file_errors)
        # KPR and other parser warnings not attached to records
        ctx.add(w for w in parsed.warnings if w.code is ErrorCode.KPR_MISMATCH)
        itog = parsed.itog.get("SALDO")
        ctx.control_sum = int(itog.summa * 100) if itog is not None else 0
        self.mg = parsed.period or self.mg
        if self.mg is not None:
            self.file_date = self.mg.first_day
        if not errors:
            self._finish()
        return errors

    def _finish(self) -> None:
        conn = self.conn
        if self.created_buildings:
            ids = sorted(self.created_buildings)
            for k in range(0, len(ids), 1_000):
                chunk = ids[k : k + 1_000]
                conn.execute(
                    update(m.Building)
                    .where(m.Building.id.in_(chunk))
                    .values(
                        total_area=select(func.coalesce(func.sum(m.Premises.total_area), 0))
                        .where(m.Premises.building_id == m.Building.id)
                        .scalar_subquery()
                    )
                )
        if self.mg is not None and not conn.execute(select(m.BillingPeriod.period).limit(1)).first():
            conn.execute(
                insert(m.BillingPeriod).values(
                    period=self.mg.year * 100 + self.mg.month,
                    status="open",
                    readings_closed=False,
                    opened_at=dt.datetime.combine(self.mg.first_day, dt.time()),
                )
            )
            self.ctx.bump("billing_periods")

    def _flush(self, table: str, batch: list[Any]) -> None:
        if not batch:
            return
        handler: Any = {
            "KART": self._kart,
            "PROPIS": self._propis,
            "SCHET": self._schet,
            "SALDO": self._saldo,
        }
        handler[table](batch)

    # -- helpers ---------------------------------------------------------------------------------
    def _reject(self, rec: Any, problems: list[Problem]) -> bool:
        """Record the line's problems; True if it is rejected."""
        self.ctx.lines_total += 1
        rejected = any(p.code.kind is not ErrorKind.WARNING for p in problems)
        if rejected:
            self.ctx.lines_rejected += 1
        self.ctx.add(problems)
        return rejected

    def _accounts(self, numbers: Sequence[str]) -> dict[str, tuple[int, dt.date, str]]:
        wanted = sorted({n for n in numbers if n and n not in self.rejected_ls})
        out: dict[str, tuple[int, dt.date, str]] = {}
        for k in range(0, len(wanted), 1_000):
            for aid, number, opened, owner in self.conn.execute(
                select(m.Account.id, m.Account.number, m.Account.opened_on, m.Account.owner_name).where(
                    m.Account.number.in_(wanted[k : k + 1_000])
                )
            ):
                out[number] = (int(aid), opened, owner)
        return out

    def _orphan(self, rec: Any, accounts: dict[str, tuple[int, dt.date, str]]) -> list[Problem]:
        if rec.ls in accounts or not rec.ls:
            return []
        why = "строка KART этого ЛС отклонена" if rec.ls in self.rejected_ls else "ЛС не создан"
        return [
            self.ctx.line_error(ErrorCode.ORPHAN_ACCOUNT, rec.line_no, f"{rec.table}.LS", f"{rec.ls}: {why}")
        ]

    def _district(self) -> int:
        did = self.conn.execute(select(m.District.id).where(m.District.code == LEGACY_DISTRICT)).scalar()
        if did is None:
            did = self.ctx.ids.take("districts", 1)[0]
            self.conn.execute(
                insert(m.District).values(id=did, code=LEGACY_DISTRICT, name="Перенесено из прежней системы")
            )
        return int(did)

    def _building(self, rec: legacy_dbf.KartRecord) -> int:
        if rec.ulica.strip():
            st, street = split_street(rec.ulica)
        else:
            st, street = "", _title(rec.adres)[:100] or "—"
        key = (self.settlement, st, street, rec.nd.strip()[:10], rec.korp.strip()[:5])
        bid = self.buildings.get(key)
        if bid is not None:
            return bid
        b = m.Building
        bid = self.conn.execute(
            select(b.id).where(
                b.settlement == key[0],
                b.street_type == key[1],
                b.street == key[2],
                b.house == key[3],
                b.korp == key[4],
            )
        ).scalar()
        if bid is None:
            bid = self.ctx.ids.take("buildings", 1)[0]
            self.conn.execute(
                insert(b).values(
                    id=bid,
                    district_id=self._district(),
                    settlement=key[0],
                    street_type=key[1],
                    street=key[2],
                    house=key[3],
                    korp=key[4],
                    total_area=Decimal(0),
                    common_area=Decimal(0),
                    floors=0,
                )
            )
            self.created_buildings.add(int(bid))
            self.ctx.bump("buildings")
        self.buildings[key] = int(bid)
        return int(bid)

    def _provider(self, service_id: int) -> int:
        pid = self.providers.get(service_id)
        if pid is not None:
            return pid
        conn = self.conn
        pid = conn.execute(
            select(m.Tariff.provider_id)
            .where(m.Tariff.service_id == service_id)
            .order_by(m.Tariff.date_from.desc(), m.Tariff.provider_id)
            .limit(1)
        ).scalar()
        if pid is None:
            pid = conn.execute(
                select(m.AccountService.provider_id)
                .where(m.AccountService.service_id == service_id)
                .group_by(m.AccountService.provider_id)
                .order_by(func.count().desc(), m.AccountService.provider_id)
                .limit(1)
            ).scalar()
        if pid is None:
            pid = conn.execute(select(m.Provider.id).where(m.Provider.code == PLACEHOLDER_PROVIDER)).scalar()
        if pid is None:
            pid = self.ctx.ids.take("providers", 1)[0]
            conn.execute(
                insert(m.Provider).values(
                    id=pid,
                    code=PLACEHOLDER_PROVIDER,
                    inn="000000000000",
                    name="Поставщик не назначен (перенос из прежней системы)",
                    bank_account="0" * 20,
                    fee_rate=Decimal("0"),
                )
            )
            self.ctx.bump("providers")
        self.providers[service_id] = int(pid)
        return int(pid)

    def _method(self, service_id: int, meter_services: set[int]) -> str:
        code = self.svc_code.get(service_id, "")
        if code in ("SOD", "KAPR"):
            return "area"
        if code.endswith("_SOI"):
            return "soi"
        if code == "TKO":
            return "person"
        if code == "VOD":
            codes = {self.svc_code.get(s) for s in meter_services}
            return "meter" if {"HVS", "GVS"} & codes else "norm"
        if service_id in self.metered and service_id in meter_services:
            return "meter"
        return "norm"

    def _account_services(self, pairs: set[tuple[int, int]], opened: dict[int, dt.date]) -> None:
        if not pairs:
            return
        conn = self.conn
        accs = sorted({a for a, _s in pairs})
        existing: set[tuple[int, int]] = set()
        meters: dict[int, set[int]] = {}
        for k in range(0, len(accs), 1_000):
            chunk = accs[k : k + 1_000]
            existing.update(
                (int(a), int(s))
                for a, s in conn.execute(
                    select(m.AccountService.account_id, m.AccountService.service_id).where(
                        m.AccountService.account_id.in_(chunk)
                    )
                )
            )
            for a, s in conn.execute(
                select(m.Meter.account_id, m.Meter.service_id).where(m.Meter.account_id.in_(chunk))
            ):
                meters.setdefault(int(a), set()).add(int(s))
        new = sorted(p for p in pairs if p not in existing)
        ids = self.ctx.ids.take("account_services", len(new))
        # rows are built before the COPY starts: no other statement may run on the connection during it
        rows = [
            (i, a, s, self._provider(s), self._method(s, meters.get(a, set())), opened[a])
            for i, (a, s) in zip(ids, new, strict=True)
        ]
        bulk_insert(
            conn,
            m.AccountService.__table__,
            ("id", "account_id", "service_id", "provider_id", "method", "date_from"),
            rows,
        )
        self.ctx.bump("account_services", len(new))

    # -- tables ----------------------------------------------------------------------------------
    def _kart(self, batch: list[legacy_dbf.KartRecord]) -> None:
        conn, ctx = self.conn, self.ctx
        known: set[str] = set()
        numbers = sorted({r.ls for r in batch if r.ls})
        for k in range(0, len(numbers), 1_000):
            known.update(
                conn.execute(
                    select(m.Account.number).where(m.Account.number.in_(numbers[k : k + 1_000]))
                ).scalars()
            )
        good: list[tuple[legacy_dbf.KartRecord, int]] = []
        for rec in batch:
            problems: list[Problem] = [*rec.errors, *rec.warnings]
            if rec.ls in known:
                problems.append(
                    ctx.line_error(
                        ErrorCode.DUPLICATE_LOADED,
                        rec.line_no,
                        "KART.LS",
                        f"лицевой счёт {rec.ls} уже есть в хранилище",
                    )
                )
            for field, value, width in (("LS", rec.ls, 20), ("KW", rec.kw.strip(), 10)):
                if len(value) > width:
                    problems.append(
                        ctx.line_error(
                            ErrorCode.FIELD_TOO_LONG, rec.line_no, f"KART.{field}", f"«{value}»: > {width}"
                        )
                    )
            if self._reject(rec, problems):
                if rec.ls:
                    self.rejected_ls.add(rec.ls)
                continue
            good.append((rec, self._building(rec)))
        if not good:
            return
        # premises
        bids = sorted({b for _r, b in good})
        premises: dict[tuple[int, str], int] = {}
        for k in range(0, len(bids), 500):
            for pid, bid, flat in conn.execute(
                select(m.Premises.id, m.Premises.building_id, m.Premises.flat).where(
                    m.Premises.building_id.in_(bids[k : k + 500])
                )
            ):
                premises[(int(bid), flat)] = int(pid)
        wanted: dict[tuple[int, str], legacy_dbf.KartRecord] = {}
        for rec, bid in good:
            key = (bid, rec.kw.strip())
            if key not in premises and key not in wanted:
                wanted[key] = rec
        new_premises: list[tuple[Any, ...]] = []
        for pid, (key, rec) in zip(ctx.ids.take("premises", len(wanted)), wanted.items(), strict=True):
            premises[key] = pid
            new_premises.append(
                (pid, key[0], key[1], rec.komn.strip()[:5], rec.opl, rec.ppl or None, None, True, True)
            )
        bulk_insert(
            conn,
            m.Premises.__table__,
            (
                "id",
                "building_id",
                "flat",
                "room",
                "total_area",
                "living_area",
                "rooms",
                "residential",
                "meter_installable",
            ),
            new_premises,
        )
        ctx.bump("premises", len(new_premises))
        ids = ctx.ids.take("accounts", len(good))
        bulk_insert(
            conn,
            m.Account.__table__,
            ("id", "number", "premises_id", "owner_name", "status", "opened_on", "closed_on"),
            (
                (
                    aid,
                    rec.ls,
                    premises[(bid, rec.kw.strip())],
                    rec.fio[:150],
                    "closed" if rec.closed else "open",
                    rec.datn or self.default_open,
                    rec.datk if rec.closed else None,
                )
                for aid, (rec, bid) in zip(ids, good, strict=True)
            ),
        )
        ctx.bump("accounts", len(good))

    def _propis(self, batch: list[legacy_dbf.PropisRecord]) -> None:
        ctx = self.ctx
        accounts = self._accounts([r.ls for r in batch])
        persons: list[tuple[Any, ...]] = []
        regs: list[tuple[Any, ...]] = []
        for rec in batch:
            problems: list[Problem] = [*rec.errors, *rec.warnings, *self._orphan(rec, accounts)]
            if self._reject(rec, problems):
                continue
            aid, opened, owner = accounts[rec.ls]
            pid = len(persons)
            snils = rec.snils if rec.snils and len(rec.snils) <= 14 else None
            persons.append(
                (
                    pid,
                    rec.fam[:60],
                    rec.im[:60],
                    rec.ot[:60],
                    rec.drog,
                    rec.pol if rec.pol in ("М", "Ж") else None,
                    snils,
                    f"{self.system}:{rec.id}"[:20],
                )
            )
            is_owner = norm_name(f"{rec.fam} {rec.im} {rec.ot}") == norm_name(owner)
            regs.append((pid, aid, rec.status, rec.dprop or opened, rec.dvyb, is_owner))
        pids = ctx.ids.take("persons", len(persons))
        bulk_insert(
            self.conn,
            m.Person.__table__,
            ("id", "last_name", "first_name", "middle_name", "birth_date", "sex", "snils", "legacy_id"),
            ((pids[p[0]], *p[1:]) for p in persons),
        )
        rids = ctx.ids.take("registrations", len(regs))
        bulk_insert(
            self.conn,
            m.Registration.__table__,
            ("id", "person_id", "account_id", "status", "date_from", "date_to", "is_owner"),
            ((i, pids[r[0]], *r[1:]) for i, r in zip(rids, regs, strict=True)),
        )
        ctx.bump("persons", len(persons))

    def _schet(self, batch: list[legacy_dbf.SchetRecord]) -> None:
        conn, ctx = self.conn, self.ctx
        accounts = self._accounts([r.ls for r in batch])
        meters: dict[tuple[int, str, int], list[int]] = {}  # key -> [id (0 = new), zones]
        accs = sorted({a[0] for a in accounts.values()})
        for k in range(0, len(accs), 1_000):
            for mid, acc, serial, svc, zones in conn.execute(
                select(
                    m.Meter.id, m.Meter.account_id, m.Meter.serial, m.Meter.service_id, m.Meter.zones
                ).where(m.Meter.account_id.in_(accs[k : k + 1_000]))
            ):
                meters[(int(acc), serial, int(svc))] = [int(mid), int(zones)]
        known = set(meters)
        new_meters: dict[tuple[int, str, int], tuple[Any, ...]] = {}
        readings: dict[tuple[tuple[int, str, int], int, dt.date], Decimal] = {}
        pairs: set[tuple[int, int]] = set()
        opened: dict[int, dt.date] = {}
        for rec in batch:
            problems: list[Problem] = [*rec.errors, *rec.warnings, *self._orphan(rec, accounts)]
            if not 0 <= rec.tarz <= 3:
                problems.append(
                    ctx.line_error(ErrorCode.BAD_VALUE, rec.line_no, "SCHET.TARZ", f"зона {rec.tarz}")
                )
            if len(rec.nsch) > 20:
                problems.append(ctx.line_error(ErrorCode.FIELD_TOO_LONG, rec.line_no, "SCHET.NSCH", rec.nsch))
            if self._reject(rec, problems):
                continue
            aid, acc_opened, _owner = accounts[rec.ls]
            svc = self.mapping[rec.usl]
            serial = rec.nsch or "б/н"
            zone = max(rec.tarz, 1)
            key = (aid, serial, svc)
            entry = meters.get(key)
            if entry is None:
                entry = meters[key] = [0, zone]
                new_meters[key] = (0, aid, svc, serial, rec.dust or acc_opened, rec.dpov)
            elif zone > entry[1]:
                entry[1] = zone
            pairs.add((aid, svc))
            opened[aid] = acc_opened
            if rec.dpok is not None:
                readings.setdefault((key, zone, rec.dpok), rec.pok)
        for mid, key in zip(ctx.ids.take("meters", len(new_meters)), list(new_meters), strict=True):
            meters[key][0] = mid
        bulk_insert(
            conn,
            m.Meter.__table__,
            (
                "id",
                "account_id",
                "service_id",
                "serial",
                "zones",
                "installed_on",
                "verification_due",
                "status",
            ),
            (
                (meters[k][0], v[1], v[2], v[3], meters[k][1], v[4], v[5], "working")
                for k, v in new_meters.items()
            ),
        )
        ctx.bump("meters", len(new_meters))
        for key in known:
            mid, zones = meters[key]
            conn.execute(update(m.Meter).where(m.Meter.id == mid, m.Meter.zones < zones).values(zones=zones))
        if readings:
            by_id = {(meters[k][0], z, d): v for (k, z, d), v in readings.items()}
            mids = sorted({k[0] for k in by_id})
            have: set[tuple[int, int, dt.date]] = set()
            for k in range(0, len(mids), 1_000):
                have.update(
                    (int(a), int(z), d)
                    for a, z, d in conn.execute(
                        select(
                            m.MeterReading.meter_id, m.MeterReading.zone, m.MeterReading.reading_date
                        ).where(
                            m.MeterReading.meter_id.in_(mids[k : k + 1_000]),
                            m.MeterReading.source == "legacy",
                        )
                    )
                )
            new = [k for k in by_id if k not in have]
            rids = ctx.ids.take("meter_readings", len(new))
            bulk_insert(
                conn,
                m.MeterReading.__table__,
                ("id", "meter_id", "zone", "period", "reading_date", "value", "source", "registry_file_id"),
                (
                    (i, mid, z, d.year * 100 + d.month, d, by_id[(mid, z, d)], "legacy", ctx.file_id)
                    for i, (mid, z, d) in zip(rids, new, strict=True)
                ),
            )
            ctx.bump("readings", len(new))
        self._account_services(pairs, opened)

    def _saldo(self, batch: list[legacy_dbf.SaldoRecord]) -> None:
        conn, ctx = self.conn, self.ctx
        accounts = self._accounts([r.ls for r in batch])
        debts: dict[tuple[int, int, int], list[int]] = {}
        pairs: set[tuple[int, int]] = set()
        opened: dict[int, dt.date] = {}
        for rec in batch:
            problems: list[Problem] = [*rec.errors, *rec.warnings, *self._orphan(rec, accounts)]
            if self._reject(rec, problems):
                continue
            if self.mg is None and rec.mg is not None:
                self.mg = rec.mg
            aid, acc_opened, _owner = accounts[rec.ls]
            svc = self.mapping[rec.usl]
            pairs.add((aid, svc))
            opened[aid] = acc_opened
            ctx.amount_loaded += rec.saldo + rec.peni
            if rec.saldo == 0 and rec.peni == 0:
                continue
            per = rec.mg.year * 100 + rec.mg.month  # type: ignore[union-attr]
            entry = debts.setdefault((aid, svc, per), [0, 0])
            entry[0] += rec.saldo
            entry[1] += rec.peni
        if debts:
            keys = sorted(debts)
            accs = sorted({k[0] for k in keys})
            have: dict[tuple[int, int, int], int] = {}
            for k in range(0, len(accs), 1_000):
                for did, a, s, p in conn.execute(
                    select(
                        m.OpeningDebt.id,
                        m.OpeningDebt.account_id,
                        m.OpeningDebt.service_id,
                        m.OpeningDebt.period,
                    ).where(m.OpeningDebt.account_id.in_(accs[k : k + 1_000]))
                ):
                    have[(int(a), int(s), int(p))] = int(did)
            new = [k for k in keys if k not in have]
            for key in keys:
                if key in have:
                    conn.execute(
                        update(m.OpeningDebt)
                        .where(m.OpeningDebt.id == have[key])
                        .values(
                            principal_kop=m.OpeningDebt.principal_kop + debts[key][0],
                            penalty_kop=m.OpeningDebt.penalty_kop + debts[key][1],
                        )
                    )
            ids = ctx.ids.take("opening_debts", len(new))
            bulk_insert(
                conn,
                m.OpeningDebt.__table__,
                (
                    "id",
                    "account_id",
                    "service_id",
                    "provider_id",
                    "period",
                    "principal_kop",
                    "penalty_kop",
                    "source",
                ),
                [
                    (i, a, s, self._provider(s), p, debts[(a, s, p)][0], debts[(a, s, p)][1], "legacy")
                    for i, (a, s, p) in zip(ids, new, strict=True)
                ],
            )
            ctx.bump("opening_debts", len(new))
        self._account_services(pairs, opened)
