//! Scripted plans with explicit times.

use super::*;
use crate::config::load_router;
use crate::health::{BreakerMode, BreakerState, LimitSnapshot};
use crate::outcome::{AttemptReport, ErrorKind, Outcome};
use crate::overrides::{Override, OverrideError, Scope};
use crate::plan::{Action, AttemptId};
use crate::telemetry::EventKind;
use crate::time::Duration;

const BASE: &str = "\
targets:
  - { name: a, provider: pa, model: ma, context_window: 8000, price: { input: 1, output: 2 } }
  - { name: b, provider: pb, model: mb, context_window: 32000 }
  - { name: c, provider: pc, model: mc, context_window: 128000 }
routes:
  - { name: chat, policy: priority, tiers: [[a], [b], [c]] }
  - { name: solo, policy: static, targets: [a] }
  - { name: spread, policy: round_robin, targets: [a, b, c] }
  - { name: backup, policy: static, targets: [c] }
  - { name: primary, policy: static, targets: [a], fallback: backup }
rules:
  - { when: { route: auto, min_prompt_tokens: 10000 }, route: backup }
  - { when: { route: auto }, route: chat }
plan:
  max_attempts: 3
  attempt_timeout: 10s
  deadline: 30s
  backoff_base: 100ms
  backoff_max: 1s
retry_budget: { ratio: 0.2, min_per_second: 10, window: 10s }
breaker:
  consecutive_failures: 3
  open_for: 5s
  probes: 1
  probe_successes: 1
  recovery: 10s
";

fn router_with(extra: &str) -> Router {
    let yaml = format!("{BASE}{extra}");
    Router::new(load_router(&yaml, "test.yaml").unwrap(), SeededRng::new(1))
}

fn router() -> Router {
    router_with("")
}

fn router_with_plan(line: &str) -> Router {
    let yaml = BASE.replace("plan:\n", &format!("plan:\n  {line}\n"));
    Router::new(load_router(&yaml, "test.yaml").unwrap(), SeededRng::new(1))
}

fn disable_breakers(r: &mut Router) {
    for i in 0..r.params().targets.len() {
        r.apply(
            Override::Force(TargetId::new(i as u32), BreakerMode::Disabled),
            t(0),
        )
        .unwrap();
    }
}

fn req(route: &str) -> Request {
    Request {
        route: route.into(),
        max_tokens: Some(100),
        estimated_prompt_tokens: 100,
        ..Request::default()
    }
}

