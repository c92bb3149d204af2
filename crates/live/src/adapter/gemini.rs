//! Gemini generateContent; streams end with the chunk that carries `finishReason`.

use switchyard_core::dialect::Unsupported;
use switchyard_core::dialect::gemini::{GenerateRequest, GenerateResponse, path};
use switchyard_core::outcome::Outcome;
use switchyard_core::request::{FinishReason, Request, Usage};

use super::{Decoded, Step, StreamDecoder, estimated_usage, foreign_event, malformed};
use crate::sse::Event;

pub(super) fn encode(model: &str, request: &Request) -> Result<(String, Vec<u8>), Unsupported> {
    let body = GenerateRequest::from_normalized(request)?;
    let mut p = path(model, request.stream);
    if request.stream {
        p.push_str("?alt=sse");
    }
    Ok((p, serde_json::to_vec(&body).unwrap_or_default()))
}

fn usage(r: &GenerateResponse) -> Option<Usage> {
    r.usage_metadata.map(|u| Usage {
        prompt_tokens: u.prompt_token_count,
        completion_tokens: u.candidates_token_count,
        cached_prompt_tokens: 0,
    })
}

pub(super) fn decode(body: &[u8]) -> Option<Decoded> {
    let reply: GenerateResponse = serde_json::from_slice(body).ok()?;
    let (text, finish) = reply.text();
    let usage = usage(&reply);
    Some(Decoded {
        usage: usage.unwrap_or_else(|| estimated_usage(&text)),
        usage_missing: usage.is_none(),
        text,
        finish: finish.unwrap_or(FinishReason::Stop),
    })
}

pub(super) fn step(d: &mut StreamDecoder, event: &Event) -> Result<Step, Outcome> {
    if foreign_event(event) {
        return Ok(Step::Nothing);
    }
    let chunk: GenerateResponse = serde_json::from_str(&event.data).map_err(|_| malformed())?;
    let (text, finish) = chunk.text();
    if let Some(u) = usage(&chunk) {
        // Each chunk's usage is the running total: the last one wins.
        d.report_prompt(u.prompt_tokens);
        d.report_completion(u.completion_tokens);
    }
    if let Some(f) = finish {
        // The last chunk: its text (if any) still goes to the caller.
        d.finish = Some(f);
        d.done = true;
    }
    Ok(Step::Text(text))
}
