"""Shared helpers for the partner-format tests: sample files and hypothesis settings."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings

DATA = Path(__file__).resolve().parent.parent / "data" / "formats"

BANK_SAMPLE = "6234000011_40702810900000001234_14032025_001.txt"
POST_SAMPLE = "POST_390000_20250315_001.txt"
SZN_BEN_SAMPLE = "SZN_BEN_0612_202503_001.xml"
SZN_CHG_SAMPLE = "SZN_CHG_0612_202503_001.xml"
LEGACY_SAMPLE = "LEGACY_KVPL_202503.zip"
TRANSFER_SAMPLE = "TRANSF_6227000292_20250317_001.txt"
DEBTS_SAMPLE = "6234000011_40702810900000001234_001_0325.txt"

# used as a decorator; no example database is written into the repository
PROPERTY = settings(
    database=None, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)


def sample_path(name: str) -> Path:
    return DATA / name


def sample_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def codes(problems) -> list[str]:  # type: ignore[no-untyped-def]
    """Error codes (F001…) of a list of problems."""
    return [p.code.code for p in problems]
