//! What a failed request returns: its outcome and the story of its attempts.

use switchyard_core::dialect::upstream::UpstreamError;
use switchyard_core::dialect::{self, Unsupported};
use switchyard_core::outcome::{AttemptRecord, ErrorKind, FailureReason, FinalOutcome};
use switchyard_core::plan::{AttemptId, Plan};
use switchyard_core::request::{Request, Usage};
use switchyard_core::time::Duration;

use super::Driver;

/// A request that ended without a reply, with its whole story.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{reason}: {story}", reason = .outcome.label(), story = self.story())]
pub struct RouteError {
    pub outcome: FailureReason,
    /// Every attempt, in order, with target names.
    pub attempts: Vec<(String, AttemptRecord)>,
    /// When every target was rate-limited: the soonest a retry could succeed.
    pub retry_after: Option<Duration>,
    /// With `FailureReason::Unsupported`: what the route's first target cannot express
    /// (every member was excluded for some such field; this one names it to the client).
    pub unsupported: Option<Unsupported>,
    /// With `FailureReason::Unsupported` and no field to name: the request is too long for
    /// every target it could go to.
    pub too_long: Option<TooLong>,
    /// What the upstream said about the error that decided the outcome (the last attempt
    /// that failed with the outcome's kind), for the client: its status, type, code, param
    /// and message, bounded and with keys redacted. It never took part in a decision.
    pub upstream: Option<Box<UpstreamError>>,
    /// What the request's attempts cost (`Plan::cost`): an attempt that failed without usage
    /// costs nothing; a stream that broke costs its prompt and the tokens it delivered; an
    /// attempt cancelled on its way by another's first token (a hedge that lost) costs the
    /// request's estimated prompt.
    pub cost: f64,
    /// The tokens `cost` prices: every attempt's, as reported (`Plan::tokens`).
    pub tokens: Usage,
    /// Some of `tokens` are estimates (`Plan::tokens_estimated`).
    pub tokens_estimated: bool,
    /// The route the request is booked on (`Plan::home_route`); `None` when it resolved to
    /// none (an unknown route).
    pub route: Option<std::sync::Arc<str>>,
}

