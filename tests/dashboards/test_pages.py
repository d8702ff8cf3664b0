"""Every page with AppTest on a filled store (SQLite and PostgreSQL): the title, the numbers against the
store's totals computed here in plain SQL, filters, downloads; the sign-in prompt without a user; the
"no data" messages on a city without money; the role refusals."""

from __future__ import annotations

import datetime as dt
import io
import math

import pandas as pd
import pytest

from hub.reports.fmt import rub
from tests.conftest import City
from tests.dashboards.conftest import (
    Store,
    csv_frame,
    kop,
    management,
    metric,
    metric_int,
    metric_kop,
    operator,
    provider,
    table,
    texts,
)

PAGES = {
    "monitoring": "Мониторинг обмена",
    "money": "Денежные потоки",
    "analytics": "Аналитика",
    "account": "Лицевой счёт",
}
NOV = dt.date(2026, 11, 1)


@pytest.mark.parametrize("page", list(PAGES))
def test_page_without_user_shows_the_login_prompt(page: str, filled: Store, open_page) -> None:
    at = open_page(page, filled, None)
    assert [t.value for t in at.title] == ["Вход"]
    assert [b.label for b in at.button] == ["Войти"]
    assert {t.label for t in at.text_input} == {"Пользователь", "Пароль"}
    assert not at.metric and not at.dataframe


def test_login_form_signs_in(filled: Store, open_page) -> None:
    at = open_page("money", filled, None)
    at.text_input(key="login_name").set_value("director")
    at.text_input(key="login_password").set_value("wrong")
    at.button[0].click().run()
    assert "Неверное имя пользователя или пароль" in texts(at)
    at.text_input(key="login_password").set_value("pw-director")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["user"].role == "management"
    assert [t.value for t in at.title] == ["Денежные потоки"]


def test_roles_that_may_not_see_a_page_are_refused(filled: Store, open_page) -> None:
    for page, user in (("monitoring", provider(filled)), ("money", operator()), ("analytics", operator())):
        at = open_page(page, filled, user)
        assert [t.value for t in at.title] == [PAGES[page]]
        assert "недоступна для вашей роли" in texts(at)
        assert not at.metric and not at.dataframe


# ------------------------------------------------------------------------------------------------
# Мониторинг обмена
# ------------------------------------------------------------------------------------------------


def _day_files(store: Store, day: dt.date) -> list[tuple]:
    return store.rows(
        f"SELECT status, control_sum_kop, amount_loaded_kop, lines_rejected FROM registry_files "
        f"WHERE direction = 'in' AND {store.day('received_at')} = :d",
        d=day.isoformat(),
    )


