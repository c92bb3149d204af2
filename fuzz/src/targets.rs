//! The bodies of the fuzz targets, as plain functions over bytes.
//!
//! One file shared by two builds: the cargo-fuzz binaries in `fuzz/fuzz_targets/` (nightly,
//! coverage-guided) and the stable replay test in `crates/testkit/tests/fuzz_replay.rs`, which
//! runs every target over every file of `fuzz/corpus/<target>/`. A target returns normally on
//! any input its code under test is meant to survive; a panic, an abort or a hang is a
//! finding.
//!
//! Input layouts (the first bytes choose what a byte-level fuzzer cannot express in text):
//! - `decode`, `classify`, `stream`, `limits`: byte 0 picks the dialect (mod 4);
//! - `classify`: bytes 1..3 the status (big-endian), then `name: value` header lines, a blank
//!   line, and the body;
//! - `stream`, `sse`: byte 1 seeds where the body is cut into chunks, the rest is the body;
//! - `http1`: byte 0 seeds where an upstream's response is cut into reads, the rest is the
//!   response (head and body);
//! - `limits`: bytes 1..9 the wall clock (Unix seconds, big-endian), then header lines;
//! - the config targets, `attempt_log` and `request` (an OpenAI client's body) take the whole
//!   input as it is.

use std::path::{Path, PathBuf};

use hyper::http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_core::dialect::{self, Dialect};
use switchyard_core::rng::{Rng as _, SeededRng};
use switchyard_live::adapter;
use switchyard_live::sse;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its binary and corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode", decode),
    ("classify", classify),
    ("stream", stream),
    ("limits", limits),
    ("sse", sse_parser),
    ("http1", http1),
    ("attempt_log", attempt_log),
    ("router_config", router_config),
    ("scenario", scenario),
    ("profile", profile),
    ("request", request),
];

fn dialect_of(byte: Option<&u8>) -> Dialect {
    Dialect::ALL[usize::from(byte.copied().unwrap_or(0)) % Dialect::ALL.len()]
}

/// Splits `body` into chunks of 1..=64 bytes, their lengths drawn from `seed` (0: one chunk).
fn chunks(seed: u8, body: &[u8]) -> Vec<&[u8]> {
    if seed == 0 {
        return vec![body];
    }
    let mut rng = SeededRng::new(u64::from(seed));
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = ((rng.next_u64() % 64) as usize + 1).min(rest.len());
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

/// `name: value` lines up to a blank line, then the rest.
fn headers(text: &[u8]) -> (HeaderMap, &[u8]) {
    let mut map = HeaderMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            map.append(n, v);
        }
    }
    (map, rest)
}

/// A complete JSON reply through each dialect's decoder.
pub fn decode(data: &[u8]) {
    let _ = adapter::decode(dialect_of(data.first()), data.get(1..).unwrap_or_default());
}

/// An error reply through each dialect's classifier.
pub fn classify(data: &[u8]) {
    let Some(status) = data.get(1..3) else { return };
    let status = u16::from_be_bytes([status[0], status[1]]);
    let (map, body) = headers(&data[3..]);
    let _ = adapter::classify(
        dialect_of(data.first()),
        status,
        &adapter::ReplyView::Map(&map),
        body,
    );
}

/// A streamed reply, cut into chunks, through each dialect's stream decoder.
pub fn stream(data: &[u8]) {
    let Some(&seed) = data.get(1) else { return };
    let mut decoder = adapter::StreamDecoder::new(dialect_of(data.first()));
    for chunk in chunks(seed, &data[2..]) {
        if decoder.feed(chunk).is_err() {
            return;
        }
    }
    let _ = decoder.finish();
}

/// An upstream's HTTP/1.1 response, cut into reads, through the client's head parser and
/// body framing.
pub fn http1(data: &[u8]) {
    let Some(&seed) = data.first() else { return };
    let _ = switchyard_live::transport::read_response(&chunks(seed, &data[1..]));
}

/// Rate-limit and Retry-After headers, and every header value as an RFC 3339 date.
pub fn limits(data: &[u8]) {
    let Some(clock) = data.get(1..9) else { return };
    let mut wall = [0; 8];
    wall.copy_from_slice(clock);
    let (map, _) = headers(&data[9..]);
    let view = adapter::ReplyView::Map(&map);
    let _ = adapter::limits(dialect_of(data.first()), &view, u64::from_be_bytes(wall));
    let _ = dialect::retry_after(&adapter::Headers(&map));
    for value in map.values() {
        if let Ok(v) = value.to_str() {
            let _ = dialect::parse_rfc3339(v);
        }
    }
}

