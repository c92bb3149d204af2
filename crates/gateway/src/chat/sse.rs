//! The SSE body of a streamed chat completion.

use axum::body::{Body, Bytes};
use switchyard_core::dialect::SseEvent;
use switchyard_core::dialect::openai::{ChatCompletionChunk, DONE, DeltaFunction, DeltaToolCall};
use switchyard_live::adapter::RawEvent;
use switchyard_live::{StreamEvent, StreamItem};

use crate::access_log::AccessLog;
use crate::errors::ApiError;

/// The SSE body. When the stream's target speaks OpenAI or Azure OpenAI (the client's own
/// body was sent to it), the target's chunks go on as they came, each re-framed only as
/// `data: ...\n\n`: every field kept (`system_fingerprint`, a chunk's `logprobs`, ...),
/// with the target's own `id`, `created` and `model`, as an unstreamed reply's body is
/// (Azure's opening chunk without choices is left out, see [`State::forwarded`]). Only
/// usage is rewritten: the gateway always asks the target for it, so when the client did not
/// (`stream_options.include_usage`), the target's usage chunk is dropped and the
/// `"usage":null` entry it adds to the other chunks is cut out. Then `[DONE]`, the gateway's
/// own (a usage chunk written here first when the client asked and the target sent none).
///
/// Otherwise (an Anthropic or Gemini target), and for what a continuation (`resume: prefill`)
/// sends, the gateway writes the chunks itself: a role chunk, text and tool-call chunks as
/// they arrive, then the finish chunk, the usage chunk when asked, and `[DONE]`. A stream
/// continued after forwarded chunks keeps the `id`, `created` and `model` its client saw,
/// and sends no second role chunk. A tool call's first chunk carries its `id`, `type` and
/// `function.name` with `arguments: ""`; its arguments follow in chunks of their own (a call
/// that arrives whole, from Gemini, is sent as those two chunks). A stream that breaks (and
/// is not continued) ends with an in-band error event,
/// `data: {"error":{"message","type","param","code"}}` as [`ApiError::from_route`] words it
/// (502 `server_error`, code `stream_interrupted` for a cut), then the body ends without a
/// finish chunk or `[DONE]`: the OpenAI SDKs raise `APIError` on it, never a clean but
/// truncated answer. Shutdown's cut ends it the same way (503 `server_error`, code
/// `shutdown`).
///
/// The body pulls from the router's stream (no task in between): when the client disconnects,
/// hyper drops the body, which drops the `ChatStream`, which abandons the request at once —
/// even while the upstream is silent.
pub(super) fn sse_body(
    stream: switchyard_live::ChatStream,
    id: String,
    created: u64,
    include_usage: bool,
    (log, router): (AccessLog, switchyard_live::Driver),
    (route, expose): (String, bool),
    cut: &crate::events::Cut,
) -> Body {
    let model = stream.model.clone();
    let forward = stream.forwards_raw();
    let state = State {
        stream,
        id,
        created,
        model,
        include_usage,
        queued: std::collections::VecDeque::new(),
        // A forwarded stream's role chunk is the target's.
        started: forward,
        over: false,
        forward,
        usage_sent: false,
        access: (log, router),
        route,
        expose,
    };
    // The state boxed: `unfold` moves it in and out of its future at every frame.
    crate::events::body(
        futures_util::stream::unfold(Box::new(state), |mut st| async move {
            let frame = st.next_frame().await?;
            Some((frame, st))
        }),
        cut,
        shutdown_event,
    )
}

/// The in-band event a stream cut by shutdown ends with (made only then).
fn shutdown_event() -> Bytes {
    let body = serde_json::to_string(ApiError::shutdown().body()).unwrap_or_default();
    Bytes::from(SseEvent::data(body).to_wire())
}

/// Where a stream's body is: what it sends from, and what it has sent.
struct State {
    stream: switchyard_live::ChatStream,
    /// What the chunks written here say; a forwarded stream's own once its first chunk named
    /// them.
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// Frames decided but not yet sent (the end sends up to three).
    queued: std::collections::VecDeque<Bytes>,
    started: bool,
    over: bool,
    /// The target's chunks go on as they came; false once the gateway writes them (for the
    /// rest of the stream).
    forward: bool,
    /// A forwarded usage chunk reached the client.
    usage_sent: bool,
    access: (AccessLog, switchyard_live::Driver),
    /// The `model` the client named, and whether errors tell the attempts.
    route: String,
    expose: bool,
}

