//! Exact rationals on `i128` and ROUND_HALF_UP rounding.

use std::cmp::Ordering;
use std::fmt;

/// Errors of the engine: bad input or an intermediate value beyond `i128`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalcError {
    /// Inconsistent or missing input.
    Input(String),
    /// An intermediate product overflowed `i128` (inputs far outside realistic ranges).
    Overflow(String),
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalcError::Input(m) => write!(f, "invalid input: {m}"),
            CalcError::Overflow(m) => write!(f, "arithmetic overflow: {m}"),
        }
    }
}

impl std::error::Error for CalcError {}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

fn ovf() -> CalcError {
    CalcError::Overflow("rational arithmetic".into())
}

/// An exact rational `n / d` with `d > 0`.
///
/// Products are taken directly (fast path) and only reduced by the gcd when a product would overflow
/// `i128`, so the value is exact but not necessarily in lowest terms; compare with [`Q::cmp_q`].
#[derive(Debug, Clone, Copy)]
pub struct Q {
    pub n: i128,
    pub d: i128,
}

impl Q {
    /// `n / d` (`d` must not be zero).
    pub fn new(n: i128, d: i128) -> Result<Q, CalcError> {
        if d == 0 {
            return Err(CalcError::Input("division by zero".into()));
        }
        Ok(if d < 0 {
            Q { n: -n, d: -d }
        } else {
            Q { n, d }
        })
    }

    /// An integer.
    pub fn int(n: i64) -> Q {
        Q { n: n as i128, d: 1 }
    }

    /// A scaled integer: `value / scale`.
    pub fn scaled(value: i64, scale: i64) -> Result<Q, CalcError> {
        Q::new(value as i128, scale as i128)
    }

    /// The same value in lowest terms.
    pub fn reduced(self) -> Q {
        let g = gcd(self.n, self.d).max(1);
        Q {
            n: self.n / g,
            d: self.d / g,
        }
    }

    /// True when the value is exactly 1.
    pub fn is_one(self) -> bool {
        self.n == self.d
    }

    /// Exact product.
    pub fn mul_q(self, o: Q) -> Result<Q, CalcError> {
        if let (Some(n), Some(d)) = (self.n.checked_mul(o.n), self.d.checked_mul(o.d)) {
            return Ok(Q { n, d });
        }
        let (a, b) = (self.reduced(), o.reduced());
        let g1 = gcd(a.n, b.d).max(1);
        let g2 = gcd(b.n, a.d).max(1);
        let n = (a.n / g1).checked_mul(b.n / g2).ok_or_else(ovf)?;
        let d = (a.d / g2).checked_mul(b.d / g1).ok_or_else(ovf)?;
        Ok(Q { n, d })
    }

    /// Exact quotient (`o` must not be zero).
    pub fn div_q(self, o: Q) -> Result<Q, CalcError> {
        if o.n == 0 {
            return Err(CalcError::Input("division by zero".into()));
        }
        self.mul_q(Q::new(o.d, o.n)?)
    }

    /// Exact sum.
    pub fn add_q(self, o: Q) -> Result<Q, CalcError> {
        if self.d == o.d {
            if let Some(n) = self.n.checked_add(o.n) {
                return Ok(Q { n, d: self.d });
            }
        }
        let (a, b) = (self.reduced(), o.reduced());
        let g = gcd(a.d, b.d).max(1);
        let x = a.n.checked_mul(b.d / g).ok_or_else(ovf)?;
        let y = b.n.checked_mul(a.d / g).ok_or_else(ovf)?;
        let d = (a.d / g).checked_mul(b.d).ok_or_else(ovf)?;
        Ok(Q {
            n: x.checked_add(y).ok_or_else(ovf)?,
            d,
        })
    }

    /// Exact difference.
    pub fn sub_q(self, o: Q) -> Result<Q, CalcError> {
        self.add_q(Q { n: -o.n, d: o.d })
    }

    /// Compare two rationals.
    pub fn cmp_q(self, o: Q) -> Result<Ordering, CalcError> {
        if let (Some(a), Some(b)) = (self.n.checked_mul(o.d), o.n.checked_mul(self.d)) {
            return Ok(a.cmp(&b));
        }
        let (x, y) = (self.reduced(), o.reduced());
        let a = x.n.checked_mul(y.d).ok_or_else(ovf)?;
        let b = y.n.checked_mul(x.d).ok_or_else(ovf)?;
        Ok(a.cmp(&b))
    }

    /// The smaller of two rationals.
    pub fn min(self, o: Q) -> Result<Q, CalcError> {
        Ok(if self.cmp_q(o)? == Ordering::Greater {
            o
        } else {
            self
        })
    }

    /// The larger of two rationals.
    pub fn max(self, o: Q) -> Result<Q, CalcError> {
        Ok(if self.cmp_q(o)? == Ordering::Less {
            o
        } else {
            self
        })
    }

    /// Round half away from zero to an integer.
    pub fn round_half_up(self) -> Result<i64, CalcError> {
        round_half_up(self.n, self.d).or_else(|_| {
            let r = self.reduced();
            round_half_up(r.n, r.d)
        })
    }

    /// `round_half_up(self × scale)` — e.g. rubles to kopecks with `scale = 100`.
    pub fn round_scaled(self, scale: i64) -> Result<i64, CalcError> {
        self.mul_q(Q::int(scale))?.round_half_up()
    }
}

/// `num / den` (den > 0) rounded half away from zero, as Decimal ROUND_HALF_UP.
pub fn round_half_up(num: i128, den: i128) -> Result<i64, CalcError> {
    if den <= 0 {
        return Err(CalcError::Input("non-positive denominator".into()));
    }
    let a = num.unsigned_abs();
    let d = den as u128;
    let r = (a.checked_mul(2).ok_or_else(ovf)? + d) / (2 * d);
    let r = i64::try_from(r).map_err(|_| ovf())?;
    Ok(if num < 0 { -r } else { r })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_half_up(5, 10).unwrap(), 1);
        assert_eq!(round_half_up(-5, 10).unwrap(), -1);
        assert_eq!(round_half_up(4, 10).unwrap(), 0);
        assert_eq!(round_half_up(-15, 10).unwrap(), -2);
    }

    #[test]
    fn rationals_are_exact() {
        let third = Q::new(1, 3).unwrap();
        let x = third.mul_q(Q::int(3)).unwrap();
        assert!(x.is_one());
        let y = third.add_q(third).unwrap().sub_q(third).unwrap();
        assert_eq!(y.cmp_q(third).unwrap(), Ordering::Equal);
        // overflow of the fast path falls back to reduced arithmetic
        let big = Q::new(1 << 100, 1 << 100).unwrap();
        assert!(big.mul_q(big).unwrap().is_one());
    }
}
