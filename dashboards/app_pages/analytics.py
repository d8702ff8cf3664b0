"""Аналитика: charged vs paid and the collection rate by period and by management company, district,
building, service, provider and bank; debt and aging buckets; top debtors; penalties; recalculations and
quality reductions by reason. Filters: periods, districts, providers, services (a provider's user sees
only its own provider and services — the reports filter by it in SQL)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import ui
from hub.config import load_settings
from hub.reports import analytics, fmt, mart
from hub.reports.common import Filters, billing_periods, reference, report_periods

user = ui.require("analytics")
scope = user.scope
data = ui.Data()
st.title("Аналитика")

ref = data(reference, scope)
periods = data(billing_periods, scope)
options = data(report_periods, scope)
c1, c2, c3, c4 = st.columns(4)
with c1:
    sel_periods = st.multiselect(
        "Периоды",
        options,
        default=periods[:1],
        format_func=fmt.period_name,
        key="an_periods",
        placeholder="все",
    )
with c2:
    districts = dict(zip(ref["districts"]["id"], ref["districts"]["name"], strict=True))
    sel_districts = st.multiselect(
        "Районы", list(districts), format_func=districts.get, key="an_districts", placeholder="все"
    )
with c3:
    providers = dict(zip(ref["providers"]["id"], ref["providers"]["name"], strict=True))
    sel_providers = st.multiselect(
        "Поставщики",
        list(providers),
        format_func=providers.get,
        key="an_providers",
        placeholder="все",
        disabled=scope is not None,
    )
with c4:
    services = dict(zip(ref["services"]["id"], ref["services"]["name"], strict=True))
    sel_services = st.multiselect(
        "Услуги", list(services), format_func=services.get, key="an_services", placeholder="все"
    )
flt = Filters(
    tuple(sorted(sel_periods)),
    tuple(sorted(sel_districts)),
    tuple(sorted(sel_providers)),
    tuple(sorted(sel_services)),
)
as_of = max(sel_periods) if sel_periods else (periods[0] if periods else None)
ui.mart_note(data(mart.status, as_of), ("charges", "debt"))

# -- headline figures ---------------------------------------------------------------------------
by_period = data(analytics.charged_paid, "period", flt, scope)
charged = int(by_period["charged_kop"].sum()) if not by_period.empty else 0
paid = int(by_period["paid_kop"].sum()) if not by_period.empty else 0
penalty = int(by_period["penalty_kop"].sum()) if not by_period.empty else 0
debt = (
    data(analytics.debt_totals, flt, as_of, scope)
    if as_of
    else {"debt_kop": 0, "advance_kop": 0, "debtors": 0}
)
ui.metrics(
    [
        ("Начислено", fmt.rub(charged), "все виды начислений, кроме пени"),
        ("Оплачено", fmt.rub(paid), "распределённые оплаты за выбранные периоды"),
        ("Собираемость", fmt.pct(paid / charged) if charged > 0 else "—", "оплачено / начислено"),
        ("Пени начислено", fmt.rub(penalty), None),
        (
            "Задолженность",
            fmt.rub(debt["debt_kop"]),
            f"на конец периода {fmt.period_name(as_of)}" if as_of else None,
        ),
        ("Переплата", fmt.rub(debt["advance_kop"]), None),
        ("Должников", fmt.num(debt["debtors"]), "лицевых счетов с долгом"),
    ],
    per_row=4,
)
if charged == 0 and paid == 0:
    st.info("Нет данных о начислениях и оплатах для выбранных фильтров.")

# -- trend by period (all periods, other filters apply) ------------------------------------------
st.subheader("Начислено и оплачено по периодам")
trend = data(
    analytics.charged_paid,
    "period",
    Filters((), *(getattr(flt, f) for f in ("district_ids", "provider_ids", "service_ids"))),
    scope,
)
trend = trend[trend["charged_kop"] > 0] if not trend.empty else trend
if trend.empty:
    st.info("Нет начислений.")
else:
    long = trend.melt(
        id_vars=["key"], value_vars=["charged_kop", "paid_kop"], var_name="what", value_name="kop"
    )
    long = long.assign(
        rub=long["kop"] / 100,
        what=long["what"].map({"charged_kop": "начислено", "paid_kop": "оплачено"}),
        period=[fmt.period_name(p) for p in long["key"]],
    )
    ui.chart(
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("period:N", title="Период", sort=None),
            xOffset="what:N",
            y=alt.Y("rub:Q", title="₽", axis=alt.Axis(format=",.0f")),
            color=alt.Color("what:N", title=""),
            tooltip=[
                alt.Tooltip("period:N", title="Период"),
                alt.Tooltip("what:N", title=""),
                alt.Tooltip("rub:Q", title="₽", format=",.2f"),
            ],
        )
        .properties(height=260)
    )

# -- breakdowns ----------------------------------------------------------------------------------
st.subheader("Собираемость в разрезе")
dims = {**{k: v for k, v in analytics.DIMENSIONS.items() if k != "period"}, "bank": "Банк / агент"}
dim = st.radio("Разрез", list(dims), format_func=dims.get, horizontal=True, key="an_dim")
if dim == "bank":
    banks = data(analytics.paid_by_agent, flt, scope)
    ui.table(
        banks,
        {
            "key": ("Агент", "text"),
            "payments": ("Платежей", "int"),
            "paid_kop": ("Оплачено", "money"),
            "share": ("Доля", "pct"),
        },
        key="an_breakdown",
        file_name="оплачено_по_агентам",
    )
else:
    breakdown = data(analytics.charged_paid, dim, flt, scope)
    ui.table(
        breakdown,
        {
            "key": (dims[dim], "text"),
            "charged_kop": ("Начислено", "money"),
            "paid_kop": ("Оплачено", "money"),
            "rate": ("Собираемость", "pct"),
            "penalty_kop": ("Пени", "money"),
        },
        key="an_breakdown",
        file_name=f"собираемость_{dim}",
        height=400 if dim == "building" else "auto",
    )

# -- debt aging ----------------------------------------------------------------------------------
st.subheader(
    f"Задолженность по срокам на {fmt.date_ru(fmt.period_last_day(as_of))}" if as_of else "Задолженность"
)
center = load_settings().center
due = (center.due_day_before_2026_03, center.due_day_from_2026_03)
aging = data(analytics.aging, flt, as_of, scope, None, due) if as_of else pd.DataFrame()
if not aging.empty:
    ui.chart(
        alt.Chart(aging.assign(rub=aging["remaining_kop"] / 100))
        .mark_bar()
        .encode(
            x=alt.X("bucket_name:N", title="Просрочка", sort=list(analytics.BUCKETS)),
            y=alt.Y("rub:Q", title="₽", axis=alt.Axis(format=",.0f")),
            tooltip=[
                alt.Tooltip("bucket_name:N", title="Просрочка"),
                alt.Tooltip("rub:Q", title="₽", format=",.2f"),
            ],
        )
        .properties(height=240)
    )
ui.table(
    aging,
    {"bucket_name": ("Просрочка", "text"), "remaining_kop": ("Долг", "money")},
    key="an_aging",
    file_name="задолженность_по_срокам",
    empty="Задолженности нет.",
)
if (
    as_of
    and scope is None
    and st.toggle(
        "По поставщикам",
        key="an_aging_by_provider",
        help="отдельный расчёт: на большом городе занимает секунды",
    )
):
    by_prov = data(analytics.aging, flt, as_of, scope, "provider", due)
    if by_prov.empty:
        st.info(ui.NO_DATA)
    else:
        pivot = by_prov.pivot_table(
            index="key", columns="bucket", values="remaining_kop", aggfunc="sum", fill_value=0
        ).reset_index()
        cols_map = {"key": ("Поставщик", "text")}
        cols_map.update({b: (analytics.BUCKETS[b], "money") for b in pivot.columns if b != "key"})
        ui.table(pivot, cols_map, key="an_aging_provider", file_name="задолженность_по_поставщикам")

st.subheader("Крупнейшие должники")
top = data(analytics.top_debtors, flt, as_of, scope, 50) if as_of else pd.DataFrame()
ui.table(
    top,
    {
        "number": ("Л/с", "text"),
        "owner_name": ("Владелец", "text"),
        "address": ("Адрес", "text"),
        "district": ("Район", "text"),
        "debt_kop": ("Долг", "money"),
        "monthly_kop": ("Начислено за месяц", "money"),
        "months": ("Месяцев долга", "float1"),
    },
    key="an_debtors",
    file_name="должники",
    empty="Должников нет.",
)

# -- penalties and recalculations --------------------------------------------------------------
st.subheader("Пени")
pen = data(analytics.penalties, flt, scope)
carried = data(analytics.opening_penalties, flt, scope)
st.caption(f"Пени во входящем сальдо (перенесены из прежней системы): {fmt.rub(carried)}")
ui.table(
    pen,
    {
        "period": ("Период", "period"),
        "provider": ("Поставщик", "text"),
        "accounts": ("Л/с", "int"),
        "penalty_kop": ("Пени", "money"),
    },
    key="an_penalties",
    file_name="пени",
    empty="Пени не начислялись.",
)

st.subheader("Перерасчёты и снижения за качество")
rec = data(analytics.recalculations, flt, scope)
ui.table(
    rec,
    {
        "kind_name": ("Вид", "text"),
        "reason_code": ("Код причины", "text"),
        "service": ("Услуга", "text"),
        "example": ("Причина (пример)", "text"),
        "lines": ("Строк", "int"),
        "accounts": ("Л/с", "int"),
        "amount_kop": ("Сумма", "money"),
    },
    key="an_recalc",
    file_name="перерасчёты",
    empty="Перерасчётов и снижений нет.",
)
