"""Adds a month of realistic activity to a synthetic-city store, so every dashboard has numbers to show.

The city (hub.city) has accounts, people, meters, readings and opening debts, but no charges or money yet
(the engine and the connectors write those). :func:`fill_activity` adds, for the open period P:

- a billing run (``calc_runs``) and ``charge_lines``: regular charges of every account service with their
  explanation (method, volume, tariff, norm, coefficient, persons, area), recalculations (late meter
  readings, temporary absence), quality reductions in buildings with incidents, penalties on old debts,
  benefits;
- payment registries (``registry_files``) of SBER, VTB, the post and the terminals, one per agent and day
  of the month (received the next morning), some loaded with rejected lines (``registry_errors``), two
  rejected whole; the terminals stop sending three days before the end (a late partner);
- ``payments`` (about 1.5 % unidentified), split FIFO over opening debts then the month's charges into
  ``payment_allocations`` (with the agent's commission and the center's fee), ``provider_transfers`` one
  to five days after the payment day (the last days still waiting), ``account_balances`` of P, and
  ``run_log`` rows of four DAGs with one failure.

Deterministic for a seed. Used by the tests and by the dashboards benchmark
(``python -m tests.dashboards.bench``); run it only on a store of your own, never on a shared one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select, text

from hub.billing.bill import LINE_COLUMNS
from hub.ingest.payments import PAYMENT_COLUMNS
from hub.store import models as m
from hub.store.db import bulk_insert

AGENTS = {  # code: (sender, file kind, share of payments, commission rate)
    "SBER": ("BANK:8606", "bank", 0.50, Decimal("0.01")),
    "VTB": ("BANK:VTB", "bank", 0.15, Decimal("0.012")),
    "POST": ("POST:390000", "post", 0.20, Decimal("0")),
    "TERM": ("TERM:GOROD", "bank", 0.15, Decimal("0.015")),
}
TARIFF = {
    "HVS": "58.22",
    "VOD": "45.32",
    "GVS": "270.16",
    "OTOP": "3135.44",
    "EL": "7.07",
    "GAS": "8.91",
    "KAPR": "17.05",
    "TKO": "150.10",
    "SOD": "30.00",
    "HVS_SOI": "58.22",
    "GVS_SOI": "270.16",
    "VOD_SOI": "45.32",
    "EL_SOI": "7.07",
}
NORM = {
    "HVS": "4.85",
    "GVS": "3.60",
    "VOD": "8.45",
    "EL": "90",
    "GAS": "10.5",
    "OTOP": "0.0165",
    "HVS_SOI": "0.03",
    "GVS_SOI": "0.03",
    "VOD_SOI": "0.06",
    "EL_SOI": "0.95",
}
REJECT_REASONS = (
    ("SUM", "Сумма платежа", "E02", "Сумма платежа не является числом"),
    ("DATE", "Дата платежа", "E05", "Дата платежа вне периода реестра"),
    ("LS", "Лицевой счёт", "E07", "Лицевой счёт указан в неверном формате"),
)
Q2 = Decimal("0.01")


def _kop(value: Decimal) -> int:
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _split(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` kopecks proportionally to ``weights`` (largest remainder; Σ = total)."""
    wsum = sum(weights)
    if wsum <= 0:
        return [0] * len(weights)
    raw = [total * w for w in weights]
    parts = [r // wsum for r in raw]
    rest = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] % wsum), i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


