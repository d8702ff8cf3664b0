"""Мониторинг обмена: registry files per partner and day, sums against control totals, rejected lines,
partners whose daily file is missing, the last DAG runs and failures (management and operator roles)."""

from __future__ import annotations

import datetime as dt
import os

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import ui
from hub.reports import exchange, fmt

user = ui.require("monitoring")
data = ui.Data()
st.title("Мониторинг обмена")

last_day = data(exchange.last_days_with_files) or dt.date.today()
c1, c2 = st.columns([1, 1])
with c1:
    day = st.date_input("День", value=last_day, format="DD.MM.YYYY", key="mon_day")
with c2:
    window = st.selectbox("Сводка за", (7, 14, 31), format_func=lambda d: f"{d} дней", key="mon_window")
date_from = day - dt.timedelta(days=int(window) - 1)
expected = [s.strip() for s in os.environ.get("UNIPAY_EXPECTED_PARTNERS", "").split(",") if s.strip()]

# -- late partners -------------------------------------------------------------------------------
late = data(exchange.late_partners, day, tuple(expected) or None)
if late.empty:
    st.success(f"Все ожидаемые реестры платёжных агентов за {fmt.date_ru(day)} получены.")
else:
    names = ", ".join(
        f"{r.sender} (последний — {fmt.date_ru(r.last_received_at)})"
        if pd.notna(r.last_received_at)
        else f"{r.sender} (файлов ещё не было)"
        for r in late.itertuples()
    )
    st.error(f"Не поступил ежедневный реестр за {fmt.date_ru(day)}: {names}", icon=":material/warning:")

# -- the day ---------------------------------------------------------------------------------------
files = data(exchange.files_of_day, day)
st.subheader(f"Реестры за {fmt.date_ru(day)}")
status_counts = files["status"].value_counts() if not files.empty else pd.Series(dtype="int64")
ui.metrics(
    [
        ("Получено файлов", fmt.num(len(files)), None),
        ("Загружено", fmt.num(int(status_counts.get("loaded", 0))), None),
        ("С отклонёнными строками", fmt.num(int(status_counts.get("loaded_with_errors", 0))), None),
        ("Отклонено файлов", fmt.num(int(status_counts.get("rejected", 0))), None),
        ("Контрольная сумма", fmt.rub(int(files["control_sum_kop"].sum()) if not files.empty else 0), None),
        (
            "Загружено на сумму",
            fmt.rub(int(files["amount_loaded_kop"].sum()) if not files.empty else 0),
            None,
        ),
        ("Отклонено строк", fmt.num(int(files["lines_rejected"].sum()) if not files.empty else 0), None),
    ]
)
if not files.empty:
    files = files.assign(
        status_name=[exchange.STATUS_NAMES.get(s, s) for s in files["status"]],
        difference_kop=files["control_sum_kop"] - files["amount_loaded_kop"],
    )
ui.table(
    files,
    {
        "received_at": ("Получен", "datetime"),
        "sender": ("Отправитель", "text"),
        "name": ("Файл", "text"),
        "status_name": ("Статус", "text"),
        "lines_total": ("Строк", "int"),
        "lines_loaded": ("Загружено строк", "int"),
        "lines_rejected": ("Отклонено строк", "int"),
        "control_sum_kop": ("Контрольная сумма", "money"),
        "amount_loaded_kop": ("Загружено", "money"),
        "difference_kop": ("Расхождение", "money"),
        "amount_unidentified_kop": ("Неопознано", "money"),
        "error_protocol": ("Протокол ошибок", "text"),
        "message": ("Сообщение", "text"),
    },
    key="mon_files",
    file_name=f"реестры_{day:%Y%m%d}",
    empty=f"Нет файлов за {fmt.date_ru(day)}.",
)

