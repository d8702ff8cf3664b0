"""Debts file for a bank (formats §6.2): every open account and every closed account with a
non-zero balance, with its balance at the end of the period including penalties.

The balance is Σ ``account_balances.closing_kop`` of the period over the account's services; when
the period has no balances yet (nothing billed), Σ ``opening_debts`` (principal + penalty) is used.
The bank profile (layout, separator, encoding, negative balances) comes from the partner profile
(``debts_variant``, ``encoding``) or the defaults (the «Город» layout). The file name is
``ИНН_РС_NNN_ММГГ.txt``; NNN counts the distinct debts files made for that month (all banks share
the numbering, so names never clash): exporting the same balances for the same bank again gives
the same name and bytes, changed balances give the next number.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from connectors.formats import debts as fmt
from connectors.formats.common import Period
from hub.exports.common import DEFAULT_OUTBOX, ExportedFile, debts_address, write_export
from hub.store import models as m

__all__ = ["export_debts", "bank_profile", "debt_lines"]


def bank_profile(bank: str, partners_file: str | Path | None = None) -> fmt.BankProfile:
    """The debts-file profile of a bank: from ``partners.toml`` (``debts_variant``, ``encoding``)
    when the file exists and describes the bank, else the default «Город» profile."""
    path = Path(partners_file) if partners_file is not None else Path("partners.toml")
    if not path.exists():
        return fmt.DEFAULT_PROFILE
    from connectors.partners import load_partners

    partner = load_partners(path).get(bank)
    if partner is None:
        return fmt.DEFAULT_PROFILE
    base = fmt.SBER_S5_PROFILE if partner.debts_variant == "sber_s5" else fmt.DEFAULT_PROFILE
    return replace(base, encoding=partner.encoding)


def _balances(conn: Connection, period: int) -> Any:
    """A subquery (account_id, balance_kop) for the period."""
    has = conn.execute(
        select(m.AccountBalance.period).where(m.AccountBalance.period == period).limit(1)
    ).first()
    if has:
        ab = m.AccountBalance
        return (
            select(ab.account_id.label("account_id"), func.sum(ab.closing_kop).label("balance"))
            .where(ab.period == period)
            .group_by(ab.account_id)
            .subquery()
        )
    od = m.OpeningDebt
    return (
        select(
            od.account_id.label("account_id"), func.sum(od.principal_kop + od.penalty_kop).label("balance")
        )
        .group_by(od.account_id)
        .subquery()
    )


def debt_lines(conn: Connection, period: int) -> Iterator[fmt.DebtLine]:
    """One line per account, ordered by account number (streamed)."""
    bal = _balances(conn, period)
    a, pr, b = m.Account, m.Premises, m.Building
    stmt = (
        select(
            a.number,
            a.owner_name,
            a.els,
            a.status,
            b.settlement,
            b.street_type,
            b.street,
            b.house,
            b.korp,
            pr.flat,
            func.coalesce(bal.c.balance, 0),
        )
        .join(pr, pr.id == a.premises_id)
        .join(b, b.id == pr.building_id)
        .outerjoin(bal, bal.c.account_id == a.id)
        .order_by(a.number)
    )
    per = Period(period // 100, period % 100)
    for row in conn.execute(stmt.execution_options(yield_per=5_000)):
        yield fmt.DebtLine(
            row[0],
            row[1],
            debts_address(row[4], row[5], row[6], row[7], row[8], row[9]),
            int(row[10]),
            period=per,
            els=row[2],
            closed=row[3] != "open",
        )


def export_debts(
    engine: Engine,
    period: int,
    bank: str,
    out_dir: str | Path = DEFAULT_OUTBOX,
    *,
    profile: fmt.BankProfile | None = None,
    center_inn: str | None = None,
    center_account: str | None = None,
) -> ExportedFile:
    """Write the debts file of ``period`` (YYYYMM) for ``bank``."""
    if center_inn is None or center_account is None:
        from hub.config import load_settings

        center = load_settings().center
        center_inn, center_account = center_inn or center.inn, center_account or center.account
    profile = profile or fmt.DEFAULT_PROFILE
    per = Period(period // 100, period % 100)
    with engine.begin() as conn:
        buf = io.BytesIO()
        summary = fmt.write(buf, debt_lines(conn, period), profile)
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        pattern = re.compile(rf"{center_inn}_{center_account}_(\d{{3}})_{per.mmyy}\.txt")
        number = 0
        same: str | None = None
        for file_name, file_sha, target in conn.execute(
            select(m.ExportLog.file_name, m.ExportLog.sha256, m.ExportLog.target).where(
                m.ExportLog.kind == "debts"
            )
        ):
            mt = pattern.fullmatch(file_name)
            if not mt:
                continue
            number = max(number, int(mt.group(1)))  # numbers are shared by all banks: names stay unique
            if file_sha == sha and target == bank[:40]:
                same = file_name
        name = same or fmt.debts_file_name(center_inn, center_account, number + 1, per)
        return write_export(
            conn,
            Path(out_dir),
            name,
            data,
            kind="debts",
            target=bank,
            lines=summary.count,
            total_kop=summary.total_kop,
        )
