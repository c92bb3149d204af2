//! Gemini generateContent; streams end with the chunk that carries `finishReason`.
//!
//! Replies are read with lenient types of this module's own: parts may be text,
//! `functionCall`s (an `args` object, an `id` only on some models: ids are synthesised as
//! `call_<n>`, counting calls from 0 in the reply or stream), thoughts (not part of the
//! answer) or kinds added later (skipped).

use serde::Deserialize;
use serde_json::Value;
use switchyard_core::dialect::Unsupported;
use switchyard_core::dialect::gemini::{GenerateRequest, TOOL_FAILURES, parse_finish, path};
use switchyard_core::dialect::upstream::UpstreamError;
use switchyard_core::outcome::ErrorKind;
use switchyard_core::request::{Choice, FinishReason, Request, ToolCall, Usage};

use super::{
    Decoded, Failure, MAX_TOOL_CALLS, Piece, Step, StreamDecoder, estimated_usage, foreign_event,
    malformed,
};
use crate::sse::Event;

pub(super) fn encode(request: &Request) -> Result<Vec<u8>, Unsupported> {
    let body = GenerateRequest::from_normalized(request)?;
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}

/// Where a Gemini request for `model` goes (a stream asks for SSE).
pub(super) fn url_path(model: &str, stream: bool) -> String {
    let mut p = path(model, stream);
    if stream {
        p.push_str("?alt=sse");
    }
    p
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    /// Absent when the prompt was blocked (`promptFeedback` says why) and on a usage-only
    /// chunk.
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    index: u32,
}

#[derive(Default, Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    /// A thought summary: not part of the answer.
    #[serde(default)]
    thought: bool,
    #[serde(default)]
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u32,
    #[serde(default)]
    candidates_token_count: u32,
    /// Thinking tokens, which Gemini leaves out of `candidatesTokenCount`; counted as
    /// completion tokens here, as OpenAI and Anthropic count them.
    #[serde(default)]
    thoughts_token_count: u32,
    /// Of the prompt, tokens read from a cache.
    #[serde(default)]
    cached_content_token_count: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

fn usage(u: WireUsage) -> Usage {
    Usage {
        prompt_tokens: u.prompt_token_count,
        completion_tokens: u
            .candidates_token_count
            .saturating_add(u.thoughts_token_count),
        cached_prompt_tokens: u.cached_content_token_count.min(u.prompt_token_count),
    }
}

/// A reply that is no answer: a blocked prompt (`content_filtered`), or a tool-call failure
/// (`malformed_response`: the model may do better on another target).
fn refusal(reply: &Reply) -> Option<Failure> {
    if reply.candidates.is_empty()
        && let Some(reason) = reply
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.as_deref())
    {
        return Some(Failure {
            outcome: switchyard_core::outcome::Outcome::error(ErrorKind::ContentFiltered),
            upstream: Some(Box::new(UpstreamError::new(
                400,
                // OpenAI's type for a refused prompt (the driver's errors are in its words).
                "invalid_request_error",
                &format!("Gemini blocked the prompt (blockReason {reason})."),
            ))),
            usage: reply.usage_metadata.map(usage),
        });
    }
    let reason = reply
        .candidates
        .iter()
        .filter_map(|c| c.finish_reason.as_deref())
        .find(|r| TOOL_FAILURES.contains(r))?;
    Some(Failure {
        outcome: switchyard_core::outcome::Outcome::error(ErrorKind::MalformedResponse),
        upstream: Some(Box::new(UpstreamError::new(
            502,
            "server_error",
            &format!(
                "Gemini ended the reply with finishReason {reason}: the model did not make a valid tool call."
            ),
        ))),
        usage: reply.usage_metadata.map(usage),
    })
}

