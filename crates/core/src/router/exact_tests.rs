//! Exact books under cancellation, commits and hostile provider hints: each test reproduces
//! a defect seen in the first version.

use super::*;

fn stream(route: &str) -> Request {
    Request {
        stream: true,
        ..req(route)
    }
}

fn error_after(kind: ErrorKind, retry_after: Option<Duration>) -> AttemptReport {
    AttemptReport::new(
        Outcome::Error { kind, retry_after },
        Duration::from_millis(10),
    )
}

fn assert_quiet(r: &Router) {
    for (i, h) in r.health.iter().enumerate() {
        assert_eq!(h.in_flight, 0, "target {i} still has attempts in flight");
    }
}

fn failures(r: &Router, reason: FailureReason) -> u64 {
    r.telemetry()
        .routes
        .iter()
        .map(|s| s.failures[crate::telemetry::failure_index(reason)])
        .sum()
}

#[test]
fn abandon_cancels_what_is_in_flight_and_counts_the_request_once() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let a = id(&r, "a");
    let mut plan = r.begin(&req("chat"), t(0));
    send(r.next(&mut plan, t(0)));
    send(r.next(&mut plan, t(500)));
    assert_eq!(r.health(a).in_flight, 1);
    assert!(!plan.is_settled());
    r.abandon(&mut plan, t(700));
    assert!(plan.is_settled());
    assert_quiet(&r);
    assert_eq!(
        plan.outcome(),
        Some(FinalOutcome::Failed(FailureReason::Abandoned))
    );
    assert_eq!(r.telemetry().routes[0].requests, 1);
    assert_eq!(failures(&r, FailureReason::Abandoned), 1);
    let cancelled: u64 = r.telemetry().targets.iter().map(|t| t.cancelled).sum();
    assert_eq!(cancelled, 2, "both attempts recorded cancelled");
    // Nothing more is ever sent for it, and a second abandon counts nothing.
    assert_eq!(
        r.next(&mut plan, t(800)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Abandoned))
    );
    r.abandon(&mut plan, t(900));
    assert_eq!(r.telemetry().routes[0].requests, 1);
    assert_eq!(plan.attempts(), 2, "no phantom attempt");
    let attempts: u64 = r.telemetry().targets.iter().map(|t| t.attempts).sum();
    assert_eq!(attempts, 2);
}

/// A hedged request served by one attempt is settled there and then: the core cancels the
/// other, still out (booked as at a stream's commit), so a driver dropping the plan has
/// nothing left to abandon, and an `abandon` changes nothing. (It was finished but not
/// settled, the loser left for the driver's `abandon`, which booked it nothing.)
#[test]
fn a_served_plan_with_a_hedge_out_is_settled_its_loser_cancelled() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let mut plan = r.begin(&req("chat"), t(0));
    let (first, _, _) = send(r.next(&mut plan, t(0)));
    let (hedge, _, _) = send(r.next(&mut plan, t(500)));
    r.record(&mut plan, hedge, ok(100), t(600));
    assert!(plan.outcome().is_some_and(FinalOutcome::is_success));
    assert!(!plan.is_outstanding(first));
    assert!(plan.is_settled());
    assert_quiet(&r);
    let cancelled = |r: &Router| -> u64 { r.telemetry().targets.iter().map(|t| t.cancelled).sum() };
    assert_eq!(cancelled(&r), 1);
    r.abandon(&mut plan, t(700));
    assert_eq!(cancelled(&r), 1, "nothing left to abandon");
    assert_eq!(failures(&r, FailureReason::Abandoned), 0);
    assert_eq!(r.telemetry().routes[0].requests, 1);
}

#[test]
fn abandon_after_a_finish_changes_nothing() {
    let mut r = router();
    let mut plan = r.begin(&req("chat"), t(0));
    assert!(!plan.is_settled());
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    assert!(!plan.is_settled());
    r.record(&mut plan, att, ok(10), t(10));
    assert!(plan.is_settled());
    r.abandon(&mut plan, t(20));
    assert!(plan.outcome().is_some_and(FinalOutcome::is_success));
    assert_eq!(failures(&r, FailureReason::Abandoned), 0);
    assert_eq!(r.telemetry().routes[0].requests, 1);
}

