//! The fleet replica number's claim, as `switchyard gateway` processes see it: refused while
//! another holds it, waited out after one that was killed, given back on exit.

use super::*;

/// A current-thread runtime and a `redis-server` on it (stopped with the test).
fn redis(name: &str) -> (tokio::runtime::Runtime, switchyard_fleet::RedisServer) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redis = runtime
        .block_on(switchyard_fleet::RedisServer::start(name, &[]))
        .unwrap();
    (runtime, redis)
}

/// A gateway config in `dir` sharing the store at `redis` as replica `replica`.
fn replica_config(dir: &TempDir, redis: &str, replica: u32) -> std::path::PathBuf {
    let config = gateway_config(dir, "development", "127.0.0.1:9");
    let mut yaml = std::fs::read_to_string(&config).unwrap();
    yaml.push_str(&format!(
        "gateway:\n  shared_state: {{ redis: '{redis}', replica: {replica} }}\n"
    ));
    std::fs::write(&config, yaml).unwrap();
    config
}

/// Claims `replica` in the store at `redis` with `token`, for `ttl`.
fn claim(
    runtime: &tokio::runtime::Runtime,
    redis: &str,
    replica: u32,
    token: u64,
    ttl: Duration,
) -> switchyard_fleet::Claimed {
    runtime.block_on(async {
        let store =
            switchyard_fleet::RedisStore::connect(redis, switchyard_fleet::StoreOptions::default())
                .unwrap();
        store.claim(replica, token, ttl).await.unwrap()
    })
}

/// Two `switchyard gateway` processes configured as one fleet replica: the second is refused
/// (exit 2, no address), naming the number; the first, stopped, gives the number back (a
/// claim of it is granted at once, not a claim period later).
#[test]
fn a_second_gateway_with_the_same_replica_number_is_refused() {
    let (runtime, redis) = redis("gw-replica");
    let dir = TempDir::new("gw-replica");
    let config = replica_config(&dir, &redis.url(), 5);
    let (mut first, _) = start(gateway(&config, "127.0.0.1:0"));
    let err = refused(&mut gateway(&config, "127.0.0.1:0"));
    assert!(
        err.contains("replica 5 is held by another gateway sharing the store at "),
        "{err}"
    );
    signal(&first.0, "-TERM");
    assert_eq!(exit_code(&mut first), Some(0));
    // Its claim lasts 3 s (three sync periods) past its last renewal: granted now, it was
    // given back.
    let claimed = claim(&runtime, &redis.url(), 5, 1, Duration::from_secs(3));
    assert!(claimed.granted, "{claimed:?}");
}

/// A gateway started with the number of one that was killed (its claim never given back)
/// waits the claim out and serves, and says so with an info line: no error that a refused
/// start would also show (the sync task's first renewal found the claim taken while the start
/// was still waiting, and logged "held by another gateway").
#[test]
fn a_start_after_a_killed_holder_waits_without_an_error() {
    let (runtime, redis) = redis("gw-killed");
    let dir = TempDir::new("gw-killed");
    let config = replica_config(&dir, &redis.url(), 6);
    let (mut first, _) = start(gateway(&config, "127.0.0.1:0"));
    signal(&first.0, "-KILL");
    let _ = exit_code(&mut first);
    let (mut second, line) = start(gateway(&config, "127.0.0.1:0"));
    assert!(line.starts_with("gateway http://"), "{line}");
    let lines = stderr_lines(&mut second.0);
    // A renewal or two past the start.
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(2500)).await });
    signal(&second.0, "-TERM");
    assert_eq!(exit_code(&mut second), Some(0));
    let seen: Vec<String> = lines.try_iter().collect();
    let all = seen.join("\n");
    assert!(
        all.contains("waiting for its claim to expire"),
        "the wait is told:\n{all}"
    );
    assert!(
        !all.contains("ERROR") && !all.contains("held by another gateway"),
        "no error on a start that waits:\n{all}"
    );
}

/// A gateway waiting out a dead gateway's claim of its replica number (up to three sync
/// periods: three minutes at `sync_every: 1m`) has its signals registered but no shutdown
/// listening yet: SIGTERM should stop it at once, not once the claim has expired (it then
/// prints its address, serves, and only then drains).
#[test]
#[expect(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "how long another process takes to exit after a signal: a wall-clock bound"
)]
fn sigterm_while_waiting_out_a_replica_claim_stops_at_once() {
    let (runtime, redis) = redis("gw-claim-wait");
    // A gateway with the default `sync_every` (1 s) claimed 5 and was killed: its claim
    // lasts 3 s more, which the next one waits out.
    let claimed = claim(&runtime, &redis.url(), 5, 1, Duration::from_secs(3));
    assert!(claimed.granted);
    let dir = TempDir::new("gw-claim-wait");
    let config = replica_config(&dir, &redis.url(), 5);
    let mut child = Running(
        gateway(&config, "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let signalled = std::time::Instant::now();
    signal(&child.0, "-TERM");
    let code = exit_code(&mut child);
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "exit {code:?} {took:?} after SIGTERM"
    );
}
