//! The fleet seam through the router, scripted with explicit times: several routers over one
//! [`StoreModel`], each syncing when the test says.

use super::*;
use crate::config::load_router;
use crate::credentials::keyring::{
    DEFAULT_COOL_OFF, KeyEvent, KeyEventKind, KeyRing, RevocationParams, key_subject,
};
use crate::health::BreakerState;
use crate::id::TargetId;
use crate::outcome::{AttemptReport, ErrorKind, Outcome};
use crate::plan::Action;
use crate::request::Request;
use crate::rng::SeededRng;
use crate::router::Router;

const CONFIG: &str = "\
targets:
  - { name: a, provider: pa, model: ma, context_window: 8000,
      limits: { requests_per_minute: 600, tokens_per_minute: 1000000 } }
  - { name: b, provider: pb, model: mb, context_window: 8000 }
routes:
  - { name: solo, policy: static, targets: [a] }
  - { name: chat, policy: priority, tiers: [[a], [b]] }
plan: { max_attempts: 2, attempt_timeout: 10s, deadline: 30s }
breaker: { consecutive_failures: 3, open_for: 5s, probes: 1, probe_successes: 1, recovery: 10s }
";

fn t(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn router(seed: u64) -> Router {
    Router::new(
        load_router(CONFIG, "fleet.yaml").unwrap(),
        SeededRng::new(seed),
    )
}

/// `n` routers in one fleet over one store.
struct Fleet3 {
    store: StoreModel,
    routers: Vec<Router>,
}

impl Fleet3 {
    fn new(n: u32, shared: bool) -> Fleet3 {
        let routers = (0..n)
            .map(|i| {
                let mut r = router(u64::from(i) + 1);
                if shared {
                    r.join_fleet(FleetParams {
                        replica: i,
                        ..FleetParams::default()
                    });
                }
                r
            })
            .collect();
        Fleet3 {
            store: StoreModel::new(),
            routers,
        }
    }

    fn run(&mut self, i: usize, ops: Vec<StoreOp>, now: Instant) {
        for op in ops {
            let reply = self.store.apply(&op, now);
            self.routers[i].fleet_reply(&op, reply, now);
        }
    }

    fn sync(&mut self, i: usize, now: Instant) {
        let ops = self.routers[i].fleet_sync(now);
        self.run(i, ops, now);
    }

    fn publish(&mut self, i: usize, now: Instant) {
        let ops = self.routers[i].fleet_publish(now);
        self.run(i, ops, now);
    }
}

fn request(route: &str) -> Request {
    Request {
        route: route.into(),
        max_tokens: Some(100),
        estimated_prompt_tokens: 100,
        ..Request::default()
    }
}

/// Sends one request; returns the target it went to, and answers it with `outcome` and
/// (for a success) 100 prompt and `completion` completion tokens.
fn send(
    r: &mut Router,
    route: &str,
    outcome: Outcome,
    completion: u32,
    now: Instant,
) -> Option<TargetId> {
    let mut plan = r.begin(&request(route), now);
    match r.next(&mut plan, now) {
        Action::Send {
            attempt, target, ..
        } => {
            let report = AttemptReport {
                prompt_tokens: if outcome.is_success() { 100 } else { 0 },
                completion_tokens: if outcome.is_success() { completion } else { 0 },
                ..AttemptReport::new(outcome, Duration::from_millis(10))
            };
            r.record(&mut plan, attempt, report, now);
            r.abandon(&mut plan, now);
            Some(target)
        }
        _ => {
            r.abandon(&mut plan, now);
            None
        }
    }
}

/// Three routers, each offered 10 requests a second for `secs` seconds against a limit of 600
/// a minute (10 a second) for the fleet: admissions per second, and the shared bucket's units
/// left at the start of each second.
fn three_routers_at_three_times_the_limit(shared: bool, secs: u64) -> (Vec<u64>, Vec<u64>) {
    let mut f = Fleet3::new(3, shared);
    let bucket = BucketKey::new(Resource::Requests, "a");
    let mut admitted = Vec::new();
    let mut left = Vec::new();
    for s in 0..secs {
        left.push(
            f.store
                .take(&bucket, BucketSpec::per_minute(600), 0, t(s * 1000))
                .unwrap()
                .left,
        );
        let mut n = 0;
        for ms in (0..1000).step_by(100) {
            let now = t(s * 1000 + ms);
            for i in 0..3 {
                // Syncs every second, staggered by replica.
                if shared && ms == 100 * i as u64 * 3 {
                    f.sync(i, now);
                }
                if send(&mut f.routers[i], "solo", Outcome::Success, 10, now).is_some() {
                    n += 1;
                }
            }
        }
        admitted.push(n);
    }
    (admitted, left)
}

#[test]
fn over_admission_is_bounded_by_the_lease_blocks_with_three_routers_on_one_model() {
    let block = 30; // 5 % of 600
    let (admitted, left) = three_routers_at_three_times_the_limit(true, 180);
    for a in 0..120 {
        let window: u64 = admitted[a..a + 60].iter().sum();
        // What the shared bucket could give in the window (what it held, plus a minute's
        // refill), plus the blocks the replicas held when it began.
        let allowed = left[a] + 600 + 3 * block;
        assert!(window <= allowed, "window at {a} s: {window} > {allowed}");
    }
    // And the fleet uses its limit: over three minutes, the initial 600 and the refill.
    let total: u64 = admitted.iter().sum();
    assert!((2_200..=600 + 1_800).contains(&total), "total {total}");
}

#[test]
fn without_sharing_three_routers_admit_three_times_the_limit() {
    let (admitted, _) = three_routers_at_three_times_the_limit(false, 180);
    let late: u64 = admitted[120..180].iter().sum();
    assert!(
        late >= 3 * 600 - 30,
        "each router holds its own 600 a minute: {late}"
    );
}

/// The tokens the first router's lease on `a` holds.
fn lease_tokens(f: &Fleet3) -> u64 {
    f.routers[0].fleet().unwrap().leases(0).unwrap()[1]
        .as_ref()
        .unwrap()
        .held()
}

#[test]
fn reserved_tokens_not_used_come_back_and_a_lease_over_its_block_gives_back() {
    let mut f = Fleet3::new(1, true);
    f.sync(0, t(0));
    let tokens = lease_tokens;
    const BLOCK: u64 = 50_000;
    assert_eq!(tokens(&f), BLOCK, "a block: 5 % of a million");
    // 200 reserved (prompt and max_tokens), 110 used: 90 come back.
    send(&mut f.routers[0], "solo", Outcome::Success, 10, t(10));
    assert_eq!(tokens(&f), BLOCK - 110);
    // The next sync tops up to a block; a return then passes it, and the excess goes back.
    f.sync(0, t(1_000));
    assert_eq!(tokens(&f), BLOCK);
    let mut plan = f.routers[0].begin(&request("solo"), t(1_010));
    let Action::Send { attempt, .. } = f.routers[0].next(&mut plan, t(1_010)) else {
        panic!("not sent");
    };
    f.sync(0, t(1_020)); // tops up the 200 reserved
    let report = AttemptReport {
        prompt_tokens: 100,
        completion_tokens: 0,
        ..AttemptReport::new(Outcome::Success, Duration::from_millis(10))
    };
    f.routers[0].record(&mut plan, attempt, report, t(1_030));
    assert_eq!(tokens(&f), BLOCK + 100);
    let ops = f.routers[0].fleet_sync(t(2_000));
    let back = BucketKey::new(Resource::Tokens, "a");
    assert!(
        ops.contains(&StoreOp::GiveBack(back.clone(), 100)),
        "{ops:?}"
    );
    let before = f
        .store
        .take(&back, BucketSpec::per_minute(1_000_000), 0, t(2_000))
        .unwrap()
        .left;
    f.run(0, ops, t(2_000));
    let after = f
        .store
        .take(&back, BucketSpec::per_minute(1_000_000), 0, t(2_000))
        .unwrap()
        .left;
    assert_eq!(after, before + 100);
    assert_eq!(tokens(&f), BLOCK);
}

#[test]
fn a_peers_open_advisory_stops_sending_until_its_until_and_the_ramp_is_shared() {
    let mut f = Fleet3::new(2, true);
    f.sync(0, t(0));
    f.sync(1, t(0));
    let a = TargetId::new(0);
    // Replica 0 sees three 503s: its breaker opens until 5.2 s; it publishes at once.
    for ms in [100, 150, 200] {
        send(
            &mut f.routers[0],
            "solo",
            Outcome::error(ErrorKind::ServerError),
            0,
            t(ms),
        );
    }
    assert_eq!(
        f.routers[0].health(a).breaker.state(),
        BreakerState::Open { until: t(5_200) }
    );
    f.publish(0, t(200));
    // Replica 1 still sends to `a` until its next read...
    assert_eq!(
        send(&mut f.routers[1], "chat", Outcome::Success, 10, t(300)),
        Some(a)
    );
    f.sync(1, t(1_000));
    // ...then stops until the stored until.
    assert_eq!(
        f.routers[1].health(a).breaker.state(),
        BreakerState::Open { until: t(5_200) }
    );
    assert_eq!(
        send(&mut f.routers[1], "chat", Outcome::Success, 10, t(1_100)),
        Some(TargetId::new(1))
    );
    // Nothing new to say: publishing again writes nothing.
    assert!(f.routers[0].fleet_publish(t(1_200)).is_empty());
    assert!(f.routers[1].fleet_publish(t(1_200)).is_empty());
    // Both ask for the probe token within a sync of the end of the cooldown; one gets it.
    f.sync(1, t(4_500));
    f.sync(0, t(4_600));
    assert!(matches!(
        f.routers[1].fleet().unwrap().probe_token(0),
        ProbeToken::Held { .. }
    ));
    assert_eq!(
        f.routers[0].fleet().unwrap().probe_token(0),
        ProbeToken::Free
    );
    // Half-open at 5.2 s: only the holder probes; the other sends to `b`.
    assert_eq!(
        send(&mut f.routers[0], "chat", Outcome::Success, 10, t(5_300)),
        Some(TargetId::new(1))
    );
    assert_eq!(
        f.routers[0].health(a).breaker.state(),
        BreakerState::HalfOpen
    );
    assert_eq!(
        send(&mut f.routers[1], "chat", Outcome::Success, 10, t(5_400)),
        Some(a)
    );
    assert_eq!(
        f.routers[1].health(a).breaker.state(),
        BreakerState::Recovering { since: t(5_400) }
    );
    // The holder publishes the ramp and gives the token back; the other joins the same ramp.
    f.sync(1, t(5_500));
    assert_eq!(
        f.routers[1].fleet().unwrap().probe_token(0),
        ProbeToken::Free
    );
    f.sync(0, t(5_600));
    assert_eq!(
        f.routers[0].health(a).breaker.state(),
        BreakerState::Recovering { since: t(5_400) }
    );
    // Whoever holds a token it no longer needs gives it back at its next sync.
    f.sync(0, t(6_600));
    assert_eq!(
        f.routers[0].fleet().unwrap().probe_token(0),
        ProbeToken::Free
    );
    assert_eq!(f.routers[1].fleet().unwrap().stats().probe_grants, 1);
}

#[test]
fn a_peers_parking_and_cost_cap_and_revocation_are_applied() {
    let mut f = Fleet3::new(2, true);
    let adv = |kind, subject: &str, until| Advisory {
        key: AdvisoryKey::new(kind, subject),
        until,
        since: t(0),
        payload: String::new(),
    };
    f.routers[0].fleet_accept(
        &adv(AdvisoryKind::Parked, "a", Until::At(t(3_000))),
        t(1_000),
    );
    assert!(
        f.routers[0]
            .health(TargetId::new(0))
            .limits
            .is_parked(t(2_999))
    );
    assert!(
        !f.routers[0]
            .health(TargetId::new(0))
            .limits
            .is_parked(t(3_000))
    );
    f.routers[0].fleet_accept(
        &adv(AdvisoryKind::CostCapSpent, "b", Until::At(t(9_000))),
        t(1_000),
    );
    assert!(f.routers[0].fleet().unwrap().cost_cap_spent(1, t(8_999)));
    assert_eq!(
        send(&mut f.routers[0], "chat", Outcome::Success, 10, t(1_500)),
        None
    );
    f.routers[0].fleet_accept(
        &adv(AdvisoryKind::Revoked, "pa/main", Until::Forever),
        t(1_000),
    );
    assert!(
        f.routers[0]
            .fleet()
            .unwrap()
            .is_revoked("pa/main", Instant::MAX)
    );
    // Unknown subjects and advisories already over change nothing.
    f.routers[0].fleet_accept(
        &adv(AdvisoryKind::Open, "nope", Until::At(t(9_000))),
        t(1_000),
    );
    f.routers[0].fleet_accept(&adv(AdvisoryKind::Open, "b", Until::At(t(900))), t(1_000));
    assert_eq!(
        f.routers[0].health(TargetId::new(1)).breaker.state(),
        BreakerState::Closed
    );
    // A revocation published by one replica reaches the other.
    f.routers[1].fleet_revoke("pb/old", Until::At(t(60_000)), t(2_000));
    f.sync(1, t(2_000));
    f.sync(0, t(2_100));
    assert!(
        f.routers[0]
            .fleet()
            .unwrap()
            .is_revoked("pb/old", t(59_999))
    );
    // Both reach the driver, for its key rings.
    assert_eq!(
        f.routers[0].fleet_take_revocations(),
        [
            ("pa/main".to_string(), Until::Forever),
            ("pb/old".to_string(), Until::At(t(60_000)))
        ]
    );
    assert!(f.routers[0].fleet_take_revocations().is_empty());
}

/// Two replicas' drivers, each with its own key ring for provider `pa` (keys `old` and `new`,
/// `new` preferred), glued to their routers as the drivers do: a revocation event goes to
/// `fleet_revoke`, and the peers' revocations from `fleet_take_revocations` go to
/// `revoked_by_peer`.
#[test]
fn a_key_revoked_after_401s_on_one_replica_is_not_chosen_by_the_other_after_one_sync() {
    const KEYS: [&str; 2] = ["old", "new"];
    let mut f = Fleet3::new(2, true);
    f.sync(0, t(0));
    f.sync(1, t(0));
    let mut rings = [
        KeyRing::new(2, RevocationParams::default()),
        KeyRing::new(2, RevocationParams::default()),
    ];
    let rank = |i: usize| Some(i);
    let apply_peers = |r: &mut Router, ring: &mut KeyRing, now: Instant| {
        let mut events = Vec::new();
        for (subject, until) in r.fleet_take_revocations() {
            let Some(key) = KEYS.iter().position(|k| key_subject("pa", k) == subject) else {
                continue;
            };
            let until = match until {
                Until::At(u) => u,
                Until::Forever => Instant::MAX,
            };
            events.extend(ring.revoked_by_peer(key, until, now));
        }
        events
    };
    assert_eq!(rings[1].choose(t(500), rank, |_| {}), Some(1));
    // Replica 0: three 401s on `new` within a minute revoke it there.
    let mut revoked = Vec::new();
    for ms in [1_000, 1_100, 1_200] {
        if let Some(e) = rings[0].unauthorized(1, t(ms)) {
            let until = e.revoked_until().unwrap();
            f.routers[0].fleet_revoke(&key_subject("pa", KEYS[1]), Until::At(until), e.at);
            revoked.push(e);
        }
    }
    assert_eq!(revoked.len(), 1);
    assert_eq!(rings[0].choose(t(1_300), rank, |_| {}), Some(0));
    // Before any sync, replica 1 still uses it.
    assert!(apply_peers(&mut f.routers[1], &mut rings[1], t(1_300)).is_empty());
    assert_eq!(rings[1].choose(t(1_300), rank, |_| {}), Some(1));
    // One sync each: replica 1 takes `new` out of use until replica 0's cool-off ends.
    f.sync(0, t(1_300));
    f.sync(1, t(1_400));
    let until = t(1_200) + DEFAULT_COOL_OFF;
    assert_eq!(
        apply_peers(&mut f.routers[1], &mut rings[1], t(1_400)),
        [KeyEvent {
            at: t(1_400),
            key: 1,
            kind: KeyEventKind::Revoked {
                cool_off: until.saturating_since(t(1_400))
            },
        }]
    );
    assert_eq!(rings[1].choose(t(1_500), rank, |_| {}), Some(0));
    assert_eq!(
        rings[1].choose(t(1_199) + DEFAULT_COOL_OFF, rank, |_| {}),
        Some(0)
    );
    // Replica 0 does not read its own revocation back; a second read changes nothing.
    f.sync(0, t(2_300));
    f.sync(1, t(2_400));
    assert!(apply_peers(&mut f.routers[0], &mut rings[0], t(2_300)).is_empty());
    assert!(apply_peers(&mut f.routers[1], &mut rings[1], t(2_400)).is_empty());
    // Its cool-off over, replica 1 re-probes the key as after a revocation of its own.
    let mut reprobe = Vec::new();
    assert_eq!(
        rings[1].choose(until, rank, |e| reprobe.push(e.kind)),
        Some(1)
    );
    assert_eq!(reprobe, [KeyEventKind::Reprobe, KeyEventKind::InUse]);
}

#[test]
fn a_store_down_falls_back_to_the_limit_shared_by_the_replicas_alive_and_rejoins() {
    let mut f = Fleet3::new(3, true);
    for i in 0..3 {
        f.sync(i, t(0));
    }
    f.sync(0, t(500));
    assert_eq!(f.routers[0].fleet().unwrap().alive(), 3);
    // The store is down for replica 0: every operation fails.
    let ops = f.routers[0].fleet_sync(t(1_000));
    for op in &ops {
        f.routers[0].fleet_reply(op, Err(StoreError::Unavailable { op: op.name() }), t(1_000));
    }
    let fl = f.routers[0].fleet().unwrap();
    assert_eq!(fl.degraded_since(), Some(t(1_000)));
    assert!(fl.leases(0).unwrap()[0].as_ref().unwrap().is_degraded());
    // Local bucket: 600 / 3 a minute, starting from the 30 held.
    let mut n = 0;
    for ms in (1_000..61_000).step_by(50) {
        if send(&mut f.routers[0], "solo", Outcome::Success, 10, t(ms)).is_some() {
            n += 1;
        }
    }
    assert!(
        (200..=30 + 200 + 1).contains(&n),
        "admitted {n} while degraded"
    );
    // The store answers again: rejoined, leasing again.
    f.sync(0, t(61_000));
    let fl = f.routers[0].fleet().unwrap();
    assert_eq!(fl.degraded_since(), None);
    assert_eq!((fl.stats().degraded, fl.stats().rejoined), (1, 1));
    assert!(!fl.leases(0).unwrap()[0].as_ref().unwrap().is_degraded());
    // What it spent on its own in the last minute (its whole local bucket) is owed, and is
    // charged to the shared bucket with its new block at the next sync: 600 - (200 + 30) left.
    assert_eq!(fl.leases(0).unwrap()[0].as_ref().unwrap().debt(), 200);
    f.sync(0, t(62_000));
    let fl = f.routers[0].fleet().unwrap();
    let left = f
        .store
        .take(
            &BucketKey::new(Resource::Requests, "a"),
            BucketSpec::per_minute(600),
            0,
            t(62_000),
        )
        .unwrap()
        .left;
    assert_eq!(left, 370);
    assert_eq!(fl.leases(0).unwrap()[0].as_ref().unwrap().held(), 30);
}

#[test]
fn a_store_down_at_the_first_sync_leaves_one_block_to_admit_from_not_nothing() {
    let mut f = Fleet3::new(1, true);
    // Never joined: nothing held, nothing admitted on the rate-limited target.
    assert!(send(&mut f.routers[0], "solo", Outcome::Success, 10, t(0)).is_none());
    let ops = f.routers[0].fleet_sync(t(0));
    for op in &ops {
        f.routers[0].fleet_reply(op, Err(StoreError::Timeout { op: op.name() }), t(0));
    }
    let lease = f.routers[0].fleet().unwrap().leases(0).unwrap()[0]
        .clone()
        .unwrap();
    assert!(lease.is_degraded());
    // One block (5 % of 600) at once, as if the first take had been granted; then the local
    // bucket's refill (600 a minute for the one replica seen: 10 a second).
    let admitted = (0..40)
        .filter(|_| send(&mut f.routers[0], "solo", Outcome::Success, 10, t(1)).is_some())
        .count();
    assert_eq!(admitted, 30);
    // A lease that was granted and spent its units degrades from what it holds: nothing.
    let mut g = Fleet3::new(1, true);
    g.sync(0, t(0));
    let spent = (0..40)
        .filter(|_| send(&mut g.routers[0], "solo", Outcome::Success, 10, t(1)).is_some())
        .count();
    assert_eq!(spent, 30);
    let ops = g.routers[0].fleet_sync(t(2));
    for op in &ops {
        g.routers[0].fleet_reply(op, Err(StoreError::Timeout { op: op.name() }), t(2));
    }
    assert!(send(&mut g.routers[0], "solo", Outcome::Success, 10, t(3)).is_none());
}

#[test]
fn more_than_a_page_of_advisories_is_read_within_the_sync_and_a_flood_continues_next_sync() {
    let mut f = Fleet3::new(1, true);
    let revoke = |store: &mut StoreModel, i: usize| {
        let key = AdvisoryKey::new(AdvisoryKind::Revoked, format!("p/key-{i}"));
        let advice = Advice {
            until: Until::Forever,
            since: t(0),
            payload: String::new(),
        };
        store.advise(&key, &advice, t(0)).unwrap();
    };
    for i in 0..300 {
        revoke(&mut f.store, i);
    }
    // One sync, then the publishes a driver runs after the answers (before the next sync).
    let publish_all = |f: &mut Fleet3, now: Instant| {
        for _ in 0..100 {
            let ops = f.routers[0].fleet_publish(now);
            if ops.is_empty() {
                return;
            }
            f.run(0, ops, now);
        }
        panic!("publish never ran dry");
    };
    f.sync(0, t(10));
    publish_all(&mut f, t(10));
    let fl = f.routers[0].fleet().unwrap();
    assert!((0..300).all(|i| fl.is_revoked(&format!("p/key-{i}"), t(20))));
    assert_eq!(fl.stats().accepted, 300);
    // A flood: 20 pages of changes; one sync period reads 16 pages, the next the rest,
    // none lost.
    for i in 300..300 + 20 * MAX_PAGE {
        revoke(&mut f.store, i);
    }
    f.sync(0, t(1_000));
    publish_all(&mut f, t(1_000));
    let read = f.routers[0].fleet().unwrap().stats().accepted - 300;
    assert_eq!(read, 16 * MAX_PAGE as u64);
    f.sync(0, t(2_000));
    publish_all(&mut f, t(2_000));
    let fl = f.routers[0].fleet().unwrap();
    assert_eq!(fl.stats().accepted, 300 + 20 * MAX_PAGE as u64);
    assert!((0..300 + 20 * MAX_PAGE).all(|i| fl.is_revoked(&format!("p/key-{i}"), t(2_000))));
}

#[test]
fn a_reload_carries_the_leases_of_unchanged_buckets_and_gives_back_the_others() {
    let mut f = Fleet3::new(1, true);
    f.sync(0, t(0));
    let level = |f: &mut Fleet3, r: Resource, per_minute: u64, now: Instant| {
        f.store
            .take(
                &BucketKey::new(r, "a"),
                BucketSpec::per_minute(per_minute),
                0,
                now,
            )
            .unwrap()
            .left
    };
    // A block of each: 30 requests, 50 000 tokens.
    assert_eq!(level(&mut f, Resource::Requests, 600, t(0)), 570);
    assert!(send(&mut f.routers[0], "solo", Outcome::Success, 10, t(1)).is_some());
    let held = |r: &Router, lease: usize| {
        r.fleet().unwrap().leases(0).unwrap()[lease]
            .as_ref()
            .unwrap()
            .held()
    };
    assert_eq!(held(&f.routers[0], 0), 29);

    // The same config again: the new router holds what the old one held, and owes nothing.
    let mut same = router(9);
    let lost = same.carry_from(&f.routers[0], t(2));
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(held(&same, 0), 29);
    assert_eq!(
        *same.fleet().unwrap().params(),
        *f.routers[0].fleet().unwrap().params()
    );
    assert!(same.fleet_publish(t(2)).is_empty());
    f.routers[0] = same;

    // The request limit changed, the token limit not: the request lease's 29 go back to the
    // shared bucket (none leaks until it refills), the token lease carries.
    let changed = CONFIG.replace("requests_per_minute: 600", "requests_per_minute: 1200");
    let mut next = Router::new(
        load_router(&changed, "fleet.yaml").unwrap(),
        SeededRng::new(3),
    );
    next.carry_from(&f.routers[0], t(3));
    assert_eq!(held(&next, 0), 0);
    assert_eq!(held(&next, 1), held(&f.routers[0], 1));
    let ops = next.fleet_publish(t(3));
    assert_eq!(
        ops,
        vec![StoreOp::GiveBack(
            BucketKey::new(Resource::Requests, "a"),
            29
        )]
    );
    f.routers[0] = next;
    f.run(0, ops, t(3));
    assert_eq!(level(&mut f, Resource::Requests, 600, t(3)), 599);

    // The target gone: its token lease goes back too.
    let gone = "\
targets:
  - { name: b, provider: pb, model: mb, context_window: 8000 }
routes:
  - { name: chat, policy: static, targets: [b] }
";
    let tokens = held(&f.routers[0], 1);
    let mut last = Router::new(load_router(gone, "fleet.yaml").unwrap(), SeededRng::new(4));
    last.carry_from(&f.routers[0], t(4));
    assert_eq!(
        last.fleet_publish(t(4)),
        vec![StoreOp::GiveBack(
            BucketKey::new(Resource::Tokens, "a"),
            tokens
        )]
    );
}

#[test]
fn the_outbox_coalesces_by_key_and_is_bounded() {
    let mut o = Outbox::new(2);
    let adv = |until: u64, since: u64| Advice {
        until: Until::At(t(until)),
        since: t(since),
        payload: String::new(),
    };
    o.push(AdvisoryKey::new(AdvisoryKind::Open, "a"), adv(5_000, 0));
    o.push(AdvisoryKey::new(AdvisoryKind::Open, "a"), adv(3_000, 1));
    o.push(AdvisoryKey::new(AdvisoryKind::Open, "a"), adv(9_000, 2));
    o.push(
        AdvisoryKey::new(AdvisoryKind::Recovering, "a"),
        adv(9_000, 5),
    );
    o.push(
        AdvisoryKey::new(AdvisoryKind::Recovering, "a"),
        adv(9_500, 4),
    );
    o.push(AdvisoryKey::new(AdvisoryKind::Parked, "b"), adv(9_000, 0));
    assert_eq!((o.len(), o.dropped()), (2, 1));
    let out = o.drain();
    assert_eq!(out[0].1.until, Until::At(t(9_000)), "the latest until");
    assert_eq!(out[1].1.since, t(4), "the earliest since");
    assert!(o.is_empty());
}

#[test]
fn an_operation_refused_as_invalid_leaves_the_replica_joined_and_asks_again() {
    let mut f = Fleet3::new(1, true);
    let ops = f.routers[0].fleet_sync(t(0));
    let take = ops
        .iter()
        .find(|op| matches!(op, StoreOp::Take(..)))
        .unwrap()
        .clone();
    let invalid = StoreError::Invalid {
        op: "take",
        why: "a test",
    };
    f.routers[0].fleet_reply(&take, Err(invalid), t(0));
    let fl = f.routers[0].fleet().unwrap();
    assert_eq!(fl.degraded_since(), None);
    // The take is no longer awaited: the next sync asks again.
    let again = f.routers[0].fleet_sync(t(1_000));
    assert!(again.contains(&take), "{again:?}");
}

#[test]
fn a_probe_token_whose_holder_stops_renewing_passes_on_three_syncs_later() {
    let mut f = Fleet3::new(2, true);
    f.sync(0, t(0));
    f.sync(1, t(0));
    for ms in [100, 150, 200] {
        send(
            &mut f.routers[0],
            "solo",
            Outcome::error(ErrorKind::ServerError),
            0,
            t(ms),
        );
    }
    f.publish(0, t(200));
    f.sync(1, t(1_000));
    // Replica 1 takes the token at 4.5 s (held until 7.5 s), then goes silent.
    f.sync(1, t(4_500));
    assert!(matches!(
        f.routers[1].fleet().unwrap().probe_token(0),
        ProbeToken::Held { until } if until == t(7_500)
    ));
    for ms in [4_600, 5_600, 6_600, 7_499] {
        f.sync(0, t(ms));
        assert_eq!(
            f.routers[0].fleet().unwrap().probe_token(0),
            ProbeToken::Free,
            "{ms}"
        );
    }
    f.sync(0, t(7_500));
    assert!(matches!(
        f.routers[0].fleet().unwrap().probe_token(0),
        ProbeToken::Held { .. }
    ));
}

/// One router in a fleet, synced once, where `a` is sent 1000 completion tokens for a request
/// that sets none and may take `tokens_per_minute`.
fn one_with_a_default_completion(tokens_per_minute: u64) -> Fleet3 {
    let config = CONFIG
        .replace(
            "context_window: 8000,\n      limits",
            "context_window: 8000, default_max_tokens: 1000,\n      limits",
        )
        .replace(
            "tokens_per_minute: 1000000",
            &format!("tokens_per_minute: {tokens_per_minute}"),
        );
    let mut r = Router::new(
        load_router(&config, "fleet.yaml").unwrap(),
        SeededRng::new(1),
    );
    r.join_fleet(FleetParams::default());
    let mut f = Fleet3 {
        store: StoreModel::new(),
        routers: vec![r],
    };
    f.sync(0, t(0));
    f
}

#[test]
fn a_request_without_max_tokens_reserves_and_settles_the_default_completion() {
    // `a` is sent 1000 completion tokens for a request that sets none: the lease's tokens
    // are reserved for that, and the unused part comes back when the attempt ends.
    let mut f = one_with_a_default_completion(1_000_000);
    let tokens = lease_tokens;
    const BLOCK: u64 = 50_000;
    assert_eq!(tokens(&f), BLOCK);
    let unset = Request {
        max_tokens: None,
        ..request("solo")
    };
    let mut plan = f.routers[0].begin(&unset, t(10));
    let Action::Send { attempt, .. } = f.routers[0].next(&mut plan, t(10)) else {
        panic!("not sent");
    };
    assert_eq!(
        tokens(&f),
        BLOCK - 1_100,
        "the prompt and the default completion"
    );
    let report = AttemptReport {
        prompt_tokens: 100,
        completion_tokens: 10,
        ..AttemptReport::new(Outcome::Success, Duration::from_millis(10))
    };
    f.routers[0].record(&mut plan, attempt, report, t(20));
    assert_eq!(tokens(&f), BLOCK - 110, "what was used, no more");
}

#[test]
fn a_lease_without_room_for_the_default_completion_is_skipped() {
    // `a`'s block is 2 000 tokens (5 % of 40 000), and it is sent 1 000 completion tokens
    // for a request that sets none: one such request (100 + 1 000) leaves 900 held, room for
    // the prompt but not for the completion, so the next one goes to `b`.
    let mut f = one_with_a_default_completion(40_000);
    let unset = Request {
        max_tokens: None,
        ..request("chat")
    };
    let mut first = f.routers[0].begin(&unset, t(10));
    let Action::Send { target, .. } = f.routers[0].next(&mut first, t(10)) else {
        panic!("not sent");
    };
    assert_eq!(target, TargetId::new(0));
    let mut second = f.routers[0].begin(&unset, t(11));
    let Action::Send { target, .. } = f.routers[0].next(&mut second, t(11)) else {
        panic!("not sent");
    };
    assert_eq!(
        target,
        TargetId::new(1),
        "a's lease holds 900 of the 1 100 needed"
    );
}