#[test]
fn an_abandoned_half_open_probe_frees_its_slot() {
    let mut r = router();
    let a = id(&r, "a");
    for i in 0..3 {
        drive(&mut r, &req("solo"), t(i), |_| fail(ErrorKind::ServerError));
    }
    assert!(matches!(
        r.health(a).breaker.state(),
        BreakerState::Open { .. }
    ));
    // The cooldown elapses; a probe goes out and its caller leaves.
    let mut plan = r.begin(&req("solo"), t(6_000));
    send(r.next(&mut plan, t(6_000)));
    assert_eq!(r.health(a).breaker.probes_in_flight(), 1);
    r.abandon(&mut plan, t(6_100));
    assert_eq!(r.health(a).breaker.probes_in_flight(), 0);
    // The recovered target gets its traffic back: the next request probes and is served.
    let (outcome, tried, _) = drive(&mut r, &req("solo"), t(6_200), |_| ok(5));
    assert_eq!((outcome, tried), (FinalOutcome::Served(a), vec![a]));
}

#[test]
fn a_probe_whose_report_never_comes_does_not_wedge_the_breaker() {
    let mut r = router();
    let a = id(&r, "a");
    for i in 0..3 {
        drive(&mut r, &req("solo"), t(i), |_| fail(ErrorKind::ServerError));
    }
    // A probe goes out at 6 s and is lost (a driver bug, a process that died mid-way).
    let mut lost = r.begin(&req("solo"), t(6_000));
    send(r.next(&mut lost, t(6_000)));
    // Until its lease runs out (10 s timeout + 1 s), no other probe may go.
    let (_, tried, _) = drive(&mut r, &req("solo"), t(7_000), |_| ok(5));
    assert!(tried.is_empty(), "one probe at a time");
    // After it: the lost probe counts as failed; after the next cooldown traffic returns.
    let (outcome, _, _) = drive(&mut r, &req("solo"), t(40_000), |_| ok(5));
    assert_eq!(outcome, FinalOutcome::Served(a));
}

#[test]
fn a_hedge_failing_after_the_primarys_first_token_does_not_fail_the_stream() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let mut plan = r.begin(&stream("chat"), t(0));
    let (primary, _, _) = send(r.next(&mut plan, t(0)));
    let (hedge, target, _) = send(r.next(&mut plan, t(500)));
    assert_eq!(target, b);
    // The primary's first token: it is committed, the hedge cancelled at once.
    let cancelled = r.first_token(&mut plan, primary, t(600));
    assert_eq!(cancelled.iter().collect::<Vec<_>>(), [hedge]);
    assert_eq!(plan.committed(), Some(primary));
    assert_eq!(r.health(b).in_flight, 0);
    // The hedge's failure arrives late: it changes nothing.
    r.record(&mut plan, hedge, fail(ErrorKind::ServerError), t(700));
    assert_eq!(plan.outcome(), None);
    assert_eq!(r.telemetry().targets[b.index()].errors_total(), 0);
    assert_eq!(r.next(&mut plan, t(700)), Action::Await);
    r.record(&mut plan, primary, ok(2_000), t(2_000));
    assert_eq!(plan.outcome(), Some(FinalOutcome::Served(a)));
    assert_quiet(&r);
}

#[test]
fn the_committed_stream_alone_decides_and_cannot_fail_over() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let b = id(&r, "b");
    let mut plan = r.begin(&stream("chat"), t(0));
    let (primary, _, _) = send(r.next(&mut plan, t(0)));
    let (hedge, _, _) = send(r.next(&mut plan, t(500)));
    // The hedge yields first: the primary is cancelled.
    let cancelled = r.first_token(&mut plan, hedge, t(800));
    assert_eq!(cancelled.iter().collect::<Vec<_>>(), [primary]);
    // A first token from the cancelled attempt commits nothing.
    assert!(r.first_token(&mut plan, primary, t(900)).is_empty());
    assert_eq!(plan.committed(), Some(hedge));
    // The committed stream breaks: the request fails, with no failover to c.
    r.record(
        &mut plan,
        hedge,
        fail(ErrorKind::StreamInterrupted),
        t(1_000),
    );
    assert_eq!(
        r.next(&mut plan, t(1_000)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::StreamInterrupted
        )))
    );
    assert_eq!(plan.attempts(), 2);
    assert_eq!(r.telemetry().targets[b.index()].errors_total(), 1);
    assert_quiet(&r);
}

