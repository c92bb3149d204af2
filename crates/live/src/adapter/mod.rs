//! Dialect adapters: the normalized request onto the wire, and the wire back into outcomes.
//!
//! Built on `core::dialect` (the same types the fakes write). Every way a reply can go wrong
//! ends as an outcome: a status and body are classified by the dialect, a body that is not
//! what the dialect promises is `malformed_response`, a stream that ends without its
//! terminating event is `stream_interrupted` — never a truncated success.
//!
//! What the adapters forgive, because real providers do it: stream events of a type they do
//! not know (and `ping`s) are skipped, not errors; a reply or stream without usage is a
//! success with estimated usage (see [`estimated_usage`]) and `usage_missing` set. Everything
//! an upstream sends is read within [`InputLimits`].

mod anthropic;
mod checked;
mod gemini;
mod headers;
mod input;
mod openai;
mod prepare;
mod raw;

pub use headers::{Headers, ReplyView, classify, limits, view};
pub use input::{InputLimits, ReadError, read_capped, read_error_body};
pub use prepare::{body, prepare};
pub use raw::{Head, RawEvent};

use std::collections::BTreeMap;

use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use bytes::Bytes;
use http_body_util::Full;
use switchyard_core::credentials::{AuthStyle, Secret};
use switchyard_core::dialect::upstream::{self, UpstreamError};
use switchyard_core::dialect::{Dialect, Unsupported, estimate_tokens, estimate_tokens_from_chars};
use switchyard_core::outcome::{ErrorKind, Outcome};
use switchyard_core::request::{Choice, FinishReason, Request as ChatRequest, ToolCall, Usage};

use crate::sse;

/// A complete reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The first choice's text.
    pub text: String,
    /// The first choice's tool calls, in order (see [`Response`](switchyard_core::request::Response)
    /// for ids and arguments).
    pub tool_calls: Vec<ToolCall>,
    pub finish: FinishReason,
    /// As reported, or [`estimated_usage`] when the reply had none (then `usage_missing`).
    pub usage: Usage,
    /// The reply carried no usage: `usage` is an estimate, its prompt tokens 0 (the driver
    /// knows its own prompt estimate and substitutes it).
    pub usage_missing: bool,
    /// The choices after the first (a request with `n` > 1), in order.
    pub choices: Vec<Choice>,
    /// The body as it came, when the caller takes it as is (see [`decode_raw`]); the text,
    /// tool calls and choices above are then empty.
    pub raw: Option<Bytes>,
}

/// Why an attempt failed: its outcome, and what the upstream said, when it said something a
/// client can act on (see [`upstream`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub outcome: Outcome,
    /// Boxed: failures travel in `Result`s on the hot path, where most carry none.
    pub upstream: Option<Box<UpstreamError>>,
    /// The usage the reply reported with its failure (Gemini's refusals carry theirs):
    /// booked as the provider said, where none leaves the attempt at 0 tokens.
    pub usage: Option<Usage>,
}

impl Failure {
    /// A failure with nothing more to say than its kind.
    pub fn kind(kind: ErrorKind) -> Self {
        Failure {
            outcome: Outcome::error(kind),
            upstream: None,
            usage: None,
        }
    }

    /// The error kind, when the outcome is an error.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        self.outcome.error_kind()
    }
}

/// The most tool calls one reply may carry; more is `malformed_response`.
pub const MAX_TOOL_CALLS: usize = 128;

/// Usage for a reply that reported none: no prompt tokens (unknown here) and completion
/// tokens estimated at four characters a token, rounded up (`ceil(chars / 4)`), the same
/// rule as the core's prompt estimate. Good to within a factor of about two for English
/// prose; it exists so books stay roughly right, not exact.
pub fn estimated_usage(text: &str) -> Usage {
    Usage {
        prompt_tokens: 0,
        completion_tokens: estimate_tokens(text),
        cached_prompt_tokens: 0,
    }
}

