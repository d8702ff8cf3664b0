"""A provider's session never sees another provider's money: checked on every page, against the store.

The user is МУП «Водоканал» (ИНН 6227000292). Every figure on its pages must equal its own share computed
here in SQL (and differ from the center's total), every table that names providers or services must
name only its own, and the pages that hold everybody's money refuse it."""

from __future__ import annotations

import datetime as dt

from tests.dashboards.conftest import Store, kop, metric_kop, provider, table, texts


def _own(store: Store, pid: int) -> tuple[set[str], set[str]]:
    names = {r[0] for r in store.rows("SELECT name FROM providers WHERE id = :p", p=pid)}
    services = {
        r[0]
        for r in store.rows(
            "SELECT DISTINCT s.name FROM account_services x JOIN services s ON s.id = x.service_id "
            "WHERE x.provider_id = :p",
            p=pid,
        )
    }
    return names, services


def test_monitoring_is_refused(filled: Store, open_page) -> None:
    at = open_page("monitoring", filled, provider(filled))
    assert "недоступна для вашей роли" in texts(at)
    assert not at.metric and not at.dataframe and not at.download_button


def test_money_shows_only_own_money(filled: Store, open_page) -> None:
    user = provider(filled)
    pid = user.provider_id
    at = open_page("money", filled, user)
    a, b = at.date_input(key="money_dates").value
    own = filled.rows(
        "SELECT SUM(x.amount_kop), SUM(x.commission_kop), SUM(x.fee_kop), "
        "SUM(CASE WHEN x.transfer_id IS NOT NULL THEN x.amount_kop - x.commission_kop - x.fee_kop "
        "ELSE 0 END) "
        "FROM payment_allocations x JOIN payments p ON p.id = x.payment_id "
        "WHERE p.op_date BETWEEN :a AND :b AND x.provider_id = :p",
        a=a.isoformat(),
        b=b.isoformat(),
        p=pid,
    )[0]
    everyone = filled.scalar(
        "SELECT SUM(amount_kop) FROM payments WHERE op_date BETWEEN :a AND :b",
        a=a.isoformat(),
        b=b.isoformat(),
    )
    assert metric_kop(at, "Собрано") == own[0] < everyone
    assert metric_kop(at, "Комиссия агентов") == own[1]
    assert metric_kop(at, "Вознаграждение ЕИРЦ") == own[2]
    assert metric_kop(at, "Перечислено") == own[3]
    assert "Неопознанные" not in [m.label for m in at.metric]
    names, services = _own(filled, pid)
    assert kop(table(at, "Агент")["Собрано"]) == own[0]
    split = table(at, "Частей платежей")
    assert set(split["Поставщик"]) == names and set(split["Услуга"]) <= services
    assert kop(split["Распределено"]) == own[0]
    transfers = table(at, "№ п/п")
    assert set(transfers["Поставщик"]) == names
    own_net = filled.scalar(
        "SELECT SUM(net_kop) FROM provider_transfers WHERE provider_id = :p "
        "AND transfer_date BETWEEN :a AND :b",
        p=pid,
        a=a.isoformat(),
        b=(b + dt.timedelta(days=10)).isoformat(),
    )
    assert kop(transfers["Перечислено"]) == own_net
    assert not [d for d in at.dataframe if "Указанный л/с" in d.value.columns]  # no unidentified payments
    assert "не показываются" in texts(at)


