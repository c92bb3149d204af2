//! The request journal: the last requests a fake received, for a test or a person to check
//! what an application really sent (`GET /_fake/journal`).
//!
//! Invariants:
//! - It never holds a key. Credential headers (and any header whose name says key, token,
//!   secret, auth, cookie or credential) and `key=` in the query are replaced by
//!   [`REDACTED`] *before* the entry is stored, so not even memory holds them.
//! - It is bounded: the last [`CAPACITY`] requests, each body cut to [`BODY_CAP`] bytes
//!   (`truncated: true`), so memory does not grow with a run.
//! - Recording is cheap: no JSON parse (bodies are kept as the bytes received, shared with
//!   the request, copied only when cut) and one push under the server's lock. The JSON
//!   rendering happens when the journal is read.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use switchyard_core::time::Instant;

use super::Shared;

/// Requests kept; older ones are dropped first.
pub const CAPACITY: usize = 256;
/// Bytes of a body kept; the rest is cut and the entry marked `truncated`.
pub const BODY_CAP: usize = 64 * 1024;
/// What a secret is replaced by.
pub const REDACTED: &str = "[redacted]";
/// The largest body read at all: axum's default limit, which the handlers had before the
/// journal read bodies for them.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// One request as received.
#[derive(Debug)]
pub(super) struct Entry {
    seq: u64,
    at: Instant,
    method: Method,
    /// Path and query, the query's secrets redacted.
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    truncated: bool,
}

#[derive(Debug, Default)]
pub(super) struct Journal {
    entries: VecDeque<Entry>,
    /// Counts every request recorded since the server started; clearing does not reset it.
    next_seq: u64,
    /// Entries pushed out by newer ones since the last clear.
    dropped: u64,
}

/// Does a header with this (lower-case) name carry a secret?
fn secret_header(name: &str) -> bool {
    ["key", "auth", "token", "secret", "cookie", "credential"]
        .iter()
        .any(|s| name.contains(s))
}

/// `uri`'s path and query, with the value of any secret-looking query parameter redacted
/// (Gemini takes its key as `?key=`).
fn redacted_path(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let mut out = String::with_capacity(uri.path().len() + 1 + query.len());
    out.push_str(uri.path());
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if secret_header(&name.to_ascii_lowercase()) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// Middleware: journals every request but the control API's, then hands it on. Reading the
/// body here (rather than in each handler) also journals requests no route takes, such as a
/// path the dialect does not serve, which is what one most wants to see.
pub(super) async fn record(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/_fake/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let (body, too_large) = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => (body, false),
        Err(_) => (Bytes::new(), true),
    };
    let now = shared.now();
    shared.lock().journal.record(
        now,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        too_large,
    );
    if too_large {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Failed to buffer the request body: length limit exceeded",
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

impl Journal {
    /// Stores a request, dropping the oldest when full; `cut` says the body was not read
    /// whole.
    pub(super) fn record(
        &mut self,
        at: Instant,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
        cut: bool,
    ) {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                if secret_header(name.as_str()) {
                    (name.clone(), HeaderValue::from_static(REDACTED))
                } else {
                    (name.clone(), value.clone())
                }
            })
            .collect();
        let truncated = cut || body.len() > BODY_CAP;
        // A cut body is copied so the entry does not pin the whole request in memory.
        let body = if truncated {
            Bytes::copy_from_slice(&body[..body.len().min(BODY_CAP)])
        } else {
            body.clone()
        };
        self.next_seq += 1;
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(Entry {
            seq: self.next_seq,
            at,
            method: method.clone(),
            path: redacted_path(uri),
            headers,
            body,
            truncated,
        });
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.dropped = 0;
    }

    /// The journal as JSON, newest first. `raw`: each body as the text received, so a test
    /// can check bytes and field order (parsed JSON keeps neither).
    pub(super) fn to_json(&self, raw: bool) -> Value {
        let entries: Vec<Value> = self.entries.iter().rev().map(|e| e.to_json(raw)).collect();
        json!({
            "entries": entries,
            "dropped": self.dropped,
            "capacity": CAPACITY,
            "body_cap": BODY_CAP,
        })
    }
}

impl Entry {
    fn to_json(&self, raw: bool) -> Value {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            match headers.get_mut(name.as_str()) {
                // A repeated header: its values joined, as HTTP allows.
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(&value);
                }
                _ => {
                    headers.insert(name.as_str().to_owned(), Value::String(value.into_owned()));
                }
            }
        }
        // The body as JSON when it is JSON (and whole); otherwise as text.
        let body = if self.body.is_empty() {
            Value::Null
        } else if raw {
            Value::String(String::from_utf8_lossy(&self.body).into_owned())
        } else if let (false, Ok(v)) = (self.truncated, serde_json::from_slice::<Value>(&self.body))
        {
            v
        } else {
            Value::String(String::from_utf8_lossy(&self.body).into_owned())
        };
        json!({
            "seq": self.seq,
            "at_ms": self.at.since_start().as_millis(),
            "method": self.method.as_str(),
            "path": self.path,
            "headers": headers,
            "body": body,
            "truncated": self.truncated,
        })
    }
}
