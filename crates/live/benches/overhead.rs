//! The live driver's own latency: a request through `Driver::chat` versus the same HTTP
//! request sent directly with the same pooled client, both to one zero-latency fake on
//! loopback (both read and decode the reply). The difference of the medians is what the
//! driver adds.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "bench setup")]

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use switchyard_core::credentials::{
    AuthStyle, Date, Environment, ProviderConfig, Secret, resolve_providers,
};
use switchyard_core::dialect::Dialect;
use switchyard_core::request::{Message, Request, Role};
use switchyard_live::adapter::{Endpoint, build};
use switchyard_live::credentials::CredentialStore;
use switchyard_live::{Driver, HttpClient, Transport};

const PROFILE: &str = "name: zero\ndialect: openai\nmodels:\n  - { name: zero-1 }\nlatency:\n  first_token: { fixed: 0ms }\n  tokens_per_second: { fixed: 1000000000000 }\noutput_tokens: { fixed: 16 }\n";

/// A zero-latency fake on loopback; its URL.
fn serve_fake(rt: &tokio::runtime::Runtime) -> String {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = switchyard_fake::server::router(
            switchyard_fake::load_profile(PROFILE, "zero.yaml").unwrap(),
            1,
        );
        tokio::spawn(switchyard_fake::server::serve(
            listener,
            fake,
            std::future::pending(),
        ));
        url
    })
}

/// A driver with one target, the fake at `url`, over `client`.
fn driver(rt: &tokio::runtime::Runtime, url: &str, client: &HttpClient) -> Driver {
    let providers: Vec<ProviderConfig> = serde_yaml::from_str(&format!(
        "- {{ name: zero, dialect: openai, base_url: 'https://x', fake_base_url: '{url}' }}\n"
    ))
    .unwrap();
    let store = CredentialStore::load(
        resolve_providers(&providers, Environment::Development, &["zero"]).unwrap(),
        Environment::Development,
        &["zero"],
        Date(20_000),
        &|_| None,
    )
    .unwrap();
    let yaml = "targets:\n  - { name: z, provider: zero, model: zero-1, capabilities: [streaming, tools] }\nroutes:\n  - { name: r, policy: static, targets: [z] }\n";
    let params = switchyard_core::config::load_router(yaml, "b.yaml").unwrap();
    rt.block_on(async { Driver::new(params, store, Transport::new(client.clone()), 1).unwrap() })
}

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = serve_fake(&rt);
    let client = HttpClient::new();
    let router = driver(&rt, &url, &client);
    let request = Request {
        route: "r".into(),
        messages: vec![Message::text(Role::User, "hello")],
        max_tokens: Some(16),
        estimated_prompt_tokens: 5,
        ..Request::default()
    };
    let key = Secret::new("switchyard-dev");
    let headers = std::collections::BTreeMap::new();
    let endpoint = Endpoint {
        url: None,
        auth_value: None,
        dialect: Dialect::Openai,
        base_url: &url,
        model: "zero-1",
        auth: &AuthStyle::Bearer,
        headers: &headers,
        key: &key,
        default_max_tokens: None,
    };
    let mut group = c.benchmark_group("overhead");
    group.bench_function("direct_http", |b| {
        b.to_async(&rt).iter(|| async {
            let response = client
                .send(build(&endpoint, &request).unwrap())
                .await
                .unwrap();
            // What any client does with the reply: read it and decode it.
            let body = response.into_body().collect().await.unwrap().to_bytes();
            switchyard_live::adapter::decode(Dialect::Openai, &body).unwrap()
        })
    });
    group.bench_function("driver", |b| {
        b.to_async(&rt)
            .iter(|| async { router.chat(request.clone()).await.expect("reply") })
    });
    // A typical agent request from an OpenAI client (system prompt, a turn, a tool): sent
    // as the client's own body (pass-through) or encoded from the normalized request.
    let client = br#"{"model":"r","messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly and cite sources when you can."},{"role":"user","content":"What is the weather in Paris today, and should I take an umbrella?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"temperature":0.2,"max_completion_tokens":16,"x_client_trace":"abc123"}"#;
    let parsed: switchyard_core::dialect::openai::ChatRequest =
        serde_json::from_slice(client).unwrap();
    let encoded = parsed.try_to_normalized().unwrap();
    let passed = Request {
        original: Some(switchyard_core::request::Original {
            dialect: Dialect::Openai,
            body: bytes::Bytes::from_static(client),
            raw_reply: false,
            layout: None,
        }),
        ..encoded.clone()
    };
    group.bench_function("build_encoded", |b| {
        b.iter(|| build(&endpoint, &encoded).unwrap())
    });
    group.bench_function("build_pass_through", |b| {
        b.iter(|| build(&endpoint, &passed).unwrap())
    });
    group.bench_function("driver_encoded", |b| {
        b.to_async(&rt)
            .iter(|| async { router.chat(encoded.clone()).await.expect("reply") })
    });
    group.bench_function("driver_pass_through", |b| {
        b.to_async(&rt)
            .iter(|| async { router.chat(passed.clone()).await.expect("reply") })
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