fn t(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn id(r: &Router, name: &str) -> TargetId {
    r.params().target_id(name).unwrap()
}

fn ok(ms: u64) -> AttemptReport {
    AttemptReport {
        outcome: Outcome::Success,
        latency: Duration::from_millis(ms),
        first_token: Some(Duration::from_millis(ms / 2)),
        prompt_tokens: 100,
        cached_prompt_tokens: 0,
        completion_tokens: 50,
        delivered_tokens: true,
        usage_missing: false,
        prompt_sent: false,
    }
}

fn fail(kind: ErrorKind) -> AttemptReport {
    AttemptReport::new(Outcome::error(kind), Duration::from_millis(10))
}

fn send(action: Action) -> (AttemptId, TargetId, Duration) {
    match action {
        Action::Send {
            attempt,
            target,
            timeouts,
            ..
        } => (attempt, target, timeouts.first),
        other => panic!("expected Send, got {other:?}"),
    }
}

/// Runs one request to the end, one attempt at a time: `answer(target)` says how each attempt
/// ends; attempts take their report's latency. Returns the final outcome, the targets tried
/// and the time it ended.
fn drive(
    r: &mut Router,
    request: &Request,
    start: Instant,
    mut answer: impl FnMut(TargetId) -> AttemptReport,
) -> (FinalOutcome, Vec<TargetId>, Instant) {
    let mut plan = r.begin(request, start);
    let mut now = start;
    let mut tried = Vec::new();
    for _ in 0..100 {
        match r.next(&mut plan, now) {
            Action::Send {
                attempt,
                target,
                timeouts,
                ..
            } => {
                let timeout = timeouts.first;
                tried.push(target);
                let mut report = answer(target);
                if report.latency > timeout {
                    // The driver gives up at the attempt's timeout.
                    report = AttemptReport::new(Outcome::error(ErrorKind::Timeout), timeout);
                }
                now += report.latency;
                r.record(&mut plan, attempt, report, now);
            }
            Action::Wait { until } => {
                assert!(until > now, "a wait must move time forward");
                now = until;
            }
            Action::Await => panic!("nothing in flight to await"),
            Action::Finish(outcome) => return (outcome, tried, now),
        }
    }
    panic!("plan did not finish in 100 steps");
}

#[test]
fn success_on_the_first_attempt() {
    let mut r = router();
    let (outcome, tried, _) = drive(&mut r, &req("chat"), t(0), |_| ok(200));
    assert_eq!(outcome, FinalOutcome::Served(id(&r, "a")));
    assert_eq!(tried, [id(&r, "a")]);
    let tel = r.telemetry();
    assert_eq!(
        (
            tel.routes[0].requests,
            tel.routes[0].served,
            tel.routes[0].attempts
        ),
        (1, 1, 1)
    );
    assert_eq!(tel.targets[0].successes, 1);
    // 100 prompt tokens at $1/M + 50 completion at $2/M.
    assert!((tel.targets[0].cost_success - 0.0002).abs() < 1e-12);
}

#[test]
fn fails_over_down_the_tiers_immediately() {
    let mut r = router();
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let mut plan = r.begin(&req("chat"), t(0));
    let (att, target, _) = send(r.next(&mut plan, t(0)));
    assert_eq!(target, a);
    r.record(&mut plan, att, fail(ErrorKind::ServerError), t(10));
    let (att, target, _) = send(r.next(&mut plan, t(10)));
    assert_eq!(target, b, "failover needs no backoff");
    r.record(&mut plan, att, ok(100), t(110));
    assert_eq!(
        r.next(&mut plan, t(110)),
        Action::Finish(FinalOutcome::Served(b))
    );
    assert_eq!(
        plan.history()
            .map(|h| h.outcome.label())
            .collect::<Vec<_>>(),
        ["server_error", "success"]
    );
}

#[test]
fn retries_the_same_target_after_a_jittered_backoff() {
    let mut r = router();
    let mut plan = r.begin(&req("solo"), t(0));
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    r.record(&mut plan, att, fail(ErrorKind::Timeout), t(10));
    let Action::Wait { until } = r.next(&mut plan, t(10)) else {
        panic!()
    };
    let wait = until.saturating_since(t(10));
    assert!(
        wait >= Duration::from_millis(50) && wait <= Duration::from_millis(100),
        "{wait}"
    );
    assert_eq!(
        r.next(&mut plan, t(11)),
        Action::Wait { until },
        "still backing off"
    );
    let (att, target, _) = send(r.next(&mut plan, until));
    assert_eq!(target, id(&r, "a"));
    r.record(
        &mut plan,
        att,
        fail(ErrorKind::Timeout),
        until + Duration::from_millis(10),
    );
    let now = until + Duration::from_millis(10);
    let Action::Wait { until: second } = r.next(&mut plan, now) else {
        panic!()
    };
    let wait = second.saturating_since(now);
    assert!(
        wait >= Duration::from_millis(100) && wait <= Duration::from_millis(200),
        "doubles: {wait}"
    );
}

#[test]
fn never_more_than_max_attempts() {
    let mut r = router();
    let (outcome, tried, _) = drive(&mut r, &req("solo"), t(0), |_| fail(ErrorKind::ServerError));
    assert_eq!(tried.len(), 3);
    assert_eq!(
        outcome,
        FinalOutcome::Failed(FailureReason::Attempt(ErrorKind::ServerError))
    );
    assert_eq!(r.telemetry().routes[1].attempts, 3);
}

#[test]
fn attempt_timeouts_are_capped_by_the_deadline() {
    let mut r = router();
    let mut plan = r.begin(&req("solo"), t(0));
    let (_, _, timeout) = send(r.next(&mut plan, t(0)));
    assert_eq!(timeout, Duration::from_secs(10));
    let mut plan = r.begin(&req("solo"), t(0));
    // Hold the first attempt for 25 s: the retry gets only what is left of the 30 s.
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    r.record(&mut plan, att, fail(ErrorKind::Timeout), t(25_000));
    let Action::Wait { until } = r.next(&mut plan, t(25_000)) else {
        panic!()
    };
    let (_, _, timeout) = send(r.next(&mut plan, until));
    assert_eq!(timeout, t(30_000).saturating_since(until));
}

#[test]
fn the_deadline_ends_the_request() {
    let mut r = router();
    let slow = |_| AttemptReport::new(Outcome::error(ErrorKind::Timeout), Duration::from_secs(29));
    let (outcome, tried, end) = drive(&mut r, &req("solo"), t(0), slow);
    // Each attempt is cut at its 10 s timeout; the third gets what is left of the 30 s.
    assert_eq!(tried.len(), 3);
    assert_eq!(
        outcome,
        FinalOutcome::Failed(FailureReason::DeadlineExceeded)
    );
    assert_eq!(end, t(30_000));
}

#[test]
fn a_429_parks_the_target_without_tripping_its_breaker() {
    let mut r = router();
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let limited = AttemptReport::new(
        Outcome::Error {
            kind: ErrorKind::RateLimited,
            retry_after: Some(Duration::from_secs(7)),
        },
        Duration::from_millis(5),
    );
    for i in 0..10 {
        let (outcome, _, _) = drive(&mut r, &req("chat"), t(i), |tg| {
            if tg == a { limited } else { ok(50) }
        });
        assert_eq!(outcome, FinalOutcome::Served(b));
    }
    assert_eq!(r.health(a).breaker.state(), BreakerState::Closed);
    assert!(r.health(a).limits.is_parked(t(6_000)));
    // While parked, a is not even tried.
    let (_, tried, _) = drive(&mut r, &req("chat"), t(100), |_| ok(50));
    assert_eq!(tried, [b]);
    let (_, tried, _) = drive(&mut r, &req("chat"), t(8_000), |_| ok(50));
    assert_eq!(tried, [a], "unparked after the Retry-After");
    let parked: Vec<_> = r
        .telemetry()
        .events
        .events()
        .iter()
        .filter(|e| e.kind.label() == "parked")
        .collect();
    assert_eq!(parked.len(), 1, "parking is logged once, not per 429");
}

#[test]
fn a_parked_single_target_is_waited_for_within_the_deadline() {
    let mut r = router();
    let mut plan = r.begin(&req("solo"), t(0));
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    let limited = Outcome::Error {
        kind: ErrorKind::RateLimited,
        retry_after: Some(Duration::from_secs(2)),
    };
    r.record(
        &mut plan,
        att,
        AttemptReport::new(limited, Duration::from_millis(5)),
        t(5),
    );
    assert_eq!(r.next(&mut plan, t(5)), Action::Wait { until: t(2_005) });
    let (_, target, _) = send(r.next(&mut plan, t(2_005)));
    assert_eq!(target, id(&r, "a"));
}

#[test]
fn context_length_fails_over_only_to_a_larger_window() {
    let mut r = router();
    let (a, b, c) = (id(&r, "a"), id(&r, "b"), id(&r, "c"));
    let mut plan = r.begin(&req("spread"), t(0));
    let (att, target, _) = send(r.next(&mut plan, t(0)));
    assert_eq!(target, a);
    r.record(&mut plan, att, fail(ErrorKind::ContextLengthExceeded), t(1));
    let (att, target, _) = send(r.next(&mut plan, t(1)));
    assert_eq!(target, b, "b's window (32k) is larger than a's (8k)");
    r.record(&mut plan, att, fail(ErrorKind::ContextLengthExceeded), t(2));
    let (att, target, _) = send(r.next(&mut plan, t(2)));
    assert_eq!(target, c);
    r.record(&mut plan, att, fail(ErrorKind::ContextLengthExceeded), t(3));
    assert_eq!(
        r.next(&mut plan, t(3)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::ContextLengthExceeded
        )))
    );
}

#[test]
fn requests_too_big_for_a_window_skip_it_from_the_start() {
    let mut r = router();
    let big = Request {
        estimated_prompt_tokens: 20_000,
        ..req("chat")
    };
    let (outcome, tried, _) = drive(&mut r, &big, t(0), |_| ok(10));
    assert_eq!(tried, [id(&r, "b")]);
    assert!(outcome.is_success());
    // Too big for every window: the request is at fault (unsupported), not the targets'
    // health (no target available, which says to come back later); nothing is tried.
    let huge = Request {
        estimated_prompt_tokens: 200_000,
        ..req("chat")
    };
    let (outcome, tried, _) = drive(&mut r, &huge, t(0), |_| ok(10));
    assert!(tried.is_empty());
    assert_eq!(outcome, FinalOutcome::Failed(FailureReason::Unsupported));
    // Through a fallback: `primary` (a, 8k) falls back to `backup` (c, 128k), which holds
    // 20k; 200k fits neither.
    let (outcome, tried, _) = drive(
        &mut r,
        &Request {
            route: "primary".into(),
            ..big.clone()
        },
        t(0),
        |_| ok(10),
    );
    assert_eq!(tried, [id(&r, "c")]);
    assert!(outcome.is_success());
    let (outcome, tried, _) = drive(
        &mut r,
        &Request {
            route: "primary".into(),
            ..huge
        },
        t(0),
        |_| ok(10),
    );
    assert!(tried.is_empty());
    assert_eq!(outcome, FinalOutcome::Failed(FailureReason::Unsupported));
    // One that fits a target whose breaker is open is not the request's fault.
    let c = id(&r, "c");
    r.apply(Override::Force(c, BreakerMode::ForcedOpen), t(1))
        .unwrap();
    let wide = Request {
        estimated_prompt_tokens: 100_000,
        ..req("chat")
    };
    let (outcome, _, _) = drive(&mut r, &wide, t(2), |_| ok(10));
    assert_eq!(
        outcome,
        FinalOutcome::Failed(FailureReason::NoTargetAvailable)
    );
}