def test_monitoring_numbers_filters_and_downloads(filled: Store, open_page, downloads) -> None:
    at = open_page("monitoring", filled, management())
    assert [t.value for t in at.title] == ["Мониторинг обмена"]
    last = filled.scalar(f"SELECT MAX({filled.day('received_at')}) FROM registry_files")
    day = dt.date.fromisoformat(str(last))
    assert at.date_input(key="mon_day").value == day
    files = _day_files(filled, day)
    assert metric_int(at, "Получено файлов") == len(files)
    assert metric_int(at, "Загружено") == sum(1 for f in files if f[0] == "loaded")
    assert metric_int(at, "С отклонёнными строками") == sum(1 for f in files if f[0] == "loaded_with_errors")
    assert metric_kop(at, "Контрольная сумма") == sum(f[1] for f in files)
    assert metric_kop(at, "Загружено на сумму") == sum(f[2] for f in files)
    shown = table(at, "Протокол ошибок")
    assert len(shown) == len(files)
    assert kop(shown["Контрольная сумма"]) == sum(f[1] for f in files)

    # the late partner: a payment agent that sent files in the week before, but not on the day
    week = {
        r[0]
        for r in filled.rows(
            f"SELECT DISTINCT sender FROM registry_files WHERE kind IN ('bank', 'post') AND "
            f"{filled.day('received_at')} >= :a AND {filled.day('received_at')} < :d",
            a=(day - dt.timedelta(days=7)).isoformat(),
            d=day.isoformat(),
        )
    }
    today = {
        r[0]
        for r in filled.rows(
            f"SELECT DISTINCT sender FROM registry_files WHERE {filled.day('received_at')} = :d",
            d=day.isoformat(),
        )
    }
    late = week - today
    assert late == {"TERM:GOROD"}
    assert any("TERM:GOROD" in e.value and "Не поступил" in e.value for e in at.error)

    # rejected lines of the 7-day window, with the reason and the protocol name
    n_err = filled.scalar(
        f"SELECT COUNT(*) FROM registry_errors e JOIN registry_files f ON f.id = e.file_id "
        f"WHERE {filled.day('f.received_at')} BETWEEN :a AND :d",
        a=(day - dt.timedelta(days=6)).isoformat(),
        d=day.isoformat(),
    )
    errors = table(at, "Причина")
    assert len(errors) == n_err > 0
    assert errors["Протокол ошибок"].str.endswith(".err").all()
    # per partner and day: Σ control sums of the window
    window = table(at, "Отправитель", nth=1)
    total = filled.scalar(
        f"SELECT SUM(control_sum_kop) FROM registry_files WHERE "
        f"{filled.day('received_at')} BETWEEN :a AND :d",
        a=(day - dt.timedelta(days=6)).isoformat(),
        d=day.isoformat(),
    )
    assert kop(window["Контрольная сумма"]) == total
    # DAG runs: the failure is listed
    failed = filled.scalar("SELECT COUNT(*) FROM run_log WHERE status = 'failed'")
    assert len(table(at, "Задача")) == failed == 1

    # the CSV download has the rows of the table
    csv = csv_frame(downloads[f"реестры_{day:%Y%m%d}.csv"])
    assert list(csv.columns) == list(shown.columns)
    assert csv["Файл"].tolist() == shown["Файл"].tolist()
    assert sum(round(float(v.replace(",", ".")) * 100) for v in csv["Контрольная сумма"]) == sum(
        f[1] for f in files
    )

    # another day: the figures follow
    other = dt.date(2026, 11, 11)
    at.date_input(key="mon_day").set_value(other).run()
    assert not at.exception
    files = _day_files(filled, other)
    assert metric_int(at, "Получено файлов") == len(files)
    assert metric_int(at, "Отклонено файлов") == sum(1 for f in files if f[0] == "rejected") == 1
    assert metric_kop(at, "Контрольная сумма") == sum(f[1] for f in files)


def test_operator_sees_monitoring_and_accounts(filled: Store, open_page) -> None:
    at = open_page("monitoring", filled, operator())
    assert metric_int(at, "Получено файлов") > 0
    at = open_page("account", filled, operator())
    assert [t.value for t in at.title] == ["Лицевой счёт"]


# ------------------------------------------------------------------------------------------------
# Денежные потоки
# ------------------------------------------------------------------------------------------------


def _money(store: Store, a: dt.date, b: dt.date) -> dict[str, int]:
    p = store.rows(
        "SELECT COALESCE(SUM(amount_kop), 0), COALESCE(SUM(commission_kop), 0), "
        "COALESCE(SUM(CASE WHEN unidentified THEN amount_kop ELSE 0 END), 0) FROM payments "
        "WHERE op_date BETWEEN :a AND :b",
        a=a.isoformat(),
        b=b.isoformat(),
    )[0]
    t = store.rows(
        "SELECT COALESCE(SUM(CASE WHEN x.transfer_id IS NOT NULL THEN x.amount_kop - x.commission_kop "
        "- x.fee_kop ELSE 0 END), 0), COALESCE(SUM(CASE WHEN x.transfer_id IS NULL THEN x.amount_kop "
        "- x.commission_kop - x.fee_kop ELSE 0 END), 0), COALESCE(SUM(x.fee_kop), 0) "
        "FROM payment_allocations x JOIN payments p ON p.id = x.payment_id "
        "WHERE p.op_date BETWEEN :a AND :b",
        a=a.isoformat(),
        b=b.isoformat(),
    )[0]
    return {
        "collected": int(p[0]),
        "commission": int(p[1]),
        "unidentified": int(p[2]),
        "transferred": int(t[0]),
        "pending": int(t[1]),
        "fee": int(t[2]),
    }


