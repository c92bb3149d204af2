//! Targets: one provider plus one concrete model, with what it can do and what it costs.
//!
//! A [`TargetParams`] is built once by config validation and read by the router on every
//! decision: [`TargetParams::fits`] keeps a request off a target that lacks a capability or a
//! large enough context window, and [`Price`] turns each attempt's usage into the cost that
//! reports show and that the target's [`CostCap`] caps.

use crate::health::{BreakerParams, LimitParams};
use crate::id::ProviderId;
use crate::request::{Capabilities, Usage};

/// USD per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Price {
    /// USD per million prompt tokens that were not read from the provider's cache.
    pub input_per_mtok: f64,
    /// USD per million completion tokens.
    pub output_per_mtok: f64,
    /// USD per million prompt tokens read from the provider's cache (`price.cached_input`,
    /// `input_per_mtok` unless set).
    pub cached_input_per_mtok: f64,
}

impl Price {
    /// The cost in USD of a reply with this usage: its `cached_prompt_tokens` (of its
    /// `prompt_tokens`, at most all of them) at the cached rate, the rest of the prompt at the
    /// input rate.
    pub fn cost(&self, usage: Usage) -> f64 {
        let cached = usage.cached_prompt_tokens.min(usage.prompt_tokens);
        let uncached = usage.prompt_tokens - cached;
        (f64::from(uncached) * self.input_per_mtok
            + f64::from(cached) * self.cached_input_per_mtok
            + f64::from(usage.completion_tokens) * self.output_per_mtok)
            / 1e6
    }

    /// The worst-case cost in USD of a request before it is sent: every one of `max_tokens`
    /// generated. What the least-cost policy compares.
    pub fn estimate(&self, prompt_tokens: u32, max_tokens: u32) -> f64 {
        self.cost(Usage {
            prompt_tokens,
            completion_tokens: max_tokens,
            cached_prompt_tokens: 0,
        })
    }
}

/// A validated target.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetParams {
    /// The config's name for it, unique among targets; reports and metrics label by it.
    pub name: String,
    /// The provider (account) it is sent through: its credentials, endpoint and dialect.
    pub provider: ProviderId,
    /// The vendor's model name, sent as the request's model (in the path for Gemini, and as
    /// the deployment for Azure OpenAI).
    pub model: String,
    /// Prompt plus output tokens the model accepts.
    pub context_window: u32,
    /// `max_tokens` for a request without one, where the vendor requires it (Anthropic),
    /// counted for such a request by [`TargetParams::request_tokens`]: against the context
    /// window ([`TargetParams::fits`]) and in what an attempt reserves of the target's token
    /// limits. As configured until
    /// [`RouterParams::resolve_sent_max_tokens`](crate::router::RouterParams::resolve_sent_max_tokens)
    /// sets what is really sent: the dialect's default
    /// ([`anthropic::DEFAULT_MAX_TOKENS`](crate::dialect::anthropic::DEFAULT_MAX_TOKENS))
    /// where none is configured, nothing for a vendor with its own default.
    pub default_max_tokens: Option<u32>,
    /// What the model can do; a request is sent here only when this contains everything it
    /// needs ([`TargetParams::fits`]).
    pub capabilities: Capabilities,
    /// What its tokens cost.
    pub price: Price,
    /// Its circuit breaker's settings (the config's top-level `breaker` where the target sets
    /// none).
    pub breaker: BreakerParams,
    /// Its rate limits as configured; replies' headers refine them at run time.
    pub limits: LimitParams,
    /// Stop routing to the target once it spent this much in the current window.
    pub cost_cap: Option<CostCap>,
    /// The availability objective (0.999 = 99.9 %), for reports and expectations.
    pub sla: Option<f64>,
}

