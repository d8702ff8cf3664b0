"""unipay_calc: the Rust charge and split engine, as a Python package (arrays in, arrays out)."""

from unipay_calc._native import split_largest_remainder, version

__all__ = ["split_largest_remainder", "version"]
