//! Distributions for latency, token rates and reply lengths.
//!
//! Written in profiles as one of:
//!
//! ```yaml
//! fixed: 300ms
//! uniform: { min: 100ms, max: 900ms }
//! normal: { mean: 80, stddev: 10 }          # clamped at zero
//! lognormal: { p50: 400ms, p99: 3s }        # the realistic long tail
//! empirical: [[50, 300ms], [90, 800ms], [99, 2s], [100, 10s]]   # percentile, value
//! ```
//!
//! Values are durations for latencies and plain numbers for rates and lengths; the same
//! sampling code serves both through [`Scalar`].

use serde::Deserialize;
use switchyard_core::rng::Rng;
use switchyard_core::time::Duration;

/// A value a distribution can be written in (a duration, or a number).
pub trait Scalar: Copy {
    fn to_f64(self) -> f64;
}

impl Scalar for Duration {
    fn to_f64(self) -> f64 {
        self.as_secs_f64()
    }
}

impl Scalar for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(
    try_from = "DistributionFields<T>",
    bound(deserialize = "T: Deserialize<'de> + Clone")
)]
pub enum DistributionConfig<T> {
    Fixed(T),
    Uniform { min: T, max: T },
    Normal { mean: T, stddev: T },
    Lognormal { p50: T, p99: T },
    Empirical(Vec<(f64, T)>),
}

/// The written form: a map with exactly one of these keys.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DistributionFields<T> {
    fixed: Option<T>,
    uniform: Option<MinMax<T>>,
    normal: Option<MeanStddev<T>>,
    lognormal: Option<P50P99<T>>,
    empirical: Option<Vec<(f64, T)>>,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinMax<T> {
    min: T,
    max: T,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeanStddev<T> {
    mean: T,
    stddev: T,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct P50P99<T> {
    p50: T,
    p99: T,
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for DistributionConfig<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Distribution_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        DistributionFields::<T>::json_schema(generator)
    }
}

impl<T> TryFrom<DistributionFields<T>> for DistributionConfig<T> {
    type Error = String;

    fn try_from(f: DistributionFields<T>) -> Result<Self, String> {
        let mut found = Vec::new();
        if let Some(v) = f.fixed {
            found.push(DistributionConfig::Fixed(v));
        }
        if let Some(MinMax { min, max }) = f.uniform {
            found.push(DistributionConfig::Uniform { min, max });
        }
        if let Some(MeanStddev { mean, stddev }) = f.normal {
            found.push(DistributionConfig::Normal { mean, stddev });
        }
        if let Some(P50P99 { p50, p99 }) = f.lognormal {
            found.push(DistributionConfig::Lognormal { p50, p99 });
        }
        if let Some(points) = f.empirical {
            found.push(DistributionConfig::Empirical(points));
        }
        match (found.pop(), found.is_empty()) {
            (Some(d), true) => Ok(d),
            _ => {
                Err("write exactly one of fixed, uniform, normal, lognormal, empirical".to_owned())
            }
        }
    }
}

/// A validated distribution over non-negative reals (seconds, for durations).
#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    Fixed(f64),
    Uniform {
        min: f64,
        max: f64,
    },
    Normal {
        mean: f64,
        stddev: f64,
    },
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// (quantile in 0..=1, value), sorted, first at 0 and last at 1.
    Empirical(Vec<(f64, f64)>),
}

/// z of the 99th percentile of the standard normal.
const Z99: f64 = 2.326_347_874;

impl<T: Scalar> DistributionConfig<T> {
    /// Validates; the error says what is wrong (the caller adds where).
    pub fn resolve(&self) -> Result<Distribution, String> {
        let check = |v: f64, what: &str| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(format!("{what} must be zero or more, not {v}"))
            }
        };
        Ok(match self {
            DistributionConfig::Fixed(v) => Distribution::Fixed(check(v.to_f64(), "the value")?),
            DistributionConfig::Uniform { min, max } => {
                let (min, max) = (check(min.to_f64(), "min")?, check(max.to_f64(), "max")?);
                if max < min {
                    return Err(format!("max ({max}) is below min ({min})"));
                }
                Distribution::Uniform { min, max }
            }
            DistributionConfig::Normal { mean, stddev } => Distribution::Normal {
                mean: check(mean.to_f64(), "mean")?,
                stddev: check(stddev.to_f64(), "stddev")?,
            },
            DistributionConfig::Lognormal { p50, p99 } => {
                let (p50, p99) = (check(p50.to_f64(), "p50")?, check(p99.to_f64(), "p99")?);
                if p50 <= 0.0 {
                    return Err("p50 must be more than zero".to_owned());
                }
                if p99 < p50 {
                    return Err(format!("p99 ({p99}) is below p50 ({p50})"));
                }
                Distribution::LogNormal {
                    mu: p50.ln(),
                    sigma: (p99.ln() - p50.ln()) / Z99,
                }
            }
            DistributionConfig::Empirical(points) => {
                if points.is_empty() {
                    return Err(
                        "an empirical distribution needs at least one [percentile, value]"
                            .to_owned(),
                    );
                }
                let mut out: Vec<(f64, f64)> = Vec::with_capacity(points.len() + 2);
                for &(p, v) in points {
                    if !(0.0..=100.0).contains(&p) {
                        return Err(format!("percentile {p} is not between 0 and 100"));
                    }
                    let v = check(v.to_f64(), "a value")?;
                    if let Some(&(lp, lv)) = out.last()
                        && (p * 0.01 <= lp || v < lv)
                    {
                        return Err("percentiles and values must both increase".to_owned());
                    }
                    out.push((p * 0.01, v));
                }
                if out[0].0 > 0.0 {
                    out.insert(0, (0.0, out[0].1));
                }
                if let Some(&(lp, lv)) = out.last()
                    && lp < 1.0
                {
                    out.push((1.0, lv));
                }
                Distribution::Empirical(out)
            }
        })
    }
}

