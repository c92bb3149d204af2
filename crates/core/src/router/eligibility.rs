//! Which members of a route may take the next attempt of a plan.
//!
//! Checks, cheapest and most absolute first: unfit (the target's dialect cannot express the
//! request); drained; capabilities and context window
//! (including a larger window after `context_length_exceeded`); excluded by a non-retryable
//! outcome of this request; pinned or frozen routes (the operator's word, which skips every
//! automatic check below); not yet tried (fresh pass only); parked by a rate limit, or (retry
//! pass) inside the Retry-After its last error on this request carried; room in
//! the client-side buckets (and, in a fleet, the leases of the shared ones); and last the
//! breaker (in a fleet, a half-open probe needs the shared probe token). A continuation of a broken stream (resume
//! pass) takes only members with `prefill` whose stream has not broken and whose
//! continuation has not failed in this request. Members blocked only by their breaker are
//! remembered, so panic mode can bypass the breakers; members skipped only by a recovering
//! breaker's ramp are remembered, so a ramp never leaves a request with no target at all.

use super::{PanicMode, Router};
use crate::health::TargetHealth;
use crate::health::{Admission, BreakerMode};
use crate::id::{RouteId, TargetId};
use crate::plan::Plan;
use crate::request::Capabilities;
use crate::rng::{Rng, chance};
use crate::telemetry::{EventKind, Telemetry};
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pass {
    /// Only targets this request has not tried.
    Fresh,
    /// Targets tried before count too (after a backoff).
    Retry,
    /// A continuation of a broken stream: members with `prefill` whose stream has not broken
    /// and whose continuation has not failed in this request.
    Resume,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Choice {
    pub mask: u64,
    /// Members that would be admitted as half-open probes.
    pub probes: u64,
    /// The earliest time a member skipped for being parked unparks.
    pub unparks_at: Option<Instant>,
}

impl<R: Rng> Router<R> {
    pub(super) fn eligible(
        &mut self,
        plan: &Plan,
        route: RouteId,
        now: Instant,
        pass: Pass,
    ) -> Choice {
        let r = &self.params.routes[route.index()];
        let frozen = self.overrides.is_frozen(route);
        let pinned = self.overrides.pin(route);
        let first = plan.first_target();
        let mut choice = Choice::default();
        let mut ramp_skipped = 0u64;
        let mut breaker_blocked = 0u64;
        for (m, &tid) in r.members.iter().enumerate() {
            let bit = 1u64 << m;
            let t = &self.params.targets[tid.index()];
            if !self.could_hold(plan, tid)
                || self.overrides.is_drained(tid)
                || self.over_cost_cap(tid, now)
                || pinned.is_some_and(|p| p != tid)
                || plan.pin.is_some_and(|p| p != tid)
                || (frozen && first.is_some_and(|f| f != tid))
                || (pass == Pass::Fresh && plan.tried(tid))
                || (pass == Pass::Resume
                    && (!t.capabilities.contains(Capabilities::PREFILL)
                        || plan.spent_for_resume(tid)))
            {
                continue;
            }
            if pinned.is_some() || frozen {
                choice.mask |= bit;
                continue;
            }
            let h = &mut self.health[tid.index()];
            poll_breaker(h, &mut self.telemetry, tid, now);
            let parked = h.limits.is_parked(now).then(|| h.limits.parked_until());
            // A retry on the same target waits for the Retry-After its error carried.
            let retry_at = match pass {
                Pass::Retry | Pass::Resume => plan.not_before(tid).filter(|&t| t > now),
                Pass::Fresh => None,
            };
            if let Some(until) = parked.max(retry_at) {
                choice.unparks_at = Some(choice.unparks_at.map_or(until, |u| u.min(until)));
                continue;
            }
            let tokens = plan.request_tokens(t);
            if !h.limits.has_room(now, tokens)
                || self
                    .fleet
                    .as_mut()
                    .is_some_and(|f| !f.has_room(tid.index(), tokens, now))
            {
                continue;
            }
            match h.breaker.admission(now) {
                // An operator's `forced_open` admits nothing, panic or not.
                Admission::Denied if h.breaker.mode() == BreakerMode::ForcedOpen => {}
                Admission::Denied => breaker_blocked |= bit,
                // In a fleet, only the holder of the shared probe token probes.
                Admission::Probe
                    if self
                        .fleet
                        .as_ref()
                        .is_some_and(|f| !f.may_probe(tid.index(), now)) =>
                {
                    breaker_blocked |= bit;
                }
                Admission::Probe => {
                    choice.mask |= bit;
                    choice.probes |= bit;
                }
                Admission::Allowed { share } if chance(&mut self.rng, share) => {
                    choice.mask |= bit;
                }
                Admission::Allowed { .. } => ramp_skipped |= bit,
            }
        }
        if choice.mask == 0 {
            choice.mask = ramp_skipped;
        }
        self.bypass_if_panicking(&mut choice, breaker_blocked, route, now, pass);
        choice
    }

    /// Panic mode: with every member blocked by its breaker alone, `bypass` lets them all
    /// through (not one an operator forced open: those are not counted as blocked). Entering it is logged once (on fresh passes).
    fn bypass_if_panicking(
        &mut self,
        choice: &mut Choice,
        breaker_blocked: u64,
        route: RouteId,
        now: Instant,
        pass: Pass,
    ) {
        let panicking =
            choice.mask == 0 && breaker_blocked != 0 && self.params.panic_mode == PanicMode::Bypass;
        if panicking {
            choice.mask = breaker_blocked;
        }
        if panicking != self.panicking[route.index()] && pass == Pass::Fresh {
            self.panicking[route.index()] = panicking;
            if panicking {
                self.telemetry
                    .events
                    .push(now, EventKind::PanicBypass { route });
            }
        }
    }
}

/// Applies the target's breaker transitions that are due (logged).
fn poll_breaker(h: &mut TargetHealth, telemetry: &mut Telemetry, tid: TargetId, now: Instant) {
    // At most two transitions can be due at once (a lease expired, then its cooldown).
    for _ in 0..3 {
        let Some(tr) = h.breaker.poll(now) else {
            break;
        };
        let mode = h.breaker.mode();
        telemetry.events.push(
            now,
            EventKind::Breaker {
                target: tid,
                from: tr.from,
                to: tr.to,
                reason: tr.reason,
                mode,
            },
        );
    }
}
