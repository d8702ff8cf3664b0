"""Subprocess driver of the SIGKILL test: ``python -m tests.robustness.ingest_driver URL PATH TODAY``.

Runs ``ingest_file`` on the file. With ``UNIPAY_TEST_STALL_AFTER=N`` and ``UNIPAY_TEST_STALL_MARKER=FILE``
it wraps (in this process only) the loader's writers (``bulk_insert`` for rows, ``write_arrow`` for
Arrow batches): after the N-th batch of ``payments`` has
been written inside the file's open transaction, it counts the payments the transaction sees, writes
``<count>`` into FILE and sleeps — waiting to be killed. Product code is not changed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from typing import Any

from sqlalchemy import func, select


def main() -> None:
    url, path, today = sys.argv[1], sys.argv[2], dt.date.fromisoformat(sys.argv[3])
    from hub.ingest import ingest_file, payments
    from hub.store import models as m
    from hub.store.db import make_engine

    stall_after = int(os.environ.get("UNIPAY_TEST_STALL_AFTER", "0"))
    marker = os.environ.get("UNIPAY_TEST_STALL_MARKER", "")
    if stall_after:
        seen = [0]

        def stalling_writer(real: Any) -> Any:
            def stalling(conn: Any, table: Any, columns: Any, rows: Any) -> Any:
                return stall(conn, table, real(conn, table, columns, rows))

            return stalling

        def stall(conn: Any, table: Any, out: Any) -> Any:
            if table.name == "payments":
                seen[0] += 1
                if seen[0] >= stall_after:
                    inside = conn.execute(select(func.count()).select_from(m.Payment)).scalar_one()
                    tmp = marker + ".tmp"
                    with open(tmp, "w", encoding="ascii") as fh:
                        fh.write(str(inside))
                    os.replace(tmp, marker)
                    time.sleep(600)
            return out

        payments.bulk_insert = stalling_writer(payments.bulk_insert)  # type: ignore[assignment]
        payments.write_arrow = stalling_writer(payments.write_arrow)  # type: ignore[assignment]
    engine = make_engine(url)
    r = ingest_file(engine, path, sender="SBER", today=today)
    print(r.status, r.lines_loaded, flush=True)


if __name__ == "__main__":
    main()
