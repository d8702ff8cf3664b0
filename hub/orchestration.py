"""What the Airflow DAGs of ``dags/`` share: the store and exchange settings, the partner list, the
per-partner file loop (transport + ``ingest_file`` + archive + error protocol), the daily and monthly
steps, the Assets, the DAG defaults, a deferrable partner-files sensor, and the demo month.

Everything above the "Airflow" section is plain Python: it works (and is tested) without Airflow
running, and the CLI could call it. The DAG files are thin: every task is one call into this module.

Settings (environment):

* ``UNIPAY_DB_URL`` — the store (``hub.config``);
* ``UNIPAY_PARTNERS`` — the partners file (default ``./partners.toml`` when present, else the built-in
  partners: one per kind — SBER, POST_390000, SZN_0612, KVPL — on local folders);
* ``UNIPAY_EXCHANGE_DIR`` — the root of the local exchange folders (default ``<var>/exchange``);
* ``UNIPAY_WORK_DIR`` — downloads and protocols (default ``<var>/work``);
* ``UNIPAY_DAG_RETRIES`` / ``UNIPAY_DAG_RETRY_DELAY`` — task retries and the delay in seconds
  (default 3 and 300).

A partner's endpoint is its Airflow Connection (``AIRFLOW_CONN_<CODE>``): when it is defined the
partner is reached over SFTP; without it a ``transport = "local"`` partner uses its local folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import posixpath
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update

from connectors.partners import PartnerProfile, PartnersConfig, load_partners, parse_partners
from connectors.transport import LocalTransport, Transport, transport_for_partner
from connectors.transport.sftp import sftp_transport_from_airflow
from hub.config import load_settings
from hub.store import models as m
from hub.store.db import get_engine

log = logging.getLogger(__name__)

TIMEZONE = "Europe/Moscow"
KINDS = ("bank", "post", "szn", "legacy")
#: the DAG of each partner kind
INGEST_DAG = {kind: f"ingest_{kind}" for kind in KINDS}
PROVIDERS_CONN_ID = "providers"

# ---------------------------------------------------------------------------------------- settings


def store_url() -> str:
    """The store's URL (``UNIPAY_DB_URL``, ``unipay.toml`` or the default SQLite file)."""
    return load_settings().db_url


def store_engine() -> Engine:
    """The engine of the configured store (cached per URL)."""
    return get_engine(store_url())


def var_dir() -> Path:
    return load_settings().var_dir.resolve()


def exchange_root() -> Path:
    """Root of the local exchange folders (one sub-folder per partner, ``providers/`` for providers)."""
    raw = os.environ.get("UNIPAY_EXCHANGE_DIR")
    return Path(raw).resolve() if raw else var_dir() / "exchange"


def work_dir() -> Path:
    """Where downloads and error protocols are kept while (and after) files are processed."""
    raw = os.environ.get("UNIPAY_WORK_DIR")
    path = Path(raw).resolve() if raw else var_dir() / "work"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------- partners

#: the partners of a center that has no partners.toml: one per kind, on local folders
DEFAULT_PARTNERS: dict[str, Any] = {
    "version": 1,
    "defaults": {"settle_seconds": 2, "markers_required": False},
    "partners": {
        "SBER": {
            "name": "ПАО Сбербанк, Рязанское отделение № 8606",
            "kind": "bank",
            "sender": "SBER",
            "agent_commission_rate": "0.01",
            "local": {"root": "SBER"},
        },
        "POST_390000": {
            "name": "УФПС Рязанской области",
            "kind": "post",
            "sender": "POST:390000",
            "local": {"root": "POST_390000"},
        },
        "SZN_0612": {
            "name": "УСЗН Октябрьского района",
            "kind": "szn",
            "sender": "SZN:0612",
            "local": {"root": "SZN_0612"},
        },
        "KVPL": {
            "name": "Старый биллинг КВПЛ",
            "kind": "legacy",
            "sender": "LEGACY:KVPL",
            "local": {"root": "KVPL"},
        },
    },
}


def partners_file() -> Path | None:
    """The partners file in force: ``UNIPAY_PARTNERS``, else ``./partners.toml`` when present."""
    raw = os.environ.get("UNIPAY_PARTNERS")
    if raw:
        return Path(raw)
    local = Path("partners.toml")
    return local if local.exists() else None


def partners_config() -> PartnersConfig:
    """The partner profiles (the file of :func:`partners_file` or :data:`DEFAULT_PARTNERS`)."""
    path = partners_file()
    if path is not None:
        return load_partners(path)
    return parse_partners(DEFAULT_PARTNERS, "(встроенные партнёры)", exchange_root())


def partner(code: str) -> PartnerProfile:
    return partners_config()[code]


def partner_codes(kind: str) -> list[str]:
    """Codes of the enabled partners of ``kind`` (bank, post, szn, legacy), in file order."""
    if kind not in KINDS:
        raise ValueError(f"неизвестный вид партнёра {kind!r}; допустимо: {', '.join(KINDS)}")
    return [p.code for p in partners_config().by_kind(kind) if p.enabled]


