"""ingest_post — post office payment registries into the store (Airflow DAG).

Every 30 minutes (at :15 and :45) from 06:15 to 21:45 (Moscow), for every enabled partner of kind `post`
(`partners.toml`, or the built-in `POST_390000`):

1. **wait_for_files** — a sensor per partner (deferrable with `[operators] default_deferrable`) waits up
   to `wait_seconds` (param, default 1500) for complete files in the partner's inbox (settled, with
   `.done` markers when the profile requires them);
2. **load** — one mapped task per file: download, validate and load (`hub.ingest.ingest_file`), send
   the error protocol `<file>.err.txt` to the partner's outbox, move the file to the archive (a
   rejected file to `rejected/`);
3. **report** — the run's record in `run_log`; when anything was loaded the `unipay_payments` Asset
   is updated, which starts `settle_daily`.

The partner's endpoint is its Airflow Connection `AIRFLOW_CONN_<CODE>` (SFTP); without one a
`transport = "local"` partner uses its local folder. See docs/dags.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from hub import orchestration as orch

with DAG(
    dag_id="ingest_post",
    schedule="15,45 6-21 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=orch.TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["unipay", "ingest", "post"],
    default_args=orch.default_args("exchange"),
    params=orch.ingest_params(),
    doc_md=__doc__,
    **orch.dag_callbacks(),
) as dag:
    orch.ingest_tasks("post")
