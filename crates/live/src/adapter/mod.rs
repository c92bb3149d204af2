//! Dialect adapters: the normalized request onto the wire, and the wire back into outcomes.
//!
//! Built on `core::dialect` (the same types the fakes write). Every way a reply can go wrong
//! ends as an outcome: a status and body are classified by the dialect, a body that is not
//! what the dialect promises is `malformed_response`, a stream that ends without its
//! terminating event is `stream_interrupted` — never a truncated success.

mod anthropic;
mod gemini;
mod openai;

use std::collections::BTreeMap;

use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use bytes::Bytes;
use http_body_util::Full;
use switchyard_core::credentials::{AuthStyle, Secret};
use switchyard_core::dialect::{Dialect, HeaderSource};
use switchyard_core::health::LimitSnapshot;
use switchyard_core::outcome::{ErrorKind, Outcome};
use switchyard_core::request::{FinishReason, Request as ChatRequest, Usage};

use crate::sse;

/// A complete reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub finish: FinishReason,
    pub usage: Usage,
}

/// Response headers as the core's `HeaderSource`.
#[derive(Debug)]
pub struct Headers<'a>(pub &'a HeaderMap);

impl HeaderSource for Headers<'_> {
    /// A scan rather than a hashed lookup: a reply has a handful of headers, and the dialects
    /// ask for several that are usually absent (rate-limit headers), where parsing and hashing
    /// the name for `HeaderMap::get` costs more than comparing it with each one.
    fn header(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.to_str().ok())
    }
}

/// Where and how to call one target.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint<'a> {
    pub dialect: Dialect,
    pub base_url: &'a str,
    pub model: &'a str,
    pub auth: &'a AuthStyle,
    /// Extra headers, values held as secrets (they may come from env or file).
    pub headers: &'a BTreeMap<String, Secret>,
    pub key: &'a Secret,
}

/// The HTTP request for `request` at `endpoint`.
pub fn build(endpoint: &Endpoint<'_>, request: &ChatRequest) -> Request<Full<Bytes>> {
    let (path, body) = match endpoint.dialect {
        Dialect::Openai => openai::encode(endpoint.model, request, false),
        Dialect::AzureOpenai => openai::encode(endpoint.model, request, true),
        Dialect::Anthropic => anthropic::encode(endpoint.model, request),
        Dialect::Gemini => gemini::encode(endpoint.model, request),
    };
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
    // validation checks base URLs, so an empty request (which the transport refuses) will do.
    let Ok(uri) = Uri::try_from(url) else {
        return Request::default();
    };
    let mut http = Request::new(Full::new(Bytes::from(body)));
    *http.method_mut() = Method::POST;
    *http.uri_mut() = uri;
    let headers = http.headers_mut();
    headers.reserve(4 + endpoint.headers.len());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let secret = |value: &str| {
        let mut v = HeaderValue::from_str(value).ok()?;
        v.set_sensitive(true);
        Some(v)
    };
    let auth = match endpoint.auth {
        AuthStyle::Bearer => Some((
            AUTHORIZATION,
            secret(&format!("Bearer {}", endpoint.key.expose())),
        )),
        AuthStyle::XApiKey => Some((
            HeaderName::from_static("x-api-key"),
            secret(endpoint.key.expose()),
        )),
        AuthStyle::ApiKeyHeader => Some((
            HeaderName::from_static("api-key"),
            secret(endpoint.key.expose()),
        )),
        AuthStyle::GoogApiKey => Some((
            HeaderName::from_static("x-goog-api-key"),
            secret(endpoint.key.expose()),
        )),
        AuthStyle::Query(_) => None,
    };
    if let Some((name, value)) = auth {
        let Some(value) = value else {
            return Request::default();
        };
        headers.insert(name, value);
    }
    if request.stream {
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    }
    for (k, v) in endpoint.headers {
        let (Ok(name), Some(value)) = (HeaderName::try_from(k.as_str()), secret(v.expose())) else {
            return Request::default();
        };
        headers.append(name, value);
    }
    http
}

/// A complete JSON reply, or `malformed_response`.
pub fn decode(dialect: Dialect, body: &[u8]) -> Result<Decoded, ErrorKind> {
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => openai::decode(body),
        Dialect::Anthropic => anthropic::decode(body),
        Dialect::Gemini => gemini::decode(body),
    }
    .ok_or(ErrorKind::MalformedResponse)
}

/// An error reply's outcome.
pub fn classify(dialect: Dialect, status: u16, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let h = Headers(headers);
    match dialect {
        Dialect::Openai => switchyard_core::dialect::openai::classify(status, &h, body),
        Dialect::AzureOpenai => switchyard_core::dialect::azure_openai::classify(status, &h, body),
        Dialect::Anthropic => switchyard_core::dialect::anthropic::classify(status, &h, body),
        Dialect::Gemini => switchyard_core::dialect::gemini::classify(status, &h, body),
    }
}

/// The reply's rate-limit headers (Anthropic's resets are dates: `wall_now` is Unix seconds).
pub fn limits(dialect: Dialect, headers: &HeaderMap, wall_now: u64) -> LimitSnapshot {
    let h = Headers(headers);
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => switchyard_core::dialect::openai::limits(&h),
        Dialect::Anthropic => switchyard_core::dialect::anthropic::limits(&h, wall_now),
        Dialect::Gemini => LimitSnapshot::default(),
    }
}

/// What one stream event meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Text for the caller.
    Text(String),
    /// Nothing for the caller (metadata, pings).
    Nothing,
    /// The terminating event: the stream is complete.
    Done,
}

/// Decodes one stream, event by event.
#[derive(Debug)]
pub struct StreamDecoder {
    dialect: Dialect,
    parser: sse::Parser,
    pub finish: Option<FinishReason>,
    pub usage: Usage,
    pub done: bool,
}

impl StreamDecoder {
    pub fn new(dialect: Dialect) -> Self {
        StreamDecoder {
            dialect,
            parser: sse::Parser::default(),
            finish: None,
            usage: Usage::default(),
            done: false,
        }
    }

    /// Feeds body bytes; returns the text they carry, in order, or the error they reveal.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, Outcome> {
        let mut texts = Vec::new();
        for event in self.parser.feed(bytes) {
            if self.done {
                break;
            }
            let step = match self.dialect {
                Dialect::Openai | Dialect::AzureOpenai => openai::step(self, &event),
                Dialect::Anthropic => anthropic::step(self, &event),
                Dialect::Gemini => gemini::step(self, &event),
            }?;
            match step {
                Step::Text(t) if !t.is_empty() => texts.push(t),
                Step::Done => self.done = true,
                _ => {}
            }
        }
        Ok(texts)
    }

    /// At the end of the body: complete only if the terminating event came.
    pub fn finish(&self) -> Result<(FinishReason, Usage), ErrorKind> {
        if self.done {
            Ok((self.finish.unwrap_or(FinishReason::Stop), self.usage))
        } else {
            Err(ErrorKind::StreamInterrupted)
        }
    }
}

fn malformed() -> Outcome {
    Outcome::error(ErrorKind::MalformedResponse)
}

#[cfg(test)]
mod tests;
