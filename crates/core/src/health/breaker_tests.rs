use super::*;

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn ms(m: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(m)
}

/// How long a probe may stay unreported before it counts as failed.
const LEASE: Duration = Duration::from_secs(60);

fn params() -> BreakerParams {
    BreakerParams {
        consecutive_failures: 3,
        failure_rate: 0.5,
        slow_call_rate: 0.5,
        slow_call: Duration::from_secs(2),
        window: Duration::from_secs(10),
        min_calls: 10,
        open_for: Duration::from_secs(5),
        open_max: Duration::from_secs(30),
        probes: 2,
        probe_successes: 2,
        recovery: Duration::from_secs(10),
        recovery_start_share: 0.2,
    }
}

fn fail(b: &mut Breaker, now: Instant) -> Option<Transition> {
    b.record(now, HealthSignal::Failure, false, None, None)
}

fn ok(b: &mut Breaker, now: Instant) -> Option<Transition> {
    b.record(now, HealthSignal::Success, false, None, None)
}

/// Drives a fresh breaker to Open at t=0 by consecutive failures.
fn opened() -> Breaker {
    let mut b = Breaker::new(params());
    fail(&mut b, secs(0));
    fail(&mut b, secs(0));
    fail(&mut b, secs(0));
    b
}

#[test]
fn t1_consecutive_failures_trip() {
    let mut b = Breaker::new(params());
    assert_eq!(fail(&mut b, secs(0)), None);
    assert_eq!(ok(&mut b, secs(0)), None, "a success resets the run");
    assert_eq!(fail(&mut b, secs(0)), None);
    assert_eq!(fail(&mut b, secs(0)), None);
    let t = fail(&mut b, secs(1)).unwrap();
    assert_eq!(t.reason, TransitionReason::ConsecutiveFailures);
    assert_eq!(t.to, BreakerState::Open { until: secs(6) });
    assert_eq!(b.admission(secs(1)), Admission::Denied);
}

#[test]
fn t1_failure_rate_trips_only_with_enough_volume() {
    let mut p = params();
    p.consecutive_failures = 0;
    let mut b = Breaker::new(p);
    // 4 failures of 8 calls: rate 0.5 but below min_calls = 10.
    for i in 0..8 {
        let t = if i % 2 == 0 {
            fail(&mut b, secs(1))
        } else {
            ok(&mut b, secs(1))
        };
        assert_eq!(t, None);
    }
    assert_eq!(ok(&mut b, secs(1)), None, "9 calls, 4 failures");
    let t = fail(&mut b, secs(1)).unwrap();
    assert_eq!(
        t.reason,
        TransitionReason::FailureRate,
        "10 calls, 5 failures"
    );
}

#[test]
fn t1_failures_outside_the_window_are_forgotten() {
    let mut p = params();
    p.consecutive_failures = 0;
    let mut b = Breaker::new(p);
    for _ in 0..9 {
        fail(&mut b, secs(0));
    }
    // Ten seconds later the window is empty again: one more failure is 1 of 1 calls.
    assert_eq!(fail(&mut b, secs(11)), None);
}

#[test]
fn t1_slow_calls_trip() {
    let mut p = params();
    p.consecutive_failures = 0;
    let mut b = Breaker::new(p);
    for _ in 0..4 {
        assert_eq!(
            b.record(secs(1), HealthSignal::Success, false, None, None),
            None
        );
    }
    for _ in 0..5 {
        assert_eq!(
            b.record(secs(1), HealthSignal::Success, true, None, None),
            None
        );
    }
    let t = b
        .record(secs(1), HealthSignal::Success, true, None, None)
        .unwrap();
    assert_eq!(t.reason, TransitionReason::SlowCalls);
}

