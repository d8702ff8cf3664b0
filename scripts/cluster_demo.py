#!/usr/bin/env python3
"""The unipay DAGs on a multi-process Airflow deployment on one machine (CeleryExecutor).

What it does (``make cluster-demo``; ``--help`` for the options):

1. PostgreSQL for everything: a fresh database for Airflow's metadata, one for the store and one for
   the reference store, on the server of ``--pg-url`` / ``UNIPAY_CLUSTER_PG_URL``, else the local
   server at 127.0.0.1:5432, else a private cluster (Debian's ``initdb``) in a temporary folder;
2. a broker: the local Redis (127.0.0.1:6379), else the local RabbitMQ (127.0.0.1:5672), else a
   private ``redis-server`` on a free port; a queue of its own, so several demos never mix;
3. ``airflow db migrate``, then ``airflow api-server``, ``scheduler``, ``dag-processor`` and two
   ``celery worker`` processes with distinct hostnames (``--celery-hostname``; each worker's task
   instances carry its name through ``[core] hostname_callable``);
4. a small synthetic city in the store (and the same city in the reference store), then triggers
   ``bill_monthly`` and waits for it;
5. shows on which worker every mapped ``bill`` task ran, and compares the store with ``unipay bill``
   (a single ``bill_period`` call on the reference store): every charge line and the totals must be
   equal to the kopeck.

Everything it started — processes (each in its own process group, killed as a group), databases,
the private cluster or Redis, the work folder — is stopped and removed on exit, on failure, on
Ctrl-C and on SIGTERM. Exit code 0 when both workers took tasks and the results are equal.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")


def say(msg: str) -> None:
    print(f"[cluster-demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Demo:
    """Everything the demo started, so that :meth:`cleanup` can stop it all."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.dbs: list[str] = []
        self.pg_admin_url = ""
        self.pg_server: Any = None
        self.work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="unipay_cluster_"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.logs = self.work / "logs"
        self.logs.mkdir(exist_ok=True)
        self.cleaned = False
        self.summary: dict[str, Any] = {"ok": False, "pids": []}

    # -- resources ----------------------------------------------------------------------------
    def postgres(self) -> None:
        import psycopg

        url = self.args.pg_url or os.environ.get("UNIPAY_CLUSTER_PG_URL")
        if not url:
            local = "postgresql://postgres@127.0.0.1:5432/postgres"
            try:
                psycopg.connect(local, connect_timeout=3).close()
                url = local
            except psycopg.OperationalError:
                from tests.pgserver import PgServer

                os.environ.pop("UNIPAY_TEST_PG_URL", None)
                say("локальный PostgreSQL недоступен: запускаю собственный кластер (initdb)")
                self.pg_server = PgServer()
                url = self.pg_server.base_url
        self.pg_admin_url = url.replace("postgresql+psycopg://", "postgresql://")
        psycopg.connect(self.pg_admin_url, connect_timeout=5).close()
        say(f"PostgreSQL: {self.pg_admin_url.rsplit('@', 1)[-1]}")

    def create_db(self, prefix: str) -> str:
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.dbs.append(name)
        head = self.pg_admin_url.rsplit("/", 1)[0]
        return f"{head}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def broker(self) -> str:
        choice = self.args.broker
        if choice in ("auto", "redis") and redis_ping(6379):
            return "redis://127.0.0.1:6379/0"
        if choice in ("auto", "rabbitmq") and reachable("127.0.0.1", 5672):
            return "amqp://guest:guest@127.0.0.1:5672//"
        server = shutil.which("redis-server")
        if choice in ("auto", "redis") and server:
            port = free_port()
            say(f"запускаю собственный redis-server на порту {port}")
            self.start(
                "redis",
                [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                os.environ.copy(),
            )
            deadline = time.monotonic() + 20
            while not redis_ping(port):
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server не отвечает")
                time.sleep(0.1)
            return f"redis://127.0.0.1:{port}/0"
        raise RuntimeError("нет брокера: ни Redis (6379), ни RabbitMQ (5672), ни redis-server")

    # -- processes ----------------------------------------------------------------------------
    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.work,
        )
        log.close()
        self.procs.append((name, proc))
        self.summary["pids"].append(proc.pid)
        return proc

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"процесс {name} завершился (код {proc.returncode}):\n{tail}")

    def cleanup(self) -> None:
        if self.cleaned:
            return
        self.cleaned = True
        for _name, proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, proc in reversed(self.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for _name, proc in self.procs:  # the groups: celery's forked children too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if self.dbs and self.pg_admin_url:
            import psycopg

            with contextlib.suppress(Exception), psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                for name in self.dbs:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self.pg_server is not None:
            with contextlib.suppress(Exception):
                self.pg_server.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        say("всё, что было запущено, остановлено")


def wait_for(what: str, check, timeout: float, demo: Demo, every: float = 1.0) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        demo.check_alive()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"не дождались: {what} ({timeout:.0f} с)")
        time.sleep(every)


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - a local URL
            return bool(resp.status == 200)
    except Exception:  # noqa: BLE001
        return False