def connection_defined(conn_id: str) -> bool:
    """Whether Airflow knows the Connection ``conn_id`` (env var ``AIRFLOW_CONN_<ID>``, a secrets
    backend or the metadata DB). Outside Airflow only the env var counts."""
    if os.environ.get("AIRFLOW_CONN_" + conn_id.upper()):
        return True
    try:
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # pragma: no cover - Airflow not installed
        return False
    try:
        Connection.get(conn_id)
    except AirflowNotFoundException:
        return False
    except Exception as exc:  # noqa: BLE001 - outside a task there is no Execution API to ask
        log.debug("connection %s not looked up: %s", conn_id, exc)
        return False
    return True


def open_transport(profile: PartnerProfile) -> Transport:
    """The partner's transport (not connected yet): SFTP through its Airflow Connection when that is
    defined or the profile says ``sftp``; otherwise its local folder."""
    if profile.transport == "sftp" or connection_defined(profile.airflow_conn_id):
        return transport_for_partner(replace(profile, transport="sftp"), use_airflow=True)
    return transport_for_partner(profile)


def rejected_folder(profile: PartnerProfile) -> str:
    """Where rejected files go: ``rejected`` next to the archive folder."""
    parent = posixpath.dirname(profile.folders.archive)
    return posixpath.join(parent, "rejected") if parent else "rejected"


# ---------------------------------------------------------------------------------------- run log


@dataclass(frozen=True)
class RunIds:
    """Which DAG run / task a step belongs to (for ``run_log``)."""

    dag_id: str
    run_id: str
    task_id: str = ""


def log_step(
    ids: RunIds | None,
    message: str,
    details: Mapping[str, Any] | None = None,
    *,
    status: str = "success",
    engine: Engine | None = None,
) -> None:
    """One finished ``run_log`` record for a step (nothing when ``ids`` is None)."""
    if ids is None:
        return
    from hub import runlog

    eng = engine or store_engine()
    entry = runlog.start(eng, ids.dag_id, ids.run_id, ids.task_id)
    runlog.finish(eng, entry, status, message, _jsonable(dict(details or {})))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | Path):
        return str(value)
    return value


def _plural(n: int, one: str, few: str, many: str) -> str:
    n10, n100 = n % 10, n % 100
    word = one if n10 == 1 and n100 != 11 else few if 2 <= n10 <= 4 and not 12 <= n100 <= 14 else many
    return f"{n} {word}"


def rub(kop: int) -> str:
    sign = "-" if kop < 0 else ""
    r, k = divmod(abs(int(kop)), 100)
    return f"{sign}{r:,}".replace(",", " ") + f",{k:02d} ₽"


# ---------------------------------------------------------------------------------------- ingest


def ready_files(code: str) -> list[dict[str, Any]]:
    """The complete files waiting in the partner's inbox (settled, with markers when required)."""
    profile = partner(code)
    with open_transport(profile) as t:
        if not t.exists(profile.folders.inbox):
            return []
        files = t.ready_files(profile.folders.inbox, profile)  # type: ignore[arg-type]
    return [{"partner": code, "name": f.name, "size": f.size} for f in files]


def protocol_dir(code: str) -> Path:
    path = work_dir() / "protocols" / code
    path.mkdir(parents=True, exist_ok=True)
    return path


