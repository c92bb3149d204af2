//! Operating the gateway: the access log and router log lines (captured from the same
//! subscriber the binary uses), the metrics token, pins outside a route, state carried over a
//! reload, and the default body limit.
#![expect(clippy::unwrap_used, reason = "test code")]

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use switchyard_gateway::{Gateway, app, sha256_hex};
use tower::ServiceExt;

mod support;

use support::*;

/// A JSON reply after a failover: one access line with the attempts, tokens, cost and
/// latency; the breaker that opened has its own warning line.
async fn a_failover_logs_its_story(r: &Rig, logs: &Captured) {
    // tb fails (its breaker opens), ta answers.
    let (status, body) = send_chat(&r.gw, false).await;
    assert_eq!(status, 200, "{body}");
    let lines = logs.access();
    assert_eq!(lines.len(), 1, "{}", logs.text());
    let l = &lines[0];
    assert_eq!(l["level"], "INFO");
    assert!(l["request_id"].as_str().unwrap().starts_with("req-"), "{l}");
    assert_eq!(l["client"], "app");
    assert_eq!(l["route"], "chat");
    assert_eq!(l["path"], "/v1/chat/completions");
    assert_eq!(l["attempts"], "tb:connect_failed,ta:success", "{l}");
    assert_eq!(l["served_by"], "ta");
    assert_eq!(l["status"], 200);
    assert_eq!(l["result"], "ok");
    assert_eq!(l["completion_tokens"], 5);
    let prompt = l["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 0, "{l}");
    // $2 and $10 per million tokens.
    let cost = (prompt as f64 * 2.0 + 5.0 * 10.0) / 1e6;
    assert!(
        (l["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12,
        "{l}"
    );
    assert!(l["latency_ms"].as_f64().unwrap() >= 10.0, "{l}");
    // The breaker that opened has its own line, as a warning.
    let breaker: Vec<_> = logs
        .json()
        .into_iter()
        .filter(|l| l["event"] == "breaker")
        .collect();
    assert_eq!(breaker.len(), 1, "{}", logs.text());
    assert_eq!(breaker[0]["level"], "WARN");
    // Its fields each a field of the line, not words of the message.
    let b = &breaker[0];
    assert_eq!(b["message"], "breaker moved", "{b}");
    assert_eq!(
        (&b["target_name"], &b["from"], &b["to"], &b["mode"]),
        (
            &serde_json::json!("tb"),
            &serde_json::json!("closed"),
            &serde_json::json!("open"),
            &serde_json::json!("automatic")
        ),
        "{b}"
    );
    assert_eq!(b["target"], "switchyard::router", "{b}");
    assert!(b.get("route").is_none(), "absent fields are left out: {b}");
    // Each attempt that got no response has a warning saying where it went and why.
    let unreached = logs.json();
    let mut unreached = unreached.iter().filter(|l| l["event"] == "connect_failed");
    let u = unreached.next().unwrap();
    assert!(unreached.next().is_none(), "{}", logs.text());
    let fields = ["level", "target", "target_name", "address"].map(|f| u[f].as_str());
    let want = ["WARN", "switchyard::upstream", "tb", "b.fake:80"].map(Some);
    assert_eq!(fields, want, "{u}");
    // The in-process transport's words name the host: said as the address only.
    assert_eq!(u["error"], "no route to this address", "{u}");
}

/// A streamed reply: its line comes when the stream has ended, with the usage.
async fn a_stream_logs_when_it_ends(r: &Rig, logs: &Captured) {
    let (status, body) = send_chat(&r.gw, true).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("[DONE]"), "{body}");
    let lines = logs.access();
    assert_eq!(lines.len(), 2, "{}", logs.text());
    let l = &lines[1];
    assert_eq!(l["result"], "ok", "{l}");
    assert_eq!(l["attempts"], "ta:success", "{l}");
    assert_eq!(l["completion_tokens"], 5, "{l}");
    assert_ne!(l["request_id"], lines[0]["request_id"]);
}

/// A client that leaves mid-stream: one line, when the body is dropped.
async fn a_client_that_leaves_logs_once(r: &Rig, logs: &Captured) {
    let req = Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .header("authorization", format!("Bearer {CLIENT_KEY}"))
        .body(Body::from(chat(true)))
        .unwrap();
    let resp = app(r.gw.clone()).oneshot(req).await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut body = resp.into_body();
    let _first = body.frame().await.unwrap().unwrap();
    assert_eq!(logs.access().len(), 2, "no line while streaming");
    drop(body);
    let lines = logs.access();
    assert_eq!(lines.len(), 3, "{}", logs.text());
    assert_eq!(lines[2]["result"], "client_closed", "{}", lines[2]);
    // As the books have it: the attempt in flight is cancelled, not left "streaming".
    assert_eq!(lines[2]["attempts"], "ta:cancelled", "{}", lines[2]);
    assert_eq!(lines[2]["status"], 200);
    assert_eq!(lines[2]["request_id"], id.as_str());
}

/// A wrong key (the marker and the upstream key as the token): refused, logged, not leaked.
async fn a_wrong_key_is_logged_as_refused(r: &Rig, logs: &Captured) {
    let wrong = format!("{MARKER}{UPSTREAM_KEY}");
    let (status, _) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some(&wrong),
        chat(false),
    )
    .await;
    assert_eq!(status, 401);
    let lines = logs.access();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["status"], 401);
    assert_eq!(lines[3]["client"], "-");
    // No attempt made: `-`, as for the client, not an empty string.
    assert_eq!(lines[3]["attempts"], "-", "{}", lines[3]);
    assert_eq!(lines[3]["result"], "refused");
}

