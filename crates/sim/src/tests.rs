use super::*;
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{ErrorKind, Outcome};
use switchyard_core::request::Capabilities;
use switchyard_fake::distribution::Distribution;
use traffic::{Arrival, ClassParams};

fn profile(name: &str, faults: &str) -> ProfileParams {
    let text = format!(
        "name: {name}\ndialect: openai\nmodels:\n  - {{ name: m, context_window: 100000, price: {{ input: 1, output: 2 }} }}\n\
         latency:\n  first_token: {{ lognormal: {{ p50: 300ms, p99: 1500ms }} }}\n  tokens_per_second: {{ fixed: 100 }}\n\
         output_tokens: {{ fixed: 20 }}\n{faults}"
    );
    switchyard_fake::load_profile(&text, "p.yaml").unwrap()
}

fn params(routes: &str, faults_a: &str, rate: f64, secs: u64) -> SimParams {
    let yaml = format!(
        "targets:\n  - {{ name: a, provider: pa, model: m, price: {{ input: 1, output: 2 }} }}\n  - {{ name: b, provider: pb, model: m }}\n\
         routes:\n{routes}plan: {{ max_attempts: 3, attempt_timeout: 10s, deadline: 30s }}\n"
    );
    let class = |name: &str, weight: f64, stream: f64| ClassParams {
        abandon_after: None,
        name: name.into(),
        weight,
        route: "r".into(),
        task: None,
        prompt_tokens: Distribution::Fixed(200.0),
        max_tokens: 100,
        stream,
        needs: Capabilities::NONE,
    };
    SimParams {
        router: switchyard_core::config::load_router(&yaml, "r.yaml").unwrap(),
        providers: vec![
            SimProvider {
                name: "pa".into(),
                profile: profile("pa", faults_a),
                keys: Vec::new(),
                refuses_prefill: false,
            },
            SimProvider {
                name: "pb".into(),
                profile: profile("pb", ""),
                keys: Vec::new(),
                refuses_prefill: false,
            },
        ],
        traffic: TrafficParams {
            arrival: Arrival::Poisson { rate },
            classes: vec![class("chat", 30.0, 1.0), class("docs", 70.0, 0.0)],
            max_requests: None,
        },
        operator: Vec::new(),
        duration: Duration::from_secs(secs),
        seed: 9,
        network_delay: Duration::from_millis(2),
        fleet: None,
    }
}

#[derive(Default, Debug, PartialEq)]
struct Tally {
    requests: u64,
    served: [u64; 2],
    failed: u64,
    attempts: u64,
    classes: [u64; 2],
    latency_ms: u64,
}

impl Observer for Tally {
    fn finished(&mut self, r: &Finished<'_>) {
        self.requests += 1;
        self.classes[r.class] += 1;
        self.attempts += r.attempts.len() as u64;
        self.latency_ms += r.end.saturating_since(r.start).as_millis();
        match r.outcome {
            FinalOutcome::Served(t) => self.served[t.index()] += 1,
            FinalOutcome::Failed(_) => self.failed += 1,
        }
    }
}

const SPLIT: &str = "  - { name: r, policy: weighted, targets: [a, b], weights: [30, 70] }\n";

#[test]
fn every_request_is_accounted_for_and_the_split_holds() {
    let mut tally = Tally::default();
    let out = run(&params(SPLIT, "", 50.0, 600), &mut tally).unwrap();
    assert_eq!(tally.requests, out.requests);
    assert_eq!(
        tally.served[0] + tally.served[1] + tally.failed,
        tally.requests
    );
    assert_eq!(tally.failed, 0);
    let share = tally.served[0] as f64 / tally.requests as f64;
    assert!((share - 0.3).abs() < 0.02, "{share}");
    assert!(
        (29_000..31_000).contains(&tally.requests),
        "{}",
        tally.requests
    );
    let tel = out.router.telemetry();
    assert_eq!(
        tel.routes[0].requests, tally.requests,
        "the core counted the same requests"
    );
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let run_with = |seed| {
        let mut p = params(
            SPLIT,
            "faults:\n  - { kind: http, status: 503, rate: 0.1 }\n",
            50.0,
            120,
        );
        p.seed = seed;
        let mut tally = Tally::default();
        let out = run(&p, &mut tally).unwrap();
        (tally, out.events)
    };
    assert_eq!(run_with(1), run_with(1));
    assert_ne!(run_with(1), run_with(2));
}

