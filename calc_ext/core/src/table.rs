//! Columnar input/output: named `i64` columns of equal length.

use crate::num::CalcError;
use std::collections::HashMap;

/// Named input columns borrowed from the caller (NumPy arrays, vectors in tests).
#[derive(Default, Clone)]
pub struct Table<'a> {
    cols: HashMap<String, &'a [i64]>,
    len: usize,
}

impl<'a> Table<'a> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a column; all columns must have the same length.
    pub fn with(mut self, name: &str, values: &'a [i64]) -> Result<Self, CalcError> {
        self.add(name, values)?;
        Ok(self)
    }

    /// Add a column in place.
    pub fn add(&mut self, name: &str, values: &'a [i64]) -> Result<(), CalcError> {
        if self.cols.is_empty() {
            self.len = values.len();
        } else if values.len() != self.len {
            return Err(CalcError::Input(format!(
                "column {name} has {} rows, expected {}",
                values.len(),
                self.len
            )));
        }
        self.cols.insert(name.to_string(), values);
        Ok(())
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A required column.
    pub fn get(&self, name: &str) -> Result<&'a [i64], CalcError> {
        self.cols
            .get(name)
            .copied()
            .ok_or_else(|| CalcError::Input(format!("missing column {name}")))
    }
}

/// Named output columns, in a fixed order.
pub type Output = Vec<(&'static str, Vec<i64>)>;

/// Look up an output column by name (tests and callers).
pub fn column<'o>(out: &'o Output, name: &str) -> &'o [i64] {
    out.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}
