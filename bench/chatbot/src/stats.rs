//! Percentiles of a sample, as the report shows them.

use serde::Serialize;

/// Count, median, 99th percentile and maximum of a sample, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Values in the sample.
    pub n: usize,
    /// Median (`None` for an empty sample).
    pub p50: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (the Python driver uses the same rule).
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            // The rank is within 0..len by construction.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let rank = ((q * values.len() as f64) as usize).min(values.len() - 1);
            values[rank]
        };
        Self {
            n: values.len(),
            p50: Some(at(0.50)),
            p99: Some(at(0.99)),
            max: values.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_like_the_python_driver() {
        let p = Percentiles::of((1..=200).rev().map(f64::from).collect());
        assert_eq!(p.n, 200);
        assert_eq!(p.p50, Some(101.0));
        assert_eq!(p.p99, Some(199.0));
        assert_eq!(p.max, Some(200.0));
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
        assert_eq!(Percentiles::of(vec![7.0]).p99, Some(7.0));
    }
}