#[test]
fn an_outage_fails_over_and_the_breaker_opens() {
    let routes = "  - { name: r, policy: priority, tiers: [[a], [b]] }\n";
    let faults = "faults:\n  - { name: outage, kind: http, status: 503, at: 60s, for: 60s }\n";
    let mut tally = Tally::default();
    let out = run(&params(routes, faults, 50.0, 180), &mut tally).unwrap();
    assert_eq!(tally.failed, 0, "every request fails over: {tally:?}");
    assert!(
        tally.served[1] > 2_500,
        "the standby served the outage: {tally:?}"
    );
    let opened = out.router.telemetry().events.events().iter().any(|e| {
        matches!(
            e.kind,
            switchyard_core::telemetry::EventKind::Breaker {
                to: switchyard_core::health::BreakerState::Open { .. },
                ..
            }
        )
    });
    assert!(opened);
    // After the outage the primary takes the traffic back.
    let series = out.router.telemetry().targets[0].series.points();
    assert!(series[170].successes > 30, "{:?}", series[170]);
}

/// Keeps every event the simulator hands over, and when each came relative to the requests.
#[derive(Default)]
struct Events {
    seen: Vec<switchyard_core::telemetry::Event>,
}

impl Observer for Events {
    fn finished(&mut self, _: &Finished<'_>) {}
    fn event(&mut self, e: &switchyard_core::telemetry::Event) {
        self.seen.push(*e);
    }
}

#[test]
fn the_observer_gets_every_router_event_as_it_happens() {
    let routes = "  - { name: r, policy: priority, tiers: [[a], [b]] }\n";
    let faults = "faults:\n  - { name: outage, kind: http, status: 503, at: 60s, for: 60s }\n";
    let mut events = Events::default();
    let out = run(&params(routes, faults, 50.0, 180), &mut events).unwrap();
    let logged = out.router.telemetry().events.events();
    assert!(logged.len() > 2, "{logged:?}");
    assert_eq!(events.seen, logged);
    assert_eq!(out.router.telemetry().events.tap_lost(), 0);
}

#[test]
fn hangs_cost_their_timeout_and_hedges_are_cancelled() {
    let routes = "  - { name: r, policy: priority, tiers: [[a], [b]] }\n";
    let faults = "faults:\n  - { kind: hang, rate: 0.5 }\n";
    let mut p = params(routes, faults, 5.0, 120);
    p.router.plan.hedge_after = Some(Duration::from_secs(2));
    p.router.targets[0].breaker.consecutive_failures = 0;
    p.router.targets[0].breaker.min_calls = 100_000;
    let mut tally = Tally::default();
    let out = run(&p, &mut tally).unwrap();
    assert_eq!(tally.failed, 0);
    let tel = out.router.telemetry();
    assert!(tel.targets[1].hedges > 100, "{}", tel.targets[1].hedges);
    let cancelled = tel.targets[0].cancelled + tel.targets[1].cancelled;
    assert_eq!(
        cancelled, tel.targets[1].hedges,
        "every hedged request cancels its loser"
    );
    assert_eq!(
        out.router
            .health(switchyard_core::id::TargetId::new(0))
            .in_flight,
        0
    );
}

/// [`SPLIT`] for two minutes, the operator draining target `target` at 1 min.
fn drained_at_one_minute(target: u32) -> SimParams {
    let mut p = params(SPLIT, "", 20.0, 120);
    p.operator = vec![(
        Instant::ZERO + Duration::from_secs(60),
        Override::Drain(TargetId::new(target)),
    )];
    p
}

#[test]
fn operator_actions_apply_at_their_time() {
    let p = drained_at_one_minute(0);
    let mut tally = Tally::default();
    let out = run(&p, &mut tally).unwrap();
    let series = out.router.telemetry().targets[0].series.points();
    assert!(series[30].attempts > 0 && series.iter().skip(61).all(|s| s.attempts == 0));
}

/// An operator action that is not for the router (an id out of range: built for another
/// router's params) is refused at setup, with its time, not when its time comes.
#[test]
fn an_operator_action_for_another_router_is_refused_at_setup() {
    let p = drained_at_one_minute(7);
    let Err(e) = run(&p, &mut Tally::default()) else {
        panic!("an operator action for another router was accepted");
    };
    assert_eq!(
        e.0,
        "the operator action at 1m (drain) was refused by the router: no target or route \
         with id 7 in this router"
    );
}

/// A pin outside its route is refused with the line a live run fails with when its router
/// refuses one (`an_operator_action_the_router_refuses_fails_the_run_naming_it`).
#[test]
fn a_pin_outside_its_route_is_refused_as_live_refuses_it() {
    let mut p = params(
        "  - { name: r, policy: static, targets: [a] }\n",
        "",
        20.0,
        10,
    );
    p.operator = vec![(
        Instant::ZERO + Duration::from_millis(300),
        Override::Pin(switchyard_core::id::RouteId::new(0), TargetId::new(1)),
    )];
    let Err(e) = run(&p, &mut Tally::default()) else {
        panic!("a pin outside its route was accepted");
    };
    assert_eq!(
        e.0,
        "the operator action at 300ms (pin) was refused by the router: target `b` is not a \
         target of route `r` (its targets: a)"
    );
}

/// The driver does not count on `run`'s check: an action its router refuses when its time
/// comes (no scenario can get one past the check; here the check is skipped) ends the run
/// with the same error, instead of the run going on as if it had applied.
#[test]
fn an_action_refused_during_the_run_ends_it_with_the_same_error() {
    for replicas in [None, Some(3)] {
        let mut p = drained_at_one_minute(7);
        p.fleet = replicas.map(|replicas| SimFleet {
            replicas,
            load_balance: LoadBalance::RoundRobin,
            shared: None,
            store_faults: Vec::new(),
        });
        let providers = target_providers(&p).unwrap();
        let Err(e) = Sim::new(&p, &mut Tally::default(), providers).run() else {
            panic!("the run went on past a refused action");
        };
        assert_eq!(
            e.0,
            "the operator action at 1m (drain) was refused by the router: no target or route \
             with id 7 in this router"
        );
    }
}

#[test]
fn unknown_providers_and_models_are_refused() {
    let mut p = params(SPLIT, "", 1.0, 1);
    p.providers.pop();
    assert!(
        run(&p, &mut Tally::default())
            .unwrap_err()
            .0
            .contains("provider `pb`")
    );
    let mut p = params(SPLIT, "", 1.0, 1);
    p.router.targets[0].model = "nope".into();
    assert!(
        run(&p, &mut Tally::default())
            .unwrap_err()
            .0
            .contains("model `nope`")
    );
}

#[test]
fn keys_rotate_and_a_refused_key_is_taken_out_of_use() {
    let at = |s: u64| Some(Instant::ZERO + Duration::from_secs(s));
    let key = |name: &str, from, until, refused| SimKey {
        name: name.into(),
        valid_from: from,
        valid_until: until,
        refused_from: refused,
    };
    // A clean rotation: the new key starts at 60 s, the old one is revoked upstream at 90 s.
    let mut p = params(
        "  - { name: r, policy: priority, tiers: [[a], [b]] }\n",
        "",
        10.0,
        120,
    );
    p.providers[0].keys = vec![
        key("old", at(0), at(100), at(90)),
        key("new", at(60), None, None),
    ];
    let mut tally = Tally::default();
    let out = run(&p, &mut tally).unwrap();
    assert_eq!(
        (tally.failed, tally.served[1]),
        (0, 0),
        "nothing failed, nothing moved: {tally:?}"
    );
    let what: Vec<(&str, &str)> = out
        .key_events
        .iter()
        .map(|e| (e.key.as_str(), e.what))
        .collect();
    assert_eq!(what, [("old", "in use"), ("new", "in use")]);
    assert!(out.key_events[1].at >= Instant::ZERO + Duration::from_secs(60));
    // Revoked before the new key is valid: 401s, traffic moves to b, the key is reported.
    let mut p = params(
        "  - { name: r, policy: priority, tiers: [[a], [b]] }\n",
        "",
        10.0,
        120,
    );
    p.providers[0].keys = vec![
        key("old", at(0), None, at(30)),
        key("new", at(60), None, None),
    ];
    let mut tally = Tally::default();
    let out = run(&p, &mut tally).unwrap();
    assert_eq!(tally.failed, 0);
    assert!(tally.served[1] > 100, "{tally:?}");
    assert!(
        out.key_events
            .iter()
            .any(|e| e.key == "old" && e.what.starts_with("refused"))
    );
    assert!(
        out.key_events
            .iter()
            .any(|e| e.key == "new" && e.what == "in use")
    );
}

#[test]
fn a_refused_key_is_reprobed_after_its_cool_off() {
    // One key, refused from 30 s on for good: three 401s take it out of use; after the 5-minute
    // cool-off it is tried again, and one 401 takes it out for 10 minutes.
    let mut p = params(
        "  - { name: r, policy: priority, tiers: [[a], [b]] }\n",
        "",
        10.0,
        1300,
    );
    p.providers[0].keys = vec![SimKey {
        name: "only".into(),
        valid_from: None,
        valid_until: None,
        refused_from: Some(Instant::ZERO + Duration::from_secs(30)),
    }];
    let mut tally = Tally::default();
    let out = run(&p, &mut tally).unwrap();
    assert_eq!(tally.failed, 0, "b serves while the key is out: {tally:?}");
    let what: Vec<&str> = out.key_events.iter().map(|e| e.what).collect();
    assert_eq!(
        what,
        [
            "in use",
            "refused (401): taken out of use",
            "cool-off over: re-probing",
            "refused (401): taken out of use",
            "cool-off over: re-probing",
            "refused (401): taken out of use",
        ]
    );
    // The re-probe is the first attempt after the cool-off; with no key a's breaker is open,
    // and it lets an attempt through at most `open_max` (2 min) later.
    let secs = |i: usize| out.key_events[i].at.since_start().as_secs_f64();
    assert!(
        (300.0..425.0).contains(&(secs(2) - secs(1))),
        "5 min cool-off"
    );
    assert_eq!(secs(3), secs(2), "a 401 on the re-probe revokes at once");
    assert!((600.0..725.0).contains(&(secs(4) - secs(3))), "then 10 min");
}

/// Records when the first request served by target `a` started, at or after `from`.
struct FirstServedBy {
    from: Instant,
    first: Option<Instant>,
}

impl Observer for FirstServedBy {
    fn finished(&mut self, r: &Finished<'_>) {
        if r.start >= self.from && r.outcome == FinalOutcome::Served(TargetId::new(0)) {
            self.first = Some(self.first.map_or(r.start, |f: Instant| f.min(r.start)));
        }
    }
}

/// A provider that recovers gets traffic back within 30 s of its recovery, whatever the
/// length of its outage, with the default breaker: in the simulator, as in the core's and the
/// live driver's tests.
#[test]
fn traffic_returns_within_30_s_of_recovery_after_any_outage() {
    const PRIORITY: &str = "  - { name: r, policy: priority, tiers: [[a], [b]] }\n";
    for outage in [10u64, 60, 600] {
        let faults = format!("faults:\n  - {{ kind: http, status: 503, for: {outage}s }}\n");
        let p = params(PRIORITY, &faults, 2.0, outage + 60);
        let recovered = Instant::ZERO + Duration::from_secs(outage);
        let mut o = FirstServedBy {
            from: recovered,
            first: None,
        };
        run(&p, &mut o).unwrap();
        let back = o.first.map(|f| f.saturating_since(recovered));
        assert!(
            back.is_some_and(|b| b <= Duration::from_secs(30)),
            "after a {outage} s outage traffic came back after {back:?}"
        );
    }
}

mod stream_timeouts {
    use super::*;
    use crate::outcome::outcome;
    use switchyard_core::plan::Timeouts;
    use switchyard_core::request::FinishReason;
    use switchyard_fake::{Behaviour, StreamFault};

