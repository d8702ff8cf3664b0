"""``ingest_file``: load one partner file into the store.

1. The input is checked before anything is read: a plain file name (no path separators), a
   regular file, not larger than the limit (``max_bytes``, default ``UNIPAY_INGEST_MAX_BYTES`` or
   2 GiB — a larger file is rejected with FILE_TOO_LARGE).
2. The format is sniffed (``source="auto"``) or given; the sender is given or taken from the file
   (formats §1: ``BANK:<ОСБ>``, ``POST:<код отправителя>``; ours: ``SZN:<SenderCode>``,
   ``LEGACY:<system>``).
3. File identity = SHA-256 of the bytes + sender (``registry_files`` unique key). A file already
   loaded (loaded, loaded with errors) is a ``duplicate``: nothing changes, no protocol is written.
   A file that was rejected before is loaded again (its old rejected record is replaced), because
   what rejected it may have been fixed in the store.
4. One transaction: the ``registry_files`` row, then the loader streams the records and writes in
   batches. A file error (parser or store) rolls everything back; the file is then recorded as
   ``rejected`` with its ``registry_errors`` in a transaction of its own.
5. The error protocol ``<name>.err.txt`` (formats §1, cp1251) is written to ``protocol_dir``
   (default: next to the file) when the file has any problem (errors or warnings).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from connectors.formats import SourceKind, sniff
from connectors.formats.common import FileError, Problem
from connectors.formats.protocol import ErrorCode
from hub.ingest.common import (
    FileContext,
    IdAllocator,
    IngestError,
    IngestResult,
    check_file_name,
    db_text,
    default_max_bytes,
    file_sha256,
    write_protocol_file,
)
from hub.ingest.legacy import LegacyLoader, legacy_system
from hub.ingest.payments import BankLoader, PostLoader
from hub.ingest.szn import SznLoader
from hub.store import models as m

__all__ = ["ingest_file", "SOURCES", "default_sender", "detect_source"]

SOURCES = ("auto", "bank", "post", "szn", "legacy")
_KIND_OF = {
    SourceKind.BANK: "bank",
    SourceKind.POST: "post",
    SourceKind.SZN: "szn",
    SourceKind.LEGACY: "legacy",
}
_SENDER_CODE = re.compile(rb"<(?:\w+:)?SenderCode>\s*([^<\s]{1,10})\s*</")


class _Rejected(Exception):
    def __init__(self, errors: list[FileError]) -> None:
        super().__init__("rejected")
        self.errors = errors


def detect_source(path: Path, name: str) -> str:
    """The inbound kind of a file (bank, post, szn, legacy) judged by content, then by name."""
    try:
        kind = sniff(path, name)
    except OSError as exc:
        raise IngestError(f"Файл «{name}» не читается: {exc.strerror or exc}") from exc
    if kind in _KIND_OF:
        return _KIND_OF[kind]
    if kind is SourceKind.UNKNOWN:
        raise IngestError(
            f"Файл «{name}»: формат не распознан (ожидается реестр банка, почты, список УСЗН или набор DBF); "
            "укажите --source"
        )
    raise IngestError(f"Файл «{name}»: это исходящий файл ({kind.value}), он не загружается")


def default_sender(kind: str, path: Path, name: str) -> str:
    """The sender of a file when neither the partner profile nor ``--sender`` names it."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if kind == "bank":
        first = head.split(b"\n", 1)[0].rstrip(b"\r")
        fields = first.split(b";")
        if len(fields) > 2 and not first.startswith(b"="):
            osb = fields[2].split(b"/", 1)[0].decode("cp1251", errors="replace").strip()
            if osb and len(osb) <= 30:
                return f"BANK:{osb}"
        return "BANK:?"
    if kind == "post":
        if head[:1] == b"H" and head[1:7].isdigit():
            return f"POST:{head[1:7].decode('ascii')}"
        return "POST:?"
    if kind == "szn":
        mt = _SENDER_CODE.search(head)
        return f"SZN:{mt.group(1).decode('utf-8', errors='replace')}" if mt else "SZN:?"
    system, _period = legacy_system(name)
    return f"LEGACY:{system or '?'}"


