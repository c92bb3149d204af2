//! A target's cost cap: what it spent in the current window, and whether that reached the cap.

use super::Router;
use crate::id::TargetId;
use crate::rng::Rng;
use crate::telemetry::EventKind;
use crate::time::Instant;

impl<R: Rng> Router<R> {
    pub(super) fn spend_cost_cap(&mut self, target: TargetId, cost: f64, now: Instant) {
        let Some(b) = self.params.targets[target.index()].cost_cap else {
            return;
        };
        let window = now.as_nanos() / b.window.as_nanos().max(1);
        let (w, spent) = &mut self.spend[target.index()];
        if *w != window {
            *w = window;
            *spent = 0.0;
        }
        let before = *spent;
        *spent += cost;
        if before < b.usd && *spent >= b.usd {
            let spent_usd = *spent;
            self.telemetry
                .events
                .push(now, EventKind::CostCapSpent { target, spent_usd });
        }
    }

    /// Whether the target spent its cost cap for the current window, by this router's books
    /// or, in a fleet, by a peer's advisory.
    pub(crate) fn over_cost_cap(&self, target: TargetId, now: Instant) -> bool {
        self.spent_cost_cap(target, now)
            || self
                .fleet
                .as_ref()
                .is_some_and(|f| f.cost_cap_spent(target.index(), now))
    }

    /// Until when the target stays over its cost cap ([`Router::over_cost_cap`]): the end of
    /// the current window by this router's books, or a peer's advisory's end, whichever is
    /// later; `now` when it is not over.
    pub(crate) fn cost_cap_until(&self, target: TargetId, now: Instant) -> Instant {
        let own = self.cost_cap_window_end(target, now);
        let peer = self
            .fleet
            .as_ref()
            .and_then(|f| f.cost_cap_spent_end(target.index(), now));
        own.max(peer).unwrap_or(now)
    }

    /// When the target's cost cap window ends, if it spent its cap in this one (by this
    /// router's books).
    pub(super) fn cost_cap_window_end(&self, target: TargetId, now: Instant) -> Option<Instant> {
        let cap = self.params.targets[target.index()].cost_cap?;
        if !self.spent_cost_cap(target, now) {
            return None;
        }
        let len = cap.window.as_nanos().max(1);
        let next = (now.as_nanos() / len).saturating_add(1).saturating_mul(len);
        Some(Instant::from_nanos(next))
    }

    /// Whether this router's own books say the target spent its cost cap in this window.
    pub(super) fn spent_cost_cap(&self, target: TargetId, now: Instant) -> bool {
        let Some(b) = self.params.targets[target.index()].cost_cap else {
            return false;
        };
        let window = now.as_nanos() / b.window.as_nanos().max(1);
        let (w, spent) = self.spend[target.index()];
        w == window && spent >= b.usd
    }
}