/// Where and how to call one target.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint<'a> {
    /// The request's URL, made once for the target ([`url`]), when there is one: building
    /// the request then parses no URL.
    pub url: Option<&'a Uri>,
    /// The auth header's value for `key`, made once per key ([`auth_value`]), when there is
    /// one: building the request then formats no header.
    pub auth_value: Option<&'a HeaderValue>,
    pub dialect: Dialect,
    pub base_url: &'a str,
    pub model: &'a str,
    pub auth: &'a AuthStyle,
    /// Extra headers, values held as secrets (they may come from env or file).
    pub headers: &'a BTreeMap<String, Secret>,
    pub key: &'a Secret,
    /// `max_tokens` for a request without one, where the vendor requires it (the target's
    /// `default_max_tokens`; `None`: the dialect's default).
    pub default_max_tokens: Option<u32>,
}

/// The HTTP request for `request` at `endpoint`, or the field its dialect cannot express
/// (routing excludes such targets first, with the same `dialect::check`).
pub fn build(
    endpoint: &Endpoint<'_>,
    request: &ChatRequest,
) -> Result<Request<Full<Bytes>>, Unsupported> {
    Ok(http_request(
        endpoint,
        request.stream,
        body(endpoint, request)?,
    ))
}

/// The path (and query) of a request to `model` in `dialect`.
fn path(dialect: Dialect, model: &str, stream: bool) -> String {
    match dialect {
        Dialect::Openai => openai::path(model, false),
        Dialect::AzureOpenai => openai::path(model, true),
        Dialect::Anthropic => anthropic::path(),
        Dialect::Gemini => gemini::url_path(model, stream),
    }
}

/// The URL of a request to `model` at `base_url` in `dialect`, made once per target for
/// [`Endpoint::url`]; `None` when the key goes in the URL (`AuthStyle::Query`), or the URL is
/// not valid.
pub fn url(
    dialect: Dialect,
    base_url: &str,
    model: &str,
    auth: &AuthStyle,
    stream: bool,
) -> Option<Uri> {
    if matches!(auth, AuthStyle::Query(_)) {
        return None;
    }
    Uri::try_from(format!("{base_url}{}", path(dialect, model, stream))).ok()
}

/// The auth header's name for `auth`; `None` when the key goes in the URL.
fn auth_name(auth: &AuthStyle) -> Option<HeaderName> {
    match auth {
        AuthStyle::Bearer => Some(AUTHORIZATION),
        AuthStyle::XApiKey => Some(HeaderName::from_static("x-api-key")),
        AuthStyle::ApiKeyHeader => Some(HeaderName::from_static("api-key")),
        AuthStyle::GoogApiKey => Some(HeaderName::from_static("x-goog-api-key")),
        AuthStyle::Query(_) => None,
    }
}

