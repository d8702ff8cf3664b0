"""Typer sub-app ``scenario`` for the unipay CLI: ``unipay scenario check FILE.yaml --engine both``.

Mount it in the main CLI with ``app.add_typer(scenario_app, name="scenario")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.calc.scenario import ScenarioError, check_scenario

scenario_app = typer.Typer(help="Сценарии расчёта: проверка ожидаемых строк на движках rust/python.")


@scenario_app.callback()
def _group() -> None:
    """Сценарии расчёта (YAML): см. docs/scenarios.md."""


@scenario_app.command("check")
def check(
    files: Annotated[list[Path], typer.Argument(help="YAML-файлы сценариев (или каталоги)", exists=True)],
    engine: Annotated[str, typer.Option("--engine", "-e", help="rust, python или both")] = "both",
) -> None:
    """Проверить сценарии; код выхода 1, если есть расхождения."""
    if engine not in ("rust", "python", "both"):
        raise typer.BadParameter("допустимо: rust, python, both", param_hint="--engine")
    paths: list[Path] = []
    for f in files:
        paths.extend(sorted(f.glob("*.yaml")) if f.is_dir() else [f])
    failed = 0
    for path in paths:
        try:
            result = check_scenario(path, engine=engine)
        except (ScenarioError, ValueError, OverflowError) as exc:
            typer.echo(f"{path}: ошибка сценария: {exc}", err=True)
            failed += 1
            continue
        typer.echo(result.report())
        failed += 0 if result.ok else 1
    typer.echo(f"Итого: {len(paths) - failed} из {len(paths)} сценариев пройдено")
    if failed:
        raise typer.Exit(code=1)
