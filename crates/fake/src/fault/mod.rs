//! Faults: typed misbehaviour, each active on a schedule.
//!
//! A fault is a kind (what goes wrong) and an activation (when). Written in profiles, in
//! scenario timelines and in `POST /_fake/faults` bodies as one flat map:
//!
//! ```yaml
//! - { kind: http, status: 503, at: 10m, for: 5m }           # an outage
//! - { kind: http, status: 429, retry_after: 7s, rate: 0.2 } # 20 % rate-limited
//! - { kind: http, status: 500, first: 1 }                   # a 500 once, then healthy
//! - { kind: http, status: 529, every: 60s, for: 20s }       # flapping: 20 s down a minute
//! - { kind: slow_down, factor: 4, at: 2m, for: 3m }         # a brown-out
//! - { kind: stream_cut, after_tokens: 20 }
//! ```
//!
//! Kinds: `http` (any status, optional `retry_after`), `reset` (connection closed before any
//! byte), `hang` (accepted, never answered), `slow_down` (`factor` on every delay),
//! `slow_first_token` (`extra` delay), `stream_cut` (after N tokens, no terminating event),
//! `stream_stall` (silent for `stall` after N tokens, then closed), `malformed_chunk` (after N
//! tokens), `missing_done` (a stream ends without its terminating event), `malformed_json`
//! (a 200 whose body is not JSON), `context_length`, `content_filter`, and
//! `rate_limit_squeeze` (limits lowered to `requests_per_minute`/`tokens_per_minute`). A
//! parameter the kind does not read is refused ([`FaultKindName::reads`]): ignored, the fault
//! would not be the one written.
//!
//! Activation: `at` (default 0: from the start) and `for` (default: forever); `every` makes it
//! periodic (active the first `for` of each period — flapping); `rate` fires it on that share
//! of matching requests; `first` on only the first N requests it matches.

use serde::{Deserialize, Serialize};
use switchyard_core::rng::{Rng, chance};
use switchyard_core::time::{Duration, Instant};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// A name for reports and expectations (`primary-outage`): its window becomes the phases
    /// `before:NAME`, `during:NAME` and `after:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What goes wrong: the kinds, with the fields each reads, are in docs/SCENARIOS.md ("The
    /// fault kinds"); a field the kind does not read is refused.
    pub kind: FaultKindName,
    /// `http`: the status to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `http` (429, 503, 529): the Retry-After to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Duration>,
    /// `slow_down`: the factor on every delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// `slow_first_token`: the delay added to the first token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Duration>,
    /// Stream faults: tokens sent before the fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_tokens: Option<u32>,
    /// `stream_stall`: how long the stream stays silent before it is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<Duration>,
    /// `rate_limit_squeeze`: the lowered request limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    /// `rate_limit_squeeze`: the lowered token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    /// When it starts (from the start of the run, or of the injection for runtime faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Duration>,
    /// How long it lasts (default: forever); with `every`, how long in each period.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Period of a flapping fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
    /// Share of matching requests it fires on (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Fire on only the first N matching requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKindName {
    /// Answers `status` (any HTTP status, 400 to 599) with the vendor's error body, and a
    /// `Retry-After` of `retry_after` when set.
    Http,
    /// Closes the connection before sending any byte.
    Reset,
    /// Accepts the request and never answers.
    Hang,
    /// Multiplies every delay (first token, each token) by `factor`: a brown-out.
    SlowDown,
    /// Adds `extra` to the time to first token.
    SlowFirstToken,
    /// A stream stops after `after_tokens` tokens without its terminating event; the
    /// connection closes.
    StreamCut,
    /// A stream goes silent after `after_tokens` tokens for `stall`, then closes.
    StreamStall,
    /// A stream sends an event that is not valid JSON after `after_tokens` tokens.
    MalformedChunk,
    /// A stream ends after its last token without its terminating event.
    MissingDone,
    /// A 200 whose body is not JSON.
    MalformedJson,
    /// The vendor's context-length error (400), whatever the prompt's size.
    ContextLength,
    /// The vendor's content-filter refusal.
    ContentFilter,
    /// Lowers the provider's rate limits to `requests_per_minute` and `tokens_per_minute`;
    /// requests over them get the vendor's 429.
    RateLimitSqueeze,
}