# -- per partner and day ---------------------------------------------------------------------------
st.subheader(f"По партнёрам и дням: {fmt.date_ru(date_from)} — {fmt.date_ru(day)}")
summary = data(exchange.files_by_partner_day, date_from, day)
if not summary.empty:
    long = summary.melt(
        id_vars=["day", "sender"],
        value_vars=["loaded", "loaded_with_errors", "rejected"],
        var_name="status",
        value_name="n",
    )
    long = long[long["n"] > 0].sort_values("day")
    long = long.assign(
        status=long["status"].map(exchange.STATUS_NAMES),
        d=ui.day_labels(long["day"]),
        date=[fmt.date_ru(v) for v in long["day"]],
    )
    ui.chart(
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("d:O", title="День", sort=None),
            y=alt.Y("sum(n):Q", title="Файлов"),
            color=alt.Color(
                "status:N",
                title="Статус",
                scale=alt.Scale(
                    domain=["загружен", "загружен с ошибками", "отклонён"],
                    range=["#4c9a2a", "#e0a030", "#c0392b"],
                ),
            ),
            tooltip=[
                alt.Tooltip("date:N", title="День"),
                alt.Tooltip("sender:N", title="Отправитель"),
                alt.Tooltip("status:N", title="Статус"),
                alt.Tooltip("sum(n):Q", title="Файлов"),
            ],
        )
        .properties(height=260)
    )
ui.table(
    summary,
    {
        "day": ("День", "date"),
        "sender": ("Отправитель", "text"),
        "files": ("Файлов", "int"),
        "loaded": ("Загружено", "int"),
        "loaded_with_errors": ("С ошибками", "int"),
        "rejected": ("Отклонено", "int"),
        "lines_total": ("Строк", "int"),
        "lines_rejected": ("Отклонено строк", "int"),
        "control_sum_kop": ("Контрольная сумма", "money"),
        "amount_loaded_kop": ("Загружено", "money"),
        "difference_kop": ("Расхождение", "money"),
    },
    key="mon_summary",
    file_name=f"реестры_{date_from:%Y%m%d}_{day:%Y%m%d}",
)

# -- rejected lines --------------------------------------------------------------------------------
errors, n_errors = data(exchange.rejected_lines, date_from, day)
st.subheader(f"Отклонённые строки: {fmt.num(n_errors)}")
if n_errors > len(errors):
    st.caption(f"Показаны последние {fmt.num(len(errors))} из {fmt.num(n_errors)}.")
ui.table(
    errors,
    {
        "received_at": ("Получен", "datetime"),
        "sender": ("Отправитель", "text"),
        "file_name": ("Файл", "text"),
        "line_no": ("Строка", "int"),
        "field": ("Поле", "text"),
        "code": ("Код", "text"),
        "message": ("Причина", "text"),
        "error_protocol": ("Протокол ошибок", "text"),
        "source_line": ("Исходная строка", "text"),
    },
    key="mon_errors",
    file_name=f"отклонённые_строки_{date_from:%Y%m%d}_{day:%Y%m%d}",
    empty="Отклонённых строк нет.",
)

# -- DAG runs ------------------------------------------------------------------------------------
st.subheader("Запуски обработок")
dags = data(exchange.last_run_per_dag)
if not dags.empty:
    failed_now = dags[dags["status"] == "failed"]
    for r in failed_now.itertuples():
        st.error(f"Последний запуск {r.dag_id} завершился ошибкой ({fmt.date_ru(r.started_at)}): {r.message}")
    dags = dags.assign(status_name=[exchange.RUN_STATUS_NAMES.get(s, s) for s in dags["status"]])
ui.table(
    dags,
    {
        "dag_id": ("Обработка", "text"),
        "status_name": ("Последний запуск", "text"),
        "started_at": ("Начат", "datetime"),
        "finished_at": ("Завершён", "datetime"),
        "failures": ("Ошибок всего", "int"),
        "last_failure": ("Последняя ошибка", "datetime"),
        "message": ("Сообщение", "text"),
    },
    key="mon_dags",
    file_name="обработки",
    empty="Запусков ещё не было (run_log пуст).",
)
recent = data(exchange.runs, 200)
failures = recent[recent["status"] == "failed"] if not recent.empty else recent
with st.expander(f"Ошибки запусков: {fmt.num(len(failures))}", expanded=not failures.empty):
    ui.table(
        failures,
        {
            "started_at": ("Начат", "datetime"),
            "dag_id": ("Обработка", "text"),
            "run_id": ("Запуск", "text"),
            "task_id": ("Задача", "text"),
            "message": ("Сообщение", "text"),
        },
        key="mon_failures",
        file_name="ошибки_запусков",
        empty="Ошибок нет.",
    )
