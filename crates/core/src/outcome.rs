//! The outcome taxonomy: one vocabulary for how an attempt ended, whatever the vendor.
//!
//! Dialect codecs map each vendor's statuses, bodies and transport failures onto
//! [`ErrorKind`]; everything downstream (plans, breakers, telemetry, reports) reasons only in
//! these terms. Each kind answers three questions, and the answers are the policy:
//!
//! | kind | retry same target | fail over | counts against health |
//! |---|---|---|---|
//! | `rate_limited` | yes, after its reset | yes | no (parks the target instead) |
//! | `unauthorized`, `forbidden` | no | yes | yes |
//! | `bad_request` | no | no (the request is at fault) | no |
//! | `context_length_exceeded` | no | only to a larger context window | no |
//! | `content_filtered` | no | yes | no |
//! | `overloaded`, `server_error`, `timeout`, `connect_failed`, `malformed_response`, `stream_interrupted` | yes | yes | yes |
//!
//! Outcomes are data, not Rust errors: a failed attempt is a normal, expected event.

use crate::id::TargetId;
use crate::time::{Duration, Instant};

/// How a failed attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The provider refused for its rate or quota (HTTP 429): the target is parked until the
    /// reset rather than marked unhealthy.
    RateLimited,
    /// The credential was rejected (HTTP 401).
    Unauthorized,
    /// The credential may not use this model or endpoint (HTTP 403), or the model does not
    /// exist there (HTTP 404): either way this target cannot serve it, another may.
    Forbidden,
    /// The request itself is wrong (HTTP 400 and kin): no other target would accept it either.
    BadRequest,
    /// The prompt and `max_tokens` do not fit the model's context window.
    ContextLengthExceeded,
    /// The vendor's safety filter refused the prompt or the reply.
    ContentFiltered,
    /// The vendor said it is too busy (HTTP 503, Anthropic's 529).
    Overloaded,
    /// Any other server-side failure (HTTP 5xx).
    ServerError,
    /// No answer, or no first token, within the attempt's timeout (or the vendor's 408 or
    /// 504).
    Timeout,
    /// The connection could not be made (DNS, refused, TLS).
    ConnectFailed,
    /// A reply came but could not be understood (bad JSON, a missing field).
    MalformedResponse,
    /// A stream broke before its end.
    StreamInterrupted,
}

impl ErrorKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::RateLimited,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::BadRequest,
        ErrorKind::ContextLengthExceeded,
        ErrorKind::ContentFiltered,
        ErrorKind::Overloaded,
        ErrorKind::ServerError,
        ErrorKind::Timeout,
        ErrorKind::ConnectFailed,
        ErrorKind::MalformedResponse,
        ErrorKind::StreamInterrupted,
    ];
    /// The number of kinds: the length of per-kind counter arrays.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index into per-kind arrays (the position in [`ErrorKind::ALL`]).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The low-cardinality label used in metrics and reports.
    pub const fn label(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::ContextLengthExceeded => "context_length_exceeded",
            ErrorKind::ContentFiltered => "content_filtered",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ConnectFailed => "connect_failed",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::StreamInterrupted => "stream_interrupted",
        }
    }

    /// The kind whose [`ErrorKind::label`] is `label` (scenario files and override commands
    /// name kinds this way); `None` for an unknown label.
    pub fn from_label(label: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.label() == label)
    }

    /// May the same target be tried again (after a backoff, or its rate-limit reset)?
    pub const fn is_retryable(self) -> bool {
        !matches!(
            self,
            ErrorKind::Unauthorized
                | ErrorKind::Forbidden
                | ErrorKind::BadRequest
                | ErrorKind::ContextLengthExceeded
                | ErrorKind::ContentFiltered
        )
    }

    /// May another target be tried? (`context_length_exceeded` only to a larger window: the
    /// plan enforces that constraint.)
    pub const fn fails_over(self) -> bool {
        !matches!(self, ErrorKind::BadRequest)
    }

    /// Does this outcome say something about the target's health (feed its breaker)?
    pub const fn counts_against_health(self) -> bool {
        !matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::BadRequest
                | ErrorKind::ContextLengthExceeded
                | ErrorKind::ContentFiltered
        )
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered; for a stream, to its end.
    Success,
    /// The attempt failed, in one of the taxonomy's ways.
    Error {
        /// How it failed: this decides retry, failover and health (see the module table).
        kind: ErrorKind,
        /// The provider's Retry-After (or its dialect's equivalent), when it sent one.
        retry_after: Option<Duration>,
    },
    /// The attempt was given up before it ended (a hedge that lost, a caller that went away).
    /// Says nothing about the target's health.
    Cancelled,
}