/// A header value holding a secret: marked sensitive (HTTP/2 never indexes it, and its
/// `Debug` says `Sensitive`).
fn secret_value(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The auth header's value for `key` (`Bearer KEY` or the key), marked sensitive; made once
/// per key for [`Endpoint::auth_value`]. `None` when the key goes in the URL or is not a
/// valid header value.
pub fn auth_value(auth: &AuthStyle, key: &Secret) -> Option<HeaderValue> {
    match auth {
        AuthStyle::Bearer => secret_value(&format!("Bearer {}", key.expose())),
        AuthStyle::Query(_) => None,
        _ => secret_value(key.expose()),
    }
}

fn http_request(endpoint: &Endpoint<'_>, stream: bool, body: Vec<u8>) -> Request<Full<Bytes>> {
    let uri = match endpoint.url {
        Some(uri) => uri.clone(),
        None => {
            let path = path(endpoint.dialect, endpoint.model, stream);
            let mut url = String::with_capacity(endpoint.base_url.len() + path.len() + 64);
            url.push_str(endpoint.base_url);
            url.push_str(&path);
            if let AuthStyle::Query(name) = endpoint.auth {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(name);
                url.push('=');
                url.push_str(endpoint.key.expose());
            }
            // Only a base URL or header value that is not valid HTTP can fail here; config
            // validation checks base URLs, so an empty request (which the transport refuses)
            // will do.
            let Ok(uri) = Uri::try_from(url) else {
                return Request::default();
            };
            uri
        }
    };
    let mut http = Request::new(Full::new(Bytes::from(body)));
    *http.method_mut() = Method::POST;
    *http.uri_mut() = uri;
    let headers = http.headers_mut();
    headers.reserve(4 + endpoint.headers.len());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(name) = auth_name(endpoint.auth) {
        let value = match endpoint.auth_value {
            Some(v) => Some(v.clone()),
            None => auth_value(endpoint.auth, endpoint.key),
        };
        let Some(value) = value else {
            return Request::default();
        };
        headers.insert(name, value);
    }
    if stream {
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    }
    for (k, v) in endpoint.headers {
        let (Ok(name), Some(value)) = (HeaderName::try_from(k.as_str()), secret_value(v.expose()))
        else {
            return Request::default();
        };
        headers.append(name, value);
    }
    http
}

/// A complete JSON reply, or the failure it reveals: `malformed_response` for a body that is
/// not the dialect's reply (or has more than [`MAX_TOOL_CALLS`] calls); a Gemini reply whose
/// prompt was blocked is `content_filtered`, one that ended in a tool-call failure
/// (`MALFORMED_FUNCTION_CALL`, ...) `malformed_response`, each with an [`UpstreamError`]
/// saying so.
pub fn decode(dialect: Dialect, body: &[u8]) -> Result<Decoded, Failure> {
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => openai::decode(body),
        Dialect::Anthropic => anthropic::decode(body),
        Dialect::Gemini => gemini::decode(body),
    }
}

/// A reply the caller forwards as it came (an OpenAI client's request passed through to an
/// OpenAI or Azure target, [`Original::raw_reply`](switchyard_core::request::Original)):
/// checked as strictly as [`decode`] checks its shape (a JSON object with `choices`, each
/// with a `message`) but only its usage and first finish reason are read (all of it when the
/// reply has no usage, to estimate that from the text). `None` when the dialect has no such
/// path.
pub fn decode_raw(dialect: Dialect, body: &Bytes) -> Option<Result<Decoded, Failure>> {
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => openai::decode_raw(body),
        Dialect::Anthropic | Dialect::Gemini => None,
    }
}

/// What an error reply's body says, for the client (see [`upstream`]).
pub fn upstream_error(dialect: Dialect, status: u16, body: &[u8]) -> Option<UpstreamError> {
    upstream::parse(dialect, status, body)
}

/// What a stream delivers to the caller, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text.
    Text(String),
    /// A piece of tool call `index` (0, 1, ... counting tool calls only), in OpenAI's
    /// streaming shape: its first piece carries `id` and `name`, later ones only more
    /// `arguments` text. Gemini delivers each call whole, in one piece.
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// A chunk as the target sent it, before the pieces it carries, when the decoder forwards
    /// raw events ([`StreamDecoder::forward_raw`]).
    Raw(RawEvent),
}

/// Whether a stream event ended the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    More,
    /// The terminating event: the stream is complete.
    Done,
}

/// How a complete stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEnd {
    pub finish: FinishReason,
    /// As reported; where the stream did not report a part, that part is estimated
    /// (prompt tokens 0, completion tokens from the text delivered) and `usage_missing` set.
    pub usage: Usage,
    pub usage_missing: bool,
    /// The tool calls the stream delivered, assembled from their pieces.
    pub tool_calls: Vec<ToolCall>,
}

