//! The normalized request and response: one shape whatever the vendor.
//!
//! Dialect codecs translate these to and from each vendor's wire format. The router itself
//! looks only at a request's *traits* (route, task tag, token estimate, streaming, needed
//! capabilities); the messages travel with it for the drivers.

use crate::id::{RouteId, TargetId};
use crate::outcome::AttemptRecord;

/// What a target can do, and what a request needs. A small bit set.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Capabilities(u8);

impl Capabilities {
    /// The empty set: plain text in and out. Every set contains it.
    pub const NONE: Capabilities = Capabilities(0);
    /// The reply can be streamed. A request needs it when `stream` is set
    /// ([`Request::required_capabilities`] adds it), not through [`Request::needs`].
    pub const STREAMING: Capabilities = Capabilities(1);
    /// The model can be offered tools and call them; a request needs it when it carries any.
    pub const TOOLS: Capabilities = Capabilities(1 << 1);
    /// The reply can be held to JSON (`response_format` of `json_object` or `json_schema`).
    pub const JSON_MODE: Capabilities = Capabilities(1 << 2);
    /// The model reads images; a request needs it when a message has an image part.
    pub const VISION: Capabilities = Capabilities(1 << 3);
    /// The target continues a final assistant message (an assistant prefill), so a stream
    /// broken on another target can be resumed on it (a route's `resume: prefill`). No
    /// request needs it: only the router asks for it, when it picks a continuation.
    pub const PREFILL: Capabilities = Capabilities(1 << 4);

    /// Every named capability with its config spelling, in a fixed order.
    pub const NAMED: [(&'static str, Capabilities); 5] = [
        ("streaming", Capabilities::STREAMING),
        ("tools", Capabilities::TOOLS),
        ("json_mode", Capabilities::JSON_MODE),
        ("vision", Capabilities::VISION),
        ("prefill", Capabilities::PREFILL),
    ];

    /// Both sets together.
    pub const fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }
    /// True when every capability in `needed` is in `self`.
    pub const fn contains(self, needed: Capabilities) -> bool {
        self.0 & needed.0 == needed.0
    }
    /// The capabilities of `self` that `other` lacks.
    pub const fn without(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 & !other.0)
    }
    /// The capability a config spells `name` (`"json_mode"`), as in [`Capabilities::NAMED`];
    /// `None` for a name that is not one.
    pub fn from_name(name: &str) -> Option<Capabilities> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
    }
    /// The config spellings of the capabilities in `self`, in [`Capabilities::NAMED`] order:
    /// what `Debug` prints and reports list.
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
    /// Instructions to the model. Dialects with one system slot take only the leading ones
    /// ([`Request::leading_system_messages`]).
    System,
    /// The application's end user.
    User,
    /// The model; a final assistant message is a prefill the model continues.
    Assistant,
    /// The result of a tool call (OpenAI's `tool` role; Anthropic and Gemini carry results in
    /// user turns, and their codecs translate).
    Tool,
}

/// Where an image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// An `https:` (or other) URL the vendor fetches.
    Url(String),
    /// Inline bytes: a media type (`image/png`) and bare base64 (no `data:` prefix).
    Base64 {
        /// The MIME type, `image/png` or the like, as the client gave it.
        media_type: String,
        /// The image bytes in standard base64, without a `data:` prefix.
        data: String,
    },
}

/// An image in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Where the vendor gets the image from.
    pub source: ImageSource,
    /// OpenAI's `detail` (`auto`, `low`, `high`); no other vendor has it.
    pub detail: Option<String>,
}

/// An assistant's call of a tool.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ToolCall {
    /// The call's id, echoed by its result (synthesised where a vendor has none).
    pub id: String,
    /// The called tool's name, one of the request's [`Request::tools`] when the model obeys.
    pub name: String,
    /// The arguments as JSON text (OpenAI's form; it may be invalid JSON from a model).
    pub arguments: String,
}

/// The result of one tool call.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub call_id: String,
    /// The result as text.
    pub content: String,
    /// The tool failed (Anthropic's `is_error`, Gemini's `error` key).
    pub is_error: bool,
}