impl Outcome {
    /// An error of `kind` without a Retry-After.
    pub const fn error(kind: ErrorKind) -> Outcome {
        Outcome::Error {
            kind,
            retry_after: None,
        }
    }
    /// True for [`Outcome::Success`] only (a cancelled attempt is not a success).
    pub const fn is_success(self) -> bool {
        matches!(self, Outcome::Success)
    }
    /// The error's kind; `None` for a success or a cancellation.
    pub const fn error_kind(self) -> Option<ErrorKind> {
        match self {
            Outcome::Error { kind, .. } => Some(kind),
            Outcome::Success | Outcome::Cancelled => None,
        }
    }
    /// The provider's Retry-After; `None` unless the outcome is an error that carried one.
    pub const fn retry_after(self) -> Option<Duration> {
        match self {
            Outcome::Error { retry_after, .. } => retry_after,
            Outcome::Success | Outcome::Cancelled => None,
        }
    }
    /// `success`, `cancelled`, or the error kind's label: the outcome label in metrics and
    /// reports.
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error { kind, .. } => kind.label(),
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// What a driver tells the router about one finished attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptReport {
    /// How the attempt ended.
    pub outcome: Outcome,
    /// From send to the last byte (or to the failure).
    pub latency: Duration,
    /// From send to the first token, when one arrived.
    pub first_token: Option<Duration>,
    /// Input tokens the attempt used (the vendor's count, or the driver's estimate when
    /// `usage_missing`); priced at the target's rate into the request's cost, failed attempts
    /// included.
    pub prompt_tokens: u32,
    /// Of `prompt_tokens`, those the vendor read from its prompt cache (as its usage said):
    /// priced at the target's cached rate.
    pub cached_prompt_tokens: u32,
    /// For a stream that broke, the tokens the caller received: a continuation (a route's
    /// `resume: prefill`) is told their sum as `Continuation::delivered_tokens`.
    pub completion_tokens: u32,
    /// For streaming requests: whether any token already reached the caller. A stream that
    /// broke after that cannot fail over: the caller has seen part of an answer. Only a
    /// route with `resume: prefill` continues it, on a target that accepts a prefill.
    pub delivered_tokens: bool,
    /// The reply carried no usage: the token counts are the driver's estimates.
    pub usage_missing: bool,
    /// The provider is known to have had the prompt, though no usage was read: the answer
    /// broke after its reply's 2xx head came (a whole reply's body too slow, cut or not a
    /// reply; a stream timed out, cut, stalled or malformed before its first token). The core
    /// books such an attempt that reports no tokens the request's estimated prompt,
    /// `usage_missing`, as it books one cancelled on its way. Not set for a timeout before
    /// any answer (the driver cannot tell a slow connect from a slow provider), an error
    /// status (the vendor's 408 or 504 included), a reset, or a failure the provider
    /// classified in its 2xx reply (an in-band error event, a refusal): an error reply,
    /// booked the usage it reported, if any.
    pub prompt_sent: bool,
}

impl AttemptReport {
    /// A report with only an outcome and a latency (no tokens).
    pub const fn new(outcome: Outcome, latency: Duration) -> Self {
        AttemptReport {
            outcome,
            latency,
            first_token: None,
            prompt_tokens: 0,
            cached_prompt_tokens: 0,
            completion_tokens: 0,
            delivered_tokens: false,
            usage_missing: false,
            prompt_sent: false,
        }
    }
}

/// One attempt of a request, as it appears in the request's story.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The target the attempt was sent to.
    pub target: TargetId,
    /// When the router handed the attempt out (the `now` of the call that chose it).
    pub started: Instant,
    /// How it ended; [`Outcome::Cancelled`] until the driver reports it.
    pub outcome: Outcome,
    /// As reported ([`AttemptReport::latency`]); zero until then.
    pub latency: Duration,
    /// Whether this attempt was a hedge sent while another was still in flight.
    pub hedge: bool,
}

/// Why a request ended without a reply from any target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// The last attempt's error, when the plan had nothing left to try.
    Attempt(ErrorKind),
    /// The overall deadline passed.
    DeadlineExceeded,
    /// No target of the route (or its fallbacks) could take the request now: all open,
    /// parked, drained, over a cost cap, or held off by an override.
    NoTargetAvailable,
    /// The retry budget refused a retry, and the last attempt's error stands.
    BudgetExhausted(ErrorKind),
    /// The request named a route that does not exist and no rule matched it.
    UnknownRoute,
    /// The caller went away (disconnected, timed out) before the request finished.
    Abandoned,
    /// No member of the route (or its fallbacks) can take the request whatever its health:
    /// its dialect cannot express it (a feature it asks for has no equivalent there), it
    /// lacks a capability the request needs, or its context window cannot hold it. The
    /// driver holds the field and the reason (`dialect::Unsupported`), or the sizes. Not the
    /// targets' fault: it counts against no target's health, and the client gets a 400.
    Unsupported,
}

