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
//!
//! Uniform, normal and log-normal draws are `rand`'s and `rand_distr`'s; only the empirical
//! (piecewise-linear inverse CDF) is written here. Sampling takes any [`Rng`], so a caller
//! may pass its own generator; the fakes pass their seeded substream.

use rand::RngExt as _;
use rand_distr::{Distribution as _, LogNormal, Normal, Uniform};
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
    /// Always this value.
    fixed: Option<T>,
    /// Uniform between `min` and `max`.
    uniform: Option<MinMax<T>>,
    /// Normal with this mean and standard deviation (a negative draw counts as 0).
    normal: Option<MeanStddev<T>>,
    /// Log-normal with this median and 99th percentile.
    lognormal: Option<P50P99<T>>,
    /// `[percentile, value]` pairs, both increasing (percentiles 0 to 100): the value at
    /// each percentile, linear between them.
    empirical: Option<Vec<(f64, T)>>,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinMax<T> {
    /// The smallest value.
    min: T,
    /// The largest value.
    max: T,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeanStddev<T> {
    /// The mean.
    mean: T,
    /// The standard deviation.
    stddev: T,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct P50P99<T> {
    /// The median.
    p50: T,
    /// The 99th percentile.
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
    /// One draw, never negative. The parameters [`DistributionConfig::resolve`] accepts are
    /// all ones `rand_distr` samples; a hand-built distribution it would refuse (a non-finite
    /// bound or deviation, an inverted range) gives a fixed stand-in instead of
    /// panicking: the range's lower end, the mean, `exp(mu)`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let v = match *self {
            Distribution::Fixed(v) => v,
            Distribution::Uniform { min, max } => {
                Uniform::new_inclusive(min, max).map_or(min, |d| d.sample(rng))
            }
            Distribution::Normal { mean, stddev } => {
                Normal::new(mean, stddev).map_or(mean, |d| d.sample(rng))
            }
            Distribution::LogNormal { mu, sigma } => {
                LogNormal::new(mu, sigma).map_or(mu.exp(), |d| d.sample(rng))
            }
            Distribution::Empirical(ref points) => {
                let u: f64 = rng.random();
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
    pub fn sample_duration<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        Duration::from_secs_f64(self.sample(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::rng::SeededRng;

    fn quantile(d: &Distribution, q: f64) -> f64 {
        let mut rng = SeededRng::new(11);
        let mut xs: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        xs[((xs.len() as f64) * q) as usize]
    }

    #[test]
    fn draws_are_pinned() {
        // Literal first draws of one seeded substream: a change to rand_distr's or rand's
        // algorithms (which would change every report) fails here. Compared to 1e-12 relative,
        // not bit for bit: the normal tails and `exp` go through the platform's libm, which may
        // differ in the last bit between platforms; an algorithm change moves them far more.
        let mut rng = SeededRng::substream(42, "provider/openai");
        let cases = [
            (
                Distribution::Uniform { min: 1.0, max: 3.0 },
                [
                    1.978_708_796_275_512,
                    1.822_784_539_120_129_2,
                    2.287_191_653_188_259,
                ],
            ),
            (
                Distribution::Normal {
                    mean: 80.0,
                    stddev: 15.0,
                },
                [
                    76.919_224_954_380_71,
                    62.435_212_270_216_596,
                    58.486_910_639_435_045,
                ],
            ),
            (
                Distribution::LogNormal {
                    mu: 0.4f64.ln(),
                    sigma: 0.7,
                },
                [
                    0.606_512_280_448_391_1,
                    1.225_449_357_933_464,
                    0.217_438_921_992_604_48,
                ],
            ),
            (
                Distribution::Empirical(vec![(0.0, 1.0), (1.0, 2.0)]),
                [
                    1.616_581_567_581_367_3,
                    1.016_023_361_296_705_3,
                    1.706_401_332_461_776_6,
                ],
            ),
        ];
        for (d, want) in cases {
            for w in want {
                let got = d.sample(&mut rng);
                assert!((got - w).abs() <= w.abs() * 1e-12, "{d:?}: {got} != {w}");
            }
        }
    }

    #[test]
    fn hand_built_distributions_rand_refuses_do_not_panic() {
        let mut rng = SeededRng::new(1);
        let inverted = Distribution::Uniform { min: 5.0, max: 1.0 };
        assert_eq!(inverted.sample(&mut rng), 5.0, "the lower end");
        let infinite = Distribution::LogNormal {
            mu: 0.0,
            sigma: f64::INFINITY,
        };
        assert_eq!(infinite.sample(&mut rng), 1.0, "exp(mu)");
        let nan = Distribution::Normal {
            mean: 2.0,
            stddev: f64::NAN,
        };
        assert_eq!(nan.sample(&mut rng), 2.0, "the mean");
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
                .sample(&mut SeededRng::new(1)),
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