def process_file(
    code: str,
    name: str,
    *,
    engine: Engine | None = None,
    ids: RunIds | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Take one file of a partner's inbox: download, load (validation included), send the error
    protocol to the partner's outbox, then move the file to the archive (or to ``rejected``).

    ``today`` is the date the file's dates are checked against (the run's date; default today).
    Safe to repeat after a failure at any point: a file loaded before is a ``duplicate`` (its
    protocol, kept in the work folder, is sent again), a file already moved is reported as gone.
    """
    from connectors.formats.common import FileError
    from connectors.formats.protocol import ErrorCode, protocol_name
    from hub.ingest import IngestError, ingest_file
    from hub.ingest.common import write_protocol_file

    profile = partner(code)
    eng = engine or store_engine()
    pdir = protocol_dir(code)
    local_protocol = pdir / protocol_name(name)
    out: dict[str, Any] = {"partner": code, "kind": profile.kind, "file": name}
    downloads = work_dir() / "downloads" / code
    downloads.mkdir(parents=True, exist_ok=True)
    local = downloads / name
    with open_transport(profile) as t:
        remote = posixpath.join(profile.folders.inbox, name)
        if not t.exists(remote):
            out.update(status="gone", message="файла уже нет во входящих (обработан ранее)")
            log_step(ids, f"{code}: {name} — {out['message']}", out, engine=eng)
            return out
        t.download(remote, local)
        try:
            try:
                result = ingest_file(
                    eng,
                    local,
                    source=profile.format,
                    sender=profile.sender or None,
                    protocol_dir=pdir,
                    today=today,
                )
            except IngestError as exc:  # the file cannot be taken at all: reject it with a protocol
                problem = FileError(name, 0, "", ErrorCode.RECORD_FORMAT, str(exc))
                with contextlib.suppress(IngestError):  # a name unfit for a protocol gets none
                    write_protocol_file(pdir, name, [problem], accepted_lines=0, accepted_kop=0)
                out.update(
                    status="rejected", lines_loaded=0, lines_rejected=0, amount_loaded_kop=0, message=str(exc)
                )
            else:
                out.update(
                    status=result.status,
                    lines_loaded=result.lines_loaded,
                    lines_rejected=result.lines_rejected,
                    amount_loaded_kop=result.amount_loaded_kop,
                    amount_unidentified_kop=result.amount_unidentified_kop,
                    registry_file_id=result.registry_file_id,
                    message=result.message,
                    errors=result.errors[:20],
                )
                if result.status != "duplicate" and result.protocol is None:
                    local_protocol.unlink(missing_ok=True)  # a stale protocol of an earlier namesake
        finally:
            local.unlink(missing_ok=True)
        if local_protocol.exists():
            out["protocol"] = t.upload(local_protocol, profile.folders.outbox, local_protocol.name)
        target = rejected_folder(profile) if out["status"] == "rejected" else profile.folders.archive
        out["moved_to"] = t.move(name, profile.folders.inbox, target, marker_suffix=profile.marker_suffix)
    log_step(ids, ingest_message(out), out, engine=eng)
    return out


STATUS_RU = {
    "loaded": "загружен",
    "loaded_with_errors": "загружен с ошибками",
    "rejected": "отклонён",
    "duplicate": "уже был загружен",
    "gone": "уже обработан",
}


def ingest_message(item: Mapping[str, Any]) -> str:
    text = f"{item['partner']}: {item['file']} — {STATUS_RU.get(item['status'], item['status'])}"
    if item["status"] in ("loaded", "loaded_with_errors"):
        text += f", строк {item.get('lines_loaded', 0)}"
        if item.get("lines_rejected"):
            text += f", отклонено строк {item['lines_rejected']}"
        if item.get("amount_loaded_kop"):
            text += f", {rub(item['amount_loaded_kop'])}"
    if item["status"] == "rejected" and item.get("message"):
        text += f": {item['message']}"
    if item.get("protocol"):
        text += f"; протокол ошибок {item['protocol']}"
    return text


@dataclass
class IngestSummary:
    kind: str
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def loaded(self) -> list[dict[str, Any]]:
        return [f for f in self.files if f["status"] in ("loaded", "loaded_with_errors")]

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return [f for f in self.files if f["status"] == "rejected"]

    @property
    def message(self) -> str:
        if not self.files:
            return "новых файлов нет"
        parts = [f"файлов {len(self.files)}: загружено {len(self.loaded)}"]
        if self.rejected:
            names = ", ".join(f"{f['partner']}/{f['file']}" for f in self.rejected)
            parts.append(f"отклонено {len(self.rejected)} ({names}; протоколы ошибок отправлены)")
        other = len(self.files) - len(self.loaded) - len(self.rejected)
        if other:
            parts.append(f"повторных или уже обработанных {other}")
        lines = sum(int(f.get("lines_loaded") or 0) for f in self.loaded)
        amount = sum(int(f.get("amount_loaded_kop") or 0) for f in self.loaded)
        parts.append(f"строк {lines}" + (f", на сумму {rub(amount)}" if amount else ""))
        return "; ".join(parts)

    def details(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "files": [{k: v for k, v in f.items() if k != "errors"} for f in self.files],
            "loaded": len(self.loaded),
            "rejected": len(self.rejected),
        }


def summarize_ingest(
    kind: str,
    results: Sequence[Mapping[str, Any] | None],
    ids: RunIds | None = None,
    engine: Engine | None = None,
) -> IngestSummary:
    summary = IngestSummary(kind, [dict(r) for r in results if r])
    log_step(ids, f"Приём файлов ({kind}): {summary.message}", summary.details(), engine=engine)
    return summary


def run_ingest(
    kind: str, *, engine: Engine | None = None, ids: RunIds | None = None, today: dt.date | None = None
) -> IngestSummary:
    """The whole per-partner file loop of one kind without Airflow (every ready file, in order)."""
    results = []
    for code in partner_codes(kind):
        for f in ready_files(code):
            results.append(process_file(code, f["name"], engine=engine, ids=ids, today=today))
    return summarize_ingest(kind, results, ids, engine)


# ---------------------------------------------------------------------------------------- providers


def provider_transport(code: str) -> tuple[Transport, str]:
    """Transport and outbox folder of a provider: Connection ``provider_<code>`` (folder ``outbox``),
    else Connection ``providers`` (folder ``<CODE>/outbox``), else the local folder
    ``<exchange>/providers/<CODE>/outbox``."""
    own = "provider_" + re.sub(r"[^a-z0-9_]", "_", code.lower())
    if connection_defined(own):
        return sftp_transport_from_airflow(own), "outbox"
    if connection_defined(PROVIDERS_CONN_ID):
        return sftp_transport_from_airflow(PROVIDERS_CONN_ID), f"{code}/outbox"
    return LocalTransport(exchange_root() / "providers"), f"{code}/outbox"


# ---------------------------------------------------------------------------------------- daily


def settle(day: dt.date, *, engine: Engine | None = None, ids: RunIds | None = None) -> dict[str, Any]:
    """The day's settlement (Rust engine): payment splits, commissions, fees, provider transfers."""
    from hub.billing import settle_day

    eng = engine or store_engine()
    report = settle_day(eng, day, "rust")
    out = {
        "day": day.isoformat(),
        "payments": report.payments,
        "allocations": report.allocations,
        "split_kop": report.split_kop,
        "transfers": len(report.transfers),
        "transferred_kop": report.transferred_kop,
    }
    log_step(
        ids,
        f"Расчёт дня {day:%d.%m.%Y}: разнесено платежей {report.payments} на {rub(report.split_kop)}, "
        f"новых перечислений {len(report.transfers)} ({rub(report.transferred_kop)})",
        out,
        engine=eng,
    )
    return out


