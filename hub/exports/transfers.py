"""Provider transfer registries (formats §6.1) for the transfers settlement prepared for a day.

One file per ``provider_transfers`` row of the day (one п/п per provider), with one line per
``payment_allocations`` row of that transfer: the agent's payment day, account, owner, address,
the debt month, service, kind (01 платёж / 02 пени), amount, the agent's commission and the
center's fee withheld (as settlement computed them), and the net. The file name is
``TRANSF_{ИНН}_{ГГГГММДД}_{NNN}.txt`` (NNN = the transfer's place among the provider's transfers
of the day) unless the transfer already names its file; the name is stored in
``provider_transfers.file_name``. Lines are ordered by payment day, account, operation, service,
period and kind, so the same store gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from sqlalchemy import Engine, select, update

from connectors.formats import transfers as fmt
from connectors.formats.common import Period
from hub.exports.common import DEFAULT_OUTBOX, ExportedFile, ExportError, address_text, write_export
from hub.store import models as m

__all__ = ["export_transfers", "transfer_lines"]


def transfer_lines(conn, transfer_id: int) -> list[fmt.TransferLine]:  # type: ignore[no-untyped-def]
    """The registry lines of one transfer, in file order."""
    a, p, acc, s, g = m.PaymentAllocation, m.Payment, m.Account, m.Service, m.PaymentAgent
    pr, b = m.Premises, m.Building
    stmt = (
        select(
            p.op_date,
            acc.number,
            acc.owner_name,
            b.settlement,
            b.street_type,
            b.street,
            b.house,
            b.korp,
            pr.flat,
            pr.room,
            a.period,
            s.code,
            s.name,
            a.kind,
            a.amount_kop,
            a.commission_kop,
            a.fee_kop,
            g.code,
            p.operation_id,
            s.sort_order,
        )
        .join(p, p.id == a.payment_id)
        .join(acc, acc.id == a.account_id)
        .join(pr, pr.id == acc.premises_id)
        .join(b, b.id == pr.building_id)
        .join(s, s.id == a.service_id)
        .join(g, g.id == p.agent_id)
        .where(a.transfer_id == transfer_id)
        .order_by(p.op_date, acc.number, p.operation_id, s.sort_order, s.code, a.period, a.kind, a.id)
    )
    out = []
    for row in conn.execute(stmt):
        amount, commission, fee = int(row[14]), int(row[15]), int(row[16])
        out.append(
            fmt.TransferLine(
                row[0],
                row[1],
                row[2],
                address_text(row[3], row[4], row[5], row[6], row[7], row[8], row[9]),
                Period(row[10] // 100, row[10] % 100),
                row[11],
                row[12],
                fmt.KIND_PENALTY if row[13] == "penalty" else fmt.KIND_PAYMENT,
                amount,
                commission,
                fee,
                amount - commission - fee,
                row[17],
                row[18],
            )
        )
    return out


def export_transfers(
    engine: Engine, day: dt.date, out_dir: str | Path = DEFAULT_OUTBOX
) -> list[ExportedFile]:
    """Write the transfer registries of ``day``; raises :class:`ExportError` when settlement has not
    prepared any transfer for that day."""
    out: list[ExportedFile] = []
    t, pv = m.ProviderTransfer, m.Provider
    with engine.begin() as conn:
        rows = conn.execute(
            select(t.id, t.number, t.date_from, t.date_to, t.file_name, pv.inn, pv.bank_account, pv.code)
            .join(pv, pv.id == t.provider_id)
            .where(t.transfer_date == day)
            .order_by(pv.inn, t.number, t.id)
        ).all()
        if not rows:
            raise ExportError(
                f"На {day:%d.%m.%Y} нет подготовленных перечислений поставщикам: расчёт дня "
                f"(распределение платежей, settle) за эту дату ещё не выполнялся или не дал перечислений"
            )
        seq: dict[str, int] = {}
        for tid, number, d_from, d_to, file_name, inn, account, _code in rows:
            seq[inn] = seq.get(inn, 0) + 1
            name = file_name or f"TRANSF_{inn}_{day:%Y%m%d}_{seq[inn]:03d}.txt"
            lines = transfer_lines(conn, tid)
            buf = io.BytesIO()
            summary = fmt.write(
                buf,
                fmt.TransferHeader(inn, account, d_from, d_to),
                lines,
                order_no=str(number),
                order_date=day,
            )
            out.append(
                write_export(
                    conn,
                    Path(out_dir),
                    name,
                    buf.getvalue(),
                    kind="transfers",
                    target=inn,
                    lines=summary.count,
                    total_kop=summary.total_kop,
                )
            )
            if file_name is None:
                conn.execute(update(t).where(t.id == tid).values(file_name=name))
    return out
