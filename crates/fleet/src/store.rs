//! [`RedisStore`]: the fleet's shared state in Redis (or Valkey), one atomic Lua script per
//! operation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use crate::StoreError;

mod claim;
use crate::types::{
    Advice, Advised, Advisory, AdvisoryKey, AdvisoryKind, AdvisoryPage, Alive, BucketKey,
    BucketSpec, Cursor, GivenBack, MAX_PAGE, MAX_PAYLOAD, MAX_SUBJECT, Probe, Rule, Taken, UnixMs,
    Until, check_subject, check_time, check_units, member, period_ms,
};
pub use claim::Claimed;

/// How a [`RedisStore`] names its keys and how long it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Every key starts with this. Keep a hash tag in it (`{fleet}`) so that on a Redis
    /// Cluster all of the fleet's keys hash to one slot: the scripts touch several keys.
    pub prefix: String,
    /// The longest any operation may take, connecting included (the fleet's `store_timeout`,
    /// by default half the sync period). Past it the operation fails with
    /// [`StoreError::Timeout`].
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            prefix: "switchyard:{fleet}:".to_string(),
            timeout: Duration::from_millis(500),
        }
    }
}

/// The longest key prefix, in bytes.
pub const MAX_PREFIX: usize = 128;

/// The scripts, each the shared prelude (the store's clock) and one operation.
struct Scripts {
    advise: Script,
    since: Script,
    take: Script,
    give_back: Script,
    try_probe: Script,
    release_probe: Script,
    beat: Script,
    alive: Script,
    claim: Script,
    release: Script,
}

macro_rules! lua {
    ($($file:literal),+) => {
        concat!(include_str!("lua/prelude.lua"), $(include_str!(concat!("lua/", $file))),+)
    };
}

/// The scripts' sources, by operation: for review, and for tests that run them directly.
pub const SCRIPTS: [(&str, &str); 10] = [
    ("advise", lua!("advise.lua")),
    ("advisories_since", lua!("since.lua")),
    ("take", lua!("bucket.lua", "take.lua")),
    ("give_back", lua!("bucket.lua", "give_back.lua")),
    ("try_probe", lua!("try_probe.lua")),
    ("release_probe", lua!("release_probe.lua")),
    ("beat", lua!("beat.lua")),
    ("alive", lua!("alive.lua")),
    ("claim", lua!("claim.lua")),
    ("release", lua!("release.lua")),
];

impl Scripts {
    fn new() -> Scripts {
        let [
            advise,
            since,
            take,
            give_back,
            try_probe,
            release_probe,
            beat,
            alive,
            claim,
            release,
        ] = SCRIPTS.map(|(_, source)| Script::new(source));
        Scripts {
            advise,
            since,
            take,
            give_back,
            try_probe,
            release_probe,
            beat,
            alive,
            claim,
            release,
        }
    }
}

