"""Shared pieces of the dashboard pages: sign-in and roles, cached queries, Russian tables and charts,
CSV / Excel downloads.

Every page starts with ``user = require("<page>")``: without a signed-in user it shows the sign-in form
and stops; with a role that may not see the page it says so and stops. Queries go through
:class:`Data`, which caches each report call with ``st.cache_data`` keyed on the store URL, the data
version (:func:`hub.reports.common.data_version`) and the arguments — so a page re-run after a widget
change costs one small version query, and new data shows at once.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from hub.auth import AuthError, User, authenticate, users_path
from hub.config import load_settings
from hub.reports import fmt
from hub.reports.common import data_version
from hub.store.db import get_engine

# page key: (title, icon, roles that may open it)
PAGES: dict[str, tuple[str, str, frozenset[str]]] = {
    "monitoring": ("Мониторинг обмена", ":material/sync_alt:", frozenset({"management", "operator"})),
    "money": ("Денежные потоки", ":material/payments:", frozenset({"management", "provider"})),
    "analytics": ("Аналитика", ":material/monitoring:", frozenset({"management", "provider"})),
    "account": (
        "Лицевой счёт",
        ":material/person_search:",
        frozenset({"management", "provider", "operator"}),
    ),
}
NO_DATA = "Нет данных"
RU_LOCALE = {
    "number": {"decimal": ",", "thousands": "\u00a0", "grouping": [3], "currency": ["", "\u00a0₽"]},
    "time": {
        "dateTime": "%A, %e %B %Y г. %X",
        "date": "%d.%m.%Y",
        "time": "%H:%M:%S",
        "periods": ["", ""],
        "days": ["воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота"],
        "shortDays": ["вс", "пн", "вт", "ср", "чт", "пт", "сб"],
        "months": [
            "январь",
            "февраль",
            "март",
            "апрель",
            "май",
            "июнь",
            "июль",
            "август",
            "сентябрь",
            "октябрь",
            "ноябрь",
            "декабрь",
        ],
        "shortMonths": ["янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"],
    },
}


# ------------------------------------------------------------------------------------------------
# Sign-in and roles
# ------------------------------------------------------------------------------------------------


def current_user() -> User | None:
    user = st.session_state.get("user")
    return user if isinstance(user, User) else None


def login_form() -> None:
    """The sign-in form; on success the user goes into the session and the app re-runs."""
    st.title("Вход")
    st.caption("Панели ЕИРЦ unipay: обмен с партнёрами, денежные потоки, аналитика, лицевые счета.")
    path = users_path()
    if not path.exists():
        st.warning(
            f"Файл пользователей {path} не найден. Создайте пользователя командой "
            "`python -m hub.auth add-user ИМЯ --role management` (см. docs/dashboards.md)."
        )
    with st.form("login"):
        login = st.text_input("Пользователь", key="login_name")
        password = st.text_input("Пароль", type="password", key="login_password")
        submitted = st.form_submit_button("Войти", type="primary")
    if submitted:
        try:
            user = authenticate(login, password, get_engine(load_settings().db_url))
        except (AuthError, SQLAlchemyError) as exc:
            st.error(f"Вход невозможен: {exc}")
            return
        if user is None:
            st.error("Неверное имя пользователя или пароль.")
            return
        st.session_state["user"] = user
        st.rerun()


def sidebar_user(user: User) -> None:
    with st.sidebar:
        st.caption(f"Пользователь: {user.title}")
        if st.button("Выйти", key="logout"):
            st.session_state.pop("user", None)
            st.rerun()


def require(page: str) -> User:
    """The signed-in user allowed to see ``page``; otherwise show the sign-in form / a refusal and stop."""
    user = current_user()
    if user is None:
        login_form()
        st.stop()
    assert user is not None
    title, _icon, roles = PAGES[page]
    if user.role not in roles:
        st.title(title)
        st.warning("Эта страница недоступна для вашей роли.")
        st.stop()
    if user.role == "provider" and user.provider_id is None:
        st.title(title)
        st.error("Поставщик пользователя не найден в хранилище.")
        st.stop()
    sidebar_user(user)
    return user


def allowed_pages(user: User | None) -> list[str]:
    return [key for key, (_t, _i, roles) in PAGES.items() if user is not None and user.role in roles]


# ------------------------------------------------------------------------------------------------
# Cached queries
# ------------------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=2000)
def _cached_call(
    module: str,
    name: str,
    url: str,
    version: tuple[Any, ...],
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
) -> Any:
    fn = getattr(importlib.import_module(module), name)
    return fn(get_engine(url), *args, **dict(kwargs))


class Data:
    """The store of this run: ``data(report_fn, *args)`` calls a report, cached on the data version."""

    def __init__(self) -> None:
        self.url = load_settings().db_url
        self.engine = get_engine(self.url)
        try:
            self.version = data_version(self.engine)
        except SQLAlchemyError as exc:
            st.error(
                f"Хранилище недоступно: {type(exc).__name__}. Проверьте UNIPAY_DB_URL и выполните "
                "`unipay db upgrade`."
            )
            st.stop()

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return _cached_call(
            fn.__module__, fn.__name__, self.url, self.version, args, tuple(sorted(kwargs.items()))
        )


MART_STALE = (
    "Витрина отчётов не обновлена: показатели считаются по исходным таблицам (верно, но на большом "
    "городе медленно). Выполните `unipay reports refresh`."
)


def mart_note(fresh: dict[str, bool], parts: tuple[str, ...]) -> None:
    """Say so when a part of the reporting mart the page reads is not fresh (the reports then compute
    from the source tables)."""
    if not all(fresh.get(p, True) for p in parts):
        st.caption(f":material/info: {MART_STALE}")


# ------------------------------------------------------------------------------------------------
# Tables, downloads, charts
# ------------------------------------------------------------------------------------------------

FORMATTERS: dict[str, Callable[[Any], str]] = {
    "money": fmt.rub_value,
    "int": fmt.num,
    "float1": lambda v: fmt.num(v, 1),
    "pct": fmt.pct,
    "date": fmt.date_ru,
    "datetime": fmt.date_ru,
    "period": lambda v: fmt.period_name(int(v)) if v is not None and not pd.isna(v) else "",
    "text": lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v),
}


def display_frame(df: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """The columns to show, renamed to Russian; ``*_kop`` money becomes rubles (2 decimals)."""
    out = pd.DataFrame(index=range(len(df)))
    for src, (label, kind) in columns.items():
        values = df[src].reset_index(drop=True) if src in df.columns else pd.Series([None] * len(df))
        if kind == "money":
            out[label] = pd.to_numeric(values, errors="coerce").astype("float64") / 100
        elif kind in ("int", "period"):
            out[label] = pd.to_numeric(values, errors="coerce").astype("Int64")
        elif kind in ("pct", "float1"):
            out[label] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif kind in ("date", "datetime"):
            out[label] = [
                None if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT else v
                for v in values
            ]
        else:
            out[label] = values.astype("object").where(values.notna(), None)
    return out


def _styled(df: pd.DataFrame, kinds: dict[str, str]) -> Any:
    return df.style.format({label: FORMATTERS[kind] for label, kind in kinds.items()}, na_rep="")


def to_csv(df: pd.DataFrame, kinds: dict[str, str]) -> bytes:
    """CSV for a Russian spreadsheet: ``;`` separator, decimal comma, dates ДД.ММ.ГГГГ, UTF-8 with BOM."""
    out = df.copy()
    for label, kind in kinds.items():
        if kind in ("date", "datetime", "period"):
            out[label] = [FORMATTERS[kind](v) if v is not None and not pd.isna(v) else "" for v in out[label]]
    return out.to_csv(sep=";", decimal=",", index=False, float_format="%.2f").encode("utf-8-sig")


def to_excel(df: pd.DataFrame, kinds: dict[str, str], sheet: str = "Данные") -> bytes:
    """An .xlsx with money as numbers in ``# ##0,00 ₽`` and dates as dates (ДД.ММ.ГГГГ)."""
    out = df.copy()
    for label, kind in kinds.items():
        if kind == "period":
            out[label] = [FORMATTERS[kind](v) for v in out[label]]
        elif kind == "date":
            out[label] = pd.to_datetime(out[label], errors="coerce")
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        out.to_excel(writer, sheet_name=sheet[:31], index=False)
        ws = writer.sheets[sheet[:31]]
        for j, label in enumerate(out.columns, start=1):
            kind = kinds.get(label, "text")
            number_format = {
                "money": '#,##0.00" ₽"',
                "int": "#,##0",
                "pct": "0.0%",
                "date": "DD.MM.YYYY",
                "datetime": "DD.MM.YYYY HH:MM",
                "float1": "0.0",
            }.get(kind)
            ws.column_dimensions[ws.cell(1, j).column_letter].width = max(12, min(48, len(str(label)) + 4))
            if number_format:
                for row in range(2, len(out) + 2):
                    ws.cell(row, j).number_format = number_format
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=500)
def _downloads(df: pd.DataFrame, kinds: tuple[tuple[str, str], ...], sheet: str) -> tuple[bytes, bytes]:
    k = dict(kinds)
    return to_csv(df, k), to_excel(df, k, sheet)