impl Distribution {
    /// One draw, never negative.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let v = match self {
            Distribution::Fixed(v) => *v,
            Distribution::Uniform { min, max } => min + (max - min) * rng.next_f64(),
            Distribution::Normal { mean, stddev } => mean + stddev * rng.standard_normal(),
            Distribution::LogNormal { mu, sigma } => (mu + sigma * rng.standard_normal()).exp(),
            Distribution::Empirical(points) => {
                let u = rng.next_f64();
                let i = points
                    .partition_point(|&(q, _)| q <= u)
                    .clamp(1, points.len() - 1);
                let ((q0, v0), (q1, v1)) = (points[i - 1], points[i]);
                if q1 > q0 {
                    v0 + (v1 - v0) * (u - q0) / (q1 - q0)
                } else {
                    v1
                }
            }
        };
        v.max(0.0)
    }

    /// A draw as a duration (the distribution is in seconds).
    pub fn sample_duration(&self, rng: &mut Rng) -> Duration {
        Duration::from_secs_f64(self.sample(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantile(d: &Distribution, q: f64) -> f64 {
        let mut rng = Rng::new(11);
        let mut xs: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        xs[((xs.len() as f64) * q) as usize]
    }

    #[test]
    fn lognormal_hits_its_percentiles() {
        let d = DistributionConfig::Lognormal {
            p50: Duration::from_millis(400),
            p99: Duration::from_secs(2),
        }
        .resolve()
        .unwrap();
        let p50 = quantile(&d, 0.5);
        let p99 = quantile(&d, 0.99);
        assert!((0.38..0.42).contains(&p50), "p50 {p50}");
        assert!((1.8..2.2).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn empirical_interpolates() {
        let d = DistributionConfig::Empirical(vec![(50.0, 1.0), (90.0, 5.0), (100.0, 10.0)])
            .resolve()
            .unwrap();
        assert!(
            (quantile(&d, 0.25) - 1.0).abs() < 0.01,
            "below the first point: its value"
        );
        assert!((quantile(&d, 0.7) - 3.0).abs() < 0.1);
        assert!(quantile(&d, 0.999) <= 10.0);
    }

    #[test]
    fn uniform_normal_fixed() {
        let u = DistributionConfig::Uniform {
            min: 10.0,
            max: 20.0,
        }
        .resolve()
        .unwrap();
        assert!((quantile(&u, 0.5) - 15.0).abs() < 0.3);
        let n = DistributionConfig::Normal {
            mean: 1.0,
            stddev: 5.0,
        }
        .resolve()
        .unwrap();
        assert!(quantile(&n, 0.01) >= 0.0, "clamped at zero");
        assert_eq!(
            DistributionConfig::Fixed(3.0)
                .resolve()
                .unwrap()
                .sample(&mut Rng::new(1)),
            3.0
        );
    }

    #[test]
    fn bad_distributions_say_why() {
        assert!(
            DistributionConfig::Uniform { min: 5.0, max: 1.0 }
                .resolve()
                .unwrap_err()
                .contains("below min")
        );
        assert!(
            DistributionConfig::Lognormal { p50: 2.0, p99: 1.0 }
                .resolve()
                .unwrap_err()
                .contains("below p50")
        );
        assert!(
            DistributionConfig::Fixed(-1.0)
                .resolve()
                .unwrap_err()
                .contains("zero or more")
        );
        assert!(
            DistributionConfig::<f64>::Empirical(vec![])
                .resolve()
                .is_err()
        );
        assert!(
            DistributionConfig::Empirical(vec![(90.0, 1.0), (50.0, 2.0)])
                .resolve()
                .is_err()
        );
    }
}