/// The fleet's store in Redis.
///
/// Each operation is one Lua script, run with `EVALSHA` (loaded on first use, again after the
/// server lost it), so it is atomic; the store's clock (`TIME`, read inside the script) decides
/// every expiry, never the caller's. Records expire at their stored `until` (`PEXPIREAT`);
/// reading never touches a TTL.
///
/// The connection is a [`ConnectionManager`]: one multiplexed connection, re-established in
/// the background after it drops. [`RedisStore::connect`] does not wait for the store, so a
/// replica starts while the store is down; every operation fails (typed, within the timeout)
/// until it is back. Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    scripts: Arc<Scripts>,
    prefix: Arc<str>,
    timeout: Duration,
    /// Host and port, or socket path: never the URL (it may hold a password).
    endpoint: Arc<str>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url` (`redis://[:password@]host:port[/db]`, `unix:///path/to/redis.sock`,
    /// `redis+unix:///path`); connects lazily.
    ///
    /// # Errors
    /// [`StoreError::BadUrl`] for a URL that does not parse; [`StoreError::Invalid`] for an
    /// empty or over-long prefix, a zero timeout, or when called outside a tokio runtime (the
    /// connection manager runs on it).
    pub fn connect(url: &str, options: StoreOptions) -> Result<RedisStore, StoreError> {
        const OP: &str = "connect";
        if options.prefix.is_empty() || options.prefix.len() > MAX_PREFIX {
            return Err(StoreError::invalid(OP, "prefix empty or over 128 bytes"));
        }
        if options.timeout.is_zero() {
            return Err(StoreError::invalid(OP, "zero timeout"));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::invalid(OP, "called outside a tokio runtime"));
        }
        let client = redis::Client::open(url).map_err(|_| StoreError::BadUrl)?;
        let endpoint: Arc<str> = client.get_connection_info().addr().to_string().into();
        // Reconnection: a few quick tries, then the next operation starts another round, so a
        // store that returns is found within about one sync period.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(3)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(options.timeout.max(Duration::from_millis(100)));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::from_redis(OP, &e))?;
        Ok(RedisStore {
            conn,
            scripts: Arc::new(Scripts::new()),
            prefix: options.prefix.into(),
            timeout: options.timeout,
            endpoint,
        })
    }

    /// Host and port, or the socket's path (no credentials).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The key prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key a record, index or bucket is stored under (for tests and operators).
    #[must_use]
    pub fn key(&self, what: KeyOf<'_>) -> String {
        let p = &self.prefix;
        match what {
            KeyOf::Advisory(k) => format!("{p}adv:rec:{}", member(k)),
            KeyOf::AdvisoryIndex => format!("{p}adv:index"),
            KeyOf::AdvisoryExpiry => format!("{p}adv:expiry"),
            KeyOf::AdvisoryMeta => format!("{p}adv:meta"),
            KeyOf::Bucket(b) => format!("{p}bucket:{}/{}", b.resource.as_str(), b.subject),
            KeyOf::Probe(target) => format!("{p}probe:{target}"),
            KeyOf::Alive => format!("{p}alive"),
            KeyOf::Replica(n) => format!("{p}replica:{n}"),
        }
    }

    /// Tells the fleet `advice` about `key`. Stored unless a live advisory with the same key
    /// beats it ([`AdvisoryKind::rule`]): for most kinds the latest `until` wins, so an older
    /// advisory never shortens a newer one. The record expires at its `until`.
    ///
    /// # Errors
    /// [`StoreError`]: invalid input, or the store unavailable or failing.
    pub async fn advise(&self, key: &AdvisoryKey, advice: &Advice) -> Result<Advised, StoreError> {
        const OP: &str = "advise";
        check_subject(OP, &key.subject)?;
        check_time(OP, advice.since)?;
        if let Until::At(t) = advice.until {
            check_time(OP, t)?;
        }
        if advice.payload.len() > MAX_PAYLOAD {
            return Err(StoreError::invalid(OP, "payload over 256 bytes"));
        }
        let until = match advice.until {
            Until::At(t) => t.0.to_string(),
            Until::Forever => "inf".to_string(),
        };
        let rule = match key.kind.rule() {
            Rule::LatestUntil => "latest",
            Rule::EarliestSince => "earliest",
        };
        let mut inv = self.scripts.advise.prepare_invoke();
        inv.key(self.key(KeyOf::Advisory(key)))
            .key(self.key(KeyOf::AdvisoryIndex))
            .key(self.key(KeyOf::AdvisoryExpiry))
            .key(self.key(KeyOf::AdvisoryMeta))
            .arg(member(key))
            .arg(until)
            .arg(advice.since.0)
            .arg(advice.payload.as_str())
            .arg(rule);
        let r = self.run(OP, &inv).await?;
        let [accepted, until, since, now] = fixed::<4>(OP, &r)?;
        let accepted = int(OP, accepted)? == 1;
        let until = int(OP, until)?;
        let since = ms(OP, int(OP, since)?)?;
        let stored = match until {
            0 => None,
            -1 => Some((Until::Forever, since)),
            t => Some((Until::At(ms(OP, t)?), since)),
        };
        Ok(Advised {
            accepted,
            stored,
            now: ms(OP, int(OP, now)?)?,
        })
    }

    /// The live advisories changed after `cursor`, oldest change first, at most `max` (1 to
    /// [`MAX_PAGE`]) changes read. Start with `Cursor::default()` (every live advisory); pass
    /// the returned cursor next time. Reading changes no TTL.
    ///
    /// # Errors
    /// [`StoreError`]: invalid input, or the store unavailable, failing or answering nonsense.
    pub async fn advisories_since(
        &self,
        cursor: Cursor,
        max: usize,
    ) -> Result<AdvisoryPage, StoreError> {
        const OP: &str = "advisories_since";
        if !(1..=MAX_PAGE).contains(&max) {
            return Err(StoreError::invalid(OP, "max out of 1..256"));
        }
        let record_prefix = format!("{}adv:rec:", self.prefix);
        let mut inv = self.scripts.since.prepare_invoke();
        inv.key(self.key(KeyOf::AdvisoryIndex))
            .key(self.key(KeyOf::AdvisoryExpiry))
            .key(self.key(KeyOf::AdvisoryMeta))
            .arg(cursor.epoch)
            .arg(cursor.seq)
            .arg(max)
            .arg(record_prefix);
        let r = self.run(OP, &inv).await?;
        let (head, rest) = r
            .split_at_checked(5)
            .ok_or(StoreError::malformed(OP, "short reply"))?;
        if rest.len() % 5 != 0 || rest.len() / 5 > max {
            return Err(StoreError::malformed(OP, "record count"));
        }
        let now = ms(OP, int(OP, &head[0])?)?;
        let epoch = u64::try_from(int(OP, &head[1])?)
            .map_err(|_| StoreError::malformed(OP, "negative epoch"))?;
        let seq = u64::try_from(int(OP, &head[2])?)
            .map_err(|_| StoreError::malformed(OP, "negative seq"))?;
        let more = int(OP, &head[3])? == 1;
        let reset = int(OP, &head[4])? == 1;
        let mut advisories = Vec::with_capacity(rest.len() / 5);
        let mut skipped = 0u32;
        for rec in rest.chunks_exact(5) {
            match record(rec) {
                Some(a) => advisories.push(a),
                None => skipped = skipped.saturating_add(1),
            }
        }
        Ok(AdvisoryPage {
            advisories,
            cursor: Cursor { epoch, seq },
            more,
            reset,
            skipped,
            now,
        })
    }

    /// Takes a lease of at most `units` from the shared bucket `bucket` of size `spec`: granted
    /// at most the whole units it holds. The bucket refills continuously (`capacity` per
    /// `period`), starts full, and never holds more than `capacity`.
    ///
    /// # Errors
    /// [`StoreError`]: invalid input, or the store unavailable or failing.
    pub async fn take(
        &self,
        bucket: &BucketKey,
        spec: BucketSpec,
        units: u64,
    ) -> Result<Taken, StoreError> {
        const OP: &str = "take";
        check_subject(OP, &bucket.subject)?;
        check_units(OP, units)?;
        let period = period_ms(&spec)?;
        let mut inv = self.scripts.take.prepare_invoke();
        inv.key(self.key(KeyOf::Bucket(bucket)))
            .arg(spec.capacity)
            .arg(period)
            .arg(units);
        let r = self.run(OP, &inv).await?;
        let [granted, left, now] = fixed::<3>(OP, &r)?;
        let granted = u64::try_from(int(OP, granted)?)
            .ok()
            .filter(|g| *g <= units)
            .ok_or(StoreError::malformed(OP, "granted out of range"))?;
        Ok(Taken {
            granted,
            left: u64::try_from(int(OP, left)?)
                .map_err(|_| StoreError::malformed(OP, "negative level"))?,
            now: ms(OP, int(OP, now)?)?,
        })
    }

    /// Returns `units` a lease did not use to `bucket`, up to its capacity. A full (absent)
    /// bucket takes nothing.
    ///
    /// # Errors
    /// [`StoreError`]: invalid input, or the store unavailable or failing.
    pub async fn give_back(&self, bucket: &BucketKey, units: u64) -> Result<GivenBack, StoreError> {
        const OP: &str = "give_back";
        check_subject(OP, &bucket.subject)?;
        check_units(OP, units)?;
        let mut inv = self.scripts.give_back.prepare_invoke();
        inv.key(self.key(KeyOf::Bucket(bucket))).arg(units);
        let r = self.run(OP, &inv).await?;
        let [level, now] = fixed::<2>(OP, &r)?;
        let level = match int(OP, level)? {
            -1 => None,
            l => Some(u64::try_from(l).map_err(|_| StoreError::malformed(OP, "negative level"))?),
        };
        Ok(GivenBack {
            level,
            now: ms(OP, int(OP, now)?)?,
        })
    }

    /// Asks for the probe token of `target` for `holder` until `until`. Granted when nobody
    /// holds a live token, or to its holder again (the later `until` kept); one holder at a
    /// time; the token expires at its `until`.
    ///
    /// # Errors
    /// [`StoreError`]: invalid input, or the store unavailable or failing.
    pub async fn try_probe(
        &self,
        target: &str,
        holder: u32,
        until: UnixMs,
    ) -> Result<Probe, StoreError> {
        const OP: &str = "try_probe";
        check_subject(OP, target)?;
        check_time(OP, until)?;
        let mut inv = self.scripts.try_probe.prepare_invoke();
        inv.key(self.key(KeyOf::Probe(target)))
            .arg(holder)
            .arg(until.0);
        let r = self.run(OP, &inv).await?;
        let [granted, who, held_until, now] = fixed::<4>(OP, &r)?;
        let holder = match int(OP, who)? {
            -1 => None,
            h => Some((
                u32::try_from(h).map_err(|_| StoreError::malformed(OP, "holder"))?,
                ms(OP, int(OP, held_until)?)?,
            )),
        };
        Ok(Probe {
            granted: int(OP, granted)? == 1,
            holder,
            now: ms(OP, int(OP, now)?)?,
        })
    }

    /// `holder` gives the probe token of `target` back; `true` if it held a live one.
    ///
    /// # Errors
    /// [`StoreError`]: invalid input, or the store unavailable or failing.
    pub async fn release_probe(&self, target: &str, holder: u32) -> Result<bool, StoreError> {
        const OP: &str = "release_probe";
        check_subject(OP, target)?;
        let mut inv = self.scripts.release_probe.prepare_invoke();
        inv.key(self.key(KeyOf::Probe(target))).arg(holder);
        let r = self.run(OP, &inv).await?;
        let [released, _now] = fixed::<2>(OP, &r)?;
        Ok(int(OP, released)? == 1)
    }

    /// Replica `replica` is alive until `until` (the later `until` of its heartbeats kept);
    /// returns the replicas alive after it.
    ///
    /// # Errors
    /// [`StoreError`]: invalid input, or the store unavailable or failing.
    pub async fn beat(&self, replica: u32, until: UnixMs) -> Result<Alive, StoreError> {
        const OP: &str = "beat";
        check_time(OP, until)?;
        let mut inv = self.scripts.beat.prepare_invoke();
        inv.key(self.key(KeyOf::Alive)).arg(replica).arg(until.0);
        let r = self.run(OP, &inv).await?;
        alive(OP, &r)
    }

    /// Replicas with a live heartbeat. Reads only.
    ///
    /// # Errors
    /// [`StoreError`]: the store unavailable or failing.
    pub async fn alive(&self) -> Result<Alive, StoreError> {
        const OP: &str = "alive";
        let mut inv = self.scripts.alive.prepare_invoke();
        inv.key(self.key(KeyOf::Alive));
        let r = self.run(OP, &inv).await?;
        alive(OP, &r)
    }

    /// Runs one script within the timeout; its reply must be an array.
    async fn run(
        &self,
        op: &'static str,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<Vec<Value>, StoreError> {
        let mut conn = self.conn.clone();
        let timeout = StoreError::Timeout {
            op,
            after: self.timeout,
        };
        match tokio::time::timeout(self.timeout, inv.invoke_async::<Value>(&mut conn)).await {
            Err(_) => Err(timeout),
            Ok(Err(e)) if e.is_timeout() => Err(timeout),
            Ok(Err(e)) => Err(StoreError::from_redis(op, &e)),
            Ok(Ok(Value::Array(items))) => Ok(items),
            Ok(Ok(_)) => Err(StoreError::malformed(op, "not an array")),
        }
    }
}

