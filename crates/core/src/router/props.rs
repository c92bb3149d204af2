//! Invariants of plans under random outcomes.

use super::*;
use crate::rng::SeededRng;
use proptest::prelude::{
    Just, ProptestConfig, Strategy, any, prop_assert, prop_assert_eq, prop_oneof, proptest,
};

fn kind_strategy() -> impl Strategy<Value = Option<ErrorKind>> {
    prop_oneof![
        3 => Just(None),
        1 => proptest::sample::select(ErrorKind::ALL.to_vec()).prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Under any sequence of outcomes and latencies, every request ends in exactly one final
    /// outcome, within max attempts and the deadline, and a drained target gets no attempt.
    #[test]
    fn plans_stay_within_their_bounds(
        outcomes in proptest::collection::vec((kind_strategy(), 1u64..20_000), 1..200),
        route in proptest::sample::select(vec!["chat", "solo", "spread", "primary"]),
        stream in any::<bool>(),
        drain_b in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut r = Router::new(load_router(BASE, "t.yaml").unwrap(), SeededRng::new(seed));
        let b = id(&r, "b");
        if drain_b {
            r.apply(Override::Drain(b), t(0)).unwrap();
        }
        let mut cursor = 0;
        let mut requests = 0u64;
        let mut start = t(0);
        while cursor < outcomes.len() && requests < 50 {
            let mut answers = outcomes[cursor..].iter().cycle();
            let request = Request { stream, ..req(route) };
            let (_, tried, end) = drive(&mut r, &request, start, |_| {
                let (kind, ms) = *answers.next().unwrap();
                cursor += 1;
                let outcome = kind.map_or(Outcome::Success, Outcome::error);
                AttemptReport { delivered_tokens: false, ..AttemptReport::new(outcome, Duration::from_millis(ms)) }
            });
            requests += 1;
            prop_assert!(tried.len() <= 3, "max attempts: {tried:?}");
            prop_assert!(end <= start + Duration::from_secs(30) + Duration::from_secs(20), "deadline");
            prop_assert!(!drain_b || !tried.contains(&b), "drained target got an attempt");
            start = end;
            cursor += 1;
        }
        let tel = r.telemetry();
        let counted: u64 = tel.routes.iter().map(|s| s.requests).sum();
        let served: u64 = tel.routes.iter().map(|s| s.served + s.failed()).sum();
        prop_assert_eq!(counted, requests, "each request counted once");
        prop_assert_eq!(served, requests, "each request has one final outcome");
    }

    /// Retries (attempts beyond the first) never exceed the budget: the floor plus the ratio of
    /// requests, over any window.
    #[test]
    fn retries_never_exceed_the_budget(seed in any::<u64>(), n in 1u64..300) {
        let mut r = Router::new(load_router(BASE, "t.yaml").unwrap(), SeededRng::new(seed));
        r.params.budget = crate::plan::BudgetParams { ratio: 0.1, min_per_second: 0.5, window: Duration::from_secs(10) };
        r.budget = RetryBudget::new(r.params.budget);
        disable_breakers(&mut r);
        let mut retries = 0u64;
        // Everything inside one 10 s window.
        for i in 0..n {
            let (_, tried, _) = drive(&mut r, &req("spread"), t(i), |_| {
                AttemptReport::new(Outcome::error(ErrorKind::ServerError), Duration::from_micros(1))
            });
            retries += (tried.len() as u64).saturating_sub(1);
        }
        let allowance = 5.0 + 0.1 * n as f64;
        prop_assert!(retries as f64 <= allowance, "{retries} retries for {n} requests");
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A new request on route `0..6`, streaming or not.
    Begin(u8, bool),
    /// The driver asks the plan what to do next (and sends, if told to).
    Next(u8),
    /// An outstanding attempt reports: `None` is a success, else that error.
    Report(u8, u8, Option<ErrorKind>, Option<u16>),
    /// An attempt (outstanding or not) yields its first token.
    FirstToken(u8, u8),
    /// A late report for an attempt that already reported or was cancelled.
    Stale(u8, u8, Option<ErrorKind>, bool),
    /// The caller of a plan goes away.
    Abandon(u8),
    /// Time passes (milliseconds).
    Tick(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..6, any::<bool>()).prop_map(|(r, s)| Op::Begin(r, s)),
        5 => any::<u8>().prop_map(Op::Next),
        4 => (any::<u8>(), any::<u8>(), kind_strategy(), proptest::option::of(0u16..40))
            .prop_map(|(p, a, k, ra)| Op::Report(p, a, k, ra)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(p, a)| Op::FirstToken(p, a)),
        2 => (any::<u8>(), any::<u8>(), kind_strategy(), any::<bool>())
            .prop_map(|(p, a, k, d)| Op::Stale(p, a, k, d)),
        1 => any::<u8>().prop_map(Op::Abandon),
        2 => (1u32..90_000).prop_map(Op::Tick),
    ]
}

/// One request as the test's driver sees it.
struct Driven {
    plan: Plan,
    /// Attempts sent and not yet reported or cancelled, by the driver's own books.
    outstanding: Vec<AttemptId>,
    finished: bool,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any interleaving of begin / next / record / first_token / abandon and time jumps keeps
    /// the books exact: nothing is sent after a plan finished, every target's `in_flight`
    /// equals the attempts really outstanding (so it never underflows) and returns to 0, a
    /// breaker never has more probes out than configured, and every begun request is counted
    /// exactly once.
    #[test]
    fn any_interleaving_keeps_exact_books(
        ops in proptest::collection::vec(op(), 1..400),
        hedge in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let extra = if hedge { "  hedge_after: 300ms\n" } else { "" };
        // b and c can continue a broken stream; `resumable` resumes on them.
        let yaml = BASE
            .replace("plan:\n", &format!("plan:\n{extra}"))
            .replace("context_window: 32000 }", "context_window: 32000, capabilities: [streaming, prefill] }")
            .replace("context_window: 128000 }", "context_window: 128000, capabilities: [streaming, prefill] }")
            .replace("routes:\n", "routes:\n  - { name: resumable, policy: priority, tiers: [[a], [b, c]], resume: prefill }\n");
        let mut r = Router::new(load_router(&yaml, "t.yaml").unwrap(), SeededRng::new(seed));
        let routes = ["chat", "solo", "spread", "primary", "nowhere", "resumable"];
        let mut reqs: Vec<Driven> = Vec::new();
        let mut now = t(0);
        for op in ops {
            match op {
                Op::Begin(route, stream) => {
                    let request = Request { stream, ..req(routes[usize::from(route)]) };
                    let plan = r.begin(&request, now);
                    reqs.push(Driven { plan, outstanding: Vec::new(), finished: false });
                }
                Op::Next(p) if !reqs.is_empty() => {
                    let n = reqs.len();
                    let d = &mut reqs[usize::from(p) % n];
                    match r.next(&mut d.plan, now) {
                        Action::Send { attempt, target, continuation, hedge, .. } => {
                            prop_assert!(!d.finished, "sent after the plan finished");
                            if continuation.is_some() {
                                // Only on a resuming route, to a capable target, never hedged,
                                // and with nothing else out.
                                let t = r.params().target(target);
                                prop_assert!(t.capabilities.contains(crate::request::Capabilities::PREFILL));
                                prop_assert_eq!(d.plan.route().map(|x| r.params().route(x).name.as_str()), Some("resumable"));
                                prop_assert!(!hedge && d.outstanding.is_empty());
                                prop_assert!(d.plan.is_continuation(attempt));
                            }
                            d.outstanding.push(attempt);
                        }
                        Action::Finish(_) => d.finished = true,
                        Action::Wait { until } => prop_assert!(until > now),
                        Action::Await => prop_assert!(!d.outstanding.is_empty()),
                    }
                }
                Op::Report(p, a, kind, retry_after) if !reqs.is_empty() => {
                    let n = reqs.len();
                    let d = &mut reqs[usize::from(p) % n];
                    if !d.outstanding.is_empty() {
                        let attempt = d.outstanding.remove(usize::from(a) % d.outstanding.len());
                        let outcome = match kind {
                            None => Outcome::Success,
                            Some(kind) => Outcome::Error {
                                kind,
                                retry_after: retry_after.map(|s| Duration::from_secs(u64::from(s))),
                            },
                        };
                        let report = AttemptReport {
                            completion_tokens: u32::from(a),
                            ..AttemptReport::new(outcome, Duration::from_millis(5))
                        };
                        r.record(&mut d.plan, attempt, report, now);
                        // A break may cancel attempts still out (a resume): the driver drops them.
                        let plan = &d.plan;
                        d.outstanding.retain(|x| plan.is_outstanding(*x));
                    }
                }
                Op::FirstToken(p, a) if !reqs.is_empty() => {
                    let n = reqs.len();
                    let d = &mut reqs[usize::from(p) % n];
                    if d.plan.attempts() > 0 {
                        let attempt = AttemptId(a % d.plan.attempts() as u8);
                        let before = d.plan.committed();
                        let cancelled = r.first_token(&mut d.plan, attempt, now);
                        prop_assert!(!cancelled.contains(attempt));
                        for c in cancelled.iter() {
                            prop_assert!(d.outstanding.contains(&c), "cancelled {c:?} twice");
                        }
                        if !d.outstanding.contains(&attempt) || before.is_some() {
                            prop_assert!(cancelled.is_empty());
                            prop_assert_eq!(d.plan.committed(), before);
                        }
                        d.outstanding.retain(|x| !cancelled.contains(*x));
                    }
                }
                Op::Stale(p, a, kind, delivered) if !reqs.is_empty() => {
                    let n = reqs.len();
                    let d = &mut reqs[usize::from(p) % n];
                    let done: Vec<AttemptId> = (0..d.plan.attempts() as u8)
                        .map(AttemptId)
                        .filter(|x| !d.outstanding.contains(x))
                        .collect();
                    if !done.is_empty() {
                        let attempt = done[usize::from(a) % done.len()];
                        let outcome = kind.map_or(Outcome::Success, Outcome::error);
                        let report = AttemptReport {
                            delivered_tokens: delivered,
                            ..AttemptReport::new(outcome, Duration::from_millis(5))
                        };
                        let finished = |r: &Router| -> u64 {
                            r.telemetry()
                                .targets
                                .iter()
                                .map(|t| t.successes + t.errors_total() + t.cancelled)
                                .sum()
                        };
                        let (before, outcome_before) = (finished(&r), d.plan.outcome());
                        r.record(&mut d.plan, attempt, report, now);
                        prop_assert_eq!(finished(&r), before, "a stale report was counted");
                        prop_assert_eq!(d.plan.outcome(), outcome_before, "a stale report decided");
                    }
                }
                Op::Abandon(p) if !reqs.is_empty() => {
                    let n = reqs.len();
                    let d = &mut reqs[usize::from(p) % n];
                    r.abandon(&mut d.plan, now);
                    d.outstanding.clear();
                    d.finished = true;
                }
                Op::Tick(ms) => now += Duration::from_millis(u64::from(ms)),
                _ => {}
            }
            let mut by_target = vec![0u32; r.params().targets.len()];
            for d in &reqs {
                prop_assert_eq!(d.plan.in_flight(), d.outstanding.len());
                // After a commit only the committed attempt is still out.
                if let Some(c) = d.plan.committed() {
                    prop_assert!(d.outstanding.iter().all(|x| *x == c), "a loser outlived the commit");
                }
                for a in &d.outstanding {
                    by_target[d.plan.slot(*a).unwrap().record.target.index()] += 1;
                }
            }
            for (i, h) in r.health.iter().enumerate() {
                prop_assert_eq!(h.in_flight, by_target[i], "target {}", i);
                prop_assert!(h.breaker.probes_in_flight() <= h.breaker.params().probes);
            }
        }
        // Every caller leaves: the books close.
        for d in &mut reqs {
            r.abandon(&mut d.plan, now);
            prop_assert!(d.plan.outcome().is_some());
            let sent = matches!(r.next(&mut d.plan, now), Action::Send { .. });
            prop_assert!(!sent, "sent after abandon");
        }
        for h in &r.health {
            prop_assert_eq!(h.in_flight, 0);
        }
        let tel = r.telemetry();
        let counted: u64 = tel.routes.iter().map(|s| s.requests).sum::<u64>() + tel.unrouted.requests;
        let ended: u64 = tel.routes.iter().map(|s| s.served + s.failed()).sum::<u64>()
            + tel.unrouted.served + tel.unrouted.failed();
        prop_assert_eq!(counted, reqs.len() as u64, "each request counted once");
        prop_assert_eq!(ended, reqs.len() as u64, "each request has one final outcome");
        for s in &tel.routes {
            prop_assert!(s.resumed <= s.served, "a resume is counted only for a served request");
            prop_assert!(s.resume_failed <= s.failed(), "a failed resume is a failed request");
        }
    }
}
