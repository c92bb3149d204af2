//! A per-second time series with fixed memory.
//!
//! Points start one second wide. When the run outlasts [`SERIES_SLOTS`] points, neighbouring
//! points merge pairwise and the width doubles, so an hour-long and a week-long run both fit
//! in the same memory while still covering the whole run. Series that are read side by side
//! (every target's) share one width: [`width_for`] says which, and `at` aligns to it.

/// The most points a series holds before it compacts.
pub const SERIES_SLOTS: usize = 512;

/// A point of a series: counters that add up when points merge.
pub trait Point: Default + Clone {
    /// Adds `other`'s counts to `self`: the point that covers both their spans.
    fn merge(&mut self, other: &Self);
}

/// Points of equal width covering the run from its start; an empty point where nothing
/// happened.
#[derive(Clone, Debug)]
pub struct Series<P> {
    width_secs: u64,
    points: Vec<P>,
}

impl<P: Point> Default for Series<P> {
    fn default() -> Self {
        Series {
            width_secs: 1,
            points: Vec::new(),
        }
    }
}

/// The width a set of series needs to hold second `second`, given their current `width`.
pub fn width_for(second: u64, mut width: u64) -> u64 {
    while second / width >= SERIES_SLOTS as u64 {
        width *= 2;
    }
    width
}

impl<P: Point> Series<P> {
    /// The point covering second `second` of the run, at least `width` seconds wide (use
    /// [`width_for`] so that series read together stay aligned).
    pub fn at(&mut self, second: u64, width: u64) -> &mut P {
        let width = width_for(second, width);
        while self.width_secs < width {
            self.compact();
        }
        let index = (second / self.width_secs) as usize;
        if self.points.len() <= index {
            self.points.resize(index + 1, P::default());
        }
        &mut self.points[index]
    }

    fn compact(&mut self) {
        let merged = self
            .points
            .chunks(2)
            .map(|pair| {
                let mut p = pair[0].clone();
                if let Some(q) = pair.get(1) {
                    p.merge(q);
                }
                p
            })
            .collect();
        self.points = merged;
        self.width_secs *= 2;
    }

    /// Seconds each point covers.
    pub fn width_secs(&self) -> u64 {
        self.width_secs
    }

    /// The points, the `i`th covering seconds `i * width_secs` up to `(i + 1) * width_secs`;
    /// they stop at the last point anything was counted in.
    pub fn points(&self) -> &[P] {
        &self.points
    }

    /// The points at `width` seconds each (a series that stopped receiving points before the
    /// others compacted is compacted here to match them).
    pub fn aligned(&self, width: u64) -> Vec<P> {
        let mut copy = self.clone();
        while copy.width_secs < width {
            copy.compact();
        }
        copy.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default, Debug, PartialEq)]
    struct N(u64);
    impl Point for N {
        fn merge(&mut self, other: &Self) {
            self.0 += other.0;
        }
    }

    #[test]
    fn memory_stays_fixed_and_totals_are_kept() {
        let mut s: Series<N> = Series::default();
        let mut width = 1;
        for second in 0..10_000u64 {
            width = width_for(second, width);
            s.at(second, width).0 += 1;
        }
        assert!(s.points().len() <= SERIES_SLOTS);
        assert_eq!(s.width_secs(), 32);
        assert_eq!(s.points().iter().map(|p| p.0).sum::<u64>(), 10_000);
        assert_eq!(s.points()[0], N(32));
        // A series that starts late takes the width of the others.
        let mut late: Series<N> = Series::default();
        late.at(9_000, 32).0 += 1;
        assert_eq!(late.width_secs(), 32);
        assert_eq!(late.points().len(), 9_000 / 32 + 1);
    }
}