def ingest_file(
    engine: Engine,
    path: str | os.PathLike[str],
    *,
    source: str = "auto",
    sender: str | None = None,
    protocol_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    today: dt.date | None = None,
    center_inn: str | None = None,
    settlement: str | None = None,
    max_bytes: int | None = None,
    legacy_system_code: str | None = None,
) -> IngestResult:
    """Load one partner file into the store; see the module docstring.

    ``name``: the partner's file name when it differs from the local path's (e.g. a temp copy of
    an SFTP download); ``today``: the date line checks compare with; ``center_inn``/``settlement``:
    the center (default ``hub.config.load_settings().center``). Raises :class:`IngestError` only
    for inputs that cannot be taken at all (bad name, missing file, unknown format).
    """
    p = Path(path)
    name = check_file_name(name if name is not None else p.name)
    if not p.is_file():
        raise IngestError(f"Файл «{p}» не найден или не является обычным файлом")
    if source not in SOURCES:
        raise IngestError(f"Неизвестный источник «{source}»; допустимо: {', '.join(SOURCES)}")
    if center_inn is None or settlement is None:
        from hub.config import load_settings

        center = load_settings().center
        center_inn = center_inn or center.inn
        settlement = settlement or center.settlement
    today = today or dt.date.today()
    limit = max_bytes if max_bytes is not None else default_max_bytes()
    size = p.stat().st_size
    too_large = size > limit
    kind = source if source != "auto" else detect_source(p, name)
    sender = db_text((sender or default_sender(kind, p, name))[:40])
    sha = file_sha256(p)
    pdir = Path(protocol_dir) if protocol_dir is not None else p.parent
    result = IngestResult(file=name, source=kind, status="received", sender=sender)

    with engine.begin() as conn:
        old = conn.execute(
            select(m.RegistryFile.id, m.RegistryFile.status).where(
                m.RegistryFile.sender == sender, m.RegistryFile.sha256 == sha
            )
        ).first()
    if old is not None and old.status != "rejected":
        result.status = "duplicate"
        result.registry_file_id = int(old.id)
        result.message = f"файл уже загружен (запись журнала реестров № {old.id})"
        return result

    loader: Any
    common = {"today": today}
    if kind == "bank":
        loader = BankLoader(p, name, sender, sha, **common)
    elif kind == "post":
        loader = PostLoader(p, name, sender, sha, center_inn=center_inn, **common)
    elif kind == "szn":
        loader = SznLoader(p, name, sender, sha, **common)
    else:
        loader = LegacyLoader(
            p, name, sender, sha, settlement=settlement, system=legacy_system_code, **common
        )

    file_row = {
        "direction": "in",
        "sender": sender,
        "kind": kind,
        "name": name,
        "sha256": sha,
        "received_at": dt.datetime.now().replace(microsecond=0),
        "status": "received",
    }
    ctx: FileContext | None = None
    try:
        with engine.begin() as conn:
            if old is not None:
                _forget(conn, int(old.id))
            ids = IdAllocator(conn)
            fid = ids.take("registry_files", 1)[0]
            conn.execute(insert(m.RegistryFile).values(id=fid, **file_row))
            ctx = FileContext(conn, ids, fid, name)
            if too_large:
                raise _Rejected(
                    [
                        ctx.file_error(
                            ErrorCode.FILE_TOO_LARGE, f"{size} байт, допустимо не более {limit} байт"
                        )
                    ]
                )
            errors = loader.run(conn, ctx)
            if errors:
                raise _Rejected(errors)
            ctx.flush()
            result.status = "loaded_with_errors" if ctx.lines_rejected else "loaded"
            protocol = pdir / f"{name}.err.txt" if ctx.problem_count else None
            conn.execute(
                update(m.RegistryFile)
                .where(m.RegistryFile.id == fid)
                .values(**_counts(ctx, loader, result.status, protocol))
            )
            result.registry_file_id = fid
    except IntegrityError as exc:
        if ctx is not None and "registry_files" in str(exc.orig or exc):
            result.status = "duplicate"
            result.message = "файл загружен параллельно другим процессом"
            return result
        raise
    except _Rejected as rej:
        assert ctx is not None
        _record_rejected(engine, old, file_row, ctx, loader, rej.errors, pdir)
        result.status = "rejected"
        result.registry_file_id = ctx.file_id
    _fill(result, ctx, loader)
    if ctx.problem_count or result.status == "rejected":
        accepted_lines = 0 if result.status == "rejected" else result.lines_loaded
        accepted_kop = 0 if result.status == "rejected" else result.amount_loaded_kop
        result.protocol = write_protocol_file(
            pdir, name, ctx.sorted_problems(), accepted_lines=accepted_lines, accepted_kop=accepted_kop
        )
    return result


