//! The store model's rules, scripted with explicit store times: the same rules as the Redis
//! store's (`crates/fleet/tests/rules.rs`).

use super::*;
use crate::fleet::types::{AdvisoryKind, Resource, Until};

fn t(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn advice(until: Until, since: u64) -> Advice {
    Advice {
        until,
        since: t(since),
        payload: "why".into(),
    }
}

fn open(subject: &str) -> AdvisoryKey {
    AdvisoryKey::new(AdvisoryKind::Open, subject)
}

#[test]
fn the_latest_until_wins() {
    let mut s = StoreModel::new();
    let k = open("a");
    let first = s
        .advise(&k, &advice(Until::At(t(10_000)), 0), t(0))
        .unwrap();
    assert!(first.accepted);
    let older = s.advise(&k, &advice(Until::At(t(5_000)), 1), t(1)).unwrap();
    assert!(
        !older.accepted,
        "an older advisory never shortens a newer one"
    );
    assert_eq!(older.stored, Some((Until::At(t(10_000)), t(0))));
    let newer = s
        .advise(&k, &advice(Until::At(t(15_000)), 2), t(2))
        .unwrap();
    assert!(newer.accepted);
    assert_eq!(newer.stored, Some((Until::At(t(15_000)), t(2))));
    // Advice already over is not stored.
    let over = s
        .advise(&open("b"), &advice(Until::At(t(3)), 0), t(3))
        .unwrap();
    assert_eq!((over.accepted, over.stored), (false, None));
}

#[test]
fn a_recovery_ramps_earliest_since_wins_then_the_latest_until() {
    let mut s = StoreModel::new();
    let k = AdvisoryKey::new(AdvisoryKind::Recovering, "a");
    assert!(
        s.advise(&k, &advice(Until::At(t(30_000)), 2_000), t(2_000))
            .unwrap()
            .accepted
    );
    let later = s
        .advise(&k, &advice(Until::At(t(40_000)), 3_000), t(3_000))
        .unwrap();
    assert!(
        !later.accepted,
        "a later ramp never replaces the fleet's ramp"
    );
    let earlier = s
        .advise(&k, &advice(Until::At(t(20_000)), 1_000), t(3_000))
        .unwrap();
    assert!(earlier.accepted);
    let tie = s
        .advise(&k, &advice(Until::At(t(25_000)), 1_000), t(3_000))
        .unwrap();
    assert!(tie.accepted, "on a tie of since, the latest until");
    assert_eq!(tie.stored, Some((Until::At(t(25_000)), t(1_000))));
}

#[test]
fn the_ttl_runs_from_the_stored_time_and_no_reader_resets_it() {
    let mut s = StoreModel::new();
    s.advise(&open("a"), &advice(Until::At(t(10_000)), 0), t(0))
        .unwrap();
    // Readers at 5 s and 9.999 s see it, from the start and from their cursor.
    let p = s
        .advisories_since(Cursor::default(), 256, t(5_000))
        .unwrap();
    assert_eq!(p.advisories.len(), 1);
    assert_eq!(p.advisories[0].until, Until::At(t(10_000)));
    let again = s
        .advisories_since(Cursor::default(), 256, t(9_999))
        .unwrap();
    assert_eq!(again.advisories.len(), 1);
    // The same advice written again does not win, so it does not move the expiry either.
    assert!(
        !s.advise(&open("a"), &advice(Until::At(t(10_000)), 9_000), t(9_000))
            .unwrap()
            .accepted
    );
    // Over at its stored until, whoever read it.
    let gone = s
        .advisories_since(Cursor::default(), 256, t(10_000))
        .unwrap();
    assert!(gone.advisories.is_empty());
    // Once over, any live advice is accepted again.
    assert!(
        s.advise(&open("a"), &advice(Until::At(t(12_000)), 10_000), t(10_000))
            .unwrap()
            .accepted
    );
}

#[test]
fn a_revocation_may_be_forever_and_nothing_shortens_it() {
    let mut s = StoreModel::new();
    let k = AdvisoryKey::new(AdvisoryKind::Revoked, "openai/main");
    assert!(
        s.advise(&k, &advice(Until::Forever, 0), t(0))
            .unwrap()
            .accepted
    );
    let timed = s
        .advise(&k, &advice(Until::At(t(u64::MAX / 2_000_000)), 1), t(1))
        .unwrap();
    assert!(!timed.accepted);
    assert_eq!(timed.stored, Some((Until::Forever, t(0))));
    let p = s
        .advisories_since(Cursor::default(), 256, Instant::MAX)
        .unwrap();
    assert_eq!(p.advisories[0].until, Until::Forever);
}

#[test]
fn readers_see_changes_after_their_cursor_and_a_reset_after_lost_data() {
    let mut s = StoreModel::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        s.advise(
            &open(name),
            &advice(Until::At(t(60_000)), i as u64),
            t(i as u64),
        )
        .unwrap();
    }
    let first = s.advisories_since(Cursor::default(), 2, t(10)).unwrap();
    let names: Vec<_> = first
        .advisories
        .iter()
        .map(|a| a.key.subject.as_str())
        .collect();
    assert_eq!((names, first.more), (vec!["a", "b"], true));
    let rest = s.advisories_since(first.cursor, 2, t(10)).unwrap();
    assert_eq!(rest.advisories.len(), 1);
    assert!(!rest.more && !rest.reset);
    // A change to `a` shows up once more, after the cursor.
    s.advise(&open("a"), &advice(Until::At(t(90_000)), 20), t(20))
        .unwrap();
    let next = s.advisories_since(rest.cursor, 256, t(30)).unwrap();
    assert_eq!(next.advisories.len(), 1);
    assert_eq!(next.advisories[0].until, Until::At(t(90_000)));
    let idle = s.advisories_since(next.cursor, 256, t(40)).unwrap();
    assert!(idle.advisories.is_empty());
    // The store loses its data: the old cursor reads from the start, with `reset`.
    s.lose_data();
    s.advise(&open("d"), &advice(Until::At(t(90_000)), 50), t(50))
        .unwrap();
    let after = s.advisories_since(idle.cursor, 256, t(60)).unwrap();
    assert!(after.reset);
    assert_eq!(after.advisories[0].key.subject, "d");
    assert!(s.advisories_since(Cursor::default(), 0, t(60)).is_err());
}