/// What goes wrong, validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultKind {
    Http {
        status: u16,
        retry_after: Option<Duration>,
    },
    Reset,
    Hang,
    SlowDown {
        factor: f64,
    },
    SlowFirstToken {
        extra: Duration,
    },
    StreamCut {
        after_tokens: u32,
    },
    StreamStall {
        after_tokens: u32,
        stall: Duration,
    },
    MalformedChunk {
        after_tokens: u32,
    },
    MissingDone,
    MalformedJson,
    ContextLength,
    ContentFilter,
    RateLimitSqueeze {
        requests_per_minute: Option<u64>,
        tokens_per_minute: Option<u64>,
    },
}

impl FaultKindName {
    /// The parameters the kind reads, besides when it is active (`at`, `for`, `every`,
    /// `rate`, `first`): any other is refused at validation. In docs/SCENARIOS.md's table of
    /// the fault kinds.
    pub const fn reads(self) -> &'static [&'static str] {
        match self {
            FaultKindName::Http => &["status", "retry_after"],
            FaultKindName::SlowDown => &["factor"],
            FaultKindName::SlowFirstToken => &["extra"],
            FaultKindName::StreamCut | FaultKindName::MalformedChunk => &["after_tokens"],
            FaultKindName::StreamStall => &["after_tokens", "stall"],
            FaultKindName::RateLimitSqueeze => &["requests_per_minute", "tokens_per_minute"],
            FaultKindName::Reset
            | FaultKindName::Hang
            | FaultKindName::MissingDone
            | FaultKindName::MalformedJson
            | FaultKindName::ContextLength
            | FaultKindName::ContentFilter => &[],
        }
    }
}

impl FaultKind {
    pub const fn label(&self) -> &'static str {
        match self {
            FaultKind::Http { .. } => "http",
            FaultKind::Reset => "reset",
            FaultKind::Hang => "hang",
            FaultKind::SlowDown { .. } => "slow_down",
            FaultKind::SlowFirstToken { .. } => "slow_first_token",
            FaultKind::StreamCut { .. } => "stream_cut",
            FaultKind::StreamStall { .. } => "stream_stall",
            FaultKind::MalformedChunk { .. } => "malformed_chunk",
            FaultKind::MissingDone => "missing_done",
            FaultKind::MalformedJson => "malformed_json",
            FaultKind::ContextLength => "context_length",
            FaultKind::ContentFilter => "content_filter",
            FaultKind::RateLimitSqueeze { .. } => "rate_limit_squeeze",
        }
    }

    /// Faults that decide the whole answer (the first active one wins).
    pub const fn is_terminal(&self) -> bool {
        matches!(
            self,
            FaultKind::Http { .. }
                | FaultKind::Reset
                | FaultKind::Hang
                | FaultKind::MalformedJson
                | FaultKind::ContextLength
                | FaultKind::ContentFilter
        )
    }
}

/// When a fault is active.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activation {
    pub start: Instant,
    pub duration: Option<Duration>,
    pub every: Option<Duration>,
    pub rate: f64,
    pub first: Option<u64>,
}

impl Activation {
    /// Is the fault's window open at `now`?
    pub fn in_window(&self, now: Instant) -> bool {
        if now < self.start {
            return false;
        }
        let elapsed = now.saturating_since(self.start);
        match (self.every, self.duration) {
            (Some(period), Some(on)) if !period.is_zero() => {
                Duration::from_nanos(elapsed.as_nanos() % period.as_nanos()) < on
            }
            (_, Some(on)) => elapsed < on,
            (_, None) => true,
        }
    }
}

/// A validated fault with its own count of requests it matched.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    pub activation: Activation,
    pub matched: u64,
    pub fired: u64,
    pub config: FaultConfig,
}

impl Fault {
    /// Whether the fault fires for a request arriving at `now`. Draws from `rng` only when a
    /// `rate` below 1 needs it, so adding a fault without a rate does not shift other draws.
    pub fn fires<R: Rng + ?Sized>(&mut self, now: Instant, rng: &mut R) -> bool {
        if !self.activation.in_window(now) {
            return false;
        }
        self.matched += 1;
        if self.activation.first.is_some_and(|n| self.matched > n) {
            return false;
        }
        let fires = chance(rng, self.activation.rate);
        self.fired += u64::from(fires);
        fires
    }