impl State {
    /// The next frame to send, `None` once the body is over.
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.queued.pop_front() {
                return Some(frame);
            }
            if self.over {
                return None;
            }
            if !self.started {
                self.started = true;
                return Some(self.chunk(Some(String::new()), None, true));
            }
            let event = match self.stream.next_item().await {
                None => {
                    self.over = true;
                    continue;
                }
                Some(Ok(StreamItem::Raw(raw))) => match self.forwarded(raw) {
                    Some(frame) => return Some(frame),
                    None => continue,
                },
                Some(Ok(StreamItem::Event(event))) => event,
                Some(Err(e)) => return Some(self.error(&e)),
            };
            match event {
                // Sent already, in the chunk that carried it.
                StreamEvent::Delta(_) | StreamEvent::ToolCall { .. } if self.forwarding() => {}
                StreamEvent::Delta(text) => {
                    return Some(self.chunk(Some(text), None, false));
                }
                StreamEvent::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => return Some(self.tool_call(index, id, name, arguments)),
                StreamEvent::End { finish, usage, .. } => self.end(finish, usage),
            }
        }
    }

    /// Whether the stream's chunks still go on as they came: false from the first event of
    /// a continuation on (its chunks are not the client's target's).
    fn forwarding(&mut self) -> bool {
        self.forward &= self.stream.forwards_raw();
        self.forward
    }

    /// A target's chunk as it goes to the client: as it came, or without its usage when the
    /// client did not ask for it (`None`: the usage chunk, not sent). A chunk with no choices
    /// and no usage (Azure's opening filter results) is not sent either: OpenAI never sends
    /// one, and client code that reads `choices[0]` of every chunk fails on it.
    fn forwarded(&mut self, mut raw: RawEvent) -> Option<Bytes> {
        if !self.forwarding() {
            return None;
        }
        // Taken from a chunk not sent too: a continuation writes under the target's id.
        if let Some(head) = raw.head.take() {
            let head = *head;
            (self.id, self.created, self.model) = (head.id, head.created, head.model);
        }
        if raw.empty {
            return None;
        }
        if self.include_usage {
            self.usage_sent |= raw.reports_usage;
            return Some(raw.wire);
        }
        if raw.usage_only {
            return None;
        }
        Some(raw.without_usage())
    }

    fn chunk(
        &self,
        text: Option<String>,
        finish: Option<switchyard_core::request::FinishReason>,
        role: bool,
    ) -> Bytes {
        let c = ChatCompletionChunk::delta(
            &self.id,
            self.created,
            &self.model,
            role,
            text,
            finish,
            self.include_usage,
        );
        event(&c)
    }

    fn call(&self, call: DeltaToolCall) -> Bytes {
        let c = ChatCompletionChunk::tool_calls(
            &self.id,
            self.created,
            &self.model,
            vec![call],
            self.include_usage,
        );
        event(&c)
    }

    /// A tool call's chunk: its arguments alone when it continues a call, else its head
    /// (`id`, `type`, `function.name`, empty `arguments`) with its arguments queued after.
    fn tool_call(
        &mut self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    ) -> Bytes {
        let more = |arguments: String| DeltaToolCall {
            index,
            function: Some(DeltaFunction {
                name: None,
                arguments: Some(arguments),
            }),
            ..DeltaToolCall::default()
        };
        if id.is_none() && name.is_none() {
            return self.call(more(arguments));
        }
        let head = self.call(DeltaToolCall {
            index,
            id,
            kind: Some("function".to_owned()),
            function: Some(DeltaFunction {
                name: Some(name.unwrap_or_default()),
                arguments: Some(String::new()),
            }),
        });
        if !arguments.is_empty() {
            let c = self.call(more(arguments));
            self.queued.push_back(c);
        }
        head
    }

    /// The stream ended: booked, and the finish chunk, the usage chunk when asked, and
    /// `[DONE]` queued (of a forwarded stream, only `[DONE]`, and the usage chunk when asked
    /// and the target sent none).
    fn end(
        &mut self,
        finish: switchyard_core::request::FinishReason,
        usage: switchyard_core::request::Usage,
    ) {
        self.over = true;
        self.access
            .0
            .stream_end(&self.access.1, &self.stream, usage);
        let forwarded = self.forwarding();
        if !forwarded {
            let c = self.chunk(None, Some(finish), false);
            self.queued.push_back(c);
        }
        if self.include_usage && !(forwarded && self.usage_sent) {
            let u = ChatCompletionChunk::usage(&self.id, self.created, &self.model, usage);
            self.queued.push_back(event(&u));
        }
        self.queued
            .push_back(Bytes::from(SseEvent::data(DONE.to_owned()).to_wire()));
    }

    /// The stream broke: booked, and the in-band error event that ends the body.
    fn error(&mut self, e: &switchyard_live::RouteError) -> Bytes {
        self.over = true;
        self.access.0.failed(e);
        let error = ApiError::from_route(e, &self.route, self.expose);
        let data = serde_json::to_string(error.body()).unwrap_or_default();
        Bytes::from(SseEvent::data(data).to_wire())
    }
}

fn event(c: &ChatCompletionChunk) -> Bytes {
    Bytes::from(SseEvent::data(serde_json::to_string(c).unwrap_or_default()).to_wire())
}
