//! Invariants of plans under random outcomes.

use super::*;
use crate::rng::Rng;
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
        let mut r = Router::new(load_router(BASE, "t.yaml").unwrap(), Rng::new(seed));
        let b = id(&r, "b");
        if drain_b {
            r.apply(Override::Drain(b), t(0));
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
        let mut r = Router::new(load_router(BASE, "t.yaml").unwrap(), Rng::new(seed));
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
