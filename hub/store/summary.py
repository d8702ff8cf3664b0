"""A short summary of what the store holds (for `unipay status` and the demo), computed in SQL."""

from __future__ import annotations

from sqlalchemy import Engine, case, distinct, func, select

from hub.store import models as m


def _rub(kop: int) -> str:
    sign = "-" if kop < 0 else ""
    rub, k = divmod(abs(int(kop)), 100)
    return f"{sign}{rub:,}".replace(",", " ") + f",{k:02d} ₽"


def _n(value: int) -> str:
    return f"{int(value):,}".replace(",", " ")


def store_summary(engine: Engine) -> dict[str, str]:
    """Labels (Russian) → formatted values."""
    with engine.connect() as conn:
        accounts = int(conn.execute(select(func.count()).select_from(m.Account)).scalar_one())
        open_accounts = conn.execute(
            select(func.count()).select_from(m.Account).where(m.Account.status == "open")
        ).scalar_one()
        metered = conn.execute(select(func.count(distinct(m.Meter.account_id)))).scalar_one()
        debt_months = (
            select(m.OpeningDebt.account_id, func.count(distinct(m.OpeningDebt.period)).label("months"))
            .where(m.OpeningDebt.principal_kop > 0)
            .group_by(m.OpeningDebt.account_id)
            .subquery()
        )
        debtors3 = conn.execute(
            select(func.count()).select_from(debt_months).where(debt_months.c.months >= 3)
        ).scalar_one()
        debt = conn.execute(
            select(
                func.coalesce(
                    func.sum(case((m.OpeningDebt.principal_kop > 0, m.OpeningDebt.principal_kop), else_=0)), 0
                ),
                func.coalesce(func.sum(m.OpeningDebt.penalty_kop), 0),
            )
        ).one()
        periods = conn.execute(
            select(m.BillingPeriod.period, m.BillingPeriod.status).order_by(m.BillingPeriod.period)
        ).all()
        files = conn.execute(
            select(m.RegistryFile.status, func.count()).group_by(m.RegistryFile.status)
        ).all()
    share = (lambda x: f" ({100 * x / accounts:.1f} %)") if accounts else (lambda x: "")
    result = {
        "Лицевых счетов (открытых)": f"{_n(accounts)} ({_n(open_accounts)})",
        "Домов": _n(count_model(engine, m.Building)),
        "Жителей (регистраций)": _n(count_model(engine, m.Registration)),
        "Л/с с приборами учёта": _n(metered) + share(metered),
        "Л/с без приборов учёта": _n(accounts - metered) + share(accounts - metered),
        "Показаний ИПУ": _n(count_model(engine, m.MeterReading)),
        "Л/с с долгом 3 мес. и более": _n(debtors3) + share(debtors3),
        "Входящий долг": _rub(debt[0]),
        "Входящие пени": _rub(debt[1]),
        "Льготников": _n(count_model(engine, m.Beneficiary)),
        "Временных отсутствий": _n(count_model(engine, m.Absence)),
        "Актов о качестве услуг": _n(count_model(engine, m.QualityIncident)),
        "Периоды": ", ".join(
            f"{p // 100}-{p % 100:02d} ({'открыт' if s == 'open' else 'закрыт'})" for p, s in periods
        )
        or "—",
        "Реестров партнёров": ", ".join(f"{s}: {n}" for s, n in files) or "—",
    }
    return result


def count_model(engine: Engine, model: type[m.Base]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())
