use super::*;
use crate::health::{BreakerParams, LimitParams, TargetHealth};
use crate::id::ProviderId;
use crate::request::Capabilities;
use crate::rng::SeededRng;
use crate::target::Price;
use crate::time::{Duration, Instant};

struct Fixture {
    members: Vec<TargetId>,
    targets: Vec<TargetParams>,
    health: Vec<TargetHealth>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        let targets = (0..n)
            .map(|i| TargetParams {
                name: format!("t{i}"),
                provider: ProviderId::new(0),
                model: format!("m{i}"),
                context_window: 8_000,
                default_max_tokens: None,
                capabilities: Capabilities::NONE,
                price: Price {
                    input_per_mtok: 1.0,
                    output_per_mtok: 1.0,
                    cached_input_per_mtok: 1.0,
                },
                breaker: BreakerParams::default(),
                limits: LimitParams::default(),
                cost_cap: None,
                sla: None,
            })
            .collect();
        Fixture {
            members: (0..n as u32).map(TargetId::new).collect(),
            targets,
            health: (0..n)
                .map(|_| TargetHealth::new(BreakerParams::default(), LimitParams::default()))
                .collect(),
        }
    }

    fn inputs(&self) -> SelectionInputs<'_> {
        const LATENCY: crate::health::LatencyParams = crate::health::LatencyParams {
            decay: crate::time::Duration::from_secs(10),
            failure_penalty: crate::time::Duration::from_secs(5),
        };
        SelectionInputs {
            members: &self.members,
            targets: &self.targets,
            health: &self.health,
            prompt_tokens: 1000,
            max_tokens: 500,
            latency: &LATENCY,
            now: Instant::ZERO,
        }
    }

    fn counts(&self, policy: &Policy, eligible: Mask, draws: usize, seed: u64) -> Vec<usize> {
        let mut rng = SeededRng::new(seed);
        let mut cursor = 0;
        let mut counts = vec![0; self.members.len()];
        for _ in 0..draws {
            let m = policy
                .select(eligible, &mut cursor, &self.inputs(), &mut rng)
                .unwrap();
            assert!(eligible & (1 << m) != 0, "picked an ineligible member");
            counts[m] += 1;
        }
        counts
    }
}

#[test]
fn mask_helpers() {
    assert_eq!(members(0b1011).collect::<Vec<_>>(), [0, 1, 3]);
    assert_eq!(nth_member(0b1011, 2), Some(3));
    assert_eq!(nth_member(0b1011, 3), None);
    assert_eq!(mask_of_len(3), 0b111);
    assert_eq!(mask_of_len(64), u64::MAX);
}

#[test]
fn every_policy_returns_none_on_an_empty_mask() {
    let f = Fixture::new(3);
    let policies = [
        Policy::Static,
        Policy::Priority {
            tiers: vec![0b1, 0b110],
        },
        Policy::Weighted {
            weights: vec![1, 1, 1],
        },
        Policy::RoundRobin,
        Policy::Random,
        Policy::LeastLatency,
        Policy::LeastCost,
        Policy::CapabilityMatch,
    ];
    for p in policies {
        assert_eq!(
            p.select(0, &mut 0, &f.inputs(), &mut SeededRng::new(1)),
            None,
            "{}",
            p.label()
        );
    }
}

#[test]
fn static_takes_its_target() {
    let f = Fixture::new(1);
    assert_eq!(f.counts(&Policy::Static, 0b1, 10, 1), [10]);
}

#[test]
fn priority_uses_the_first_tier_with_an_eligible_member() {
    let f = Fixture::new(3);
    let p = Policy::Priority {
        tiers: vec![0b001, 0b110],
    };
    assert_eq!(
        f.counts(&p, 0b111, 100, 1),
        [100, 0, 0],
        "primary takes everything"
    );
    let spill = f.counts(&p, 0b110, 1000, 1);
    assert_eq!(spill[0], 0);
    assert!(
        spill[1] > 400 && spill[2] > 400,
        "second tier shares: {spill:?}"
    );
}

#[test]
fn weighted_follows_weights_over_eligible_members() {
    let f = Fixture::new(3);
    let p = Policy::Weighted {
        weights: vec![6, 3, 1],
    };
    let c = f.counts(&p, 0b111, 10_000, 7);
    assert!(
        (5_800..6_200).contains(&c[0]) && (2_800..3_200).contains(&c[1]),
        "{c:?}"
    );
    // Member 0 out: its share spreads 3:1 over the others.
    let c = f.counts(&p, 0b110, 10_000, 7);
    assert!((7_300..7_700).contains(&c[1]), "{c:?}");
    // All eligible weights zero: the first eligible member still serves.
    let zero = Policy::Weighted {
        weights: vec![0, 0, 0],
    };
    assert_eq!(f.counts(&zero, 0b110, 5, 1), [0, 5, 0]);
}

#[test]
fn round_robin_cycles_and_skips_ineligible() {
    let f = Fixture::new(3);
    let mut rng = SeededRng::new(1);
    let mut cursor = 0;
    let mut picks = Vec::new();
    for eligible in [0b111, 0b111, 0b111, 0b101, 0b101, 0b111] {
        picks.push(
            Policy::RoundRobin
                .select(eligible, &mut cursor, &f.inputs(), &mut rng)
                .unwrap(),
        );
    }
    assert_eq!(picks, [0, 1, 2, 0, 2, 0]);
}

