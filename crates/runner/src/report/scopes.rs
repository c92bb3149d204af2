//! The report's figures by scope: the whole run, each route, each class and each phase
//! (from the collector), and each provider (from its targets' telemetry).

use std::collections::BTreeMap;

use switchyard_core::outcome::ErrorKind;
use switchyard_core::router::Router;

use super::{PhaseReport, ProviderReport, secs};
use crate::results::{BucketReport, Collector, TargetReport, round6};
use crate::scenario::ScenarioParams;

/// The collector's figures as the report shows them, by scope.
pub(super) struct Scopes {
    pub(super) totals: BucketReport,
    pub(super) routes: BTreeMap<String, BucketReport>,
    pub(super) classes: BTreeMap<String, BucketReport>,
    pub(super) phases: Vec<PhaseReport>,
}

impl Scopes {
    /// Rates over the run's duration (each phase's over its own), `names` naming the targets.
    pub(super) fn of(
        s: &ScenarioParams,
        collector: &Collector,
        router: &Router,
        names: &[String],
    ) -> Scopes {
        let span = s.duration.as_secs_f64();
        let totals = BucketReport::of(collector.scope(None, None, None), names, span);
        let routes = router
            .params()
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.name.clone(),
                    BucketReport::of(collector.scope(Some(i), None, None), names, span),
                )
            })
            .collect();
        let classes = s
            .traffic
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    c.name.clone(),
                    BucketReport::of(collector.scope(None, Some(i), None), names, span),
                )
            })
            .collect();
        let phases = s
            .phases
            .iter()
            .enumerate()
            .map(|(i, ph)| PhaseReport {
                name: ph.name.clone(),
                from_secs: secs(ph.from),
                to_secs: secs(ph.to),
                figures: BucketReport::of(
                    collector.scope(None, None, Some(i)),
                    names,
                    ph.to.saturating_since(ph.from).as_secs_f64(),
                ),
            })
            .collect();
        Scopes {
            totals,
            routes,
            classes,
            phases,
        }
    }
}

impl Scopes {
    /// Through a black box, which target served and the attempts are not observed: they
    /// are left out (empty), and attempts per request is 0 (`black_box.not_observed`).
    pub(super) fn not_observed_through_a_black_box(&mut self) {
        let buckets = std::iter::once(&mut self.totals)
            .chain(self.routes.values_mut())
            .chain(self.classes.values_mut())
            .chain(self.phases.iter_mut().map(|p| &mut p.figures));
        for b in buckets {
            b.served_by.clear();
            b.attempts_by_target.clear();
            b.attempts_per_request = 0.0;
        }
    }
}

/// Each provider's figures: its targets' summed, its availability from the error kinds that
/// count against availability (the router's `availability.counts`, as for its targets).
pub(super) fn providers(
    p: &switchyard_core::router::RouterParams,
    tel: &switchyard_core::telemetry::Telemetry,
    targets: &[TargetReport],
) -> Vec<ProviderReport> {
    p.providers
        .names()
        .map(|name| {
            let mine: Vec<&TargetReport> = targets.iter().filter(|t| t.provider == name).collect();
            let attempts: u64 = mine.iter().map(|t| t.attempts).sum();
            let successes: u64 = mine.iter().map(|t| t.successes).sum();
            let errors: u64 = mine.iter().map(|t| t.errors.values().sum::<u64>()).sum();
            // Its targets' successes and errors by kind, summed: availability as the core
            // defines it for one target, with the router's `availability.counts`.
            let mut by_kind = [0u64; ErrorKind::COUNT];
            let mut finished_ok = 0u64;
            for (_, st) in p
                .targets
                .iter()
                .zip(&tel.targets)
                .filter(|(t, _)| p.providers.name(t.provider.index() as u32) == name)
            {
                finished_ok = finished_ok.saturating_add(st.successes);
                for (sum, n) in by_kind.iter_mut().zip(&st.errors) {
                    *sum = sum.saturating_add(*n);
                }
            }
            let availability = switchyard_core::telemetry::availability(
                finished_ok,
                &by_kind,
                &tel.availability_kinds,
            );
            ProviderReport {
                name: name.to_owned(),
                attempts,
                successes,
                errors,
                availability: availability.map(round6),
                exact_availability: availability,
                cost_usd: round6(
                    mine.iter()
                        .map(|t| t.cost_success_usd + t.cost_failed_usd)
                        .sum(),
                ),
                wasted_cost_usd: round6(mine.iter().map(|t| t.cost_failed_usd).sum()),
            }
        })
        .collect()
}