/// A candidate's text and calls; `next_call` numbers synthesised ids.
fn content(c: Option<Content>, next_call: &mut usize) -> Result<(String, Vec<ToolCall>), Failure> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in c.unwrap_or_default().parts {
        if let Some(f) = part.function_call {
            if *next_call >= MAX_TOOL_CALLS {
                return Err(malformed());
            }
            calls.push(ToolCall {
                id: f.id.unwrap_or_else(|| format!("call_{next_call}")),
                name: f.name,
                arguments: match f.args {
                    Some(v) if !v.is_null() => v.to_string(),
                    _ => "{}".to_owned(),
                },
            });
            *next_call += 1;
        } else if !part.thought
            && let Some(t) = part.text
        {
            text.push_str(&t);
        }
    }
    Ok((text, calls))
}

/// `STOP` with calls is a tool-call finish: Gemini has no reason of its own for it.
fn finish(reason: Option<&str>, calls: bool) -> FinishReason {
    match reason.map_or(FinishReason::Stop, parse_finish) {
        FinishReason::Stop if calls => FinishReason::ToolCalls,
        f => f,
    }
}

pub(super) fn decode(body: &[u8]) -> Result<Decoded, Failure> {
    let mut reply: Reply = serde_json::from_slice(body).map_err(|_| malformed())?;
    if let Some(f) = refusal(&reply) {
        return Err(f);
    }
    reply.candidates.sort_by_key(|c| c.index);
    let mut choices = Vec::with_capacity(reply.candidates.len());
    for c in reply.candidates {
        // Ids count from 0 within each candidate, as each is a reply of its own.
        let mut n = 0;
        let (text, tool_calls) = content(c.content, &mut n)?;
        choices.push(Choice {
            finish_reason: finish(c.finish_reason.as_deref(), !tool_calls.is_empty()),
            text,
            tool_calls,
        });
    }
    let mut rest = choices.into_iter();
    let first = rest.next().unwrap_or(Choice {
        text: String::new(),
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Stop,
    });
    let usage = reply.usage_metadata.map(usage);
    Ok(Decoded {
        usage: usage.unwrap_or_else(|| estimated_usage(&first.text)),
        usage_missing: usage.is_none(),
        text: first.text,
        tool_calls: first.tool_calls,
        finish: first.finish_reason,
        choices: rest.collect(),
        raw: None,
    })
}

/// One chunk. Only candidate 0 is read: the gateway refuses streams with `n` > 1.
pub(super) fn step(
    d: &mut StreamDecoder,
    event: &Event,
    out: &mut Vec<Piece>,
) -> Result<Step, Failure> {
    if foreign_event(event) {
        return Ok(Step::More);
    }
    let chunk: Reply = serde_json::from_str(&event.data).map_err(|_| malformed())?;
    if let Some(f) = refusal(&chunk) {
        return Err(f);
    }
    if let Some(u) = chunk.usage_metadata {
        // Each chunk's usage is the running total: the last one wins (a chunk without it
        // changes nothing).
        let u = usage(u);
        d.report_prompt(u.prompt_tokens);
        d.usage.cached_prompt_tokens = u.cached_prompt_tokens;
        d.report_completion(u.completion_tokens);
    }
    let Some(candidate) = chunk.candidates.into_iter().find(|c| c.index == 0) else {
        return Ok(Step::More);
    };
    let mut n = d.calls.len();
    let (text, calls) = content(candidate.content, &mut n)?;
    d.text(out, text);
    for call in calls {
        // Each call arrives whole: one piece with everything.
        let index = d.start_call(call.id.clone(), call.name.clone())?;
        d.append_arguments(index, &call.arguments)?;
        out.push(Piece::ToolCall {
            index,
            id: Some(call.id),
            name: Some(call.name),
            arguments: call.arguments,
        });
    }
    if let Some(f) = candidate.finish_reason {
        // The last chunk: its text and calls (if any) still go to the caller; STOP after
        // calls becomes `tool_calls` when the stream ends.
        d.finish = Some(parse_finish(&f));
        return Ok(Step::Done);
    }
    Ok(Step::More)
}
