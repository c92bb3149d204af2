//! Log lines for what happens to the routing: breaker transitions, overrides, parking, alerts,
//! cost caps, panic bypasses (the core's events, `telemetry.events`) and key revocations
//! (the credential store's key events).
//!
//! The core never logs: it records events, and the gateway reads the ones it has not logged
//! yet when a request finishes, after an admin action and before a reload swaps the router.
//! The core's event log is bounded; once it is full its events are counted, not kept, and a
//! warning line says how many were not logged.
//!
//! Lines carry names (targets, routes, providers, key *sources* such as `env:OPENAI_API_KEY`),
//! never a key.

use switchyard_core::id::{RouteId, TargetId};
use switchyard_core::overrides::{Override, Scope};
use switchyard_core::router::Router as CoreRouter;
use switchyard_core::telemetry::{Event, EventKind};
use switchyard_live::Driver;

/// How far the current router's events have been logged.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    /// Core events logged (an index into the event log).
    events: usize,
    /// Events dropped by the core's full log, already reported.
    dropped: u64,
    /// Key events logged (`CredentialStore::events_recorded` when last looked).
    key_events: u64,
}

/// One line to write, built under the core's lock and written after it: a short message and
/// the event's fields, each its own field of the line (absent ones are left out), so a
/// reader of the text or JSON log can filter on them. The target is `target_name`: a JSON
/// line's `target` is the tracing target (`switchyard::router`).
#[derive(Default)]
struct Line {
    kind: &'static str,
    warn: bool,
    message: &'static str,
    target_name: Option<String>,
    route: Option<String>,
    action: Option<&'static str>,
    from: Option<&'static str>,
    to: Option<&'static str>,
    reason: Option<&'static str>,
    mode: Option<&'static str>,
    for_secs: Option<f64>,
    raised: Option<bool>,
    spent_usd: Option<f64>,
}

/// Writes `line` at `level` (`info` or `warn`), each field by name.
macro_rules! emit {
    ($level:ident, $line:expr) => {{
        let l = $line;
        tracing::$level!(
            target: "switchyard::router",
            event = l.kind,
            target_name = l.target_name.as_deref(),
            route = l.route.as_deref(),
            action = l.action,
            from = l.from,
            to = l.to,
            reason = l.reason,
            mode = l.mode,
            for_secs = l.for_secs,
            raised = l.raised,
            spent_usd = l.spent_usd,
            "{}",
            l.message
        )
    }};
}

/// Logs the router's events and key events since `cursor`, and moves it.
pub(crate) fn log_new(router: &Driver, cursor: &mut Cursor) {
    let (lines, dropped) = router.inspect(|core| {
        let events = core.telemetry().events.events();
        let new = events.get(cursor.events..).unwrap_or_default();
        cursor.events = events.len();
        let lines: Vec<Line> = new.iter().map(|e| describe(core, e)).collect();
        (lines, core.telemetry().events.dropped())
    });
    for line in &lines {
        if line.warn {
            emit!(warn, line);
        } else {
            emit!(info, line);
        }
    }
    if dropped > cursor.dropped {
        tracing::warn!(
            target: "switchyard::router",
            event = "events_dropped",
            count = dropped - cursor.dropped,
            "the router's event log is full; these events were not logged"
        );
        cursor.dropped = dropped;
    }
    log_key_events(router, cursor);
}

fn log_key_events(router: &Driver, cursor: &mut Cursor) {
    let store = router.credentials();
    // Checked first: most requests see no key event.
    if store.events_recorded() == cursor.key_events {
        return;
    }
    let (recorded, events) = store.events_after(cursor.key_events);
    cursor.key_events = recorded;
    for e in &events {
        // Only revocations and re-probes: `in use` is said for every key at its first use.
        let Some(cool_off) = e.cool_off_secs else {
            if e.what.starts_with("cool-off") {
                tracing::info!(
                    target: "switchyard::keys",
                    event = "key_reprobe",
                    provider = %e.provider,
                    source = %e.source,
                    "{}", e.what
                );
            }
            continue;
        };
        tracing::warn!(
            target: "switchyard::keys",
            event = "key_revoked",
            provider = %e.provider,
            source = %e.source,
            cool_off_secs = cool_off,
            "{}", e.what
        );
    }
}

fn describe(core: &CoreRouter, event: &Event) -> Line {
    let params = core.params();
    let t = |id: TargetId| {
        params
            .targets
            .get(id.index())
            .map_or("?", |t| t.name.as_str())
    };
    let r = |id: RouteId| {
        params
            .routes
            .get(id.index())
            .map_or("?", |r| r.name.as_str())
    };
    describe_named(event, &t, &r)
}

