//! The metrics an expectation can measure: their names as written, their units, and the
//! scope fields each honours.

use serde::Serialize;

/// What an expectation measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Requests that started in the scope (every request is counted once, whatever happened
    /// to it).
    Requests,
    /// Requests served (a reply, or a stream that finished).
    Succeeded,
    /// Requests that failed, including those their caller abandoned.
    Failed,
    /// Succeeded / requests, from 0 to 1. Not observed on a scope without requests.
    SuccessRate,
    /// Failed / requests, from 0 to 1. Not observed on a scope without requests.
    FailureRate,
    /// Median latency, from the request's start to its last byte, over every request of the
    /// scope, served or failed (one whose caller left counts until it left).
    P50Latency,
    /// 90th percentile latency.
    P90Latency,
    /// 99th percentile latency.
    P99Latency,
    /// 99.9th percentile latency.
    P999Latency,
    /// Median time to first token (first content byte the caller receives).
    P50Ttft,
    /// 99th percentile time to first token.
    P99Ttft,
    /// Median inter-token latency: every gap between two consecutive content chunks of the
    /// served streams (`inter_token_ms` in the results).
    P50InterToken,
    /// 99th percentile inter-token latency.
    P99InterToken,
    /// Median time per output token of the served streams of two tokens or more: (latency −
    /// time to first token) / (output tokens − 1) (`time_per_output_token_ms`).
    P50TimePerOutputToken,
    /// 99th percentile time per output token.
    P99TimePerOutputToken,
    /// Attempts / requests: 1 when nothing was retried, hedged or failed over.
    AttemptsPerRequest,
    /// Spend in US dollars, every attempt priced by the tokens it was billed (with
    /// `provider`: that provider's targets only).
    Cost,
    /// Spend in US dollars on attempts whose answer was not used (failed, cancelled, or a
    /// hedge that lost).
    WastedCost,
    /// Attempts sent to `target` / all attempts in the scope.
    Share,
    /// Requests served by `target` / succeeded requests in the scope.
    ServedShare,
    /// The target's availability over the run, from 0 to 1: 1 − attempts that failed with
    /// an error counted against availability (by default those that count against the
    /// provider's health) / attempts finished. Not observed for a target with no finished
    /// attempt (none sent, or all cancelled).
    Availability,
    /// From a fault's start to the first breaker opening or parking on its provider
    /// (docs/FAILOVER.md).
    TimeToDetect,
    /// From a fault's start until the faulty provider's share of the new requests that can
    /// reach it stays under 5 % for the hold time, never before detection; "never" when it
    /// did not (docs/FAILOVER.md).
    TimeToFailover,
    /// From a fault's end until the provider's share is back to 90 % of its share before the
    /// fault, for the hold time; only after a failover (docs/FAILOVER.md).
    TimeToFailback,
    /// Breakers that opened (on `target`, or on any).
    BreakerOpens,
    /// Requests that failed because the route's retry budget was spent.
    BudgetExhausted,
    /// Latency alerts raised (on `target`, or on any).
    Alerts,
    /// From a fault's start to the first alert on its provider's targets raised before the
    /// fault's end + 1 s; "never" when there was none.
    TimeToAlert,
    /// Share of the target's error budget (1 - sla) spent, as a fraction, not a percentage:
    /// 0.5 is half of it, 1 all of it (above 1: the objective was missed); the Targets table
    /// shows it in percent. Not observed for a target without an `sla` or with no finished
    /// attempt.
    ErrorBudgetSpent,
    /// Requests whose stream broke after its first token and that a continuation completed
    /// (a route's `resume: prefill`).
    Resumed,
    /// Requests whose stream broke after its first token on a route that resumes, and that
    /// no continuation completed.
    ResumeFailed,
    /// A fleet run (`replicas:`): attempts the provider answered with a 429 (over its rate
    /// limit), from every replica.
    ProviderRateLimited,
    /// A fleet run: those 429s / attempts the provider received, from 0 to 1.
    ProviderRateLimitedShare,
    /// A fleet run: from the first replica's detection of a failing target (its breaker
    /// opening) to the last attempt any replica sent it before the first half-open probe.
    FleetStopTime,
    /// A fleet run: half-open probes the target received, from every replica.
    Probes,
    /// A fleet run: the busiest replica's share of the requests, from 0 to 1.
    ReplicaShareMax,
}

