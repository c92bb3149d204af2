//! The gateway in process: fakes behind the in-process transport, requests by `oneshot`.
#![expect(clippy::unwrap_used, reason = "test code")]

#[path = "support/refused_bodies.rs"]
mod refused_bodies;
mod support;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use support::fake;
use support::one_route::{CHAT, Rig, admin, call, config, post_chat, rig};
use switchyard_gateway::{Gateway, app, sha256_hex};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn keys_rates_and_bodies() {
    let r = rig(2);
    assert_eq!(
        call(&r.gw, "POST", "/v1/chat/completions", None, CHAT.into())
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &r.gw,
            "POST",
            "/v1/chat/completions",
            Some("wrong"),
            CHAT.into()
        )
        .await
        .0,
        401
    );
    let (status, headers, body) = post_chat(&r.gw, "chat").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-switchyard-attempts"], "1");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["model"], "m");
    assert_eq!(reply["usage"]["completion_tokens"], 5);
    assert_eq!(post_chat(&r.gw, "chat").await.0, 200);
    // Two a minute: the third is refused with a Retry-After.
    let (status, headers, body) = post_chat(&r.gw, "chat").await;
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert!(body.contains("rate_limit_exceeded"));
    bad_bodies_get_openais_errors().await;
}

/// A body that is not JSON, one over `max_body_bytes`, and an unknown route: each refused in
/// OpenAI's format.
async fn bad_bodies_get_openais_errors() {
    let r = rig(100);
    let (status, _, body) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        "{nope".into(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("\"error\""), "OpenAI's format: {body}");
    let big = format!(
        r#"{{"model":"chat","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(5000)
    );
    let (status, _, body) = call(&r.gw, "POST", "/v1/chat/completions", Some("key"), big).await;
    assert_eq!(status, 413);
    assert!(
        body.contains("\"request_too_large\""),
        "OpenAI's format: {body}"
    );
    let (status, _, body) = post_chat(&r.gw, "nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("model_not_found"));
    assert!(
        body.contains("`nope` is not a route or target of this gateway; GET /v1/models lists them"),
        "{body}"
    );
    // A long name is quoted cut, not whole.
    let (status, _, body) = post_chat(&r.gw, &"é".repeat(300)).await;
    assert_eq!(status, 404);
    assert!(body.contains(&format!("`{}…`", "é".repeat(64))), "{body}");
    assert!(!body.contains(&"é".repeat(65)), "{body}");
}

#[tokio::test(start_paused = true)]
async fn admin_and_reload() {
    let r = rig(100);
    the_admin_api_needs_its_token_and_checks_overrides(&r).await;
    unknown_paths_and_drained_targets_get_json_errors(&r).await;
    a_reload_swaps_routes_and_keeps_breakers(&r).await;
    // A broken config on disk: reload refuses and the running router stays.
    std::fs::write(&r.path, "router: {").unwrap();
    assert_eq!(
        call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new())
            .await
            .0,
        400
    );
    assert_eq!(post_chat(&r.gw, "assistant").await.0, 200);
    let (_, _, state) = call(&r.gw, "GET", "/admin/state", Some("admin"), String::new()).await;
    assert!(
        state.contains("\"action\":\"force\"") && state.contains("\"action\":\"reload\""),
        "{state}"
    );
    let (status, _, metrics) = call(&r.gw, "GET", "/metrics", None, String::new()).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("switchyard_attempts_total"));
}

/// `/admin/state` needs the admin token; an override in the wrong words is refused, naming
/// the right ones; `force … forced_open` is accepted.
async fn the_admin_api_needs_its_token_and_checks_overrides(r: &Rig) {
    assert_eq!(
        call(&r.gw, "GET", "/admin/state", None, String::new())
            .await
            .0,
        401
    );
    let (status, _, body) = call(&r.gw, "GET", "/admin/state", Some("admin"), String::new()).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"breaker\":\"closed\""), "{body}");
    let (status, body) =
        support::overrides(&r.gw, r#"{"action":"force","target":"ta","mode":"open"}"#).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("forced_open, disabled, metrics_only or automatic (got `open`)"),
        "{body}"
    );
    let (status, _) = support::overrides(
        &r.gw,
        r#"{"action":"force","target":"ta","mode":"forced_open"}"#,
    )
    .await;
    assert_eq!(status, 200);
}