#[test]
fn bad_requests_end_at_once_and_content_filters_fail_over() {
    let mut r = router();
    let (outcome, tried, _) = drive(&mut r, &req("chat"), t(0), |_| fail(ErrorKind::BadRequest));
    assert_eq!(tried.len(), 1);
    assert_eq!(
        outcome,
        FinalOutcome::Failed(FailureReason::Attempt(ErrorKind::BadRequest))
    );
    let a = id(&r, "a");
    let (outcome, tried, _) = drive(&mut r, &req("chat"), t(0), |tg| {
        if tg == a {
            fail(ErrorKind::ContentFiltered)
        } else {
            ok(5)
        }
    });
    assert_eq!(tried, [a, id(&r, "b")]);
    assert!(outcome.is_success());
    // On a single-target route a content filter is not retried.
    let (_, tried, _) = drive(&mut r, &req("solo"), t(0), |_| {
        fail(ErrorKind::ContentFiltered)
    });
    assert_eq!(tried.len(), 1);
}

#[test]
fn streams_fail_over_only_before_the_first_token() {
    let mut r = router();
    let stream = Request {
        stream: true,
        ..req("chat")
    };
    let cut_early = AttemptReport {
        delivered_tokens: false,
        ..fail(ErrorKind::StreamInterrupted)
    };
    let (outcome, tried, _) = drive(&mut r, &stream, t(0), |tg| {
        if tried_first(tg) { cut_early } else { ok(5) }
    });
    assert!(outcome.is_success());
    assert_eq!(tried.len(), 2);
    let cut_late = AttemptReport {
        delivered_tokens: true,
        ..fail(ErrorKind::StreamInterrupted)
    };
    let (outcome, tried, _) = drive(&mut r, &stream, t(0), |_| cut_late);
    assert_eq!(tried.len(), 1);
    assert_eq!(
        outcome,
        FinalOutcome::Failed(FailureReason::Attempt(ErrorKind::StreamInterrupted))
    );
}

fn tried_first(target: TargetId) -> bool {
    target.index() == 0
}

/// A request on `chat` (with `hedge_after: 500ms`) sent to `a` at 0 ms, nothing sent before
/// 500 ms, then hedged to `b`: the plan, the first attempt and the hedge.
fn hedged(r: &mut Router) -> (Plan, AttemptId, AttemptId) {
    let (a, b) = (id(r, "a"), id(r, "b"));
    let mut plan = r.begin(&req("chat"), t(0));
    let (first, target, _) = send(r.next(&mut plan, t(0)));
    assert_eq!(target, a);
    assert_eq!(r.next(&mut plan, t(100)), Action::Wait { until: t(500) });
    let Action::Send {
        attempt: hedge,
        target,
        hedge: true,
        ..
    } = r.next(&mut plan, t(500))
    else {
        panic!()
    };
    assert_eq!(target, b);
    (plan, first, hedge)
}

#[test]
fn hedges_after_the_threshold_and_the_first_reply_wins() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let (mut plan, first, hedge) = hedged(&mut r);
    assert_eq!(
        r.next(&mut plan, t(600)),
        Action::Await,
        "one hedge at most"
    );
    r.record(&mut plan, hedge, ok(100), t(600));
    assert_eq!(
        r.next(&mut plan, t(600)),
        Action::Finish(FinalOutcome::Served(b))
    );
    // The core cancelled the loser as the reply served the request; it counts as
    // cancelled, not as a failure, and the driver's late report of it changes nothing.
    assert!(!plan.is_outstanding(first));
    r.record(
        &mut plan,
        first,
        AttemptReport::new(Outcome::Cancelled, Duration::from_millis(600)),
        t(600),
    );
    let tel = r.telemetry();
    assert_eq!(
        (
            tel.targets[a.index()].cancelled,
            tel.targets[b.index()].hedges
        ),
        (1, 1)
    );
    assert_eq!(tel.routes[0].requests, 1, "counted once");
    assert_eq!(r.health(a).in_flight, 0);
}

/// The losing hedge on `loser`, as telemetry books it: cancelled once, its 100 estimated
/// prompt tokens marked `usage_missing` and priced `prompt` USD as failed, no longer in flight.
fn assert_loser_booked(r: &Router, loser: TargetId, prompt: f64) {
    let tel = &r.telemetry().targets[loser.index()];
    assert_eq!((tel.cancelled, tel.usage_missing), (1, 1));
    assert_eq!((tel.prompt_tokens, tel.completion_tokens), (100, 0));
    assert!((tel.cost_failed - prompt).abs() < 1e-15);
    assert_eq!(r.health(loser).in_flight, 0);
}

/// A hedge that loses to another attempt's first token was sent the prompt, which its
/// provider bills: the commit books it `cancelled` with the request's estimated prompt
/// tokens, marked `usage_missing`, priced into the plan's cost and wasted cost, as a caller's
/// leaving books an attempt on its way.
#[test]
fn a_hedge_that_loses_to_a_commit_is_booked_its_prompt_estimate() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let (mut plan, first, hedge) = hedged(&mut r);
    // The hedge's first token commits the request to it: `a` is cancelled and billed.
    let cancelled = r.first_token(&mut plan, hedge, t(600));
    assert_eq!(cancelled.iter().collect::<Vec<_>>(), vec![first]);
    // `a` costs 1 USD a million input tokens: its 100 estimated prompt tokens.
    let prompt = 100.0 / 1e6;
    assert!((plan.cost() - prompt).abs() < 1e-15, "{}", plan.cost());
    assert!((plan.wasted_cost() - prompt).abs() < 1e-15);
    assert_eq!(plan.tokens().prompt_tokens, 100);
    assert_eq!(plan.tokens().completion_tokens, 0);
    assert!(plan.tokens_estimated());
    // The winner's usage adds to it (`b` has no price); the loser's estimate stays wasted.
    r.record(&mut plan, hedge, ok(300), t(800));
    assert_eq!(plan.outcome(), Some(FinalOutcome::Served(b)));
    assert_eq!(plan.tokens().prompt_tokens, 200);
    assert!((plan.cost() - prompt).abs() < 1e-15);
    assert!((plan.wasted_cost() - prompt).abs() < 1e-15);
    assert!(plan.tokens_estimated());
    assert_loser_booked(&r, a, prompt);
}