def test_analytics_shows_only_own_money(filled: Store, open_page) -> None:
    user = provider(filled)
    pid = user.provider_id
    at = open_page("analytics", filled, user)
    period = at.multiselect(key="an_periods").value[0]
    charged = filled.scalar(
        "SELECT SUM(amount_kop) FROM charge_lines WHERE period = :p AND kind <> 'penalty' "
        "AND provider_id = :pid",
        p=period,
        pid=pid,
    )
    all_charged = filled.scalar(
        "SELECT SUM(amount_kop) FROM charge_lines WHERE period = :p AND kind <> 'penalty'", p=period
    )
    paid = filled.scalar(
        "SELECT SUM(amount_kop) FROM payment_allocations WHERE period = :p AND provider_id = :pid "
        "AND kind IN ('principal', 'advance')",
        p=period,
        pid=pid,
    )
    assert metric_kop(at, "Начислено") == charged < all_charged
    assert metric_kop(at, "Оплачено") == paid
    assert metric_kop(at, "Пени начислено") == filled.scalar(
        "SELECT SUM(amount_kop) FROM charge_lines WHERE period = :p AND kind = 'penalty' "
        "AND provider_id = :pid",
        p=period,
        pid=pid,
    )
    own_debt = filled.scalar(
        "SELECT SUM(closing_kop) FROM account_balances WHERE period = :p "
        "AND provider_id = :pid AND closing_kop > 0",
        p=period,
        pid=pid,
    )
    assert metric_kop(at, "Задолженность") == own_debt
    assert kop(table(at, "Просрочка")["Долг"]) == own_debt
    names, services = _own(filled, pid)
    assert at.multiselect(key="an_providers").disabled
    assert set(at.multiselect(key="an_services").options) <= services
    at.radio(key="an_dim").set_value("provider").run()
    assert set(table(at, "Поставщик")["Поставщик"]) == names
    at.radio(key="an_dim").set_value("service").run()
    assert set(table(at, "Услуга")["Услуга"]) <= services
    at.radio(key="an_dim").set_value("bank").run()
    assert kop(table(at, "Доля")["Оплачено"]) == paid
    assert set(table(at, "Период")["Поставщик"]) == names  # penalties
    assert set(table(at, "Код причины")["Услуга"]) <= services
    top = table(at, "Месяцев долга")
    assert round(top["Долг"].max() * 100) <= own_debt
    assert not [t for t in at.toggle if t.label == "По поставщикам"]


def test_account_shows_only_own_services_and_money(filled: Store, open_page) -> None:
    user = provider(filled)
    pid = user.provider_id
    acc_id, number = filled.rows(
        "SELECT a.id, a.number FROM accounts a WHERE a.id IN (SELECT account_id FROM payments) "
        "AND a.id IN (SELECT account_id FROM opening_debts) ORDER BY a.id LIMIT 1"
    )[0]
    at = open_page("account", filled, user)
    at.text_input(key="acc_query").set_value(number).run()
    assert not at.exception
    names, services = _own(filled, pid)
    charges = table(at, "Расчёт")
    assert set(charges["Поставщик"]) == names and set(charges["Услуга"]) <= services
    assert kop(charges["Сумма"]) == filled.scalar(
        "SELECT SUM(amount_kop) FROM charge_lines WHERE account_id = :a AND provider_id = :p", a=acc_id, p=pid
    )
    own_paid = filled.scalar(
        "SELECT SUM(amount_kop) FROM payment_allocations WHERE account_id = :a AND provider_id = :p",
        a=acc_id,
        p=pid,
    )
    whole = filled.scalar("SELECT SUM(amount_kop) FROM payments WHERE account_id = :a", a=acc_id)
    assert kop(table(at, "Комиссия")["Сумма"]) == own_paid < whole
    assert set(table(at, "Оплачен месяц")["Поставщик"]) == names
    balances = table(at, "Исходящее")
    assert set(balances["Поставщик"]) == names
    assert kop(balances["Исходящее"]) == filled.scalar(
        "SELECT SUM(closing_kop) FROM account_balances WHERE account_id = :a AND provider_id = :p",
        a=acc_id,
        p=pid,
    )
    assert set(table(at, "Способ расчёта")["Поставщик"]) == names
    assert set(table(at, "Месяц")["Поставщик"]) <= names
    # an account without the provider's services is not found at all
    gas_user = provider(filled, "6229018456")
    no_gas = filled.scalar(
        "SELECT number FROM accounts WHERE id NOT IN (SELECT account_id FROM account_services "
        "WHERE provider_id = :p) ORDER BY id LIMIT 1",
        p=gas_user.provider_id,
    )
    at = open_page("account", filled, gas_user)
    at.text_input(key="acc_query").set_value(no_gas).run()
    assert "Ничего не найдено" in texts(at)
    assert not at.dataframe
