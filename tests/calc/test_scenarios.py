"""Every scenario of tests/scenarios passes on both engines, and the two engines agree column by column."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.calc.scenario import ScenarioError, check_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))

#: One scenario per worked example of the domain spec.
WORKED_EXAMPLES = [
    "1a",
    "1b",
    "1c",
    "1d",
    "1e",
    "1f",
    "1g",
    "1h",
    "1i",
    "1j",
    "1k",
    "2_1",
    "2_2",
    "2_3",
    "3a",
    "3b",
    "3c",
    "3d",
    "3e",
    "4a",
    "4b",
    "4c",
    "4d",
    "4e",
    "4f",
    "5a",
    "5b",
    "5c",
    "5d",
    "5e",
    "6a",
    "6b",
]


def test_every_worked_example_has_a_scenario() -> None:
    stems = [f.stem for f in FILES]
    missing = [ex for ex in WORKED_EXAMPLES if not any(s.startswith(ex + "_") for s in stems)]
    assert not missing


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_scenario_passes_on_both_engines(path: Path) -> None:
    result = check_scenario(path, engine="both")
    assert result.ok, result.report()
    assert result.checks > 0


@pytest.mark.parametrize("engine", ["rust", "python"])
def test_single_engine(engine: str) -> None:
    result = check_scenario(SCENARIOS / "5a_split_period.yaml", engine=engine)
    assert result.ok, result.report()
    assert result.engines == (engine,)


def test_a_wrong_expectation_gives_a_readable_diff(tmp_path: Path) -> None:
    text = (SCENARIOS / "1a_cold_water_meter.yaml").read_text(encoding="utf-8").replace("410.42", "410.41")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    result = check_scenario(bad, engine="both")
    assert not result.ok
    report = result.report()
    assert "amount ожидалось 410.41, rust дал 410.42" in report
    assert "amount ожидалось 410.41, python дал 410.42" in report


def test_malformed_scenarios_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ncharges:\n  - {period: 2025-04, method: meter, tariff: 1.123456}\n", encoding="utf-8"
    )
    with pytest.raises(ScenarioError, match="more decimals"):
        check_scenario(bad)
    bad.write_text("name: x\nbogus: 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="unknown top-level"):
        check_scenario(bad)
    bad.write_text("name: x\ncharges:\n  - {method: meter, tarif: 1}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="unknown fields"):
        check_scenario(bad)


def test_cli_sub_app(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hub.calc.cli import scenario_app

    runner = CliRunner()
    ok = runner.invoke(
        scenario_app, ["check", str(SCENARIOS / "1a_cold_water_meter.yaml"), "--engine", "both"]
    )
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (SCENARIOS / "1a_cold_water_meter.yaml").read_text(encoding="utf-8").replace("410.42", "1.00"),
        encoding="utf-8",
    )
    res = runner.invoke(scenario_app, ["check", str(bad), "-e", "python"])
    assert res.exit_code == 1
    assert "ожидалось 1.00, python дал 410.42" in res.output