#[test]
fn random_is_uniform() {
    let f = Fixture::new(4);
    let c = f.counts(&Policy::Random, 0b1111, 8_000, 3);
    assert!(c.iter().all(|&n| (1_800..2_200).contains(&n)), "{c:?}");
}

#[test]
fn least_latency_prefers_the_fast_and_avoids_the_failing() {
    let mut f = Fixture::new(3);
    let lp = crate::health::LatencyParams::default();
    f.health[0]
        .latency
        .observe(&lp, Instant::ZERO, Duration::from_millis(200));
    f.health[1]
        .latency
        .observe(&lp, Instant::ZERO, Duration::from_millis(900));
    // Member 2 fails in 5 ms: penalized, it must not look fastest.
    f.health[2]
        .latency
        .observe(&lp, Instant::ZERO, Duration::from_millis(5));
    f.health[2].latency.penalize(&lp, Instant::ZERO);
    let c = f.counts(&Policy::LeastLatency, 0b111, 3_000, 5);
    // P2C: the fastest wins every pair it is in (2/3 of draws), the slowest only its pair
    // against the failing one.
    assert!(c[0] > 1_900 && c[1] > 800 && c[2] < 100, "{c:?}");
    assert_eq!(f.counts(&Policy::LeastLatency, 0b100, 3, 5), [0, 0, 3]);
}

#[test]
fn least_latency_accounts_for_load() {
    let mut f = Fixture::new(2);
    let lp = crate::health::LatencyParams::default();
    f.health[0]
        .latency
        .observe(&lp, Instant::ZERO, Duration::from_millis(100));
    f.health[1]
        .latency
        .observe(&lp, Instant::ZERO, Duration::from_millis(150));
    f.health[0].in_flight = 5;
    assert_eq!(f.counts(&Policy::LeastLatency, 0b11, 100, 5), [0, 100]);
}

#[test]
fn least_cost_takes_the_cheapest_eligible() {
    let mut f = Fixture::new(3);
    f.targets[0].price = Price {
        input_per_mtok: 5.0,
        output_per_mtok: 15.0,
        cached_input_per_mtok: 5.0,
    };
    f.targets[1].price = Price {
        input_per_mtok: 0.15,
        output_per_mtok: 0.6,
        cached_input_per_mtok: 0.15,
    };
    f.targets[2].price = Price {
        input_per_mtok: 0.5,
        output_per_mtok: 1.5,
        cached_input_per_mtok: 0.5,
    };
    assert_eq!(f.counts(&Policy::LeastCost, 0b111, 10, 1), [0, 10, 0]);
    assert_eq!(f.counts(&Policy::LeastCost, 0b101, 10, 1), [0, 0, 10]);
}

#[test]
fn capability_match_takes_the_tightest_window() {
    let mut f = Fixture::new(3);
    f.targets[0].context_window = 200_000;
    f.targets[1].context_window = 32_000;
    f.targets[2].context_window = 128_000;
    assert_eq!(f.counts(&Policy::CapabilityMatch, 0b111, 5, 1), [0, 5, 0]);
    assert_eq!(f.counts(&Policy::CapabilityMatch, 0b101, 5, 1), [0, 0, 5]);
}

#[test]
fn cost_and_window_ties_go_to_the_earlier_member() {
    let mut f = Fixture::new(3);
    for t in &mut f.targets {
        t.context_window = 32_000;
    }
    f.targets[0].context_window = 200_000;
    assert_eq!(f.counts(&Policy::LeastCost, 0b110, 5, 1), [0, 5, 0]);
    assert_eq!(f.counts(&Policy::CapabilityMatch, 0b111, 5, 1), [0, 5, 0]);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Weighted selection converges to its weights: over 20 000 draws every member's
        /// share is within 2 percentage points of weight / total (about 5 standard deviations).
        #[test]
        fn weighted_converges_to_weights(
            weights in proptest::collection::vec(0u32..20, 2..6),
            seed in any::<u64>(),
        ) {
            let total: u32 = weights.iter().sum();
            prop_assume!(total > 0);
            let f = Fixture::new(weights.len());
            let draws = 20_000;
            let c = f.counts(&Policy::Weighted { weights: weights.clone() }, mask_of_len(weights.len()), draws, seed);
            for (m, &w) in weights.iter().enumerate() {
                let expected = f64::from(w) / f64::from(total);
                let observed = c[m] as f64 / draws as f64;
                prop_assert!((expected - observed).abs() < 0.02, "member {m}: {observed} vs {expected}");
                if w == 0 {
                    prop_assert_eq!(c[m], 0);
                }
            }
        }

        /// No policy ever picks a member outside the eligible mask.
        #[test]
        fn policies_pick_only_eligible(mask in 1u64..256, seed in any::<u64>()) {
            let f = Fixture::new(8);
            let policies = [
                Policy::Static,
                Policy::Priority { tiers: vec![0b11, 0b1100, 0b1111_0000] },
                Policy::Weighted { weights: vec![1, 2, 3, 4, 5, 6, 7, 8] },
                Policy::RoundRobin,
                Policy::Random,
                Policy::LeastLatency,
                Policy::LeastCost,
                Policy::CapabilityMatch,
            ];
            for p in &policies {
                f.counts(p, mask, 50, seed);
            }
        }
    }
}
