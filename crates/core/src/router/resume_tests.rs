//! Streams that survive their provider: a route's `resume: prefill`, scripted step by step.

use super::*;
use crate::plan::Continuation;

/// `a` cannot continue a stream; `b` and `c` can. `resumable` tries a, then b, then c;
/// `plain` is the same route without `resume`; `lonely` has one capable member.
fn resume_router(plan: &str) -> Router {
    let yaml = format!(
        "\
targets:
  - {{ name: a, provider: pa, model: ma }}
  - {{ name: b, provider: pb, model: mb, capabilities: [streaming, prefill] }}
  - {{ name: c, provider: pc, model: mc, capabilities: [streaming, prefill] }}
routes:
  - {{ name: resumable, policy: priority, tiers: [[a], [b], [c]], resume: prefill }}
  - {{ name: plain, policy: priority, tiers: [[a], [b], [c]] }}
  - {{ name: lonely, policy: priority, tiers: [[b], [a]], resume: prefill }}
plan:
  max_attempts: 4
  attempt_timeout: 10s
  deadline: 30s
{plan}breaker: {{ consecutive_failures: 3, open_for: 5s }}
"
    );
    Router::new(
        load_router(&yaml, "resume.yaml").unwrap(),
        SeededRng::new(5),
    )
}

fn stream(route: &str) -> Request {
    Request {
        stream: true,
        ..req(route)
    }
}

/// The committed stream broke after `delivered` tokens.
fn broke(kind: ErrorKind, delivered: u32) -> AttemptReport {
    AttemptReport {
        first_token: Some(Duration::from_millis(100)),
        prompt_tokens: 100,
        completion_tokens: delivered,
        delivered_tokens: true,
        ..AttemptReport::new(Outcome::error(kind), Duration::from_millis(900))
    }
}

/// A prefill refused: Anthropic's and Gemini's 400.
fn refused() -> AttemptReport {
    AttemptReport::new(
        Outcome::error(ErrorKind::BadRequest),
        Duration::from_millis(20),
    )
}

fn continuation(action: Action) -> (AttemptId, TargetId, Option<Continuation>) {
    match action {
        Action::Send {
            attempt,
            target,
            continuation,
            ..
        } => (attempt, target, continuation),
        other => panic!("expected Send, got {other:?}"),
    }
}

/// Sends the first attempt and commits it at its first token.
fn committed(r: &mut Router, plan: &mut Plan, now: Instant) -> (AttemptId, TargetId) {
    let (attempt, target, marker) = continuation(r.next(plan, now));
    assert_eq!(marker, None, "a first attempt is no continuation");
    assert!(
        r.first_token(plan, attempt, now + Duration::from_millis(100))
            .is_empty()
    );
    (attempt, target)
}

fn route_stats(r: &Router, name: &str) -> crate::telemetry::RouteStats {
    let route = r.params().route_id(name).unwrap();
    r.telemetry().routes[route.index()].clone()
}

fn assert_quiet(r: &Router) {
    for (i, h) in r.health.iter().enumerate() {
        assert_eq!(h.in_flight, 0, "target {i} still has attempts in flight");
    }
}

fn stream_failed(kind: ErrorKind) -> Option<FinalOutcome> {
    Some(FinalOutcome::Failed(FailureReason::Attempt(kind)))
}

#[test]
fn a_cut_stream_continues_on_a_capable_member_and_is_served_by_it() {
    let mut r = resume_router("");
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, target) = committed(&mut r, &mut plan, t(0));
    assert_eq!(target, a);
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    assert_eq!(plan.outcome(), None, "the break does not end the request");
    assert_eq!(plan.committed(), None);
    // The continuation: b, marked, with what the caller already holds.
    let (cont, target, marker) = continuation(r.next(&mut plan, t(900)));
    assert_eq!(target, b);
    assert_eq!(
        marker,
        Some(Continuation {
            delivered_tokens: 40
        })
    );
    assert!(plan.is_continuation(cont) && !plan.is_continuation(first));
    // Its first token commits it; nothing else was out.
    assert!(r.first_token(&mut plan, cont, t(1_200)).is_empty());
    assert_eq!(plan.committed(), Some(cont));
    assert_eq!(r.next(&mut plan, t(1_200)), Action::Await);
    r.record(&mut plan, cont, ok(600), t(1_500));
    assert_eq!(plan.outcome(), Some(FinalOutcome::Served(b)));
    let stats = route_stats(&r, "resumable");
    assert_eq!((stats.requests, stats.served), (1, 1));
    assert_eq!((stats.resumed, stats.resume_failed), (1, 0));
    assert_eq!(stats.attempts, 2);
    // Each attempt is booked once, on its own target, with its own tokens.
    let tel = r.telemetry();
    assert_eq!(tel.targets[a.index()].errors_total(), 1);
    assert_eq!(tel.targets[a.index()].completion_tokens, 40);
    assert_eq!(tel.targets[b.index()].successes, 1);
    assert_eq!(tel.targets[b.index()].completion_tokens, 50);
    assert_quiet(&r);
}

