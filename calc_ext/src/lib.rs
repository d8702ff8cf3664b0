//! Thin PyO3 layer over `unipay-core`: dicts of int64 NumPy arrays in, dicts of arrays out.
//!
//! No per-row Python calls: columns are borrowed as slices, the GIL is released (`py.detach`)
//! while the core computes, and results are moved into new NumPy arrays.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use unipay_core::{CalcError, Output, Table};

type Cols<'py> = Vec<(String, PyReadonlyArray1<'py, i64>)>;

fn err(e: CalcError) -> PyErr {
    match e {
        CalcError::Input(_) => PyValueError::new_err(e.to_string()),
        CalcError::Overflow(_) => PyOverflowError::new_err(e.to_string()),
    }
}

/// Borrow every entry of a dict as a read-only int64 array (TypeError for other dtypes).
fn read<'py>(d: &Bound<'py, PyDict>) -> PyResult<Cols<'py>> {
    d.iter()
        .map(|(k, v)| {
            Ok((
                k.extract::<String>()?,
                v.extract::<PyReadonlyArray1<'py, i64>>()?,
            ))
        })
        .collect()
}

/// Columns as a core [`Table`] (arrays must be C-contiguous).
fn table<'a>(cols: &'a Cols<'_>) -> PyResult<Table<'a>> {
    let mut t = Table::new();
    for (name, arr) in cols {
        t.add(name, arr.as_slice()?).map_err(err)?;
    }
    Ok(t)
}

fn to_dict<'py>(py: Python<'py>, out: Output) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, v) in out {
        d.set_item(name, v.into_pyarray(py))?;
    }
    Ok(d)
}

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

/// Largest remainder with a cap per item (iterates while a cap binds).
#[pyfunction]
fn split_capped<'py>(
    py: Python<'py>,
    total: i64,
    weights: PyReadonlyArray1<'py, i64>,
    caps: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (w, c) = (weights.as_slice()?, caps.as_slice()?);
    if w.len() != c.len() {
        return Err(PyValueError::new_err("weights and caps differ in length"));
    }
    let parts = py.detach(|| unipay_core::split::largest_remainder_capped(total, w, c));
    Ok(parts.into_pyarray(py))
}

/// §1 charge lines of a normalized charges batch.
#[pyfunction]
fn compute_charges<'py>(
    py: Python<'py>,
    cols: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let c = read(cols)?;
    let t = table(&c)?;
    let out = py
        .detach(|| unipay_core::charges::compute(&t))
        .map_err(err)?;
    to_dict(py, out)
}

/// §5.2 allocations of payments to debts, accounts on `threads` threads (0 = all cores).
#[pyfunction]
#[pyo3(signature = (debts, payments, designations, threads=0))]
fn split_payments<'py>(
    py: Python<'py>,
    debts: &Bound<'py, PyDict>,
    payments: &Bound<'py, PyDict>,
    designations: &Bound<'py, PyDict>,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let (d, p, g) = (read(debts)?, read(payments)?, read(designations)?);
    let (td, tp, tg) = (table(&d)?, table(&p)?, table(&g)?);
    let out = py
        .detach(|| unipay_core::split::allocate_par(&td, &tp, &tg, threads))
        .map_err(err)?;
    to_dict(py, out)
}

/// §4 penalties of debt months at `calc_date` (day number).
#[pyfunction]
fn compute_penalties<'py>(
    py: Python<'py>,
    debts: &Bound<'py, PyDict>,
    paid: &Bound<'py, PyDict>,
    key_rates: &Bound<'py, PyDict>,
    regimes: &Bound<'py, PyDict>,
    calc_date: i64,
) -> PyResult<Bound<'py, PyDict>> {
    let (d, p, k, r) = (read(debts)?, read(paid)?, read(key_rates)?, read(regimes)?);
    let (td, tp, tk, tr) = (table(&d)?, table(&p)?, table(&k)?, table(&r)?);
    let out = py
        .detach(|| unipay_core::penalties::compute(&td, &tp, &tk, &tr, calc_date))
        .map_err(err)?;
    to_dict(py, out)
}

/// §3 reductions for poor quality.
#[pyfunction]
fn reductions<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyDict>,
    rules: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let (e, r) = (read(events)?, read(rules)?);
    let (te, tr) = (table(&e)?, table(&r)?);
    let out = py
        .detach(|| unipay_core::quality::compute(&te, &tr))
        .map_err(err)?;
    to_dict(py, out)
}

