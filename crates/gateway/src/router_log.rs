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

/// One line to write, built under the core's lock and written after it.
struct Line {
    kind: &'static str,
    warn: bool,
    fields: String,
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
            tracing::warn!(target: "switchyard::router", event = line.kind, "{}", line.fields);
        } else {
            tracing::info!(target: "switchyard::router", event = line.kind, "{}", line.fields);
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
    let kind = &event.kind;
    let params = core.params();
    let t = |id: switchyard_core::id::TargetId| {
        params
            .targets
            .get(id.index())
            .map_or("?", |t| t.name.as_str())
    };
    let r = |id: switchyard_core::id::RouteId| {
        params
            .routes
            .get(id.index())
            .map_or("?", |r| r.name.as_str())
    };
    let (warn, fields) = match *kind {
        EventKind::Breaker {
            target,
            from,
            to,
            reason,
            mode,
        } => (
            matches!(to, switchyard_core::health::BreakerState::Open { .. }),
            format!(
                "target={} from={} to={} reason={} mode={}",
                t(target),
                from.label(),
                to.label(),
                reason.label(),
                mode.label()
            ),
        ),
        EventKind::Parked { target, until } => (
            false,
            format!(
                "target={} for_secs={:.3}",
                t(target),
                until.saturating_since(event.at).as_secs_f64()
            ),
        ),
        EventKind::BudgetExhausted { route } => {
            (true, format!("route={}", route.map_or("(unrouted)", r)))
        }
        EventKind::PanicBypass { route } => (true, format!("route={}", r(route))),
        EventKind::Override(o) => (false, describe_override(&o, &t, &r)),
        EventKind::Alert { target, raised, .. } => {
            (raised, format!("target={} raised={raised}", t(target)))
        }
        EventKind::CostCapSpent { target, spent_usd } => (
            true,
            format!("target={} spent_usd={spent_usd:.4}", t(target)),
        ),
    };
    Line {
        kind: kind.label(),
        warn,
        fields,
    }
}

fn describe_override<'a>(
    o: &Override,
    t: &dyn Fn(switchyard_core::id::TargetId) -> &'a str,
    r: &dyn Fn(switchyard_core::id::RouteId) -> &'a str,
) -> String {
    match *o {
        Override::Drain(x) => format!("action=drain target={}", t(x)),
        Override::Pin(route, x) => format!("action=pin route={} target={}", r(route), t(x)),
        Override::Freeze(Some(route)) => format!("action=freeze route={}", r(route)),
        Override::Freeze(None) => "action=freeze route=all".to_owned(),
        Override::Force(x, mode) => format!("action=force target={} mode={}", t(x), mode.label()),
        Override::Restore(Scope::Target(x)) => format!("action=restore target={}", t(x)),
        Override::Restore(Scope::Route(route)) => format!("action=restore route={}", r(route)),
        Override::Restore(Scope::All) => "action=restore scope=all".to_owned(),
    }
}