#[test]
fn a_529_retry_after_is_honoured_on_the_same_target() {
    let mut r = router();
    let a = id(&r, "a");
    let mut plan = r.begin(&req("solo"), t(0));
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    r.record(
        &mut plan,
        att,
        error_after(ErrorKind::Overloaded, Some(Duration::from_secs(1))),
        t(10),
    );
    // Not after the 100 ms backoff: after the provider's second.
    assert_eq!(r.next(&mut plan, t(10)), Action::Wait { until: t(1_010) });
    let (_, target, _) = send(r.next(&mut plan, t(1_010)));
    assert_eq!(target, a);
}

#[test]
fn a_long_529_retry_after_fails_fast_and_says_when_to_come_back() {
    let mut r = router();
    let mut plan = r.begin(&req("solo"), t(0));
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    r.record(
        &mut plan,
        att,
        error_after(ErrorKind::Overloaded, Some(Duration::from_secs(30))),
        t(10),
    );
    assert_eq!(
        r.next(&mut plan, t(10)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::Overloaded
        )))
    );
    assert_eq!(plan.attempts(), 1, "not retried after 100 ms");
    // 30 s, bounded by retry_after_max (20 s by default).
    assert_eq!(plan.retry_after(), Some(Duration::from_secs(20)));
}

#[test]
fn a_request_waits_for_a_parked_target_only_up_to_park_wait_max() {
    let mut r = router();
    let a = id(&r, "a");
    let mut plan = r.begin(&req("solo"), t(0));
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    r.record(
        &mut plan,
        att,
        error_after(ErrorKind::RateLimited, Some(Duration::from_secs(10))),
        t(10),
    );
    assert_eq!(
        r.next(&mut plan, t(10)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::RateLimited
        )))
    );
    assert_eq!(plan.retry_after(), Some(Duration::from_secs(10)));
    // A new request while a is parked fails at once, as rate limited, with the time left.
    let mut plan = r.begin(&req("solo"), t(4_010));
    assert_eq!(
        r.next(&mut plan, t(4_010)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::RateLimited
        )))
    );
    assert_eq!(plan.retry_after(), Some(Duration::from_secs(6)));
    assert_eq!(r.health(a).in_flight, 0);
}

#[test]
fn retry_after_is_capped_for_parking_and_for_the_breaker() {
    let mut r = router_with("");
    let a = id(&r, "a");
    let mut plan = r.begin(&req("solo"), t(0));
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    let huge = Duration::from_secs(u64::MAX / 2_000_000_000);
    r.record(
        &mut plan,
        att,
        error_after(ErrorKind::RateLimited, Some(huge)),
        t(0),
    );
    assert_eq!(
        r.health(a).limits.parked_until(),
        t(20_000),
        "parked for retry_after_max, not for centuries"
    );
    // Reset headers too.
    r.observe_limits(
        a,
        &crate::health::LimitSnapshot {
            remaining_requests: Some(0),
            reset_requests: Some(huge),
            ..crate::health::LimitSnapshot::default()
        },
        t(1_000),
    );
    assert_eq!(r.health(a).limits.parked_until(), t(21_000));
    // And a breaker opening on an error with a huge Retry-After reopens within open_max.
    let mut r = router();
    for i in 0..3 {
        drive(&mut r, &req("solo"), t(i), |_| {
            error_after(ErrorKind::ServerError, Some(huge))
        });
    }
    let BreakerState::Open { until } = r.health(a).breaker.state() else {
        panic!("{:?}", r.health(a).breaker.state())
    };
    assert!(
        until <= t(100) + Duration::from_secs(20),
        "open until {until:?}"
    );
}

#[test]
fn streams_get_first_token_idle_and_total_timeouts_and_replies_only_the_attempt_timeout() {
    let mut r =
        router_with_plan("first_token_timeout: 2s\n  idle_timeout: 5s\n  stream_timeout: 5m");
    let mut plan = r.begin(&stream("solo"), t(0));
    let Action::Send { timeouts, .. } = r.next(&mut plan, t(0)) else {
        panic!()
    };
    assert_eq!(
        timeouts,
        crate::plan::Timeouts {
            first: Duration::from_secs(2),
            idle: Some(Duration::from_secs(5)),
            total: Some(Duration::from_secs(300)),
        }
    );
    // A whole non-streaming reply is bounded by the attempt timeout, not the first-token one.
    let mut plan = r.begin(&req("solo"), t(0));
    let Action::Send { timeouts, .. } = r.next(&mut plan, t(0)) else {
        panic!()
    };
    assert_eq!(
        timeouts,
        crate::plan::Timeouts {
            first: Duration::from_secs(10),
            idle: None,
            total: None,
        }
    );
}

