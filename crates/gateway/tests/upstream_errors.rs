//! What an OpenAI client gets back when an upstream refuses: the provider's own words and
//! type, never its key errors, the wait in seconds, and which targets were tried only when
//! asked (per key, or for every key with a key's opt-out).

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::stubs::{chat, gateway, json_stub, post};
use switchyard_gateway::{Gateway, sha256_hex};
use switchyard_live::{InProcess, Transport};

#[tokio::test]
async fn a_provider_error_keeps_its_words_and_names_no_target() {
    let said = "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.";
    let gw = gateway(
        "openai",
        json_stub(
            400,
            json!({"error": {"message": said, "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
        ),
    );
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let e = &r.json()["error"];
    assert_eq!(e["message"], said);
    assert_eq!(e["type"], "invalid_request_error");
    assert_eq!(e["param"], "messages");
    assert_eq!(e["code"], "context_length_exceeded");
    assert!(!r.has_attempt_headers());
    assert!(!r.body.contains("\"t "), "no target named: {}", r.body);

    // The same from Anthropic: its words, the gateway's type and code for the kind (the
    // same type here: both vendors call it `invalid_request_error`).
    let gw = gateway(
        "anthropic",
        json_stub(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}}),
        ),
    );
    let r = post(&gw, "key", &[], chat("chat", true)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let e = &r.json()["error"];
    assert_eq!(
        e["message"],
        "prompt is too long: 210000 tokens > 200000 maximum"
    );
    assert_eq!(e["type"], "invalid_request_error");
    assert_eq!(e["code"], "context_length_exceeded");

    // With the attempt log exposed (this key's own setting), the story and the headers.
    let r = post(&gw, "ops-key", &[], chat("chat", false)).await;
    assert!(r.has_attempt_headers());
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("Attempts: context_length_exceeded: t → context_length_exceeded"),
        "{message}"
    );
}

/// An OpenAI client is told in OpenAI's words: another dialect's error type (Anthropic's
/// `overloaded_error`, Gemini's `RESOURCE_EXHAUSTED`) is no OpenAI `type`, so the client gets
/// the gateway's type and code for the kind, with the provider's message.
#[tokio::test]
async fn another_dialects_error_type_is_said_in_openais_words() {
    let gw = gateway(
        "anthropic",
        json_stub(
            529,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
    );
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let e = &r.json()["error"];
    assert_eq!(e["message"], "Overloaded. Retry after 1 s.");
    assert_eq!(e["type"], "server_error");
    assert_eq!(e["code"], "overloaded");

    let gw = gateway(
        "gemini",
        json_stub(
            429,
            json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"}]}}),
        ),
    );
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let e = &r.json()["error"];
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Resource has been exhausted"),
        "{e}"
    );
    assert_eq!(e["type"], "requests");
    assert_eq!(e["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn a_provider_key_error_is_not_passed_on() {
    let gw = gateway(
        "openai",
        json_stub(
            401,
            json!({"error": {"message": "Incorrect API key provided: sk-live-abcdefghijkl1234.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        ),
    );
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(!r.body.contains("sk-live"), "{}", r.body);
    assert!(!r.body.contains("invalid_api_key"), "{}", r.body);
}

#[tokio::test]
async fn a_rate_limited_provider_says_when_to_retry_in_seconds() {
    let upstream = axum::Router::new().fallback(|| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("content-type", "application/json"), ("retry-after", "1")],
            json!({"error": {"message": "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 30000.", "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}).to_string(),
        )
    });
    let gw = gateway("openai", upstream);
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let e = &r.json()["error"];
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with("Rate limit reached for gpt-4o on tokens per min"),
        "{message}"
    );
    assert!(message.ends_with(" Retry after 1 s."), "{message}");
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(r.headers["retry-after"], "1");
}

#[tokio::test]
async fn the_global_setting_exposes_attempts_and_a_key_can_turn_it_off() {
    let reply = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]});
    let text = format!(
        "providers:\n  - {{ name: p, dialect: openai, base_url: 'https://x', fake_base_url: 'http://up.stub' }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [t] }}\n\
         gateway:\n  expose_attempts: true\n  keys:\n    - {{ name: app, sha256: {} }}\n    - {{ name: quiet, sha256: {}, expose_attempts: false }}\n",
        sha256_hex("key"),
        sha256_hex("quiet-key"),
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = Transport::new(InProcess::new().with("up.stub", json_stub(200, reply)));
    let gw = Gateway::new(&params, None, transport).unwrap();
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.headers["x-switchyard-target"], "t");
    assert_eq!(r.headers["x-switchyard-attempts"], "1");
    let r = post(&gw, "quiet-key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.has_attempt_headers());
}

/// A request that finds its target parked by a 429 and fails fast makes no attempt: its error
/// must not say a provider answered it. Found by helper NU: the second request said "The
/// provider's answer was an error: rate_limited." (and, with the attempt log, "Attempts:
/// rate_limited: no attempt was made." under an empty `x-switchyard-attempt-log` header).
#[tokio::test]
async fn a_request_refused_on_a_parked_target_does_not_say_a_provider_answered() {
    let upstream = axum::Router::new().fallback(|| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("content-type", "application/json"), ("retry-after", "7")],
            json!({"error": {"message": "Rate limit reached for gpt-4o on requests per min (RPM): Limit 500, Used 500.", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}).to_string(),
        )
    });
    let gw = gateway("openai", upstream);
    let first = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(first.status, 429, "{}", first.body);
    // The target is parked for 7 s, past the 2 s the plan waits: no attempt is made.
    let parked = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(parked.status, 429, "{}", parked.body);
    assert_eq!(parked.headers["retry-after"], "7");
    let message = parked.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.ends_with(" Retry after 7 s."), "{message}");
    assert!(
        !message.contains("provider's answer"),
        "no provider was asked: {message}"
    );
    // With the attempt log exposed: no attempt, so no (empty) attempt-log header.
    let exposed = post(&gw, "ops-key", &[], chat("chat", false)).await;
    assert_eq!(exposed.status, 429, "{}", exposed.body);
    assert!(
        !exposed.headers.contains_key("x-switchyard-attempt-log"),
        "{:?}",
        exposed.headers
    );
    // Why it failed, the router's reason (what the runner books it as), with the attempts only.
    assert_eq!(exposed.headers["x-switchyard-outcome"], "rate_limited");
    assert!(!parked.headers.contains_key("x-switchyard-outcome"));
}