def run(cmd: list[str], env: dict[str, str], demo: Demo, timeout: float = 300) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=demo.work)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])}: код {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


LINE_SQL = """SELECT account_id, service_id, kind, component, corrected_period, reason_code, amount_kop
              FROM charge_lines WHERE period = %s
              ORDER BY account_id, service_id, kind, component, corrected_period, reason_code"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=2000, help="accounts of the synthetic city (2000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--period", default="2026-11", help="the period to bill (the city's open one)")
    ap.add_argument("--pg-url", default=None, help="PostgreSQL admin URL (default: local, else private)")
    ap.add_argument("--broker", choices=("auto", "redis", "rabbitmq"), default="auto")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for the DAG run")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs) afterwards")
    ap.add_argument("--json", default=None, help="write the summary as JSON to this file")
    args = ap.parse_args(argv)

    demo = Demo(args)
    atexit.register(demo.cleanup)

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    try:
        rc = demo_run(demo)
    except BaseException as exc:
        demo.summary["error"] = f"{type(exc).__name__}: {exc}"
        say(f"ОШИБКА: {demo.summary['error']}")
        for name, _proc in demo.procs:
            log = demo.logs / f"{name}.log"
            if log.exists():
                print(
                    f"----- {name}.log (конец) -----\n{log.read_text(errors='replace')[-2500:]}", flush=True
                )
        rc = 1 if not isinstance(exc, SystemExit) else int(exc.code or 1)
    finally:
        demo.summary["seconds"] = round(time.monotonic() - started, 1)
        demo.cleanup()
        if args.json:
            Path(args.json).write_text(json.dumps(demo.summary, ensure_ascii=False, indent=2, default=str))
    return rc


def demo_run(demo: Demo) -> int:
    import psycopg

    args = demo.args
    from hub.orchestration import parse_period, period_text

    period = parse_period(args.period)
    demo.postgres()
    af_url = demo.create_db("unipay_cluster_airflow")
    store_url = demo.create_db("unipay_cluster_store")
    ref_url = demo.create_db("unipay_cluster_ref")
    broker = demo.broker()
    queue = f"unipay_{uuid.uuid4().hex[:8]}"
    api_port = free_port()
    say(f"брокер {broker.split('@')[-1]}, очередь {queue}, api-server :{api_port}")

    env = os.environ.copy()
    for key in list(env):
        if key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "UNIPAY_")) or key == "AIRFLOW_HOME":
            env.pop(key)
    env.update(
        {
            "AIRFLOW_HOME": str(demo.work / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "hub.orchestration.worker_hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": af_url,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(demo.logs / "tasks"),
            "UNIPAY_DB_URL": store_url,
            "UNIPAY_VAR_DIR": str(demo.work / "var"),
            "UNIPAY_DAG_RETRIES": "1",
            "UNIPAY_DAG_RETRY_DELAY": "5",
            "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )

    # the city, twice: the store the DAG bills and the reference billed by a single call
    say(f"синтетический город: {args.accounts} л/с, seed {args.seed} (хранилище и эталон)")
    from hub.billing import bill_period
    from hub.city.generate import generate_city
    from hub.orchestration import period_totals
    from hub.store import migrate
    from hub.store.db import make_engine

    store, ref = make_engine(store_url), make_engine(ref_url)
    for engine in (store, ref):
        migrate.upgrade(engine)
        generate_city(engine, args.accounts, args.seed, period)
    bill_period(ref, period)  # = unipay bill --period …

    say("airflow db migrate")
    run([AIRFLOW, "db", "migrate"], env, demo)
    demo.start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(api_port)], env)
    demo.start("scheduler", [AIRFLOW, "scheduler"], env)
    demo.start("dag-processor", [AIRFLOW, "dag-processor"], env)
    workers = ("worker-a", "worker-b")
    for name in workers:
        wenv = {**env, "UNIPAY_WORKER_NAME": name}
        demo.start(
            name,
            [
                AIRFLOW,
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--queues",
                queue,
                "--concurrency",
                "1",
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ],
            wenv,
        )
    wait_for("api-server", lambda: http_ok(f"http://127.0.0.1:{api_port}/api/v2/monitor/health"), 120, demo)
    for name in workers:
        wait_for(
            f"{name} ready", lambda n=name: b" ready." in (demo.logs / f"{n}.log").read_bytes(), 120, demo
        )
    af_admin = af_url.replace("postgresql+psycopg://", "postgresql://")

    def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(af_admin) as conn:
            return list(conn.execute(sql, params).fetchall())

    wait_for(
        "bill_monthly parsed",
        lambda: query("SELECT 1 FROM serialized_dag WHERE dag_id = 'bill_monthly'"),
        180,
        demo,
    )
    say("все процессы работают; запускаю bill_monthly")
    run_id = f"cluster_demo_{uuid.uuid4().hex[:8]}"
    run([AIRFLOW, "dags", "unpause", "bill_monthly"], env, demo)
    run(
        [
            AIRFLOW,
            "dags",
            "trigger",
            "bill_monthly",
            "--run-id",
            run_id,
            "--conf",
            json.dumps({"period": period_text(period)}),
        ],
        env,
        demo,
    )

    def finished() -> str | None:
        rows = query("SELECT state FROM dag_run WHERE dag_id = 'bill_monthly' AND run_id = %s", run_id)
        state = rows[0][0] if rows else None
        return state if state in ("success", "failed") else None

    state = wait_for(f"bill_monthly {run_id}", finished, args.timeout, demo, every=2.0)
    tis = query(
        "SELECT task_id, map_index, state, hostname FROM task_instance WHERE dag_id = 'bill_monthly' "
        "AND run_id = %s ORDER BY task_id, map_index",
        run_id,
    )
    by_host: dict[str, list[str]] = {}
    print(f"\n{'задача':<22} {'состояние':<10} рабочий")
    for task_id, map_index, ti_state, host in tis:
        label = f"{task_id}[{map_index}]" if map_index >= 0 else task_id
        print(f"{label:<22} {ti_state or '-':<10} {host or '-'}")
        if task_id == "bill" and host:
            by_host.setdefault(host, []).append(label)
    with store.connect() as c1, ref.connect() as c2:
        lines_dag = [tuple(r) for r in c1.exec_driver_sql(LINE_SQL, (period,)).fetchall()]
        lines_ref = [tuple(r) for r in c2.exec_driver_sql(LINE_SQL, (period,)).fetchall()]
    totals_dag, totals_ref = period_totals(store, period), period_totals(ref, period)
    store.dispose()
    ref.dispose()
    both = all(name in by_host for name in workers)
    equal = lines_dag == lines_ref and totals_dag == totals_ref and bool(lines_ref)
    demo.summary.update(
        state=state,
        run_id=run_id,
        bill_tasks_by_worker=by_host,
        task_instances=[list(t) for t in tis],
        totals_dag=totals_dag,
        totals_single_call=totals_ref,
        lines=len(lines_dag),
        lines_equal=lines_dag == lines_ref,
        both_workers=both,
    )
    print()
    say(
        f"bill_monthly: {state}; задачи bill по рабочим: "
        + ", ".join(f"{h}: {len(v)}" for h, v in by_host.items())
    )
    same = lines_dag == lines_ref
    say(f"строк начислений: DAG {len(lines_dag)}, unipay bill {len(lines_ref)}; совпадают: {same}")
    say(
        f"итого начислено: DAG {totals_dag['charged_kop']} коп., unipay bill {totals_ref['charged_kop']} коп."
    )
    ok = state == "success" and both and equal
    for task_id, map_index, ti_state, _host in tis:
        if ti_state not in ("success", "skipped"):  # show why: the task's own log
            folder = demo.logs / "tasks" / "dag_id=bill_monthly" / f"run_id={run_id}" / f"task_id={task_id}"
            for log in sorted(folder.rglob("*.log")) if folder.is_dir() else []:
                if map_index < 0 or f"map_index={map_index}" in str(log):
                    print(
                        f"----- {log.relative_to(demo.logs)} -----\n{log.read_text(errors='replace')[-4000:]}"
                    )
    demo.summary["ok"] = ok
    say("УСПЕХ: оба рабочих взяли задачи, результат совпадает с unipay bill до копейки" if ok else "НЕУДАЧА")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