#[tokio::test(start_paused = true)]
async fn one_access_line_per_request_with_its_story_and_never_a_key_or_prompt() {
    let logs = Captured::start();
    let r = rig(&config(&format!("{TA}{TB}"), TB_THEN_TA, ""));

    a_failover_logs_its_story(&r, &logs).await;
    a_stream_logs_when_it_ends(&r, &logs).await;
    a_client_that_leaves_logs_once(&r, &logs).await;
    a_wrong_key_is_logged_as_refused(&r, &logs).await;
    let all = logs.text();
    for secret in [CLIENT_KEY, UPSTREAM_KEY, MARKER, "SECRET"] {
        assert!(!all.contains(secret), "`{secret}` in the logs:\n{all}");
    }
}

#[tokio::test(start_paused = true)]
async fn metrics_need_the_token_when_one_is_set() {
    let r = rig(&config(
        TA,
        CHAT_TA,
        &format!("  metrics_token_sha256: {}\n", sha256_hex("scrape")),
    ));
    assert_eq!(
        call(&r.gw, "GET", "/metrics", None, String::new()).await.0,
        401
    );
    let (status, body) = call(&r.gw, "GET", "/metrics", Some("wrong"), String::new()).await;
    assert_eq!(status, 401);
    assert!(body.contains("metrics token"), "{body}");
    // The admin token or a client key is not the metrics token.
    assert_eq!(
        call(&r.gw, "GET", "/metrics", Some("admin"), String::new())
            .await
            .0,
        401
    );
    assert_eq!(
        call(&r.gw, "GET", "/metrics", Some(CLIENT_KEY), String::new())
            .await
            .0,
        401
    );
    let (status, body) = call(&r.gw, "GET", "/metrics", Some("scrape"), String::new()).await;
    assert_eq!(status, 200);
    assert!(body.contains("switchyard_attempts_total"), "{body}");
}

