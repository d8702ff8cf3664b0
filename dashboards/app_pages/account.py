"""Лицевой счёт: search by account number, ЕЛС, card barcode or address; the dossier (premises, residents,
meters and readings, services and providers, benefits) and the statement (charges with explanations,
payments with their splits, balance by service and month). A provider's user finds only accounts with
its services and sees only its own charges, payment parts and balances."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import ui
from hub.reports import account, analytics, fmt

user = ui.require("account")
scope = user.scope
data = ui.Data()
st.title("Лицевой счёт")

query = st.text_input(
    "Номер л/с, ЕЛС, штрихкод квитанции или адрес",
    key="acc_query",
    placeholder="3100000123 · 62АА000123 · 460000000123 · Победы 12 5",
)
if not query.strip():
    st.info("Введите номер лицевого счёта, ЕЛС, штрихкод или адрес (улица, дом, квартира).")
    st.stop()
found = data(account.search, query, scope)
if found.empty:
    st.warning("Ничего не найдено.")
    st.stop()
if len(found) > 1:
    st.caption(f"Найдено: {fmt.num(len(found))}" + (" (показаны первые 50)" if len(found) >= 50 else ""))
    labels = {int(r.account_id): f"{r.number} — {r.address} — {r.owner_name}" for r in found.itertuples()}
    account_id = st.selectbox("Лицевой счёт", list(labels), format_func=labels.get, key="acc_pick")
else:
    account_id = int(found["account_id"].iloc[0])

d = data(account.dossier, account_id, scope)
if d is None:
    st.warning("Лицевой счёт недоступен.")
    st.stop()
h = d["head"]
st.subheader(f"Л/с {h['number']} — {d['address']}")
cols = st.columns(5)
with cols[0]:
    ui.metric("ЕЛС", h["els"] or "—")
with cols[1]:
    ui.metric("Состояние", "открыт" if h["status"] == "open" else f"закрыт {fmt.date_ru(h['closed_on'])}")
with cols[2]:
    ui.metric("Площадь", f"{fmt.num(float(h['total_area']), 2)} м²")
with cols[3]:
    living = int((d["residents"]["status"] != "выбыл").sum()) if not d["residents"].empty else 0
    ui.metric("Проживает", fmt.num(living))
st_ = data(account.statement, account_id, scope)
balances = st_["balances"]
last_period = int(balances["period"].max()) if not balances.empty else None
total = int(balances.loc[balances["period"] == last_period, "closing_kop"].sum()) if last_period else None
with cols[4]:
    ui.metric(
        "Сальдо на конец периода",
        fmt.rub(total) if total is not None else "—",
        help=fmt.period_name(last_period) if last_period else "сальдо ещё не рассчитано",
    )
st.caption(
    f"Владелец: {h['owner_name']} · штрихкод {h['card_barcode'] or '—'} · "
    f"открыт {fmt.date_ru(h['opened_on'])} · {h['district']} · {h['mc'] or 'УК не указана'} · "
    f"{h['rooms'] or '—'} комн., этажей в доме {h['floors']}, год постройки {h['built_year'] or '—'}"
)

tabs = st.tabs(["Начисления", "Платежи", "Сальдо", "Жильцы", "Счётчики", "Услуги", "Льготы"])
with tabs[0]:
    charges = st_["charges"]
    if not charges.empty:
        charges = charges.assign(kind_name=[analytics.KIND_NAMES.get(k, k) for k in charges["kind"]])
    ui.table(
        charges,
        {
            "period": ("Период", "period"),
            "service": ("Услуга", "text"),
            "kind_name": ("Вид", "text"),
            "amount_kop": ("Сумма", "money"),
            "explanation": ("Расчёт", "text"),
            "provider": ("Поставщик", "text"),
        },
        key="acc_charges",
        file_name=f"начисления_{h['number']}",
        empty="Начислений нет.",
    )
with tabs[1]:
    ui.table(
        st_["payments"],
        {
            "op_date": ("Дата", "date"),
            "agent": ("Агент", "text"),
            "period": ("За период", "period"),
            "amount_kop": ("Сумма", "money"),
            "commission_kop": ("Комиссия", "money"),
        },
        key="acc_payments",
        file_name=f"платежи_{h['number']}",
        empty="Платежей нет.",
    )
    st.markdown("**Распределение платежей**")
    alloc = st_["allocations"]
    if not alloc.empty:
        alloc = alloc.assign(
            kind_name=alloc["kind"].map({"principal": "долг", "penalty": "пени", "advance": "аванс"}),
            transferred=["да" if pd.notna(t) else "нет" for t in alloc["transfer_id"]],
        )
    ui.table(
        alloc,
        {
            "op_date": ("Дата платежа", "date"),
            "service": ("Услуга", "text"),
            "provider": ("Поставщик", "text"),
            "period": ("Оплачен месяц", "period"),
            "kind_name": ("Вид", "text"),
            "amount_kop": ("Сумма", "money"),
            "transferred": ("Перечислено", "text"),
        },
        key="acc_alloc",
        file_name=f"распределение_{h['number']}",
        empty="Распределений нет.",
    )
with tabs[2]:
    ui.table(
        balances,
        {
            "period": ("Период", "period"),
            "service": ("Услуга", "text"),
            "provider": ("Поставщик", "text"),
            "opening_kop": ("Входящее", "money"),
            "charged_kop": ("Начислено", "money"),
            "recalc_kop": ("Перерасчёт", "money"),
            "paid_kop": ("Оплачено", "money"),
            "closing_kop": ("Исходящее", "money"),
            "penalty_kop": ("Пени", "money"),
        },
        key="acc_balances",
        file_name=f"сальдо_{h['number']}",
        empty="Сальдо ещё не рассчитано.",
    )
    st.markdown("**Входящий долг по месяцам возникновения**")
    ui.table(
        st_["opening_debts"],
        {
            "period": ("Месяц", "period"),
            "service": ("Услуга", "text"),
            "provider": ("Поставщик", "text"),
            "principal_kop": ("Долг", "money"),
            "penalty_kop": ("Пени", "money"),
        },
        key="acc_debts",
        file_name=f"входящий_долг_{h['number']}",
        empty="Входящего долга нет.",
    )
with tabs[3]:
    ui.table(
        d["residents"],
        {
            "name": ("ФИО", "text"),
            "birth_date": ("Дата рождения", "date"),
            "status": ("Регистрация", "text"),
            "date_from": ("С", "date"),
            "date_to": ("По", "date"),
        },
        key="acc_residents",
        file_name=f"жильцы_{h['number']}",
        empty="Зарегистрированных нет.",
    )
    if not d["absences"].empty:
        st.markdown("**Временное отсутствие**")
        ui.table(
            d["absences"],
            {
                "name": ("ФИО", "text"),
                "date_from": ("С", "date"),
                "date_to": ("По", "date"),
                "document": ("Документ", "text"),
            },
            key="acc_absences",
            file_name="отсутствие",
        )
with tabs[4]:
    ui.table(
        d["meters"],
        {
            "service": ("Услуга", "text"),
            "serial": ("Заводской №", "text"),
            "zones": ("Зон", "int"),
            "installed_on": ("Установлен", "date"),
            "verification_due": ("Поверка до", "date"),
            "status": ("Состояние", "text"),
        },
        key="acc_meters",
        file_name=f"счётчики_{h['number']}",
        empty="Счётчиков нет.",
    )
    readings = d["readings"]
    if not readings.empty:
        st.markdown("**Показания**")
        readings = readings.assign(value=readings["value"].astype(float))
        ui.table(
            readings,
            {
                "serial": ("Счётчик", "text"),
                "service": ("Услуга", "text"),
                "zone": ("Зона", "int"),
                "reading_date": ("Дата", "date"),
                "value": ("Показание", "text"),
                "source": ("Источник", "text"),
            },
            key="acc_readings",
            file_name=f"показания_{h['number']}",
        )
with tabs[5]:
    ui.table(
        d["services"],
        {
            "service": ("Услуга", "text"),
            "provider": ("Поставщик", "text"),
            "method": ("Способ расчёта", "text"),
            "date_from": ("С", "date"),
            "date_to": ("По", "date"),
        },
        key="acc_services",
        file_name=f"услуги_{h['number']}",
        empty="Услуг нет.",
    )
with tabs[6]:
    ui.table(
        d["benefits"],
        {
            "name": ("Получатель", "text"),
            "code": ("Код", "text"),
            "benefit": ("Мера", "text"),
            "share_percent": ("Доля, %", "text"),
            "date_from": ("С", "date"),
            "date_to": ("По", "date"),
        },
        key="acc_benefits",
        file_name=f"льготы_{h['number']}",
        empty="Льгот нет.",
    )
