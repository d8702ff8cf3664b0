//! unipay-core: the pure Rust rules of the settlement center (no Python here).
//!
//! Money is integer kopecks (`i64`); quantities are scaled integers (volumes ×10⁶, tariffs and areas
//! ×10⁴, rates in basis points or ppm) and every formula is evaluated as an exact `i128` rational,
//! rounded ROUND_HALF_UP once per line — the same numbers as the Python reference (`hub/calc`).
//!
//! Functions work on columnar [`Table`]s (named `i64` columns) and return named output columns,
//! so the PyO3 layer only moves arrays.

// Columnar loops index several parallel columns by row; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

pub mod absence;
pub mod benefits;
pub mod charges;
pub mod date;
pub mod kernel;
pub mod num;
pub mod penalties;
pub mod quality;
pub mod saldo;
pub mod settlement;
pub mod split;
pub mod table;

pub use num::CalcError;
pub use table::{Output, Table};