#[tokio::test(start_paused = true)]
async fn a_pin_outside_its_route_is_refused_naming_route_and_target() {
    let r = rig(&config(
        &format!("{TA}{TB}"),
        "    - { name: chat, policy: static, targets: [ta] }\n    - { name: side, policy: static, targets: [tb] }\n",
        "",
    ));
    let (status, body) = overrides(&r.gw, r#"{"action":"pin","route":"chat","target":"tb"}"#).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("target `tb` is not a target of route `chat`"),
        "{body}"
    );
    let (status, body) = overrides(&r.gw, r#"{"action":"pin","route":"chat","target":"ta"}"#).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_a_drain_and_an_open_breaker_and_logs_what_it_drops() {
    let logs = Captured::start();
    let r = rig(&config(&format!("{TA}{TB}"), TB_THEN_TA, ""));
    let (status, _) = send_chat(&r.gw, false).await;
    assert_eq!(status, 200);
    let (status, _) = overrides(&r.gw, r#"{"action":"drain","target":"ta"}"#).await;
    assert_eq!(status, 200);
    let before = admin_state(&r.gw).await;
    assert_eq!(target(&before, "tb")["breaker"], "open");
    assert_eq!(target(&before, "ta")["drained"], true);
    let attempts = target(&before, "ta")["attempts"].clone();
    assert_eq!(attempts, 1);

    a_reordered_reload_carries_the_state(&r, &attempts).await;
    dropping_a_target_warns_of_its_drain(&r, &logs).await;
}

/// The same targets, listed in another order, and a new route: the breaker, the drain and
/// the counts carry over, so both ways out stay closed.
async fn a_reordered_reload_carries_the_state(r: &Rig, attempts: &serde_json::Value) {
    let reordered = config(
        &format!("{TB}{TA}"),
        &format!("{TB_THEN_TA}    - {{ name: extra, policy: static, targets: [ta] }}\n"),
        "",
    );
    std::fs::write(&r.path, reordered).unwrap();
    let (status, body) = call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new()).await;
    assert_eq!(status, 200, "{body}");
    let after = admin_state(&r.gw).await;
    assert_eq!(target(&after, "tb")["breaker"], "open", "{after}");
    assert_eq!(target(&after, "ta")["drained"], true, "{after}");
    assert_eq!(&target(&after, "ta")["attempts"], attempts, "{after}");
    // Both ways out are closed now: the open breaker and the drain still apply.
    let (status, _) = send_chat(&r.gw, false).await;
    assert_eq!(status, 503);
}

/// Dropping `ta`: its drain cannot carry, and a warning says so; the drain itself was logged
/// when it was applied.
async fn dropping_a_target_warns_of_its_drain(r: &Rig, logs: &Captured) {
    std::fs::write(
        &r.path,
        config(
            TB,
            "    - { name: chat, policy: static, targets: [tb] }\n",
            "",
        ),
    )
    .unwrap();
    let (status, body) = call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new()).await;
    assert_eq!(status, 200, "{body}");
    let lines = logs.json();
    let dropped: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "switchyard::reload" && l["level"] == "WARN")
        .collect();
    assert_eq!(dropped.len(), 1, "{}", logs.text());
    let what = dropped[0]["not_carried"].as_str().unwrap();
    assert!(
        what.starts_with("target `ta` was removed; dropped its drain"),
        "{what}"
    );
    let reloads = lines
        .iter()
        .filter(|l| l["target"] == "switchyard::reload" && l["message"] == "reloaded")
        .count();
    assert_eq!(reloads, 2, "{}", logs.text());
    // The drain itself was logged when it was applied.
    assert!(
        lines.iter().any(|l| l["event"] == "override"
            && l["action"] == "drain"
            && l["target_name"] == "ta"),
        "{}",
        logs.text()
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_body_limit_follows_the_largest_context_window() {
    // A body just over the old fixed default (1 MiB).
    let content = "x".repeat((1 << 20) + 1000);
    let body =
        format!(r#"{{"model":"chat","messages":[{{"role":"user","content":"{content}"}}]}}"#);
    let large = "    - { name: ta, provider: a, model: m, context_window: 1000000 }\n";
    let route = CHAT_TA;
    let r = rig(&config(large, route, ""));
    assert_eq!(r.gw.max_body, 8_000_000 + (8 << 20));
    let (status, reply) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some(CLIENT_KEY),
        body.clone(),
    )
    .await;
    assert_ne!(status, 413, "{reply}");
    // An explicit limit wins.
    let r = rig(&config(large, route, "  max_body_bytes: 1048576\n"));
    let (status, _) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some(CLIENT_KEY),
        body,
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test(start_paused = true)]
async fn a_key_revocation_gets_a_line_naming_its_source_never_the_key() {
    let logs = Captured::start();
    let text = format!(
        "providers:\n  - {{ name: c, dialect: openai, base_url: 'https://z', fake_base_url: 'http://c.fake', mock_key: {UPSTREAM_KEY}, revocation: {{ after_401s: 1 }} }}\n\
         router:\n  targets:\n    - {{ name: tc, provider: c, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [tc] }}\n  plan: {{ max_attempts: 1 }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex(CLIENT_KEY)
    );
    let dir = std::env::temp_dir().join(format!("switchyard-ops-revoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gw.yaml");
    std::fs::write(&path, text).unwrap();
    let refuses = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}})),
            )
        }),
    );
    let transport =
        switchyard_live::Transport::new(switchyard_live::InProcess::new().with("c.fake", refuses));
    let gw = Gateway::from_file(path, transport).unwrap();
    let (status, _) = send_chat(&gw, false).await;
    assert_ne!(status, 200);
    let revoked: Vec<_> = logs
        .json()
        .into_iter()
        .filter(|l| l["event"] == "key_revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{}", logs.text());
    assert_eq!(revoked[0]["level"], "WARN");
    assert_eq!(revoked[0]["provider"], "c");
    assert!(revoked[0]["source"].is_string(), "{}", revoked[0]);
    assert!(!logs.text().contains(UPSTREAM_KEY), "{}", logs.text());
}