/// A whole reply's hedge that loses is cancelled as the winner's reply serves the request,
/// by the core itself: it was sent the prompt too, so it is booked as at a stream's commit,
/// the request's estimated prompt, `usage_missing`, in the plan's cost and wasted cost before
/// the driver reads them for the reply. (It was left to the driver's `abandon`, which booked
/// it nothing: a hedged request cost less when it did not stream.)
#[test]
fn a_whole_replys_hedge_that_loses_is_booked_its_prompt_estimate() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let (mut plan, first, hedge) = hedged(&mut r);
    r.record(&mut plan, hedge, ok(300), t(800));
    assert_eq!(plan.outcome(), Some(FinalOutcome::Served(b)));
    assert!(!plan.is_outstanding(first), "cancelled with the finish");
    assert!(plan.is_settled());
    // `a`'s 100 estimated prompt tokens at 1 USD a million; `b`'s reply has no price.
    let prompt = 100.0 / 1e6;
    assert!((plan.cost() - prompt).abs() < 1e-15, "{}", plan.cost());
    assert!((plan.wasted_cost() - prompt).abs() < 1e-15);
    assert_eq!(
        plan.tokens().prompt_tokens,
        200,
        "the reply's 100, the loser's 100"
    );
    assert!(plan.tokens_estimated());
    assert_loser_booked(&r, a, prompt);
    // The driver's `abandon` as it drops the plan finds nothing: booked once.
    r.abandon(&mut plan, t(900));
    assert_eq!(r.telemetry().targets[a.index()].prompt_tokens, 100);
    assert_eq!(plan.outcome(), Some(FinalOutcome::Served(b)));
}

/// RV: the rule of `first_token` (an attempt the core gives up after it was sent is booked
/// the prompt's estimate, as its provider bills the prompt) holds for a request that fails
/// while a hedge is out: the hedge's 400 ends the request (`BadRequest` neither fails over
/// nor retries), and the first attempt, still on its way at another provider that may well
/// accept the prompt, is cancelled by the core's `finish` and booked the estimate (it was
/// left to the driver's `abandon`, which booked it nothing).
#[test]
fn rv_a_hedge_still_out_when_an_error_ends_the_request_is_booked_its_prompt_estimate() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let (mut plan, _first, hedge) = hedged(&mut r);
    r.record(&mut plan, hedge, fail(ErrorKind::BadRequest), t(600));
    assert_eq!(
        plan.outcome(),
        Some(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::BadRequest
        )))
    );
    // What the live driver's plan guard and the simulator's `finish` do with what is out.
    r.abandon(&mut plan, t(600));
    let tel = &r.telemetry().targets[a.index()];
    assert_eq!(tel.cancelled, 1);
    assert_eq!(
        (tel.prompt_tokens, tel.usage_missing),
        (100, 1),
        "the first attempt was sent the prompt"
    );
    assert!(plan.tokens_estimated());
    assert!(
        (plan.wasted_cost() - 100.0 / 1e6).abs() < 1e-15,
        "{}",
        plan.wasted_cost()
    );
    assert_eq!(r.health(b).in_flight, 0);
}

#[test]
fn no_hedge_after_the_first_token() {
    let mut r = router_with_plan("hedge_after: 500ms");
    let mut plan = r.begin(&req("chat"), t(0));
    let (first, _, _) = send(r.next(&mut plan, t(0)));
    r.first_token(&mut plan, first, t(100));
    assert_eq!(r.next(&mut plan, t(900)), Action::Await);
}

#[test]
fn the_breaker_trips_probes_and_ramps_back() {
    let mut r = router();
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    for i in 0..3 {
        drive(&mut r, &req("chat"), t(i), |tg| {
            if tg == a {
                fail(ErrorKind::Overloaded)
            } else {
                ok(5)
            }
        });
    }
    assert!(matches!(
        r.health(a).breaker.state(),
        BreakerState::Open { .. }
    ));
    let (_, tried, _) = drive(&mut r, &req("chat"), t(100), |_| ok(5));
    assert_eq!(tried, [b], "open: a is skipped");
    // After the 5 s cooldown, one probe goes to a; it succeeds, a starts recovering.
    let (_, tried, _) = drive(&mut r, &req("chat"), t(5_100), |_| ok(5));
    assert_eq!(tried, [a]);
    assert!(matches!(
        r.health(a).breaker.state(),
        BreakerState::Recovering { .. }
    ));
    // Early in the ramp a gets a small share, which grows.
    let share = |r: &mut Router, from: u64| {
        (0..1000)
            .filter(|i| drive(r, &req("chat"), t(from + i), |_| ok(1)).1 == [a])
            .count()
    };
    let early = share(&mut r, 5_200);
    let late = share(&mut r, 13_000);
    assert!(
        early < 300 && late > early + 300,
        "early {early}, late {late}"
    );
    drive(&mut r, &req("chat"), t(16_000), |_| ok(5));
    assert_eq!(r.health(a).breaker.state(), BreakerState::Closed);
    let labels: Vec<_> = r
        .telemetry()
        .events
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Breaker { to, .. } => Some(to.label()),
            _ => None,
        })
        .collect();
    assert_eq!(labels, ["open", "half_open", "recovering", "closed"]);
}

#[test]
fn panic_mode_fail_fast_and_bypass() {
    // `solo`'s only target fails three times in one request: its breaker opens.
    let open_a = |r: &mut Router| {
        let (outcome, tried, _) = drive(r, &req("solo"), t(0), |_| fail(ErrorKind::ServerError));
        assert!(!outcome.is_success());
        assert_eq!(tried.len(), 3);
        let a = id(r, "a");
        assert_eq!(r.health(a).breaker.state().label(), "open");
    };
    let mut r = router();
    open_a(&mut r);
    let (outcome, tried, _) = drive(&mut r, &req("solo"), t(1), |_| ok(5));
    assert_eq!(
        outcome,
        FinalOutcome::Failed(FailureReason::NoTargetAvailable)
    );
    assert!(tried.is_empty());
    let mut r = router_with("panic_mode: bypass\n");
    open_a(&mut r);
    let (outcome, tried, _) = drive(&mut r, &req("solo"), t(1), |_| ok(5));
    assert!(outcome.is_success());
    assert_eq!(tried, [id(&r, "a")]);
    assert!(
        r.telemetry()
            .events
            .events()
            .iter()
            .any(|e| e.kind.label() == "panic_bypass")
    );
}

#[test]
fn panic_bypass_never_admits_a_target_an_operator_forced_open() {
    // `forced_open` admits nothing (the operator's word), panic or not.
    let mut r = router_with("panic_mode: bypass\n");
    let a = id(&r, "a");
    r.apply(Override::Force(a, BreakerMode::ForcedOpen), t(0))
        .unwrap();
    let (outcome, tried, _) = drive(&mut r, &req("solo"), t(1), |_| ok(5));
    assert_eq!(
        outcome,
        FinalOutcome::Failed(FailureReason::NoTargetAvailable)
    );
    assert!(tried.is_empty());
    assert!(
        !r.telemetry()
            .events
            .events()
            .iter()
            .any(|e| e.kind.label() == "panic_bypass")
    );
}

#[test]
fn panic_bypass_admits_only_the_targets_their_breakers_opened() {
    // `spread` (a, b, c): a and c forced open by an operator, b open after three failures.
    let mut r = router_with("panic_mode: bypass\n");
    let (a, b, c) = (id(&r, "a"), id(&r, "b"), id(&r, "c"));
    for forced in [a, c] {
        r.apply(Override::Force(forced, BreakerMode::ForcedOpen), t(0))
            .unwrap();
    }
    let (_, tried, _) = drive(&mut r, &req("spread"), t(0), |_| {
        fail(ErrorKind::ServerError)
    });
    assert_eq!(tried, [b, b, b]);
    assert_eq!(r.health(b).breaker.state().label(), "open");
    for i in 1..=4 {
        let (outcome, tried, _) = drive(&mut r, &req("spread"), t(i), |_| ok(5));
        assert!(outcome.is_success());
        assert_eq!(tried, [b], "request {i}");
    }
}