#[test]
fn without_resume_or_without_a_capable_member_the_request_fails_with_the_stream_error() {
    let mut r = resume_router("");
    // A route without `resume`: as before, the break ends the request.
    let mut plan = r.begin(&stream("plain"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    assert_eq!(plan.outcome(), stream_failed(ErrorKind::StreamInterrupted));
    assert_eq!(plan.attempts(), 1);
    assert_eq!(route_stats(&r, "plain").resume_failed, 0);
    // `lonely`: its one capable member is the one that broke (a malformed event this time).
    let mut plan = r.begin(&stream("lonely"), t(10_000));
    let (first, target) = committed(&mut r, &mut plan, t(10_000));
    assert_eq!(target, id(&r, "b"));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::MalformedResponse, 7),
        t(10_900),
    );
    assert_eq!(
        r.next(&mut plan, t(10_900)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::MalformedResponse
        )))
    );
    assert_eq!(plan.attempts(), 1, "a cannot continue: never sent");
    let stats = route_stats(&r, "lonely");
    assert_eq!(
        (stats.requests, stats.resumed, stats.resume_failed),
        (1, 0, 1)
    );
    assert_quiet(&r);
}

#[test]
fn a_refused_prefill_moves_to_the_next_capable_member_and_never_becomes_the_error() {
    let mut r = resume_router("");
    let (b, c) = (id(&r, "b"), id(&r, "c"));
    // b refuses; c continues.
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    let (cont, target, _) = continuation(r.next(&mut plan, t(900)));
    assert_eq!(target, b);
    r.record(&mut plan, cont, refused(), t(920));
    assert_eq!(plan.outcome(), None, "a refusal is not the end");
    let (cont, target, marker) = continuation(r.next(&mut plan, t(920)));
    assert_eq!(target, c);
    assert_eq!(marker.map(|m| m.delivered_tokens), Some(40));
    r.first_token(&mut plan, cont, t(1_200));
    r.record(&mut plan, cont, ok(500), t(1_420));
    assert_eq!(plan.outcome(), Some(FinalOutcome::Served(c)));
    // Both refuse: the request fails with the cut, not with the 400.
    let mut plan = r.begin(&stream("resumable"), t(2_000));
    let (first, _) = committed(&mut r, &mut plan, t(2_000));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(2_900),
    );
    for (at, expected) in [(2_900, b), (2_920, c)] {
        let (cont, target, _) = continuation(r.next(&mut plan, t(at)));
        assert_eq!(target, expected);
        r.record(&mut plan, cont, refused(), t(at + 20));
    }
    assert_eq!(
        r.next(&mut plan, t(2_940)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::StreamInterrupted
        )))
    );
    assert_eq!(plan.attempts(), 3);
    let stats = route_stats(&r, "resumable");
    assert_eq!(
        (stats.requests, stats.resumed, stats.resume_failed),
        (2, 1, 1)
    );
    assert_eq!(
        stats.failures
            [crate::telemetry::failure_index(FailureReason::Attempt(ErrorKind::BadRequest))],
        0
    );
    assert_quiet(&r);
}

#[test]
fn a_continuation_that_breaks_too_resumes_again_with_everything_delivered() {
    let mut r = resume_router("");
    let c = id(&r, "c");
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    let (cont, _, _) = continuation(r.next(&mut plan, t(900)));
    r.first_token(&mut plan, cont, t(1_000));
    r.record(&mut plan, cont, broke(ErrorKind::Timeout, 10), t(1_500));
    let (last, target, marker) = continuation(r.next(&mut plan, t(1_500)));
    assert_eq!(target, c);
    assert_eq!(
        marker,
        Some(Continuation {
            delivered_tokens: 50
        })
    );
    // c breaks as well: nothing is left; the request reports the first break.
    r.first_token(&mut plan, last, t(1_600));
    r.record(&mut plan, last, broke(ErrorKind::Timeout, 3), t(1_900));
    assert_eq!(
        r.next(&mut plan, t(1_900)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::StreamInterrupted
        )))
    );
    assert_eq!(plan.attempts(), 3);
    assert_quiet(&r);
}