/// §1.5 benefits.
#[pyfunction]
fn compute_benefits<'py>(
    py: Python<'py>,
    cols: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let c = read(cols)?;
    let t = table(&c)?;
    let out = py
        .detach(|| unipay_core::benefits::compute(&t))
        .map_err(err)?;
    to_dict(py, out)
}

/// §2.1 temporary-absence recalculation.
#[pyfunction]
fn absence_recalc<'py>(py: Python<'py>, cols: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
    let c = read(cols)?;
    let t = table(&c)?;
    let out = py
        .detach(|| unipay_core::absence::compute(&t))
        .map_err(err)?;
    to_dict(py, out)
}

/// §5.4 commission split and transfer registry lines.
#[pyfunction]
fn transfers<'py>(
    py: Python<'py>,
    allocations: &Bound<'py, PyDict>,
    payments: &Bound<'py, PyDict>,
    fees: &Bound<'py, PyDict>,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let (a, p, f) = (read(allocations)?, read(payments)?, read(fees)?);
    let (ta, tp, tf) = (table(&a)?, table(&p)?, table(&f)?);
    let (per_alloc, lines) = py
        .detach(|| unipay_core::settlement::transfers(&ta, &tp, &tf))
        .map_err(err)?;
    Ok((to_dict(py, per_alloc)?, to_dict(py, lines)?))
}

/// §5.4 provider balances.
#[pyfunction]
fn provider_balances<'py>(
    py: Python<'py>,
    cols: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let c = read(cols)?;
    let t = table(&c)?;
    let out = py
        .detach(|| unipay_core::settlement::balances(&t))
        .map_err(err)?;
    to_dict(py, out)
}

/// §6 saldo per account × service.
#[pyfunction]
fn saldo<'py>(py: Python<'py>, cols: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
    let c = read(cols)?;
    let t = table(&c)?;
    let out = py.detach(|| unipay_core::saldo::saldo(&t)).map_err(err)?;
    to_dict(py, out)
}

/// §6 debt aging at `as_of` (day number).
#[pyfunction]
fn aging<'py>(
    py: Python<'py>,
    cols: &Bound<'py, PyDict>,
    as_of: i64,
) -> PyResult<Bound<'py, PyDict>> {
    let c = read(cols)?;
    let t = table(&c)?;
    let out = py
        .detach(|| unipay_core::saldo::aging(&t, as_of))
        .map_err(err)?;
    to_dict(py, out)
}

/// §1 charge lines on several threads (the fused kernel; same numbers as `compute_charges`).
#[pyfunction]
#[pyo3(signature = (cols, threads=0))]
fn compute_charges_par<'py>(
    py: Python<'py>,
    cols: &Bound<'py, PyDict>,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let c = read(cols)?;
    let t = table(&c)?;
    let out = py
        .detach(|| unipay_core::kernel::compute_charges(&t, threads))
        .map_err(err)?;
    to_dict(py, out)
}

/// Meter/norm/area lines + largest-remainder payment split + provider totals in one pass.
#[pyfunction]
#[pyo3(signature = (lines, payments, period, threads=0))]
fn core_run<'py>(
    py: Python<'py>,
    lines: &Bound<'py, PyDict>,
    payments: &Bound<'py, PyDict>,
    period: i64,
    threads: usize,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let (l, p) = (read(lines)?, read(payments)?);
    let (tl, tp) = (table(&l)?, table(&p)?);
    let (per_line, per_provider) = py
        .detach(|| unipay_core::kernel::core_run(&tl, &tp, period, threads))
        .map_err(err)?;
    Ok((to_dict(py, per_line)?, to_dict(py, per_provider)?))
}

/// The engine's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(split_largest_remainder, m)?)?;
    m.add_function(wrap_pyfunction!(split_capped, m)?)?;
    m.add_function(wrap_pyfunction!(compute_charges, m)?)?;
    m.add_function(wrap_pyfunction!(split_payments, m)?)?;
    m.add_function(wrap_pyfunction!(compute_penalties, m)?)?;
    m.add_function(wrap_pyfunction!(reductions, m)?)?;
    m.add_function(wrap_pyfunction!(compute_benefits, m)?)?;
    m.add_function(wrap_pyfunction!(absence_recalc, m)?)?;
    m.add_function(wrap_pyfunction!(transfers, m)?)?;
    m.add_function(wrap_pyfunction!(provider_balances, m)?)?;
    m.add_function(wrap_pyfunction!(saldo, m)?)?;
    m.add_function(wrap_pyfunction!(aging, m)?)?;
    m.add_function(wrap_pyfunction!(compute_charges_par, m)?)?;
    m.add_function(wrap_pyfunction!(core_run, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