def _lower_quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_money_numbers_filters_and_downloads(filled: Store, open_page, downloads) -> None:
    at = open_page("money", filled, management())
    assert [t.value for t in at.title] == ["Денежные потоки"]
    first, last = (
        dt.date.fromisoformat(str(v))
        for v in filled.rows("SELECT MIN(op_date), MAX(op_date) FROM payments")[0]
    )
    a, b = at.date_input(key="money_dates").value
    assert (a, b) == (max(first, last.replace(day=1)), last)
    exp = _money(filled, a, b)
    assert metric_kop(at, "Собрано") == exp["collected"]
    assert metric_kop(at, "Комиссия агентов") == exp["commission"]
    assert metric_kop(at, "Вознаграждение ЕИРЦ") == exp["fee"]
    assert metric_kop(at, "Перечислено") == exp["transferred"]
    assert metric_kop(at, "К перечислению") == exp["pending"] > 0
    assert metric_kop(at, "Неопознанные") == exp["unidentified"] > 0
    # by agent
    agents = table(at, "Агент")
    per_agent = dict(
        filled.rows(
            "SELECT g.name, SUM(p.amount_kop) FROM payments p JOIN payment_agents g "
            "ON g.id = p.agent_id WHERE p.op_date BETWEEN :a AND :b GROUP BY g.name",
            a=a.isoformat(),
            b=b.isoformat(),
        )
    )
    assert {r["Агент"]: round(r["Собрано"] * 100) for _, r in agents.iterrows()} == per_agent
    assert set(agents["Тип"]) == {"банк", "почта", "терминал"}
    # split by provider and service = Σ allocations; transferred + to transfer = net
    split = table(at, "Частей платежей")
    alloc = filled.scalar(
        "SELECT SUM(x.amount_kop) FROM payment_allocations x JOIN payments p "
        "ON p.id = x.payment_id WHERE p.op_date BETWEEN :a AND :b",
        a=a.isoformat(),
        b=b.isoformat(),
    )
    assert kop(split["Распределено"]) == alloc
    assert kop(split["Перечислено"]) == exp["transferred"]
    # identified payments are split in full
    identified = filled.scalar(
        "SELECT SUM(amount_kop) FROM payments WHERE NOT unidentified AND op_date BETWEEN :a AND :b",
        a=a.isoformat(),
        b=b.isoformat(),
    )
    assert alloc == identified
    # unidentified payments listed
    unknown = table(at, "Указанный л/с")
    assert kop(unknown["Сумма"]) == exp["unidentified"]
    # turnover: median and 95th percentile of one day from the raw allocations
    turn = table(at, "Медиана, дней")
    lags: dict[dt.date, list[int]] = {}
    for op, td in filled.rows(
        "SELECT p.op_date, t.transfer_date FROM payment_allocations x JOIN payments p "
        "ON p.id = x.payment_id JOIN provider_transfers t ON t.id = x.transfer_id "
        "WHERE p.op_date BETWEEN :a AND :b",
        a=a.isoformat(),
        b=b.isoformat(),
    ):
        op, td = dt.date.fromisoformat(str(op)), dt.date.fromisoformat(str(td))
        lags.setdefault(op, []).append((td - op).days)
    for _, row in turn.iterrows():
        day = row["День платежа"]
        if day in lags:
            assert row["Медиана, дней"] == _lower_quantile(lags[day], 0.5)
            assert row["95-й процентиль, дней"] == _lower_quantile(lags[day], 0.95)
            assert row["Перечислено частей"] == len(lags[day])
    assert len([d for d in turn["День платежа"] if d in lags]) == len(lags) > 10
    # Excel download of the split = the table
    xlsx = pd.read_excel(io.BytesIO(downloads[f"распределение_{a:%Y%m%d}_{b:%Y%m%d}.xlsx"]))
    assert list(xlsx.columns) == list(split.columns)
    assert len(xlsx) == len(split)
    assert kop(xlsx["Распределено"]) == alloc
    # a narrower range: the figures follow
    one = dt.date(2026, 11, 10)
    at.date_input(key="money_dates").set_value((one, one)).run()
    assert not at.exception
    exp = _money(filled, one, one)
    assert metric_kop(at, "Собрано") == exp["collected"] > 0
    assert metric_kop(at, "Перечислено") == exp["transferred"]