#[test]
fn continuations_count_against_max_attempts_the_deadline_and_the_retry_budget() {
    // max_attempts 2: the break and one refused continuation use them up.
    let mut r = resume_router("").with_plan(|p| p.max_attempts = 2);
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    let (cont, _, _) = continuation(r.next(&mut plan, t(900)));
    r.record(&mut plan, cont, refused(), t(920));
    assert_eq!(
        r.next(&mut plan, t(920)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::StreamInterrupted
        )))
    );
    assert_eq!(plan.attempts(), 2);

    // The deadline (30 s) passed while the stream ran: no continuation.
    let mut r = resume_router("");
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 900),
        t(31_000),
    );
    assert_eq!(
        r.next(&mut plan, t(31_000)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::StreamInterrupted
        )))
    );
    assert_eq!(plan.attempts(), 1);
    // Before it, a continuation's first-token bound is what is left of it.
    let mut plan = r.begin(&stream("resumable"), t(40_000));
    let (first, _) = committed(&mut r, &mut plan, t(40_000));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 90),
        t(65_000),
    );
    let Action::Send { timeouts, .. } = r.next(&mut plan, t(65_000)) else {
        panic!("expected a continuation")
    };
    assert_eq!(timeouts.first, Duration::from_secs(5));
    r.abandon(&mut plan, t(65_001));

    // No retry budget at all: the continuation is refused, the stream's error stands.
    let mut r = resume_router("retry_budget: { ratio: 0, min_per_second: 0 }\n");
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    assert_eq!(
        r.next(&mut plan, t(900)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::StreamInterrupted
        )))
    );
    assert_eq!(plan.attempts(), 1);
    assert_eq!(route_stats(&r, "resumable").resume_failed, 1);
    assert_quiet(&r);
}

#[test]
fn a_continuation_skips_members_that_are_not_eligible() {
    let mut r = resume_router("");
    let (b, c) = (id(&r, "b"), id(&r, "c"));
    r.apply(Override::Drain(b), t(0)).unwrap();
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    let (_, target, _) = continuation(r.next(&mut plan, t(900)));
    assert_eq!(target, c, "b is drained");
    r.abandon(&mut plan, t(950));
    // c's breaker open as well: nothing can continue.
    r.apply(Override::Force(c, BreakerMode::ForcedOpen), t(1_000))
        .unwrap();
    let mut plan = r.begin(&stream("resumable"), t(1_000));
    let (first, _) = committed(&mut r, &mut plan, t(1_000));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(1_900),
    );
    assert_eq!(plan.attempts(), 1);
    assert_eq!(
        r.next(&mut plan, t(1_900)),
        Action::Finish(FinalOutcome::Failed(FailureReason::Attempt(
            ErrorKind::StreamInterrupted
        )))
    );
}

#[test]
fn abandon_during_a_continuation_keeps_exact_books() {
    let mut r = resume_router("");
    let b = id(&r, "b");
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    let (cont, _, _) = continuation(r.next(&mut plan, t(900)));
    assert_eq!(r.health(b).in_flight, 1);
    r.abandon(&mut plan, t(950));
    assert_eq!(
        plan.outcome(),
        Some(FinalOutcome::Failed(FailureReason::Abandoned))
    );
    assert_quiet(&r);
    // A late report of the continuation changes nothing; a second abandon counts nothing.
    r.record(&mut plan, cont, ok(100), t(1_000));
    r.abandon(&mut plan, t(1_100));
    let stats = route_stats(&r, "resumable");
    assert_eq!(stats.requests, 1);
    assert_eq!((stats.resumed, stats.resume_failed), (0, 0));
    assert_eq!(r.telemetry().targets[b.index()].cancelled, 1);
    let attempts: u64 = r.telemetry().targets.iter().map(|t| t.attempts).sum();
    assert_eq!(attempts, 2);
}

#[test]
fn a_stream_the_driver_cannot_continue_ends_with_its_error() {
    let mut r = resume_router("");
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    plan.forbid_resume();
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 40),
        t(900),
    );
    assert_eq!(plan.outcome(), stream_failed(ErrorKind::StreamInterrupted));
    assert_eq!(plan.attempts(), 1);
}

