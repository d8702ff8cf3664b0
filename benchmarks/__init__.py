"""Engine benchmarks: the Rust engine against Polars, DuckDB, pandas and the Python reference, on data
drawn from the synthetic city, and the store-to-store monthly run on SQLite and PostgreSQL.

Run ``python -m benchmarks`` (``--quick`` for small sizes, ``--only NAME`` for one benchmark); results
go to ``benchmarks/results.json`` and docs/performance.md (section "Engine benchmarks") explains them.
"""
