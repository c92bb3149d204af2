//! Targets: one provider plus one concrete model, with what it can do and what it costs.

use crate::health::{BreakerParams, LimitParams};
use crate::id::ProviderId;
use crate::request::{Capabilities, Usage};

/// USD per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Price {
    /// The cost of a reply with this usage.
    pub fn cost(&self, usage: Usage) -> f64 {
        (f64::from(usage.prompt_tokens) * self.input_per_mtok
            + f64::from(usage.completion_tokens) * self.output_per_mtok)
            / 1e6
    }

    /// The worst-case cost of a request before it is sent.
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
    pub name: String,
    pub provider: ProviderId,
    pub model: String,
    /// Prompt plus output tokens the model accepts.
    pub context_window: u32,
    /// `max_tokens` for a request without one, where the vendor requires it (Anthropic);
    /// `None`: the dialect's default ([`anthropic::DEFAULT_MAX_TOKENS`](crate::dialect::anthropic::DEFAULT_MAX_TOKENS)).
    pub default_max_tokens: Option<u32>,
    pub capabilities: Capabilities,
    pub price: Price,
    pub breaker: BreakerParams,
    pub limits: LimitParams,
    /// Stop routing to the target once it spent this much in the current window.
    pub cost_cap: Option<CostCap>,
    /// The availability objective (0.999 = 99.9 %), for reports and expectations.
    pub sla: Option<f64>,
}

/// A spending cap per time window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostCap {
    pub usd: f64,
    pub window: crate::time::Duration,
}

impl TargetParams {
    /// Can this target take a request with these traits at all?
    pub fn fits(&self, needs: Capabilities, prompt_tokens: u32, max_tokens: u32) -> bool {
        self.capabilities.contains(needs)
            && u64::from(prompt_tokens) + u64::from(max_tokens) <= u64::from(self.context_window)
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
        };
        let c = p.cost(Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 100_000,
            cached_prompt_tokens: 0,
        });
        assert!((c - 3.5).abs() < 1e-12);
        assert!((p.estimate(1000, 1000) - 0.0125).abs() < 1e-12);
    }
}