/// Names one of the store's keys: see [`RedisStore::key`].
#[derive(Clone, Copy, Debug)]
pub enum KeyOf<'a> {
    /// An advisory's record (a hash: until, since, payload, seq), expiring at its `until`.
    Advisory(&'a AdvisoryKey),
    /// The change index: `kind/subject` by the sequence number of its last change.
    AdvisoryIndex,
    /// The expiry index: `kind/subject` by `until`, to drop the index's entries that are over.
    AdvisoryExpiry,
    /// The epoch and the last sequence number.
    AdvisoryMeta,
    /// A shared bucket (a hash: level, at, cap, period), expiring when it would be full.
    Bucket(&'a BucketKey),
    /// A target's probe token (a hash: holder, until), expiring at its `until`.
    Probe(&'a str),
    /// The heartbeats (a sorted set: replica by `until`), expiring with the last one.
    Alive,
    /// A replica number's claim (a hash: token, until), expiring at its `until`.
    Replica(u32),
}

fn fixed<'v, const N: usize>(
    op: &'static str,
    r: &'v [Value],
) -> Result<&'v [Value; N], StoreError> {
    r.try_into()
        .map_err(|_| StoreError::malformed(op, "reply length"))
}

fn int(op: &'static str, v: &Value) -> Result<i64, StoreError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(StoreError::malformed(op, "not an integer")),
        _ => Err(StoreError::malformed(op, "not an integer")),
    }
}