/// Decodes one stream, event by event.
#[derive(Debug)]
pub struct StreamDecoder {
    dialect: Dialect,
    parser: sse::Parser,
    pub finish: Option<FinishReason>,
    pub usage: Usage,
    pub done: bool,
    /// Whether the stream reported prompt and completion tokens (else they are estimated).
    prompt_reported: bool,
    completion_reported: bool,
    /// Characters of text and tool-call arguments delivered, for the estimate.
    chars: usize,
    /// Tool calls so far, arguments concatenated.
    calls: Vec<ToolCall>,
    /// Bytes of tool-call arguments held, and the most allowed (the reply body cap).
    held: usize,
    max_held: usize,
    /// Anthropic: content-block index → tool-call index, for the blocks that are tool calls.
    blocks: Vec<(u64, u32)>,
    /// Anthropic: the prompt's parts as last reported (input, cache writes, cache reads).
    prompt_parts: [u32; 3],
    /// Chunks are also given as they came ([`Piece::Raw`]), and whether the first to name
    /// the stream's id has been.
    raw: bool,
    head_given: bool,
    /// Whether any event came (a body that is no stream at all has none).
    evented: bool,
}

impl StreamDecoder {
    /// A decoder with the default [`InputLimits`].
    pub fn new(dialect: Dialect) -> Self {
        Self::with_limits(dialect, &InputLimits::default())
    }

    pub fn with_limits(dialect: Dialect, limits: &InputLimits) -> Self {
        StreamDecoder {
            dialect,
            parser: sse::Parser::with_max_event_bytes(limits.max_event_bytes),
            finish: None,
            usage: Usage::default(),
            done: false,
            prompt_reported: false,
            completion_reported: false,
            chars: 0,
            calls: Vec::new(),
            held: 0,
            max_held: limits.max_body_bytes,
            blocks: Vec::new(),
            prompt_parts: [0; 3],
            raw: false,
            head_given: false,
            evented: false,
        }
    }

    /// Whether each chunk is also given as it came, a [`Piece::Raw`] before the pieces it
    /// carries (OpenAI and Azure OpenAI only; the other dialects never give one): for a
    /// caller that forwards a same-dialect stream. Off by default.
    pub fn forward_raw(&mut self, on: bool) {
        self.raw = on && matches!(self.dialect, Dialect::Openai | Dialect::AzureOpenai);
    }

    /// Whether chunks are given as they came (see [`forward_raw`](Self::forward_raw)).
    pub fn forwards_raw(&self) -> bool {
        self.raw
    }

    /// True the first time only: the chunk that names the stream's id carries its head.
    fn take_head(&mut self) -> bool {
        !std::mem::replace(&mut self.head_given, true)
    }