def table(
    df: pd.DataFrame,
    columns: dict[str, tuple[str, str]],
    *,
    key: str,
    file_name: str,
    empty: str = NO_DATA,
    height: int | str = "auto",
) -> pd.DataFrame | None:
    """Show ``df`` as a Russian table with CSV and Excel downloads; returns the displayed frame."""
    if df is None or df.empty:
        st.info(empty)
        return None
    shown = display_frame(df, columns)
    kinds = {label: kind for label, kind in columns.values()}
    st.dataframe(_styled(shown, kinds), hide_index=True, height=height, placeholder="")
    csv_bytes, xlsx_bytes = _downloads(shown, tuple(kinds.items()), file_name)
    c1, c2, _ = st.columns([1, 1, 6])
    with c1:
        st.download_button(
            "CSV",
            csv_bytes,
            file_name=f"{file_name}.csv",
            mime="text/csv",
            key=f"{key}_csv",
            on_click="ignore",
            icon=":material/download:",
        )
    with c2:
        st.download_button(
            "Excel",
            xlsx_bytes,
            file_name=f"{file_name}.xlsx",
            key=f"{key}_xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            on_click="ignore",
            icon=":material/download:",
        )
    return shown


def chart(c: alt.Chart | alt.LayerChart) -> None:
    """An Altair chart with the Russian number and date locale, horizontal axis labels."""
    st.altair_chart(c.configure(locale=RU_LOCALE).configure_axisX(labelAngle=0), width="stretch")


def day_labels(values: Any) -> list[str]:
    """Dates → ``ДД.ММ`` labels for an ordinal day axis (sorted as the data)."""
    return [f"{v:%d.%m}" for v in values]


def metric(label: str, value: str, help: str | None = None) -> None:
    st.metric(label, value, help=help)


def metrics(items: list[tuple[str, str, str | None]], per_row: int = 4) -> None:
    """Metrics in rows of ``per_row`` (wide enough for ``1 234 567,89 ₽``)."""
    for start in range(0, len(items), per_row):
        cols = st.columns(per_row)
        for col, (label, value, hint) in zip(cols, items[start : start + per_row], strict=False):
            with col:
                st.metric(label, value, help=hint)


def date_range_input(label: str, default: tuple[dt.date, dt.date], key: str) -> tuple[dt.date, dt.date]:
    """A date range picker (ДД.ММ.ГГГГ) that always returns two dates."""
    value = st.date_input(label, value=default, format="DD.MM.YYYY", key=key)
    if isinstance(value, tuple | list):
        if len(value) == 2:
            return value[0], value[1]
        if len(value) == 1:
            return value[0], value[0]
        return default
    return value, value