#[test]
fn leases_are_granted_at_most_the_bucket_and_come_back() {
    let mut s = StoreModel::new();
    let b = BucketKey::new(Resource::Requests, "a");
    let spec = BucketSpec::per_minute(60);
    let g = s.take(&b, spec, 50, t(0)).unwrap();
    assert_eq!((g.granted, g.left), (50, 10));
    let g = s.take(&b, spec, 50, t(0)).unwrap();
    assert_eq!(
        (g.granted, g.left),
        (10, 0),
        "at most what the bucket holds"
    );
    // Refill: one unit a second.
    let g = s.take(&b, spec, 50, t(5_000)).unwrap();
    assert_eq!(g.granted, 5);
    // Units returned are there for the next taker.
    assert_eq!(s.give_back(&b, 20, t(5_000)).unwrap().level, Some(20));
    assert_eq!(s.take(&b, spec, 50, t(5_000)).unwrap().granted, 20);
    // A full bucket is absent: a give-back adds nothing, and past capacity nothing sticks.
    let full = BucketKey::new(Resource::Tokens, "a");
    assert_eq!(s.give_back(&full, 5, t(0)).unwrap().level, None);
    s.take(&full, spec, 1, t(0)).unwrap();
    assert_eq!(s.give_back(&full, 500, t(0)).unwrap().level, Some(60));
    assert_eq!(s.take(&full, spec, 500, t(0)).unwrap().granted, 60);
    // Bad input is refused, never a panic.
    assert!(s.take(&b, BucketSpec::per_minute(0), 1, t(0)).is_err());
    assert!(s.take(&b, spec, u64::MAX, t(0)).is_err());
    assert!(
        s.take(&BucketKey::new(Resource::Requests, ""), spec, 1, t(0))
            .is_err()
    );
}

#[test]
fn the_probe_token_has_one_holder_until_it_expires_or_is_released() {
    let mut s = StoreModel::new();
    let p = s.try_probe("a", 1, t(3_000), t(0)).unwrap();
    assert!(p.granted);
    let other = s.try_probe("a", 2, t(3_000), t(1)).unwrap();
    assert!(!other.granted);
    assert_eq!(other.holder, Some((1, t(3_000))));
    // The holder renews: the later until kept.
    let renew = s.try_probe("a", 1, t(5_000), t(2)).unwrap();
    assert_eq!((renew.granted, renew.holder), (true, Some((1, t(5_000)))));
    assert!(
        !s.release_probe("a", 2, t(3)).unwrap(),
        "only the holder releases"
    );
    // Expired: the next asker gets it.
    assert!(s.try_probe("a", 2, t(8_000), t(5_000)).unwrap().granted);
    assert!(!s.release_probe("a", 1, t(5_001)).unwrap());
    assert!(s.release_probe("a", 2, t(5_001)).unwrap());
    assert!(s.try_probe("a", 3, t(9_000), t(5_002)).unwrap().granted);
    // An until already past grants nothing.
    assert!(!s.try_probe("b", 1, t(10), t(10)).unwrap().granted);
}

#[test]
fn heartbeats_count_the_replicas_alive() {
    let mut s = StoreModel::new();
    assert_eq!(s.beat(0, t(3_000), t(0)).replicas, 1);
    assert_eq!(s.beat(1, t(3_000), t(0)).replicas, 2);
    assert_eq!(
        s.beat(1, t(1_000), t(0)).replicas,
        2,
        "the latest until kept"
    );
    assert_eq!(s.alive(t(2_999)).replicas, 2);
    assert_eq!(s.beat(2, t(6_000), t(3_000)).replicas, 1);
    let op = StoreOp::Alive;
    assert_eq!(
        s.apply(&op, t(3_000)),
        Ok(StoreReply::Alive(Alive {
            replicas: 1,
            now: t(3_000)
        }))
    );
}
