use std::collections::BTreeMap;

use axum::http::HeaderValue;
use switchyard_core::credentials::{AuthStyle, Secret};
use switchyard_core::request::{Message, Role};

use super::*;

fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        route: "chat".to_owned(),
        messages: vec![Message {
            role: Role::User,
            content: "hello".to_owned(),
        }],
        max_tokens: 16,
        stream,
        ..ChatRequest::default()
    }
}

fn endpoint<'a>(
    dialect: Dialect,
    auth: &'a AuthStyle,
    headers: &'a BTreeMap<String, Secret>,
    key: &'a Secret,
) -> Endpoint<'a> {
    Endpoint {
        dialect,
        base_url: "http://127.0.0.1:9001",
        model: "gpt-4o-mini",
        auth,
        headers,
        key,
    }
}

#[test]
fn openai_request_carries_the_key_as_a_sensitive_bearer_token() {
    let key = Secret::new("sk-test-1");
    let extra = BTreeMap::from([("openai-organization".to_owned(), Secret::new("org-1"))]);
    let http = build(
        &endpoint(Dialect::Openai, &AuthStyle::Bearer, &extra, &key),
        &request(true),
    );
    assert_eq!(http.method(), "POST");
    assert_eq!(
        http.uri().to_string(),
        "http://127.0.0.1:9001/v1/chat/completions"
    );
    let auth = &http.headers()["authorization"];
    assert_eq!(auth, "Bearer sk-test-1");
    assert!(auth.is_sensitive(), "keys are marked sensitive for logs");
    assert_eq!(http.headers()["content-type"], "application/json");
    assert_eq!(http.headers()["accept"], "text/event-stream");
    assert_eq!(http.headers()["openai-organization"], "org-1");
    assert!(
        http.headers()["openai-organization"].is_sensitive(),
        "extra header values may be secrets"
    );
}

#[test]
fn each_auth_style_puts_the_key_where_its_vendor_wants_it() {
    let key = Secret::new("k-1");
    let none = BTreeMap::new();
    for (dialect, auth, header) in [
        (Dialect::Anthropic, AuthStyle::XApiKey, "x-api-key"),
        (Dialect::AzureOpenai, AuthStyle::ApiKeyHeader, "api-key"),
        (Dialect::Gemini, AuthStyle::GoogApiKey, "x-goog-api-key"),
    ] {
        let http = build(&endpoint(dialect, &auth, &none, &key), &request(false));
        assert_eq!(http.headers()[header], "k-1", "{dialect:?}");
        assert!(http.headers()[header].is_sensitive());
        assert!(!http.headers().contains_key("accept"));
    }
    let query = AuthStyle::Query("key".to_owned());
    let http = build(
        &endpoint(Dialect::Gemini, &query, &none, &key),
        &request(false),
    );
    assert_eq!(
        http.uri().query().map(|q| q.ends_with("key=k-1")),
        Some(true)
    );
    assert!(!http.headers().contains_key("authorization"));
}

#[test]
fn a_key_that_cannot_be_a_header_gives_the_empty_request_the_transport_refuses() {
    let key = Secret::new("bad\nkey");
    let none = BTreeMap::new();
    let http = build(
        &endpoint(Dialect::Openai, &AuthStyle::Bearer, &none, &key),
        &request(false),
    );
    assert_eq!(http.uri().authority(), None);
    assert!(!http.headers().contains_key("authorization"));
}

#[test]
fn openai_reply_decodes_text_finish_and_usage_with_escapes() {
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
        "choices":[{"index":0,"message":{"role":"assistant","content":"line\none \"quoted\" \u00e9","refusal":null},
        "logprobs":null,"finish_reason":"length"}],
        "usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8},"system_fingerprint":null}"#;
    let d = decode(Dialect::Openai, body).expect("a valid reply");
    assert_eq!(d.text, "line\none \"quoted\" é");
    assert_eq!(d.finish, FinishReason::Length);
    assert_eq!((d.usage.prompt_tokens, d.usage.completion_tokens), (3, 5));
}

#[test]
fn openai_reply_missing_what_the_format_promises_is_malformed() {
    let whole = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
    assert!(decode(Dialect::Openai, whole.as_bytes()).is_ok());
    for field in [
        "\"id\":\"c\",",
        "\"model\":\"m\",",
        ",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}",
    ] {
        let body = whole.replace(field, "");
        assert_eq!(
            decode(Dialect::Openai, body.as_bytes()),
            Err(ErrorKind::MalformedResponse),
            "without {field}"
        );
    }
    assert_eq!(
        decode(Dialect::Openai, b"{\"choices\": ["),
        Err(ErrorKind::MalformedResponse)
    );
}

#[test]
fn header_lookup_ignores_case_and_skips_values_that_are_not_text() {
    let mut map = HeaderMap::new();
    map.insert("retry-after", HeaderValue::from_static("7"));
    map.insert(
        "x-ratelimit-remaining-requests",
        HeaderValue::from_bytes(b"\xff").expect("opaque bytes are a valid value"),
    );
    let h = Headers(&map);
    assert_eq!(h.header("Retry-After"), Some("7"));
    assert_eq!(h.header("x-ratelimit-remaining-requests"), None);
    assert_eq!(h.header("x-ratelimit-limit-requests"), None);
}