/// One piece of a message's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Plain text.
    Text(String),
    /// An image; a request with one needs [`Capabilities::VISION`].
    Image(Image),
    /// In assistant messages.
    ToolCall(ToolCall),
    /// In tool messages.
    ToolResult(ToolResult),
}

/// One message of a conversation: a role and its content, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The parts, in the order the client gave them.
    pub content: Vec<Part>,
    /// OpenAI's participant `name`; no other vendor has it.
    pub name: Option<String>,
}

impl Message {
    /// A message of one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            content: vec![Part::Text(text.into())],
            name: None,
        }
    }

    /// The text parts, joined.
    pub fn text_content(&self) -> String {
        let mut out = String::new();
        for p in &self.content {
            if let Part::Text(t) = p {
                out.push_str(t);
            }
        }
        out
    }

    /// Characters of text, tool-call arguments and tool results: what a token estimate counts.
    pub fn chars(&self) -> usize {
        self.content
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.chars().count(),
                Part::Image(_) => 0,
                Part::ToolCall(c) => c.name.len().saturating_add(c.arguments.chars().count()),
                Part::ToolResult(r) => r.content.chars().count(),
            })
            .fold(0usize, usize::saturating_add)
    }
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tool {
    /// The name the model calls it by ([`ToolCall::name`]).
    pub name: String,
    /// What the tool does, for the model; `None` when the client gave none.
    pub description: Option<String>,
    /// The arguments' JSON Schema (`None`: no arguments).
    pub parameters: Option<serde_json::Value>,
    /// OpenAI's and Anthropic's `strict`.
    pub strict: Option<bool>,
}

/// Whether and which tool the model must call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides whether to call a tool.
    Auto,
    /// The model must not call a tool.
    None,
    /// At least one call (OpenAI `required`, Anthropic `any`, Gemini `ANY`).
    Required,
    /// This tool.
    Named(String),
}

/// The shape the reply's text must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseFormat {
    /// Free text, the vendors' default; it needs no capability.
    Text,
    /// Any valid JSON object (OpenAI `json_object`).
    JsonObject,
    /// JSON valid against `schema` (OpenAI `json_schema`).
    JsonSchema {
        /// The schema's name, as OpenAI requires one.
        name: String,
        /// What the schema is for, for the model.
        description: Option<String>,
        /// The JSON Schema itself.
        schema: serde_json::Value,
        /// OpenAI's `strict`: hold the reply to the schema exactly; `None` leaves the default.
        strict: Option<bool>,
    },
}

/// Sampling parameters; `None` leaves the vendor's default.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Sampling {
    /// Sampling temperature; Switchyard does not check its range (vendors differ).
    pub temperature: Option<f64>,
    /// Nucleus sampling: the probability mass to sample from.
    pub top_p: Option<f64>,
    /// Anthropic and Gemini only.
    pub top_k: Option<u32>,
    /// Sequences that end the reply where they appear; empty for none.
    pub stop: Vec<String>,
    /// OpenAI and Gemini only.
    pub seed: Option<i64>,
    /// Penalty on tokens that have appeared at all (OpenAI's and Gemini's `presence_penalty`).
    pub presence_penalty: Option<f64>,
    /// Penalty on tokens by how often they have appeared (OpenAI's and Gemini's
    /// `frequency_penalty`).
    pub frequency_penalty: Option<f64>,
}

/// A client's request body as it arrived, in its dialect: a target of the same dialect is
/// sent this (with the model and stream options rewritten), so fields Switchyard does not
/// know reach it unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Original {
    /// The dialect the client spoke: only a target of this dialect is sent `body`.
    pub dialect: crate::vendor::Dialect,
    /// The body's bytes as received, shared rather than copied: the caller's buffer itself
    /// (`Bytes` counts its references), across attempts too.
    pub body: bytes::Bytes,
    /// The caller forwards a same-dialect target's reply body as it came
    /// ([`Response::raw`]): the driver then reads from it only what routing and books need
    /// (usage, finish reason), not its text. For a stream, the driver gives each of the
    /// target's chunks as it came too (the live driver's `StreamItem::Raw`).
    pub raw_reply: bool,
    /// Where each top-level entry of `body` lies, in order, when the caller has read the body
    /// already (`dialect::openai::parse`): a pass-through then rebuilds the body from it
    /// without parsing it again. `None`: whoever needs the entries parses `body`.
    pub layout: Option<std::sync::Arc<[EntrySpan]>>,
}