# ------------------------------------------------------------------------------------------------
# Аналитика
# ------------------------------------------------------------------------------------------------


def _charged(store: Store, period: int, where: str = "", **params) -> int:
    return int(
        store.scalar(
            "SELECT COALESCE(SUM(c.amount_kop), 0) FROM charge_lines c "
            "JOIN accounts a ON a.id = c.account_id "
            "JOIN premises pm ON pm.id = a.premises_id JOIN buildings b ON b.id = pm.building_id "
            f"WHERE c.period = :p AND c.kind <> 'penalty' {where}",
            p=period,
            **params,
        )
    )


def _paid(store: Store, period: int, where: str = "", **params) -> int:
    return int(
        store.scalar(
            "SELECT COALESCE(SUM(x.amount_kop), 0) FROM payment_allocations x "
            "JOIN accounts a ON a.id = x.account_id "
            "JOIN premises pm ON pm.id = a.premises_id JOIN buildings b ON b.id = pm.building_id "
            f"WHERE x.period = :p AND x.kind IN ('principal', 'advance') {where}",
            p=period,
            **params,
        )
    )


def _debts(store: Store, period: int) -> dict[int, int]:
    """Debt per account as of ``period``: Σ over its services of the positive closing saldo."""
    pairs = store.scalar("SELECT COUNT(*) FROM (SELECT DISTINCT account_id, service_id FROM opening_debts) t")
    covered = store.scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT d.account_id, d.service_id FROM opening_debts d "
        "JOIN account_balances b ON b.account_id = d.account_id AND b.service_id = d.service_id "
        "AND b.period = :p) t",
        p=period,
    )
    assert covered == pairs  # every opening debt is carried into the balances of the period
    out: dict[int, int] = {}
    for acc, closing in store.rows(
        "SELECT account_id, closing_kop FROM account_balances WHERE period = :p AND closing_kop > 0", p=period
    ):
        out[int(acc)] = out.get(int(acc), 0) + int(closing)
    return out


