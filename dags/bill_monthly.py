"""bill_monthly — the month's billing and the period close (Airflow DAG).

Runs on the 1st of every month at 03:00 (Moscow) for the month before (or for the `period` param,
YYYY-MM):

1. **close_readings** — the readings window of the period is closed (later readings go to the next
   month); a period closed already makes the whole run a no-op;
2. **districts** → **bill** — the period is billed with the Rust engine (`hub.billing.bill_period`),
   **one mapped task per district** (a district is a partition: every building lies in one, so the
   partitions together equal the single call to the kopeck); each writes its charge lines —
   charges, benefits, quality reductions, absence recalculations, penalties — and balances;
3. **balances** — the period's totals (charges, opening and closing saldo) into `run_log`;
4. **szn_replies** and **bank_debts** — the charges reply to every beneficiary list of the period
   (to the office's outbox) and the debts file for every bank (to the bank's outbox);
5. **close** — the period is closed and the next one opened; the `unipay_charges` Asset is updated.

Running it again for the same period changes nothing (the period is closed; the exports are the same
files under the same names).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, Param, get_current_context, task

from hub import orchestration as orch

with DAG(
    dag_id="bill_monthly",
    schedule=CronTriggerTimetable("0 3 1 * *", timezone=orch.TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=orch.TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["unipay", "billing", "monthly"],
    default_args=orch.default_args("billing"),
    params={
        "period": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-\d{2}$",
            description="Расчётный период ГГГГ-ММ (по умолчанию — предыдущий месяц)",
        )
    },
    doc_md=__doc__,
    **orch.dag_callbacks(),
) as dag:

    @task
    def close_readings() -> int:
        context = get_current_context()
        period = orch.period_of_run(context["params"].get("period"), orch.run_date(context))
        orch.close_readings(period, ids=orch.ids_from_context(context))
        return period

    @task
    def districts() -> list[int]:
        from hub.billing import district_ids

        return district_ids(orch.store_engine())

    @task(map_index_template="район {{ district }}")
    def bill(period: int, district: int) -> dict:
        return orch.bill_partition(period, [district], ids=orch.current_ids())

    @task
    def balances(period: int, billed: list) -> dict:
        return orch.check_balances(period, ids=orch.current_ids())

    @task
    def szn_replies(period: int) -> list:
        return orch.send_szn_replies(period, ids=orch.current_ids())

    @task
    def bank_debts(period: int) -> list:
        return orch.send_debts(period, ids=orch.current_ids())

    @task(outlets=[orch.asset("charges")])
    def close(period: int) -> dict:
        return orch.close(period, ids=orch.current_ids())

    period = close_readings()
    billed = bill.partial(period=period).expand(district=districts())
    totals = balances(period, billed)
    exports = [szn_replies(period), bank_debts(period)]
    totals >> exports
    exports >> close(period)
