//! Rate-limit awareness for one target: parking and client-side buckets.
//!
//! A 429 does not mean the target is unhealthy, only that it is full: the target is *parked*
//! until its limit resets (the Retry-After, or a default) and the breaker never hears of it.
//!
//! Optional token buckets (requests per minute, tokens per minute) let traffic spill to other
//! targets *before* the provider starts refusing. Their capacity comes from config or is
//! learned from the dialect's rate-limit headers (`x-ratelimit-remaining-requests` and
//! friends), which also set a learned bucket's level (the provider knows best what is left)
//! and can lower a configured one's (never raise it: the configured rate is a ceiling).

use crate::time::{Duration, Instant};

/// A continuous-refill bucket holding up to `capacity` units, refilled over one minute
/// (`capacity / 60` a second). Its level may go below zero when a caller takes more than is
/// left; it then refills from there. Time never runs backwards for it: an earlier `now`
/// refills nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBucket {
    capacity: f64,
    level: f64,
    stamp: Instant,
}

const MINUTE_NANOS: f64 = 60e9;

impl TokenBucket {
    /// A full bucket of `capacity` units a minute.
    pub fn per_minute(capacity: u64) -> Self {
        TokenBucket {
            capacity: capacity as f64,
            level: capacity as f64,
            stamp: Instant::ZERO,
        }
    }

    /// A copy of the bucket as it stands at `now` (refilled to then), this one unchanged.
    fn refilled(&self, now: Instant) -> Self {
        let mut b = self.clone();
        b.refill(now);
        b
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_since(self.stamp).as_nanos() as f64;
        self.level = (self.level + self.capacity * elapsed / MINUTE_NANOS).min(self.capacity);
        self.stamp = self.stamp.max(now);
    }

    /// Whether `units` fit at `now` (after refilling); more units than the whole capacity
    /// fit in a full bucket.
    pub fn has_room(&mut self, now: Instant, units: u64) -> bool {
        self.refill(now);
        // A request bigger than the whole bucket is let through when the bucket is full,
        // or it could never be sent at all.
        self.level >= (units as f64).min(self.capacity)
    }

    /// Spends `units` at `now` (after refilling), whether or not they fit.
    pub fn take(&mut self, now: Instant, units: u64) {
        self.refill(now);
        self.level -= units as f64;
    }

    /// The provider said how much is left.
    pub fn set_level(&mut self, now: Instant, remaining: u64) {
        self.refill(now);
        self.level = (remaining as f64).min(self.capacity);
    }

    /// A configured bucket (the operator's ceiling) after a reply's counts, refilled to
    /// `now`: lowered, never raised, to what the provider has left (`remaining`, at most its
    /// limit) less what its limit has over this bucket's (so others' use of the key counts
    /// here too), not below zero. An overdraft stays. A provider's count is no reason to
    /// send more than the configured rate: its own bucket refills, often faster than this one.
    pub fn follow(&mut self, now: Instant, provider_limit: Option<u64>, remaining: u64) {
        self.refill(now);
        let mut cap = remaining as f64;
        if let Some(limit) = provider_limit.filter(|&l| l > 0) {
            let limit = limit as f64;
            cap = cap.min(limit) - (limit - self.capacity).max(0.0);
        }
        self.level = self.level.min(cap.max(0.0));
    }

    /// Units left as of the last call; negative after an overdraft.
    pub fn level(&self) -> f64 {
        self.level
    }

    /// Units a minute, and the most the bucket holds.
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// How long until `units` fit (zero if they fit now, or if the capacity is zero). Call
    /// after `has_room`, which refills.
    pub fn wait_for(&self, units: u64) -> Duration {
        let missing = (units as f64).min(self.capacity) - self.level;
        if missing <= 0.0 || self.capacity <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing * 60.0 / self.capacity)
        }
    }

    /// How long until the bucket is full again.
    pub fn time_to_full(&self) -> Duration {
        self.wait_for(self.capacity as u64)
    }
}

/// The longest a rate-limit reset header can park a target: one day (the dialects' header
/// parsers saturate there too; this holds for a snapshot built any other way).
pub const MAX_RESET: Duration = Duration::from_secs(86_400);

