//! Rules: pick a route from a request's traits.
//!
//! Rules are checked in order before the route is looked up; the first whose conditions all
//! hold rewrites the request's route ("prompts over 30k tokens go to `long-context`"). A
//! condition left out matches anything. A request that matches no rule keeps the route it
//! named.

use crate::id::RouteId;
use crate::request::{Capabilities, Request};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMatch {
    /// The route the request named (may be a name that is not itself a route, like `auto`).
    pub route: Option<String>,
    pub task: Option<String>,
    pub min_prompt_tokens: Option<u32>,
    pub max_prompt_tokens: Option<u32>,
    pub stream: Option<bool>,
    pub needs: Capabilities,
}

impl RuleMatch {
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleParams {
    pub when: RuleMatch,
    pub route: RouteId,
}

/// The route the first matching rule picks.
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
}