    /// Feeds body bytes; returns what they carry for the caller, in order, or the failure
    /// they reveal (an event over the size limit, or too many tool calls or argument bytes, is
    /// `malformed_response`; an error event is classified, with the upstream's words).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Piece>, Failure> {
        let mut out = Vec::new();
        let events = self
            .parser
            .feed(bytes)
            .map_err(|_| Failure::kind(ErrorKind::MalformedResponse))?;
        self.evented |= !events.is_empty();
        for event in events {
            if self.done {
                break;
            }
            let step = match self.dialect {
                Dialect::Openai | Dialect::AzureOpenai => openai::step(self, &event, &mut out),
                Dialect::Anthropic => anthropic::step(self, &event, &mut out),
                Dialect::Gemini => gemini::step(self, &event, &mut out),
            }?;
            if step == Step::Done {
                self.done = true;
            }
        }
        Ok(out)
    }

    /// Text for the caller (empty text is nothing).
    fn text(&mut self, out: &mut Vec<Piece>, text: String) {
        if !text.is_empty() {
            self.chars = self.chars.saturating_add(text.chars().count());
            out.push(Piece::Text(text));
        }
    }

    /// A new tool call; its index, or `malformed_response` past [`MAX_TOOL_CALLS`].
    fn start_call(&mut self, id: String, name: String) -> Result<u32, Failure> {
        if self.calls.len() >= MAX_TOOL_CALLS {
            return Err(Failure::kind(ErrorKind::MalformedResponse));
        }
        self.held = self.held.saturating_add(id.len() + name.len());
        self.calls.push(ToolCall {
            id,
            name,
            arguments: String::new(),
        });
        Ok(u32::try_from(self.calls.len() - 1).unwrap_or(u32::MAX))
    }

    /// More argument text for call `index`; `malformed_response` for a call that was never
    /// started or past the cap on what a stream may hold.
    fn append_arguments(&mut self, index: u32, fragment: &str) -> Result<(), Failure> {
        self.held = self.held.saturating_add(fragment.len());
        self.chars = self.chars.saturating_add(fragment.chars().count());
        if self.held > self.max_held {
            return Err(Failure::kind(ErrorKind::MalformedResponse));
        }
        let call = self
            .calls
            .get_mut(index as usize)
            .ok_or_else(|| Failure::kind(ErrorKind::MalformedResponse))?;
        call.arguments.push_str(fragment);
        Ok(())
    }

    /// The stream reported its prompt tokens.
    fn report_prompt(&mut self, tokens: u32) {
        self.usage.prompt_tokens = tokens;
        self.prompt_reported = true;
    }

    /// The stream reported its completion tokens.
    fn report_completion(&mut self, tokens: u32) {
        self.usage.completion_tokens = tokens;
        self.completion_reported = true;
    }

    /// How the stream ended, once its body closed cleanly: complete when the terminating
    /// event came, or when the finish reason did (a clean close after it, without `[DONE]` or
    /// `message_stop`, is how several providers and proxies end streams); else interrupted.
    pub fn end(&self) -> Result<StreamEnd, ErrorKind> {
        if !self.done && self.finish.is_none() {
            return Err(ErrorKind::StreamInterrupted);
        }
        let mut usage = self.usage;
        if !self.prompt_reported {
            usage.prompt_tokens = 0;
            usage.cached_prompt_tokens = 0;
        }
        if !self.completion_reported {
            usage.completion_tokens = estimate_tokens_from_chars(self.chars);
        }
        let mut finish = self.finish.unwrap_or(FinishReason::Stop);
        // Gemini says STOP after its calls: the calls say what the reply is.
        if self.dialect == Dialect::Gemini && finish == FinishReason::Stop && !self.calls.is_empty()
        {
            finish = FinishReason::ToolCalls;
        }
        Ok(StreamEnd {
            finish,
            usage,
            usage_missing: !(self.prompt_reported && self.completion_reported),
            tool_calls: self.calls.clone(),
        })
    }

    /// The prompt tokens the stream reported so far (and the cached ones among them), if it
    /// reported them: what a stream that broke can say about its prompt.
    pub fn reported_prompt(&self) -> Option<(u32, u32)> {
        self.prompt_reported
            .then_some((self.usage.prompt_tokens, self.usage.cached_prompt_tokens))
    }

    /// The completion tokens the stream reported so far, if it reported them (the latest
    /// count: Gemini's are cumulative).
    pub fn reported_completion(&self) -> Option<u32> {
        self.completion_reported
            .then_some(self.usage.completion_tokens)
    }

    /// The completion tokens of the stream so far, for a stream that ends early (its caller
    /// left): as reported when the stream reported them, else estimated from the text and
    /// tool-call arguments it delivered as [`end`](Self::end) estimates a stream without usage.
    pub fn completion_so_far(&self) -> u32 {
        self.reported_completion()
            .unwrap_or_else(|| estimate_tokens_from_chars(self.chars))
    }

    /// Whether any event came yet.
    pub fn saw_event(&self) -> bool {
        self.evented
    }

    /// [`end`](Self::end) without the `usage_missing` flag and the calls.
    pub fn finish(&self) -> Result<(FinishReason, Usage), ErrorKind> {
        self.end().map(|e| (e.finish, e.usage))
    }
}

/// Whether an event's `event:` name says it is not a data chunk, for the dialects whose data
/// events are unnamed (OpenAI, Gemini): named events they do not define are skipped.
fn foreign_event(event: &sse::Event) -> bool {
    event
        .name
        .as_deref()
        .is_some_and(|name| !name.is_empty() && name != "message")
}

fn malformed() -> Failure {
    Failure::kind(ErrorKind::MalformedResponse)
}

#[cfg(test)]
mod reply_tests;
#[cfg(test)]
mod tests;