#[test]
fn the_retry_budget_caps_retries() {
    // Floor 1/s over 10 s = 10 retries, plus 20 % of requests.
    let mut r = router_with("").clone_with_budget(0.2, 1.0);
    disable_breakers(&mut r);
    let mut retries = 0;
    let mut refused = 0;
    for i in 0..100 {
        let (outcome, tried, _) =
            drive(&mut r, &req("solo"), t(i), |_| fail(ErrorKind::ServerError));
        retries += tried.len().saturating_sub(1);
        if matches!(
            outcome,
            FinalOutcome::Failed(FailureReason::BudgetExhausted(_))
        ) {
            refused += 1;
        }
    }
    assert!(retries <= 10 + 20, "{retries} retries");
    assert!(refused > 50, "{refused}");
    let exhausted = r
        .telemetry()
        .events
        .events()
        .iter()
        .filter(|e| e.kind.label() == "budget_exhausted")
        .count();
    assert_eq!(
        exhausted, 1,
        "logged once per budget window, not per refusal"
    );
}

impl Router {
    fn clone_with_budget(mut self, ratio: f64, min_per_second: f64) -> Router {
        self.params.budget.ratio = ratio;
        self.params.budget.min_per_second = min_per_second;
        self.budget = RetryBudget::new(self.params.budget);
        self
    }
}

#[test]
fn rules_pick_routes_and_unknown_routes_fail() {
    let mut r = router();
    let big = Request {
        estimated_prompt_tokens: 20_000,
        ..req("auto")
    };
    let (outcome, _, _) = drive(&mut r, &big, t(0), |_| ok(5));
    assert_eq!(outcome, FinalOutcome::Served(id(&r, "c")));
    let (outcome, _, _) = drive(&mut r, &req("auto"), t(0), |_| ok(5));
    assert_eq!(outcome, FinalOutcome::Served(id(&r, "a")));
    let (outcome, tried, _) = drive(&mut r, &req("nope"), t(0), |_| ok(5));
    assert_eq!(outcome, FinalOutcome::Failed(FailureReason::UnknownRoute));
    assert!(tried.is_empty());
    assert_eq!(r.telemetry().unrouted.requests, 1);
}

#[test]
fn a_route_falls_back_to_its_fallback_route() {
    let mut r = router();
    let a = id(&r, "a");
    let (outcome, tried, _) = drive(&mut r, &req("primary"), t(0), |tg| {
        if tg == a {
            fail(ErrorKind::Unauthorized)
        } else {
            ok(5)
        }
    });
    assert_eq!(tried, [a, id(&r, "c")]);
    assert!(outcome.is_success());
    assert_eq!(
        r.telemetry().routes[4].served,
        1,
        "counted on the route asked for"
    );
}

/// An override whose target or route id is not this router's (stale, built for another
/// config) or that pins a route outside its targets is refused: an error, nothing changed,
/// no event, never a panic.
#[test]
fn a_stale_or_out_of_range_override_is_refused_and_changes_nothing() {
    let mut r = router();
    let (a, c) = (id(&r, "a"), id(&r, "c"));
    let solo = r.params().route_id("solo").unwrap();
    let (gone_target, gone_route) = (TargetId::new(99), crate::id::RouteId::new(50));
    for command in [
        Override::Drain(gone_target),
        Override::Force(gone_target, BreakerMode::ForcedOpen),
        Override::Pin(gone_route, a),
        Override::Pin(solo, gone_target),
        Override::Freeze(Some(gone_route)),
        Override::Restore(Scope::Target(gone_target)),
        Override::Restore(Scope::Route(gone_route)),
    ] {
        let e = r.apply(command, t(0)).unwrap_err();
        assert!(
            matches!(e, OverrideError::UnknownId(99 | 50)),
            "{command:?}: {e}"
        );
    }
    let e = r.apply(Override::Pin(solo, c), t(0)).unwrap_err();
    assert!(matches!(e, OverrideError::PinOutsideRoute { .. }), "{e}");
    assert_eq!(
        drive(&mut r, &req("solo"), t(1), |_| ok(5)).1,
        [a],
        "not pinned"
    );
    assert_eq!(
        drive(&mut r, &req("chat"), t(2), |_| ok(5)).1,
        [a],
        "not drained"
    );
    assert!(
        r.telemetry()
            .events
            .events()
            .iter()
            .all(|e| e.kind.label() != "override"),
        "a refused override is not logged as applied"
    );
}

#[test]
fn overrides_drain_pin_freeze_force_restore() {
    let mut r = router();
    let (a, b, c) = (id(&r, "a"), id(&r, "b"), id(&r, "c"));
    let chat = r.params().route_id("chat").unwrap();
    r.apply(Override::Drain(a), t(0)).unwrap();
    assert_eq!(drive(&mut r, &req("chat"), t(1), |_| ok(5)).1, [b]);
    r.apply(Override::Pin(chat, c), t(2)).unwrap();
    assert_eq!(drive(&mut r, &req("chat"), t(3), |_| ok(5)).1, [c]);
    r.apply(Override::Restore(Scope::Route(chat)), t(4))
        .unwrap();
    r.apply(Override::Restore(Scope::Target(a)), t(4)).unwrap();
    assert_eq!(drive(&mut r, &req("chat"), t(5), |_| ok(5)).1, [a]);
    // Frozen: failures stay on the first target (retries only), breakers are ignored.
    r.apply(Override::Freeze(Some(chat)), t(6)).unwrap();
    let (_, tried, _) = drive(&mut r, &req("chat"), t(7), |_| fail(ErrorKind::ServerError));
    assert_eq!(tried, [a, a, a]);
    r.apply(Override::Restore(Scope::All), t(8)).unwrap();
    r.apply(Override::Force(a, BreakerMode::ForcedOpen), t(9))
        .unwrap();
    assert_eq!(drive(&mut r, &req("chat"), t(10), |_| ok(5)).1, [b]);
    let overrides = r
        .telemetry()
        .events
        .events()
        .iter()
        .filter(|e| e.kind.label() == "override")
        .count();
    assert_eq!(overrides, 7, "every override is an event");
}

#[test]
fn rate_limit_headers_park_a_target() {
    let mut r = router();
    let a = id(&r, "a");
    let snap = LimitSnapshot {
        remaining_requests: Some(0),
        reset_requests: Some(Duration::from_secs(3)),
        ..LimitSnapshot::default()
    };
    r.observe_limits(a, &snap, t(0));
    assert_eq!(
        drive(&mut r, &req("chat"), t(1), |_| ok(5)).1,
        [id(&r, "b")]
    );
    assert_eq!(drive(&mut r, &req("chat"), t(3_001), |_| ok(5)).1, [a]);
}

