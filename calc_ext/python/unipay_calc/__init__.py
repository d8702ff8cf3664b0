"""unipay_calc: the Rust charge and split engine, as a Python package (arrays in, arrays out).

Use it through ``hub.calc.engine``, which normalizes batches and fills defaults.
"""

from unipay_calc._native import (
    absence_recalc,
    aging,
    compute_benefits,
    compute_charges,
    compute_penalties,
    provider_balances,
    reductions,
    saldo,
    split_capped,
    split_largest_remainder,
    split_payments,
    transfers,
    version,
)

__all__ = [
    "absence_recalc",
    "aging",
    "compute_benefits",
    "compute_charges",
    "compute_penalties",
    "provider_balances",
    "reductions",
    "saldo",
    "split_capped",
    "split_largest_remainder",
    "split_payments",
    "transfers",
    "version",
]