def send_transfer_registries(
    day: dt.date, *, engine: Engine | None = None, ids: RunIds | None = None
) -> list[dict[str, Any]]:
    """Write the transfer registries of ``day`` (hub/exports) and put each into its provider's outbox.
    Idempotent: the same store gives the same files under the same names."""
    from hub.exports import ExportError, export_transfers

    eng = engine or store_engine()
    out_dir = work_dir() / "exports" / "transfers" / day.isoformat()
    try:
        files = export_transfers(eng, day, out_dir)
    except ExportError as exc:
        log_step(ids, f"Реестры перечислений на {day:%d.%m.%Y}: {exc}", {"day": day.isoformat()}, engine=eng)
        return []
    with eng.connect() as conn:
        code_of = dict(conn.execute(select(m.Provider.inn, m.Provider.code)).all())
    sent: list[dict[str, Any]] = []
    for f in files:
        code = code_of.get(f.target, f.target)
        transport, folder = provider_transport(code)
        with transport as t:
            remote = t.upload(f.path, folder, f.path.name)
        sent.append(
            {
                "provider": code,
                "file": f.path.name,
                "remote": remote,
                "lines": f.lines,
                "total_kop": f.total_kop,
            }
        )
    total = sum(s["total_kop"] for s in sent)
    log_step(
        ids,
        f"Реестры перечислений на {day:%d.%m.%Y}: отправлено {len(sent)} на {rub(total)}",
        {"files": sent},
        engine=eng,
    )
    return sent


# ---------------------------------------------------------------------------------------- monthly


def parse_period(value: str | int) -> int:
    """``"2026-11"``, ``"202611"`` or ``202611`` → 202611."""
    text = str(value).strip()
    mt = re.fullmatch(r"(\d{4})-?(\d{2})", text)
    if not mt or not 1 <= int(mt.group(2)) <= 12:
        raise ValueError(f"период должен быть в виде ГГГГ-ММ, получено {value!r}")
    return int(mt.group(1)) * 100 + int(mt.group(2))


def period_of_run(param: str | int | None, run_date: dt.date) -> int:
    """The period a monthly run bills: the ``period`` param, else the month before the run's date
    (the run on the 1st of December bills November)."""
    if param not in (None, ""):
        return parse_period(param)  # type: ignore[arg-type]
    first = run_date.replace(day=1) - dt.timedelta(days=1)
    return first.year * 100 + first.month


def period_status(engine: Engine, period: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(m.BillingPeriod.status).where(m.BillingPeriod.period == period)).scalar()


def close_readings(period: int, *, engine: Engine | None = None, ids: RunIds | None = None) -> dict[str, Any]:
    """Close the period's readings window (readings that come later go to the next period)."""
    eng = engine or store_engine()
    status = period_status(eng, period)
    if status == "closed":
        out = {"period": period, "status": "closed", "skipped": True}
        log_step(ids, f"Период {period_text(period)} уже закрыт: расчёт не повторяется", out, engine=eng)
        return out
    with eng.begin() as conn:
        if status is None:
            from hub.billing.bill import ensure_open

            ensure_open(conn, period)  # the first period, or the one after the last closed
        conn.execute(
            update(m.BillingPeriod).where(m.BillingPeriod.period == period).values(readings_closed=True)
        )
    out = {"period": period, "status": "open", "skipped": False}
    log_step(ids, f"Период {period_text(period)}: приём показаний закрыт", out, engine=eng)
    return out


def period_text(period: int) -> str:
    return f"{period // 100}-{period % 100:02d}"


def bill_partition(
    period: int, districts: Sequence[int] | None, *, engine: Engine | None = None, ids: RunIds | None = None
) -> dict[str, Any]:
    """Bill one partition (a set of districts) of ``period`` with the Rust engine; a closed period is
    left as it is."""
    from hub.billing import bill_period

    eng = engine or store_engine()
    where = f"районы {', '.join(map(str, districts))}" if districts else "все районы"
    if period_status(eng, period) == "closed":
        out = {"period": period, "districts": list(districts or []), "skipped": True}
        log_step(ids, f"Период {period_text(period)} закрыт, {where}: без изменений", out, engine=eng)
        return out
    report = bill_period(eng, period, "rust", list(districts) if districts else None)
    out = {
        "period": period,
        "districts": list(districts or []),
        "accounts": report.accounts,
        "lines": sum(report.lines.values()),
        "totals_kop": dict(report.totals_kop),
        "total_kop": report.total_kop,
        "skipped": False,
    }
    log_step(
        ids,
        f"Начисления {period_text(period)}, {where}: л/с {report.accounts}, {rub(report.total_kop)}",
        out,
        engine=eng,
    )
    return out