    fn reply(
        first_ms: u64,
        interval_ms: u64,
        tokens: u32,
        fault: Option<StreamFault>,
    ) -> Behaviour {
        Behaviour::Reply(switchyard_fake::Reply {
            first_token: Duration::from_millis(first_ms),
            token_interval: Duration::from_millis(interval_ms),
            output_tokens: tokens,
            prompt_tokens: 10,
            cached_prompt_tokens: 0,
            finish: FinishReason::Stop,
            stream_fault: fault,
            text_seed: 1,
        })
    }

    /// Live mode's estimate of the first `n` tokens of `reply`'s text (seed 1), as a stream
    /// sends them: each word, a space before each after the first, four characters a token.
    fn estimate(n: u32) -> u32 {
        let chars = switchyard_fake::text::tokens(1, n)
            .enumerate()
            .map(|(i, w)| w.chars().count() + usize::from(i > 0))
            .sum::<usize>();
        switchyard_core::dialect::estimate_tokens_from_chars(chars)
    }

    fn timeouts(first: u64, idle: Option<u64>, total: Option<u64>) -> Timeouts {
        Timeouts {
            first: Duration::from_secs(first),
            idle: idle.map(Duration::from_secs),
            total: total.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_slow_healthy_stream_outlives_the_attempt_timeout() {
        // One token every 0.6 s for 60 tokens: 36 s, past a 10 s first-token bound.
        let p = outcome(
            reply(200, 600, 60, None),
            true,
            Duration::ZERO,
            timeouts(10, Some(30), None),
            true,
        );
        assert_eq!(p.report.outcome, Outcome::Success);
        assert_eq!(p.report.completion_tokens, 60);
    }

    #[test]
    fn an_idle_gap_longer_than_the_idle_timeout_interrupts() {
        let p = outcome(
            reply(200, 600, 60, None),
            true,
            Duration::ZERO,
            timeouts(10, Some(0), None),
            true,
        );
        assert_eq!(
            p.report.outcome,
            Outcome::error(ErrorKind::StreamInterrupted)
        );
        // A stall of a minute after 4 tokens, with a 30 s idle timeout: cut at 30 s of silence.
        let p = stalled_after(4);
        // The 4 tokens sent (the report books their text's estimate).
        assert_eq!(
            (p.report.outcome, p.report.latency, p.sent_tokens),
            (
                Outcome::error(ErrorKind::StreamInterrupted),
                Duration::from_millis(30_240),
                4
            )
        );
        assert_eq!(p.report.completion_tokens, estimate(4));
    }

    /// A stream of 60 tokens, 10 ms apart, that stalls for a minute after `after_tokens`, under
    /// a 30 s idle timeout.
    fn stalled_after(after_tokens: u32) -> crate::outcome::Pending {
        let stall = Some(StreamFault::Stall {
            after_tokens,
            stall: Duration::from_secs(60),
        });
        outcome(
            reply(200, 10, 60, stall),
            true,
            Duration::ZERO,
            timeouts(10, Some(30), None),
            true,
        )
    }

    /// A caller that leaves during a stall after 40 tokens is booked the text of those 40
    /// (`abandoned` counts at most the tokens the stream sends, exactly), not of the token
    /// gaps that passed since its first token, nor of the broken stream's own estimate.
    #[test]
    fn a_caller_leaving_during_a_stall_is_booked_the_tokens_sent_before_it() {
        let p = stalled_after(40);
        assert_eq!(p.sent_tokens, 40);
        // 5 s in, 480 token gaps after the first token (0.2 s), in the stall (from 0.6 s).
        let left =
            crate::outcome::abandoned(&p, Instant::ZERO, Instant::ZERO + Duration::from_secs(5))
                .unwrap();
        assert_eq!(left.outcome, Outcome::Cancelled);
        assert_eq!(left.completion_tokens, estimate(40), "{left:?}");
    }

    #[test]
    fn the_stream_cap_bounds_the_whole_stream() {
        let p = outcome(
            reply(200, 600, 60, None),
            true,
            Duration::ZERO,
            timeouts(10, Some(30), Some(20)),
            true,
        );
        assert_eq!(
            (p.report.outcome, p.report.latency),
            (
                Outcome::error(ErrorKind::StreamInterrupted),
                Duration::from_secs(20)
            )
        );
        assert_eq!(p.sent_tokens, 34, "tokens at 0.2 s + 0.6 s·k, k = 0..=33");
        // Booked as the estimate of those 34 tokens' text, not of the 60 the model drew.
        assert_eq!(p.report.completion_tokens, estimate(34));
    }

    #[test]
    fn a_whole_reply_is_bound_by_the_attempt_timeout_only() {
        // Non-streaming: 36 s of generation, 40 s bound: served.
        let p = outcome(
            reply(200, 600, 60, None),
            false,
            Duration::ZERO,
            timeouts(40, None, None),
            true,
        );
        assert_eq!(p.report.outcome, Outcome::Success);
        let p = outcome(
            reply(200, 600, 60, None),
            false,
            Duration::ZERO,
            timeouts(30, None, None),
            true,
        );
        assert_eq!(p.report.outcome, Outcome::error(ErrorKind::Timeout));
    }

    #[test]
    fn a_clean_end_without_done_is_complete_except_for_gemini() {
        let p = outcome(
            reply(200, 10, 20, Some(StreamFault::MissingDone)),
            true,
            Duration::ZERO,
            timeouts(10, Some(30), None),
            true,
        );
        assert_eq!(p.report.outcome, Outcome::Success);
        let p = outcome(
            reply(200, 10, 20, Some(StreamFault::MissingDone)),
            true,
            Duration::ZERO,
            timeouts(10, Some(30), None),
            false,
        );
        assert_eq!(
            p.report.outcome,
            Outcome::error(ErrorKind::StreamInterrupted)
        );
    }

    #[test]
    fn a_fault_before_the_first_token_fails_over_whatever_the_token_gap() {
        // Tokens 2 s apart with a 1 s idle timeout, and a cut before the first token: the
        // attempt fails before any commit, as live sees it, so the request may fail over.
        let cut = Some(StreamFault::Cut { after_tokens: 0 });
        let p = outcome(
            reply(200, 2_000, 20, cut),
            true,
            Duration::ZERO,
            timeouts(10, Some(1), None),
            true,
        );
        assert_eq!(
            (
                p.report.outcome,
                p.report.delivered_tokens,
                p.first_token_at
            ),
            (Outcome::error(ErrorKind::StreamInterrupted), false, None)
        );
    }

    /// A stream cut, or stalled past its idle timeout, after its first token never sends its
    /// usage chunk: live mode books it `usage_missing` (the prompt and the text's estimate,
    /// `ChatStream::close`), and so does the simulator, as it books a stream its caller left
    /// mid-way (`outcome::abandoned`), so that a report's `estimated` column counts it in
    /// both modes.
    #[test]
    fn a_stream_interrupted_after_its_first_token_is_usage_missing_as_in_live_mode() {
        let stall = Some(StreamFault::Stall {
            after_tokens: 4,
            stall: Duration::from_secs(60),
        });
        let cut = Some(StreamFault::Cut { after_tokens: 4 });
        for fault in [stall, cut] {
            let p = outcome(
                reply(200, 10, 60, fault),
                true,
                Duration::ZERO,
                timeouts(10, Some(30), None),
                true,
            );
            assert_eq!(
                p.report.outcome,
                Outcome::error(ErrorKind::StreamInterrupted)
            );
            assert!(p.report.delivered_tokens);
            assert!(p.report.usage_missing, "{fault:?}: {:?}", p.report);
        }
    }

    /// `AttemptReport::prompt_sent` is "the provider is known to have had the prompt": a
    /// stream whose head came (at once, `net` zero) and that then breaks before its first
    /// token has it, whether the first-token timeout (10 s) or the drop (at 1 s) comes first,
    /// and whether it is cut or sent a malformed chunk, as the live driver reports any
    /// failure after a 2xx head (RV's finding: only the timeout had it).
    #[test]
    fn a_stream_broken_after_its_head_before_its_first_token_had_its_prompt_too() {
        let stall = |secs| {
            Some(StreamFault::Stall {
                after_tokens: 0,
                stall: Duration::from_secs(secs),
            })
        };
        let faults = [
            stall(60),
            stall(1),
            Some(StreamFault::Cut { after_tokens: 0 }),
            Some(StreamFault::MalformedChunk { after_tokens: 0 }),
        ];
        for fault in faults {
            let p = outcome(
                reply(200, 10, 60, fault),
                true,
                Duration::ZERO,
                timeouts(10, Some(30), None),
                true,
            );
            assert!(p.report.prompt_sent, "{fault:?}: {:?}", p.report);
        }
    }

    /// A 2xx reply whose body is not a reply (`malformed_json`): its provider had the
    /// prompt (`prompt_sent`), streamed or not, as the live driver reports an answer that
    /// broke after a 2xx head; a network slower than the attempt's bound never brought the
    /// head: a timeout, as live mode has it (RV3).
    #[test]
    fn a_malformed_reply_had_its_prompt() {
        for stream in [false, true] {
            let p = outcome(
                Behaviour::MalformedJson,
                stream,
                Duration::from_millis(5),
                timeouts(10, None, None),
                true,
            );
            assert_eq!(
                p.report.outcome,
                Outcome::error(ErrorKind::MalformedResponse)
            );
            assert!(p.report.prompt_sent, "stream {stream}: {:?}", p.report);
            let late = outcome(
                Behaviour::MalformedJson,
                stream,
                Duration::from_secs(11),
                timeouts(10, None, None),
                true,
            );
            assert_eq!(late.report.outcome, Outcome::error(ErrorKind::Timeout));
            assert!(
                !late.report.prompt_sent,
                "stream {stream}: {:?}",
                late.report
            );
        }
    }

    /// Live mode books a stream that broke after its first token with the completion
    /// estimated from the text it delivered (`ChatStream::close`:
    /// `estimate_tokens_from_chars`, four characters a token, about 1.5 of the fake's words
    /// each), as the simulator books a stream its caller left mid-way (`outcome::abandoned`).
    /// So does the simulator's interrupted stream (not the exact 40 tokens it sent, which
    /// only its resume model keeps), so `tokens out` and the cost agree between modes.
    #[test]
    fn a_stream_interrupted_after_its_first_token_books_the_texts_estimate_as_live_mode() {
        let n = 40;
        let p = outcome(
            reply(200, 10, 60, Some(StreamFault::Cut { after_tokens: n })),
            true,
            Duration::ZERO,
            timeouts(10, Some(30), None),
            true,
        );
        assert_eq!(
            p.report.outcome,
            Outcome::error(ErrorKind::StreamInterrupted)
        );
        let chars = switchyard_fake::text::tokens(1, n)
            .enumerate()
            .map(|(i, w)| w.chars().count() + usize::from(i > 0))
            .sum::<usize>();
        let live = switchyard_core::dialect::estimate_tokens_from_chars(chars);
        assert_eq!(p.report.completion_tokens, live, "{:?}", p.report);
    }
}

#[path = "resume_tests.rs"]
mod resume;

/// A profile's `cached_prompt_tokens` are booked as the live fakes report them: read from the
/// cache, priced at the target's `price.cached_input` (docs/FAKES.md).
#[test]
fn a_profiles_cached_prompt_tokens_are_priced_at_the_cached_rate() {
    let cost = |extra: &str| {
        let mut p = params(
            "  - { name: r, policy: static, targets: [a] }\n",
            extra,
            5.0,
            60,
        );
        p.router = switchyard_core::config::load_router(
            "targets:\n  - { name: a, provider: pa, model: m, price: { input: 1, output: 2, cached_input: 0.25 } }\n  - { name: b, provider: pb, model: m }\n\
             routes:\n  - { name: r, policy: static, targets: [a] }\nplan: { max_attempts: 3, attempt_timeout: 10s, deadline: 30s }\n",
            "r.yaml",
        )
        .unwrap();
        let out = run(&p, &mut Tally::default()).unwrap();
        let a = &out.router.telemetry().targets[0];
        assert_eq!(a.cost_failed, 0.0);
        (out.requests, a.cost_success)
    };
    let (n, whole) = cost("");
    let (m, cached) = cost("cached_prompt_tokens: 150\n");
    assert_eq!(n, m);
    assert!(n > 100, "{n}");
    // Each request: 200 prompt tokens and 20 out; 150 of the prompt at a quarter the price.
    let each = |prompt: f64| (prompt + 20.0 * 2.0) / 1e6;
    assert!((whole - n as f64 * each(200.0)).abs() < 1e-9, "{whole}");
    assert!(
        (cached - n as f64 * each(50.0 + 150.0 * 0.25)).abs() < 1e-9,
        "{cached}"
    );
}

/// The simulator resolves what a target is sent for a request without `max_tokens` as the
/// live driver does (for the window check): an Anthropic target its default, others none,
/// whatever they configure; the run's router has it so.
#[test]
fn each_target_counts_what_it_is_sent_without_max_tokens() {
    let routes = "  - { name: r, policy: priority, tiers: [[a], [b]] }\n";
    let mut p = params(routes, "", 1.0, 1);
    p.providers[1].profile.dialect = switchyard_core::dialect::Dialect::Anthropic;
    p.router.targets[0].default_max_tokens = Some(10);
    let out = run(&p, &mut Tally::default()).unwrap();
    let targets = &out.router.params().targets;
    assert_eq!(targets[0].default_max_tokens, None, "OpenAI is sent none");
    assert_eq!(
        targets[1].default_max_tokens,
        Some(switchyard_core::dialect::anthropic::DEFAULT_MAX_TOKENS)
    );
}