/// An unknown path, or a known one with another method, gets a JSON error an SDK can show;
/// the forced-open target refuses chats; an override naming no target is refused.
async fn unknown_paths_and_drained_targets_get_json_errors(r: &Rig) {
    // A path the gateway does not serve: a JSON error an SDK can show, not an empty 404.
    let (status, _, body) = call(
        &r.gw,
        "POST",
        "/v1/messages/count_tokens",
        Some("key"),
        "{}".into(),
    )
    .await;
    assert_eq!(status, 404);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "unknown_url", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/messages/count_tokens"),
        "{body}"
    );
    // A served path with another method: 405, the methods it serves in `allow`, and a JSON
    // error in the endpoint's dialect, not an empty body.
    for (path, anthropic) in [("/v1/chat/completions", false), ("/v1/messages", true)] {
        let (status, headers, body) =
            support::call_with_headers(&r.gw, "GET", path, Some("key"), String::new()).await;
        assert_eq!(status, 405, "{path}: {body}");
        assert_eq!(headers["allow"], "POST", "{path}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("GET {path}")), "{body}");
        // Logged as any `/v1/` request is: the access line's id.
        let id = headers["x-request-id"].to_str().unwrap();
        if anthropic {
            assert_eq!(body["type"], "error", "{body}");
            assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
            assert_eq!(body["request_id"], id, "{body}");
        } else {
            assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
        }
    }
    // Elsewhere too (probes, the admin API): JSON, not an empty body.
    let (status, headers, body) =
        support::call_with_headers(&r.gw, "POST", "/healthz", None, String::new()).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(headers["allow"], "GET,HEAD");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    assert_eq!(post_chat(&r.gw, "chat").await.0, 503);
    let (status, _) = support::overrides(&r.gw, r#"{"action":"drain","target":"nope"}"#).await;
    assert_eq!(status, 400);
}

/// A new route name on disk: reload swaps the router, `/v1/models` follows, and the target,
/// which kept its name, keeps its forced-open breaker until restored.
async fn a_reload_swaps_routes_and_keeps_breakers(r: &Rig) {
    // A new route name on disk; reload swaps the router.
    std::fs::write(&r.path, config("assistant", 100)).unwrap();
    assert_eq!(
        call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new())
            .await
            .0,
        200
    );
    let (_, _, models) = call(&r.gw, "GET", "/v1/models", Some("key"), String::new()).await;
    assert!(
        models.contains("assistant") && !models.contains("\"chat\""),
        "{models}"
    );
    let (status, _, one) = call(
        &r.gw,
        "GET",
        "/v1/models/assistant",
        Some("key"),
        String::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(one.contains("\"id\":\"assistant\""), "{one}");
    let (status, _, gone) = call(&r.gw, "GET", "/v1/models/chat", Some("key"), String::new()).await;
    assert_eq!(status, 404);
    assert!(gone.contains("model_not_found"), "{gone}");
    assert_eq!(
        call(
            &r.gw,
            "GET",
            "/v1/models/assistant",
            Some("wrong"),
            String::new()
        )
        .await
        .0,
        401
    );
    // The target kept its name, so the reload kept its forced-open breaker.
    assert_eq!(post_chat(&r.gw, "assistant").await.0, 503);
    admin(&r.gw, r#"{"action":"restore","target":"ta"}"#).await;
    assert_eq!(post_chat(&r.gw, "assistant").await.0, 200);
}

#[tokio::test(start_paused = true)]
async fn the_attempt_log_tells_every_attempt_of_a_failover() {
    let text = "providers:\n  - { name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake' }\n  \
                - { name: b, dialect: openai, base_url: 'https://y', fake_base_url: 'http://b.fake' }\n\
                router:\n  targets:\n    - { name: 'first one', provider: a, model: m }\n    - { name: second, provider: b, model: m }\n  \
                routes:\n    - { name: chat, policy: priority, tiers: [['first one'], [second]] }\n\
                gateway:\n  expose_attempts: true\n";
    let params = switchyard_live::config::load_live(text, "gw.yaml").unwrap();
    let (a, b) = (fake("a"), fake("b"));
    let transport = Transport::new(
        InProcess::new()
            .with("a.fake", a.clone())
            .with("b.fake", b.clone()),
    );
    let gw = Gateway::new(&params, None, transport).unwrap();
    let outage = || {
        Request::post("/_fake/faults")
            .body(Body::from(r#"{"kind":"http","status":503}"#))
            .unwrap()
    };
    a.clone().oneshot(outage()).await.unwrap();
    let (status, headers, body) =
        call(&gw, "POST", "/v1/chat/completions", None, CHAT.into()).await;
    assert_eq!(status, 200, "{body}");
    let log = headers["x-switchyard-attempt-log"].to_str().unwrap();
    let entries = switchyard_core::attempt_log::parse(log).unwrap();
    let story: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.target.as_str(), e.label))
        .collect();
    assert_eq!(
        story,
        [("first one", "overloaded"), ("second", "success")],
        "{log}"
    );
    assert!(log.starts_with("first%20one overloaded "), "{log}");

    let streamed = CHAT.replace("}]}", "}],\"stream\":true}");
    let (status, headers, _) = call(&gw, "POST", "/v1/chat/completions", None, streamed).await;
    assert_eq!(status, 200);
    let log = headers["x-switchyard-attempt-log"].to_str().unwrap();
    assert!(log.starts_with("first%20one overloaded "), "{log}");
    assert!(log.contains(", second streaming "), "{log}");

    b.clone().oneshot(outage()).await.unwrap();
    let (status, headers, _) = call(&gw, "POST", "/v1/chat/completions", None, CHAT.into()).await;
    assert_eq!(status, 503);
    let log = headers["x-switchyard-attempt-log"].to_str().unwrap();
    let labels: Vec<&str> = switchyard_core::attempt_log::parse(log)
        .unwrap()
        .iter()
        .map(|e| e.label)
        .collect();
    assert!(
        !labels.is_empty() && labels.iter().all(|l| *l == "overloaded"),
        "{log}"
    );
}

/// A client that disconnects mid-stream: hyper drops the body, which abandons the request at
/// once (even while the upstream is silent), with nothing left in flight.
#[tokio::test(start_paused = true)]
async fn a_client_that_leaves_mid_stream_abandons_its_request() {
    let rig = rig(100);
    // The upstream goes silent after two tokens, when the client leaves.
    let slow = r#"{"kind":"stream_stall","after_tokens":2,"stall":"10m"}"#;
    let req = Request::post("/_fake/faults")
        .body(Body::from(slow))
        .unwrap();
    assert_eq!(rig.fake.clone().oneshot(req).await.unwrap().status(), 201);
    let body = r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", "Bearer key")
        .body(Body::from(body))
        .unwrap();
    let resp = app(rig.gw.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    let in_flight = |gw: &Gateway| {
        gw.router()
            .inspect(|c| c.health(switchyard_core::id::TargetId::new(0)).in_flight)
    };
    assert_eq!(in_flight(&rig.gw), 1);
    drop(body);
    assert_eq!(in_flight(&rig.gw), 0, "abandoned as the body dropped");
    let tel = rig.gw.router().telemetry();
    let abandoned = tel.routes[0].failures[switchyard_core::telemetry::failure_index(
        switchyard_core::outcome::FailureReason::Abandoned,
    )];
    assert_eq!((tel.routes[0].requests, abandoned), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn probes_say_alive_and_ready_without_a_key() {
    let r = rig(100);
    let (status, _, body) = call(&r.gw, "GET", "/healthz", None, String::new()).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _, body) = call(&r.gw, "GET", "/readyz", None, String::new()).await;
    assert_eq!(status, 200, "{body}");
    // The only target forced open: nothing to send to.
    admin(
        &r.gw,
        r#"{"action":"force","target":"ta","mode":"forced_open"}"#,
    )
    .await;
    let (status, _, body) = call(&r.gw, "GET", "/readyz", None, String::new()).await;
    assert_eq!(status, 503, "{body}");
    let why: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(why["reason"], "no_target_available", "{body}");
    assert_eq!(why["targets"][0]["target"], "ta", "{body}");
    assert_eq!(why["targets"][0]["state"], "forced_open", "{body}");
    admin(&r.gw, r#"{"action":"restore"}"#).await;
    assert_eq!(
        call(&r.gw, "GET", "/readyz", None, String::new()).await.0,
        200
    );
    // Drained by an operator: the same.
    admin(&r.gw, r#"{"action":"drain","target":"ta"}"#).await;
    let (status, _, body) = call(&r.gw, "GET", "/readyz", None, String::new()).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""state":"drained""#), "{body}");
    admin(&r.gw, r#"{"action":"restore"}"#).await;
    assert_eq!(
        call(&r.gw, "GET", "/readyz", None, String::new()).await.0,
        200
    );
    // Shutting down: not ready, still alive.
    r.gw.start_draining();
    let (status, _, body) = call(&r.gw, "GET", "/readyz", None, String::new()).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""reason":"draining""#), "{body}");
    assert_eq!(
        call(&r.gw, "GET", "/healthz", None, String::new()).await.0,
        200
    );
}

/// A reload cannot turn client authentication off (a SIGHUP or `POST /admin/reload` with a
/// keyless config would otherwise open the gateway to anyone): it is refused and the old keys
/// stay.
#[tokio::test]
async fn a_reload_that_would_drop_every_client_key_is_refused() {
    let rig = rig(100);
    let keyless = config("chat", 100).replace(
        &format!(
            "  keys:\n    - {{ name: app, sha256: {}, requests_per_minute: 100 }}\n",
            sha256_hex("key")
        ),
        "",
    );
    assert!(!keyless.contains("keys:"), "{keyless}");
    std::fs::write(&rig.path, keyless).unwrap();
    let err = rig.gw.reload().unwrap_err();
    assert!(err.to_string().contains("gateway.keys"), "{err}");
    let (status, _, _) = call(
        &rig.gw,
        "POST",
        "/v1/chat/completions",
        None,
        CHAT.to_owned(),
    )
    .await;
    assert_eq!(status, 401, "still needs a key");
    assert_eq!(post_chat(&rig.gw, "chat").await.0, 200);
}

/// NU5's reproducer: a field of the wrong type on `/v1/chat/completions` gets a 400 whose
/// `param` is null and whose message names no field ("invalid type: string \"hot\", expected
/// f64"), where an unknown role names `messages[0].role` and the Anthropic endpoint names
/// `max_tokens`. What this asks: the field at fault is named, as OpenAI names it.
#[tokio::test(start_paused = true)]
async fn a_field_of_the_wrong_type_is_named() {
    let r = rig(100);
    for (field, value) in [
        ("temperature", r#""hot""#),
        ("max_tokens", "-5"),
        ("stream", r#""yes""#),
    ] {
        let body = format!(
            r#"{{"model":"chat","messages":[{{"role":"user","content":"hi"}}],"{field}":{value}}}"#
        );
        let (status, _, reply) =
            call(&r.gw, "POST", "/v1/chat/completions", Some("key"), body).await;
        assert_eq!(status, 400, "{reply}");
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["error"]["param"], field, "{reply}");
    }
}

/// A value of the wrong JSON type is refused in OpenAI's words (`invalid_type`, "expected an
/// integer, but got a string"), not serde's ("expected u32"); so is an integer out of its
/// field's range (`integer_below_min_value`, `integer_above_max_value`), whether serde or
/// the normalization refuses it; a required field's `null` is of the wrong type; an optional field's `null`
/// is its absence; anything else keeps `invalid_value`.
#[tokio::test(start_paused = true)]
async fn a_value_of_the_wrong_type_is_refused_in_openais_words() {
    let r = rig(100);
    for &(field, value, code, message) in refused_bodies::REFUSED {
        // `messages[1]` and `stream_options.include_usage` are set through their field. The
        // value is sent as written (`9.2e18` stays `9.2e18`), not re-serialized.
        let key = field.split(['[', '.']).next().unwrap();
        let messages = r#"[{"role":"user","content":"hi"}]"#;
        let body = match key {
            "model" => format!(r#"{{"model":{value},"messages":{messages}}}"#),
            "messages" => format!(r#"{{"model":"chat","messages":{value}}}"#),
            _ => format!(r#"{{"model":"chat","messages":{messages},"{key}":{value}}}"#),
        };
        let (status, _, reply) =
            call(&r.gw, "POST", "/v1/chat/completions", Some("key"), body).await;
        assert_eq!(status, 400, "{field}: {value}: {reply}");
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["error"]["param"], field, "{reply}");
        assert_eq!(reply["error"]["code"], code, "{reply}");
        assert_eq!(reply["error"]["type"], "invalid_request_error", "{reply}");
        let said = reply["error"]["message"].as_str().unwrap();
        assert!(said.starts_with(message), "{said}");
    }
    // `null` is an optional field's absence, `stream_options.include_usage`'s too.
    let body = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":null},"max_tokens":null,"user":null}"#;
    let (status, _, reply) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        body.to_owned(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}

/// A required field missing is named in `param`, as OpenAI names it; a field written twice
/// is refused saying which and where (it said "Invalid request." and nothing else); a body
/// that is JSON but no object says so (it said `model` was missing).
#[tokio::test(start_paused = true)]
async fn a_missing_or_repeated_field_is_named() {
    let r = rig(100);
    for (body, kind) in [("[]", "an array"), ("\"x\"", "a string"), ("null", "null")] {
        let reply = refused_chat(&r.gw, body.into()).await;
        let message = format!("The request body should be a JSON object, not {kind}.");
        assert_eq!(reply["error"]["message"], message.as_str(), "{reply}");
    }
    let hi = r#"[{"role":"user","content":"hi"}]"#;
    for (body, field) in [
        (r#"{"model":"chat"}"#.to_owned(), "messages"),
        (format!(r#"{{"messages":{hi}}}"#), "model"),
    ] {
        let reply = refused_chat(&r.gw, body).await;
        assert_eq!(reply["error"]["param"], field, "{reply}");
        assert_eq!(reply["error"]["code"], "missing_required_parameter");
        let message = format!("Missing required parameter: '{field}'.");
        assert_eq!(reply["error"]["message"], message.as_str());
    }
    let body = format!(r#"{{"model":"chat","messages":{hi},"temperature":0.1,"temperature":0.2}}"#);
    let reply = refused_chat(&r.gw, body).await;
    let said = reply["error"]["message"].as_str().unwrap();
    assert!(said.contains("duplicate field `temperature`"), "{said}");
    assert_eq!(reply["error"]["param"], "temperature", "{reply}");
    // One inside a message is not named as if it were top-level.
    let body = r#"{"model":"chat","messages":[{"role":"user","role":"user","content":"hi"}]}"#;
    let reply = refused_chat(&r.gw, body.into()).await;
    let said = reply["error"]["message"].as_str().unwrap();
    assert!(said.contains("duplicate field `role`"), "{reply}");
    assert_eq!(reply["error"]["param"], serde_json::Value::Null, "{reply}");
}

/// `body` sent to `/v1/chat/completions` with the client key: its 400's JSON body.
#[expect(clippy::unwrap_used, reason = "test code")]
async fn refused_chat(gw: &std::sync::Arc<Gateway>, body: String) -> serde_json::Value {
    let (status, _, reply) = call(gw, "POST", "/v1/chat/completions", Some("key"), body).await;
    assert_eq!(status, 400, "{reply}");
    serde_json::from_str(&reply).unwrap()
}

/// NU5: `n: 0` asks for no choice at all; OpenAI refuses it with a 400 naming `n`, and so does
/// the gateway (it served one choice).
#[tokio::test(start_paused = true)]
async fn n_zero_is_refused_naming_n() {
    let r = rig(100);
    let body = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}],"n":0}"#;
    let (status, _, reply) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        body.to_owned(),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["error"]["param"], "n", "{reply}");
    let one = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}],"n":1}"#;
    let (status, _, reply) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        one.to_owned(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}
