//! Rules: pick a route from a request's traits.
//!
//! Rules are checked in order before the route is looked up; the first whose conditions all
//! hold rewrites the request's route ("prompts over 30k tokens go to `long-context`"). A
//! condition left out matches anything. A request that matches no rule keeps the route it
//! named.

use crate::id::RouteId;
use crate::request::{Capabilities, Request};

/// A rule's conditions (its `when:`); `None` (or no capability) matches anything, and the
/// default matches every request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMatch {
    /// The route the request named (may be a name that is not itself a route, like `auto`).
    pub route: Option<String>,
    /// The request's `task` tag, exactly; a request without a task never matches one.
    pub task: Option<String>,
    /// The least estimated prompt tokens, inclusive.
    pub min_prompt_tokens: Option<u32>,
    /// The most estimated prompt tokens, inclusive.
    pub max_prompt_tokens: Option<u32>,
    /// Whether the request streams.
    pub stream: Option<bool>,
    /// Capabilities the request must need, all of them (streaming counts for a streamed
    /// request); it may need more.
    pub needs: Capabilities,
}

impl RuleMatch {
    /// Whether every condition holds for `request`.
    pub fn matches(&self, request: &Request) -> bool {
        self.route.as_ref().is_none_or(|r| *r == request.route)
            && self
                .task
                .as_ref()
                .is_none_or(|t| request.task.as_ref() == Some(t))
            && self
                .min_prompt_tokens
                .is_none_or(|n| request.estimated_prompt_tokens >= n)
            && self
                .max_prompt_tokens
                .is_none_or(|n| request.estimated_prompt_tokens <= n)
            && self.stream.is_none_or(|s| request.stream == s)
            && request.required_capabilities().contains(self.needs)
    }
}

/// A validated rule: when its conditions hold, the request goes to `route`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleParams {
    /// The conditions.
    pub when: RuleMatch,
    /// The route the request is sent to instead of the one it named.
    pub route: RouteId,
}

/// The route the first matching rule picks, in `rules` order; `None` when none matches.
pub fn pick(rules: &[RuleParams], request: &Request) -> Option<RouteId> {
    rules
        .iter()
        .find(|r| r.when.matches(request))
        .map(|r| r.route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(when: RuleMatch, route: u32) -> RuleParams {
        RuleParams {
            when,
            route: RouteId::new(route),
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = [
            rule(
                RuleMatch {
                    min_prompt_tokens: Some(30_000),
                    ..RuleMatch::default()
                },
                1,
            ),
            rule(
                RuleMatch {
                    task: Some("classify".into()),
                    ..RuleMatch::default()
                },
                2,
            ),
            rule(
                RuleMatch {
                    route: Some("auto".into()),
                    stream: Some(true),
                    ..RuleMatch::default()
                },
                3,
            ),
            rule(
                RuleMatch {
                    needs: Capabilities::TOOLS,
                    max_prompt_tokens: Some(100),
                    ..RuleMatch::default()
                },
                4,
            ),
        ];
        let req = |route: &str, tokens, task: Option<&str>, stream, needs| Request {
            route: route.into(),
            estimated_prompt_tokens: tokens,
            task: task.map(Into::into),
            stream,
            needs,
            ..Request::default()
        };
        assert_eq!(
            pick(
                &rules,
                &req("chat", 40_000, Some("classify"), false, Capabilities::NONE)
            ),
            Some(RouteId::new(1))
        );
        assert_eq!(
            pick(
                &rules,
                &req("chat", 500, Some("classify"), false, Capabilities::NONE)
            ),
            Some(RouteId::new(2))
        );
        assert_eq!(
            pick(&rules, &req("auto", 500, None, true, Capabilities::NONE)),
            Some(RouteId::new(3))
        );
        assert_eq!(
            pick(&rules, &req("auto", 500, None, false, Capabilities::NONE)),
            None
        );
        assert_eq!(
            pick(&rules, &req("x", 50, None, false, Capabilities::TOOLS)),
            Some(RouteId::new(4))
        );
        assert_eq!(
            pick(&rules, &req("x", 150, None, false, Capabilities::TOOLS)),
            None
        );
    }

    #[test]
    fn bounds_are_inclusive_and_needs_count_streaming() {
        let when = RuleMatch {
            min_prompt_tokens: Some(10),
            max_prompt_tokens: Some(20),
            needs: Capabilities::STREAMING,
            ..RuleMatch::default()
        };
        let req = |tokens, stream| Request {
            estimated_prompt_tokens: tokens,
            stream,
            ..Request::default()
        };
        assert!(when.matches(&req(10, true)) && when.matches(&req(20, true)));
        assert!(!when.matches(&req(9, true)) && !when.matches(&req(21, true)));
        assert!(!when.matches(&req(15, false)), "needs streaming");
        assert!(RuleMatch::default().matches(&req(0, false)));
    }
}
