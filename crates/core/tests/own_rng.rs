//! A caller's own generator drives the router: `Router` is generic over `rand::Rng`.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::convert::Infallible;

use rand_xoshiro::SplitMix64;
use switchyard_core::config::load_router;
use switchyard_core::id::TargetId;
use switchyard_core::plan::Action;
use switchyard_core::request::Request;
use switchyard_core::rng::{SeedableRng, TryRng};
use switchyard_core::router::Router;
use switchyard_core::router::prometheus;
use switchyard_core::time::Instant;

const YAML: &str = "\
targets:
  - { name: a, provider: pa, model: ma }
  - { name: b, provider: pb, model: mb }
  - { name: c, provider: pc, model: mc }
routes:
  - { name: chat, policy: random, targets: [a, b, c] }
";

/// A generator that repeats one word: what it draws is known in advance.
#[derive(Debug)]
struct Repeat(u64);

impl TryRng for Repeat {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.0 >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(self.0 as u8);
        Ok(())
    }
}

fn first_target<R: switchyard_core::rng::Rng>(r: &mut Router<R>) -> TargetId {
    let request = Request {
        route: "chat".into(),
        ..Request::default()
    };
    let mut plan = r.begin(&request, Instant::ZERO);
    match r.next(&mut plan, Instant::ZERO) {
        Action::Send { target, .. } => target,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_random_policy_draws_from_the_generator_the_router_was_given() {
    let params = load_router(YAML, "t.yaml").unwrap();
    let mut low = Router::new(params.clone(), Repeat(0));
    let mut high = Router::new(params, Repeat(u64::MAX));
    for _ in 0..5 {
        assert_eq!(
            first_target(&mut low),
            TargetId::new(0),
            "draws of 0: the first"
        );
        assert_eq!(
            first_target(&mut high),
            TargetId::new(2),
            "draws of max: the last"
        );
    }
}

#[test]
fn any_seedable_generator_serves_and_renders() {
    let mut r = Router::new(
        load_router(YAML, "t.yaml").unwrap(),
        SplitMix64::seed_from_u64(7),
    );
    let picked: Vec<TargetId> = (0..30).map(|_| first_target(&mut r)).collect();
    assert!(
        (0..3).all(|i| picked.contains(&TargetId::new(i))),
        "{picked:?}"
    );
    assert!(prometheus::render(&r).contains("target=\"c\""));
}