def test_analytics_numbers_filters_and_downloads(filled: Store, open_page, downloads) -> None:
    at = open_page("analytics", filled, management())
    assert [t.value for t in at.title] == ["Аналитика"]
    period = int(filled.scalar("SELECT MAX(period) FROM charge_lines"))
    assert at.multiselect(key="an_periods").value == [period]
    charged, paid = _charged(filled, period), _paid(filled, period)
    assert metric_kop(at, "Начислено") == charged > 0
    assert metric_kop(at, "Оплачено") == paid > 0
    assert metric(at, "Собираемость") == f"{paid / charged * 100:.1f}".replace(".", ",") + "\u00a0%"
    assert metric_kop(at, "Пени начислено") == filled.scalar(
        "SELECT SUM(amount_kop) FROM charge_lines WHERE kind = 'penalty' AND period = :p", p=period
    )
    debts = _debts(filled, period)
    assert metric_kop(at, "Задолженность") == sum(debts.values())
    assert metric_int(at, "Должников") == len(debts)
    # aging buckets add up to the debt; the oldest months are there
    aging = table(at, "Просрочка")
    assert kop(aging["Долг"]) == sum(debts.values())
    assert {"не наступил срок", "1–30 дней", "31–90 дней"} <= set(aging["Просрочка"])
    # the same debt by provider (on demand)
    at.toggle(key="an_aging_by_provider").set_value(True).run()
    by_provider = table(at, "Поставщик", nth=0)
    assert len(by_provider) == filled.scalar(
        "SELECT COUNT(DISTINCT provider_id) FROM account_balances WHERE period = :p AND closing_kop > 0",
        p=period,
    )
    assert sum(kop(by_provider[c]) for c in by_provider.columns if c != "Поставщик") == sum(debts.values())
    at.toggle(key="an_aging_by_provider").set_value(False).run()
    # top debtors: the largest debt first
    top = table(at, "Месяцев долга")
    biggest = max(debts.values())
    assert round(top["Долг"].iloc[0] * 100) == biggest
    # breakdown by management company adds up; CSV download = the table
    breakdown = table(at, "Собираемость")
    assert kop(breakdown["Начислено"]) == charged
    csv = csv_frame(downloads["собираемость_mc.csv"])
    assert csv["Управляющая организация"].tolist() == breakdown["Управляющая организация"].tolist()
    assert sum(round(float(v.replace(",", ".")) * 100) for v in csv["Начислено"]) == charged
    # by district
    at.radio(key="an_dim").set_value("district").run()
    by_district = table(at, "Район")
    names = dict(filled.rows("SELECT name, id FROM districts"))
    for _, row in by_district.iterrows():
        assert round(row["Начислено"] * 100) == _charged(
            filled, period, "AND b.district_id = :d", d=names[row["Район"]]
        )
    # filter: one district
    district = names[by_district["Район"].iloc[0]]
    at.multiselect(key="an_districts").set_value([district]).run()
    assert not at.exception
    assert metric_kop(at, "Начислено") == _charged(filled, period, "AND b.district_id = :d", d=district)
    assert metric_kop(at, "Оплачено") == _paid(filled, period, "AND b.district_id = :d", d=district)
    in_district = {
        r[0]
        for r in filled.rows(
            "SELECT a.id FROM accounts a JOIN premises pm ON pm.id = a.premises_id "
            "JOIN buildings b ON b.id = pm.building_id WHERE b.district_id = :d",
            d=district,
        )
    }
    assert metric_kop(at, "Задолженность") == sum(v for k, v in debts.items() if k in in_district)
    # filter: one service (and no district)
    hvs = int(filled.scalar("SELECT id FROM services WHERE code = 'HVS'"))
    at.multiselect(key="an_districts").set_value([]).run()
    at.multiselect(key="an_services").set_value([hvs]).run()
    assert metric_kop(at, "Начислено") == _charged(filled, period, "AND c.service_id = :s", s=hvs)
    rec = table(at, "Код причины")
    assert set(rec["Услуга"]) == {"Холодное водоснабжение"}
    assert kop(rec["Сумма"]) == filled.scalar(
        "SELECT SUM(amount_kop) FROM charge_lines WHERE kind IN ('recalculation', 'reduction') "
        "AND service_id = :s "
        "AND period = :p",
        s=hvs,
        p=period,
    )
    # filter: a period without charges (an opening-debt month): nothing charged, but paid
    older = period - 1
    at.multiselect(key="an_services").set_value([]).run()
    at.multiselect(key="an_periods").set_value([older]).run()
    assert metric_kop(at, "Начислено") == 0
    assert metric_kop(at, "Оплачено") == _paid(filled, older) > 0


# ------------------------------------------------------------------------------------------------
# Лицевой счёт
# ------------------------------------------------------------------------------------------------


