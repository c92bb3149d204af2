//! The normalized request and response: one shape whatever the vendor.
//!
//! Dialect codecs translate these to and from each vendor's wire format. The router itself
//! looks only at a request's *traits* (route, task tag, token estimate, streaming, needed
//! capabilities); the messages travel with it for the drivers.

use crate::id::TargetId;
use crate::outcome::AttemptRecord;

/// What a target can do, and what a request needs. A small bit set.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Capabilities(u8);

impl Capabilities {
    pub const NONE: Capabilities = Capabilities(0);
    pub const STREAMING: Capabilities = Capabilities(1);
    pub const TOOLS: Capabilities = Capabilities(1 << 1);
    pub const JSON_MODE: Capabilities = Capabilities(1 << 2);
    pub const VISION: Capabilities = Capabilities(1 << 3);

    /// Every named capability with its config spelling, in a fixed order.
    pub const NAMED: [(&'static str, Capabilities); 4] = [
        ("streaming", Capabilities::STREAMING),
        ("tools", Capabilities::TOOLS),
        ("json_mode", Capabilities::JSON_MODE),
        ("vision", Capabilities::VISION),
    ];

    pub const fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }
    /// True when every capability in `needed` is in `self`.
    pub const fn contains(self, needed: Capabilities) -> bool {
        self.0 & needed.0 == needed.0
    }
    pub fn from_name(name: &str) -> Option<Capabilities> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
    }
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .iter()
            .filter(move |(_, c)| self.contains(*c))
            .map(|(n, _)| *n)
    }
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// A request as the application made it, before any vendor's format.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Request {
    /// The logical model name the application asked for (`chat`, `summarize-long`).
    pub route: String,
    pub messages: Vec<Message>,
    /// Upper bound on output tokens.
    pub max_tokens: u32,
    pub stream: bool,
    /// A free-form tag rules can match on (`summarize`, `classify`).
    pub task: Option<String>,
    /// The caller's (or the tokenizer's) estimate of prompt tokens.
    pub estimated_prompt_tokens: u32,
    /// Capabilities the request needs beyond plain text (streaming is implied by `stream`).
    pub needs: Capabilities,
}

impl Request {
    /// Everything the request needs from a target, streaming included.
    pub fn required_capabilities(&self) -> Capabilities {
        if self.stream {
            self.needs.union(Capabilities::STREAMING)
        } else {
            self.needs
        }
    }
}

/// Why a reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The model finished its answer.
    Stop,
    /// It hit `max_tokens`.
    Length,
    /// It wants to call a tool.
    ToolCalls,
    /// The vendor's filter stopped it.
    ContentFilter,
}

impl FinishReason {
    pub fn label(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

/// Tokens used by one reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Usage {
    pub fn total(self) -> u32 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// A successful reply, normalized.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub text: String,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// The target that actually served the reply.
    pub served_by: TargetId,
    /// Every attempt the request made, in order, the successful one last.
    pub attempts: Vec<AttemptRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_compose() {
        let c = Capabilities::TOOLS.union(Capabilities::STREAMING);
        assert!(c.contains(Capabilities::TOOLS));
        assert!(c.contains(Capabilities::NONE));
        assert!(!c.contains(Capabilities::JSON_MODE));
        assert_eq!(c.names().collect::<Vec<_>>(), ["streaming", "tools"]);
        assert_eq!(
            Capabilities::from_name("json_mode"),
            Some(Capabilities::JSON_MODE)
        );
        assert_eq!(Capabilities::from_name("telepathy"), None);
    }

    #[test]
    fn streaming_requests_need_streaming() {
        let r = Request {
            stream: true,
            needs: Capabilities::TOOLS,
            ..Request::default()
        };
        assert!(r.required_capabilities().contains(Capabilities::STREAMING));
        assert_eq!(
            Usage {
                prompt_tokens: 3,
                completion_tokens: 4
            }
            .total(),
            7
        );
    }
}
