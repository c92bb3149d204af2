//! An operator's overrides: drain, pin, freeze, force and restore.
//!
//! An override names targets and routes by id, which only mean something for the params
//! they were read from: one built for another config (stale after a reload, or out of
//! range) is refused whole, before anything changes, and is not logged as applied.

use super::Router;
use crate::id::TargetId;
use crate::overrides::{Override, OverrideError, Overrides, Scope};
use crate::rng::Rng;
use crate::telemetry::EventKind;
use crate::time::Instant;

impl<R: Rng> Router<R> {
    /// Applies an operator's override and logs it; refuses, changing nothing, one that is
    /// not for this router ([`Override::check`]: an id out of range, a pin outside its
    /// route).
    pub fn apply(&mut self, command: Override, now: Instant) -> Result<(), OverrideError> {
        // Every index below is in range once this holds: the overrides and health vectors
        // are as long as the params' targets and routes.
        command.check(&self.params)?;
        let o = &mut self.overrides;
        match command {
            Override::Drain(t) => o.drained[t.index()] = true,
            Override::Pin(r, t) => o.pinned[r.index()] = Some(t),
            Override::Freeze(Some(r)) => o.frozen[r.index()] = true,
            Override::Freeze(None) => o.frozen.iter_mut().for_each(|f| *f = true),
            Override::Force(t, mode) => self.health[t.index()].breaker.force(mode),
            Override::Restore(scope) => self.restore(scope),
        }
        self.telemetry
            .events
            .push(now, EventKind::Override(command));
        Ok(())
    }

    fn restore(&mut self, scope: Scope) {
        let restore_target = |router: &mut Self, t: TargetId| {
            router.overrides.drained[t.index()] = false;
            let h = &mut router.health[t.index()];
            h.breaker.restore();
            h.limits.unpark();
        };
        match scope {
            Scope::Target(t) => restore_target(self, t),
            Scope::Route(r) => {
                self.overrides.pinned[r.index()] = None;
                self.overrides.frozen[r.index()] = false;
            }
            Scope::All => {
                for i in 0..self.params.targets.len() {
                    restore_target(self, TargetId::new(i as u32));
                }
                self.overrides =
                    Overrides::new(self.params.targets.len(), self.params.routes.len());
            }
        }
    }
}