/// Rate-limit state a dialect read from one reply's headers. Every field is optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitSnapshot {
    /// Requests allowed per window (the vendor's window; taken as a minute).
    pub limit_requests: Option<u64>,
    /// Requests left in the current window.
    pub remaining_requests: Option<u64>,
    /// Time until the request limit resets.
    pub reset_requests: Option<Duration>,
    /// Tokens allowed per window.
    pub limit_tokens: Option<u64>,
    /// Tokens left in the current window.
    pub remaining_tokens: Option<u64>,
    /// Time until the token limit resets.
    pub reset_tokens: Option<Duration>,
}

/// A target's validated rate-limit settings (its `limits:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitParams {
    /// A client-side request bucket of this many a minute; `None`: none, unless learned.
    pub requests_per_minute: Option<u64>,
    /// A client-side token bucket (estimated prompt tokens plus `max_tokens`, or the target's
    /// `default_max_tokens` for a request without one) of this many a minute; `None`: none,
    /// unless learned.
    pub tokens_per_minute: Option<u64>,
    /// Learn limits from rate-limit headers: a bucket for a limit not configured, set to what
    /// a reply says is left; a configured bucket only lowered by it ([`TokenBucket::follow`]:
    /// the configured rate is a ceiling).
    pub learn: bool,
    /// How long a 429 without Retry-After parks the target.
    pub default_park: Duration,
}

impl Default for LimitParams {
    fn default() -> Self {
        LimitParams {
            requests_per_minute: None,
            tokens_per_minute: None,
            learn: true,
            default_park: Duration::from_secs(1),
        }
    }
}

/// A target's client-side buckets as they stand ([`Limits::levels`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BucketLevels {
    /// The request bucket (one unit a request).
    pub requests: Option<Level>,
    /// The token bucket (what each attempt reserves).
    pub tokens: Option<Level>,
}

/// One bucket's level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// Units left; below zero after an overdraft (a request bigger than the whole bucket,
    /// let through when it was full; one a pinned or frozen route sent without looking).
    pub left: f64,
    /// Units a minute (configured, or learned from the provider's headers): the most it holds.
    pub per_minute: f64,
}

/// One target's rate-limit state: when it is parked until, and its buckets.
#[derive(Clone, Debug)]
pub struct Limits {
    params: LimitParams,
    parked_until: Instant,
    requests: Option<TokenBucket>,
    tokens: Option<TokenBucket>,
}

impl Limits {
    /// Not parked; full buckets for the configured limits, none for the others.
    pub fn new(params: LimitParams) -> Self {
        Limits {
            parked_until: Instant::ZERO,
            requests: params.requests_per_minute.map(TokenBucket::per_minute),
            tokens: params.tokens_per_minute.map(TokenBucket::per_minute),
            params,
        }
    }

    /// Whether the target is parked at `now` (the end is exclusive).
    pub fn is_parked(&self, now: Instant) -> bool {
        now < self.parked_until
    }

    /// When the current or last parking ends; `Instant::ZERO` when never parked.
    pub fn parked_until(&self) -> Instant {
        self.parked_until
    }

    /// Parks the target after a 429, for `retry_after` or else the params' `default_park`;
    /// a parking never ends earlier than one already in force. Returns true when it was not
    /// parked before.
    pub fn park(&mut self, now: Instant, retry_after: Option<Duration>) -> bool {
        let was_parked = self.is_parked(now);
        let until = now + retry_after.unwrap_or(self.params.default_park);
        self.parked_until = self.parked_until.max(until);
        !was_parked
    }

    /// Ends any parking now (an operator's restore).
    pub fn unpark(&mut self) {
        self.parked_until = Instant::ZERO;
    }

    /// Would a request of `tokens` fit in the buckets now?
    pub fn has_room(&mut self, now: Instant, tokens: u64) -> bool {
        self.requests.as_mut().is_none_or(|b| b.has_room(now, 1))
            && self.tokens.as_mut().is_none_or(|b| b.has_room(now, tokens))
    }

