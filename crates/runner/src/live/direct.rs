//! One request straight to the live router in process.

use switchyard_core::outcome::{ErrorKind, FailureReason, FinalOutcome};
use switchyard_core::request::{Message, Request, Role};
use switchyard_live::{AttemptSink, ChatStream, Driver, StreamEvent};

use super::books::{Done, Gaps};
use super::{Ticket, prompt_text};

/// One request through the router in process; its attempts also go to `sink` as they end.
pub(super) async fn one(
    r: &Driver,
    mut request: Request,
    ticket: Ticket,
    sink: &AttemptSink,
) -> Done {
    // The class's prompt size on the wire, not the template's few words.
    request.messages = vec![Message::text(
        Role::User,
        prompt_text(request.estimated_prompt_tokens),
    )];
    let stream = request.stream;
    let failed = |e: switchyard_live::RouteError| {
        let mut done = ticket.done(
            stream,
            FinalOutcome::Failed(e.outcome),
            e.attempts.into_iter().map(|a| a.1).collect(),
        );
        (done.cost, done.wasted_cost) = (e.cost, e.cost);
        done
    };
    if stream {
        return match r.chat_stream_into(request, Some(sink.clone())).await {
            Err(e) => failed(e),
            Ok(s) => read_stream(s, ticket).await,
        };
    }
    match r.chat_into(request, Some(sink.clone())).await {
        Ok(reply) => {
            let first = ticket.now().saturating_since(ticket.intended);
            let mut done = ticket.done(
                stream,
                FinalOutcome::Served(reply.served_by),
                reply.attempts,
            );
            // What the core booked for every attempt: a failed one's usage, if it reported
            // any, and a hedge that lost, its prompt's estimate (cancelled as the reply
            // served the request, before the reply was built).
            (done.cost, done.wasted_cost) = (reply.cost, reply.wasted_cost);
            done.output_tokens = reply.usage.completion_tokens;
            done.first_token = Some(first);
            done
        }
        Err(e) => failed(e),
    }
}

/// A stream the router opened, read to its end: time to first token and the gaps at its
/// content chunks, what it cost, and whether a continuation completed it.
async fn read_stream(mut s: ChatStream, ticket: Ticket) -> Done {
    let mut first = None;
    let mut gaps = Gaps::default();
    let mut output_tokens = 0;
    let mut result = FinalOutcome::Failed(FailureReason::Attempt(ErrorKind::StreamInterrupted));
    while let Some(event) = s.next().await {
        match event {
            Ok(StreamEvent::Delta(text)) if text.is_empty() => {}
            Ok(StreamEvent::Delta(_) | StreamEvent::ToolCall { .. }) => {
                let at = ticket.now();
                first = first.or_else(|| Some(at.saturating_since(ticket.intended)));
                gaps.chunk(at);
            }
            Ok(StreamEvent::End { usage, .. }) => {
                result = FinalOutcome::Served(s.served_by);
                output_tokens = usage.completion_tokens;
                break;
            }
            Err(e) => {
                result = FinalOutcome::Failed(e.outcome);
                break;
            }
        }
    }
    let resumed = s.resumed();
    let (cost, wasted_cost) = s.cost();
    let mut done = ticket.done(true, result, s.history());
    done.first_token = first;
    done.cost = cost;
    done.wasted_cost = wasted_cost;
    done.resumed = resumed;
    done.output_tokens = output_tokens;
    done.gaps = gaps;
    done
}
