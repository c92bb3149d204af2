//! The pooled HTTP client against fakes listening on 127.0.0.1:0.
#![expect(clippy::unwrap_used, reason = "test helpers")]

mod common;

use switchyard_core::outcome::ErrorKind;
use switchyard_live::{Driver, HttpClient, StreamEvent, Transport};

struct Server {
    url: String,
    fake: axum::Router,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(name: &str, dialect: &str) -> Server {
    let fake = switchyard_fake::server::router(common::profile(name, dialect), 3);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(switchyard_fake::server::serve(
        listener,
        fake.clone(),
        async move {
            let _ = rx.await;
        },
    ));
    Server {
        url,
        fake,
        stop: Some(tx),
        task,
    }
}

impl Server {
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn over_loopback_json_streams_resets_and_cuts() {
    // Long: one pair of real sockets for every case: each case reads as one request and its
    // assertion, after the shared setup.
    let servers = [
        start("openai", "openai").await,
        start("anthropic", "anthropic").await,
    ];
    let used = ["openai", "anthropic"];
    let store = common::store(
        &format!(
            "- {{ name: openai, dialect: openai, base_url: 'https://x', fake_base_url: '{}', mock_key: dev-key }}\n\
         - {{ name: anthropic, dialect: anthropic, base_url: 'https://y', fake_base_url: '{}', mock_key: dev-key }}\n",
            servers[0].url, servers[1].url
        ),
        &used,
    );
    let yaml = "targets:\n  - { name: a, provider: openai, model: m-openai }\n  - { name: b, provider: anthropic, model: m-anthropic }\n\
                routes:\n  - { name: r, policy: priority, tiers: [[a], [b]] }\nplan: { max_attempts: 2, attempt_timeout: 5s }\n";
    let router = Driver::new(
        switchyard_core::config::load_router(yaml, "r.yaml").unwrap(),
        store,
        Transport::new(HttpClient::new()),
        1,
    )
    .unwrap();

    let reply = router.chat(common::request("r")).await.unwrap();
    assert_eq!(
        (reply.attempts.len(), reply.usage.completion_tokens),
        (1, 10)
    );
    let mut stream = router.chat_stream(common::request("r")).await.unwrap();
    let mut words = 0;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::Delta(t) => words += t.split_whitespace().count(),
            StreamEvent::End { .. } => break,
            e @ StreamEvent::ToolCall { .. } => panic!("no tools were offered: {e:?}"),
        }
    }
    assert_eq!(words, 10);

    // A reset before any byte: connect_failed, and the standby serves.
    let inject = |fake: &axum::Router, body: &str| {
        let req = axum::http::Request::post("/_fake/faults")
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        tower::ServiceExt::oneshot(fake.clone(), req)
    };
    inject(&servers[0].fake, r#"{"kind":"reset","first":1}"#)
        .await
        .unwrap();
    let reply = router.chat(common::request("r")).await.unwrap();
    assert_eq!(
        reply.attempts[0].outcome.error_kind(),
        Some(ErrorKind::ConnectFailed)
    );
    assert_eq!(reply.attempts.len(), 2);

    // A stream cut on the wire after three tokens: interrupted, not a short success.
    inject(
        &servers[0].fake,
        r#"{"kind":"stream_cut","after_tokens":3}"#,
    )
    .await
    .unwrap();
    let mut stream = router.chat_stream(common::request("r")).await.unwrap();
    let err = loop {
        match stream.next().await.unwrap() {
            Ok(StreamEvent::Delta(_)) => {}
            Ok(end) => panic!("ended cleanly: {end:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), Some(ErrorKind::StreamInterrupted));

    // Connection refused: connect_failed.
    for s in servers {
        s.shutdown().await;
    }
    let err = router.chat(common::request("r")).await.unwrap_err();
    assert!(
        err.attempts
            .iter()
            .all(|(_, a)| a.outcome.error_kind() == Some(ErrorKind::ConnectFailed)),
        "{err}"
    );
}