#[test]
fn double_reports_are_ignored() {
    let mut r = router();
    let mut plan = r.begin(&req("chat"), t(0));
    let (att, _, _) = send(r.next(&mut plan, t(0)));
    r.record(&mut plan, att, ok(5), t(5));
    r.record(&mut plan, att, fail(ErrorKind::ServerError), t(6));
    r.record(&mut plan, AttemptId(7), ok(5), t(6));
    assert_eq!(r.telemetry().targets[0].attempts, 1);
    assert_eq!(r.telemetry().targets[0].errors_total(), 0);
    assert_eq!(r.telemetry().routes[0].requests, 1);
}

#[path = "props.rs"]
mod props;

#[path = "exact_tests.rs"]
mod exact;

#[path = "resume_tests.rs"]
mod resume;

#[test]
fn availability_counts_the_configured_kinds() {
    // By hand: 996 successes, 2 server errors, 2 timeouts, 5 rate limits. Rate limits do not
    // count by default: availability = 1 - 4 / 1005.
    let mut r = router();
    let a = id(&r, "a");
    let mut outcomes = vec![Outcome::Success; 996];
    outcomes.extend(
        [
            ErrorKind::ServerError,
            ErrorKind::ServerError,
            ErrorKind::Timeout,
            ErrorKind::Timeout,
        ]
        .map(Outcome::error),
    );
    outcomes.extend([Outcome::error(ErrorKind::RateLimited); 5]);
    for (i, o) in outcomes.into_iter().enumerate() {
        let mut plan = r.begin(&req("solo"), t(i as u64 * 10_000));
        let (att, _, _) = send(r.next(&mut plan, t(i as u64 * 10_000)));
        r.record(
            &mut plan,
            att,
            AttemptReport::new(o, Duration::from_millis(5)),
            t(i as u64 * 10_000 + 5),
        );
        r.apply(Override::Restore(Scope::All), t(i as u64 * 10_000 + 6))
            .unwrap();
    }
    let expected = 1.0 - 4.0 / 1005.0;
    assert!((r.telemetry().availability(a).unwrap() - expected).abs() < 1e-12);
    // Counting rate limits too (configured): 1 - 9 / 1005.
    let mut strict =
        router_with("availability: { counts: [server_error, timeout, rate_limited] }\n");
    strict.telemetry =
        Telemetry::with_params(3, 5, strict.params.alerts, strict.params.availability_kinds);
    strict.telemetry.targets[0] = r.telemetry().targets[0].clone();
    assert!((strict.telemetry().availability(a).unwrap() - (1.0 - 9.0 / 1005.0)).abs() < 1e-12);
}

#[test]
fn a_cost_cap_stops_traffic_until_the_next_window() {
    let mut r = router_with("");
    let a = id(&r, "a");
    r.params.targets[a.index()].cost_cap = Some(crate::target::CostCap {
        usd: 0.001,
        window: Duration::from_secs(60),
    });
    // Each reply: 100 prompt tokens at $1/M + 50 completion at $2/M = $0.0002: five of them spend it.
    let served: Vec<TargetId> = (0..8)
        .map(|i| drive(&mut r, &req("chat"), t(i * 100), |_| ok(10)).1[0])
        .collect();
    assert_eq!(&served[..5], &[a; 5]);
    assert!(
        served[5..].iter().all(|&x| x != a),
        "over its cost cap: {served:?}"
    );
    assert!(
        r.telemetry()
            .events
            .events()
            .iter()
            .any(|e| e.kind.label() == "cost_cap_spent")
    );
    // A new window: a is back.
    assert_eq!(drive(&mut r, &req("chat"), t(60_000), |_| ok(10)).1, [a]);
}

#[test]
fn prometheus_exposition_has_every_family_with_low_cardinality_labels() {
    let mut r = router();
    drive(&mut r, &req("chat"), t(0), |_| ok(200));
    drive(&mut r, &req("solo"), t(1), |_| fail(ErrorKind::ServerError));
    let text = crate::router::prometheus::render(&r);
    for line in [
        "switchyard_requests_total{route=\"chat\",outcome=\"success\"} 1",
        "switchyard_attempts_total{provider=\"pa\",target=\"a\",outcome=\"success\"} 1",
        "switchyard_attempts_total{provider=\"pa\",target=\"a\",outcome=\"server_error\"} 3",
        "switchyard_attempt_duration_seconds_bucket{provider=\"pa\",target=\"a\",le=\"+Inf\"} 4",
        "switchyard_tokens_total{provider=\"pa\",target=\"a\",direction=\"prompt\"} 100",
        "switchyard_breaker_state{provider=\"pa\",target=\"a\",state=\"open\"} 1",
        "# TYPE switchyard_first_token_seconds histogram",
        "switchyard_availability_ratio{provider=\"pa\",target=\"a\"} 0.25",
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    // b finished nothing: no availability sample, rather than a 1.
    assert!(
        !text.contains("switchyard_availability_ratio{provider=\"pb\""),
        "{text}"
    );
    // Every sample line is `name{labels} value` with a finite value.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let value = l.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok_and(f64::is_finite), "{l}");
    }
}

#[test]
fn a_target_name_routes_to_that_target_alone() {
    let mut r = router();
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    // Served by the target named, counted on the first route that has it (`chat`).
    let (outcome, tried, _) = drive(&mut r, &req("b"), t(0), |_| ok(5));
    assert_eq!((outcome, tried), (FinalOutcome::Served(b), vec![b]));
    assert_eq!(r.telemetry().routes[0].served, 1);
    // No failover to another target: `chat` would go on to b and c.
    let (outcome, tried, _) = drive(&mut r, &req("a"), t(10), |_| fail(ErrorKind::Unauthorized));
    assert_eq!(tried, [a]);
    assert!(!outcome.is_success());
    // Retries stay on it.
    let (_, tried, _) = drive(&mut r, &req("b"), t(20), |_| fail(ErrorKind::ServerError));
    assert_eq!(tried, [b, b, b]);
}

#[test]
fn a_name_that_is_a_route_and_a_target_is_the_route() {
    let yaml = "\
targets:
  - { name: x, provider: p, model: m }
  - { name: y, provider: p, model: m }
  - { name: lonely, provider: p, model: m }
routes:
  - { name: y, policy: static, targets: [x] }
  - { name: other, policy: static, targets: [y] }
rules:
  - { when: { task: everything }, route: other }
";
    let mut r = Router::new(load_router(yaml, "t.yaml").unwrap(), SeededRng::new(1));
    let (x, y) = (id(&r, "x"), id(&r, "y"));
    assert_eq!(drive(&mut r, &req("y"), t(0), |_| ok(5)).1, [x]);
    assert_eq!(drive(&mut r, &req("x"), t(1), |_| ok(5)).1, [x]);
    assert_ne!(x, y);
    // Rules are not consulted for a target name; they are for a route name.
    let tagged = |route: &str| Request {
        task: Some("everything".into()),
        ..req(route)
    };
    assert_eq!(drive(&mut r, &tagged("x"), t(3), |_| ok(5)).1, [x]);
    assert_eq!(drive(&mut r, &tagged("y"), t(4), |_| ok(5)).1, [y]);
    // Overrides still apply: a drained target named serves nobody.
    r.apply(Override::Drain(x), t(5)).unwrap();
    let (outcome, tried, _) = drive(&mut r, &req("x"), t(6), |_| ok(5));
    assert!(!outcome.is_success());
    assert!(tried.is_empty());
    // A target in no route cannot be named.
    let (outcome, tried, _) = drive(&mut r, &req("lonely"), t(7), |_| ok(5));
    assert_eq!(outcome, FinalOutcome::Failed(FailureReason::UnknownRoute));
    assert!(tried.is_empty());
}

