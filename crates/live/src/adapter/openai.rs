//! OpenAI and Azure OpenAI (the same bodies; Azure names the model in the path).

use switchyard_core::dialect::azure_openai;
use switchyard_core::dialect::openai::{
    ChatCompletion, ChatCompletionChunk, ChatRequest, DONE, PATH, parse_finish,
};
use switchyard_core::request::{Request, Usage};

use super::{Decoded, Step, StreamDecoder, malformed};
use crate::sse::Event;
use switchyard_core::outcome::Outcome;

pub(super) fn encode(model: &str, request: &Request, azure: bool) -> (String, Vec<u8>) {
    let mut body = ChatRequest::from_normalized(request, model);
    let path = if azure {
        // The deployment picks the model; the body does not name it.
        body.model = String::new();
        format!(
            "{}?api-version={}",
            azure_openai::path(model),
            azure_openai::API_VERSION
        )
    } else {
        PATH.to_owned()
    };
    if !azure {
        return (path, serde_json::to_vec(&body).unwrap_or_default());
    }
    let mut json = serde_json::to_value(&body).unwrap_or_default();
    if let Some(map) = json.as_object_mut() {
        map.remove("model");
    }
    (path, json.to_string().into_bytes())
}

pub(super) fn decode(body: &[u8]) -> Option<Decoded> {
    let reply: ChatCompletion = serde_json::from_slice(body).ok()?;
    let usage = reply.usage.map(Usage::from)?;
    let (text, finish) = reply.text();
    Some(Decoded {
        text,
        finish,
        usage,
    })
}

pub(super) fn step(d: &mut StreamDecoder, event: &Event) -> Result<Step, Outcome> {
    if event.data == DONE {
        return Ok(Step::Done);
    }
    let chunk: ChatCompletionChunk = match serde_json::from_str(&event.data) {
        Ok(c) => c,
        // (Azure's opening filter-results chunk parses too: it has every field, no choices.)
        Err(_) => return Err(malformed()),
    };
    if let Some(Some(u)) = chunk.usage {
        d.usage = u.into();
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