/// A spending cap per time window.
#[derive(Clone, Copy, Debug, PartialEq)]
///
/// Windows are fixed, not sliding: the `n`th runs from `n * window` to `(n + 1) * window`
/// after the start of the run. Once the attempts sent to the target in a window have cost
/// `usd` or more, the router sends it nothing more until the next window begins.
pub struct CostCap {
    /// The cap in USD per window; above zero.
    pub usd: f64,
    /// The window's length (config default 1h); above zero.
    pub window: crate::time::Duration,
}

impl TargetParams {
    /// Can this target take a request with these traits at all? It must have every capability
    /// in `needs`, and the prompt and the completion must fit its context window: the
    /// request's `max_tokens`, or for a request without one the target's
    /// `default_max_tokens` (what it is then sent), or none. Health, limits and the cost cap
    /// are not considered here.
    pub fn fits(&self, needs: Capabilities, prompt_tokens: u32, max_tokens: Option<u32>) -> bool {
        self.capabilities.contains(needs)
            && self.request_tokens(prompt_tokens, max_tokens) <= u64::from(self.context_window)
    }

    /// The tokens a request takes of this target: its prompt and [`Self::completion_tokens`].
    /// What its window must hold, and what an attempt reserves of its `tokens_per_minute`
    /// (and of a fleet's shared bucket) when it is sent.
    pub fn request_tokens(&self, prompt_tokens: u32, max_tokens: Option<u32>) -> u64 {
        u64::from(prompt_tokens) + u64::from(self.completion_tokens(max_tokens))
    }

    /// The completion a request with `max_tokens` (or none) asks of this target: its own, or
    /// the target's `default_max_tokens` when it sets none, or 0.
    pub fn completion_tokens(&self, max_tokens: Option<u32>) -> u32 {
        max_tokens.or(self.default_max_tokens).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_per_million_tokens() {
        let p = Price {
            input_per_mtok: 2.5,
            output_per_mtok: 10.0,
            cached_input_per_mtok: 1.25,
        };
        let c = p.cost(Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 100_000,
            cached_prompt_tokens: 0,
        });
        assert!((c - 3.5).abs() < 1e-12);
        // Cached prompt tokens at the cached rate, the rest at the input rate; a count of
        // cached tokens above the prompt's is read as the whole prompt cached.
        let cached = |cached_prompt_tokens| {
            p.cost(Usage {
                prompt_tokens: 1_000_000,
                completion_tokens: 0,
                cached_prompt_tokens,
            })
        };
        assert!((cached(400_000) - (0.6 * 2.5 + 0.4 * 1.25)).abs() < 1e-12);
        assert!((cached(u32::MAX) - 1.25).abs() < 1e-12);
        assert!((p.estimate(1000, 1000) - 0.0125).abs() < 1e-12);
    }

    #[test]
    fn fits_needs_every_capability_and_the_whole_window() {
        let t = TargetParams {
            name: "a".into(),
            provider: ProviderId::new(0),
            model: "m".into(),
            context_window: 1000,
            default_max_tokens: None,
            capabilities: Capabilities::TOOLS.union(Capabilities::STREAMING),
            price: Price::default(),
            breaker: BreakerParams::default(),
            limits: LimitParams::default(),
            cost_cap: None,
            sla: None,
        };
        assert!(t.fits(Capabilities::TOOLS, 600, Some(400)));
        assert!(!t.fits(Capabilities::TOOLS, 600, Some(401)));
        assert!(!t.fits(Capabilities::TOOLS.union(Capabilities::VISION), 1, None));
        assert!(t.fits(Capabilities::NONE, 1000, None));
        // Without `max_tokens`, what the target is then sent counts.
        let sent = TargetParams {
            default_max_tokens: Some(300),
            ..t.clone()
        };
        assert!(sent.fits(Capabilities::NONE, 700, None));
        assert!(!sent.fits(Capabilities::NONE, 701, None));
        assert!(sent.fits(Capabilities::NONE, 701, Some(299)));
        assert!(!t.fits(Capabilities::NONE, u32::MAX, Some(u32::MAX)));
    }
}