/// An attempt that times out after its reply's head came (`prompt_sent`) brings no usage back,
/// but its provider had the prompt: it is booked the request's estimated prompt,
/// `usage_missing`, as a cancelled attempt is. A timeout with no answer at all (the driver
/// cannot tell a slow connect from a slow provider; a vendor's 408 or 504) is booked nothing,
/// as an error the provider answered (a 500) is.
#[test]
fn a_timed_out_attempt_is_booked_its_prompt_estimate() {
    let mut r = router();
    let a = id(&r, "a");
    let mut plan = r.begin(&req("solo"), t(0));
    let mut now = t(0);
    for report in [fail(ErrorKind::ServerError), fail(ErrorKind::Timeout)] {
        let (att, target, _) = send(r.next(&mut plan, now));
        assert_eq!(target, a);
        r.record(&mut plan, att, report, now);
        assert_eq!(r.telemetry().targets[a.index()].prompt_tokens, 0);
        assert!(!plan.tokens_estimated());
        let Action::Wait { until } = r.next(&mut plan, now) else {
            panic!()
        };
        now = until;
    }
    let (att, _, _) = send(r.next(&mut plan, now));
    let answered = AttemptReport {
        prompt_sent: true,
        ..fail(ErrorKind::Timeout)
    };
    r.record(&mut plan, att, answered, now);
    let tel = &r.telemetry().targets[a.index()];
    assert_eq!((tel.prompt_tokens, tel.usage_missing), (100, 1));
    assert_eq!(plan.tokens().prompt_tokens, 100);
    assert!(plan.tokens_estimated());
    // 100 tokens at 1 USD a million, all wasted.
    assert!((plan.cost() - 1e-4).abs() < 1e-15, "{}", plan.cost());
    assert!((plan.wasted_cost() - 1e-4).abs() < 1e-15);
}

#[test]
fn prometheus_shows_each_client_side_bucket_as_it_stands_at_the_scrape() {
    let yaml = BASE.replace(
        "routes:\n",
        "  - { name: x, provider: px, model: mx, context_window: 100000,
      limits: { requests_per_minute: 60, tokens_per_minute: 6000 } }
  - { name: y, provider: py, model: my, context_window: 100000 }
routes:
  - { name: limited, policy: priority, tiers: [[x], [y]] }
",
    );
    let mut r = Router::new(load_router(&yaml, "test.yaml").unwrap(), SeededRng::new(1));
    let x = id(&r, "x");
    // 100 prompt tokens and `max_tokens` 100 reserved when sent.
    let mut plan = r.begin(&req("limited"), t(0));
    assert_eq!(send(r.next(&mut plan, t(0))).1, x);
    let at = |ms| crate::router::prometheus::render_at(&r, t(ms));
    let sample = |text: &str, name: &str, kind: &str| {
        let head = format!("{name}{{provider=\"px\",target=\"x\",limit=\"{kind}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(head.as_str()).map(str::to_owned))
    };
    let now = at(0);
    assert_eq!(
        sample(&now, "switchyard_rate_limit_remaining", "tokens").as_deref(),
        Some("5800")
    );
    assert_eq!(
        sample(&now, "switchyard_rate_limit_remaining", "requests").as_deref(),
        Some("59")
    );
    assert_eq!(
        sample(&now, "switchyard_rate_limit_per_minute", "tokens").as_deref(),
        Some("6000")
    );
    assert_eq!(
        sample(&now, "switchyard_rate_limit_per_minute", "requests").as_deref(),
        Some("60")
    );
    // Refilled to the scrape's time: 100 tokens and one request a second.
    let later = at(1_000);
    assert_eq!(
        sample(&later, "switchyard_rate_limit_remaining", "tokens").as_deref(),
        Some("5900")
    );
    assert_eq!(
        sample(&later, "switchyard_rate_limit_remaining", "requests").as_deref(),
        Some("60")
    );
    // A target without a bucket has no sample.
    assert!(
        !now.contains("switchyard_rate_limit_remaining{provider=\"py\""),
        "{now}"
    );
    assert!(now.contains("# TYPE switchyard_rate_limit_per_minute gauge"));
}

#[test]
fn a_request_without_max_tokens_reserves_the_default_completion_a_target_is_sent() {
    // `x` is sent 4000 completion tokens for a request that sets none, and may take 5000
    // tokens a minute: one such request in flight (100 + 4000 reserved) leaves too little
    // for a second, which goes to `y`; one with `max_tokens: 100` (100 + 100) still fits.
    let yaml = BASE.replace(
        "routes:\n",
        "  - { name: x, provider: px, model: mx, context_window: 100000, default_max_tokens: 4000,
      limits: { tokens_per_minute: 5000 } }
  - { name: y, provider: py, model: my, context_window: 100000 }
routes:
  - { name: limited, policy: priority, tiers: [[x], [y]] }
",
    );
    let mut r = Router::new(load_router(&yaml, "test.yaml").unwrap(), SeededRng::new(1));
    let (x, y) = (id(&r, "x"), id(&r, "y"));
    let unset = Request {
        max_tokens: None,
        ..req("limited")
    };
    let mut first = r.begin(&unset, t(0));
    assert_eq!(send(r.next(&mut first, t(0))).1, x);
    let mut second = r.begin(&unset, t(1));
    assert_eq!(
        send(r.next(&mut second, t(1))).1,
        y,
        "4100 of 5000 reserved"
    );
    let mut set = r.begin(&req("limited"), t(2));
    assert_eq!(send(r.next(&mut set, t(2))).1, x, "200 more fit");
    let mut third = r.begin(&unset, t(3));
    assert_eq!(send(r.next(&mut third, t(3))).1, y);
}

#[test]
fn least_cost_prices_a_request_without_max_tokens_at_its_prompt() {
    // `x` is the cheaper for the prompt and the dearer per output token, and is sent 4000
    // completion tokens for a request that sets none. Priced at the prompt alone (the other
    // target's completion is unbounded), a request without `max_tokens` goes to `x`; one
    // that asks for 1000 tokens goes to `y`.
    let yaml = BASE.replace(
        "routes:\n",
        "  - { name: x, provider: px, model: mx, context_window: 100000, default_max_tokens: 4000,
      price: { input: 1, output: 10 } }
  - { name: y, provider: py, model: my, context_window: 100000, price: { input: 2, output: 2 } }
routes:
  - { name: cheap, policy: least_cost, targets: [y, x] }
",
    );
    let mut r = Router::new(load_router(&yaml, "test.yaml").unwrap(), SeededRng::new(1));
    let (x, y) = (id(&r, "x"), id(&r, "y"));
    let unset = Request {
        max_tokens: None,
        ..req("cheap")
    };
    assert_eq!(drive(&mut r, &unset, t(0), |_| ok(5)).1, [x]);
    let long = Request {
        max_tokens: Some(1000),
        ..req("cheap")
    };
    assert_eq!(drive(&mut r, &long, t(10), |_| ok(5)).1, [y]);
}

