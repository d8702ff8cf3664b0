"""Columnar batch schemas of the engine API (docs/calc.md lists them with units).

Each schema maps a column name to its default (``REQUIRED`` = must be given). All columns are int64
after normalization: scaled integers (see :mod:`hub.calc.units`), periods ``YYYYMM``, dates as days
since 1970-01-01 (``numpy.datetime64[D]`` and ``datetime.date`` are accepted and converted), flags 0/1.
Unknown columns are kept and passed through to the output where the function says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np

REQUIRED = object()

CHARGES: dict[str, Any] = {
    "account_id": 0,
    "service_id": 0,
    "provider_id": 0,
    "component": 0,
    "period": REQUIRED,
    "method": REQUIRED,
    "tariff_x4": REQUIRED,
    "reading_prev_x6": 0,
    "reading_curr_x6": 0,
    "volume_x6": 0,
    "norm_x6": 0,
    "person_days": 0,
    "area_x4": 0,
    "total_area_x4": 0,
    "common_area_x4": 0,
    "house_volume_x6": 0,
    "indiv_volume_x6": 0,
    "has_house_meter": 1,
    "soi_by_actual": 0,
    "soi_allow_negative": 0,
    "coef_x4": 10_000,
    "share_num": 1,
    "share_den": 1,
    "hist_volume_x6": 0,
    "hist_months": 0,
    "missing_seq": 0,
    "meter_failed": 0,
}
CHARGES_PASSTHROUGH = (
    "account_id",
    "service_id",
    "provider_id",
    "component",
    "period",
    "method",
    "tariff_x4",
    "norm_x6",
    "person_days",
    "area_x4",
    "share_num",
    "share_den",
)

DEBTS: dict[str, Any] = {
    "account_id": REQUIRED,
    "period": REQUIRED,
    "service_id": REQUIRED,
    "provider_id": 0,
    "kind": 0,
    "unpaid_kop": REQUIRED,
    "charge_kop": 0,
    "order": None,  # order defaults to service_id
}
PAYMENTS: dict[str, Any] = {
    "payment_id": REQUIRED,
    "account_id": REQUIRED,
    "amount_kop": REQUIRED,
    "pay_date": 0,
    "period": 0,
    "current_period": 0,
    "penalty_kop": -1,
    "commission_kop": 0,
}
DESIGNATIONS: dict[str, Any] = {"payment_id": REQUIRED, "service_id": REQUIRED, "amount_kop": REQUIRED}

PENALTY_DEBTS: dict[str, Any] = {
    "account_id": 0,
    "service_id": 0,
    "provider_id": 0,
    "period": REQUIRED,
    "amount_kop": REQUIRED,
    "capital_repair": 0,
    "due_date": None,
    "posted_kop": 0,  # due_date defaults from period (§4.1)
}
PENALTY_PAID: dict[str, Any] = {"debt_row": REQUIRED, "pay_date": REQUIRED, "amount_kop": REQUIRED}
KEY_RATES: dict[str, Any] = {"date_from": REQUIRED, "rate_bp": REQUIRED}
REGIMES: dict[str, Any] = {"kind": REQUIRED, "date_from": REQUIRED, "date_to": REQUIRED, "value": 0}

QUALITY_EVENTS: dict[str, Any] = {
    "account_id": 0,
    "service_id": 0,
    "period": REQUIRED,
    "rule_code": REQUIRED,
    "charge_kop": REQUIRED,
    "duration_min": REQUIRED,
    "norm_temp_dc": 0,
    "temp_dc": 0,
    "night": 0,
}
QUALITY_RULES: dict[str, Any] = {
    "code": REQUIRED,
    "kind": REQUIRED,
    "allowed_min": 0,
    "rate_ppm": REQUIRED,
    "step_dc": 0,
    "dev_day_dc": 0,
    "dev_night_dc": 0,
}
BENEFITS: dict[str, Any] = {
    "account_id": 0,
    "service_id": 0,
    "period": REQUIRED,
    "charge_kop": REQUIRED,
    "share_bp": REQUIRED,
    "covered": 1,
    "registered": 1,
    "active_days": None,  # active_days defaults to the days of the period
}
ABSENCE: dict[str, Any] = {
    "account_id": 0,
    "service_id": 0,
    "period": REQUIRED,
    "norm_x6": REQUIRED,
    "tariff_x4": REQUIRED,
    "coef_x4": 10_000,
    "persons": 1,
    "depart_date": REQUIRED,
    "return_date": REQUIRED,
    "eligible": 1,
}
ALLOCATIONS: dict[str, Any] = {"payment_id": REQUIRED, "provider_id": REQUIRED, "amount_kop": REQUIRED}
FEES: dict[str, Any] = {"provider_id": REQUIRED, "fee_ppm": REQUIRED}
BALANCES: dict[str, Any] = {
    "provider_id": 0,
    "opening_kop": 0,
    "collected_kop": 0,
    "commission_kop": 0,
    "fee_kop": 0,
    "transferred_kop": 0,
}
SALDO: dict[str, Any] = {
    "account_id": REQUIRED,
    "service_id": REQUIRED,
    "period": REQUIRED,
    "opening_kop": 0,
    "charged_kop": 0,
    "recalc_kop": 0,
    "paid_kop": 0,
    "correction_kop": 0,
}
AGING: dict[str, Any] = {
    "account_id": REQUIRED,
    "service_id": REQUIRED,
    "period": REQUIRED,
    "charged_kop": REQUIRED,
    "credit_kop": 0,
    "due_date": None,
}


def to_int64(name: str, values: Any, n: int | None = None) -> np.ndarray:
    """One column as a contiguous int64 array; dates become day numbers; floats are refused."""
    if isinstance(values, (int, np.integer, bool, np.bool_, dt.date)):
        values = [values] * (n or 0)
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype == object and arr.size and isinstance(arr.flat[0], dt.date):
        arr = arr.astype("datetime64[D]")
    if np.issubdtype(arr.dtype, np.datetime64):
        arr = arr.astype("datetime64[D]").astype(np.int64)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"column {name!r} must be integer (scaled fixed point), got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)


def as_columns(batch: Any) -> dict[str, Any]:
    """A mapping of columns from a dict, a pyarrow Table/RecordBatch or a pandas DataFrame."""
    if batch is None:
        return {}
    if hasattr(batch, "column_names") and hasattr(batch, "column"):  # pyarrow
        return {name: batch.column(name).to_numpy(zero_copy_only=False) for name in batch.column_names}
    if hasattr(batch, "columns") and hasattr(batch, "__getitem__") and not isinstance(batch, Mapping):
        return {str(c): batch[c] for c in batch.columns}  # pandas / polars
    return dict(batch)


def normalize(batch: Any, schema: Mapping[str, Any], what: str) -> dict[str, np.ndarray]:
    """Columns of ``schema`` as int64 arrays of one length, defaults filled (``None`` defaults stay
    missing for the caller to derive); extra columns are kept as given."""
    cols = as_columns(batch)
    lengths = {
        len(np.asarray(v).reshape(-1))
        for v in cols.values()
        if not np.isscalar(v) and not isinstance(v, dt.date)
    }
    if len(lengths) > 1:
        raise ValueError(f"{what}: columns have different lengths {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    out: dict[str, np.ndarray] = {}
    for name, default in schema.items():
        if name in cols:
            out[name] = to_int64(name, cols[name], n)
        elif default is REQUIRED:
            raise ValueError(f"{what}: required column {name!r} is missing")
        elif default is not None:
            out[name] = np.full(n, default, dtype=np.int64)
    for name, values in cols.items():
        if name not in out and name not in schema:
            out[name] = np.asarray(values)
    return out