/// What `/admin/state` shows of a target that answered only 429s (docs/GATEWAY.md): its
/// errors counted, its availability untouched (rate limits do not count against it by
/// default), its latency estimate the failure penalty (5 s), and parked for the wait it
/// asked for, capped at `router.plan.retry_after_max` (20 s).
#[tokio::test]
async fn admin_state_counts_429s_as_errors_not_against_availability() {
    let upstream = axum::Router::new().fallback(|| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("content-type", "application/json"), ("retry-after", "30")],
            json!({"error": {"message": "Rate limit reached.", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}).to_string(),
        )
    });
    let gw = support::stubs::gateway_with(
        "openai",
        upstream,
        &format!("  admin_token_sha256: {}\n", sha256_hex("admin")),
        "",
    );
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let state = support::admin_state(&gw).await;
    let t = support::target(&state, "t");
    assert_eq!(t["attempts"], 1, "{t}");
    assert_eq!(t["errors"], 1, "{t}");
    assert_eq!(t["successes"], 0, "{t}");
    assert_eq!(t["availability"], 1.0, "{t}");
    assert_eq!(t["latency_estimate_ms"], 5000.0, "{t}");
    let parked = t["parked_for_secs"].as_f64().unwrap();
    assert!(
        parked > 19.0 && parked <= 20.0,
        "asked 30 s, capped at 20 s: {t}"
    );
    // Read to the millisecond, not to float noise.
    assert_eq!(parked, (parked * 1e3).round() / 1e3, "{t}");
}

/// A 429's parking has its router line, its data in fields (docs/GATEWAY.md, Router
/// events): `event: parked`, the target in `target_name`, the wait in `for_secs` to the
/// millisecond, no field of another kind's.
#[tokio::test]
async fn a_parking_has_a_router_line_with_its_fields() {
    let logs = support::Captured::start();
    let upstream = axum::Router::new().fallback(|| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("content-type", "application/json"), ("retry-after", "30")],
            json!({"error": {"message": "Rate limit reached.", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}).to_string(),
        )
    });
    let gw = support::stubs::gateway_with("openai", upstream, "", "");
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let parked: Vec<_> = logs
        .json()
        .into_iter()
        .filter(|l| l["target"] == "switchyard::router" && l["event"] == "parked")
        .collect();
    assert_eq!(parked.len(), 1, "{}", logs.text());
    let p = &parked[0];
    assert_eq!(p["message"], "target parked", "{p}");
    assert_eq!(p["target_name"], "t", "{p}");
    let secs = p["for_secs"].as_f64().unwrap();
    assert_eq!(secs, 20.0, "asked 30 s, capped at 20 s: {p}");
    for other in [
        "route",
        "from",
        "to",
        "reason",
        "mode",
        "action",
        "raised",
        "spent_usd",
    ] {
        assert!(p.get(other).is_none(), "{other} in {p}");
    }
}

