"""unipay calculation engine: charges, recalculations, penalties, payment splits, transfers, saldo.

Two engines implement the same rules (domain spec §0–§6):

* the Python reference (modules of this package, ``decimal.Decimal``, one function per rule) — the oracle;
* the Rust engine (``unipay_calc``, crate ``unipay-core``) — the default, columnar and fast.

Use :mod:`hub.calc.engine` for the common columnar API; :mod:`hub.calc.scenario` checks YAML scenarios.
"""
