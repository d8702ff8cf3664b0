"""The ``unipay ingest`` and ``unipay export`` commands.

``ingest_app`` holds the single command ``ingest`` (mount it with ``app.command("ingest")(ingest)``
— a one-command Typer added with ``add_typer`` would want a sub-command name); ``export_app`` is a
group (``transfers``, ``debts``, ``szn``) to mount with ``app.add_typer(export_app, name="export")``.
Run standalone: ``python -m hub.ingest.cli ingest FILE… [--json]`` / ``… export debts …``.

Exit codes of ``ingest``: 0 every file loaded (a duplicate counts as loaded), 1 a file rejected,
2 loaded with rejected lines; with several files the worst (1 beats 2). With ``--json`` stdout
carries one JSON object per file per line and nothing else; progress goes to stderr.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hub.config import ConfigError, load_settings
from hub.ingest.common import IngestError, IngestResult

__all__ = ["ingest_app", "export_app", "ingest", "app", "main"]

ingest_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
export_app = typer.Typer(
    help="Исходящие файлы: реестры перечислений, файлы долгов для банков, ответы УСЗН.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console()
err = Console(stderr=True)

STATUS_RU = {
    "loaded": "загружен",
    "loaded_with_errors": "загружен с ошибками",
    "rejected": "отклонён",
    "duplicate": "уже загружен",
}


def _engine():  # type: ignore[no-untyped-def]
    from hub.store.db import get_engine

    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[red]Ошибка конфигурации:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    return get_engine(settings.db_url)


def _rub(kop: int) -> str:
    sign = "-" if kop < 0 else ""
    kop = abs(kop)
    return f"{sign}{kop // 100:,}".replace(",", " ") + f",{kop % 100:02d}"


def _worst(codes: list[int]) -> int:
    if 1 in codes:
        return 1
    if 2 in codes:
        return 2
    return 0


@ingest_app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files to load.", show_default=False)],
    source: Annotated[
        str, typer.Option("--source", help="auto | bank | post | szn | legacy (default: by content).")
    ] = "auto",
    sender: Annotated[
        str | None, typer.Option("--sender", help="Sender code (part of the file identity).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout.")] = False,
    protocol_dir: Annotated[
        Path | None,
        typer.Option("--protocol-dir", help="Where to write <name>.err.txt (default: next to the file)."),
    ] = None,
) -> None:
    """Load partner files (bank, post, social protection, legacy DBF) into the store."""
    from hub.ingest.loader import SOURCES, ingest_file

    if source not in SOURCES:
        err.print(f"[red]Неизвестный источник «{escape(source)}»;[/] допустимо: {', '.join(SOURCES)}")
        raise typer.Exit(1)
    engine = _engine()
    results: list[IngestResult] = []
    for path in paths:
        err.print(f"Загрузка «{escape(str(path))}»…")
        try:
            res = ingest_file(engine, path, source=source, sender=sender, protocol_dir=protocol_dir)
        except (IngestError, OSError) as exc:
            res = IngestResult(file=path.name, source=source, status="rejected", message=str(exc))
            res.errors = [{"line": 0, "field": "", "message": str(exc)}]
        results.append(res)
        if json_out:
            typer.echo(json.dumps(res.to_json(), ensure_ascii=False))
    if not json_out:
        _table(results)
    raise typer.Exit(_worst([r.exit_code for r in results]))


def _table(results: list[IngestResult]) -> None:
    table = Table(
        "файл",
        "источник",
        "статус",
        "строк принято",
        "отклонено",
        "зачислено, ₽",
        "невыясненные, ₽",
        "протокол",
        title="Загрузка файлов партнёров",
    )
    colors = {"loaded": "green", "duplicate": "cyan", "loaded_with_errors": "yellow", "rejected": "red"}
    for r in results:
        table.add_row(
            escape(r.file),
            r.source,
            f"[{colors[r.status]}]{STATUS_RU[r.status]}[/]",
            str(r.lines_loaded),
            str(r.lines_rejected),
            _rub(r.amount_loaded_kop),
            _rub(r.amount_unidentified_kop),
            escape(str(r.protocol)) if r.protocol else "",
        )
    out.print(table)
    for r in results:
        if r.message and r.status in ("rejected", "duplicate"):
            out.print(f"«{escape(r.file)}»: {escape(r.message)}")
        shown = r.errors[:20]
        for e in shown:
            out.print(f"  [red]•[/] {escape(e['message'])}")
        if len(r.errors) > len(shown):
            out.print(f"  … и ещё {len(r.errors) - len(shown)} (см. протокол)")


def _period(value: str) -> int:
    try:
        year, month = value.split("-")
        if not (1 <= int(month) <= 12 and 2000 <= int(year) <= 2100) or len(month) != 2:
            raise ValueError
        return int(year) * 100 + int(month)
    except ValueError as exc:
        raise typer.BadParameter(f"период должен быть в виде ГГГГ-ММ, получено {value!r}") from exc


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        try:
            return dt.datetime.strptime(value, "%d.%m.%Y").date()
        except ValueError as exc:
            raise typer.BadParameter(
                f"дата должна быть ГГГГ-ММ-ДД или ДД.ММ.ГГГГ, получено {value!r}"
            ) from exc


OutOption = Annotated[Path, typer.Option("--out", help="Output folder.")]


def _print_exports(files: list, title: str) -> None:  # type: ignore[type-arg]
    table = Table("файл", "получатель", "строк", "сумма, ₽", "журнал", title=title)
    log_ru = {"new": "записан", "updated": "обновлён", "unchanged": "без изменений"}
    for f in files:
        table.add_row(escape(str(f.path)), escape(f.target), str(f.lines), _rub(f.total_kop), log_ru[f.log])
    out.print(table)


@export_app.command("transfers")
def export_transfers_cmd(
    date: Annotated[str, typer.Option("--date", help="Transfer date, YYYY-MM-DD.")],
    out_dir: OutOption = Path("var/outbox"),
) -> None:
    """Provider transfer registries (formats §6.1) for the transfers prepared for a date."""
    from hub.exports import ExportError, export_transfers

    day = _date(date)
    try:
        files = export_transfers(_engine(), day, out_dir)
    except ExportError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc
    _print_exports(files, f"Реестры перечислений на {day:%d.%m.%Y}")


@export_app.command("debts")
def export_debts_cmd(
    period: Annotated[str, typer.Option("--period", help="Period, YYYY-MM.")],
    bank: Annotated[str, typer.Option("--bank", help="Bank partner code (e.g. SBER).")],
    out_dir: OutOption = Path("var/outbox"),
    partners: Annotated[
        Path | None, typer.Option("--partners", help="partners.toml with the bank's profile.")
    ] = None,
) -> None:
    """Debts file for a bank (formats §6.2) from the balances of a period."""
    from connectors.partners import PartnerConfigError
    from hub.exports import ExportError, bank_profile, export_debts

    per = _period(period)
    try:
        profile = bank_profile(bank, partners)
        f = export_debts(_engine(), per, bank, out_dir, profile=profile)
    except (ExportError, PartnerConfigError, ValueError) as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc
    _print_exports([f], f"Файл задолженности для {bank} за {period}")


@export_app.command("szn")
def export_szn_cmd(
    reply_to: Annotated[str, typer.Option("--reply-to", help="FileId of the inbound beneficiaries list.")],
    out_dir: OutOption = Path("var/outbox"),
) -> None:
    """Charges for social protection (formats §4.2) answering a loaded beneficiaries list."""
    from hub.exports import ExportError, export_szn_reply

    try:
        f = export_szn_reply(_engine(), reply_to, out_dir)
    except (ExportError, ValueError) as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc
    _print_exports([f], f"Ответ УСЗН на {reply_to}")


# standalone entry point: python -m hub.ingest.cli ingest … | export …
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
app.command("ingest")(ingest)
app.add_typer(export_app, name="export")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