pub(super) const METRICS: [(&str, Metric); 36] = [
    ("requests", Metric::Requests),
    ("succeeded", Metric::Succeeded),
    ("failed", Metric::Failed),
    ("success_rate", Metric::SuccessRate),
    ("failure_rate", Metric::FailureRate),
    ("p50_latency", Metric::P50Latency),
    ("p90_latency", Metric::P90Latency),
    ("p99_latency", Metric::P99Latency),
    ("p999_latency", Metric::P999Latency),
    ("p50_ttft", Metric::P50Ttft),
    ("p99_ttft", Metric::P99Ttft),
    ("p50_inter_token", Metric::P50InterToken),
    ("p99_inter_token", Metric::P99InterToken),
    ("p50_time_per_output_token", Metric::P50TimePerOutputToken),
    ("p99_time_per_output_token", Metric::P99TimePerOutputToken),
    ("attempts_per_request", Metric::AttemptsPerRequest),
    ("cost", Metric::Cost),
    ("wasted_cost", Metric::WastedCost),
    ("share", Metric::Share),
    ("served_share", Metric::ServedShare),
    ("availability", Metric::Availability),
    ("time_to_detect", Metric::TimeToDetect),
    ("time_to_failover", Metric::TimeToFailover),
    ("time_to_failback", Metric::TimeToFailback),
    ("breaker_opens", Metric::BreakerOpens),
    ("budget_exhausted", Metric::BudgetExhausted),
    ("alerts", Metric::Alerts),
    ("time_to_alert", Metric::TimeToAlert),
    ("error_budget_spent", Metric::ErrorBudgetSpent),
    ("resumed", Metric::Resumed),
    ("resume_failed", Metric::ResumeFailed),
    ("provider_rate_limited", Metric::ProviderRateLimited),
    (
        "provider_rate_limited_share",
        Metric::ProviderRateLimitedShare,
    ),
    ("fleet_stop_time", Metric::FleetStopTime),
    ("probes", Metric::Probes),
    ("replica_share_max", Metric::ReplicaShareMax),
];

/// Every metric an expectation can name, with its name as written.
pub fn metrics() -> impl Iterator<Item = (&'static str, Metric)> {
    METRICS.into_iter()
}

impl Metric {
    /// The scope fields the metric takes, as the scenario reference lists them.
    pub fn scope_summary(self) -> String {
        let s = self.scopes();
        let mut parts = Vec::new();
        if s.requests {
            parts.push("`route`, `class`, `phase`, `window`".to_string());
        }
        match s.target {
            Takes::Must => parts.push("`target` (required)".into()),
            Takes::May => parts.push("`target`".into()),
            Takes::No => {}
        }
        match s.provider {
            Takes::Must => parts.push("`provider` (required)".into()),
            Takes::May => parts.push("`provider`".into()),
            Takes::No => {}
        }
        match s.fault {
            Takes::Must => parts.push("`fault` (required)".into()),
            Takes::May => parts.push("`fault`".into()),
            Takes::No => {}
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// The unit its values are in, as a report shows it after a number: `" s"` for times,
    /// `" USD"` for costs, nothing for rates, shares and counts.
    pub fn unit(self) -> &'static str {
        if self.is_time() {
            " s"
        } else if matches!(self, Metric::Cost | Metric::WastedCost) {
            " USD"
        } else {
            ""
        }
    }

    /// A count or a sum over the requests of a scope: 0 over a scope without requests
    /// would measure nothing, so it is not observed there.
    pub fn counts_requests(self) -> bool {
        matches!(
            self,
            Metric::Requests
                | Metric::Succeeded
                | Metric::Failed
                | Metric::Resumed
                | Metric::ResumeFailed
                | Metric::Cost
                | Metric::WastedCost
                | Metric::BudgetExhausted
        )
    }

    /// Whether the metric counts something (requests, attempts, breaker openings, alerts,
    /// probes): its values are whole numbers, and shown as such.
    pub fn is_count(self) -> bool {
        matches!(
            self,
            Metric::Requests
                | Metric::Succeeded
                | Metric::Failed
                | Metric::BreakerOpens
                | Metric::BudgetExhausted
                | Metric::Alerts
                | Metric::Resumed
                | Metric::ResumeFailed
                | Metric::ProviderRateLimited
                | Metric::Probes
        )
    }

    /// Whether the metric is a fleet's (`replicas:` scenarios only).
    pub fn is_fleet(self) -> bool {
        matches!(
            self,
            Metric::ProviderRateLimited
                | Metric::ProviderRateLimitedShare
                | Metric::FleetStopTime
                | Metric::Probes
                | Metric::ReplicaShareMax
        )
    }

    /// Whether the metric is a duration (its value is written as one).
    pub fn is_time(self) -> bool {
        matches!(
            self,
            Metric::P50Latency
                | Metric::P90Latency
                | Metric::P99Latency
                | Metric::P999Latency
                | Metric::P50Ttft
                | Metric::P99Ttft
                | Metric::P50InterToken
                | Metric::P99InterToken
                | Metric::P50TimePerOutputToken
                | Metric::P99TimePerOutputToken
                | Metric::TimeToDetect
                | Metric::TimeToFailover
                | Metric::TimeToFailback
                | Metric::TimeToAlert
                | Metric::FleetStopTime
        )
    }
}

/// The values a metric can take. A bound outside them could never hold, or always would:
/// refused at validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// A rate or a share: from 0 to 1.
    Unit,
    /// A count, a sum, a ratio or a duration: 0 or more (a spent error budget passes 1).
    NonNegative,
}

