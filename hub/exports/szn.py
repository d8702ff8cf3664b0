"""Charges for social protection (formats §4.2): the reply to a loaded beneficiaries list.

The reply answers every beneficiary the list wrote to the store (``beneficiaries.registry_file_id``
= that list): ``FOUND`` with the account's area, registered and living persons, debt and per
service charges of the list's period, or ``NOT_FOUND`` when the beneficiary was not matched to an
account. (A beneficiary sent again in a later list belongs to the later list's reply.)

Per service, from ``charge_lines`` of the period: ``charged`` = regular + recalculation + reduction
lines (not below 0), ``benefit`` = −Σ benefit lines (capped at ``charged``), method/tariff/norm from
the regular line (meter, average and area as they are; every other method of the engine is a kind
of norm), quantity = Σ volumes of the regular lines. ``Debt``: the account's debt at the start of
the period — Σ ``account_balances.opening_kop`` of the period (not below 0), or, before the first
billing, Σ ``opening_debts`` up to the period (a legacy migration dates its balances with the
period itself) — and its months: the distinct months of those ``opening_debts`` with a debt,
or, from balances, the debt divided by the period's charges rounded up. ``courtDecision`` is
false (court acts are not in the store).

``CreatedAt`` is the time of the first export of the reply, so exporting again gives the same
bytes; the file is ``SZN_CHG_{office}_{ГГГГММ}_{NNN}.xml`` with the NNN of the inbound list.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from connectors.formats import szn as fmt
from connectors.formats.common import Period
from hub.exports.common import DEFAULT_OUTBOX, ExportedFile, ExportError, write_export
from hub.store import models as m

__all__ = ["export_szn_reply", "build_reply"]

METHODS = {"meter": "meter", "average": "average", "area": "area", "odpu": "meter"}
Q6 = Decimal("0.000001")


def _find_list(conn: Connection, reply_to: str) -> Any:
    rf = m.RegistryFile
    row = conn.execute(
        select(rf.id, rf.name, rf.file_date, rf.sender)
        .where(
            rf.kind == "szn",
            rf.partner_file_id == reply_to,
            rf.status.in_(("loaded", "loaded_with_errors")),
        )
        .order_by(rf.id.desc())
    ).first()
    if row is None:
        raise ExportError(f"Список получателей УСЗН с FileId «{reply_to}» не загружен: отвечать не на что")
    return row


def _services(
    conn: Connection, account_id: int, period: int, benefit_code: str | None
) -> list[fmt.ChargeService]:
    c, s, p = m.ChargeLine, m.Service, m.Provider
    rows = conn.execute(
        select(
            c.service_id,
            s.code,
            s.name,
            s.unit,
            s.sort_order,
            c.kind,
            c.method,
            c.tariff,
            c.norm,
            c.volume,
            c.amount_kop,
            p.inn,
            c.component,
        )
        .join(s, s.id == c.service_id)
        .join(p, p.id == c.provider_id)
        .where(c.account_id == account_id, c.period == period)
        .order_by(s.sort_order, s.code, c.kind, c.component, c.corrected_period, c.reason_code)
    ).all()
    by_svc: dict[int, dict[str, Any]] = {}
    for r in rows:
        e = by_svc.setdefault(
            int(r[0]),
            {
                "code": r[1],
                "name": r[2],
                "unit": r[3],
                "charged": 0,
                "benefit": 0,
                "qty": Decimal(0),
                "reg": None,
            },
        )
        kind = r[5]
        if kind in ("regular", "recalculation", "reduction"):
            e["charged"] += int(r[10])
        if kind == "benefit":
            e["benefit"] -= int(r[10])
        if kind == "regular":
            e["qty"] += Decimal(r[9] or 0)
            if e["reg"] is None:
                e["reg"] = r
    out = []
    for e in by_svc.values():
        reg = e["reg"]
        if reg is None:
            continue
        charged = max(0, e["charged"])
        benefit = min(max(0, e["benefit"]), charged)
        norm = reg[8]
        out.append(
            fmt.ChargeService(
                code=e["code"],
                name=e["name"],
                provider_inn=reg[11],
                unit=e["unit"],
                method=METHODS.get(reg[6] or "", "norm"),
                tariff=Decimal(reg[7] or 0),
                quantity=e["qty"].quantize(Q6),
                charged=charged,
                benefit=benefit,
                norm=Decimal(norm).quantize(Q6) if norm is not None else None,
                benefit_code=benefit_code if benefit and benefit_code else None,
            )
        )
    return out


def _debt(conn: Connection, account_id: int, period: int, charged: int) -> fmt.Debt:
    ab, od = m.AccountBalance, m.OpeningDebt
    has = conn.execute(
        select(ab.period).where(ab.account_id == account_id, ab.period == period).limit(1)
    ).first()
    if has:
        total = int(
            conn.execute(
                select(func.coalesce(func.sum(ab.opening_kop), 0)).where(
                    ab.account_id == account_id, ab.period == period
                )
            ).scalar_one()
        )
        total = max(0, total)
        months = 0 if total == 0 else (-(-total // charged) if charged > 0 else 1)
        return fmt.Debt(min(months, 999), total, False)
    rows = conn.execute(
        select(od.period, func.sum(od.principal_kop), func.sum(od.penalty_kop))
        .where(od.account_id == account_id, od.period <= period)
        .group_by(od.period)
    ).all()
    total = max(0, sum(int(r[1]) + int(r[2]) for r in rows))
    months = sum(1 for r in rows if int(r[1]) > 0) if total else 0
    return fmt.Debt(months, total, False)


def _persons(conn: Connection, account_id: int, period: int) -> tuple[int, int]:
    r = m.Registration
    start = dt.date(period // 100, period % 100, 1)
    statuses = [
        int(s)
        for s in conn.execute(
            select(r.status).where(
                r.account_id == account_id, r.date_from <= start, (r.date_to.is_(None)) | (r.date_to >= start)
            )
        ).scalars()
    ]
    registered = sum(1 for s in statuses if s in (1, 2, 3))
    living = sum(1 for s in statuses if s in (1, 3, 6))
    return registered, living


def build_reply(
    conn: Connection, reply_to: str, created_at: dt.datetime
) -> tuple[fmt.ChargeReport, list[str]]:
    """The ChargeReport answering the list ``reply_to`` and the ids it must answer."""
    lst = _find_list(conn, reply_to)
    if lst.file_date is None:
        raise ExportError(f"У списка «{reply_to}» не записан период")
    period = lst.file_date.year * 100 + lst.file_date.month
    be, bf = m.Beneficiary, m.Benefit
    bens = conn.execute(
        select(be.id, be.external_id, be.account_id, be.szn_code).where(be.registry_file_id == lst.id)
    ).all()
    bens = sorted(bens, key=lambda r: (len(r[1]), r[1]))
    code = bens[0][3] if bens else (lst.sender.split(":", 1)[-1] or "")
    from hub.config import load_settings

    center_inn = load_settings().center.inn
    answers = []
    start = dt.date(period // 100, period % 100, 1)
    for bid, ext, account_id, _code in bens:
        if account_id is None:
            answers.append(fmt.ChargeBeneficiary(ext, "NOT_FOUND"))
            continue
        acc = conn.execute(
            select(m.Account.number, m.Premises.total_area)
            .join(m.Premises, m.Premises.id == m.Account.premises_id)
            .where(m.Account.id == account_id)
        ).one()
        benefit_code = conn.execute(
            select(bf.code)
            .where(
                bf.beneficiary_id == bid,
                bf.date_from <= start,
                (bf.date_to.is_(None)) | (bf.date_to >= start),
            )
            .order_by(bf.code)
        ).scalar()
        services = _services(conn, account_id, period, benefit_code)
        registered, living = _persons(conn, account_id, period)
        charged = sum(s.charged for s in services)
        answers.append(
            fmt.ChargeBeneficiary(
                ext,
                "FOUND",
                account=acc[0],
                area_total=Decimal(acc[1]).quantize(Decimal("0.01")),
                registered=registered,
                living=living,
                debt=_debt(conn, account_id, period, charged),
                services=tuple(services),
            )
        )
    mt = re.search(r"_(\d{3})$", reply_to)
    file_id = f"SZN_CHG_{code}_{period}_{mt.group(1) if mt else '001'}"
    header = fmt.ChargeHeader(
        file_id=file_id,
        center_inn=center_inn,
        receiver_code=code,
        period=Period(period // 100, period % 100),
        created_at=created_at,
        reply_to=reply_to,
    )
    return fmt.ChargeReport(header, answers), [b[1] for b in bens]


def export_szn_reply(engine: Engine, reply_to: str, out_dir: str | Path = DEFAULT_OUTBOX) -> ExportedFile:
    """Write the charges reply to the beneficiaries list whose FileId is ``reply_to``."""
    with engine.begin() as conn:
        probe, _ids = build_reply(conn, reply_to, dt.datetime(2000, 1, 1))
        name = f"{probe.header.file_id}.xml"
        first = conn.execute(
            select(m.ExportLog.created_at).where(
                m.ExportLog.kind == "szn_reply", m.ExportLog.file_name == name
            )
        ).scalar()
        created = first or dt.datetime.now().replace(microsecond=0)
        report, ids = build_reply(conn, reply_to, created)
        data = fmt.charges_bytes(report, expected_ids=ids)
        charged = sum(s.charged for b in report.beneficiaries for s in b.services)
        return write_export(
            conn,
            Path(out_dir),
            name,
            data,
            kind="szn_reply",
            target=f"SZN:{report.header.receiver_code}",
            lines=len(report.beneficiaries),
            total_kop=charged,
            created_at=created,
        )
