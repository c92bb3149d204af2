//! OpenAI and Azure OpenAI (the same bodies; Azure names the model in the path).

use std::borrow::Cow;
use switchyard_core::dialect::{Dialect, Unsupported, azure_openai};

use serde::Deserialize;
use serde::de::IgnoredAny;
use switchyard_core::dialect::openai::{
    ChatCompletionChunk, ChatRequest, CompletionUsage, DONE, PATH, parse_finish, pass_through,
};
use switchyard_core::request::{FinishReason, Request, Usage};

use super::{Decoded, Step, StreamDecoder, estimated_usage, foreign_event, malformed};
use crate::sse::Event;
use switchyard_core::outcome::Outcome;

/// The body for an OpenAI or Azure OpenAI target. A request whose client spoke OpenAI
/// (`request.original`) is sent as the client sent it, with only the model (Azure: removed,
/// the deployment in the path names it) and, for a stream, `stream_options.include_usage`
/// rewritten: fields Switchyard does not know reach the target unchanged.
pub(super) fn encode(
    model: &str,
    request: &Request,
    azure: bool,
) -> Result<(String, Vec<u8>), Unsupported> {
    let path = if azure {
        format!(
            "{}?api-version={}",
            azure_openai::path(model),
            azure_openai::API_VERSION
        )
    } else {
        PATH.to_owned()
    };
    let body_model = (!azure).then_some(model);
    if let Some(original) = &request.original
        && original.dialect == Dialect::Openai
        && let Some(body) = pass_through(&original.body, body_model, request.stream)
    {
        return Ok((path, body));
    }
    let body = ChatRequest::from_normalized(request, model)?;
    if !azure {
        return Ok((path, serde_json::to_vec(&body).unwrap_or_default()));
    }
    // The deployment picks the model; the body does not name it.
    let mut json = serde_json::to_value(&body).unwrap_or_default();
    if let Some(map) = json.as_object_mut() {
        map.remove("model");
    }
    Ok((path, json.to_string().into_bytes()))
}

/// What `decode` reads of a `chat.completion`: the fields it needs, borrowed from the body,
/// with the rest skipped (but `id`, `object`, `created` and `model` still required, as in
/// [`ChatCompletion`](switchyard_core::dialect::openai::ChatCompletion)). Half the work of building the whole `ChatCompletion`, on every reply.
#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(rename = "id")]
    _id: IgnoredAny,
    #[serde(rename = "object")]
    _object: IgnoredAny,
    #[serde(rename = "created")]
    _created: IgnoredAny,
    #[serde(rename = "model")]
    _model: IgnoredAny,
    #[serde(borrow)]
    choices: Vec<ReplyChoice<'a>>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct ReplyChoice<'a> {
    #[serde(borrow)]
    message: ReplyMessage<'a>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ReplyMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

pub(super) fn decode(body: &[u8]) -> Option<Decoded> {
    let reply: Reply<'_> = serde_json::from_slice(body).ok()?;
    let (text, finish) =
        reply
            .choices
            .into_iter()
            .next()
            .map_or((String::new(), FinishReason::Stop), |c| {
                (
                    c.message.content.map(Cow::into_owned).unwrap_or_default(),
                    c.finish_reason
                        .as_deref()
                        .map_or(FinishReason::Stop, parse_finish),
                )
            });
    let usage = reply.usage.map(Usage::from);
    Some(Decoded {
        usage: usage.unwrap_or_else(|| estimated_usage(&text)),
        usage_missing: usage.is_none(),
        text,
        finish,
    })
}

pub(super) fn step(d: &mut StreamDecoder, event: &Event) -> Result<Step, Outcome> {
    if foreign_event(event) {
        return Ok(Step::Nothing);
    }
    if event.data == DONE {
        return Ok(Step::Done);
    }
    let chunk: ChatCompletionChunk = match serde_json::from_str(&event.data) {
        Ok(c) => c,
        // (Azure's opening filter-results chunk parses too: it has every field, no choices.)
        Err(_) => return Err(malformed()),
    };
    if let Some(Some(u)) = chunk.usage {
        d.report_prompt(u.prompt_tokens);
        d.report_completion(u.completion_tokens);
    }
    let mut text = String::new();
    for choice in &chunk.choices {
        if let Some(c) = &choice.delta.content {
            text.push_str(c);
        }
        if let Some(f) = &choice.finish_reason {
            d.finish = Some(parse_finish(f));
        }
    }
    Ok(Step::Text(text))
}