impl RouteError {
    /// Which targets were tried, for a person: `ta → server_error after 2.0 ms, tb → ...`.
    fn story(&self) -> String {
        if self.attempts.is_empty() {
            return "no attempt was made".to_owned();
        }
        self.attempts
            .iter()
            .map(|(name, a)| {
                // Milliseconds to a tenth: a person reads this, not a config parser.
                let ms = a.latency.as_secs_f64() * 1e3;
                format!("{name} → {} after {ms:.1} ms", a.outcome.label())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn kind(&self) -> Option<ErrorKind> {
        match self.outcome {
            FailureReason::Attempt(k) | FailureReason::BudgetExhausted(k) => Some(k),
            _ => None,
        }
    }
}

/// A request longer than every context window of the targets it could go to (its route and
/// fallbacks, or the one it named) can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong {
    /// Its estimated prompt tokens (messages, tools).
    pub prompt: u32,
    /// Its `max_tokens`, when it set one. Without one, each target counted what it is then
    /// sent (an Anthropic target its `default_max_tokens`): a prompt under the largest
    /// window did not fit with that.
    pub max_tokens: Option<u32>,
    /// The largest context window of those targets.
    pub window: u32,
}

impl Driver {
    /// The wait the plan's last attempt's provider asked for (its Retry-After), at most
    /// `plan.retry_after_max`.
    fn asked_wait(&self, plan: &Plan) -> Option<Duration> {
        let max = self.core().params().plan.retry_after_max;
        plan.history()
            .last()
            .and_then(|a| a.outcome.retry_after())
            .map(|d| d.min(max))
    }

    /// What the first member of the home route (or the named target) cannot express, or
    /// the capability it lacks: every member was unfit or incapable (or too small:
    /// [`Driver::too_long`] then).
    fn unsupported(&self, plan: &Plan, request: &Request) -> Option<Unsupported> {
        let core = self.core();
        let route = core.params().route(plan.home_route()?);
        let candidates = match plan.pinned_target() {
            Some(pin) => vec![pin],
            None => route.members.clone(),
        };
        candidates.into_iter().find_map(|t| {
            let binding = &self.inner.bindings[t.index()];
            let target = &core.params().targets[t.index()];
            dialect::check(binding.dialect, request).err().or_else(|| {
                let missing = request.required_capabilities().without(target.capabilities);
                let name = missing.names().next()?;
                Some(Unsupported {
                    field: request.field_needing(missing)?,
                    dialect: binding.dialect,
                    reason: format!(
                        "it needs the `{name}` capability, which no target of the route has"
                    ),
                })
            })
        })
    }

    /// How `request` is too long for every target it could go to (the core's
    /// `Router::reachable`), or `None` when one could hold it.
    fn too_long(&self, plan: &Plan, request: &Request) -> Option<TooLong> {
        let core = self.core();
        let prompt = request.estimated_prompt_tokens;
        let targets: Vec<_> = core
            .reachable(plan)
            .into_iter()
            .map(|t| &core.params().targets[t.index()])
            .collect();
        // The core's own check, so that the two cannot disagree.
        let holds = |t: &&switchyard_core::target::TargetParams| {
            t.fits(
                switchyard_core::request::Capabilities::NONE,
                prompt,
                request.max_tokens,
            )
        };
        if targets.iter().any(holds) {
            return None;
        }
        // No target at all: `max` says nothing is too long.
        Some(TooLong {
            prompt,
            max_tokens: request.max_tokens,
            window: targets.iter().map(|t| t.context_window).max()?,
        })
    }

    /// The request's error; `said` is what upstreams said about failed attempts: the last
    /// one whose kind decided the outcome goes to the client. `request` names the field
    /// an unsupported request could not carry.
    pub(super) fn error(
        &self,
        plan: &Plan,
        request: Option<&Request>,
        said: &[(AttemptId, UpstreamError)],
    ) -> RouteError {
        let outcome = match plan.outcome() {
            Some(FinalOutcome::Failed(reason)) => reason,
            _ => FailureReason::NoTargetAvailable,
        };
        let unsupported = (outcome == FailureReason::Unsupported)
            .then(|| self.unsupported(plan, request?))
            .flatten();
        let too_long = (outcome == FailureReason::Unsupported && unsupported.is_none())
            .then(|| self.too_long(plan, request?))
            .flatten();
        let decided = match outcome {
            FailureReason::Attempt(k) | FailureReason::BudgetExhausted(k) => Some(k),
            _ => None,
        };
        let upstream = decided.and_then(|kind| {
            said.iter()
                .rev()
                .find(|(id, _)| {
                    plan.history()
                        .nth(usize::from(id.0))
                        .is_some_and(|a| a.outcome.error_kind() == Some(kind))
                })
                .map(|(_, e)| Box::new(e.clone()))
        });
        let attempts: Vec<(String, AttemptRecord)> = plan
            .history()
            .map(|a| (self.inner.bindings[a.target.index()].name.clone(), *a))
            .collect();
        RouteError {
            outcome,
            attempts,
            // The core says when parked targets come back (rate limits, a Retry-After); with no
            // target available, when the first of the route's can be tried again; the last
            // attempt overloaded (a 503 too), the wait its provider asked for, else as with no
            // target available.
            retry_after: plan
                .retry_after()
                .or_else(|| match outcome {
                    FailureReason::NoTargetAvailable => Some(self.next_try(plan)),
                    FailureReason::Attempt(ErrorKind::Overloaded)
                    | FailureReason::BudgetExhausted(ErrorKind::Overloaded) => {
                        Some(self.asked_wait(plan).unwrap_or_else(|| self.next_try(plan)))
                    }
                    _ => None,
                })
                .map(|d| d.max(Duration::from_secs(1))),
            unsupported,
            too_long,
            upstream,
            cost: plan.cost(),
            tokens: plan.tokens(),
            tokens_estimated: plan.tokens_estimated(),
            route: plan.home_route().and_then(|r| self.route_name(r)).cloned(),
        }
    }
}

impl Driver {
    /// How long until the plan's request could be sent again
    /// ([`Router::retry_wait`](switchyard_core::router::Router::retry_wait): the soonest
    /// of the targets it could go to, by their breakers, parking, cost caps and buckets), at
    /// most `plan.retry_after_max`; when no target says, [`NO_TARGET_RETRY_AFTER`].
    fn next_try(&self, plan: &Plan) -> Duration {
        let now = self.now();
        let core = self.core();
        core.retry_wait(plan, now)
            .unwrap_or(NO_TARGET_RETRY_AFTER)
            .min(core.params().plan.retry_after_max)
    }
}

/// The `Retry-After` of a request no target could take, when no target says when it can be
/// tried again (docs/GATEWAY.md, "Headers").
pub const NO_TARGET_RETRY_AFTER: Duration = Duration::from_secs(1);

#[cfg(test)]
mod story_tests {
    use super::*;
    use switchyard_core::id::TargetId;
    use switchyard_core::outcome::Outcome;
    use switchyard_core::time::Instant;

    #[test]
    fn the_attempt_story_says_milliseconds_to_a_tenth() {
        let record = |ns: u64| AttemptRecord {
            target: TargetId::new(0),
            started: Instant::ZERO,
            outcome: Outcome::error(ErrorKind::ServerError),
            latency: Duration::from_nanos(ns),
            hedge: false,
        };
        let e = RouteError {
            outcome: FailureReason::Attempt(ErrorKind::ServerError),
            attempts: vec![
                ("ta".to_owned(), record(2_021_371)),
                ("tb".to_owned(), record(1_500_000_000)),
            ],
            retry_after: None,
            unsupported: None,
            too_long: None,
            upstream: None,
            cost: 0.0,
            tokens: Usage::default(),
            tokens_estimated: false,
            route: None,
        };
        assert_eq!(
            e.to_string(),
            "server_error: ta → server_error after 2.0 ms, tb → server_error after 1500.0 ms"
        );
    }
}