    /// Whether the fault can no longer fire at `now` or later: its `first` N requests are
    /// used up, or its only window (`for` without a period) has closed.
    pub fn spent(&self, now: Instant) -> bool {
        let a = &self.activation;
        let used = a.first.is_some_and(|n| self.matched >= n);
        let once = a.every.is_none_or(|p| p.is_zero());
        let closed = once
            && a.duration
                .is_some_and(|on| now >= a.start && now.saturating_since(a.start) >= on);
        used || closed
    }

    /// Whether a request arriving at `now` may make it fire: its window is open and it is not
    /// [`spent`](Self::spent).
    pub fn active(&self, now: Instant) -> bool {
        self.activation.in_window(now) && !self.spent(now)
    }
}

/// Why a fault does not validate, and the field it is about when it is one field's (so
/// that a scenario or profile error points at it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FaultError {
    /// The field as written (`status`, `for`), `None` when the fault as a whole is wrong
    /// (a field it needs is missing).
    pub field: Option<&'static str>,
    pub message: String,
}

impl FaultError {
    fn of(field: &'static str, message: impl Into<String>) -> Self {
        FaultError {
            field: Some(field),
            message: message.into(),
        }
    }

    fn whole(message: impl Into<String>) -> Self {
        FaultError {
            field: None,
            message: message.into(),
        }
    }

    /// The path of the field at fault for a fault at `fault` (`providers[0].faults[1]`).
    pub fn path(&self, fault: &str) -> String {
        match self.field {
            Some(f) => format!("{fault}.{f}"),
            None => fault.to_owned(),
        }
    }
}

impl From<FaultError> for String {
    fn from(e: FaultError) -> String {
        e.message
    }
}