def _forget(conn: Any, file_id: int) -> None:
    """Remove an earlier rejected record of the same file (it is being loaded again)."""
    conn.execute(delete(m.RegistryError).where(m.RegistryError.file_id == file_id))
    conn.execute(delete(m.RegistryFile).where(m.RegistryFile.id == file_id))


def _counts(ctx: FileContext, loader: Any, status: str, protocol: Path | None) -> dict[str, Any]:
    rejected = status == "rejected"
    return {
        "status": status,
        "file_date": loader.file_date,
        "lines_total": ctx.lines_total,
        "lines_loaded": 0 if rejected else ctx.lines_total - ctx.lines_rejected,
        "lines_rejected": ctx.lines_total if rejected else ctx.lines_rejected,
        "control_sum_kop": ctx.control_sum,
        "amount_loaded_kop": 0 if rejected else ctx.amount_loaded,
        "amount_unidentified_kop": 0 if rejected else ctx.amount_unidentified,
        "order_number": loader.order_number,
        "order_date": loader.order_date,
        "error_protocol": _protocol_ref(protocol),
        "message": loader.message,
        "partner_file_id": getattr(loader, "partner_file_id", None),
    }


def _protocol_ref(protocol: Path | None) -> str | None:
    if protocol is None:
        return None
    text = str(protocol)
    return text if len(text) <= 220 else protocol.name[:220]


def _record_rejected(
    engine: Engine,
    old: Any,
    file_row: dict[str, Any],
    ctx: FileContext,
    loader: Any,
    errors: list[FileError],
    pdir: Path,
) -> None:
    """The transaction of the file was rolled back: write the rejected record and all problems."""
    kept: list[Problem] = list(ctx.problems)
    with engine.begin() as conn:
        if old is not None:
            _forget(conn, int(old.id))
        ids = IdAllocator(conn)
        fid = ids.take("registry_files", 1)[0]
        conn.execute(insert(m.RegistryFile).values(id=fid, **file_row))
        fresh = FileContext(conn, ids, fid, ctx.name)
        fresh.add(errors)
        fresh.add(kept)
        fresh.flush()
        fresh.lines_total = ctx.lines_total
        fresh.control_sum = ctx.control_sum
        protocol = pdir / f"{ctx.name}.err.txt"
        values = _counts(fresh, loader, "rejected", protocol)
        values["message"] = db_text(
            (loader.message + "; " if loader.message else "") + errors[0].message[:400]
        )
        conn.execute(update(m.RegistryFile).where(m.RegistryFile.id == fid).values(**values))
    # hand the figures back to the caller's context
    ctx.file_id = fid
    ctx.problems = fresh.problems
    ctx.problem_count = fresh.problem_count
    ctx.error_count = fresh.error_count
    ctx.warning_count = fresh.warning_count


def _fill(result: IngestResult, ctx: FileContext | None, loader: Any) -> None:
    if ctx is None:
        return
    rejected = result.status == "rejected"
    result.lines_total = ctx.lines_total
    result.lines_rejected = ctx.lines_total if rejected else ctx.lines_rejected
    result.lines_loaded = 0 if rejected else ctx.lines_total - ctx.lines_rejected
    result.amount_loaded_kop = 0 if rejected else ctx.amount_loaded
    result.amount_unidentified_kop = 0 if rejected else ctx.amount_unidentified
    result.errors = ctx.json_errors()
    result.warnings = ctx.warning_count
    result.details = dict(ctx.details)
    if rejected and not result.message:
        first = next((p for p in ctx.sorted_problems() if p.code.kind.value == "file"), None)
        result.message = first.message if first else ""
