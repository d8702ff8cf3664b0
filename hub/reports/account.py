"""One account: search (number, ЕЛС, card barcode, address), the dossier and the statement.

Search understands: an account number (``3100000123``; a prefix of 4+ digits too), a ЕЛС (``62АА000123``),
a card barcode (``460000000123``) or an address (``Победы 12 5``: street words, then the house, then the
flat). A provider's scope finds only accounts that receive one of its services, and the dossier and the
statement then keep only its services, charges, payment parts and balances.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, func, literal, or_, select

from hub.reports.common import address_expr, frame
from hub.reports.fmt import num
from hub.store import models as m

REGISTRATION_STATUS = {
    1: "постоянно",
    2: "временно отсутствует",
    3: "временно зарегистрирован",
    4: "выбыл",
    6: "временно проживает",
}
METHOD_NAMES = {
    "meter": "по счётчику",
    "norm": "по нормативу",
    "norm_x15": "по нормативу × 1,5",
    "average": "по среднему",
    "area": "по площади",
    "odpu": "по ОДПУ",
    "soi": "СОИ",
    "person": "на человека",
    "fixed": "фиксированная сумма",
}
METER_STATUS = {"working": "исправен", "failed": "неисправен", "removed": "снят"}


def _scoped(column: Any, provider_id: int) -> Any:
    """``provider_id = :id`` written so that no index on the provider is used (``column + 0``): an
    account's rows are found by its own key; the provider's index would read the whole provider."""
    return column + 0 == provider_id


def _own_account(account_col: Any, provider_id: int) -> Any:
    """EXISTS: the account receives a service of the provider (a seek on account_services' key)."""
    s = m.AccountService
    return select(s.id).where(s.account_id == account_col, _scoped(s.provider_id, provider_id)).exists()


def _next_prefix(digits: str) -> str | None:
    """The smallest digit string above every string starting with ``digits`` ("3199" → "32")."""
    head = digits.rstrip("9")
    return head[:-1] + str(int(head[-1]) + 1) if head else None


def _variants(word: str) -> list[str]:
    """Case variants of a word (SQLite's LIKE folds ASCII only)."""
    return list(dict.fromkeys([word, word.lower(), word.capitalize(), word.upper()]))


def search(engine: Engine, text: str, provider_id: int | None = None, limit: int = 50) -> pd.DataFrame:
    """Accounts matching ``text``: number, ЕЛС, barcode or address.

    Two queries, each on an index: the account keys (number, number prefix, ЕЛС, barcode) and the
    address (street words, house, flat: from the buildings down); the result is their union."""
    a, pm, b = m.Account, m.Premises, m.Building
    text = (text or "").strip()
    cols = ["account_id", "number", "els", "owner_name", "address", "status"]
    if not text:
        return pd.DataFrame(columns=cols)
    compact = re.sub(r"\s+", "", text)
    keys: list[Any] = [
        a.number == compact,
        a.els.in_(sorted({compact, compact.upper()})),  # ЕЛС is stored upper-case
        a.card_barcode == compact,
    ]
    if compact.isdigit() and len(compact) >= 4:
        above = _next_prefix(compact)
        prefix = [a.number.like(compact + "%"), a.number >= compact]
        keys.append(and_(*prefix, a.number < above) if above else and_(*prefix))
    words = re.findall(r"[^\W\d_]+", text)
    numbers = re.findall(r"\d+[а-яА-Яa-zA-Z]?", text)
    addr: list[Any] = []
    if words and not (compact.isdigit()):
        addr = [
            or_(*[b.street.like(f"%{v}%") for v in _variants(w)])
            for w in words
            if w.lower() not in ("ул", "д", "кв", "дом", "пр", "пер", "проспект", "улица")
        ]
        if addr and numbers:
            addr.append(or_(*[b.house == v for v in _variants(numbers[0])]))
    flat = [pm.flat == numbers[1]] if addr and len(numbers) > 1 else []

    def query(terms: Any) -> Any:
        stmt = (
            select(
                a.id.label("account_id"),
                a.number,
                a.els,
                a.owner_name,
                (b.settlement + literal(", ") + address_expr() + literal(", кв ") + pm.flat).label("address"),
                a.status,
                b.street.label("_street"),
                b.house.label("_house"),
            )
            .join(pm, pm.id == a.premises_id)
            .join(b, b.id == pm.building_id)
            .where(terms)
            .order_by(b.street, b.house, a.id)
            .limit(limit)
        )
        return stmt.where(_own_account(a.id, provider_id)) if provider_id is not None else stmt

    with engine.connect() as conn:
        parts = [frame(conn, query(or_(*keys)))]
        if addr:  # the buildings first (a few thousand rows), then their flats by the building key
            buildings = [int(v) for v in conn.execute(select(b.id).where(*addr)).scalars()]
            if buildings:
                parts.append(frame(conn, query(and_(pm.building_id.in_(buildings), *flat))))
    found = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
    found = found.drop_duplicates("account_id").sort_values(["_street", "_house", "account_id"]).head(limit)
    return found[cols].reset_index(drop=True)


def dossier(engine: Engine, account_id: int, provider_id: int | None = None) -> dict[str, Any] | None:
    """Premises, residents, meters with readings, services and providers, benefits, absences."""
    a, pm, b = m.Account, m.Premises, m.Building
    with engine.connect() as conn:
        if provider_id is not None:
            allowed = conn.execute(
                select(func.count())
                .select_from(m.AccountService)
                .where(
                    m.AccountService.account_id == account_id,
                    _scoped(m.AccountService.provider_id, provider_id),
                )
            ).scalar_one()
            if not allowed:
                return None
        head = (
            conn.execute(
                select(
                    a.number,
                    a.els,
                    a.card_barcode,
                    a.owner_name,
                    a.status,
                    a.opened_on,
                    a.closed_on,
                    b.settlement,
                    b.street_type,
                    b.street,
                    b.house,
                    b.korp,
                    pm.flat,
                    pm.total_area,
                    pm.living_area,
                    pm.rooms,
                    pm.meter_installable,
                    b.floors,
                    b.built_year,
                    b.total_area.label("building_area"),
                    m.District.name.label("district"),
                    m.ManagementCompany.name.label("mc"),
                )
                .join(pm, pm.id == a.premises_id)
                .join(b, b.id == pm.building_id)
                .join(m.District, m.District.id == b.district_id)
                .outerjoin(m.ManagementCompany, m.ManagementCompany.id == b.mc_id)
                .where(a.id == account_id)
            )
            .mappings()
            .one_or_none()
        )
        if head is None:
            return None
        r, p = m.Registration, m.Person
        residents = frame(
            conn,
            select(
                (p.last_name + literal(" ") + p.first_name + literal(" ") + p.middle_name).label("name"),
                p.birth_date,
                r.status,
                r.date_from,
                r.date_to,
                r.is_owner,
            )
            .join(p, p.id == r.person_id)
            .where(r.account_id == account_id)
            .order_by(r.date_from, r.id),
        )
        s, mt, pr = m.Service, m.Meter, m.Provider
        svc = (
            select(
                s.name.label("service"),
                pr.name.label("provider"),
                m.AccountService.method,
                m.AccountService.date_from,
                m.AccountService.date_to,
            )
            .join(s, s.id == m.AccountService.service_id)
            .join(pr, pr.id == m.AccountService.provider_id)
            .where(m.AccountService.account_id == account_id)
            .order_by(s.sort_order, s.id)
        )
        meters_q = (
            select(
                mt.id,
                s.name.label("service"),
                mt.serial,
                mt.zones,
                mt.installed_on,
                mt.verification_due,
                mt.status,
            )
            .join(s, s.id == mt.service_id)
            .where(mt.account_id == account_id)
            .order_by(s.sort_order, mt.id)
        )
        if provider_id is not None:
            svc = svc.where(_scoped(m.AccountService.provider_id, provider_id))
            own_services = select(m.AccountService.service_id).where(
                m.AccountService.account_id == account_id, _scoped(m.AccountService.provider_id, provider_id)
            )
            meters_q = meters_q.where(mt.service_id.in_(own_services))
        services = frame(conn, svc)
        meters = frame(conn, meters_q)
        mr = m.MeterReading
        readings = frame(
            conn,
            select(
                mr.meter_id,
                mt.serial,
                s.name.label("service"),
                mr.zone,
                mr.period,
                mr.reading_date,
                mr.value,
                mr.source,
            )
            .join(mt, mt.id == mr.meter_id)
            .join(s, s.id == mt.service_id)
            .where(mr.meter_id.in_(meters["id"].tolist() if not meters.empty else [-1]))
            .order_by(mr.meter_id, mr.zone, mr.reading_date.desc()),
        )
        bn, bf, bc = m.Beneficiary, m.Benefit, m.BenefitCode
        benefits = frame(
            conn,
            select(
                (bn.last_name + literal(" ") + bn.first_name + literal(" ") + bn.middle_name).label("name"),
                bf.code,
                bc.name.label("benefit"),
                bf.kind,
                bf.share_percent,
                bf.date_from,
                bf.date_to,
                bn.status,
            )
            .join(bf, bf.beneficiary_id == bn.id)
            .join(bc, bc.code == bf.code)
            .where(bn.account_id == account_id)
            .order_by(bf.date_from),
        )
        ab, p2 = m.Absence, m.Person
        absences = frame(
            conn,
            select(
                (p2.last_name + literal(" ") + p2.first_name).label("name"),
                ab.date_from,
                ab.date_to,
                ab.document,
            )
            .join(p2, p2.id == ab.person_id)
            .where(ab.account_id == account_id)
            .order_by(ab.date_from),
        )
    if not residents.empty:
        residents["status"] = [REGISTRATION_STATUS.get(int(x), str(x)) for x in residents["status"]]
    if not services.empty:
        services["method"] = [METHOD_NAMES.get(x, x) for x in services["method"]]
    if not meters.empty:
        meters["status"] = [METER_STATUS.get(x, x) for x in meters["status"]]
    street = f"{head['street_type']} {head['street']}, д {head['house']}{head['korp'] or ''}"
    return {
        "head": dict(head),
        "address": f"{head['settlement']}, {street}, кв {head['flat']}",
        "residents": residents,
        "services": services,
        "meters": meters,
        "readings": readings,
        "benefits": benefits,
        "absences": absences,
    }


def _dec(value: Any, places: int = 3) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    d = Decimal(str(value)).normalize()
    text = format(d, "f")
    whole, _, frac = text.partition(".")
    return num(int(whole)) + ("," + frac[:places] if frac else "")


def _given(row: dict[str, Any], key: str) -> bool:
    value = row.get(key)
    return value is not None and not (isinstance(value, float) and pd.isna(value))


def explain(row: dict[str, Any]) -> str:
    """A human explanation of a charge line, e.g. ``7,935 × 52,93 ₽ (по счётчику)``.

    The quantity is the volume when there is one (its basis — norm, persons, area, coefficient — in
    brackets), else the area or the persons; then the tariff, the method and the reason.
    """
    method = METHOD_NAMES.get(row.get("method") or "", row.get("method") or "")
    basis: list[str] = []
    if _given(row, "norm"):
        basis.append(f"норматив {_dec(row['norm'], 4)}")
    if _given(row, "persons"):
        basis.append(f"{_dec(row['persons'], 2)} чел.")
    if _given(row, "area"):
        basis.append(f"{_dec(row['area'], 2)} м²")
    if _given(row, "coefficient"):
        basis.append(f"коэфф. {_dec(row['coefficient'])}")
    if _given(row, "volume"):
        quantity = _dec(row["volume"], 6)
    elif basis:
        quantity, basis = basis[0], basis[1:]
    else:
        quantity = ""
    text = quantity
    if _given(row, "tariff"):
        tariff = f"{_dec(row['tariff'], 4)} ₽"
        text = f"{quantity} × {tariff}" if quantity else f"тариф {tariff}"
    details = [*basis, method] if method else basis
    if details:
        text = f"{text} ({', '.join(details)})" if text else ", ".join(details)
    if row.get("reason"):
        text = f"{text}; {row['reason']}" if text else str(row["reason"])
    return text


def statement(engine: Engine, account_id: int, provider_id: int | None = None) -> dict[str, pd.DataFrame]:
    """Charges with explanations, payments with their splits, balances by service × month, opening debts."""
    cl, s, pr = m.ChargeLine, m.Service, m.Provider
    with engine.connect() as conn:
        periods = [int(v) for v in conn.execute(select(m.BillingPeriod.period)).scalars()]
    charges_q = (
        select(
            cl.period,
            s.name.label("service"),
            pr.name.label("provider"),
            cl.kind,
            cl.component,
            cl.corrected_period,
            cl.reason_code,
            cl.reason,
            cl.method,
            cl.volume,
            cl.tariff,
            cl.norm,
            cl.coefficient,
            cl.persons,
            cl.area,
            cl.amount_kop,
        )
        .join(s, s.id == cl.service_id)
        .join(pr, pr.id == cl.provider_id)
        # period = each month (seeks on the (period, account) key)
        .where(cl.period.in_(periods), cl.account_id == account_id)
        .order_by(cl.period.desc(), s.sort_order, cl.kind, cl.id)
    )
    p, a, g = m.Payment, m.PaymentAllocation, m.PaymentAgent
    alloc_q = (
        select(
            a.payment_id,
            p.op_date,
            g.name.label("agent"),
            s.name.label("service"),
            pr.name.label("provider"),
            a.period,
            a.kind,
            a.amount_kop,
            a.transfer_id,
        )
        .join(p, p.id == a.payment_id)
        .join(g, g.id == p.agent_id)
        .join(s, s.id == a.service_id)
        .join(pr, pr.id == a.provider_id)
        .where(p.account_id == account_id, a.account_id == account_id)  # from the account's payments
        .order_by(p.op_date.desc(), a.payment_id, s.sort_order, a.period)
    )
    pay_q = (
        select(
            p.id.label("payment_id"),
            p.op_date,
            g.name.label("agent"),
            p.period,
            p.amount_kop,
            p.commission_kop,
            p.status,
        )
        .join(g, g.id == p.agent_id)
        .where(p.account_id == account_id)
        .order_by(p.op_date.desc(), p.id)
    )
    ab = m.AccountBalance
    bal_q = (
        select(
            ab.period,
            s.name.label("service"),
            pr.name.label("provider"),
            ab.opening_kop,
            ab.charged_kop,
            ab.recalc_kop,
            ab.benefit_kop,
            ab.penalty_kop,
            ab.paid_kop,
            ab.correction_kop,
            ab.closing_kop,
        )
        .join(s, s.id == ab.service_id)
        .join(pr, pr.id == ab.provider_id)
        .where(ab.period.in_(periods), ab.account_id == account_id)
        .order_by(ab.period.desc(), s.sort_order)
    )
    od = m.OpeningDebt
    debts_q = (
        select(
            od.period, s.name.label("service"), pr.name.label("provider"), od.principal_kop, od.penalty_kop
        )
        .join(s, s.id == od.service_id)
        .join(pr, pr.id == od.provider_id)
        .where(od.account_id == account_id)
        .order_by(od.period, s.sort_order)
    )
    if provider_id is not None:
        charges_q = charges_q.where(_scoped(cl.provider_id, provider_id))
        alloc_q = alloc_q.where(_scoped(a.provider_id, provider_id))
        bal_q = bal_q.where(_scoped(ab.provider_id, provider_id))
        debts_q = debts_q.where(_scoped(od.provider_id, provider_id))
    with engine.connect() as conn:
        charges = frame(conn, charges_q)
        allocations = frame(conn, alloc_q)
        balances = frame(conn, bal_q)
        debts = frame(conn, debts_q)
        if provider_id is None:
            payments = frame(conn, pay_q)
        else:
            # A provider sees a payment only through its own part of it.
            own = (
                select(
                    p.id.label("payment_id"),
                    p.op_date,
                    g.name.label("agent"),
                    p.period,
                    func.sum(a.amount_kop).label("amount_kop"),
                    func.sum(a.commission_kop).label("commission_kop"),
                    p.status,
                )
                .join(a, a.payment_id == p.id)
                .join(g, g.id == p.agent_id)
                .where(p.account_id == account_id, _scoped(a.provider_id, provider_id))
                .group_by(p.id, p.op_date, g.name, p.period, p.status)
                .order_by(p.op_date.desc(), p.id)
            )
            payments = frame(conn, own)
    if not charges.empty:
        charges["explanation"] = [explain(r) for r in charges.to_dict("records")]
    return {
        "charges": charges,
        "payments": payments,
        "allocations": allocations,
        "balances": balances,
        "opening_debts": debts,
    }