/// The hedge still out when a stream breaks (a report with `delivered_tokens` and no
/// `first_token` call) is cancelled by the resume; it was sent the prompt, so it is booked
/// the request's estimated prompt, `usage_missing`, as at a commit.
#[test]
fn a_hedge_still_out_when_the_stream_breaks_is_cancelled() {
    let mut r = resume_router("  hedge_after: 500ms\n");
    let (a, b) = (id(&r, "a"), id(&r, "b"));
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _, _) = continuation(r.next(&mut plan, t(0)));
    let (hedge, target, _) = continuation(r.next(&mut plan, t(500)));
    assert_eq!(target, b);
    // a delivered tokens without a first-token call (a driver that saw them all at once).
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::StreamInterrupted, 5),
        t(600),
    );
    assert!(!plan.is_outstanding(hedge), "the hedge is cancelled");
    let tel = &r.telemetry().targets[b.index()];
    assert_eq!(
        (tel.cancelled, tel.usage_missing, tel.prompt_tokens),
        (1, 1, 100)
    );
    assert_eq!(
        plan.tokens().prompt_tokens,
        200,
        "the break's 100, the hedge's 100"
    );
    assert!(plan.tokens_estimated());
    // The continuation is a new attempt, never hedged.
    let (cont, target, marker) = continuation(r.next(&mut plan, t(600)));
    assert_eq!((target, marker.is_some()), (b, true));
    assert_eq!(r.next(&mut plan, t(5_000)), Action::Await);
    r.first_token(&mut plan, cont, t(5_100));
    r.record(&mut plan, cont, ok(200), t(5_200));
    assert_eq!(plan.outcome(), Some(FinalOutcome::Served(b)));
    assert_eq!(r.telemetry().targets[a.index()].errors_total(), 1);
    assert_quiet(&r);
}

#[test]
fn a_route_that_resumes_needs_a_member_with_prefill() {
    let yaml = "\
targets:
  - { name: a, provider: pa, model: ma }
  - { name: b, provider: pb, model: mb, capabilities: [streaming] }
routes:
  - { name: chat, policy: priority, tiers: [[a], [b]] }
  - { name: resumed, policy: priority, tiers: [[a], [b]], resume: prefill }
";
    let err = load_router(yaml, "r.yaml").unwrap_err();
    assert_eq!(err.path, "routes[1].resume", "{err}");
    assert!(err.message.contains("`resumed`"), "{err}");
    assert_eq!(err.line, 6, "{err}");
    let ok = yaml.replace(
        "capabilities: [streaming]",
        "capabilities: [streaming, prefill]",
    );
    let params = load_router(&ok, "r.yaml").unwrap();
    assert_eq!(params.routes[1].resume, ResumeMode::Prefill);
    assert_eq!(params.routes[0].resume, ResumeMode::None);
    // The capability's spelling is listed when a name is wrong.
    let err = load_router(&yaml.replace("[streaming]", "[prefil]"), "r.yaml").unwrap_err();
    assert!(err.message.contains("prefill"), "{err}");
}

impl Router {
    fn with_plan(mut self, f: impl FnOnce(&mut crate::plan::PlanParams)) -> Router {
        f(&mut self.params.plan);
        self
    }
}

/// RV: a continuation sends the request's prompt and, as a prefill, the 40 tokens the caller
/// already holds (the simulator books a continuation that answers `prompt + delivered`). One
/// the driver gives up (`give_up`: the live driver's after a dropped `next()`) is booked the
/// 140 its provider was sent and bills, not the request's estimate alone (100).
#[test]
fn rv_a_given_up_continuation_is_booked_its_prompt_and_prefill() {
    let mut r = resume_router("");
    let mut plan = r.begin(&stream("resumable"), t(0));
    let (first, _) = committed(&mut r, &mut plan, t(0));
    r.record(
        &mut plan,
        first,
        broke(ErrorKind::ServerError, 40),
        t(1_000),
    );
    let (c, target, marker) = continuation(r.next(&mut plan, t(1_000)));
    assert_eq!(marker.map(|m| m.delivered_tokens), Some(40));
    r.give_up(&mut plan, c, t(1_100));
    assert!(!plan.is_outstanding(c));
    let tel = &r.telemetry().targets[target.index()];
    assert_eq!((tel.cancelled, tel.usage_missing), (1, 1));
    assert_eq!(
        tel.prompt_tokens, 140,
        "the prompt and the 40-token prefill"
    );
}
