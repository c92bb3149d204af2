//! Anthropic Messages.

use switchyard_core::dialect::anthropic::{
    MessageResponse, MessagesRequest, PATH, StreamEvent, parse_stop,
};
use switchyard_core::outcome::Outcome;
use switchyard_core::request::{Request, Usage};

use super::{Decoded, Step, StreamDecoder, malformed};
use crate::sse::Event;

pub(super) fn encode(model: &str, request: &Request) -> (String, Vec<u8>) {
    let body = MessagesRequest::from_normalized(request, model);
    (
        PATH.to_owned(),
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

pub(super) fn decode(body: &[u8]) -> Option<Decoded> {
    let reply: MessageResponse = serde_json::from_slice(body).ok()?;
    let (text, finish) = reply.text();
    let usage = Usage {
        prompt_tokens: reply.usage.input_tokens,
        completion_tokens: reply.usage.output_tokens,
    };
    Some(Decoded {
        text,
        finish,
        usage,
    })
}

pub(super) fn step(d: &mut StreamDecoder, event: &Event) -> Result<Step, Outcome> {
    let parsed: StreamEvent = serde_json::from_str(&event.data).map_err(|_| malformed())?;
    Ok(match parsed {
        StreamEvent::MessageStart { message } => {
            d.usage.prompt_tokens = message.usage.input_tokens;
            Step::Nothing
        }
        StreamEvent::ContentBlockDelta { delta, .. } => Step::Text(delta.text),
        StreamEvent::MessageDelta { delta, usage } => {
            d.finish = delta.stop_reason.as_deref().map(parse_stop);
            d.usage.completion_tokens = usage.output_tokens;
            Step::Nothing
        }
        StreamEvent::MessageStop => Step::Done,
        StreamEvent::Error { error } => {
            // An error in the middle of a stream (`overloaded_error`, ...).
            let body = serde_json::json!({ "type": "error", "error": error }).to_string();
            return Err(switchyard_core::dialect::anthropic::classify(
                500,
                &[("x", "x")],
                body.as_bytes(),
            ));
        }
        StreamEvent::ContentBlockStart { .. }
        | StreamEvent::ContentBlockStop { .. }
        | StreamEvent::Ping => Step::Nothing,
    })
}
