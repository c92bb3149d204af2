//! An Anthropic Messages request body, as a client sends it, into the normalized [`Request`].
//!
//! The body is walked as JSON rather than deserialized into structs so that every refusal
//! names its field the way Anthropic does (`messages.1.content.0.type`). Like Anthropic, the
//! gateway refuses fields it does not know: a field it cannot honour for every target is a
//! 400 naming it, never dropped. Two are accepted and ignored, on purpose:
//!
//! - `cache_control` (top level, on blocks and tools): prompt caching is a cost hint that
//!   never changes a reply, and OpenAI and Gemini cache on their own;
//! - `citations: null` or `[]` on text blocks, and `thinking: {"type": "disabled"}`, which
//!   ask for nothing.
//!
//! Refused: extended `thinking` (replies carry no thinking blocks), `output_config.effort`,
//! a `service_tier` other than `auto`, server tools, documents, files, thinking blocks,
//! images inside tool results, and any field this module does not name.
//!
//! Tool results: the normalized conversation follows OpenAI, where each tool result is its
//! own `tool` message. A user message's `tool_result` blocks become one [`Role::Tool`]
//! message each, split out of the user message in the order they came.

mod conversation;
mod options;
mod read;
mod tools;

use serde_json::{Map, Value};
use switchyard_core::dialect::{Dialect, estimate_tokens_from_chars};
use switchyard_core::request::{Capabilities, Message, Original, Part, Request, Tool};

pub(crate) use read::Refused;
use read::{as_array, as_bool, as_str, as_u32, extra, field, refuse};

/// What an image counts for in the prompt-token estimate: its size is unknown here, and an
/// image Anthropic does not scale down costs up to about 1 600 tokens (1.15 megapixels).
pub(crate) const IMAGE_TOKENS: u32 = 1_600;

/// Per-message overhead in the token estimate (role markers), as the OpenAI endpoint counts.
const MESSAGE_TOKENS: u32 = 4;

/// The top-level fields this module reads, and nothing else.
const TOP_LEVEL: [&str; 16] = [
    "model",
    "max_tokens",
    "messages",
    "system",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "stream",
    "tools",
    "tool_choice",
    "metadata",
    "output_config",
    "thinking",
    "cache_control",
    "service_tier",
];

/// Where each normalized message came from: the client's message index (`None`: the
/// `system` field) and the index of its first block there.
pub(crate) type Origins = Vec<(Option<usize>, usize)>;

/// Parses a client's body, with its messages' [`Origins`]. `Err` names the field refused, in
/// Anthropic's words where it has them. Fields are checked in a fixed order (the required
/// ones, the conversation, tools, options), so a body with several faults is always refused
/// for the same one.
pub(crate) fn parse(body: &bytes::Bytes) -> Result<(Request, Origins), Refused> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return refuse("", format!("The request body is not valid JSON: {e}")),
    };
    let Some(top) = value.as_object() else {
        return refuse("", crate::chat::not_an_object(&value).unwrap_or_default());
    };
    if let Some(k) = top.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return extra(k.as_str());
    }
    let Required {
        model,
        max_tokens,
        list,
    } = required(top)?;

    let mut needs = Capabilities::NONE;
    let (messages, origins) = conversation::messages(top, list, &mut needs)?;

    let tools = match field(top, "tools") {
        Some(v) => tools::tools(v)?,
        None => Vec::new(),
    };
    if !tools.is_empty() {
        needs = needs.union(Capabilities::TOOLS);
    }
    let (tool_choice, parallel_tool_calls) = match field(top, "tool_choice") {
        Some(v) => tools::tool_choice(v)?,
        None => (None, None),
    };
    let response_format = match field(top, "output_config") {
        Some(v) => options::output_config(v)?,
        None => None,
    };
    if response_format.is_some() {
        needs = needs.union(Capabilities::JSON_MODE);
    }
    options::accepted_as_is(top)?;
    let sampling = options::sampling(top)?;
    let user = options::user(top)?;
    let stream = field(top, "stream")
        .map(|v| as_bool(v, "stream"))
        .transpose()?
        .unwrap_or(false);

    let estimated_prompt_tokens = estimate(&messages, &tools);
    let request = Request {
        route: model.to_owned(),
        messages,
        max_tokens: Some(max_tokens),
        stream,
        task: None,
        estimated_prompt_tokens,
        needs,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        sampling,
        n: None,
        user,
        // Unknown fields were refused above.
        unmodelled: Vec::new(),
        original: Some(Original {
            dialect: Dialect::Anthropic,
            body: body.clone(),
            raw_reply: false,
            layout: None,
        }),
    };
    Ok((request, origins))
}

/// The fields every request must carry.
struct Required<'a> {
    model: &'a str,
    max_tokens: u32,
    /// `messages`, not empty.
    list: &'a [Value],
}

/// `model`, `max_tokens` and `messages`, checked in that order.
fn required(top: &Map<String, Value>) -> Result<Required<'_>, Refused> {
    let Some(model) = field(top, "model") else {
        return refuse("model", "Field required");
    };
    let model = as_str(model, "model")?;
    if model.is_empty() {
        return refuse("model", "String should have at least 1 character");
    }
    let Some(max_tokens) = field(top, "max_tokens") else {
        return refuse("max_tokens", "Field required");
    };
    let max_tokens = as_u32(max_tokens, "max_tokens", 1)?;
    let Some(list) = field(top, "messages") else {
        return refuse("messages", "Field required");
    };
    let list = as_array(list, "messages")?;
    if list.is_empty() {
        return refuse("messages", "List should have at least 1 item");
    }
    Ok(Required {
        model,
        max_tokens,
        list,
    })
}

/// Prompt tokens, roughly: four characters a token over text, tool calls and results, a
/// fixed [`IMAGE_TOKENS`] an image, and the tools' names, descriptions and schemas.
pub(crate) fn estimate(messages: &[Message], tools: &[Tool]) -> u32 {
    let mut total: u32 = 0;
    for m in messages {
        let images = m
            .content
            .iter()
            .filter(|p| matches!(p, Part::Image(_)))
            .count();
        let images = u32::try_from(images).unwrap_or(u32::MAX);
        total = total
            .saturating_add(estimate_tokens_from_chars(m.chars()))
            .saturating_add(MESSAGE_TOKENS)
            .saturating_add(images.saturating_mul(IMAGE_TOKENS));
    }
    for t in tools {
        let schema = t.parameters.as_ref().map_or(0, |s| s.to_string().len());
        let chars = t
            .name
            .len()
            .saturating_add(t.description.as_ref().map_or(0, String::len))
            .saturating_add(schema);
        total = total.saturating_add(estimate_tokens_from_chars(chars));
    }
    total
}
