use switchyard_core::health::breaker::TransitionReason;
use switchyard_core::health::{BreakerMode, BreakerState};
use switchyard_core::id::TargetId;
use switchyard_core::telemetry::alert::Evidence;
use switchyard_core::telemetry::{Event, EventKind};
use switchyard_core::time::{Duration, Instant};

use super::Tally;

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// The library's outage: openai-4o (target 0) on openai, whose fault runs 300 s to 600 s;
/// claude-sonnet (target 1) on anthropic.
fn tally() -> Tally {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let text = std::fs::read_to_string(root.join("active-passive-outage.yaml")).unwrap();
    Tally::new(&crate::scenario::load_text(&text, "outage.yaml", &root).unwrap())
}

fn opened(target: u32, ms: u64, mode: BreakerMode) -> Event {
    Event {
        at: at(ms),
        kind: EventKind::Breaker {
            target: TargetId::new(target),
            from: BreakerState::Closed,
            to: BreakerState::Open {
                until: at(ms + 5_000),
            },
            reason: TransitionReason::ConsecutiveFailures,
            mode,
        },
    }
}

fn open(target: u32, ms: u64) -> Event {
    opened(target, ms, BreakerMode::Automatic)
}

fn half_open(target: u32, ms: u64) -> Event {
    Event {
        at: at(ms),
        kind: EventKind::Breaker {
            target: TargetId::new(target),
            from: BreakerState::Open { until: at(ms) },
            to: BreakerState::HalfOpen,
            reason: TransitionReason::CooldownElapsed,
            mode: BreakerMode::Automatic,
        },
    }
}

fn parked(target: u32, ms: u64) -> Event {
    Event {
        at: at(ms),
        kind: EventKind::Parked {
            target: TargetId::new(target),
            until: at(ms + 1_000),
        },
    }
}

fn alert(target: u32, ms: u64, raised: bool) -> Event {
    Event {
        at: at(ms),
        kind: EventKind::Alert {
            target: TargetId::new(target),
            raised,
            evidence: Evidence {
                recent: Duration::from_millis(900),
                baseline: Some(Duration::from_millis(300)),
                peers: None,
            },
        },
    }
}

fn fed(events: &[Event]) -> Tally {
    let mut t = tally();
    for e in events {
        t.event(e);
    }
    t
}

#[test]
fn detection_is_the_first_opening_or_parking_on_the_provider_within_the_fault() {
    let t = fed(&[
        // Before the fault, on another provider, after the fault's end plus 1 s: none count.
        open(0, 299_999),
        open(1, 310_000),
        open(0, 601_000),
        half_open(0, 305_000),
    ]);
    assert_eq!(t.detected(0), None);
    // Within the grace: it counts. A parking counts like an opening.
    assert_eq!(fed(&[open(0, 600_500)]).detected(0), Some(at(600_500)));
    assert_eq!(fed(&[parked(0, 303_000)]).detected(0), Some(at(303_000)));
    // The earliest, whatever order the events arrive in (live requests drain out of order).
    let events = [open(0, 320_000), parked(0, 304_000), open(0, 302_500)];
    let mut reversed = events;
    reversed.reverse();
    assert_eq!(fed(&events).detected(0), Some(at(302_500)));
    assert_eq!(fed(&reversed).detected(0), Some(at(302_500)));
    assert_eq!(fed(&events).detected(1), None, "no second fault");
}

#[test]
fn openings_and_alerts_are_counted_per_target() {
    let t = fed(&[
        open(0, 1_000),
        opened(0, 2_000, BreakerMode::MetricsOnly),
        half_open(0, 6_000),
        open(1, 3_000),
        alert(1, 4_000, true),
        alert(1, 5_000, false),
        alert(0, 400_000, true),
        alert(0, 200_000, true),
    ]);
    assert_eq!(t.breaker_opens(Some(TargetId::new(0))), 2);
    assert_eq!(t.breaker_opens(Some(TargetId::new(1))), 1);
    assert_eq!(t.breaker_opens(None), 3);
    assert_eq!(
        t.alerts(Some(TargetId::new(1))),
        1,
        "a cleared alert is not raised"
    );
    assert_eq!(t.alerts(None), 3);
    assert_eq!(t.breaker_opens(Some(TargetId::new(7))), 0);
    // The fault's first alert: on its provider, at or after its start.
    assert_eq!(t.first_alert(0), Some(at(400_000)));
    assert_eq!(t.events(), 8);
    assert_eq!(t.lost(), 0);
}

#[test]
fn events_the_tally_lost_make_its_figures_not_observed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let text = std::fs::read_to_string(root.join("active-passive-outage.yaml"))
        .unwrap()
        .replace(
            "expect:\n",
            "expect:\n  - { name: opens, metric: breaker_opens, op: \"<=\", value: 100 }\n",
        );
    let s = crate::scenario::load_text(&text, "outage.yaml", &root).unwrap();
    let router = switchyard_core::router::Router::new(
        s.router.clone(),
        switchyard_core::rng::SeededRng::substream(1, "router"),
    );
    let report = |lost: u64| {
        let mut c = crate::results::Collector::new(&s);
        c.tally.event(&open(0, 302_000));
        c.tally.add_lost(lost);
        let wall = crate::report::Wall {
            elapsed_secs: 0.0,
            requests_per_sec: 0.0,
            events: 0,
        };
        crate::report::build(&s, "sim", 1, &c, &router, &[], wall)
    };
    let expectation = |r: &crate::Report, name: &str| {
        r.expectations
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .unwrap()
    };
    let sound = report(0);
    let opens = expectation(&sound, "opens");
    assert_eq!((opens.observed, opens.passed), (Some(1.0), true));
    // Three events lost: a count that may have missed them is not observed, and says why.
    let lossy = report(3);
    let opens = expectation(&lossy, "opens");
    assert_eq!((opens.observed, opens.passed), (None, false));
    assert_eq!(
        opens.reason.as_deref(),
        Some(
            "3 router events were lost before they could be tallied (the driver did not drain \
             the router's event tap in time)"
        )
    );
    // A detection that was seen stands.
    let detect = lossy
        .expectations
        .iter()
        .find(|e| e.metric == crate::expect::Metric::TimeToDetect)
        .unwrap();
    assert_eq!(detect.observed, Some(2.0));
}
