//! In-process tests: each dialect × {json, stream} × every fault kind, with tokio's clock
//! paused so delays cost nothing and are measured exactly.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use switchyard_core::dialect::{
    Dialect, anthropic as an, azure_openai as az, gemini as ge, openai as oa,
};
use switchyard_core::outcome::{ErrorKind, Outcome};
use tower::ServiceExt;

use super::{ResetConnection, router};
use crate::profile::load_profile;

pub(super) const KEY: &str = "sk-test-key";

pub(super) fn app(dialect: Dialect, faults: &str) -> axum::Router {
    app_with(dialect, faults, "")
}

/// [`app`] with more profile lines (`prefill: false\n`).
pub(super) fn app_with(dialect: Dialect, faults: &str, extra: &str) -> axum::Router {
    let mut text = format!(
        "name: fake\ndialect: {}\nmodels:\n  - {{ name: m1, context_window: 4000 }}\n\
         latency:\n  first_token: {{ fixed: 100ms }}\n  tokens_per_second: {{ fixed: 100 }}\n\
         output_tokens: {{ fixed: 10 }}\nkeys: [{KEY}]\nlimits: {{ requests_per_minute: 100 }}\n",
        dialect.label()
    );
    if !faults.is_empty() {
        text.push_str(&format!("faults:\n  - {faults}\n"));
    }
    text.push_str(extra);
    router(load_profile(&text, "test.yaml").unwrap(), 7)
}

/// A well-formed request in the dialect.
pub(super) fn request(dialect: Dialect, stream: bool) -> Request<Body> {
    let (uri, body) = match dialect {
        Dialect::Openai => (
            "/v1/chat/completions".to_owned(),
            json!({ "model": "m1", "messages": [{ "role": "user", "content": "hello" }], "max_tokens": 100,
                    "stream": stream, "stream_options": if stream { json!({ "include_usage": true }) } else { Value::Null } }),
        ),
        Dialect::AzureOpenai => (
            "/openai/deployments/m1/chat/completions?api-version=2024-10-21".to_owned(),
            json!({ "messages": [{ "role": "user", "content": "hello" }], "max_tokens": 100, "stream": stream }),
        ),
        Dialect::Anthropic => (
            "/v1/messages".to_owned(),
            json!({ "model": "m1", "max_tokens": 100, "messages": [{ "role": "user", "content": "hello" }], "stream": stream }),
        ),
        Dialect::Gemini => (
            format!(
                "/v1beta/models/m1:{}",
                if stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                }
            ),
            json!({ "contents": [{ "role": "user", "parts": [{ "text": "hello" }] }], "generationConfig": { "maxOutputTokens": 100 } }),
        ),
    };
    let builder = Request::post(uri).header("content-type", "application/json");
    let builder = match dialect {
        Dialect::Openai => builder.header("authorization", format!("Bearer {KEY}")),
        Dialect::AzureOpenai => builder.header("api-key", KEY),
        Dialect::Anthropic => builder
            .header("x-api-key", KEY)
            .header("anthropic-version", an::VERSION),
        Dialect::Gemini => builder.header("x-goog-api-key", KEY),
    };
    builder.body(Body::from(body.to_string())).unwrap()
}

pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    /// `Err` when the body broke off (a cut or stalled stream).
    pub body: Result<String, String>,
    pub elapsed: std::time::Duration,
    pub reset: bool,
}

pub(super) async fn send(app: &axum::Router, req: Request<Body>) -> Option<Reply> {
    let start = tokio::time::Instant::now();
    let call = tokio::time::timeout(
        std::time::Duration::from_secs(3600),
        app.clone().oneshot(req),
    );
    let response = call.await.ok()?.unwrap();
    let reset = response.extensions().get::<ResetConnection>().is_some();
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .map_err(|e| e.to_string());
    Some(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
        elapsed: start.elapsed(),
        reset,
    })
}

fn header_pairs(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect()
}

pub(super) fn classify(dialect: Dialect, r: &Reply) -> Outcome {
    let refs = header_pairs(&r.headers);
    let body = r.body.as_deref().unwrap_or("").as_bytes();
    let status = r.status.as_u16();
    match dialect {
        Dialect::Openai => oa::classify(status, &refs, body),
        Dialect::AzureOpenai => az::classify(status, &refs, body),
        Dialect::Anthropic => an::classify(status, &refs, body),
        Dialect::Gemini => ge::classify(status, &refs, body),
    }
}

/// SSE events' data lines.
pub(super) fn events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

/// The text of a complete JSON reply.
fn json_text(dialect: Dialect, body: &str) -> String {
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => {
            serde_json::from_str::<oa::ChatCompletion>(body)
                .unwrap()
                .text()
                .0
        }
        Dialect::Anthropic => {
            serde_json::from_str::<an::MessageResponse>(body)
                .unwrap()
                .text()
                .0
        }
        Dialect::Gemini => {
            serde_json::from_str::<ge::GenerateResponse>(body)
                .unwrap()
                .text()
                .0
        }
    }
}