/// A request on `route` that found no target it could send to at `now` (one whose targets are
/// parked past `park_wait_max` ends `rate_limited`): its plan, finished.
fn refused(r: &mut Router, route: &str, now: Instant) -> Plan {
    let mut plan = r.begin(&req(route), now);
    let action = r.next(&mut plan, now);
    assert!(
        matches!(action, Action::Finish(FinalOutcome::Failed(_))) && plan.attempts() == 0,
        "{action:?}"
    );
    plan
}

#[test]
fn retry_wait_reads_the_targets_a_request_could_still_take() {
    // `chat` tiers a, b, c. Park b for 10 s and c for 20 s.
    let mut r = router();
    let (a, b, c) = (id(&r, "a"), id(&r, "b"), id(&r, "c"));
    let park = |r: &mut Router, target, secs| {
        let snap = LimitSnapshot {
            remaining_requests: Some(0),
            reset_requests: Some(Duration::from_secs(secs)),
            ..LimitSnapshot::default()
        };
        r.observe_limits(target, &snap, t(0));
    };
    park(&mut r, b, 10);
    park(&mut r, c, 20);
    // A drained target says nothing (it does not come back by itself): b's 10 s.
    r.apply(Override::Drain(a), t(0)).unwrap();
    let plan = refused(&mut r, "chat", t(0));
    assert_eq!(r.retry_wait(&plan, t(0)), Some(Duration::from_secs(10)));
    r.apply(Override::Restore(Scope::Target(a)), t(0)).unwrap();
    // Over its cost cap until its window (1 h) ends: a waits for that, b's 10 s is sooner.
    r.params.targets[a.index()].cost_cap = Some(crate::target::CostCap {
        usd: 0.0001,
        window: Duration::from_secs(3600),
    });
    drive(&mut r, &req("solo"), t(0), |_| ok(10));
    let plan = refused(&mut r, "chat", t(20));
    assert_eq!(
        r.retry_wait(&plan, t(20)),
        Some(Duration::from_millis(9_980))
    );
    // With b and c drained, a's cost-cap window says when: its end, 1 h from the start.
    r.apply(Override::Drain(b), t(20)).unwrap();
    r.apply(Override::Drain(c), t(20)).unwrap();
    let plan = refused(&mut r, "chat", t(30));
    assert_eq!(
        r.retry_wait(&plan, t(30)),
        Some(Duration::from_millis(3_600_000 - 30))
    );
}

#[test]
fn retry_wait_on_a_pinned_route_counts_only_its_pinned_target() {
    // `primary` is [a] with fallback `backup` ([c]); pinned to a, a drained: nothing in
    // `primary` can take the request (not even an idle member pinned away), so c's parking
    // (10 s) says when.
    let yaml = BASE.replace(
        "  - { name: primary, policy: static, targets: [a], fallback: backup }\n",
        "  - { name: primary, policy: priority, tiers: [[a], [b]], fallback: backup }\n",
    );
    let mut r = Router::new(load_router(&yaml, "test.yaml").unwrap(), SeededRng::new(1));
    let (a, c) = (id(&r, "a"), id(&r, "c"));
    let primary = r.params().route_id("primary").unwrap();
    let snap = LimitSnapshot {
        remaining_requests: Some(0),
        reset_requests: Some(Duration::from_secs(10)),
        ..LimitSnapshot::default()
    };
    r.observe_limits(c, &snap, t(0));
    r.apply(Override::Pin(primary, a), t(0)).unwrap();
    r.apply(Override::Drain(a), t(0)).unwrap();
    let plan = refused(&mut r, "primary", t(0));
    assert_eq!(r.retry_wait(&plan, t(0)), Some(Duration::from_secs(10)));
}

#[test]
fn retry_wait_counts_an_open_breaker_only_while_the_automaton_runs_it() {
    // Three server errors open a's breaker for 5 s; an operator then disables it, which lets
    // everything through and leaves its state as it was: a waits nothing.
    let mut r = router();
    let a = id(&r, "a");
    let (_, tried, end) = drive(&mut r, &req("solo"), t(0), |_| fail(ErrorKind::ServerError));
    assert_eq!(tried, [a, a, a]);
    let plan = r.begin(&req("solo"), end);
    let wait = r.retry_wait(&plan, end).unwrap();
    assert!(wait > Duration::from_secs(4), "{wait:?}");
    r.apply(Override::Force(a, BreakerMode::Disabled), end)
        .unwrap();
    assert_eq!(r.retry_wait(&plan, end), Some(Duration::ZERO));
}

#[test]
fn retry_wait_on_a_pinned_route_still_counts_the_cost_cap_and_the_pin_of_a_named_target() {
    let mut r = router();
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let chat = r.params().route_id("chat").unwrap();
    r.apply(Override::Pin(chat, a), t(0)).unwrap();
    // Pinned, a is sent to whatever its breaker says (forced open too): it waits nothing.
    r.apply(Override::Force(a, BreakerMode::ForcedOpen), t(0))
        .unwrap();
    let plan = r.begin(&req("chat"), t(0));
    assert_eq!(r.retry_wait(&plan, t(0)), Some(Duration::ZERO));
    // But not past its cost cap: over it, a waits for its window's end (1 h).
    r.apply(Override::Force(a, BreakerMode::Automatic), t(0))
        .unwrap();
    r.params.targets[a.index()].cost_cap = Some(crate::target::CostCap {
        usd: 0.0001,
        window: Duration::from_secs(3600),
    });
    drive(&mut r, &req("chat"), t(0), |_| ok(10));
    let plan = refused(&mut r, "chat", t(10));
    assert_eq!(
        r.retry_wait(&plan, t(10)),
        Some(Duration::from_millis(3_600_000 - 10))
    );
    // A request naming b, a member of the pinned route, cannot go to it while the pin holds,
    // whatever b's own parking says: nothing says when.
    let snap = LimitSnapshot {
        remaining_requests: Some(0),
        reset_requests: Some(Duration::from_secs(10)),
        ..LimitSnapshot::default()
    };
    r.observe_limits(b, &snap, t(10));
    let plan = refused(&mut r, "b", t(10));
    assert_eq!(r.retry_wait(&plan, t(10)), None);
}

#[test]
fn retry_wait_under_panic_bypass_counts_no_breaker_cooldown() {
    // Bypass sends to a breaker-blocked member when nothing else on its route would take the
    // request: an open breaker holds nothing back.
    let mut r = router_with("panic_mode: bypass\n");
    let a = id(&r, "a");
    let (_, tried, end) = drive(&mut r, &req("solo"), t(0), |_| fail(ErrorKind::ServerError));
    assert_eq!(tried, [a, a, a]);
    let plan = r.begin(&req("solo"), end);
    assert_eq!(r.retry_wait(&plan, end), Some(Duration::ZERO));
}