/// A provider that could not be reached gave no answer, and the error says so (it said "The
/// provider's answer was an error: connect_failed", found by a walkthrough).
#[tokio::test]
async fn an_unreachable_provider_did_not_answer() {
    let text = format!(
        "providers:\n  - {{ name: p, dialect: openai, base_url: 'https://x', fake_base_url: 'http://gone.stub' }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [t] }}\n  plan: {{ max_attempts: 1 }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex("key"),
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let gw = Gateway::new(&params, None, Transport::new(InProcess::new())).unwrap();
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 502, "{}", r.body);
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("The provider did not answer (connect_failed)."),
        "{message}"
    );
}

/// A gateway whose one target `t` (route `chat`, one attempt) is sent where nothing listens
/// (a port bound, then let go), by the real HTTP client: its `fake_base_url` ends with
/// `url_tail`, its provider and target entries with `provider` and `target`. The gateway and
/// the port.
#[expect(clippy::unwrap_used, reason = "test code")]
fn nowhere(url_tail: &str, provider: &str, target: &str) -> (std::sync::Arc<Gateway>, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        "providers:\n  - {{ name: p, dialect: openai, base_url: 'https://x', fake_base_url: 'http://127.0.0.1:{port}{url_tail}'{provider} }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m{target} }}\n  routes:\n    - {{ name: chat, policy: static, targets: [t] }}\n  plan: {{ max_attempts: 1 }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex(support::CLIENT_KEY)
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = switchyard_live::Transport::new(switchyard_live::transport::HttpClient::new());
    (Gateway::new(&params, None, transport).unwrap(), port)
}

/// An attempt sent where nothing listens: the warning names the target, the address (host
/// and port, not the URL's path or query; the config refuses user information) and the
/// cause, at most once a second per target; the client is told only `connect_failed`
/// (docs/GATEWAY.md, "Logs").
#[tokio::test]
async fn a_refused_connection_is_logged_with_its_address_and_cause() {
    let logs = support::Captured::start();
    let (gw, port) = nowhere(
        "/v1?token=SECRET",
        "",
        ", breaker: { consecutive_failures: 10 }",
    );
    let send = || {
        support::call(
            &gw,
            "POST",
            "/v1/chat/completions",
            Some(support::CLIENT_KEY),
            support::chat(false),
        )
    };
    let first = tokio::time::Instant::now();
    let (status, body) = send().await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("connect_failed"), "{body}");
    assert!(
        !body.contains("127.0.0.1"),
        "no address for the client: {body}"
    );
    let unreached = |logs: &support::Captured| {
        let lines = logs.json();
        lines
            .into_iter()
            .filter(|l| l["event"] == "connect_failed")
            .collect::<Vec<_>>()
    };
    let lines = unreached(&logs);
    assert_eq!(lines.len(), 1, "{}", logs.text());
    let l = &lines[0];
    assert_eq!(l["target_name"], "t", "{l}");
    assert_eq!(l["address"], format!("127.0.0.1:{port}"), "{l}");
    let error = l["error"].as_str().unwrap();
    assert!(error.contains("refused"), "{l}");
    assert!(l.get("left_out").is_none(), "{l}");
    assert!(!logs.text().contains("SECRET"), "{}", logs.text());
    // At most a line a second per target: two more failures within the second are left out,
    // and the next line, a second on, counts them.
    for _ in 0..2 {
        send().await;
    }
    // Three refused connections take milliseconds; on a machine too loaded to make them
    // within the second, the throttle rightly wrote more lines and there is nothing to check.
    if first.elapsed() >= std::time::Duration::from_millis(900) {
        eprintln!("skipped the throttle's check: the sends took over 900 ms");
        return;
    }
    assert_eq!(unreached(&logs).len(), 1, "{}", logs.text());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    send().await;
    let lines = unreached(&logs);
    assert_eq!(lines.len(), 2, "{}", logs.text());
    assert_eq!(lines[1]["left_out"], 2, "{}", lines[1]);
}

/// A provider whose key goes in the URL's query (`auth: query:key`): its unreached attempt's
/// warning still names the host and port, and never the key.
#[tokio::test]
async fn a_query_auth_providers_unreached_attempt_names_its_address_never_its_key() {
    let logs = support::Captured::start();
    let (gw, port) = nowhere("", ", auth: 'query:key', mock_key: QUERYSECRET", "");
    let (status, body) = support::call(
        &gw,
        "POST",
        "/v1/chat/completions",
        Some(support::CLIENT_KEY),
        support::chat(false),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    let lines = logs.json();
    let l = lines
        .iter()
        .find(|l| l["event"] == "connect_failed")
        .unwrap_or_else(|| panic!("{}", logs.text()));
    assert_eq!(l["address"], format!("127.0.0.1:{port}"), "{l}");
    assert!(!logs.text().contains("QUERYSECRET"), "{}", logs.text());
}
