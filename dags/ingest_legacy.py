"""ingest_legacy — legacy billing DBF sets into the store (Airflow DAG, migration).

Every day at 05:00 (Moscow), for every enabled partner of kind `legacy` (`partners.toml`, or the
built-in `KVPL`):

1. **wait_for_files** — a sensor per legacy system (deferrable with `[operators] default_deferrable`)
   waits up to `wait_seconds` (param, default 1500) for complete `LEGACY_<system>_<YYYYMM>.zip` sets;
2. **load** — one mapped task per set: download, validate and load (`hub.ingest.ingest_file`:
   accounts, residents, meters, readings, opening debts), send the error protocol to the outbox,
   archive the set (a rejected one to `rejected/`);
3. **report** — the run's record in `run_log`; when anything was loaded the `unipay_legacy` Asset is
   updated.

The endpoint is the Airflow Connection `AIRFLOW_CONN_<CODE>` (SFTP); without one a
`transport = "local"` partner uses its local folder. See docs/dags.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hub import orchestration as orch

with DAG(
    dag_id="ingest_legacy",
    schedule="0 5 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=orch.TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["unipay", "ingest", "legacy"],
    default_args=orch.default_args("migration"),
    params=orch.ingest_params(),
    doc_md=__doc__,
    **orch.dag_callbacks(),
) as dag:
    orch.ingest_tasks("legacy")
