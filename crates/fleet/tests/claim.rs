//! A replica number's claim in the Redis store (`claim`, `release`): one process at a time,
//! renewed by its holder, expiring exactly at its until.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use switchyard_fleet::{KeyOf, RedisServer, RedisStore, StoreError, StoreOptions};

fn store(server: &RedisServer) -> RedisStore {
    RedisStore::connect(
        &server.url(),
        StoreOptions {
            prefix: "t:{claim}:".to_string(),
            timeout: Duration::from_secs(2),
        },
    )
    .unwrap()
}

async fn pexpiretime(server: &RedisServer, key: &str) -> i64 {
    let mut con = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(&mut con)
        .await
        .unwrap()
}

/// A replica number's claim: one token at a time, renewed by its holder, expiring exactly at
/// its until, given back only by its holder; then another token gets it.
#[tokio::test]
async fn a_replica_number_is_claimed_by_one_process_at_a_time() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let s = store(&server);
    let ttl = Duration::from_secs(30);
    let (a, b) = (11, 22);
    let first = s.claim(3, a, ttl).await.unwrap();
    assert!(first.granted, "{first:?}");
    assert_eq!(first.until, first.now.plus(ttl));
    let key = s.key(KeyOf::Replica(3));
    assert_eq!(pexpiretime(&server, &key).await, first.until.0 as i64);
    // Another token is refused and told when the claim in force expires.
    let other = s.claim(3, b, ttl).await.unwrap();
    assert!(!other.granted, "{other:?}");
    assert_eq!(other.until, first.until);
    // Another number is another claim.
    assert!(s.claim(4, b, ttl).await.unwrap().granted);
    // The holder renews it: its until moves on.
    let renewed = s.claim(3, a, ttl).await.unwrap();
    assert!(
        renewed.granted && renewed.until >= first.until,
        "{renewed:?}"
    );
    assert_eq!(pexpiretime(&server, &key).await, renewed.until.0 as i64);
    // Only the holder gives it back; then the other token gets it.
    assert!(!s.release(3, b).await.unwrap());
    assert!(!s.claim(3, b, ttl).await.unwrap().granted);
    assert!(s.release(3, a).await.unwrap());
    assert_eq!(pexpiretime(&server, &key).await, -2, "the key is gone");
    assert!(s.claim(3, b, ttl).await.unwrap().granted);
    // A claim whose until is over is no claim (a holder that stopped renewing).
    let short = s.claim(5, a, Duration::from_millis(1)).await.unwrap();
    assert!(short.granted);
    // Refused while it lasts (a millisecond), granted from the store's first tick after.
    loop {
        let c = s.claim(5, b, ttl).await.unwrap();
        assert_eq!(c.granted, c.now >= short.until, "{c:?} after {short:?}");
        if c.granted {
            break;
        }
    }
    // A ttl of nothing, or over an hour, is refused.
    for bad in [Duration::ZERO, Duration::from_secs(3_601)] {
        assert!(matches!(
            s.claim(6, a, bad).await,
            Err(StoreError::Invalid { .. })
        ));
    }
}