impl Range {
    /// Whether `x` is a value of the range (never NaN or infinite).
    pub fn contains(self, x: f64) -> bool {
        x.is_finite() && x >= 0.0 && (self == Range::NonNegative || x <= 1.0)
    }

    /// The range as errors and the scenario reference say it.
    pub fn describe(self) -> &'static str {
        match self {
            Range::Unit => "from 0 to 1",
            Range::NonNegative => "0 or more",
        }
    }
}

impl Metric {
    /// The values the metric can take.
    pub fn range(self) -> Range {
        match self {
            Metric::SuccessRate
            | Metric::FailureRate
            | Metric::Share
            | Metric::ServedShare
            | Metric::Availability
            | Metric::ProviderRateLimitedShare
            | Metric::ReplicaShareMax => Range::Unit,
            _ => Range::NonNegative,
        }
    }
}

/// Whether a metric takes a scope field: never, optionally, or always.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Takes {
    No,
    May,
    Must,
}

/// The scope fields a metric honours. A field it does not honour is refused at validation:
/// ignored silently, it would report a number for a scope nobody measured.
pub(super) struct Scopes {
    /// `route`, `class`, `phase` and `window`: the metric is counted per request.
    pub(super) requests: bool,
    pub(super) target: Takes,
    /// `provider`: `cost` may, the fleet's provider figures must.
    pub(super) provider: Takes,
    pub(super) fault: Takes,
}

impl Metric {
    pub(super) fn scopes(self) -> Scopes {
        let (requests, target, provider, fault) = match self {
            Metric::Requests
            | Metric::Succeeded
            | Metric::Failed
            | Metric::SuccessRate
            | Metric::FailureRate
            | Metric::P50Latency
            | Metric::P90Latency
            | Metric::P99Latency
            | Metric::P999Latency
            | Metric::P50Ttft
            | Metric::P99Ttft
            | Metric::P50InterToken
            | Metric::P99InterToken
            | Metric::P50TimePerOutputToken
            | Metric::P99TimePerOutputToken
            | Metric::AttemptsPerRequest
            | Metric::WastedCost
            | Metric::BudgetExhausted
            | Metric::Resumed
            | Metric::ResumeFailed => (true, Takes::No, Takes::No, Takes::No),
            Metric::Cost => (true, Takes::No, Takes::May, Takes::No),
            Metric::Share | Metric::ServedShare => (true, Takes::Must, Takes::No, Takes::No),
            Metric::Availability
            | Metric::ErrorBudgetSpent
            | Metric::FleetStopTime
            | Metric::Probes => (false, Takes::Must, Takes::No, Takes::No),
            Metric::BreakerOpens | Metric::Alerts => (false, Takes::May, Takes::No, Takes::No),
            Metric::TimeToDetect
            | Metric::TimeToFailover
            | Metric::TimeToFailback
            | Metric::TimeToAlert => (false, Takes::No, Takes::No, Takes::Must),
            Metric::ProviderRateLimited | Metric::ProviderRateLimitedShare => {
                (false, Takes::No, Takes::Must, Takes::No)
            }
            Metric::ReplicaShareMax => (false, Takes::No, Takes::No, Takes::No),
        };
        Scopes {
            requests,
            target,
            provider,
            fault,
        }
    }
}
