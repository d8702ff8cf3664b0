//! Thin PyO3 layer over `unipay-core`: arrays in, arrays out, no per-row Python calls.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

/// Split `total` kopecks by `weights` (largest remainder); returns an int64 array.
#[pyfunction]
fn split_largest_remainder<'py>(
    py: Python<'py>,
    total: i64,
    weights: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let w = weights.as_slice()?;
    let parts = py.detach(|| unipay_core::split::largest_remainder(total, w));
    Ok(parts.into_pyarray(py))
}

/// The engine's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(split_largest_remainder, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
