"""settle_daily — the day's settlement and the providers' transfer registries (Airflow DAG).

Runs every evening at 20:00 (Moscow) **and** whenever an ingest DAG updates the `unipay_payments`
Asset (new payments loaded):

1. **settle** — `hub.billing.settle_day` with the Rust engine: every identified payment up to the day
   is split among services, months and providers, the agent's commission and the center's fee are
   withheld, one transfer (п/п) per provider is prepared and provider balances are updated;
2. **send_registries** — the day's transfer registries (`hub.exports.export_transfers`) are written
   and uploaded to each provider's outbox (Connection `provider_<code>`, else `providers`, else the
   local folder `<exchange>/providers/<CODE>/outbox`); the `unipay_transfers` Asset is updated.

The day is the `day` param (YYYY-MM-DD) or the run's date. Running it twice for the same day changes
nothing: payments already split are not split again and the registries are the same files.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, get_current_context, task

from hub import orchestration as orch

with DAG(
    dag_id="settle_daily",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 20 * * *", timezone=orch.TIMEZONE),
        assets=orch.asset("payments"),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz=orch.TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["unipay", "settlement", "daily"],
    default_args=orch.default_args("settlement"),
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="День расчёта ГГГГ-ММ-ДД (по умолчанию — дата запуска)",
        )
    },
    doc_md=__doc__,
    **orch.dag_callbacks(),
) as dag:

    @task
    def settle() -> dict:
        context = get_current_context()
        return orch.settle(orch.run_day(context), ids=orch.ids_from_context(context))

    @task(outlets=[orch.asset("transfers")])
    def send_registries(settled: dict) -> list[dict]:
        return orch.send_transfer_registries(pendulum.parse(settled["day"]).date(), ids=orch.current_ids())

    send_registries(settle())