#[test]
fn least_latency_gives_a_target_that_failed_once_its_traffic_back() {
    let yaml = BASE.replace(
        "routes:\n",
        "routes:\n  - { name: fastest, policy: least_latency, targets: [a, b] }\n",
    );
    let mut r = Router::new(load_router(&yaml, "t.yaml").unwrap(), SeededRng::new(7));
    let a = id(&r, "a");
    // Both healthy; then a fails once (a 429: no breaker involved).
    drive(&mut r, &req("fastest"), t(0), |_| ok(300));
    drive(&mut r, &req("fastest"), t(1), |_| ok(300));
    let mut picks_of_a = 0;
    let mut failed_once = false;
    for i in 0..2_000u64 {
        let now = t(2_000 + i * 1_000);
        let (_, tried, _) = drive(&mut r, &req("fastest"), now, |tg| {
            if tg == a && !failed_once {
                failed_once = true;
                error_after(ErrorKind::RateLimited, Some(Duration::from_millis(100)))
            } else {
                ok(300)
            }
        });
        picks_of_a += u64::from(tried.first() == Some(&a));
    }
    assert!(failed_once);
    assert!(
        picks_of_a > 500,
        "a won {picks_of_a} of 2000 picks after one 429 (b: the rest)"
    );
}

/// A provider that recovers gets traffic back within 30 s of its recovery, whatever the
/// length of its outage, with the default breaker.
#[test]
fn traffic_returns_within_30_s_of_recovery_after_any_outage() {
    for outage_secs in [10u64, 60, 600] {
        for offset_ms in [0u64, 137, 499, 731] {
            let yaml = "\
targets:
  - { name: a, provider: pa, model: ma }
  - { name: b, provider: pb, model: mb }
routes:
  - { name: chat, policy: priority, tiers: [[a], [b]] }
";
            let mut r = Router::new(load_router(yaml, "t.yaml").unwrap(), SeededRng::new(3));
            let a = id(&r, "a");
            let down_until = t(outage_secs * 1_000 + offset_ms);
            let mut back = None;
            // Two requests a second for the outage and 60 s after it.
            for i in 0..(outage_secs + 60) * 2 {
                let now = t(i * 500);
                let (outcome, _, _) = drive(&mut r, &req("chat"), now, |tg| {
                    if tg == a && now < down_until {
                        fail(ErrorKind::ServerError)
                    } else {
                        ok(200)
                    }
                });
                if now >= down_until && outcome == FinalOutcome::Served(a) {
                    back = Some(now.saturating_since(down_until));
                    break;
                }
            }
            let back = back.unwrap_or(Duration::MAX);
            assert!(
                back <= Duration::from_secs(30),
                "after a {outage_secs} s outage (+{offset_ms} ms) traffic came back after {back}"
            );
        }
    }
}

#[test]
fn a_streaming_probe_frees_its_slot_at_its_first_token() {
    let mut r = router();
    let a = id(&r, "a");
    for i in 0..3 {
        drive(&mut r, &req("solo"), t(i), |_| fail(ErrorKind::ServerError));
    }
    let mut plan = r.begin(&stream("solo"), t(6_000));
    let (probe, _, _) = send(r.next(&mut plan, t(6_000)));
    assert_eq!(r.health(a).breaker.probes_in_flight(), 1);
    r.first_token(&mut plan, probe, t(6_300));
    assert_eq!(r.health(a).breaker.probes_in_flight(), 0);
    assert!(
        matches!(r.health(a).breaker.state(), BreakerState::Recovering { .. }),
        "the answer was the probe's success (probe_successes: 1)"
    );
    // The long stream ends well: an ordinary success, counted once.
    r.record(&mut plan, probe, ok(60_000), t(66_300));
    assert_eq!(plan.outcome(), Some(FinalOutcome::Served(a)));
    assert_eq!(r.telemetry().targets[a.index()].successes, 1);
}

#[test]
fn a_stream_cap_below_the_first_token_bound_is_refused() {
    let yaml = BASE.replace("plan:\n", "plan:\n  stream_timeout: 5s\n");
    let err = load_router(&yaml, "t.yaml").unwrap_err();
    assert_eq!(err.path, "plan.stream_timeout", "{err}");
    let yaml = BASE.replace(
        "plan:\n",
        "plan:\n  stream_timeout: 5s\n  first_token_timeout: 2s\n",
    );
    assert!(load_router(&yaml, "t.yaml").is_ok());
}
