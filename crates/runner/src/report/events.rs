//! The report's events: the router's (breakers, parking, cost caps, alerts, overrides) told
//! in words, and the credential store's key events, in time order.

use switchyard_core::overrides::{Override, Scope};
use switchyard_core::router::RouterParams;
use switchyard_core::telemetry::EventKind;
use switchyard_core::time::Duration;

use super::{EventReport, secs};

/// Every event of the run, router events first among those at the same instant.
pub(super) fn events(
    p: &RouterParams,
    tel: &switchyard_core::telemetry::Telemetry,
    key_events: &[switchyard_sim::KeyEvent],
) -> Vec<EventReport> {
    let mut events: Vec<EventReport> = tel
        .events
        .events()
        .iter()
        .map(|e| {
            let (target, state) = match e.kind {
                EventKind::Breaker { target, to, .. } => {
                    (Some(p.target(target).name.clone()), Some(to.label()))
                }
                EventKind::Alert { target, raised, .. } => {
                    let state = if raised { "alert" } else { "alert_cleared" };
                    (Some(p.target(target).name.clone()), Some(state))
                }
                _ => (None, None),
            };
            EventReport {
                at_secs: secs(e.at),
                kind: e.kind.label(),
                detail: describe(p, &e.kind),
                target,
                state,
            }
        })
        .collect();
    events.extend(key_events.iter().map(|k| EventReport {
        at_secs: secs(k.at),
        kind: "credential",
        detail: format!("{}: key `{}` {}", k.provider, k.key, k.what),
        target: None,
        state: None,
    }));
    // Stable: events at the same instant keep their order (router events first).
    events.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    events
}

/// One router event in words.
fn describe(p: &RouterParams, kind: &EventKind) -> String {
    let t = |id: switchyard_core::id::TargetId| p.target(id).name.clone();
    let r = |id: switchyard_core::id::RouteId| p.route(id).name.clone();
    match *kind {
        EventKind::Breaker {
            target,
            from,
            to,
            reason,
            mode,
        } => {
            let suffix = if mode == switchyard_core::health::BreakerMode::MetricsOnly {
                " (metrics only)"
            } else {
                ""
            };
            format!(
                "{}: {} -> {} ({}){suffix}",
                t(target),
                from.label(),
                to.label(),
                reason.label()
            )
        }
        EventKind::Parked { target, until } => {
            format!("{} parked until {}s", t(target), secs(until))
        }
        EventKind::BudgetExhausted { route } => format!(
            "retry budget exhausted on {}",
            route.map_or("?".to_owned(), r)
        ),
        EventKind::PanicBypass { route } => {
            format!("{}: every target open, breakers bypassed", r(route))
        }
        EventKind::Alert {
            target,
            raised,
            evidence,
        } => {
            let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
            let baseline = evidence.baseline.map_or("-".to_owned(), ms);
            let peers = evidence.peers.map_or("-".to_owned(), ms);
            let what = if raised {
                "latency alert raised"
            } else {
                "latency alert cleared"
            };
            format!(
                "{}: {what}: recent p95 {}, baseline {baseline}, peers {peers}",
                t(target),
                ms(evidence.recent)
            )
        }
        EventKind::CostCapSpent { target, spent_usd } => format!(
            "{}: cost cap spent (${spent_usd:.2}); no traffic until the next window",
            t(target)
        ),
        EventKind::Override(o) => match o {
            Override::Drain(x) => format!("drain {}", t(x)),
            Override::Pin(route, x) => format!("pin {} to {}", r(route), t(x)),
            Override::Freeze(None) => "freeze all routes".to_owned(),
            Override::Freeze(Some(route)) => format!("freeze {}", r(route)),
            Override::Force(x, mode) => format!("force {} {}", t(x), mode.label()),
            Override::Restore(Scope::All) => "restore all".to_owned(),
            Override::Restore(Scope::Target(x)) => format!("restore {}", t(x)),
            Override::Restore(Scope::Route(route)) => format!("restore {}", r(route)),
        },
    }
}