    /// Spends one request and `tokens` from the buckets.
    pub fn take(&mut self, now: Instant, tokens: u64) {
        if let Some(b) = self.requests.as_mut() {
            b.take(now, 1);
        }
        if let Some(b) = self.tokens.as_mut() {
            b.take(now, tokens);
        }
    }

    /// How long from `now` until an attempt reserving `tokens` fits both buckets as they
    /// stand (zero when it fits now, or there is no bucket): when a request its buckets
    /// turned away can be tried again. Parking is [`Limits::parked_until`]'s.
    pub fn room_in(&self, now: Instant, tokens: u64) -> Duration {
        let wait = |bucket: &Option<TokenBucket>, units: u64| {
            bucket
                .as_ref()
                .map_or(Duration::ZERO, |b| b.refilled(now).wait_for(units))
        };
        wait(&self.requests, 1).max(wait(&self.tokens, tokens))
    }

    /// Each bucket as it stands at `now` (refilled to then, nothing changed): `None` for a
    /// target without that bucket, configured or learned. What an operator's view shows.
    pub fn levels(&self, now: Instant) -> BucketLevels {
        let level = |bucket: &Option<TokenBucket>| {
            bucket.as_ref().map(|b| {
                let b = b.refilled(now);
                Level {
                    left: b.level(),
                    per_minute: b.capacity(),
                }
            })
        };
        BucketLevels {
            requests: level(&self.requests),
            tokens: level(&self.tokens),
        }
    }

    /// Folds in what the provider's headers said. Exhausted limits park the target until
    /// their reset, at most [`MAX_RESET`] away. Returns true when that parked a target that
    /// was not parked.
    ///
    /// The snapshot comes from an upstream: any value must leave the limits usable. A limit
    /// of zero is ignored (no bucket could ever refill), remaining counts above the limit
    /// are clamped to it, and resets are capped.
    pub fn observe(&mut self, now: Instant, snap: &LimitSnapshot) -> bool {
        if self.params.learn {
            learn(
                &mut self.requests,
                self.params.requests_per_minute.is_some(),
                now,
                snap.limit_requests,
                snap.remaining_requests,
            );
            learn(
                &mut self.tokens,
                self.params.tokens_per_minute.is_some(),
                now,
                snap.limit_tokens,
                snap.remaining_tokens,
            );
        }
        let exhausted = |remaining: Option<u64>, reset: Option<Duration>| match (remaining, reset) {
            (Some(0), Some(reset)) => Some(reset.min(MAX_RESET)),
            _ => None,
        };
        let reset = exhausted(snap.remaining_requests, snap.reset_requests)
            .into_iter()
            .chain(exhausted(snap.remaining_tokens, snap.reset_tokens))
            .max();
        reset.is_some_and(|reset| self.park(now, Some(reset)))
    }
}

