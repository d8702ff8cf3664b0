"""Shared parts of the outbound files: writing a file once (same inputs → same bytes, written
through a temporary file and a rename), the ``export_log`` record (one row per kind and file name:
a re-export with the same bytes changes nothing, with new bytes updates the row), and the address
of an account in the two styles the formats use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, insert, select, update

from hub.store import models as m

__all__ = ["ExportError", "ExportedFile", "write_export", "address_text", "debts_address", "DEFAULT_OUTBOX"]

DEFAULT_OUTBOX = Path("var") / "outbox"


class ExportError(RuntimeError):
    """Nothing can be exported (e.g. settlement has not prepared transfers yet); Russian message."""


@dataclass(frozen=True)
class ExportedFile:
    """One written file. ``log`` is ``new``, ``updated`` (same name, new bytes) or ``unchanged``."""

    path: Path
    kind: str
    target: str
    lines: int
    total_kop: int
    sha256: str
    log: str


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def write_export(
    conn: Connection,
    out_dir: Path,
    file_name: str,
    data: bytes,
    *,
    kind: str,
    target: str,
    lines: int,
    total_kop: int,
    created_at: dt.datetime | None = None,
) -> ExportedFile:
    """Write ``data`` to ``out_dir/file_name`` and record it in ``export_log``."""
    if "/" in file_name or "\\" in file_name or file_name in ("", ".", ".."):
        raise ExportError(f"недопустимое имя файла выгрузки «{file_name}»")
    sha = hashlib.sha256(data).hexdigest()
    path = Path(out_dir) / file_name
    _atomic_write(path, data)
    row = conn.execute(
        select(m.ExportLog.id, m.ExportLog.sha256).where(
            m.ExportLog.kind == kind, m.ExportLog.file_name == file_name
        )
    ).first()
    if row is None:
        conn.execute(
            insert(m.ExportLog).values(
                kind=kind,
                target=target[:40],
                file_name=file_name,
                lines=lines,
                total_kop=total_kop,
                sha256=sha,
                created_at=created_at or dt.datetime.now().replace(microsecond=0),
            )
        )
        log = "new"
    elif row.sha256 != sha:
        conn.execute(
            update(m.ExportLog)
            .where(m.ExportLog.id == row.id)
            .values(lines=lines, total_kop=total_kop, sha256=sha)
        )
        log = "updated"
    else:
        log = "unchanged"
    return ExportedFile(path, kind, target, lines, total_kop, sha, log)


def address_text(
    settlement: str, street_type: str, street: str, house: str, korp: str = "", flat: str = "", room: str = ""
) -> str:
    """``г Рязань, ул Ленина, д 5, кв 12`` (transfer registries)."""
    parts = [settlement, f"{street_type} {street}".strip(), f"д {house}" if house else ""]
    if korp:
        parts.append(f"корп {korp}")
    if flat:
        parts.append(f"кв {flat}")
    if room:
        parts.append(f"комн {room}")
    return ", ".join(p for p in parts if p)


def debts_address(
    settlement: str, street_type: str, street: str, house: str, korp: str = "", flat: str = ""
) -> str:
    """``Рязань г,Ленина ул,5,12`` (formats §6.2: settlement type, street type after the name)."""
    words = settlement.split(" ", 1)
    town = f"{words[1]} {words[0]}" if len(words) == 2 and words[0].islower() else settlement
    street_part = f"{street} {street_type}".strip()
    house_part = f"{house} корп {korp}" if korp else house
    return f"{town},{street_part},{house_part},{flat}"