impl FailureReason {
    /// The low-cardinality label for metrics and reports. An `Attempt` failure takes its
    /// error kind's label; `BudgetExhausted` is `budget_exhausted` whatever the kind.
    pub const fn label(self) -> &'static str {
        match self {
            FailureReason::Attempt(kind) => kind.label(),
            FailureReason::DeadlineExceeded => "deadline_exceeded",
            FailureReason::NoTargetAvailable => "no_target_available",
            FailureReason::BudgetExhausted(_) => "budget_exhausted",
            FailureReason::UnknownRoute => "unknown_route",
            FailureReason::Abandoned => "abandoned",
            FailureReason::Unsupported => "unsupported",
        }
    }

    /// The reason whose [`FailureReason::label`] is `label` (as the gateway's
    /// `x-switchyard-outcome` header says it); `budget_exhausted` stands on `last_error`, the
    /// kind of the last failed attempt, which its label does not carry (`server_error`
    /// without one, as the router books it). `None` for an unknown label.
    pub fn from_label(label: &str, last_error: Option<ErrorKind>) -> Option<FailureReason> {
        Some(match label {
            "deadline_exceeded" => FailureReason::DeadlineExceeded,
            "no_target_available" => FailureReason::NoTargetAvailable,
            "budget_exhausted" => {
                FailureReason::BudgetExhausted(last_error.unwrap_or(ErrorKind::ServerError))
            }
            "unknown_route" => FailureReason::UnknownRoute,
            "abandoned" => FailureReason::Abandoned,
            "unsupported" => FailureReason::Unsupported,
            other => FailureReason::Attempt(ErrorKind::from_label(other)?),
        })
    }
}

/// The final outcome of a whole request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalOutcome {
    /// Served by this target.
    Served(TargetId),
    /// No target served it, for this reason.
    Failed(FailureReason),
}

impl FinalOutcome {
    /// True when a target served the request.
    pub const fn is_success(self) -> bool {
        matches!(self, FinalOutcome::Served(_))
    }
    /// `success`, or the failure reason's label.
    pub const fn label(self) -> &'static str {
        match self {
            FinalOutcome::Served(_) => "success",
            FinalOutcome::Failed(reason) => reason.label(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason reads back from its label (a budget's with the last error's kind).
    #[test]
    fn failure_reasons_round_trip_through_their_labels() {
        let mut reasons = vec![
            FailureReason::DeadlineExceeded,
            FailureReason::NoTargetAvailable,
            FailureReason::UnknownRoute,
            FailureReason::Abandoned,
            FailureReason::Unsupported,
        ];
        for kind in ErrorKind::ALL {
            reasons.push(FailureReason::Attempt(kind));
            reasons.push(FailureReason::BudgetExhausted(kind));
        }
        for r in reasons {
            let last = match r {
                FailureReason::BudgetExhausted(kind) => Some(kind),
                _ => None,
            };
            assert_eq!(FailureReason::from_label(r.label(), last), Some(r), "{r:?}");
        }
        assert_eq!(
            FailureReason::from_label("budget_exhausted", None),
            Some(FailureReason::BudgetExhausted(ErrorKind::ServerError))
        );
        assert_eq!(FailureReason::from_label("nonsense", None), None);
    }

    #[test]
    fn labels_are_unique_and_round_trip() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(ErrorKind::from_label(kind.label()), Some(kind));
        }
        assert_eq!(ErrorKind::from_label("nope"), None);
    }

    #[test]
    fn taxonomy_matches_the_table() {
        use ErrorKind::*;
        // (kind, retryable, fails over, counts against health)
        let table = [
            (RateLimited, true, true, false),
            (Unauthorized, false, true, true),
            (Forbidden, false, true, true),
            (BadRequest, false, false, false),
            (ContextLengthExceeded, false, true, false),
            (ContentFiltered, false, true, false),
            (Overloaded, true, true, true),
            (ServerError, true, true, true),
            (Timeout, true, true, true),
            (ConnectFailed, true, true, true),
            (MalformedResponse, true, true, true),
            (StreamInterrupted, true, true, true),
        ];
        assert_eq!(table.len(), ErrorKind::COUNT);
        for (kind, retry, over, health) in table {
            assert_eq!(kind.is_retryable(), retry, "{kind:?} retryable");
            assert_eq!(kind.fails_over(), over, "{kind:?} fails over");
            assert_eq!(kind.counts_against_health(), health, "{kind:?} health");
        }
    }

    #[test]
    fn outcome_labels() {
        assert_eq!(Outcome::Success.label(), "success");
        assert_eq!(Outcome::error(ErrorKind::Timeout).label(), "timeout");
        assert_eq!(
            FinalOutcome::Failed(FailureReason::NoTargetAvailable).label(),
            "no_target_available"
        );
        assert!(FinalOutcome::Served(TargetId::new(0)).is_success());
        assert!(!Outcome::Cancelled.is_success());
        assert_eq!(Outcome::Cancelled.label(), "cancelled");
        assert_eq!(Outcome::Cancelled.error_kind(), None);
        let limited = Outcome::Error {
            kind: ErrorKind::RateLimited,
            retry_after: Some(Duration::from_millis(5)),
        };
        assert_eq!(limited.retry_after(), Some(Duration::from_millis(5)));
        assert_eq!(Outcome::Success.retry_after(), None);
        assert_eq!(
            FailureReason::BudgetExhausted(ErrorKind::Timeout).label(),
            "budget_exhausted"
        );
        assert_eq!(
            FinalOutcome::Failed(FailureReason::Attempt(ErrorKind::Overloaded)).label(),
            "overloaded"
        );
    }
}
