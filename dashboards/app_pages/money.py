"""Денежные потоки: collected by agent, split by provider and service, transferred and still to transfer,
commissions and fees, unidentified payments, turnover time to the providers (management and provider
roles; a provider sees only its own parts of the payments and its own transfers)."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import ui
from hub.reports import fmt, mart, money
from hub.reports.common import payment_date_range

user = ui.require("money")
scope = user.scope
data = ui.Data()
st.title("Денежные потоки")
if scope is not None:
    st.caption(f"Только деньги поставщика: {user.provider_name}")

span = data(payment_date_range)
if span is None:
    st.info("Нет данных: платежей в хранилище ещё нет.")
    st.stop()
first, last = span
ui.mart_note(data(mart.status), ("money",))
default = (max(first, last.replace(day=1)), last)
date_from, date_to = ui.date_range_input("Дата платежа", default, key="money_dates")

t = data(money.totals, date_from, date_to, scope)
figures = [
    ("Собрано", fmt.rub(t["collected_kop"]), "сумма платежей (для поставщика — его доля)"),
    ("Комиссия агентов", fmt.rub(t["commission_kop"]), "удержано банками, почтой, терминалами"),
    ("Вознаграждение ЕИРЦ", fmt.rub(t["fee_kop"]), None),
    ("Перечислено", fmt.rub(t["transferred_kop"]), "поставщикам, за вычетом комиссий и вознаграждения"),
    ("К перечислению", fmt.rub(t["to_transfer_kop"]), "распределено, но ещё не перечислено"),
]
if scope is None:
    figures.append(("Неопознанные", fmt.rub(t["unidentified_kop"]), f"{t['unidentified_count']} платежей"))
ui.metrics(figures, per_row=3)
st.caption(f"Платежей: {fmt.num(t['payments'])} за {fmt.date_ru(date_from)} — {fmt.date_ru(date_to)}")

# -- by agent --------------------------------------------------------------------------------------
st.subheader("Собрано по агентам")
agents = data(money.collected_by_agent, date_from, date_to, scope)
if not agents.empty:
    agents = agents.assign(kind_name=[money.agent_kind_name(k) for k in agents["kind"]])
ui.table(
    agents,
    {
        "name": ("Агент", "text"),
        "kind_name": ("Тип", "text"),
        "payments": ("Платежей", "int"),
        "amount_kop": ("Собрано", "money"),
        "commission_kop": ("Комиссия", "money"),
    },
    key="money_agents",
    file_name=f"собрано_по_агентам_{date_from:%Y%m%d}_{date_to:%Y%m%d}",
)
daily = data(money.daily_by_agent, date_from, date_to, scope)
if not daily.empty:
    daily = daily.assign(
        rub=daily["amount_kop"] / 100,
        day=ui.day_labels(daily["op_date"]),
        date=[fmt.date_ru(d) for d in daily["op_date"]],
    )
    ui.chart(
        alt.Chart(daily)
        .mark_bar()
        .encode(
            x=alt.X("day:O", title="День платежа", sort=None),
            y=alt.Y("sum(rub):Q", title="Собрано, ₽", axis=alt.Axis(format=",.0f")),
            color=alt.Color("code:N", title="Агент"),
            tooltip=[
                alt.Tooltip("date:N", title="День"),
                alt.Tooltip("code:N", title="Агент"),
                alt.Tooltip("sum(rub):Q", title="₽", format=",.2f"),
            ],
        )
        .properties(height=260)
    )

# -- by provider and service ---------------------------------------------------------------------
st.subheader("Распределено по поставщикам и услугам")
split = data(money.split_by_provider_service, date_from, date_to, scope)
ui.table(
    split,
    {
        "provider": ("Поставщик", "text"),
        "service": ("Услуга", "text"),
        "allocations": ("Частей платежей", "int"),
        "amount_kop": ("Распределено", "money"),
        "commission_kop": ("Комиссия агентов", "money"),
        "fee_kop": ("Вознаграждение ЕИРЦ", "money"),
        "transferred_kop": ("Перечислено", "money"),
        "to_transfer_kop": ("К перечислению", "money"),
    },
    key="money_split",
    file_name=f"распределение_{date_from:%Y%m%d}_{date_to:%Y%m%d}",
)

# -- transfers -------------------------------------------------------------------------------------
st.subheader("Перечисления поставщикам")
transfers = data(money.transfers, date_from, date_to + dt.timedelta(days=10), scope)
ui.table(
    transfers,
    {
        "transfer_date": ("Дата п/п", "date"),
        "number": ("№ п/п", "int"),
        "provider": ("Поставщик", "text"),
        "date_from": ("Платежи с", "date"),
        "date_to": ("по", "date"),
        "lines": ("Строк", "int"),
        "amount_kop": ("Сумма", "money"),
        "commission_kop": ("Комиссия", "money"),
        "fee_kop": ("Вознаграждение", "money"),
        "net_kop": ("Перечислено", "money"),
        "file_name": ("Реестр", "text"),
    },
    key="money_transfers",
    file_name=f"перечисления_{date_from:%Y%m%d}_{date_to:%Y%m%d}",
    empty="Перечислений за эти даты нет.",
)

# -- turnover ------------------------------------------------------------------------------------
st.subheader("Время оборота: от платежа до перечисления поставщику")
turn = data(money.turnover, date_from, date_to, scope)
if not turn.empty and turn["median_days"].notna().any():
    long = turn.melt(
        id_vars=["op_date"], value_vars=["median_days", "p95_days"], var_name="stat", value_name="days"
    ).dropna()
    long = long.assign(
        stat=long["stat"].map({"median_days": "медиана", "p95_days": "95-й процентиль"}),
        op_date=pd.to_datetime(long["op_date"]),
    )
    ui.chart(
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("yearmonthdate(op_date):T", title="День платежа", axis=alt.Axis(format="%d.%m")),
            y=alt.Y("days:Q", title="Дней до перечисления"),
            color=alt.Color("stat:N", title=""),
            tooltip=[
                alt.Tooltip("yearmonthdate(op_date):T", title="День", format="%d.%m.%Y"),
                alt.Tooltip("stat:N", title=""),
                alt.Tooltip("days:Q", title="Дней"),
            ],
        )
        .properties(height=240)
    )
ui.table(
    turn,
    {
        "op_date": ("День платежа", "date"),
        "median_days": ("Медиана, дней", "float1"),
        "p95_days": ("95-й процентиль, дней", "float1"),
        "transferred": ("Перечислено частей", "int"),
        "waiting": ("Ждут перечисления", "int"),
        "waiting_kop": ("Ждут, сумма", "money"),
    },
    key="money_turnover",
    file_name=f"оборот_{date_from:%Y%m%d}_{date_to:%Y%m%d}",
)

# -- unidentified ----------------------------------------------------------------------------------
st.subheader("Неопознанные платежи")
if scope is not None:
    st.caption("Неопознанные платежи ещё не принадлежат ни одному поставщику и здесь не показываются.")
else:
    unknown = data(money.unidentified, date_from, date_to)
    ui.table(
        unknown,
        {
            "op_date": ("Дата", "date"),
            "agent": ("Агент", "text"),
            "account_number": ("Указанный л/с", "text"),
            "payer_name": ("Плательщик", "text"),
            "payer_address": ("Адрес", "text"),
            "amount_kop": ("Сумма", "money"),
            "operation_id": ("Операция", "text"),
            "file_name": ("Реестр", "text"),
        },
        key="money_unidentified",
        file_name=f"неопознанные_{date_from:%Y%m%d}_{date_to:%Y%m%d}",
        empty="Неопознанных платежей нет.",
    )