#[test]
fn neutral_outcomes_do_not_count() {
    let mut b = Breaker::new(params());
    for _ in 0..100 {
        assert_eq!(
            b.record(secs(0), HealthSignal::Neutral, false, None, None),
            None
        );
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn t2_cooldown_elapses_into_half_open() {
    let mut b = opened();
    assert_eq!(b.poll(ms(4_999)), None);
    let t = b.poll(secs(5)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (BreakerState::HalfOpen, TransitionReason::CooldownElapsed)
    );
}

#[test]
fn half_open_admits_a_bounded_number_of_probes() {
    let mut b = opened();
    b.poll(secs(5));
    assert_eq!(b.admission(secs(5)), Admission::Probe);
    let p = b.probe_started(secs(5), LEASE);
    assert_eq!(b.admission(secs(5)), Admission::Probe);
    b.probe_started(secs(5), LEASE);
    assert_eq!(
        b.admission(secs(5)),
        Admission::Denied,
        "two probes in flight"
    );
    // One probe comes back fine: a slot frees up.
    assert_eq!(
        b.record(secs(6), HealthSignal::Success, false, Some(p), None),
        None
    );
    assert_eq!(b.admission(secs(6)), Admission::Probe);
}

#[test]
fn t3_probes_succeed_into_recovering_and_t5_ramp_completes() {
    let mut b = opened();
    b.poll(secs(5));
    let p1 = b.probe_started(secs(5), LEASE);
    let p2 = b.probe_started(secs(5), LEASE);
    assert_eq!(
        b.record(secs(6), HealthSignal::Success, false, Some(p1), None),
        None
    );
    let t = b
        .record(secs(6), HealthSignal::Success, false, Some(p2), None)
        .unwrap();
    assert_eq!(t.to, BreakerState::Recovering { since: secs(6) });
    assert_eq!(t.reason, TransitionReason::ProbesSucceeded);
    // The share ramps linearly from 0.2 to 1 over ten seconds.
    let share = |b: &Breaker, now| match b.admission(now) {
        Admission::Allowed { share } => share,
        other => panic!("{other:?}"),
    };
    assert!((share(&b, secs(6)) - 0.2).abs() < 1e-9);
    assert!((share(&b, secs(11)) - 0.6).abs() < 1e-9);
    assert_eq!(b.poll(secs(15)), None);
    let t = b.poll(secs(16)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (BreakerState::Closed, TransitionReason::RecoveryComplete)
    );
    assert!((share(&b, secs(16)) - 1.0).abs() < 1e-9);
}

#[test]
fn t4_probe_failure_reopens_with_a_longer_cooldown_up_to_the_cap() {
    let mut b = opened();
    let mut now = secs(0);
    let mut cooldowns = Vec::new();
    for _ in 0..4 {
        let BreakerState::Open { until } = b.state() else {
            panic!("{:?}", b.state())
        };
        cooldowns.push(until.saturating_since(now).as_secs_f64() as u64);
        now = until;
        b.poll(now);
        assert_eq!(b.admission(now), Admission::Probe);
        let p = b.probe_started(now, LEASE);
        let t = b
            .record(now, HealthSignal::Failure, false, Some(p), None)
            .unwrap();
        assert_eq!(t.reason, TransitionReason::ProbeFailed);
    }
    assert_eq!(
        cooldowns,
        [5, 10, 20, 30],
        "doubles per re-open, capped at open_max"
    );
}

#[test]
fn retry_after_lengthens_the_cooldown() {
    let mut b = Breaker::new(params());
    fail(&mut b, secs(0));
    fail(&mut b, secs(0));
    let t = b
        .record(
            secs(0),
            HealthSignal::Failure,
            false,
            None,
            Some(Duration::from_secs(25)),
        )
        .unwrap();
    assert_eq!(t.to, BreakerState::Open { until: secs(25) });
    // A shorter hint does not shorten it.
    assert_eq!(
        b.cooldown(Some(Duration::from_secs(1))),
        Duration::from_secs(5)
    );
}

#[test]
fn t6_failure_while_recovering_reopens() {
    let mut b = opened();
    b.poll(secs(5));
    for _ in 0..2 {
        let p = b.probe_started(secs(5), LEASE);
        b.record(secs(5), HealthSignal::Success, false, Some(p), None);
    }
    assert!(matches!(b.state(), BreakerState::Recovering { .. }));
    let t = fail(&mut b, secs(7)).unwrap();
    assert_eq!(t.reason, TransitionReason::FailedWhileRecovering);
    assert_eq!(
        t.to,
        BreakerState::Open { until: secs(17) },
        "second opening: 10 s"
    );
}

#[test]
fn manual_modes_win() {
    let mut b = Breaker::new(params());
    b.force(BreakerMode::ForcedOpen);
    assert_eq!(b.admission(secs(0)), Admission::Denied);
    b.force(BreakerMode::Disabled);
    for _ in 0..10 {
        assert_eq!(fail(&mut b, secs(0)), None, "disabled tracks nothing");
    }
    assert_eq!(b.admission(secs(0)), Admission::Allowed { share: 1.0 });
    b.force(BreakerMode::MetricsOnly);
    fail(&mut b, secs(1));
    fail(&mut b, secs(1));
    let t = fail(&mut b, secs(1));
    assert!(t.is_some(), "metrics-only still reports what it would do");
    assert_eq!(
        b.admission(secs(1)),
        Admission::Allowed { share: 1.0 },
        "but admits"
    );
    b.restore();
    assert_eq!(
        (b.mode(), b.state()),
        (BreakerMode::Automatic, BreakerState::Closed)
    );
}

#[test]
fn t4_a_probe_that_never_reports_counts_as_failed_when_its_lease_runs_out() {
    let mut b = opened();
    b.poll(secs(5));
    let _lost = b.probe_started(secs(5), Duration::from_secs(3));
    b.probe_started(secs(5), Duration::from_secs(3));
    assert_eq!(b.admission(secs(6)), Admission::Denied, "both slots taken");
    assert_eq!(b.poll(secs(7)), None, "leases still running");
    let t = b.poll(secs(8)).unwrap();
    assert_eq!(t.reason, TransitionReason::ProbeExpired);
    assert_eq!(
        t.to,
        BreakerState::Open { until: secs(18) },
        "a failed probe: the second cooldown, 10 s"
    );
    assert_eq!(b.probes_in_flight(), 0);
    // The breaker is not wedged: after the cooldown it probes again.
    b.poll(secs(18));
    assert_eq!(b.admission(secs(18)), Admission::Probe);
}

#[test]
fn an_answered_probe_stream_counts_at_its_first_token_and_frees_its_slot() {
    let mut b = opened();
    b.poll(secs(5));
    let p1 = b.probe_started(secs(5), Duration::from_secs(3));
    let p2 = b.probe_started(secs(5), Duration::from_secs(3));
    assert_eq!(b.probe_answered(secs(6), p1), None, "one of two successes");
    assert_eq!(
        b.probes_in_flight(),
        1,
        "its slot is free for the next probe"
    );
    let t = b.probe_answered(secs(6), p2).unwrap();
    assert_eq!(t.reason, TransitionReason::ProbesSucceeded);
    // The streams end after their leases would have run out: ordinary calls now.
    assert_eq!(b.poll(secs(9)), None);
    assert_eq!(
        b.record(secs(9), HealthSignal::Success, false, Some(p1), None),
        None
    );
    assert!(matches!(b.state(), BreakerState::Recovering { .. }));
}

#[test]
fn a_probe_from_an_earlier_half_open_period_is_not_this_periods_probe() {
    let mut b = opened();
    b.poll(secs(5));
    let stale = b.probe_started(secs(5), LEASE);
    let p = b.probe_started(secs(5), LEASE);
    // The second probe fails: open again, then half-open again at 15 s.
    b.record(secs(5), HealthSignal::Failure, false, Some(p), None);
    b.poll(secs(15));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let fresh = b.probe_started(secs(15), LEASE);
    // The stale probe reports success twice over: it neither frees a slot nor counts
    // towards `probe_successes`.
    b.record(secs(16), HealthSignal::Success, false, Some(stale), None);
    b.record(secs(16), HealthSignal::Success, false, Some(stale), None);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.probes_in_flight(), 1, "the fresh probe is still out");
    b.record(secs(16), HealthSignal::Success, false, Some(fresh), None);
    assert_eq!(b.probes_in_flight(), 0);
}

#[test]
fn retry_after_never_stretches_a_cooldown_past_open_max() {
    let mut b = Breaker::new(params());
    fail(&mut b, secs(0));
    fail(&mut b, secs(0));
    let t = b
        .record(
            secs(0),
            HealthSignal::Failure,
            false,
            None,
            Some(Duration::from_secs(3600)),
        )
        .unwrap();
    assert_eq!(t.to, BreakerState::Open { until: secs(30) });
}

#[test]
fn forced_open_still_counts_and_disabled_freezes_the_state() {
    let mut b = Breaker::new(params());
    b.force(BreakerMode::ForcedOpen);
    fail(&mut b, secs(0));
    fail(&mut b, secs(0));
    assert!(fail(&mut b, secs(0)).is_some(), "trips while forced open");
    b.force(BreakerMode::Automatic);
    assert_eq!(b.admission(secs(1)), Admission::Denied, "the trip stands");
    // Disabled: a due cooldown is not applied, and nothing is counted.
    b.force(BreakerMode::Disabled);
    assert_eq!(b.poll(secs(60)), None);
    assert_eq!(b.state(), BreakerState::Open { until: secs(5) });
    b.force(BreakerMode::Automatic);
    assert!(b.poll(secs(60)).is_some());
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        /// Try to admit an attempt; a probe admission starts a probe.
        Admit,
        /// One in-flight probe (if any) finishes.
        ProbeDone(bool),
        /// A non-probe call finishes.
        CallDone(bool),
        /// Time passes.
        Tick(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => Just(Step::Admit),
            2 => any::<bool>().prop_map(Step::ProbeDone),
            2 => any::<bool>().prop_map(Step::CallDone),
            1 => (1u64..20_000).prop_map(Step::Tick),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// However calls interleave, a half-open breaker never has more probes in flight than
        /// configured, and its state is always one the automaton can be in.
        #[test]
        fn never_more_probes_than_configured(
            probes in 1u32..4,
            steps in proptest::collection::vec(step(), 1..300),
        ) {
            let mut b = Breaker::new(BreakerParams { probes, ..params() });
            let mut now = Instant::ZERO;
            let mut in_flight: Vec<ProbeTicket> = Vec::new();
            for s in steps {
                b.poll(now);
                match s {
                    Step::Admit => {
                        if b.admission(now) == Admission::Probe {
                            in_flight.push(b.probe_started(now, LEASE));
                        }
                    }
                    Step::ProbeDone(ok) => {
                        // Tickets of earlier half-open periods report too: they are stale.
                        if let Some(p) = in_flight.pop() {
                            let v = if ok { HealthSignal::Success } else { HealthSignal::Failure };
                            b.record(now, v, false, Some(p), None);
                        }
                    }
                    Step::CallDone(ok) => {
                        let v = if ok { HealthSignal::Success } else { HealthSignal::Failure };
                        b.record(now, v, false, None, None);
                    }
                    Step::Tick(ms) => now += Duration::from_millis(ms),
                }
                prop_assert!(b.probes_in_flight() <= probes, "{} > {probes}", b.probes_in_flight());
                if b.state() != BreakerState::HalfOpen {
                    prop_assert_eq!(b.probes_in_flight(), 0);
                }
            }
        }
    }
}
