//! Kopeck-exact splitting of a sum by weights (largest remainder / Hamilton, domain §5.3).

/// Split `total` kopecks among items in proportion to `weights`.
///
/// Negative weights count as zero. Leftover kopecks go one each to the items with the largest
/// fractional parts; ties go to the lower index. If every weight is zero, all goes to nothing
/// and the result is all zeros except when `total` is zero.
pub fn largest_remainder(total: i64, weights: &[i64]) -> Vec<i64> {
    let w: Vec<i128> = weights.iter().map(|&x| x.max(0) as i128).collect();
    let sum: i128 = w.iter().sum();
    if sum == 0 || weights.is_empty() {
        return vec![0; weights.len()];
    }
    let t = total as i128;
    let mut parts: Vec<i64> = Vec::with_capacity(w.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(w.len());
    for (i, &wi) in w.iter().enumerate() {
        let num = t * wi;
        let q = num.div_euclid(sum);
        let r = num.rem_euclid(sum);
        parts.push(q as i64);
        rems.push((r, i));
    }
    let given: i64 = parts.iter().sum();
    let mut left = total - given;
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut k = 0;
    while left > 0 {
        parts[rems[k % rems.len()].1] += 1;
        left -= 1;
        k += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_5a() {
        let parts = largest_remainder(100_000, &[156_113, 255_382, 41_042, 52_984, 139_140]);
        assert_eq!(parts, vec![24_216, 39_615, 6_367, 8_219, 21_583]);
    }

    #[test]
    fn example_5b() {
        assert_eq!(largest_remainder(10_000, &[1, 1, 1]), vec![3_334, 3_333, 3_333]);
    }
}
