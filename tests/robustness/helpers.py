"""Shared pieces of the robustness tests: a small generated city in a store, bank and post registries
for its accounts written with the connectors' writers, store totals, and a loopback TCP proxy that
can cut every connection passing through it after a number of bytes."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from connectors.formats import bank, post
from connectors.formats.common import Period
from connectors.transport import RetryPolicy, SftpConfig
from hub.store import models as m
from tests.sshd import SshdServer

DAY = dt.date(2026, 11, 10)  # payment day inside the city's open period (2026-11)
TODAY = dt.date(2026, 11, 30)
PAY_PERIOD = Period(2026, 10)
CENTER_INN = "6234000011"
CENTER_ACCOUNT = "40702810900000001234"


def make_city(engine: Engine, accounts: int = 200, seed: int = 7) -> list[str]:
    """Generate a small city into an upgraded store; returns the numbers of its open accounts."""
    from hub.city.generate import generate_city

    generate_city(engine, accounts, seed)
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(m.Account.number).where(m.Account.status == "open").order_by(m.Account.id)
            ).scalars()
        )


def amount_of(i: int) -> int:
    """A deterministic payment amount in kopecks (100.00 … 5,099.99 ₽)."""
    return 10_000 + (i * 7_919) % 500_000


def bank_payments(
    accounts: Sequence[str], n: int, *, first: int = 0, day: dt.date = DAY
) -> list[bank.BankPayment]:
    out = []
    for i in range(first, first + n):
        amount = amount_of(i)
        commission = amount // 100
        out.append(
            bank.BankPayment(
                day,
                dt.time(9 + i % 10, i % 60, (i * 7) % 60),
                f"8606/{i % 50:05d}",
                "SBOL",
                f"R{i:015d}",
                accounts[i % len(accounts)],
                "ИВАНОВ ИВАН ИВАНОВИЧ",
                "г Рязань, ул Ленина, д 1, кв 1",
                (),
                (),
                PAY_PERIOD,
                amount,
                amount - commission,
                commission,
            )
        )
    return out


def write_bank(
    path: Path, accounts: Sequence[str], n: int, *, first: int = 0, order_no: str = "1001", day: dt.date = DAY
) -> int:
    """A bank registry of ``n`` payments (operation ids from ``first``); returns its control sum."""
    summary = bank.write(
        str(path), bank_payments(accounts, n, first=first, day=day), order_no=order_no, order_date=day
    )
    return summary.total_kop


def write_post(
    path: Path, accounts: Sequence[str], n: int, *, first: int = 0, file_no: int = 1, day: dt.date = DAY
) -> int:
    """A post registry of ``n`` payments in batches of at most 1,000; returns its control sum."""
    batches = []
    for b, start in enumerate(range(first, first + n, 1_000), start=1):
        batch = post.PostBatch(f"{390000 + b:06d}", day, b)
        items = [
            post.PostPayment(
                batch,
                day,
                "001",
                "01",
                accounts[i % len(accounts)],
                PAY_PERIOD,
                "ИВАНОВ И И",
                "ЛЕНИНА УЛ",
                "1",
                "1",
                i + 1,
                None,
                amount_of(i),
            )
            for i in range(start, min(first + n, start + 1_000))
        ]
        batches.append((batch, items))
    header = post.PostHeader("390000", day, file_no, CENTER_INN, CENTER_ACCOUNT)
    return post.write(str(path), header, batches).total_kop


def totals(engine: Engine) -> dict[str, int]:
    """Payments (rows, money, unidentified money), registry files and errors in the store."""
    with engine.connect() as conn:

        def one(q: Any) -> int:
            return int(conn.execute(q).scalar_one())

        return {
            "payments": one(select(func.count()).select_from(m.Payment)),
            "payments_kop": one(select(func.coalesce(func.sum(m.Payment.amount_kop), 0))),
            "unidentified_kop": one(
                select(func.coalesce(func.sum(m.Payment.amount_kop), 0)).where(
                    m.Payment.unidentified.is_(True)
                )
            ),
            "registry_files": one(select(func.count()).select_from(m.RegistryFile)),
            "readings": one(
                select(func.count())
                .select_from(m.MeterReading)
                .where(m.MeterReading.registry_file_id.is_not(None))
            ),
        }


class CutProxy:
    """A threaded TCP forwarder on 127.0.0.1 → ``target``. ``cut_after(n)`` arms it: once ``n``
    more bytes have gone from the server to the client, every open connection is torn down (once);
    later connections are forwarded normally."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._budget: int | None = None
        self.cuts = 0
        self.connections = 0
        self._closed = False
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    def cut_after(self, n: int) -> None:
        with self._lock:
            self._budget = n

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self.connections += 1
                self._socks += [client, server]
                for src, dst, down in ((client, server, False), (server, client, True)):
                    t = threading.Thread(target=self._pump, args=(src, dst, down), daemon=True)
                    self._threads.append(t)
                    t.start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        try:
            while data := src.recv(65536):
                if downstream:
                    with self._lock:
                        if self._budget is not None:
                            self._budget -= len(data)
                            if self._budget <= 0:
                                self._budget = None
                                self.cuts += 1
                                self._cut_all()
                                return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _cut_all(self) -> None:  # with the lock held
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cut_all()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        self._accept_thread.join(5)
        for t in self._threads:
            t.join(5)
        for s in self._socks:
            s.close()

    def __enter__(self) -> CutProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sftp_config(server: SshdServer, root: str, *, port: int | None = None, **kw: object) -> SftpConfig:
    values: dict[str, object] = {
        "host": server.host,
        "port": port or server.port,
        "user": server.user,
        "key_file": str(server.client_key),
        "host_key": server.host_key_line,
        "root": root,
        "retry": RetryPolicy(attempts=4, initial_delay=0.05, factor=2.0, max_delay=0.5),
        "connect_timeout": 5.0,
        "op_timeout": 10.0,
    }
    values.update(kw)
    return SftpConfig(**values)  # type: ignore[arg-type]


def local(tmp_path: Path, name: str) -> Path:
    d = tmp_path / "work"
    d.mkdir(exist_ok=True)
    return d / name