/// `event`'s line, targets and routes named by `t` and `r`.
fn describe_named<'a>(
    event: &Event,
    t: &dyn Fn(TargetId) -> &'a str,
    r: &dyn Fn(RouteId) -> &'a str,
) -> Line {
    let kind = &event.kind;
    let name = |id| Some(t(id).to_owned());
    let line = match *kind {
        EventKind::Breaker {
            target,
            from,
            to,
            reason,
            mode,
        } => Line {
            warn: matches!(to, switchyard_core::health::BreakerState::Open { .. }),
            message: "breaker moved",
            target_name: name(target),
            from: Some(from.label()),
            to: Some(to.label()),
            reason: Some(reason.label()),
            mode: Some(mode.label()),
            ..Line::default()
        },
        EventKind::Parked { target, until } => Line {
            message: "target parked",
            target_name: name(target),
            for_secs: Some(millis(until.saturating_since(event.at).as_secs_f64())),
            ..Line::default()
        },
        EventKind::BudgetExhausted { route } => Line {
            warn: true,
            message: "retry budget spent",
            route: Some(route.map_or("(unrouted)", r).to_owned()),
            ..Line::default()
        },
        EventKind::PanicBypass { route } => Line {
            warn: true,
            message: "panic bypass",
            route: Some(r(route).to_owned()),
            ..Line::default()
        },
        EventKind::Override(o) => describe_override(&o, t, r),
        EventKind::Alert { target, raised, .. } => Line {
            warn: raised,
            message: if raised {
                "alert raised"
            } else {
                "alert cleared"
            },
            target_name: name(target),
            raised: Some(raised),
            ..Line::default()
        },
        EventKind::CostCapSpent { target, spent_usd } => Line {
            warn: true,
            message: "cost cap spent",
            target_name: name(target),
            spent_usd: Some((spent_usd * 1e4).round() / 1e4),
            ..Line::default()
        },
    };
    Line {
        kind: kind.label(),
        ..line
    }
}

/// `secs` rounded to the millisecond.
fn millis(secs: f64) -> f64 {
    (secs * 1e3).round() / 1e3
}

fn describe_override<'a>(
    o: &Override,
    t: &dyn Fn(TargetId) -> &'a str,
    r: &dyn Fn(RouteId) -> &'a str,
) -> Line {
    let target = |x| Some(t(x).to_owned());
    let route = |x| Some(r(x).to_owned());
    let (action, target_name, route, mode) = match *o {
        Override::Drain(x) => ("drain", target(x), None, None),
        Override::Pin(on, x) => ("pin", target(x), route(on), None),
        Override::Freeze(Some(on)) => ("freeze", None, route(on), None),
        // Every route: no `route` field (nor a target).
        Override::Freeze(None) => ("freeze", None, None, None),
        Override::Force(x, mode) => ("force", target(x), None, Some(mode.label())),
        Override::Restore(Scope::Target(x)) => ("restore", target(x), None, None),
        Override::Restore(Scope::Route(on)) => ("restore", None, route(on), None),
        Override::Restore(Scope::All) => ("restore", None, None, None),
    };
    Line {
        message: "override applied",
        action: Some(action),
        target_name,
        route,
        mode,
        ..Line::default()
    }
}

#[cfg(test)]
mod tests {
    use super::{Line, describe_named};
    use switchyard_core::id::{RouteId, TargetId};
    use switchyard_core::telemetry::alert::Evidence;
    use switchyard_core::telemetry::{Event, EventKind};
    use switchyard_core::time::{Duration, Instant};

    fn line(kind: EventKind) -> Line {
        let event = Event {
            at: Instant::ZERO,
            kind,
        };
        describe_named(&event, &|_: TargetId| "ta", &|_: RouteId| "chat")
    }

    /// The kinds the gateway tests do not meet (breakers, overrides and parking are in
    /// `tests/ops.rs` and `tests/log_text.rs`): each says what it is about in its own fields.
    #[test]
    fn every_event_kind_puts_its_data_in_fields() {
        let alert = line(EventKind::Alert {
            target: TargetId::new(0),
            raised: true,
            evidence: Evidence {
                recent: Duration::from_millis(900),
                baseline: None,
                peers: None,
            },
        });
        assert_eq!(
            (
                alert.kind,
                alert.warn,
                alert.target_name.as_deref(),
                alert.raised
            ),
            ("alert", true, Some("ta"), Some(true))
        );
        let spent = line(EventKind::CostCapSpent {
            target: TargetId::new(0),
            spent_usd: 1.234_567,
        });
        assert_eq!(
            (spent.kind, spent.target_name.as_deref(), spent.spent_usd),
            ("cost_cap_spent", Some("ta"), Some(1.2346))
        );
        let budget = line(EventKind::BudgetExhausted {
            route: Some(RouteId::new(0)),
        });
        assert_eq!(
            (budget.kind, budget.warn, budget.route.as_deref()),
            ("budget_exhausted", true, Some("chat"))
        );
        let bypass = line(EventKind::PanicBypass {
            route: RouteId::new(0),
        });
        assert_eq!(
            (bypass.kind, bypass.route.as_deref(), bypass.target_name),
            ("panic_bypass", Some("chat"), None)
        );
    }
}