#[tokio::test(start_paused = true)]
async fn the_anthropic_endpoint_logs_one_line_per_request_too() {
    let logs = Captured::start();
    let r = rig(&config(TA, CHAT_TA, ""));
    for stream in [false, true] {
        let body = format!(
            r#"{{"model":"chat","max_tokens":50,"stream":{stream},"messages":[{{"role":"user","content":"say {MARKER}"}}]}}"#
        );
        let (status, text) = call(&r.gw, "POST", "/v1/messages", Some(CLIENT_KEY), body).await;
        assert_eq!(status, 200, "{text}");
    }
    let lines = logs.access();
    assert_eq!(lines.len(), 2, "{}", logs.text());
    for l in &lines {
        assert_eq!(l["path"], "/v1/messages", "{l}");
        assert_eq!(l["client"], "app", "{l}");
        assert_eq!(l["route"], "chat", "{l}");
        assert_eq!(l["attempts"], "ta:success", "{l}");
        assert_eq!(l["result"], "ok", "{l}");
        assert_eq!(l["completion_tokens"], 5, "{l}");
    }
    let all = logs.text();
    for secret in [CLIENT_KEY, UPSTREAM_KEY, MARKER] {
        assert!(!all.contains(secret), "`{secret}` in the logs:\n{all}");
    }
}

/// The access line's `route` is the route the request is booked on, the one `/metrics` counts
/// it under (by a task rule, or the route of the target its `model` named); `model` is what
/// the client asked for (docs/GATEWAY.md, "Logs"). A `model` that resolves to no route has
/// `route` `-`.
#[tokio::test(start_paused = true)]
async fn the_access_line_names_the_booked_route_and_the_model_asked() {
    let logs = Captured::start();
    let r = rig(&config(
        TA,
        "    - { name: main, policy: static, targets: [ta] }\n    - { name: short, policy: static, targets: [ta] }\n  rules:\n    - { when: { task: brief }, route: short }\n",
        "",
    ));
    let ask = |model: &str, stream: bool, task: Option<&str>| {
        let body = format!(
            r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let mut req = Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {CLIENT_KEY}"));
        if let Some(t) = task {
            req = req.header("x-switchyard-task", t);
        }
        req.body(Body::from(body)).unwrap()
    };
    assert_eq!(send(&r.gw, ask("ta", false, None)).await.0, 200);
    assert_eq!(send(&r.gw, ask("main", true, Some("brief"))).await.0, 200);
    assert_eq!(send(&r.gw, ask("nope", false, None)).await.0, 404);
    let lines = logs.access();
    let routes: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["route"].as_str().unwrap(), l["model"].as_str().unwrap()))
        .collect();
    assert_eq!(
        routes,
        [("main", "ta"), ("short", "main"), ("-", "nope")],
        "{}",
        logs.text()
    );
    let metrics = metrics(&r.gw).await;
    for route in ["main", "short"] {
        let counted =
            format!("switchyard_requests_total{{route=\"{route}\",outcome=\"success\"}} 1\n");
        assert!(metrics.contains(&counted), "{counted} in\n{metrics}");
    }
}