/// The SSE parser: the events must not depend on where the body was cut, and one event over
/// the cap (small here, so the fuzzer reaches it) is refused whichever way it arrives.
pub fn sse_parser(data: &[u8]) {
    let Some(&seed) = data.first() else { return };
    let body = &data[1..];
    let cap = 64 + usize::from(seed) * 4;
    let mut whole = sse::Parser::with_max_event_bytes(cap);
    let expected = whole.feed(body);
    let mut cut = sse::Parser::with_max_event_bytes(cap);
    let mut got = Ok(Vec::new());
    for chunk in chunks(seed.max(1), body) {
        match (cut.feed(chunk), &mut got) {
            (Ok(events), Ok(all)) => all.extend(events),
            (Err(e), _) => {
                got = Err(e);
                break;
            }
            (Ok(_), Err(_)) => {}
        }
    }
    match (got, expected) {
        (Ok(got), Ok(expected)) => {
            assert_eq!(got, expected, "events depend on where the body was cut");
            assert_eq!(cut.pending(), whole.pending());
        }
        (Err(_), Err(_)) => {}
        (Err(_), Ok(expected)) => panic!("refused when cut, accepted whole: {expected:?}"),
        (Ok(got), Err(_)) => panic!("accepted when cut, refused whole: {got:?}"),
    }
}

/// An attempt-log line (the `x-switchyard-attempts` header) read back.
pub fn attempt_log(data: &[u8]) {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = switchyard_core::attempt_log::parse(line);
    }
}

/// A router config: what validates must build.
pub fn router_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(params) = switchyard_core::config::load_router(text, "router.yaml") {
        let _router = switchyard_core::router::Router::new(params, SeededRng::new(1));
    }
}

/// The repository root (profiles are looked up from `scenarios/` as for a real scenario).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("fake-providers").is_dir())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A scenario file: what validates must build (routers, fake providers, traffic).
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = root().join("scenarios");
    let Ok(s) = switchyard_runner::scenario::load_text(text, "scenario.yaml", &dir) else {
        return;
    };
    let _router = switchyard_core::router::Router::new(s.router.clone(), SeededRng::new(s.seed));
    for (_, variant) in &s.variants {
        let _router = switchyard_core::router::Router::new(variant.clone(), SeededRng::new(s.seed));
    }
    for p in &s.providers {
        let _model = switchyard_fake::Model::new(p.profile.clone());
    }
    let mut traffic = switchyard_sim::traffic::Generator::new(&s.traffic, s.seed);
    for _ in 0..16 {
        let _ = traffic.draw();
    }
}

/// A fake provider's profile: what validates must build.
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = switchyard_fake::load_profile(text, "profile.yaml") {
        let _faults = p.default_faults(switchyard_core::time::Instant::ZERO);
        let _model = switchyard_fake::Model::new(p);
    }
}

/// An OpenAI client's body: normalized, checked and encoded for every dialect, and passed
/// through (streamed or not, model replaced or removed).
pub fn request(data: &[u8]) {
    use switchyard_core::dialect::{anthropic, gemini, openai};
    for (model, stream) in [(Some("m"), false), (None, true)] {
        let _ = openai::pass_through(data, model, stream);
    }
    let typed = serde_json::from_slice::<openai::ChatRequest>(data);
    // The gateway's one parse (the usual body read by hand, any other by a typed pass)
    // accepts no body the typed parse refuses, and reads what it reads.
    if let Ok(one) = openai::parse(data) {
        assert_eq!(
            typed.as_ref().ok(),
            Some(&one.request),
            "openai::parse disagrees"
        );
    }
    let Ok(parsed) = typed else {
        return;
    };
    let _ = parsed.to_normalized();
    let Ok(request) = parsed.try_to_normalized() else {
        return;
    };
    for d in Dialect::ALL {
        let _ = dialect::check(d, &request);
    }
    let _ = openai::ChatRequest::from_normalized(&request, "m").map(|b| serde_json::to_vec(&b));
    let _ = anthropic::MessagesRequest::from_normalized(&request, "m", 1)
        .map(|b| serde_json::to_vec(&b));
    let _ = gemini::GenerateRequest::from_normalized(&request).map(|b| serde_json::to_vec(&b));
}