def test_account_search_dossier_statement(filled: Store, open_page, downloads) -> None:
    at = open_page("account", filled, management())
    assert [t.value for t in at.title] == ["Лицевой счёт"]
    assert "Введите номер" in texts(at)
    acc_id, number, els, barcode, street, house, flat = filled.rows(
        "SELECT a.id, a.number, a.els, a.card_barcode, b.street, b.house, pm.flat FROM accounts a "
        "JOIN premises pm ON pm.id = a.premises_id JOIN buildings b ON b.id = pm.building_id "
        "WHERE a.id IN (SELECT account_id FROM payments) AND a.id IN (SELECT account_id FROM opening_debts) "
        "ORDER BY a.id LIMIT 1"
    )[0]
    for query in (number, els.lower(), barcode, f"{street.lower()} {house} {flat}"):
        at.text_input(key="acc_query").set_value(query).run()
        assert not at.exception
        if at.selectbox:
            at.selectbox(key="acc_pick").set_value(acc_id).run()
        assert any(number in s.value for s in at.subheader), query
    charges = table(at, "Расчёт")
    assert kop(charges["Сумма"]) == filled.scalar(
        "SELECT SUM(amount_kop) FROM charge_lines WHERE account_id = :a", a=acc_id
    )
    assert len(charges) == filled.scalar("SELECT COUNT(*) FROM charge_lines WHERE account_id = :a", a=acc_id)
    assert charges["Расчёт"].str.len().min() > 0
    payments = table(at, "Комиссия")
    assert kop(payments["Сумма"]) == filled.scalar(
        "SELECT SUM(amount_kop) FROM payments WHERE account_id = :a", a=acc_id
    )
    splits = table(at, "Оплачен месяц")
    assert kop(splits["Сумма"]) == filled.scalar(
        "SELECT SUM(amount_kop) FROM payment_allocations WHERE account_id = :a", a=acc_id
    )
    balances = table(at, "Исходящее")
    closing = filled.scalar("SELECT SUM(closing_kop) FROM account_balances WHERE account_id = :a", a=acc_id)
    assert kop(balances["Исходящее"]) == closing
    assert metric_kop(at, "Сальдо на конец периода") == closing
    debts = table(at, "Месяц")
    assert kop(debts["Долг"]) == filled.scalar(
        "SELECT SUM(principal_kop) FROM opening_debts WHERE account_id = :a", a=acc_id
    )
    residents = table(at, "ФИО")
    assert len(residents) == filled.scalar(
        "SELECT COUNT(*) FROM registrations WHERE account_id = :a", a=acc_id
    )
    services = table(at, "Способ расчёта")
    assert len(services) == filled.scalar(
        "SELECT COUNT(*) FROM account_services WHERE account_id = :a", a=acc_id
    )
    csv = csv_frame(downloads[f"начисления_{number}.csv"])
    assert len(csv) == len(charges)
    at.text_input(key="acc_query").set_value("нет такой улицы 999").run()
    assert "Ничего не найдено" in texts(at)


# ------------------------------------------------------------------------------------------------
# A city without money yet: every page says so, nothing breaks
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_pages_on_a_store_without_money(page: str, city: City, open_page) -> None:
    at = open_page(page, city, management())
    assert [t.value for t in at.title] == [PAGES[page]]
    if page == "monitoring":
        assert metric_int(at, "Получено файлов") == 0
        assert "Нет файлов" in texts(at) and "Запусков ещё не было" in texts(at)
    elif page == "money":
        assert "Нет данных" in texts(at)
    elif page == "analytics":
        assert metric(at, "Начислено") == rub(0)
        assert "Нет данных" in texts(at)
        # the opening debts are there: debt and aging work before the first billing run
        owed = (
            city.engine.connect()
            .exec_driver_sql(
                "SELECT SUM(d) FROM (SELECT SUM(principal_kop + penalty_kop) AS d FROM opening_debts "
                "GROUP BY account_id, service_id) t WHERE d > 0"
            )
            .scalar()
        )
        assert metric_kop(at, "Задолженность") == owed > 0
        assert kop(table(at, "Просрочка")["Долг"]) == metric_kop(at, "Задолженность")
    else:
        at.text_input(key="acc_query").set_value("3100000001").run()
        assert not at.exception
        assert "Начислений нет" in texts(at) and "Платежей нет" in texts(at)
