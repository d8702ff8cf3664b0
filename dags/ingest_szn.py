"""ingest_szn — social protection beneficiary lists into the store (Airflow DAG).

Every day at 07:00 (Moscow), for every enabled partner of kind `szn` (`partners.toml`, or the
built-in `SZN_0612`):

1. **wait_for_files** — a sensor per office (deferrable with `[operators] default_deferrable`) waits up
   to `wait_seconds` (param, default 1500) for complete lists in the office's inbox;
2. **load** — one mapped task per file: download, validate against the XSD and load
   (`hub.ingest.ingest_file`: beneficiaries and benefits, matched to accounts), send the error
   protocol to the office's outbox, archive the file (a rejected one to `rejected/`);
3. **report** — the run's record in `run_log`; when anything was loaded the `unipay_beneficiaries`
   Asset is updated (`bill_monthly` answers the lists with the month's charges).

The office's endpoint is its Airflow Connection `AIRFLOW_CONN_<CODE>` (SFTP); without one a
`transport = "local"` partner uses its local folder. See docs/dags.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hub import orchestration as orch

with DAG(
    dag_id="ingest_szn",
    schedule="0 7 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=orch.TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["unipay", "ingest", "szn"],
    default_args=orch.default_args("exchange"),
    params=orch.ingest_params(),
    doc_md=__doc__,
    **orch.dag_callbacks(),
) as dag:
    orch.ingest_tasks("szn")