impl FaultConfig {
    /// Validates, with `origin` as the start of the run's clock for `at`.
    pub fn resolve(&self, origin: Instant) -> Result<Fault, FaultError> {
        let kind = self.kind()?;
        self.check_unread(&kind)?;
        let rate = self.rate.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&rate) {
            return Err(FaultError::of(
                "rate",
                format!("rate must be between 0 and 1, not {rate}"),
            ));
        }
        if self.duration.is_some_and(Duration::is_zero) {
            return Err(FaultError::of("for", "`for` must be longer than zero"));
        }
        if let Some(every) = self.every
            && (every.is_zero() || self.duration.is_none_or(|d| d >= every))
        {
            return Err(FaultError::of(
                "every",
                "`every` needs a `for` shorter than the period",
            ));
        }
        Ok(Fault {
            kind,
            activation: Activation {
                start: origin + self.at.unwrap_or(Duration::ZERO),
                duration: self.duration,
                every: self.every,
                rate,
                first: self.first,
            },
            matched: 0,
            fired: 0,
            config: self.clone(),
        })
    }

    /// A parameter the kind does not read, given anyway: it would be ignored, so the fault
    /// would not be the one written.
    fn check_unread(&self, kind: &FaultKind) -> Result<(), FaultError> {
        let given = [
            ("status", self.status.is_some()),
            ("retry_after", self.retry_after.is_some()),
            ("factor", self.factor.is_some()),
            ("extra", self.extra.is_some()),
            ("after_tokens", self.after_tokens.is_some()),
            ("stall", self.stall.is_some()),
            ("requests_per_minute", self.requests_per_minute.is_some()),
            ("tokens_per_minute", self.tokens_per_minute.is_some()),
        ];
        let reads = self.kind.reads();
        let Some((field, _)) = given
            .into_iter()
            .find(|(field, given)| *given && !reads.contains(field))
        else {
            return Ok(());
        };
        let takes = if reads.is_empty() {
            "no field of its own".to_owned()
        } else {
            let fields: Vec<String> = reads.iter().map(|f| format!("`{f}`")).collect();
            fields.join(", ")
        };
        Err(FaultError::of(
            field,
            format!(
                "kind `{}` does not read `{field}`; it takes {takes} (and when: `at`, `for`, \
                 `every`, `rate`, `first`)",
                kind.label()
            ),
        ))
    }

    /// The kind, with the fields it needs.
    fn kind(&self) -> Result<FaultKind, FaultError> {
        let need = |v: Option<u32>, what: &str| {
            v.ok_or_else(|| FaultError::whole(format!("`{what}` is required for this kind")))
        };
        let required = |what: &str, kind: &str| {
            FaultError::whole(format!("`{what}` is required for kind `{kind}`"))
        };
        Ok(match self.kind {
            FaultKindName::Http => {
                let status = self.status.ok_or_else(|| required("status", "http"))?;
                if !(400..=599).contains(&status) {
                    return Err(FaultError::of(
                        "status",
                        format!("status {status} is not an error status (400-599)"),
                    ));
                }
                FaultKind::Http {
                    status,
                    retry_after: self.retry_after,
                }
            }
            FaultKindName::Reset => FaultKind::Reset,
            FaultKindName::Hang => FaultKind::Hang,
            FaultKindName::SlowDown => {
                let factor = self.factor.ok_or_else(|| required("factor", "slow_down"))?;
                if !(factor.is_finite() && factor > 0.0) {
                    return Err(FaultError::of(
                        "factor",
                        format!("factor must be more than zero, not {factor}"),
                    ));
                }
                FaultKind::SlowDown { factor }
            }
            FaultKindName::SlowFirstToken => FaultKind::SlowFirstToken {
                extra: self
                    .extra
                    .ok_or_else(|| required("extra", "slow_first_token"))?,
            },
            FaultKindName::StreamCut => FaultKind::StreamCut {
                after_tokens: need(self.after_tokens, "after_tokens")?,
            },
            FaultKindName::StreamStall => FaultKind::StreamStall {
                after_tokens: need(self.after_tokens, "after_tokens")?,
                stall: self
                    .stall
                    .ok_or_else(|| required("stall", "stream_stall"))?,
            },
            FaultKindName::MalformedChunk => FaultKind::MalformedChunk {
                after_tokens: need(self.after_tokens, "after_tokens")?,
            },
            FaultKindName::MissingDone => FaultKind::MissingDone,
            FaultKindName::MalformedJson => FaultKind::MalformedJson,
            FaultKindName::ContextLength => FaultKind::ContextLength,
            FaultKindName::ContentFilter => FaultKind::ContentFilter,
            FaultKindName::RateLimitSqueeze => {
                if self.requests_per_minute.is_none() && self.tokens_per_minute.is_none() {
                    return Err(FaultError::whole(
                        "`rate_limit_squeeze` needs requests_per_minute or tokens_per_minute",
                    ));
                }
                for (field, limit) in [
                    ("requests_per_minute", self.requests_per_minute),
                    ("tokens_per_minute", self.tokens_per_minute),
                ] {
                    if limit == Some(0) {
                        return Err(FaultError::of(field, "squeezed limits must be at least 1"));
                    }
                }
                FaultKind::RateLimitSqueeze {
                    requests_per_minute: self.requests_per_minute,
                    tokens_per_minute: self.tokens_per_minute,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::rng::SeededRng;

    fn fault(yaml: &str) -> Result<Fault, FaultError> {
        let config: FaultConfig =
            serde_json::from_str(yaml).map_err(|e| FaultError::whole(e.to_string()))?;
        config.resolve(Instant::ZERO)
    }

    fn secs(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn windows_periods_rates_and_first_n() {
        let mut rng = SeededRng::new(1);
        let mut window = fault(r#"{"kind":"http","status":503,"at":"10s","for":"5s"}"#).unwrap();
        assert!(!window.fires(secs(9), &mut rng));
        assert!(window.fires(secs(10), &mut rng) && window.fires(secs(14), &mut rng));
        assert!(!window.fires(secs(15), &mut rng));
        let mut flap = fault(r#"{"kind":"http","status":529,"every":"60s","for":"20s"}"#).unwrap();
        assert!(
            flap.fires(secs(5), &mut rng)
                && !flap.fires(secs(30), &mut rng)
                && flap.fires(secs(65), &mut rng)
        );
        let mut once = fault(r#"{"kind":"http","status":500,"first":1}"#).unwrap();
        assert!(once.active(secs(0)) && !once.spent(secs(0)));
        assert!(once.fires(secs(0), &mut rng));
        // Used up: listed as spent, no longer active.
        assert!(once.spent(secs(0)) && !once.active(secs(0)));
        assert!(!once.fires(secs(0), &mut rng));
        // A one-off window is spent once it closed; a periodic one never is.
        assert!(!window.spent(secs(14)) && window.spent(secs(15)));
        assert!(!flap.spent(secs(30)) && !flap.active(secs(30)) && flap.active(secs(65)));
        let mut some = fault(r#"{"kind":"reset","rate":0.25}"#).unwrap();
        let fired = (0..10_000)
            .filter(|_| some.fires(secs(0), &mut rng))
            .count();
        assert!((2_300..2_700).contains(&fired), "{fired}");
    }

    /// A field the kind does not read would be ignored: refused, naming the field and what
    /// the kind takes; the fields each kind reads are accepted.
    #[test]
    fn fields_the_kind_does_not_read_are_refused() {
        let cases = [
            (
                r#"{"kind":"slow_down","factor":2,"status":503}"#,
                "status",
                "`factor`",
            ),
            (
                r#"{"kind":"reset","factor":2}"#,
                "factor",
                "no field of its own",
            ),
            (
                r#"{"kind":"http","status":503,"after_tokens":3}"#,
                "after_tokens",
                "`retry_after`",
            ),
            (
                r#"{"kind":"stream_cut","after_tokens":3,"stall":"1s"}"#,
                "stall",
                "`after_tokens`",
            ),
            (
                r#"{"kind":"hang","retry_after":"1s"}"#,
                "retry_after",
                "no field of its own",
            ),
            (
                r#"{"kind":"slow_first_token","extra":"1s","requests_per_minute":5}"#,
                "requests_per_minute",
                "`extra`",
            ),
            (
                r#"{"kind":"rate_limit_squeeze","tokens_per_minute":5,"extra":"1s"}"#,
                "extra",
                "`tokens_per_minute`",
            ),
        ];
        for (json, field, takes) in cases {
            let e = fault(json).unwrap_err();
            assert_eq!(e.field, Some(field), "{json}: {e}");
            assert!(e.message.contains(&format!("`{field}`")), "{json}: {e}");
            assert!(e.message.contains(takes), "{json}: {e}");
        }
        for json in [
            r#"{"kind":"http","status":429,"retry_after":"7s","rate":0.5,"at":"1s","for":"2s"}"#,
            r#"{"kind":"stream_stall","after_tokens":3,"stall":"1s","first":2}"#,
            r#"{"kind":"malformed_chunk","after_tokens":3}"#,
            r#"{"kind":"rate_limit_squeeze","requests_per_minute":5,"tokens_per_minute":9}"#,
        ] {
            if let Err(e) = fault(json) {
                panic!("{json}: {e}");
            }
        }
    }

    #[test]
    fn bad_faults_say_why() {
        assert!(
            fault(r#"{"kind":"http"}"#)
                .unwrap_err()
                .message
                .contains("status")
        );
        assert!(
            fault(r#"{"kind":"http","status":200}"#)
                .unwrap_err()
                .message
                .contains("not an error")
        );
        assert!(
            fault(r#"{"kind":"slow_down","factor":0}"#)
                .unwrap_err()
                .message
                .contains("factor")
        );
        assert!(
            fault(r#"{"kind":"stream_cut"}"#)
                .unwrap_err()
                .message
                .contains("after_tokens")
        );
        assert!(
            fault(r#"{"kind":"reset","rate":2}"#)
                .unwrap_err()
                .message
                .contains("rate")
        );
        assert!(
            fault(r#"{"kind":"reset","every":"10s","for":"20s"}"#)
                .unwrap_err()
                .message
                .contains("every")
        );
        assert!(
            fault(r#"{"kind":"rate_limit_squeeze"}"#)
                .unwrap_err()
                .message
                .contains("needs")
        );
        assert!(
            fault(r#"{"kind":"explode"}"#)
                .unwrap_err()
                .message
                .contains("unknown variant")
        );
    }
}