def period_totals(engine: Engine, period: int) -> dict[str, int]:
    """Store totals of a period: charge lines by kind, their sum, and the balances (for checks)."""
    with engine.connect() as conn:
        kinds = dict(
            conn.execute(
                select(m.ChargeLine.kind, func.sum(m.ChargeLine.amount_kop))
                .where(m.ChargeLine.period == period)
                .group_by(m.ChargeLine.kind)
            ).all()
        )
        lines = conn.execute(select(func.count()).where(m.ChargeLine.period == period)).scalar_one()
        bal = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(m.AccountBalance.opening_kop), 0),
                func.coalesce(func.sum(m.AccountBalance.closing_kop), 0),
                func.coalesce(func.sum(m.AccountBalance.paid_kop), 0),
            ).where(m.AccountBalance.period == period)
        ).one()
    out = {f"{k}_kop": int(v or 0) for k, v in sorted(kinds.items())}
    out.update(
        lines=int(lines),
        charged_kop=sum(int(v or 0) for v in kinds.values()),
        balance_rows=int(bal[0]),
        opening_kop=int(bal[1]),
        closing_kop=int(bal[2]),
        paid_kop=int(bal[3]),
    )
    return out


def check_balances(period: int, *, engine: Engine | None = None, ids: RunIds | None = None) -> dict[str, int]:
    """After every partition: the reporting mart brought up to date for the whole period (each
    partition refreshed its own charges; the debt as of the period needs the whole store), then the
    period's totals (charges, balances) for the run log."""
    from hub.reports.mart import refresh_billing

    eng = engine or store_engine()
    with eng.begin() as conn:
        refresh_billing(conn, period)
    totals = period_totals(eng, period)
    if totals["lines"] == 0:
        raise RuntimeError(f"Период {period_text(period)}: нет ни одной строки начислений после расчёта")
    log_step(
        ids,
        f"Сальдо {period_text(period)}: начислено {rub(totals['charged_kop'])}, "
        f"исходящее сальдо {rub(totals['closing_kop'])}",
        totals,
        engine=eng,
    )
    return totals


def _bank_debts_profile(profile: PartnerProfile) -> Any:
    from connectors.formats import debts as fmt

    base = fmt.SBER_S5_PROFILE if profile.debts_variant == "sber_s5" else fmt.DEFAULT_PROFILE
    return replace(base, encoding=profile.encoding)


def send_debts(
    period: int, *, engine: Engine | None = None, ids: RunIds | None = None
) -> list[dict[str, Any]]:
    """The debts file of ``period`` for every bank, into the bank's outbox."""
    from hub.exports import export_debts

    eng = engine or store_engine()
    sent: list[dict[str, Any]] = []
    for code in partner_codes("bank"):
        profile = partner(code)
        out_dir = work_dir() / "exports" / "debts" / code
        f = export_debts(eng, period, code, out_dir, profile=_bank_debts_profile(profile))
        with open_transport(profile) as t:
            remote = t.upload(f.path, profile.folders.outbox, f.path.name)
        sent.append(
            {
                "partner": code,
                "file": f.path.name,
                "remote": remote,
                "lines": f.lines,
                "total_kop": f.total_kop,
            }
        )
    log_step(ids, f"Файлы долгов {period_text(period)} банкам: {len(sent)}", {"files": sent}, engine=eng)
    return sent


