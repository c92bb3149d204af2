//! What a reply says: text, JSON, or tool calls, decided from what the request asked and the
//! model's draw. Deterministic: the same request and draw give the same content.
//!
//! The rule for tool calls:
//! - no tools, or a `none` choice: no call;
//! - a named tool: one call to it;
//! - a required choice (OpenAI `required`, Anthropic `any`, Gemini `ANY`): calls to the tools
//!   (among the allowed ones) whose names occur in the last user message's text, in the
//!   order declared, or to the first (allowed) tool when none occurs; only the first when
//!   parallel calls are off;
//! - `auto`: after tool results, no call (the model answers); otherwise as a required choice
//!   if some declared tool's name occurs in the last user message's text, else no call.
//!
//! A call's arguments are [`crate::schema::instance`] of the tool's schema. Without calls,
//! the reply is text: the model's words (continuing a prefill with a space first), or in JSON
//! mode the JSON text — an instance of the schema when one is given, else
//! `{"answer": "<the model's words>"}`.
//!
//! Tokens: plain text has the model's drawn count. JSON text is streamed and counted in
//! pieces of [`PIECE_CHARS`] characters; a call counts one token for its name plus its
//! arguments' pieces. Structured content (JSON, calls) is never cut by `max_tokens`.

use serde_json::Value;
use switchyard_core::request::FinishReason;

use super::request::{Asked, Choice, Format};
use crate::model::Reply;

/// Characters in one streamed piece of JSON (a token, roughly).
pub(super) const PIECE_CHARS: usize = 4;

/// One tool call.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Call {
    pub name: String,
    pub arguments: Value,
    /// The arguments' JSON text, in streamed pieces.
    pub pieces: Vec<String>,
}

impl Call {
    pub fn arguments_text(&self) -> String {
        self.pieces.concat()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Content {
    /// The text, and its streamed pieces (which add up to it).
    Text {
        text: String,
        pieces: Vec<String>,
    },
    Calls(Vec<Call>),
}

impl Content {
    /// Output tokens the reply reports.
    pub fn tokens(&self) -> u32 {
        let n = match self {
            Content::Text { pieces, .. } => pieces.len(),
            Content::Calls(calls) => calls
                .iter()
                .map(|c| c.pieces.len().saturating_add(1))
                .fold(0usize, usize::saturating_add),
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// `text` cut into pieces of [`PIECE_CHARS`] characters.
pub(super) fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(PIECE_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

/// The tools to call, by the rule in the module doc.
fn calls_wanted(asked: &Asked) -> Vec<&str> {
    let mentioned = |allowed: Option<&Vec<String>>| -> Vec<&str> {
        asked
            .tools
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| allowed.is_none_or(|a| a.iter().any(|x| x == n)))
            .filter(|n| asked.last_user_text.contains(n))
            .collect()
    };
    let mut wanted = match &asked.choice {
        Choice::None => Vec::new(),
        Choice::Named(name) => vec![name.as_str()],
        Choice::Required { allowed } => {
            let named = mentioned(allowed.as_ref());
            if named.is_empty() {
                asked
                    .tools
                    .iter()
                    .map(|t| t.name.as_str())
                    .find(|n| allowed.as_ref().is_none_or(|a| a.iter().any(|x| x == n)))
                    .into_iter()
                    .collect()
            } else {
                named
            }
        }
        Choice::Auto if asked.after_tool_result => Vec::new(),
        Choice::Auto => mentioned(None),
    };
    if !asked.parallel {
        wanted.truncate(1);
    }
    wanted
}

/// The reply's content for `asked`, given the model's draw.
pub(super) fn decide(asked: &Asked, reply: &Reply) -> Content {
    let wanted = calls_wanted(asked);
    if !wanted.is_empty() {
        let calls = wanted
            .into_iter()
            .filter_map(|name| asked.tools.iter().find(|t| t.name == name))
            .map(|tool| {
                let arguments = crate::schema::instance(&tool.schema);
                Call {
                    name: tool.name.clone(),
                    pieces: pieces(&arguments.to_string()),
                    arguments,
                }
            })
            .collect();
        return Content::Calls(calls);
    }
    let words = crate::text::text(reply.text_seed, reply.output_tokens);
    match &asked.format {
        Format::Json(schema) => {
            let value = match schema {
                Some(s) => crate::schema::instance(s),
                None => serde_json::json!({ "answer": words }),
            };
            let text = value.to_string();
            Content::Text {
                pieces: pieces(&text),
                text,
            }
        }
        Format::Text => {
            // A continuation starts a new word after the prefill.
            let lead = asked
                .prefill
                .as_deref()
                .is_some_and(|p| !p.is_empty() && !p.ends_with(char::is_whitespace));
            let pieces: Vec<String> = crate::text::tokens(reply.text_seed, reply.output_tokens)
                .enumerate()
                .map(|(i, w)| {
                    if i == 0 && lead {
                        format!(" {w}")
                    } else {
                        crate::text::piece(i as u32, w)
                    }
                })
                .collect();
            let text = if lead { format!(" {words}") } else { words };
            Content::Text { text, pieces }
        }
    }
}

/// The finish reason for `content`: the model's for plain text, `ToolCalls` for calls, and
/// `Stop` for JSON (whole, whatever `max_tokens`).
pub(super) fn finish(asked: &Asked, content: &Content, drawn: FinishReason) -> FinishReason {
    match content {
        Content::Calls(_) => FinishReason::ToolCalls,
        Content::Text { .. } if matches!(asked.format, Format::Json(_)) => FinishReason::Stop,
        Content::Text { .. } => drawn,
    }
}
