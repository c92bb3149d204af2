//! Reading a request body the way its vendor does: what the vendor refuses is a `Refusal`
//! (rendered by the dialect's handler in the vendor's error format), what it takes is an
//! `Asked`: what the reply must be (text, JSON, tool calls), its limits and its prompt size.
//!
//! Each reader works on the raw JSON (`serde_json::Value`), not on the core's wire types:
//! the fakes are an independent check of what Switchyard's encoders send.
//!
//! Prompt tokens are estimated as the core does for text (a quarter of the characters,
//! rounded up, plus 4 a message), plus a quarter of the tool declarations' JSON, plus
//! [`IMAGE_TOKENS`] an image.

pub(super) mod anthropic;
pub(super) mod gemini;
pub(super) mod openai;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Prompt tokens an image costs, whatever its size or detail (Gemini's figure for a small
/// image; one figure for every dialect keeps the fake predictable).
pub const IMAGE_TOKENS: u32 = 258;

/// A request the vendor would refuse: the status and what its error body says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    pub status: u16,
    pub message: String,
    /// OpenAI's `param`: the field at fault.
    pub param: Option<String>,
    /// OpenAI's `code`.
    pub code: Option<&'static str>,
}

impl Refusal {
    pub fn bad(message: impl Into<String>) -> Self {
        Refusal {
            status: 400,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
}

/// Switches a fake's behaviour the profile sets and the control API
/// (`POST /_fake/options`) changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// A conversation ending with an assistant (Anthropic) or model (Gemini) turn is
    /// continued; `false` refuses it with the vendor's 400, as the newest models do.
    pub prefill: bool,
    /// Image parts are taken; `false` refuses them with a 400, as a text-only model does.
    pub vision: bool,
}

/// A tool the request declares.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ToolDecl {
    pub name: String,
    /// The arguments' JSON Schema (`{"type":"object"}` when the tool declares none).
    pub schema: Value,
}

/// Whether the reply may, must or must not call a tool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum Choice {
    /// The model decides (see `content::decide` for the fake's rule).
    Auto,
    /// No call.
    #[default]
    None,
    /// At least one call, to one of `allowed` (every declared tool when `None`).
    Required { allowed: Option<Vec<String>> },
    /// Exactly one call, to this tool.
    Named(String),
}

/// The shape the reply's text must have.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) enum Format {
    #[default]
    Text,
    /// Valid JSON; an instance of the schema when there is one.
    Json(Option<Value>),
}

/// What a request asks of the reply, once the vendor's checks passed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Asked {
    pub model: String,
    pub prompt_tokens: u32,
    /// 0: none set.
    pub max_tokens: u32,
    pub stream: bool,
    /// OpenAI's `stream_options.include_usage`.
    pub include_usage: bool,
    /// OpenAI's `logprobs: true`, with its `top_logprobs` (0 when unset): the reply's text
    /// tokens come with their log probabilities.
    pub logprobs: Option<u8>,
    pub tools: Vec<ToolDecl>,
    pub choice: Choice,
    /// More than one call may be made.
    pub parallel: bool,
    pub format: Format,
    /// The text of a final assistant (model) turn to continue.
    pub prefill: Option<String>,
    /// The text of the last user message (the fake's `auto` rule reads it).
    pub last_user_text: String,
    /// The conversation ends with tool results.
    pub after_tool_result: bool,
}

/// Counts a prompt as the core does: per message, a quarter of its characters rounded up,
/// plus 4; images and tool declarations on top.
#[derive(Debug, Default)]
pub(super) struct Tally {
    tokens: u64,
}

impl Tally {
    pub fn message(&mut self, chars: usize) {
        self.tokens = self
            .tokens
            .saturating_add((chars as u64).div_ceil(4))
            .saturating_add(4);
    }

    pub fn image(&mut self) {
        self.tokens = self.tokens.saturating_add(u64::from(IMAGE_TOKENS));
    }

    pub fn tools(&mut self, declarations: &Value) {
        let chars = declarations.to_string().chars().count() as u64;
        self.tokens = self.tokens.saturating_add(chars.div_ceil(4));
    }

    pub fn total(&self) -> u32 {
        u32::try_from(self.tokens).unwrap_or(u32::MAX)
    }
}

/// A field by its camelCase or snake_case name (proto3 JSON takes both).
pub(super) fn either<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

/// Is this a name a vendor takes for a function (`[a-zA-Z0-9_-]`, 1 to 64)?
pub(super) fn plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `{"type":"object","properties":{}}`: the schema of a tool without arguments.
pub(super) fn no_arguments() -> Value {
    serde_json::json!({ "type": "object", "properties": {} })
}