def szn_lists(engine: Engine, sender: str, period: int) -> list[str]:
    """FileIds of the beneficiary lists of ``period`` loaded from ``sender``."""
    start = dt.date(period // 100, period % 100, 1)
    rf = m.RegistryFile
    with engine.connect() as conn:
        ids = conn.scalars(
            select(rf.partner_file_id)
            .where(
                rf.kind == "szn",
                rf.sender == sender,
                rf.status.in_(("loaded", "loaded_with_errors")),
                rf.file_date == start,
                rf.partner_file_id.is_not(None),
            )
            .order_by(rf.id)
        ).all()
    return [str(i) for i in ids]


def send_szn_replies(
    period: int, *, engine: Engine | None = None, ids: RunIds | None = None
) -> list[dict[str, Any]]:
    """The charges reply (formats §4.2) to every beneficiary list of ``period``, into the office's
    outbox."""
    from hub.exports import export_szn_reply

    eng = engine or store_engine()
    sent: list[dict[str, Any]] = []
    for code in partner_codes("szn"):
        profile = partner(code)
        lists = szn_lists(eng, profile.sender, period)
        if not lists:
            continue
        out_dir = work_dir() / "exports" / "szn" / code
        with open_transport(profile) as t:
            for file_id in lists:
                f = export_szn_reply(eng, file_id, out_dir)
                remote = t.upload(f.path, profile.folders.outbox, f.path.name)
                sent.append(
                    {
                        "partner": code,
                        "reply_to": file_id,
                        "file": f.path.name,
                        "remote": remote,
                        "lines": f.lines,
                        "total_kop": f.total_kop,
                    }
                )
    log_step(
        ids,
        f"Начисления {period_text(period)} для соцзащиты: ответов {len(sent)}",
        {"files": sent},
        engine=eng,
    )
    return sent


def close(period: int, *, engine: Engine | None = None, ids: RunIds | None = None) -> dict[str, Any]:
    """Close the billed period and open the next one (nothing when it is closed already)."""
    from hub.billing import close_period

    eng = engine or store_engine()
    if period_status(eng, period) == "closed":
        out = {"period": period, "closed": False}
        log_step(ids, f"Период {period_text(period)} уже закрыт", out, engine=eng)
        return out
    nxt = close_period(eng, period)
    out = {"period": period, "closed": True, "next": nxt}
    log_step(ids, f"Период {period_text(period)} закрыт; открыт {period_text(nxt)}", out, engine=eng)
    return out


# ---------------------------------------------------------------------------------------- Assets

#: Asset names and URIs: ingest DAGs produce them, settle_daily / bill_monthly consume them
ASSETS = {
    "payments": "unipay://store/payments",
    "beneficiaries": "unipay://store/beneficiaries",
    "legacy": "unipay://store/legacy",
    "transfers": "unipay://store/transfers",
    "charges": "unipay://store/charges",
}
KIND_ASSET = {"bank": "payments", "post": "payments", "szn": "beneficiaries", "legacy": "legacy"}


def asset(key: str) -> Any:
    """The Airflow Asset ``key`` of :data:`ASSETS`."""
    from airflow.sdk import Asset

    return Asset(name=f"unipay_{key}", uri=ASSETS[key])


# ---------------------------------------------------------------------------------------- DAG defaults


def default_args(owner: str = "unipay") -> dict[str, Any]:
    """Retries, owner and the failure callback (a ``run_log`` record) of every unipay task."""
    from hub.runlog import airflow_failure_callback

    return {
        "owner": owner,
        "retries": int(os.environ.get("UNIPAY_DAG_RETRIES", "3")),
        "retry_delay": dt.timedelta(seconds=float(os.environ.get("UNIPAY_DAG_RETRY_DELAY", "300"))),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(hours=1),
        "on_failure_callback": airflow_failure_callback,
    }


def worker_hostname() -> str:
    """``[core] hostname_callable`` for several workers on one machine: ``UNIPAY_WORKER_NAME`` when
    set (the cluster demo gives each Celery worker its own), else the machine's name."""
    import socket

    return os.environ.get("UNIPAY_WORKER_NAME") or socket.getfqdn()


def dag_callbacks() -> dict[str, Any]:
    from hub.runlog import airflow_failure_callback, airflow_success_callback

    return {"on_success_callback": airflow_success_callback, "on_failure_callback": airflow_failure_callback}


def ids_from_context(context: Mapping[str, Any]) -> RunIds:
    ti = context["ti"]
    task_id = ti.task_id
    if getattr(ti, "map_index", -1) not in (None, -1):
        task_id = f"{task_id}[{ti.map_index}]"
    return RunIds(ti.dag_id, ti.run_id, task_id)


def current_ids() -> RunIds:
    """The run ids of the Airflow task being executed."""
    from airflow.sdk import get_current_context

    return ids_from_context(get_current_context())


def run_date(context: Mapping[str, Any]) -> dt.date:
    """The local (Moscow) date of a run: its logical date, or when it was due (asset-triggered runs
    have no logical date)."""
    import pendulum

    moment = context.get("logical_date") or context["dag_run"].run_after
    return pendulum.instance(moment).in_timezone(TIMEZONE).date()


def run_day(context: Mapping[str, Any]) -> dt.date:
    """The settlement day of a run: the ``day`` param, else the run's date."""
    param = (context.get("params") or {}).get("day")
    return dt.date.fromisoformat(str(param)) if param else run_date(context)


# ---------------------------------------------------------------------------------------- Airflow

_AIRFLOW_CLASSES: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``PartnerFilesSensor`` and ``PartnerFilesTrigger`` are built on first use, so that importing
    this module never imports (and configures) Airflow."""
    if name in ("PartnerFilesSensor", "PartnerFilesTrigger"):
        if not _AIRFLOW_CLASSES:
            _define_airflow_classes()
        return _AIRFLOW_CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _define_airflow_classes() -> None:
    from airflow.sdk import BaseSensorOperator, PokeReturnValue
    from airflow.sdk.exceptions import AirflowSensorTimeout
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    class PartnerFilesTrigger(BaseTrigger):
        """Polls a partner's inbox from the triggerer until ready files appear or the window ends."""

        def __init__(self, partner: str, deadline: str, poke_interval: float = 60.0) -> None:
            super().__init__()
            self.partner = partner
            self.deadline = deadline
            self.poke_interval = float(poke_interval)

        def serialize(self) -> tuple[str, dict[str, Any]]:
            return (
                f"{type(self).__module__}.{type(self).__qualname__}",
                {"partner": self.partner, "deadline": self.deadline, "poke_interval": self.poke_interval},
            )

        async def run(self):  # type: ignore[no-untyped-def]
            import asyncio

            end = dt.datetime.fromisoformat(self.deadline)
            while True:
                files = await asyncio.to_thread(ready_files, self.partner)
                if files:
                    yield TriggerEvent({"status": "ready", "files": files})
                    return
                left = (end - dt.datetime.now(dt.UTC)).total_seconds()
                if left <= 0:
                    yield TriggerEvent({"status": "timeout", "files": []})
                    return
                await asyncio.sleep(min(self.poke_interval, left))

    class PartnerFilesSensor(BaseSensorOperator):
        """Waits up to ``wait_seconds`` for complete files in a partner's inbox and returns their list
        (empty when none came: a quiet day is not an error). Deferrable: between pokes the wait runs
        in the triggerer (``deferrable=True``, default ``[operators] default_deferrable``);
        otherwise it pokes in ``mode`` (``reschedule`` frees the worker slot between pokes)."""

        template_fields = ("partner", "wait_seconds", "poke_seconds")
        ui_color = "#e8f0fe"

        def __init__(
            self,
            *,
            partner: str,
            wait_seconds: int | str = "{{ params.wait_seconds }}",
            poke_seconds: int | str = "{{ params.poke_seconds }}",
            deferrable: bool | None = None,
            **kwargs: Any,
        ) -> None:
            kwargs.setdefault("poke_interval", 60)
            kwargs.setdefault("mode", "reschedule")
            super().__init__(**kwargs)
            self.partner = partner
            self.wait_seconds = wait_seconds
            self.poke_seconds = poke_seconds
            if deferrable is None:
                from airflow.configuration import conf

                deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
            self.deferrable = deferrable

        def poke(self, context: Any) -> PokeReturnValue:
            files = ready_files(self.partner)
            self.log.info("%s: готовых файлов %d", self.partner, len(files))
            return PokeReturnValue(bool(files), files)

        def execute(self, context: Any) -> list[dict[str, Any]]:
            wait = float(self.wait_seconds or 0)
            self.timeout = wait
            with contextlib.suppress(TypeError, ValueError):
                self.poke_interval = max(1.0, float(self.poke_seconds))
            if self.deferrable:
                found = self.poke(context)
                if found or wait <= 0:
                    return list(found.xcom_value or [])
                deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
                self.defer(
                    trigger=PartnerFilesTrigger(self.partner, deadline.isoformat(), self.poke_interval),
                    method_name="execute_complete",
                    timeout=dt.timedelta(seconds=wait + 600),
                )
            try:
                return list(super().execute(context) or [])
            except AirflowSensorTimeout:
                self.log.info("%s: за %.0f с файлов не поступило", self.partner, wait)
                return []

        def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
            files = list((event or {}).get("files") or [])
            self.log.info(
                "%s: ожидание завершено (%s), файлов %d",
                self.partner,
                (event or {}).get("status"),
                len(files),
            )
            return files

    for cls in (PartnerFilesTrigger, PartnerFilesSensor):
        cls.__qualname__ = cls.__name__  # importable as hub.orchestration.<name> (the triggerer does)
        _AIRFLOW_CLASSES[cls.__name__] = cls


def ingest_params() -> dict[str, Any]:
    from airflow.sdk import Param

    return {
        "wait_seconds": Param(
            1500,
            type="integer",
            minimum=0,
            description="Сколько секунд ждать файлов во входящих каждого партнёра (0 — взять то, что есть)",
        ),
        "poke_seconds": Param(
            60,
            type="integer",
            minimum=1,
            description="Как часто (в секундах) проверять входящие во время ожидания",
        ),
    }


def ingest_tasks(kind: str) -> Any:
    """The tasks of ``ingest_<kind>``, built inside the DAG of the calling DAG file:

    ``partners`` → ``wait_for_files`` (one sensor per partner) → ``files`` (the list of ready files) →
    ``load`` (one mapped task per file: download, validate and load, send the protocol, archive) →
    ``report`` (the run's record in ``run_log``; updates the kind's Asset when anything loaded).
    """
    from airflow.sdk import task
    from airflow.sdk.exceptions import AirflowSkipException

    @task(task_id="partners")
    def partners() -> list[str]:
        codes = partner_codes(kind)
        log.info("Партнёры (%s): %s", kind, ", ".join(codes) or "нет")
        return codes

    found = __getattr__("PartnerFilesSensor").partial(task_id="wait_for_files").expand(partner=partners())

    @task(task_id="files", trigger_rule="none_failed")
    def files(found: Sequence[Sequence[dict[str, Any]] | None]) -> list[dict[str, Any]]:
        return [f for batch in found if batch for f in batch]

    @task(task_id="load", map_index_template="{{ item.partner }}/{{ item.name }}")
    def load(item: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk import get_current_context

        context = get_current_context()
        return process_file(
            item["partner"], item["name"], ids=ids_from_context(context), today=run_date(context)
        )

    @task(task_id="report", trigger_rule="none_failed", outlets=[asset(KIND_ASSET[kind])])
    def report(results: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
        summary = summarize_ingest(kind, list(results or []), current_ids())
        if not summary.loaded:
            raise AirflowSkipException(f"Нечего сообщать дальше: {summary.message}")
        return summary.details()

    return report(load.expand(item=files(found.output)))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- demo


@dataclass
class DemoReport:
    accounts: int
    period: int
    seconds: float = 0.0
    runs: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)


def airflow_env(home: Path, dags_folder: Path | None = None) -> dict[str, str]:
    """The environment of an embedded Airflow (SQLite metadata under ``home``, no examples)."""
    dags = dags_folder or Path(__file__).resolve().parent.parent / "dags"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


def run_dag(
    dag_id: str,
    *,
    conf: Mapping[str, Any] | None = None,
    logical_date: dt.datetime | None = None,
    dags: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one DAG in-process with ``dag.test()`` (no scheduler); returns its state and task states."""
    from airflow.dag_processing.dagbag import DagBag

    if dags is None:
        from airflow.configuration import conf as af_conf

        dags = DagBag(dag_folder=af_conf.get("core", "dags_folder")).dags
    dag = dags[dag_id]
    started = time.perf_counter()
    dr = dag.test(logical_date=logical_date, run_conf=dict(conf or {}))
    states: dict[str, int] = {}
    for ti in dr.get_task_instances():
        states[str(ti.state)] = states.get(str(ti.state), 0) + 1
    return {
        "dag_id": dag_id,
        "run_id": dr.run_id,
        "state": str(dr.state),
        "tasks": states,
        "seconds": round(time.perf_counter() - started, 1),
    }


def place_partner_files(paths: Sequence[Path]) -> dict[str, list[str]]:
    """Move freshly written partner files into the inbox of the partner of their kind (by format)."""
    from connectors.formats import SourceKind, sniff

    kinds = {
        SourceKind.BANK: "bank",
        SourceKind.POST: "post",
        SourceKind.SZN: "szn",
        SourceKind.LEGACY: "legacy",
    }
    placed: dict[str, list[str]] = {}
    cfg = partners_config()
    for path in paths:
        kind = kinds.get(sniff(path, path.name))
        targets = [p for p in cfg.by_kind(kind) if p.enabled] if kind else []
        if not targets:
            log.warning("%s: нет партнёра для этого файла, пропущен", path.name)
            continue
        profile = targets[0]
        with open_transport(profile) as t:
            t.upload(path, profile.folders.inbox, path.name)
            if profile.markers_required:
                t.upload_bytes(b"", profile.folders.inbox, path.name + profile.marker_suffix)
        placed.setdefault(profile.code, []).append(path.name)
    return placed


def run_demo_month(
    accounts: int = 10_000,
    seed: int = 1,
    period: int = 202611,
    *,
    say: Callable[[str], None] = print,
    airflow_home: Path | None = None,
) -> DemoReport:
    """A month of the synthetic city through the DAGs, run by Airflow itself (``dag.test()``,
    SQLite metadata, no scheduler) on the local-folder transport: partner files into the inboxes,
    the four ingest DAGs, ``settle_daily`` for every payment day, then ``bill_monthly`` for the month.

    Call it in a process that has not imported Airflow yet (or with Airflow already configured);
    the store is ``UNIPAY_DB_URL``.
    """
    started = time.perf_counter()
    home = airflow_home or var_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    for key, value in airflow_env(home).items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("UNIPAY_DAG_RETRY_DELAY", "5")
    from hub.city.generate import generate_city
    from hub.store import migrate

    engine = store_engine()
    migrate.upgrade(engine)
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(m.Account)).scalar_one()
    if not have:
        say(f"Синтетический город: {accounts} л/с, seed {seed}")
        generate_city(engine, accounts, seed, period)
    else:
        say(f"Город уже в хранилище ({have} л/с)")
    report = DemoReport(accounts=have or accounts, period=period)

    say("Airflow: метаданные (SQLite)")
    from airflow.utils import db as af_db

    with contextlib.redirect_stdout(io.StringIO()):
        af_db.initdb()
    from airflow.configuration import conf as af_conf
    from airflow.dag_processing.dagbag import DagBag

    dags = DagBag(dag_folder=af_conf.get("core", "dags_folder")).dags

    from hub.city.partner_files import write_partner_files

    incoming = work_dir() / "demo_partner_files"
    incoming.mkdir(parents=True, exist_ok=True)
    paths = write_partner_files(engine, incoming, period, seed)
    placed = place_partner_files(paths)
    say("Файлы партнёров во входящих: " + ", ".join(f"{k} {len(v)}" for k, v in placed.items()))

    def run(dag_id: str, conf: Mapping[str, Any], when: dt.datetime) -> None:
        say(f"DAG {dag_id} {dict(conf)}")
        res = run_dag(dag_id, conf=conf, logical_date=when, dags=dags)
        report.runs.append(res)
        say(f"  → {res['state']} за {res['seconds']} с, задачи: {res['tasks']}")
        if res["state"] != "success":
            raise RuntimeError(f"DAG {dag_id} завершился с состоянием {res['state']}")

    month_end = dt.date(period // 100, period % 100, 1) + dt.timedelta(days=32)
    month_end = month_end.replace(day=1) - dt.timedelta(days=1)
    base = dt.datetime(month_end.year, month_end.month, month_end.day, 9, tzinfo=dt.UTC)
    for kind in ("legacy", "szn", "bank", "post"):
        run(INGEST_DAG[kind], {"wait_seconds": 0}, base)
    with engine.connect() as conn:
        days = sorted(set(conn.scalars(select(m.Payment.op_date).where(m.Payment.status == "new"))))
    for i, day in enumerate(days):
        run("settle_daily", {"day": day.isoformat()}, base + dt.timedelta(minutes=i + 1))
    nxt = month_end + dt.timedelta(days=1)
    run(
        "bill_monthly",
        {"period": period_text(period)},
        dt.datetime(nxt.year, nxt.month, nxt.day, 3, tzinfo=dt.UTC),
    )
    report.totals = period_totals(engine, period)
    report.seconds = round(time.perf_counter() - started, 1)
    return report
