//! The requests `/metrics` would otherwise not count: those to a `/v1/` endpoint that never
//! reached the router, so that no route books them in `switchyard_requests_total`. A request
//! refused by the gateway itself (no or a wrong client key, a client key over its rate, a
//! bad `x-switchyard-task`, a body too large, too slow or not valid, a shed request), one
//! whose client left before its body was read, a `model` that names no route or target, and
//! the `/v1/models` endpoints: every access line whose `route` is `-`, counted by its
//! `status` and `result`. With `switchyard_requests_total`, every access line is counted once.
//!
//! Counted when the line is written ([`crate::access_log`]); a request booked on a route
//! costs nothing more here (the line's route is checked, nothing else).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// The series' name.
pub(crate) const SERIES: &str = "switchyard_gateway_unrouted_requests_total";

/// Its `# HELP` text, as docs/GATEWAY.md's metrics table gives it.
pub(crate) const HELP: &str = "Requests to a /v1/ endpoint that no route booked (refused by the gateway, left before their body was read, an unknown model, /v1/models), by status and access-log result.";

/// Counts by (`status`, `result`): bounded by the statuses and results the gateway writes
/// (both its own, a fixed set), in a `BTreeMap` so the exposition's order is stable.
#[derive(Debug, Default)]
pub(crate) struct Unrouted(Mutex<BTreeMap<(u16, &'static str), u64>>);

impl Unrouted {
    fn counts(&self) -> std::sync::MutexGuard<'_, BTreeMap<(u16, &'static str), u64>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One more request that no route booked.
    pub(crate) fn count(&self, status: u16, result: &'static str) {
        let mut counts = self.counts();
        let n = counts.entry((status, result)).or_default();
        *n = n.saturating_add(1);
    }

    /// The series in Prometheus text, appended to `out` (its `HELP` and `TYPE` always, a
    /// line per status and result seen).
    pub(crate) fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {SERIES} {HELP}\n# TYPE {SERIES} counter");
        for ((status, result), n) in self.counts().iter() {
            let _ = writeln!(
                out,
                "{SERIES}{{status=\"{status}\",result=\"{result}\"}} {n}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    /// The series is in docs/GATEWAY.md's metrics table, with its help text.
    #[test]
    fn the_unrouted_series_is_documented() {
        let doc = include_str!("../../../docs/GATEWAY.md");
        let metrics = &doc[doc.find("## Metrics").unwrap()..];
        let row = format!("| `{}` | counter | {} |", super::SERIES, super::HELP);
        assert!(metrics.contains(&row), "docs/GATEWAY.md lacks:\n{row}");
    }

    #[test]
    fn counts_render_in_a_stable_order_and_saturate() {
        let u = super::Unrouted::default();
        u.count(401, "refused");
        u.count(400, "refused");
        u.count(401, "refused");
        let mut out = String::new();
        u.render(&mut out);
        let lines: Vec<&str> = out.lines().skip(2).collect();
        assert_eq!(
            lines,
            [
                "switchyard_gateway_unrouted_requests_total{status=\"400\",result=\"refused\"} 1",
                "switchyard_gateway_unrouted_requests_total{status=\"401\",result=\"refused\"} 2",
            ]
        );
        u.counts().insert((499, "client_closed"), u64::MAX);
        u.count(499, "client_closed");
        assert_eq!(u.counts()[&(499, "client_closed")], u64::MAX);
    }
}