fn ms(op: &'static str, v: i64) -> Result<UnixMs, StoreError> {
    u64::try_from(v)
        .ok()
        .map(UnixMs)
        .filter(|t| *t <= UnixMs::MAX)
        .ok_or(StoreError::malformed(op, "time out of range"))
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// One advisory of a page: `member, until, since, payload, seq`; `None` if unreadable.
fn record(rec: &[Value]) -> Option<Advisory> {
    let (kind, subject) = text(&rec[0])?.split_once('/')?;
    let kind = AdvisoryKind::parse(kind)?;
    if subject.is_empty() || subject.len() > MAX_SUBJECT {
        return None;
    }
    let until = match text(&rec[1])? {
        "inf" => Until::Forever,
        t => Until::At(unix_ms(t)?),
    };
    let since = unix_ms(text(&rec[2])?)?;
    let payload = text(&rec[3])?;
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    Some(Advisory {
        key: AdvisoryKey::new(kind, subject),
        until,
        since,
        payload: payload.to_string(),
    })
}

fn unix_ms(t: &str) -> Option<UnixMs> {
    t.parse().ok().map(UnixMs).filter(|t| *t <= UnixMs::MAX)
}

fn alive(op: &'static str, r: &[Value]) -> Result<Alive, StoreError> {
    let [n, now] = fixed::<2>(op, r)?;
    Ok(Alive {
        replicas: u32::try_from(int(op, n)?).map_err(|_| StoreError::malformed(op, "count"))?,
        now: ms(op, int(op, now)?)?,
    })
}