/// The access line's `model` is `-` when no `model` was read from the request: one refused
/// before its body was read (no client key) and one whose body does not parse (not JSON)
/// (docs/GATEWAY.md, "Logs").
#[tokio::test(start_paused = true)]
async fn the_access_line_model_is_a_dash_when_no_model_was_read() {
    let logs = Captured::start();
    let r = rig(&config(TA, CHAT_TA, ""));
    let body = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;
    let (status, _) = call(&r.gw, "POST", "/v1/chat/completions", None, body.into()).await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some(CLIENT_KEY),
        r#"{"model":"chat", not json"#.into(),
    )
    .await;
    assert_eq!(status, 400);
    let lines = logs.access();
    let seen: Vec<(u64, &str)> = lines
        .iter()
        .map(|l| (l["status"].as_u64().unwrap(), l["model"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [(401, "-"), (400, "-")], "{}", logs.text());
}

/// A body refused before it was read as a request (a required field missing, a field of the
/// wrong type) logs the `model` it names, on both endpoints (issue 13: `{"model":"chat"}`
/// logged `model -`); a `model` that is not a string is not one (docs/GATEWAY.md, "Logs").
#[tokio::test(start_paused = true)]
async fn a_refused_body_logs_the_model_it_names() {
    let logs = Captured::start();
    let r = rig(&config(TA, CHAT_TA, ""));
    let cases = [
        (CHAT_PATH, r#"{"model":"chat"}"#, "chat"),
        (
            CHAT_PATH,
            r#"{"model":"chat","messages":[],"n":"x"}"#,
            "chat",
        ),
        (CHAT_PATH, r#"{"model":5,"messages":[]}"#, "-"),
        (
            "/v1/messages",
            r#"{"model":"claude","max_tokens":5}"#,
            "claude",
        ),
        ("/v1/messages", r#"{"model":"chat\nx","bogus":1}"#, "chat?x"),
        ("/v1/messages", r#"{"model":["chat"],"max_tokens":5}"#, "-"),
    ];
    for (path, body, _) in cases {
        let (status, reply) = call(&r.gw, "POST", path, Some(CLIENT_KEY), body.into()).await;
        assert_eq!(status, 400, "{path} {body}: {reply}");
    }
    let lines = logs.access();
    let seen: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["model"].as_str().unwrap(), l["result"].as_str().unwrap()))
        .collect();
    let want: Vec<(&str, &str)> = cases.iter().map(|c| (c.2, "refused")).collect();
    assert_eq!(seen, want, "{}", logs.text());
}

/// Both model endpoints log the client key's name (issue 13: `/v1/models/{id}` logged `-`).
#[tokio::test(start_paused = true)]
async fn the_model_endpoints_log_the_client() {
    let logs = Captured::start();
    let r = rig(&config(TA, CHAT_TA, ""));
    for path in ["/v1/models", "/v1/models/chat", "/v1/models/nope"] {
        call(&r.gw, "GET", path, Some(CLIENT_KEY), String::new()).await;
    }
    let lines = logs.access();
    assert_eq!(lines.len(), 3, "{}", logs.text());
    for (l, status) in lines.iter().zip([200, 200, 404]) {
        assert_eq!(l["client"], "app", "{l}");
        assert_eq!(l["status"], status, "{l}");
    }
}

/// Reviewer RV: a client that leaves while its request waits on the upstream (an SDK
/// timeout, a closed tab): `/metrics` books the request on its route (`abandoned`), but the
/// access line's `route` is `-`, the value documented for a request that "resolved to none"
/// (docs/GATEWAY.md, Logs): the route is only told to the log from a reply, a stream or an
/// error, none of which comes. The same for a stream left before its first token. (The line's
/// `attempts` is empty too, though the books have `ta` cancelled.)
#[tokio::test(start_paused = true)]
async fn rv_an_abandoned_requests_access_line_names_its_booked_route() {
    let logs = Captured::start();
    let hang = axum::Router::new().fallback(std::future::pending::<&'static str>);
    let text = config(TA, CHAT_TA, "");
    let (gw, _) = from_file(
        &text,
        switchyard_live::Transport::new(switchyard_live::InProcess::new().with("a.fake", hang)),
    );
    for stream in [false, true] {
        let req = Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {CLIENT_KEY}"))
            .body(Body::from(chat(stream)))
            .unwrap();
        let left = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            app(gw.clone()).oneshot(req),
        )
        .await;
        assert!(left.is_err(), "the upstream hangs: the client leaves first");
    }
    let metrics = metrics(&gw).await;
    let booked: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("switchyard_requests_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(
        booked.iter().any(|l| l.contains("route=\"chat\"")),
        "{booked:?}"
    );
    let lines = logs.access();
    assert_eq!(lines.len(), 2, "{}", logs.text());
    for l in &lines {
        assert_eq!(l["result"], "client_closed", "{l}");
        assert_eq!(l["route"], "chat", "booked as {booked:?}: {l}");
        // Nor its attempt, booked `cancelled` (`attempts` is empty; the driver offers an
        // `AttemptSink` for this, which the gateway does not use).
        assert_eq!(l["attempts"], "ta:cancelled", "{l}");
    }
}

/// A reload whose file changes a setting read only at start (`shutdown_grace`,
/// `max_in_flight`) answers `{"reloaded":true}` and logs `not_carried=0`: nothing tells the
/// operator the new values are not in force. It should warn, naming the setting, as it warns
/// of the state it cannot carry.
#[tokio::test(start_paused = true)]
async fn a_reload_that_changes_a_start_only_setting_warns_naming_it() {
    let logs = Captured::start();
    let r = rig(&config(TA, CHAT_TA, "  shutdown_grace: 5s\n"));
    std::fs::write(
        &r.path,
        config(TA, CHAT_TA, "  shutdown_grace: 1s\n  max_in_flight: 7\n"),
    )
    .unwrap();
    let (status, body) = call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new()).await;
    assert_eq!(status, 200, "{body}");
    let warned = logs.json().iter().any(|l| {
        l["target"] == "switchyard::reload"
            && l["level"] == "WARN"
            && l.to_string().contains("shutdown_grace")
    });
    assert!(warned, "{}", logs.text());
}

/// The warning of a reload that changes `gateway.threads` gives the running value and the
/// file's as values, not as Rust's `Option` (`running="None" file="Some(1)"` for a gateway
/// running on the default, one thread per core).
#[tokio::test(start_paused = true)]
async fn a_start_only_warning_gives_values_not_options() {
    let logs = Captured::start();
    let r = rig(&config(TA, CHAT_TA, ""));
    std::fs::write(&r.path, config(TA, CHAT_TA, "  threads: 1\n")).unwrap();
    let (status, body) = call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new()).await;
    assert_eq!(status, 200, "{body}");
    let lines = logs.json();
    let warning = lines
        .iter()
        .find(|l| l["target"] == "switchyard::reload" && l["setting"] == "gateway.threads")
        .unwrap_or_else(|| panic!("{}", logs.text()));
    for field in ["running", "file"] {
        let value = warning[field].as_str().unwrap();
        assert!(
            !value.starts_with("Some(") && value != "None",
            "{field}: {warning}"
        );
    }
}