/// Folds a reply's limit and remaining count into one bucket. A `configured` bucket is the
/// operator's ceiling, only ever lowered by the provider's count ([`TokenBucket::follow`]).
/// A learned bucket is the provider's view, set to its count.
fn learn(
    bucket: &mut Option<TokenBucket>,
    configured: bool,
    now: Instant,
    limit: Option<u64>,
    remaining: Option<u64>,
) {
    if bucket.is_none() {
        *bucket = limit.filter(|&l| l > 0).map(TokenBucket::per_minute);
    }
    if let (Some(b), Some(remaining)) = (bucket.as_mut(), remaining) {
        if configured {
            b.follow(now, limit, remaining);
        } else {
            b.set_level(now, remaining);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn a_429_parks_until_retry_after() {
        let mut l = Limits::new(LimitParams::default());
        assert!(l.park(secs(0), Some(Duration::from_secs(7))));
        assert!(l.is_parked(secs(6)));
        assert!(!l.is_parked(secs(7)));
        assert!(!l.park(secs(1), None), "already parked");
        assert!(l.park(secs(8), None), "default park of 1 s");
        assert!(l.is_parked(Instant::ZERO + Duration::from_millis(8_999)));
        l.unpark();
        assert!(!l.is_parked(secs(8)));
    }

    /// What the live driver relies on to skip the core for a reply without rate-limit
    /// headers: observing an empty snapshot changes no state, whatever the state.
    #[test]
    fn an_empty_snapshot_changes_nothing() {
        let learned = LimitSnapshot {
            limit_requests: Some(10),
            remaining_requests: Some(4),
            limit_tokens: Some(1000),
            remaining_tokens: Some(0),
            reset_tokens: Some(Duration::from_secs(3)),
            ..LimitSnapshot::default()
        };
        for learn in [true, false] {
            for first in [None, Some(learned)] {
                let mut l = Limits::new(LimitParams {
                    requests_per_minute: Some(5),
                    learn,
                    ..LimitParams::default()
                });
                if let Some(snap) = first {
                    l.observe(secs(1), &snap);
                }
                let before = format!("{l:?}");
                assert!(!l.observe(secs(2), &LimitSnapshot::default()));
                assert_eq!(format!("{l:?}"), before, "learn {learn}, first {first:?}");
            }
        }
    }

    #[test]
    fn a_later_park_never_shortens_one_in_force() {
        let mut l = Limits::new(LimitParams::default());
        l.park(secs(0), Some(Duration::from_secs(10)));
        assert!(!l.park(secs(1), Some(Duration::from_secs(2))));
        assert_eq!(l.parked_until(), secs(10));
    }

    #[test]
    fn a_bucket_overdraws_then_refills_from_below_zero() {
        let mut b = TokenBucket::per_minute(60);
        b.take(secs(0), 90);
        assert_eq!((b.level(), b.capacity()), (-30.0, 60.0));
        assert_eq!(b.wait_for(10), Duration::from_secs(40));
        assert!(!b.has_room(secs(39), 10) && b.has_room(secs(40), 10));
        // An earlier `now` refills nothing, and does not move the clock back.
        assert!(!b.has_room(secs(0), 11));
        assert!(!b.has_room(secs(40), 11));
        assert_eq!(b.time_to_full(), Duration::from_secs(50));
        let empty = TokenBucket::per_minute(0);
        assert_eq!(empty.wait_for(5), Duration::ZERO);
    }

    #[test]
    fn buckets_spill_before_the_limit_and_refill() {
        let params = LimitParams {
            requests_per_minute: Some(2),
            ..LimitParams::default()
        };
        let mut l = Limits::new(params);
        assert!(l.has_room(secs(0), 10));
        l.take(secs(0), 10);
        l.take(secs(0), 10);
        assert!(!l.has_room(secs(0), 10));
        assert!(
            l.has_room(secs(30), 10),
            "half a minute refills one request"
        );
    }

    #[test]
    fn token_bucket_lets_an_oversized_request_through_when_full() {
        let params = LimitParams {
            tokens_per_minute: Some(1000),
            ..LimitParams::default()
        };
        let mut l = Limits::new(params);
        assert!(l.has_room(secs(0), 5000));
        l.take(secs(0), 5000);
        assert!(!l.has_room(secs(59), 1));
    }

    #[test]
    fn a_replys_remaining_count_never_refills_a_configured_bucket() {
        for learn in [true, false] {
            let mut l = Limits::new(LimitParams {
                tokens_per_minute: Some(5000),
                learn,
                ..LimitParams::default()
            });
            l.take(secs(0), 4196);
            assert!(!l.has_room(secs(0), 4196));
            // The provider counts nothing used: what is left here stays what is left.
            let snap = LimitSnapshot {
                limit_tokens: Some(400_000),
                remaining_tokens: Some(400_000),
                ..LimitSnapshot::default()
            };
            assert!(!l.observe(secs(0), &snap));
            assert!(!l.has_room(secs(0), 4196), "learn {learn}");
            assert!(l.has_room(secs(0), 804), "learn {learn}");
            // It says less is left than here: lowered, when learning.
            let snap = LimitSnapshot {
                remaining_tokens: Some(100),
                ..LimitSnapshot::default()
            };
            l.observe(secs(0), &snap);
            assert_eq!(l.has_room(secs(0), 804), !learn, "learn {learn}");
        }
    }

    /// A configured limit below the provider's is a ceiling: replies saying the provider has
    /// far more left (its own bucket refilling as fast as its limit allows) do not refill it.
    /// The trap: 60 a minute configured, 5 000 at the provider, and every reply set the
    /// bucket back to full, so requests sent one after another were never held.
    #[test]
    fn a_configured_limit_below_the_providers_stays_a_ceiling_when_learning() {
        for latency_ms in [0, 20, 100, 500] {
            let mut l = Limits::new(LimitParams {
                requests_per_minute: Some(60),
                ..LimitParams::default()
            });
            let mut provider = TokenBucket::per_minute(5000);
            let (mut now, mut sent) = (Instant::ZERO, 0u64);
            // Two minutes of requests one after another, each as soon as there is room.
            while now < secs(120) && sent < 100_000 {
                if l.has_room(now, 0) {
                    l.take(now, 0);
                    provider.take(now, 1);
                    now += Duration::from_millis(latency_ms);
                    provider.refill(now);
                    l.observe(
                        now,
                        &LimitSnapshot {
                            limit_requests: Some(5000),
                            remaining_requests: Some(provider.level() as u64),
                            ..LimitSnapshot::default()
                        },
                    );
                    sent += 1;
                }
                now += Duration::from_millis(10);
            }
            // A full bucket of 60, then one a second: at most 180 in two minutes.
            assert!((170..=181).contains(&sent), "{latency_ms} ms: {sent} sent");
        }
    }

    #[test]
    fn a_providers_count_lowers_a_configured_bucket_to_what_it_leaves_this_one() {
        let level = |l: &Limits| l.levels(secs(0)).requests.map(|b| b.left);
        let sixty = || {
            Limits::new(LimitParams {
                requests_per_minute: Some(60),
                ..LimitParams::default()
            })
        };
        let mut l = sixty();
        let snap = |limit, remaining| LimitSnapshot {
            limit_requests: limit,
            remaining_requests: Some(remaining),
            ..LimitSnapshot::default()
        };
        l.take(secs(0), 0);
        // Without the provider's limit, its remaining count only.
        l.observe(secs(0), &snap(None, 4999));
        assert_eq!(level(&l), Some(59.0));
        l.observe(secs(0), &snap(None, 50));
        assert_eq!(level(&l), Some(50.0));
        // Others on the key used most of the provider's window: 45 of 100 left there, so
        // 45 less the 40 its limit has over this one here.
        l.observe(secs(0), &snap(Some(100), 45));
        assert_eq!(level(&l), Some(5.0));
        // A provider limit below this one takes nothing off; a remaining count above its
        // own limit counts as its limit; a zero limit is no limit.
        let mut l = sixty();
        l.observe(secs(0), &snap(Some(30), 20));
        assert_eq!(level(&l), Some(20.0));
        let mut l = sixty();
        l.observe(secs(0), &snap(Some(30), 500));
        assert_eq!(level(&l), Some(30.0));
        l.observe(secs(0), &snap(Some(0), 25));
        assert_eq!(level(&l), Some(25.0));
        // An overdraft stays one: a count never raises the level, nor clamps it to zero.
        let mut l = Limits::new(LimitParams {
            tokens_per_minute: Some(1000),
            ..LimitParams::default()
        });
        l.take(secs(0), 1500);
        l.observe(
            secs(0),
            &LimitSnapshot {
                limit_tokens: Some(1000),
                remaining_tokens: Some(0),
                ..LimitSnapshot::default()
            },
        );
        assert_eq!(l.levels(secs(0)).tokens.map(|b| b.left), Some(-500.0));
    }

    #[test]
    fn room_in_is_the_wait_of_the_emptier_bucket_as_it_stands_now() {
        assert_eq!(
            Limits::new(LimitParams::default()).room_in(secs(0), u64::MAX),
            Duration::ZERO,
            "no bucket, no wait"
        );
        let mut l = Limits::new(LimitParams {
            requests_per_minute: Some(60),
            tokens_per_minute: Some(6000),
            ..LimitParams::default()
        });
        l.take(secs(0), 6000);
        // Tokens refill 100 a second: 1000 in 10 s, 500 in 5 s, as of any later `now`.
        assert_eq!(l.room_in(secs(0), 1000), Duration::from_secs(10));
        assert_eq!(l.room_in(secs(5), 1000), Duration::from_secs(5));
        assert_eq!(l.room_in(secs(10), 1000), Duration::ZERO);
        // More than the whole bucket needs a full one.
        assert_eq!(l.room_in(secs(0), 9000), Duration::from_secs(60));
        // The request bucket too: 60 taken leave none, one a second comes back.
        for _ in 0..60 {
            l.take(secs(60), 0);
        }
        assert_eq!(l.room_in(secs(60), 0), Duration::from_secs(1));
    }

    #[test]
    fn levels_show_each_bucket_refilled_to_now_without_changing_it() {
        assert_eq!(
            Limits::new(LimitParams::default()).levels(secs(0)),
            BucketLevels::default(),
            "no bucket, no level"
        );
        let mut l = Limits::new(LimitParams {
            tokens_per_minute: Some(6000),
            ..LimitParams::default()
        });
        l.take(secs(0), 7000);
        let tokens = |l: &Limits, at| l.levels(secs(at)).tokens.map(|b| (b.left, b.per_minute));
        // Overdrawn by 1000, then 100 a second back.
        assert_eq!(tokens(&l, 0), Some((-1000.0, 6000.0)));
        assert_eq!(tokens(&l, 30), Some((2000.0, 6000.0)));
        assert_eq!(tokens(&l, 600), Some((6000.0, 6000.0)), "never past full");
        assert_eq!(l.levels(secs(0)).requests, None);
        // A learned bucket shows too.
        l.observe(
            secs(0),
            &LimitSnapshot {
                limit_requests: Some(100),
                remaining_requests: Some(40),
                ..LimitSnapshot::default()
            },
        );
        let requests = l.levels(secs(0)).requests.map(|b| (b.left, b.per_minute));
        assert_eq!(requests, Some((40.0, 100.0)));
    }

    #[test]
    fn hostile_snapshots_leave_the_limits_usable() {
        let mut l = Limits::new(LimitParams::default());
        let forever = LimitSnapshot {
            limit_requests: Some(0),
            remaining_requests: Some(0),
            reset_requests: Some(Duration::MAX),
            limit_tokens: Some(u64::MAX),
            remaining_tokens: Some(u64::MAX),
            reset_tokens: Some(Duration::MAX),
        };
        assert!(l.observe(secs(0), &forever));
        assert_eq!(l.parked_until(), Instant::ZERO + MAX_RESET);
        // A limit of zero taught nothing: once unparked, requests flow.
        let after = secs(86_400);
        assert!(!l.is_parked(after));
        for _ in 0..10 {
            assert!(l.has_room(after, 1_000));
            l.take(after, 1_000);
        }
        // Remaining above the limit is the limit.
        let mut l = Limits::new(LimitParams::default());
        let snap = LimitSnapshot {
            limit_requests: Some(2),
            remaining_requests: Some(u64::MAX),
            ..LimitSnapshot::default()
        };
        assert!(!l.observe(secs(0), &snap));
        l.take(secs(0), 0);
        l.take(secs(0), 0);
        assert!(!l.has_room(secs(0), 0));
    }

    #[test]
    fn headers_teach_limits_and_park_on_exhaustion() {
        let mut l = Limits::new(LimitParams::default());
        let snap = LimitSnapshot {
            limit_requests: Some(100),
            remaining_requests: Some(1),
            reset_requests: Some(Duration::from_millis(600)),
            ..LimitSnapshot::default()
        };
        assert!(!l.observe(secs(0), &snap));
        assert!(l.has_room(secs(0), 0));
        l.take(secs(0), 0);
        assert!(
            !l.has_room(secs(0), 0),
            "learned: one was left and it is spent"
        );
        let empty = LimitSnapshot {
            remaining_requests: Some(0),
            reset_requests: Some(Duration::from_secs(6)),
            ..snap
        };
        assert!(l.observe(secs(1), &empty));
        assert!(l.is_parked(secs(6)) && !l.is_parked(secs(7)));
    }
}