/// Where one top-level entry of an [`Original::body`] lies, as byte ranges of the body: its
/// key's text between the quotes (a key with an escape gives no layout), and its value's JSON
/// text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrySpan {
    /// The key's text, without its quotes.
    pub key: std::ops::Range<usize>,
    /// The value's JSON text as written (a string keeps its quotes), without the whitespace
    /// around it.
    pub value: std::ops::Range<usize>,
}

/// A request as the application made it, before any vendor's format.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Request {
    /// The logical model name the application asked for (`chat`, `summarize-long`).
    pub route: String,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Upper bound on output tokens; `None` leaves the vendor's default (targets whose vendor
    /// requires one send their `default_max_tokens`).
    pub max_tokens: Option<u32>,
    /// The client wants the reply streamed; only targets with [`Capabilities::STREAMING`] can
    /// take the request.
    pub stream: bool,
    /// A free-form tag rules can match on (`summarize`, `classify`).
    pub task: Option<String>,
    /// The caller's (or the tokenizer's) estimate of prompt tokens.
    pub estimated_prompt_tokens: u32,
    /// Capabilities the request needs beyond plain text (streaming is implied by `stream`).
    pub needs: Capabilities,
    /// Tools the model may call, in the client's order; empty for none.
    pub tools: Vec<Tool>,
    /// Whether and which tool the model must call; `None` leaves the vendor's default.
    pub tool_choice: Option<ToolChoice>,
    /// `false`: at most one tool call per reply.
    pub parallel_tool_calls: Option<bool>,
    /// The shape the reply's text must have; `None` leaves the vendor's default (text).
    pub response_format: Option<ResponseFormat>,
    /// Sampling parameters, each `None` or empty when the client left it out.
    pub sampling: Sampling,
    /// Choices wanted (OpenAI `n`, Gemini `candidateCount`); `None` is one.
    pub n: Option<u32>,
    /// The end user's id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    /// The client's own body, for same-dialect pass-through.
    pub original: Option<Original>,
    /// Top-level fields of the client's body this request does not model (OpenAI's
    /// `logprobs`, `reasoning_effort`, a field newer than Switchyard), set to something other
    /// than `null` or `false`. They reach a target of the client's own dialect in its body,
    /// passed through; no other target can take the request (`dialect::check`), since they
    /// would be dropped.
    pub unmodelled: Vec<String>,
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

    /// The request field that makes it need one of `needs`, named as `dialect::check` names
    /// fields, for a client told that no target has that capability: `stream`, `tools`,
    /// `response_format`, or the first image part (`messages[0].content[1]`). The first of
    /// `needs` in [`Capabilities::NAMED`] order decides; `None` for none of these.
    pub fn field_needing(&self, needs: Capabilities) -> Option<String> {
        if needs.contains(Capabilities::STREAMING) && self.stream {
            return Some("stream".to_owned());
        }
        if needs.contains(Capabilities::TOOLS) {
            return Some("tools".to_owned());
        }
        if needs.contains(Capabilities::JSON_MODE) {
            return Some("response_format".to_owned());
        }
        if needs.contains(Capabilities::VISION) {
            let image = self.messages.iter().enumerate().find_map(|(i, m)| {
                let j = m.content.iter().position(|p| matches!(p, Part::Image(_)))?;
                Some(format!("messages[{i}].content[{j}]"))
            });
            return Some(image.unwrap_or_else(|| "messages".to_owned()));
        }
        None
    }

    /// How many messages lead the conversation as system messages: what dialects with one
    /// system slot (Anthropic's `system`, Gemini's `systemInstruction`) hoist.
    pub fn leading_system_messages(&self) -> usize {
        self.messages
            .iter()
            .take_while(|m| m.role == Role::System)
            .count()
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
    /// The reason in OpenAI's spelling (`stop`, `length`, `tool_calls`, `content_filter`):
    /// a low-cardinality label for reports and the fake providers.
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
    /// Input tokens, cached ones included (OpenAI's and Gemini's reading; Anthropic's
    /// `input_tokens` excludes cache reads and writes, and its codec adds them).
    pub prompt_tokens: u32,
    /// Output tokens, the reply's own.
    pub completion_tokens: u32,
    /// Of `prompt_tokens`, those read from the vendor's prompt cache.
    pub cached_prompt_tokens: u32,
}

