//! unipay-core: the pure Rust rules of the settlement center (no Python here).
//!
//! Money is integer kopecks (`i64`); every split adds up to the kopeck.

pub mod split;