/// The text of a stream, and whether it had its terminating event.
fn stream_text(dialect: Dialect, body: &str) -> (String, bool) {
    let mut text = String::new();
    let mut done = false;
    for data in events(body) {
        match dialect {
            Dialect::Openai | Dialect::AzureOpenai => {
                if data == "[DONE]" {
                    done = true;
                } else if let Ok(c) = serde_json::from_str::<oa::ChatCompletionChunk>(&data) {
                    text.extend(c.choices.iter().filter_map(|ch| ch.delta.content.clone()));
                }
            }
            Dialect::Anthropic => match serde_json::from_str::<an::WireEvent>(&data) {
                Ok(an::WireEvent::ContentBlockDelta { delta, .. }) => text.push_str(&delta.text),
                Ok(an::WireEvent::MessageStop) => done = true,
                _ => {}
            },
            Dialect::Gemini => {
                if let Ok(r) = serde_json::from_str::<ge::GenerateResponse>(&data) {
                    let (t, finish) = r.text();
                    text.push_str(&t);
                    done |= finish.is_some();
                }
            }
        }
    }
    (text, done)
}

#[tokio::test(start_paused = true)]
async fn healthy_replies_in_every_dialect() {
    for dialect in Dialect::ALL {
        let app = app(dialect, "");
        let plain = send(&app, request(dialect, false)).await.unwrap();
        assert_eq!(plain.status, 200, "{dialect:?}");
        let text = json_text(dialect, plain.body.as_ref().unwrap());
        assert_eq!(text.split(' ').count(), 10, "{dialect:?}: {text}");
        // 100 ms to the first token, then 9 more at 10 ms.
        assert_eq!(plain.elapsed.as_millis(), 190, "{dialect:?}");
        let streamed = send(&app, request(dialect, true)).await.unwrap();
        assert_eq!(streamed.status, 200);
        assert!(
            streamed.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let (stext, done) = stream_text(dialect, streamed.body.as_ref().unwrap());
        assert!(done, "{dialect:?} stream has its terminating event");
        assert_eq!(stext.split(' ').count(), 10, "{dialect:?}: {stext}");
        assert_eq!(streamed.elapsed.as_millis(), 190, "{dialect:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn openai_stream_has_role_first_finish_last_and_usage() {
    let app = app(Dialect::Openai, "");
    let r = send(&app, request(Dialect::Openai, true)).await.unwrap();
    let data = events(r.body.as_ref().unwrap());
    let chunks: Vec<oa::ChatCompletionChunk> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        chunks[0].choices[0].delta.role.as_deref(),
        Some("assistant")
    );
    let n = chunks.len();
    assert_eq!(
        chunks[n - 2].choices[0].finish_reason.as_deref(),
        Some("stop")
    );
    assert!(chunks[n - 1].choices.is_empty());
    assert_eq!(
        chunks[n - 1].usage.flatten().map(|u| u.completion_tokens),
        Some(10)
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(
        data[0].contains("\"usage\":null"),
        "usage: null on earlier chunks"
    );
}

/// With `logprobs: true`, as OpenAI: each text token's log probability, on the reply's choice
/// and on each streamed text chunk (`top_logprobs` alternatives as many as asked, the token
/// first, then less likely ones); without, `logprobs: null`.
#[tokio::test(start_paused = true)]
async fn openai_gives_logprobs_when_asked() {
    let app = app(Dialect::Openai, "");
    let entry = |t: &Value| {
        assert!(t["logprob"].as_f64().unwrap() <= 0.0, "{t}");
        let bytes: Vec<u8> = t["bytes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
            .collect();
        assert_eq!(bytes, t["token"].as_str().unwrap().as_bytes(), "{t}");
        assert!(!t["logprob"].to_string().starts_with("-0.0"), "{t}");
        let top = t["top_logprobs"].as_array().unwrap();
        if let Some(first) = top.first() {
            assert_eq!(first["token"], t["token"], "{t}");
            assert_eq!(first["logprob"], t["logprob"], "{t}");
        }
        let descending = top
            .windows(2)
            .all(|w| w[0]["logprob"].as_f64() > w[1]["logprob"].as_f64());
        assert!(descending, "{t}");
        top.len()
    };
    let plain = send(
        &app,
        edited(Dialect::Openai, |v| v["logprobs"] = json!(true)).await,
    )
    .await
    .unwrap();
    let reply: Value = serde_json::from_str(plain.body.as_ref().unwrap()).unwrap();
    let choice = &reply["choices"][0];
    let tokens = choice["logprobs"]["content"].as_array().unwrap();
    let joined: String = tokens
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(joined, choice["message"]["content"].as_str().unwrap());
    assert!(tokens.iter().all(|t| entry(t) == 0));
    let streamed = edited(Dialect::Openai, |v| {
        v["logprobs"] = json!(true);
        v["top_logprobs"] = json!(3);
        v["stream"] = json!(true);
    })
    .await;
    let r = send(&app, streamed).await.unwrap();
    let chunks: Vec<Value> = events(r.body.as_ref().unwrap())
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let texts: Vec<&Value> = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .collect();
    assert_eq!(texts.len(), 10);
    for c in texts {
        let token = &c["choices"][0]["logprobs"]["content"][0];
        assert_eq!(token["token"], c["choices"][0]["delta"]["content"]);
        assert_eq!(entry(token), 3, "{c}");
    }
    let without = send(&app, request(Dialect::Openai, true)).await.unwrap();
    assert!(!without.body.unwrap().contains("\"logprobs\":{"));
}

/// (fault, expectation on (dialect, stream, reply)).
type Check = fn(Dialect, bool, Option<Reply>);

#[tokio::test(start_paused = true)]
async fn every_fault_in_every_dialect_and_mode() {
    let cases: Vec<(&str, Check)> = vec![
        ("{ kind: http, status: 503, retry_after: 7s }", |d, _, r| {
            let r = r.unwrap();
            assert_eq!(r.status, 503);
            assert_eq!(r.headers["retry-after"], "7");
            let outcome = classify(d, &r);
            assert_eq!(outcome.error_kind(), Some(ErrorKind::Overloaded), "{d:?}");
            assert_eq!(
                outcome.retry_after().map(|x| x.as_secs_f64() as u64),
                Some(7)
            );
        }),
        ("{ kind: http, status: 429 }", |d, _, r| {
            let r = r.unwrap();
            assert_eq!(r.status, 429);
            assert!(
                r.headers.get("retry-after").is_none(),
                "no Retry-After unless asked"
            );
            assert_eq!(classify(d, &r).error_kind(), Some(ErrorKind::RateLimited));
        }),
        ("{ kind: http, status: 529 }", |d, _, r| {
            assert_eq!(
                classify(d, &r.unwrap()).error_kind(),
                Some(ErrorKind::Overloaded)
            )
        }),
        ("{ kind: http, status: 500 }", |d, _, r| {
            assert_eq!(
                classify(d, &r.unwrap()).error_kind(),
                Some(ErrorKind::ServerError)
            )
        }),
        ("{ kind: http, status: 401 }", |d, _, r| {
            assert_eq!(
                classify(d, &r.unwrap()).error_kind(),
                Some(ErrorKind::Unauthorized)
            )
        }),
        ("{ kind: reset }", |_, _, r| assert!(r.unwrap().reset)),
        ("{ kind: hang }", |_, _, r| {
            assert!(r.is_none(), "never answers")
        }),
        ("{ kind: malformed_json }", |_, _, r| {
            let r = r.unwrap();
            assert_eq!(r.status, 200);
            assert!(serde_json::from_str::<Value>(r.body.as_ref().unwrap()).is_err());
        }),
        ("{ kind: context_length }", |d, _, r| {
            let r = r.unwrap();
            assert_eq!(r.status, 400);
            assert_eq!(
                classify(d, &r).error_kind(),
                Some(ErrorKind::ContextLengthExceeded),
                "{d:?}"
            );
        }),
        ("{ kind: content_filter }", |d, _, r| {
            let r = r.unwrap();
            assert_eq!(r.status, 400);
            assert_eq!(
                classify(d, &r).error_kind(),
                Some(ErrorKind::ContentFiltered),
                "{d:?}"
            );
        }),
        ("{ kind: slow_down, factor: 10 }", |_, _, r| {
            assert_eq!(r.unwrap().elapsed.as_millis(), 1900)
        }),
        ("{ kind: slow_first_token, extra: 5s }", |_, _, r| {
            assert_eq!(r.unwrap().elapsed.as_millis(), 5190)
        }),
        ("{ kind: stream_cut, after_tokens: 3 }", |d, stream, r| {
            let r = r.unwrap();
            if stream {
                assert!(r.body.is_err(), "{d:?}: a cut stream must not end cleanly");
            } else {
                assert_eq!(r.status, 200);
                json_text(d, r.body.as_ref().unwrap());
            }
        }),
        (
            "{ kind: stream_stall, after_tokens: 2, stall: 30s }",
            |_, stream, r| {
                let r = r.unwrap();
                if stream {
                    assert!(r.body.is_err());
                    assert_eq!(
                        r.elapsed.as_millis(),
                        30_120,
                        "silent 30 s after the second token"
                    );
                } else {
                    assert!(r.body.is_ok());
                }
            },
        ),
        (
            "{ kind: malformed_chunk, after_tokens: 1 }",
            |d, stream, r| {
                let r = r.unwrap();
                let body = r.body.unwrap();
                if stream {
                    let bad = events(&body)
                        .iter()
                        .filter(|e| serde_json::from_str::<Value>(e).is_err() && *e != "[DONE]")
                        .count();
                    assert_eq!(bad, 1, "{d:?}: one chunk is not JSON");
                    assert!(stream_text(d, &body).1, "the stream goes on to its end");
                } else {
                    json_text(d, &body);
                }
            },
        ),
        ("{ kind: missing_done }", |d, stream, r| {
            let body = r.unwrap().body.unwrap();
            if stream {
                let (text, done) = stream_text(d, &body);
                assert!(!done, "{d:?}: no terminating event");
                assert!(!text.is_empty());
            }
        }),
        (
            "{ kind: rate_limit_squeeze, requests_per_minute: 1 }",
            |_, _, r| assert_eq!(r.unwrap().status, 200),
        ),
    ];
    for dialect in Dialect::ALL {
        for stream in [false, true] {
            for (fault, check) in &cases {
                let app = app(dialect, fault);
                let reply = send(&app, request(dialect, stream)).await;
                check(dialect, stream, reply);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_squeeze_refuses_the_second_request_with_the_dialects_429() {
    for dialect in Dialect::ALL {
        let app = app(
            dialect,
            "{ kind: rate_limit_squeeze, requests_per_minute: 1 }",
        );
        assert_eq!(
            send(&app, request(dialect, false)).await.unwrap().status,
            200
        );
        let r = send(&app, request(dialect, false)).await.unwrap();
        assert_eq!(r.status, 429, "{dialect:?}");
        assert_eq!(
            classify(dialect, &r).error_kind(),
            Some(ErrorKind::RateLimited)
        );
        assert!(r.headers.contains_key("retry-after"));
    }
}

#[tokio::test(start_paused = true)]
async fn rate_limit_headers_count_down_and_reset() {
    let app = app(Dialect::Openai, "");
    let r = send(&app, request(Dialect::Openai, false)).await.unwrap();
    assert_eq!(r.headers["x-ratelimit-limit-requests"], "100");
    assert_eq!(r.headers["x-ratelimit-remaining-requests"], "99");
    let reset: switchyard_core::time::Duration = r.headers["x-ratelimit-reset-requests"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        reset.as_millis() >= 590 && reset.as_millis() <= 610,
        "{reset}"
    );
    // The other 99 at once: they all arrive before any refill.
    let burst = (0..99).map(|_| send(&app, request(Dialect::Openai, false)));
    futures_util::future::join_all(burst).await;
    let limited = send(&app, request(Dialect::Openai, false)).await.unwrap();
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["x-ratelimit-remaining-requests"], "0");
    assert!(limited.headers.contains_key("retry-after-ms"));
    let limits = oa::limits(&header_pairs(&limited.headers));
    assert_eq!(limits.remaining_requests, Some(0));
    // A minute on, the bucket is full again.
    tokio::time::advance(std::time::Duration::from_secs(60)).await;
    let r = send(&app, request(Dialect::Openai, false)).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-ratelimit-remaining-requests"], "99");

    let app = app_anthropic_limited();
    let r = send(&app, request(Dialect::Anthropic, false))
        .await
        .unwrap();
    assert_eq!(r.headers["anthropic-ratelimit-requests-limit"], "100");
    assert!(
        switchyard_core::dialect::parse_rfc3339(
            r.headers["anthropic-ratelimit-requests-reset"]
                .to_str()
                .unwrap()
        )
        .is_some()
    );
}

fn app_anthropic_limited() -> axum::Router {
    app(Dialect::Anthropic, "")
}

#[tokio::test(start_paused = true)]
async fn bad_requests_get_each_vendors_errors() {
    // (dialect, mutate the request, expected status, expected kind)
    let no_key = |d: Dialect| {
        let mut r = request(d, false);
        for h in ["authorization", "api-key", "x-api-key", "x-goog-api-key"] {
            r.headers_mut().remove(h);
        }
        r
    };
    let wrong_key = |d: Dialect| {
        let mut r = no_key(d);
        let (name, value) = match d {
            Dialect::Openai => ("authorization", "Bearer sk-wrong"),
            Dialect::AzureOpenai => ("api-key", "wrong"),
            Dialect::Anthropic => ("x-api-key", "wrong"),
            Dialect::Gemini => ("x-goog-api-key", "wrong"),
        };
        r.headers_mut().insert(name, value.parse().unwrap());
        r
    };
    for d in Dialect::ALL {
        let app = app(d, "");
        let r = send(&app, wrong_key(d)).await.unwrap();
        assert_eq!(
            classify(d, &r).error_kind(),
            Some(ErrorKind::Unauthorized),
            "{d:?} wrong key: {:?}",
            r.body
        );
        let r = send(&app, no_key(d)).await.unwrap();
        assert!(
            matches!(r.status.as_u16(), 401 | 403),
            "{d:?} no key: {}",
            r.status
        );
        let mut bad = request(d, false);
        *bad.body_mut() = Body::from("{not json");
        let r = send(&app, bad).await.unwrap();
        assert_eq!(r.status, 400, "{d:?} malformed body");
        assert_eq!(classify(d, &r).error_kind(), Some(ErrorKind::BadRequest));
        let mut empty = request(d, false);
        *empty.body_mut() = Body::from("{}");
        let r = send(&app, empty).await.unwrap();
        assert_eq!(r.status, 400, "{d:?} missing required field: {:?}", r.body);
    }
    // Unknown models.
    let openai = app(Dialect::Openai, "");
    let mut r = request(Dialect::Openai, false);
    *r.body_mut() = Body::from(
        json!({ "model": "gpt-9", "messages": [{ "role": "user", "content": "hi" }] }).to_string(),
    );
    let r = send(&openai, r).await.unwrap();
    assert_eq!(r.status, 404);
    assert!(r.body.unwrap().contains("model_not_found"));
    let azure = app(Dialect::AzureOpenai, "");
    let mut r = request(Dialect::AzureOpenai, false);
    *r.uri_mut() = "/openai/deployments/nope/chat/completions?api-version=1"
        .parse()
        .unwrap();
    let r = send(&azure, r).await.unwrap();
    assert_eq!(
        (
            r.status.as_u16(),
            classify(Dialect::AzureOpenai, &r).error_kind()
        ),
        (404, Some(ErrorKind::Forbidden))
    );
    // Anthropic needs its version header.
    let anthropic = app(Dialect::Anthropic, "");
    let mut r = request(Dialect::Anthropic, false);
    r.headers_mut().remove("anthropic-version");
    assert_eq!(send(&anthropic, r).await.unwrap().status, 400);
    // Gemini takes the key as a query parameter too.
    let gemini = app(Dialect::Gemini, "");
    let mut r = request(Dialect::Gemini, false);
    r.headers_mut().remove("x-goog-api-key");
    *r.uri_mut() = format!("/v1beta/models/m1:generateContent?key={KEY}")
        .parse()
        .unwrap();
    assert_eq!(send(&gemini, r).await.unwrap().status, 200);
    // A prompt too long for the model's window.
    let mut r = request(Dialect::Openai, false);
    *r.body_mut() = Body::from(
        json!({ "model": "m1", "messages": [{ "role": "user", "content": "x".repeat(20_000) }] })
            .to_string(),
    );
    let r = send(&openai, r).await.unwrap();
    assert_eq!(
        classify(Dialect::Openai, &r).error_kind(),
        Some(ErrorKind::ContextLengthExceeded)
    );
}

#[tokio::test(start_paused = true)]
async fn the_control_api_injects_lists_counts_and_clears_faults() {
    let app = app(Dialect::Openai, "");
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    assert_eq!(
        send(&app, request(Dialect::Openai, false))
            .await
            .unwrap()
            .status,
        200
    );
    let add = Request::post("/_fake/faults")
        .body(Body::from(
            json!({ "kind": "http", "status": 503, "for": "10s" }).to_string(),
        ))
        .unwrap();
    assert_eq!(send(&app, add).await.unwrap().status, 201);
    assert_eq!(
        send(&app, request(Dialect::Openai, false))
            .await
            .unwrap()
            .status,
        503
    );
    let listed: Value = serde_json::from_str(
        &send(&app, get("/_fake/faults"))
            .await
            .unwrap()
            .body
            .unwrap(),
    )
    .unwrap();
    assert_eq!(listed["faults"][0]["fired"], 1);
    assert_eq!(listed["faults"][0]["active"], true);
    assert_eq!(listed["faults"][0]["spent"], false);
    let counters: Value = serde_json::from_str(
        &send(&app, get("/_fake/counters"))
            .await
            .unwrap()
            .body
            .unwrap(),
    )
    .unwrap();
    assert_eq!(counters["requests"], 2);
    assert_eq!(counters["statuses"]["503"], 1);
    assert_eq!(counters["statuses"]["200"], 1);
    // The control API's key for answers by behaviour stays `verdicts`.
    assert_eq!(counters["verdicts"]["error"], 1);
    assert_eq!(counters["verdicts"]["reply"], 1);
    assert_eq!(counters["faults_fired"]["http"], 1);
    // The injected window ends 10 s after the injection.
    tokio::time::advance(std::time::Duration::from_secs(11)).await;
    assert_eq!(
        send(&app, request(Dialect::Openai, false))
            .await
            .unwrap()
            .status,
        200
    );
    let bad = Request::post("/_fake/faults")
        .body(Body::from(r#"{"kind":"http"}"#))
        .unwrap();
    assert_eq!(send(&app, bad).await.unwrap().status, 400);
    let bad = Request::post("/_fake/faults")
        .body(Body::from("nope"))
        .unwrap();
    assert_eq!(send(&app, bad).await.unwrap().status, 400);
    let add = Request::post("/_fake/faults")
        .body(Body::from(r#"{"kind":"reset"}"#))
        .unwrap();
    send(&app, add).await.unwrap();
    assert!(
        send(&app, request(Dialect::Openai, false))
            .await
            .unwrap()
            .reset
    );
    let clear = Request::delete("/_fake/faults")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, clear).await.unwrap().status, 204);
    assert_eq!(
        send(&app, request(Dialect::Openai, false))
            .await
            .unwrap()
            .status,
        200
    );
    let reset = Request::post("/_fake/reset").body(Body::empty()).unwrap();
    assert_eq!(send(&app, reset).await.unwrap().status, 204);
    let counters: Value = serde_json::from_str(
        &send(&app, get("/_fake/counters"))
            .await
            .unwrap()
            .body
            .unwrap(),
    )
    .unwrap();
    assert_eq!(counters["requests"], 0);
    let models: Value =
        serde_json::from_str(&send(&app, get("/v1/models")).await.unwrap().body.unwrap()).unwrap();
    assert_eq!(models["data"][0]["id"], "m1");
}

#[tokio::test]
async fn over_real_sockets_a_reset_closes_the_connection_and_a_cut_stream_breaks() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app(Dialect::Openai, "{ kind: reset, first: 1 }");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(super::serve(listener, app, async move {
        let _ = stopped.await;
    }));
    let body =
        json!({ "model": "m1", "messages": [{ "role": "user", "content": "hi" }] }).to_string();
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(raw.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got).await;
    assert!(
        got.is_empty(),
        "reset before any byte: got {:?}",
        String::from_utf8_lossy(&got)
    );
    // The next request is served normally.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        raw.replace("host: x", "host: x\r\nconnection: close")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).await.unwrap();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let _ = stop.send(());
    server.await.unwrap();
}

pub(super) async fn journal(app: &axum::Router) -> Value {
    let r = send(
        app,
        Request::get("/_fake/journal").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let text = r.body.unwrap();
    assert!(!text.contains(KEY), "the journal never holds a key: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_journal_shows_each_request_as_received_newest_first_keys_redacted() {
    for dialect in Dialect::ALL {
        let app = app(dialect, "");
        let req = request(dialect, false);
        let sent_path = req.uri().to_string();
        send(&app, req).await.unwrap();
        // A path no route takes is journaled too (what an SDK on the wrong path sends).
        let stray = Request::post("/v2/nowhere?key=sk-test-key&alt=sse")
            .header("x-goog-api-key", KEY)
            .body(Body::from("not json"))
            .unwrap();
        assert_eq!(send(&app, stray).await.unwrap().status, 404);
        let j = journal(&app).await;
        let entries = j["entries"].as_array().unwrap();
        assert_eq!(
            entries.len(),
            2,
            "{dialect:?}: the control API is not journaled"
        );
        let (newest, first) = (&entries[0], &entries[1]);
        assert_eq!(newest["path"], "/v2/nowhere?key=[redacted]&alt=sse");
        assert_eq!(
            newest["body"], "not json",
            "a body that is not JSON, as text"
        );
        assert_eq!(newest["headers"]["x-goog-api-key"], "[redacted]");
        assert_eq!(first["method"], "POST");
        assert_eq!(first["path"], sent_path.as_str());
        assert_eq!(first["headers"]["content-type"], "application/json");
        assert_eq!(first["truncated"], false);
        assert!(first["seq"].as_u64() < newest["seq"].as_u64());
        let sent = request(dialect, false).into_body().collect().await.unwrap();
        let sent: Value = serde_json::from_slice(&sent.to_bytes()).unwrap();
        assert_eq!(first["body"], sent, "{dialect:?}: the body as received");
        let key_header = match dialect {
            Dialect::Openai => "authorization",
            Dialect::AzureOpenai => "api-key",
            Dialect::Anthropic => "x-api-key",
            Dialect::Gemini => "x-goog-api-key",
        };
        assert_eq!(first["headers"][key_header], "[redacted]", "{dialect:?}");
        if dialect == Dialect::Anthropic {
            assert_eq!(first["headers"]["anthropic-version"], an::VERSION);
        }
    }
}

/// `?raw=true`: each body as the bytes received (order and spacing kept), JSON or not.
#[tokio::test(start_paused = true)]
async fn the_raw_journal_shows_bodies_as_the_text_received() {
    let app = app(Dialect::Openai, "");
    let body = r#"{"model":"m1",  "messages":[{"role":"user","content":"hi"}],"z":1,"a":0.10}"#;
    let req = Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(send(&app, req).await.unwrap().status, 200);
    let raw = send(
        &app,
        Request::get("/_fake/journal?raw=true")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    let raw: Value = serde_json::from_str(&raw.body.unwrap()).unwrap();
    assert_eq!(raw["entries"][0]["body"], body);
    let parsed = journal(&app).await;
    assert_eq!(parsed["entries"][0]["body"]["a"], 0.1, "parsed by default");
    let bad = Request::get("/_fake/journal?raw=maybe")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, bad).await.unwrap().status, 400);
}

#[tokio::test(start_paused = true)]
async fn the_journal_is_bounded_cuts_big_bodies_and_clears() {
    let app = app(Dialect::Openai, "");
    let models = || Request::get("/v1/models").body(Body::empty()).unwrap();
    for _ in 0..super::journal::CAPACITY + 10 {
        send(&app, models()).await.unwrap();
    }
    let j = journal(&app).await;
    assert_eq!(
        j["entries"].as_array().unwrap().len(),
        super::journal::CAPACITY
    );
    assert_eq!(j["dropped"], 10);
    assert_eq!(j["entries"][0]["seq"], super::journal::CAPACITY as u64 + 10);
    assert_eq!(j["entries"][0]["body"], Value::Null);

    let mut big = request(Dialect::Openai, false);
    let prompt = "word ".repeat(20_000);
    *big.body_mut() = Body::from(
        json!({ "model": "m1", "messages": [{ "role": "user", "content": prompt }] }).to_string(),
    );
    send(&app, big).await.unwrap();
    let j = journal(&app).await;
    let newest = &j["entries"][0];
    assert_eq!(newest["truncated"], true);
    assert_eq!(
        newest["body"].as_str().unwrap().len(),
        super::journal::BODY_CAP
    );

    let clear = Request::delete("/_fake/journal")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, clear).await.unwrap().status, 204);
    assert_eq!(journal(&app).await["entries"], json!([]));
    assert_eq!(journal(&app).await["dropped"], 0);
    send(&app, models()).await.unwrap();
    assert_eq!(journal(&app).await["entries"].as_array().unwrap().len(), 1);
    let reset = Request::post("/_fake/reset").body(Body::empty()).unwrap();
    assert_eq!(send(&app, reset).await.unwrap().status, 204);
    assert_eq!(journal(&app).await["entries"], json!([]));
}

/// Newer google-genai SDKs call `/v1`; older ones `/v1beta`. Both serve, JSON and stream.
#[tokio::test(start_paused = true)]
async fn gemini_serves_v1_as_well_as_v1beta() {
    let app = app(Dialect::Gemini, "");
    for version in ["v1beta", "v1"] {
        for stream in [false, true] {
            let mut r = request(Dialect::Gemini, stream);
            let uri = r
                .uri()
                .to_string()
                .replacen("/v1beta/", &format!("/{version}/"), 1);
            *r.uri_mut() = uri.parse().unwrap();
            let r = send(&app, r).await.unwrap();
            assert_eq!(r.status, 200, "{uri}: {:?}", r.body);
            let body = r.body.unwrap();
            let text = if stream {
                let (text, done) = stream_text(Dialect::Gemini, &body);
                assert!(done, "{uri}");
                text
            } else {
                json_text(Dialect::Gemini, &body)
            };
            assert_eq!(text.split(' ').count(), 10, "{uri}");
        }
        let mut r = request(Dialect::Gemini, false);
        *r.uri_mut() = format!("/{version}/models/nope:generateContent")
            .parse()
            .unwrap();
        let r = send(&app, r).await.unwrap();
        assert_eq!(r.status, 404);
        assert!(
            r.body
                .unwrap()
                .contains(&format!("for API version {version},")),
            "{version}"
        );
    }
}

/// A request body: the dialect's well-formed one, with `edit` applied to its JSON.
pub(super) async fn edited(dialect: Dialect, edit: impl FnOnce(&mut Value)) -> Request<Body> {
    let (parts, body) = request(dialect, false).into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let mut value: Value = serde_json::from_slice(&bytes).unwrap();
    edit(&mut value);
    Request::from_parts(parts, Body::from(value.to_string()))
}

/// What each vendor refuses with a 400 the fakes refuse too, with the vendor's error body,
/// before looking at the model; what the vendor takes still passes.
#[tokio::test(start_paused = true)]
async fn requests_the_vendors_refuse_get_their_400s() {
    let refused: Vec<(Dialect, Request<Body>, &str)> = vec![
        (
            Dialect::Openai,
            edited(Dialect::Openai, |v| v["messages"] = json!([])).await,
            "empty_array",
        ),
        (
            Dialect::AzureOpenai,
            edited(Dialect::AzureOpenai, |v| v["messages"] = json!([])).await,
            "empty_array",
        ),
        (
            Dialect::Openai,
            edited(Dialect::Openai, |v| {
                v["model"] = json!("not-a-model");
                v["messages"][0]["role"] = json!("human");
            })
            .await,
            "Invalid value: 'human'",
        ),
        (
            Dialect::Anthropic,
            edited(Dialect::Anthropic, |v| {
                v.as_object_mut().unwrap().remove("max_tokens");
            })
            .await,
            "max_tokens: Field required",
        ),
        (
            Dialect::Anthropic,
            edited(Dialect::Anthropic, |v| {
                v["messages"][0]["content"] = json!("")
            })
            .await,
            "messages.0: all messages must have non-empty content",
        ),
        (
            Dialect::Anthropic,
            edited(Dialect::Anthropic, |v| {
                v["messages"] = json!([
                    { "role": "user", "content": "hi" },
                    { "role": "assistant", "content": [] },
                    { "role": "user", "content": "again" },
                ]);
            })
            .await,
            "messages.1: all messages must have non-empty content",
        ),
        (
            Dialect::Gemini,
            edited(Dialect::Gemini, |v| v["contents"] = json!([])).await,
            "contents is not specified",
        ),
        (
            Dialect::Gemini,
            edited(Dialect::Gemini, |v| v["contents"][0]["parts"] = json!([])).await,
            "contents[0].parts: contents.parts must not be empty",
        ),
    ];
    for (dialect, req, message) in refused {
        let r = send(&app(dialect, ""), req).await.unwrap();
        let body = r.body.as_deref().unwrap_or("");
        assert_eq!(r.status, 400, "{dialect:?} {message}: {body}");
        assert_eq!(
            classify(dialect, &r).error_kind(),
            Some(ErrorKind::BadRequest),
            "{dialect:?}: {body}"
        );
        assert!(body.contains(message), "{dialect:?}: {body}");
    }
    // The role check names the message.
    let r = send(
        &app(Dialect::Openai, ""),
        edited(Dialect::Openai, |v| {
            v["messages"] =
                json!([{ "role": "user", "content": "a" }, { "role": "robot", "content": "b" }]);
        })
        .await,
    )
    .await
    .unwrap();
    let error: Value = serde_json::from_str(r.body.as_ref().unwrap()).unwrap();
    assert_eq!(error["error"]["param"], "messages[1].role");
    assert_eq!(error["error"]["code"], "invalid_value");

    let accepted: Vec<(Dialect, Request<Body>)> = vec![
        (
            Dialect::Openai,
            edited(Dialect::Openai, |v| {
                v["messages"] = json!([
                    { "role": "developer", "content": "be brief" },
                    { "role": "system", "content": "be kind" },
                    { "role": "user", "content": [{ "type": "text", "text": "hi" }] },
                    { "role": "assistant", "content": null },
                    { "role": "user", "content": "" },
                ]);
            })
            .await,
        ),
        // A final assistant message may be empty: a prefill.
        (
            Dialect::Anthropic,
            edited(Dialect::Anthropic, |v| {
                v["messages"] = json!([
                    { "role": "user", "content": [{ "type": "text", "text": "hi" }] },
                    { "role": "assistant", "content": "" },
                ]);
            })
            .await,
        ),
    ];
    for (dialect, req) in accepted {
        let r = send(&app(dialect, ""), req).await.unwrap();
        assert_eq!(r.status, 200, "{dialect:?}: {:?}", r.body);
    }
}

/// A `first: 1` fault that fired is listed spent, not active (it never fires again); so is a
/// one-off window once it closed.
#[tokio::test(start_paused = true)]
async fn a_spent_fault_is_listed_spent_and_inactive() {
    let app = app(Dialect::Openai, "");
    let list = |app: axum::Router| async move {
        let listed = send(
            &app,
            Request::get("/_fake/faults").body(Body::empty()).unwrap(),
        )
        .await
        .unwrap()
        .body
        .unwrap();
        let listed: Value = serde_json::from_str(&listed).unwrap();
        listed["faults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["active"].as_bool().unwrap(),
                    f["spent"].as_bool().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    for fault in [
        json!({ "kind": "http", "status": 500, "first": 1 }),
        json!({ "kind": "http", "status": 503, "at": "0s", "for": "10s", "rate": 0.0 }),
    ] {
        let add = Request::post("/_fake/faults")
            .body(Body::from(fault.to_string()))
            .unwrap();
        assert_eq!(send(&app, add).await.unwrap().status, 201);
    }
    assert_eq!(list(app.clone()).await, [(true, false), (true, false)]);
    let status = |app: axum::Router| async move {
        send(&app, request(Dialect::Openai, false))
            .await
            .unwrap()
            .status
    };
    assert_eq!(status(app.clone()).await, 500);
    assert_eq!(list(app.clone()).await, [(false, true), (true, false)]);
    assert_eq!(status(app.clone()).await, 200);
    tokio::time::advance(std::time::Duration::from_secs(11)).await;
    assert_eq!(list(app.clone()).await, [(false, true), (false, true)]);
}