impl Usage {
    /// Prompt and completion tokens together, saturating at `u32::MAX`.
    pub fn total(self) -> u32 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// One choice of a reply that has several (a request with `n` > 1): what the first choice
/// is in [`Response`]'s own fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The text; empty when the choice is only tool calls.
    pub text: String,
    /// Tool calls, in order; arguments are JSON text.
    pub tool_calls: Vec<ToolCall>,
    /// Why this choice ended.
    pub finish_reason: FinishReason,
}

/// A successful reply, normalized: everything a client's dialect needs to render it.
///
/// - `text` and `tool_calls` are the first choice's content. A call's `id` is the vendor's
///   (synthesised as `call_<n>`, counting from 0 in the reply, where Gemini gives none) and its
///   `arguments` JSON text (Anthropic's and Gemini's argument objects, serialized).
/// - `finish_reason` is mapped from the vendor's: `ToolCalls` whenever the reply carries calls
///   and the vendor said only "stop" (Gemini always does).
/// - `usage.prompt_tokens` counts cached tokens too; `usage.cached_prompt_tokens` says how
///   many of them were read from the vendor's prompt cache.
/// - `choices` holds the choices after the first, in order, when the request asked for more
///   than one (`n`); it is empty otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The first choice's text; empty when it is only tool calls or `raw` carries the body.
    pub text: String,
    /// Tool calls, in order (then `finish_reason` is usually `ToolCalls`).
    pub tool_calls: Vec<ToolCall>,
    /// Why the first choice ended.
    pub finish_reason: FinishReason,
    /// Tokens the serving attempt used, as its vendor reported them.
    pub usage: Usage,
    /// Choices 1, 2, ... of a reply to a request with `n` > 1.
    pub choices: Vec<Choice>,
    /// The target that actually served the reply.
    pub served_by: TargetId,
    /// The route the request is booked on ([`Plan::home_route`](crate::plan::Plan::home_route):
    /// the one it resolved to at its start, by a rule, its name, or the target it named).
    pub route: Option<RouteId>,
    /// Every attempt the request made, in order, the successful one last.
    pub attempts: Vec<AttemptRecord>,
    /// The reply body exactly as the target sent it, when the request asked for it
    /// ([`Original::raw_reply`]) and the target speaks the client's dialect: every field the
    /// vendor sent (`logprobs`, `system_fingerprint`, ...) reaches the client. `text`,
    /// `tool_calls` and `choices` are then left empty (the body has them).
    pub raw: Option<bytes::Bytes>,
    /// What the request's attempts cost, every one at its own target's price (`Plan::cost`):
    /// a failed attempt that reported usage counts too, not only the one that served, and so
    /// does a hedge that lost, booked the request's estimated prompt.
    pub cost: f64,
    /// The part of `cost` spent on attempts that did not serve (`Plan::wasted_cost`).
    pub wasted_cost: f64,
    /// Some tokens of `usage` or `cost` are the driver's estimates, not the vendor's count
    /// ([`Plan::tokens_estimated`](crate::plan::Plan::tokens_estimated)).
    pub tokens_estimated: bool,
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
                completion_tokens: 4,
                cached_prompt_tokens: 0,
            }
            .total(),
            7
        );
        let huge = Usage {
            prompt_tokens: u32::MAX,
            completion_tokens: 1,
            cached_prompt_tokens: 0,
        };
        assert_eq!(huge.total(), u32::MAX);
    }
}