def _period_add(period: int, months: int) -> int:
    y, mo = divmod(period // 100 * 12 + period % 100 - 1 + months, 12)
    return y * 100 + mo + 1


def _next_id(conn: Any, table: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1


def fill_activity(engine: Engine, seed: int = 7) -> dict[str, int]:
    """Add a month of charges, payments, files, transfers, balances and runs; returns row counts."""
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        period = int(conn.execute(select(func.max(m.BillingPeriod.period))).scalar_one())
        first_day = dt.date(period // 100, period % 100, 1)
        svc = {
            code: (sid, sort)
            for code, sid, sort in conn.execute(select(m.Service.code, m.Service.id, m.Service.sort_order))
        }
        code_of = {sid: code for code, (sid, _s) in svc.items()}
        fee_rate = {
            pid: Decimal(str(r)) for pid, r in conn.execute(select(m.Provider.id, m.Provider.fee_rate))
        }
        prov_inn = {pid: inn for pid, inn in conn.execute(select(m.Provider.id, m.Provider.inn))}
        agents = {code: aid for code, aid in conn.execute(select(m.PaymentAgent.code, m.PaymentAgent.id))}
        accounts = conn.execute(
            select(
                m.Account.id,
                m.Account.number,
                m.Account.owner_name,
                m.Premises.total_area,
                m.Premises.building_id,
            )
            .join(m.Premises, m.Premises.id == m.Account.premises_id)
            .where(m.Account.status == "open")
            .order_by(m.Account.id)
        ).all()
        persons = dict(
            conn.execute(
                select(m.Registration.account_id, func.count())
                .where(m.Registration.status != 4)
                .group_by(m.Registration.account_id)
            ).all()
        )
        services: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        for acc, sid, pid, method in conn.execute(
            select(
                m.AccountService.account_id,
                m.AccountService.service_id,
                m.AccountService.provider_id,
                m.AccountService.method,
            ).order_by(m.AccountService.account_id, m.AccountService.id)
        ):
            services[acc].append((sid, pid, method))
        debts: dict[int, list[tuple[int, int, int, int, int]]] = defaultdict(list)
        for acc, sid, pid, per, principal, penalty in conn.execute(
            select(
                m.OpeningDebt.account_id,
                m.OpeningDebt.service_id,
                m.OpeningDebt.provider_id,
                m.OpeningDebt.period,
                m.OpeningDebt.principal_kop,
                m.OpeningDebt.penalty_kop,
            ).order_by(m.OpeningDebt.account_id, m.OpeningDebt.period, m.OpeningDebt.service_id)
        ):
            debts[acc].append((sid, pid, per, principal, penalty))
        beneficiaries = set(
            conn.execute(
                select(m.Beneficiary.account_id).where(m.Beneficiary.account_id.is_not(None))
            ).scalars()
        )
        absent = set(conn.execute(select(m.Absence.account_id)).scalars())
        incidents: dict[int, list[tuple[str, str, Decimal]]] = defaultdict(list)
        for bld, sid, act, hours in conn.execute(
            select(
                m.QualityIncident.building_id,
                m.QualityIncident.service_id,
                m.QualityIncident.act_number,
                m.QualityIncident.hours,
            ).where(m.QualityIncident.started_at >= _period_start(period, -1))
        ):
            incidents[bld].append((code_of[sid], act, Decimal(str(hours))))

        # -- the billing run and its charge lines ----------------------------------------------
        run_id = _next_id(conn, m.CalcRun.__table__)
        started = dt.datetime.combine(first_day.replace(day=25), dt.time(22, 0))
        conn.execute(
            m.CalcRun.__table__.insert().values(
                id=run_id,
                kind="bill",
                period=period,
                run_date=first_day.replace(day=25),
                engine="rust",
                started_at=started,
                finished_at=started + dt.timedelta(minutes=3),
                lines=0,
                total_kop=0,
            )
        )
        lines: list[tuple[Any, ...]] = []
        charged: dict[tuple[int, int], list[int]] = defaultdict(
            lambda: [0, 0, 0, 0, 0]
        )  # reg, recalc, red, ben, pen
        provider_of: dict[tuple[int, int], int] = {}
        n_lines = total_lines = 0

        def flush_lines() -> None:
            # written in blocks: a million accounts make 13 M lines, too many to hold as Python tuples
            nonlocal n_lines, total_lines
            bulk_insert(
                conn,
                m.ChargeLine.__table__,
                LINE_COLUMNS,
                (
                    (*row[:10], *(None if v is None else str(v) for v in row[10:16]), row[16], run_id)
                    for row in lines
                ),
            )
            n_lines += len(lines)
            total_lines += sum(r[16] for r in lines)
            lines.clear()

        for acc, _number, _owner, area_raw, bld in accounts:
            if len(lines) >= 200_000:
                flush_lines()
            area = Decimal(str(area_raw)).quantize(Q2)
            people = max(int(persons.get(acc, 0)), 1)
            for sid, pid, method in services.get(acc, []):
                code = code_of[sid]
                tariff = Decimal(TARIFF[code])
                norm = Decimal(NORM[code]) if code in NORM else None
                coef = Decimal("1.5") if method == "norm_x15" else None
                volume: Decimal | None
                per_persons: Decimal | None = None
                per_area: Decimal | None = None
                if code in ("SOD", "KAPR"):
                    volume, per_area = None, area
                    amount = _kop(area * tariff)
                elif code == "OTOP":
                    volume = (
                        area * Decimal(NORM["OTOP"]) * Decimal(str(round(rng.uniform(0.85, 1.15), 3)))
                    ).quantize(Decimal("0.000001"))
                    per_area = area
                    amount = _kop(volume * tariff)
                elif code.endswith("_SOI"):
                    volume = (area * Decimal(NORM[code]) * Decimal("0.12")).quantize(Decimal("0.0001"))
                    per_area = area
                    amount = _kop(volume * tariff)
                elif code == "TKO":
                    volume, per_persons = None, Decimal(people)
                    amount = _kop(tariff * people)
                elif method == "meter":
                    factor = Decimal(str(round(rng.lognormal(-0.4, 0.3), 3)))
                    volume = (Decimal(NORM[code]) * people * factor).quantize(Decimal("0.001"))
                    norm = None
                    amount = _kop(volume * tariff)
                else:
                    per_persons = Decimal(people)
                    volume = (Decimal(NORM[code]) * people).quantize(Decimal("0.001"))
                    amount = _kop(volume * tariff * (coef or 1))
                if amount <= 0:
                    continue
                key = (acc, sid)
                provider_of[key] = pid
                charged[key][0] += amount
                lines.append(
                    (
                        period,
                        acc,
                        sid,
                        pid,
                        "regular",
                        "",
                        0,
                        "",
                        "",
                        method,
                        volume,
                        tariff,
                        norm,
                        coef,
                        per_persons,
                        per_area,
                        amount,
                    )
                )
                roll = rng.random()
                if code == "HVS" and roll < 0.04:
                    amt = int(rng.integers(-30_000, 30_000)) or 100
                    prev = _period_add(period, -1)
                    lines.append(
                        (
                            period,
                            acc,
                            sid,
                            pid,
                            "recalculation",
                            "",
                            prev,
                            "METER",
                            "Перерасчёт по показаниям ИПУ, переданным после закрытия периода",
                            "meter",
                            None,
                            tariff,
                            None,
                            None,
                            None,
                            None,
                            amt,
                        )
                    )
                    charged[key][1] += amt
                if code in ("HVS", "GVS") and acc in absent and method != "meter":
                    amt = -amount * int(rng.integers(10, 60)) // 100
                    lines.append(
                        (
                            period,
                            acc,
                            sid,
                            pid,
                            "recalculation",
                            "",
                            _period_add(period, -1),
                            "ABSENCE",
                            "Перерасчёт за период временного отсутствия",
                            method,
                            None,
                            tariff,
                            None,
                            None,
                            None,
                            None,
                            amt,
                        )
                    )
                    charged[key][1] += amt
                for inc_code, act, hours in incidents.get(bld, []):
                    if inc_code == code:
                        amt = -max(1, amount * min(int(hours), 72) // 720)
                        lines.append(
                            (
                                period,
                                acc,
                                sid,
                                pid,
                                "reduction",
                                "",
                                0,
                                f"Q_{code}",
                                f"Снижение платы за качество: {hours.normalize()} ч, {act}",
                                method,
                                None,
                                None,
                                None,
                                None,
                                None,
                                None,
                                amt,
                            )
                        )
                        charged[key][2] += amt
                        break
                if code == "SOD" and acc in beneficiaries:
                    amt = -amount // 2
                    lines.append(
                        (
                            period,
                            acc,
                            sid,
                            pid,
                            "benefit",
                            "",
                            0,
                            "LGOTA",
                            "Льгота 50 % (СЗН 0612)",
                            "area",
                            None,
                            None,
                            None,
                            None,
                            None,
                            per_area,
                            amt,
                        )
                    )
                    charged[key][3] += amt
            for sid, pid, per, principal, _pen in debts.get(acc, []):
                if principal > 0 and per <= _period_add(period, -3):
                    key = (acc, sid)
                    pen_key = (acc, sid, "penalty")
                    if pen_key in provider_of:
                        continue
                    provider_of[pen_key] = pid  # type: ignore[index]
                    provider_of.setdefault(key, pid)
                    total_old = sum(
                        d[3]
                        for d in debts[acc]
                        if d[0] == sid and d[3] > 0 and d[2] <= _period_add(period, -3)
                    )
                    amt = max(1, total_old * 95 // 100 // 300 * 30 // 10)
                    lines.append(
                        (
                            period,
                            acc,
                            sid,
                            pid,
                            "penalty",
                            "",
                            0,
                            "",
                            "Пени: 1/300 ставки, 30 дней",
                            "",
                            None,
                            None,
                            None,
                            None,
                            None,
                            None,
                            amt,
                        )
                    )
                    charged[key][4] += amt
        flush_lines()
        conn.execute(
            m.CalcRun.__table__.update()
            .where(m.CalcRun.__table__.c.id == run_id)
            .values(lines=n_lines, total_kop=total_lines)
        )

        # -- payments, their files and errors -------------------------------------------------
        days = [first_day + dt.timedelta(days=d) for d in range(1, 27)]  # the 2nd … the 27th
        codes = list(AGENTS)
        shares = np.array([AGENTS[c][2] for c in codes])
        payments: list[dict[str, Any]] = []
        bill_of: dict[int, int] = defaultdict(int)
        for (acc, _sid), v in charged.items():
            bill_of[acc] += v[0] + v[1] + v[2] + v[3]
        for acc, number, owner, _area, _bld in accounts:
            if rng.random() > 0.78 or bill_of[acc] <= 0:
                continue
            agent = codes[int(rng.choice(len(codes), p=shares))]
            day = days[int(rng.integers(0, len(days)))]
            if agent == "TERM" and day > days[-4]:
                agent = "SBER"
            factor = rng.choice([1.0, 1.0, 1.0, 0.5, 0.8, 1.5, 3.0])
            amount = max(100, int(bill_of[acc] * factor) // 100 * 100)
            payments.append(
                {
                    "account_id": acc,
                    "number": number,
                    "payer": owner,
                    "agent": agent,
                    "day": day,
                    "amount": amount,
                    "unidentified": False,
                }
            )
        n_unid = max(3, len(payments) * 15 // 1000)
        for k in range(n_unid):
            agent = codes[k % 3]
            payments.append(
                {
                    "account_id": None,
                    "number": f"3199{int(rng.integers(0, 999999)):06d}",
                    "payer": "Неизвестный плательщик",
                    "agent": agent,
                    "day": days[int(rng.integers(0, len(days)))],
                    "amount": int(rng.integers(5, 60)) * 10_000,
                    "unidentified": True,
                }
            )
        payments.sort(key=lambda p: (p["day"], p["agent"], p["number"]))
        file_id = _next_id(conn, m.RegistryFile.__table__)
        pay_id = _next_id(conn, m.Payment.__table__)
        err_id = _next_id(conn, m.RegistryError.__table__)
        files, errors, pay_rows = [], [], []
        by_file: dict[tuple[dt.date, str], list[dict[str, Any]]] = defaultdict(list)
        for p in payments:
            by_file[(p["day"], p["agent"])].append(p)
        file_seq = 0
        for (day, agent), plist in sorted(by_file.items()):
            sender, kind, _share, rate = AGENTS[agent]
            file_seq += 1
            received = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(7 + codes.index(agent), 15))
            name = (
                f"POST_390000_{day:%Y%m%d}_001.txt"
                if agent == "POST"
                else f"6234000011_40702810900000001234_{file_seq:03d}_{day:%m%d}.txt"
                if agent == "SBER"
                else f"{agent}_{day:%Y%m%d}.txt"
            )
            rejected_n = int(rng.integers(1, 4)) if rng.random() < 0.2 else 0
            rejected_sum = 0
            for j in range(rejected_n):
                field, label, code, message = REJECT_REASONS[int(rng.integers(0, len(REJECT_REASONS)))]
                amt = int(rng.integers(10, 300)) * 100
                rejected_sum += amt
                errors.append(
                    (
                        err_id,
                        file_id,
                        len(plist) + j + 1,
                        label,
                        code,
                        message,
                        f"{day:%d-%m-%Y};31{int(rng.integers(0, 99999999)):08d};{amt / 100:.2f}",
                        "error",
                    )
                )
                err_id += 1
            loaded = sum(p["amount"] for p in plist)
            unid = sum(p["amount"] for p in plist if p["unidentified"])
            for line, p in enumerate(plist, start=1):
                commission = _kop(Decimal(p["amount"]) / 100 * rate)
                op_time = dt.time(int(rng.integers(8, 21)), int(rng.integers(0, 60)))
                p["id"], p["commission"] = pay_id, commission
                pay_rows.append(
                    (
                        pay_id,
                        agents[agent],
                        file_id,
                        line,
                        f"{agent}{day:%Y%m%d}{line:06d}",
                        day,
                        op_time,
                        "8606/0001" if agent != "POST" else "390000",
                        p["account_id"],
                        p["number"],
                        p["payer"],
                        None,
                        _period_add(period, -1),
                        "payment",
                        p["amount"],
                        p["amount"] - commission,
                        commission,
                        p["unidentified"],
                        "unidentified" if p["unidentified"] else "split",
                        None,
                    )
                )
                pay_id += 1
            status = "loaded_with_errors" if rejected_n else "loaded"
            files.append(
                (
                    file_id,
                    "in",
                    sender,
                    kind,
                    name,
                    hashlib.sha256(f"{seed}{name}".encode()).hexdigest(),
                    received,
                    day,
                    status,
                    len(plist) + rejected_n,
                    len(plist),
                    rejected_n,
                    loaded + rejected_sum,
                    loaded,
                    unid,
                    f"{int(rng.integers(100, 999))}",
                    day + dt.timedelta(days=1),
                    f"{name}.err" if rejected_n else None,
                    f"Отклонено строк: {rejected_n}" if rejected_n else None,
                )
            )
            file_id += 1
        for day, agent, why in (
            (days[8], "POST", "Контрольная сумма реестра не совпадает с суммой строк"),
            (days[-2], "VTB", "Реестр не соответствует формату: нет итоговой строки"),
        ):
            sender, kind, _s, _r = AGENTS[agent]
            name = f"{agent}_{day:%Y%m%d}_002.txt"
            received = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12, 40))
            files.append(
                (
                    file_id,
                    "in",
                    sender,
                    kind,
                    name,
                    hashlib.sha256(f"{seed}{name}".encode()).hexdigest(),
                    received,
                    day,
                    "rejected",
                    12,
                    0,
                    12,
                    1_234_500,
                    0,
                    0,
                    None,
                    None,
                    f"{name}.err",
                    why,
                )
            )
            errors.append((err_id, file_id, 0, "", "E00", why, None, "error"))
            err_id += 1
            file_id += 1
        bulk_insert(
            conn,
            m.RegistryFile.__table__,
            (
                "id",
                "direction",
                "sender",
                "kind",
                "name",
                "sha256",
                "received_at",
                "file_date",
                "status",
                "lines_total",
                "lines_loaded",
                "lines_rejected",
                "control_sum_kop",
                "amount_loaded_kop",
                "amount_unidentified_kop",
                "order_number",
                "order_date",
                "error_protocol",
                "message",
            ),
            files,
        )
        bulk_insert(
            conn,
            m.RegistryError.__table__,
            ("id", "file_id", "line_no", "field", "code", "message", "source_line", "severity"),
            errors,
        )
        bulk_insert(
            conn,
            m.Payment.__table__,
            (*PAYMENT_COLUMNS, "designated"),
            pay_rows,
        )

        # -- allocations: FIFO over opening debts, then the month's charges ------------------
        open_items: dict[int, list[list[int]]] = defaultdict(list)  # acc → [period, sid, pid, remaining]
        for acc, lst in debts.items():
            for sid, pid, per, principal, _pen in lst:
                if principal > 0:
                    open_items[acc].append([per, sid, pid, principal])
        for (acc, sid), v in charged.items():
            net = v[0] + v[1] + v[2] + v[3]
            if net > 0:
                open_items[acc].append([period, sid, provider_of[(acc, sid)], net])
        for items in open_items.values():
            items.sort(key=lambda it: (it[0], svc_sort(svc, code_of, it[1])))
        alloc_rows: list[list[Any]] = []
        paid: dict[tuple[int, int], int] = defaultdict(int)
        for p in payments:
            if p["unidentified"]:
                continue
            acc = p["account_id"]
            left = p["amount"]
            parts: list[tuple[int, int, int, str, int]] = []  # sid, pid, period, kind, amount
            items = open_items.get(acc, [])
            for per in sorted({it[0] for it in items}):
                group = [it for it in items if it[0] == per and it[3] > 0]
                total = sum(it[3] for it in group)
                if not total or left <= 0:
                    continue
                give = min(left, total)
                for it, amt in zip(group, _split(give, [it[3] for it in group]), strict=True):
                    if amt:
                        it[3] -= amt
                        parts.append((it[1], it[2], per, "principal", amt))
                left -= give
            if left > 0:
                sid, pid = _advance_target(services.get(acc, []), code_of)
                parts.append((sid, pid, _period_add(period, 1), "advance", left))
            merged: dict[tuple[int, int, int, str], int] = defaultdict(int)
            for sid, pid, per, kind, amt in parts:
                merged[(sid, pid, per, kind)] += amt
            keys = list(merged)
            commissions = _split(p["commission"], [merged[k] for k in keys])
            for k, comm in zip(keys, commissions, strict=True):
                sid, pid, per, kind = k
                amt = merged[k]
                fee = _kop(Decimal(amt) / 100 * fee_rate[pid])
                alloc_rows.append([p["id"], acc, sid, pid, per, kind, amt, comm, fee, None, p["day"]])
                paid[(acc, sid)] += amt
                provider_of.setdefault((acc, sid), pid)

        # -- transfers: per provider and payment day, 1–5 days later; the last days wait ------
        cutoff = days[-1]
        lag_of: dict[tuple[int, dt.date], int] = {}
        groups: dict[tuple[int, dt.date], list[list[Any]]] = defaultdict(list)
        for row in alloc_rows:
            pid, day = row[3], row[10]
            if (pid, day) not in lag_of:
                lag_of[(pid, day)] = int(rng.choice([1, 1, 1, 2, 2, 3, 5]))
            if day + dt.timedelta(days=lag_of[(pid, day)]) <= cutoff:
                groups[(pid, day)].append(row)
        transfer_id = _next_id(conn, m.ProviderTransfer.__table__)
        number: dict[int, int] = defaultdict(int)
        t_rows = []
        for (pid, day), rows in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            number[pid] += 1
            tdate = day + dt.timedelta(days=lag_of[(pid, day)])
            amount = sum(r[6] for r in rows)
            comm = sum(r[7] for r in rows)
            fee = sum(r[8] for r in rows)
            t_rows.append(
                (
                    transfer_id,
                    pid,
                    tdate,
                    number[pid],
                    day,
                    day,
                    len(rows),
                    amount,
                    comm,
                    fee,
                    amount - comm - fee,
                    f"TRANSF_{prov_inn[pid]}_{tdate:%Y%m%d}_{number[pid]:03d}.txt",
                    "sent",
                )
            )
            for r in rows:
                r[9] = transfer_id
            transfer_id += 1
        bulk_insert(
            conn,
            m.ProviderTransfer.__table__,
            (
                "id",
                "provider_id",
                "transfer_date",
                "number",
                "date_from",
                "date_to",
                "lines",
                "amount_kop",
                "commission_kop",
                "fee_kop",
                "net_kop",
                "file_name",
                "status",
            ),
            t_rows,
        )
        bulk_insert(
            conn,
            m.PaymentAllocation.__table__,
            (
                "payment_id",
                "account_id",
                "service_id",
                "provider_id",
                "period",
                "kind",
                "amount_kop",
                "commission_kop",
                "fee_kop",
                "transfer_id",
            ),
            (r[:10] for r in alloc_rows),
        )

        # -- balances of the period ----------------------------------------------------------
        opening: dict[tuple[int, int], int] = defaultdict(int)
        for acc, lst in debts.items():
            for sid, pid, _per, principal, pen in lst:
                opening[(acc, sid)] += principal + pen
                provider_of.setdefault((acc, sid), pid)
        keys = sorted(set(opening) | set(charged) | set(paid))

        def b_rows() -> Any:  # a generator: 12 M rows at a million accounts
            for acc, sid in keys:
                # as hub.billing writes them: charged = regular, recalc = recalculations + reductions,
                # benefit and penalty signed; closing = opening + charged + recalc + benefit + penalty − paid
                v = charged.get((acc, sid), [0, 0, 0, 0, 0])
                recalc = v[1] + v[2]
                closing = opening[(acc, sid)] + v[0] + recalc + v[3] + v[4] - paid[(acc, sid)]
                yield (
                    period,
                    acc,
                    sid,
                    provider_of[(acc, sid)],
                    opening[(acc, sid)],
                    v[0],
                    recalc,
                    v[3],
                    v[4],
                    paid[(acc, sid)],
                    0,
                    closing,
                )

        bulk_insert(
            conn,
            m.AccountBalance.__table__,
            (
                "period",
                "account_id",
                "service_id",
                "provider_id",
                "opening_kop",
                "charged_kop",
                "recalc_kop",
                "benefit_kop",
                "penalty_kop",
                "paid_kop",
                "correction_kop",
                "closing_kop",
            ),
            b_rows(),
        )

        # -- DAG runs ------------------------------------------------------------------------
        run_rows = []
        rid = _next_id(conn, m.RunLog.__table__)
        for day in [*days, days[-1] + dt.timedelta(days=1)]:
            for dag, hour in (("ingest_payments", 9), ("settle", 11), ("export_transfers", 13)):
                t0 = dt.datetime.combine(day, dt.time(hour, 0))
                failed = dag == "ingest_payments" and day == days[8] + dt.timedelta(days=1)
                run_rows.append(
                    (
                        rid,
                        dag,
                        f"scheduled__{day:%Y-%m-%d}",
                        "",
                        "failed" if failed else "success",
                        t0,
                        t0 + dt.timedelta(minutes=4),
                        "POST:390000: контрольная сумма реестра не совпадает" if failed else "ok",
                    )
                )
                rid += 1
        t0 = started
        run_rows.append(
            (
                rid,
                "bill",
                f"manual__{period}",
                "",
                "success",
                t0,
                t0 + dt.timedelta(minutes=3),
                f"начислено строк: {n_lines}",
            )
        )
        bulk_insert(
            conn,
            m.RunLog.__table__,
            ("id", "dag_id", "run_id", "task_id", "status", "started_at", "finished_at", "message"),
            run_rows,
        )
        if conn.dialect.name == "postgresql":
            for table in (
                "calc_runs",
                "charge_lines",
                "registry_files",
                "registry_errors",
                "payments",
                "payment_allocations",
                "provider_transfers",
                "run_log",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    )
                )
    return {
        "charge_lines": n_lines,
        "payments": len(pay_rows),
        "payment_allocations": len(alloc_rows),
        "registry_files": len(files),
        "registry_errors": len(errors),
        "provider_transfers": len(t_rows),
        "account_balances": len(keys),
        "run_log": len(run_rows),
    }


def _period_start(period: int, months: int) -> dt.datetime:
    p = _period_add(period, months)
    return dt.datetime(p // 100, p % 100, 1)


def svc_sort(svc: dict[str, tuple[int, int]], code_of: dict[int, str], sid: int) -> int:
    return svc[code_of[sid]][1] * 1000 + sid


def _advance_target(services: list[tuple[int, int, str]], code_of: dict[int, str]) -> tuple[int, int]:
    """An overpayment stays as an advance on the account's «содержание» (else its first service)."""
    for sid, pid, _method in services:
        if code_of[sid] == "SOD":
            return sid, pid
    sid, pid, _method = services[0]
    return sid, pid
