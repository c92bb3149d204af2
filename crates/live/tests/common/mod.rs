//! A live driver over in-process fakes: one provider per dialect.
#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failed setup is a failed test"
)]

pub mod capture;

use axum::body::Body;
use axum::http::Request as HttpRequest;
use switchyard_core::credentials::{Date, Environment, ProviderConfig, resolve_providers};
use switchyard_core::request::{Message, Request, Role};
use switchyard_live::credentials::CredentialStore;
use switchyard_live::{Driver, InProcess, Transport};
use tower::ServiceExt;

pub const DIALECTS: [(&str, &str); 4] = [
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("gemini", "gemini"),
    ("azure", "azure-openai"),
];

pub struct Rig {
    pub router: Driver,
    /// The fakes' routers, by provider name, for the control API.
    pub fakes: Vec<(String, axum::Router)>,
}

/// The credentials of the providers `yaml` lists (a YAML list of provider configs), for the
/// providers `used`, in development, on day 20 000.
pub fn store(yaml: &str, used: &[&str]) -> CredentialStore {
    let configs: Vec<ProviderConfig> = serde_yaml::from_str(yaml).unwrap();
    let resolved = resolve_providers(&configs, Environment::Development, used).unwrap();
    CredentialStore::load(
        resolved,
        Environment::Development,
        used,
        Date(20_000),
        &|_| None,
    )
    .unwrap()
}

pub fn profile(name: &str, dialect: &str) -> switchyard_fake::ProfileParams {
    let text = format!(
        "name: {name}\ndialect: {dialect}\nmodels:\n  - {{ name: m-{name}, context_window: 100000 }}\n\
         latency:\n  first_token: {{ fixed: 100ms }}\n  tokens_per_second: {{ fixed: 100 }}\n\
         output_tokens: {{ fixed: 10 }}\nkeys: [dev-key]\n"
    );
    switchyard_fake::load_profile(&text, "rig.yaml").unwrap()
}

/// `routes` is the router's YAML `routes:` list; targets are `t-<provider>`.
pub fn rig(providers: &[(&str, &str)], routes: &str, plan: &str) -> Rig {
    let servers = providers
        .iter()
        .map(|(name, dialect)| switchyard_fake::server::router(profile(name, dialect), 1))
        .collect();
    rig_with(providers, servers, routes, plan, Default::default())
}

/// As `rig`, with the upstream servers given (one per provider) and input limits.
pub fn rig_with(
    providers: &[(&str, &str)],
    servers: Vec<axum::Router>,
    routes: &str,
    plan: &str,
    limits: switchyard_live::adapter::InputLimits,
) -> Rig {
    rig_full(providers, servers, routes, plan, limits, &[])
}

/// As `rig`, with the transport made from the in-process fakes by `over` (tower layers
/// over them, say).
pub fn rig_over(
    providers: &[(&str, &str)],
    routes: &str,
    plan: &str,
    over: impl FnOnce(InProcess) -> Transport,
) -> Rig {
    let servers = providers
        .iter()
        .map(|(name, dialect)| switchyard_fake::server::router(profile(name, dialect), 1))
        .collect();
    let shape = (routes, plan, Default::default(), &[][..], &[][..]);
    rig_from(providers, servers, shape, over)
}

/// As `rig`, with a target's `price:` (YAML, as `{ input: 1, output: 2 }`, USD a million
/// tokens) by provider name; the others have none.
pub fn rig_priced(
    providers: &[(&str, &str)],
    routes: &str,
    plan: &str,
    prices: &[(&str, &str)],
) -> Rig {
    let servers = providers
        .iter()
        .map(|(name, dialect)| switchyard_fake::server::router(profile(name, dialect), 1))
        .collect();
    let shape = (routes, plan, Default::default(), &[][..], prices);
    rig_from(providers, servers, shape, Transport::new)
}

/// As `rig_with`, with a target's `capabilities:` list (YAML, as `[streaming, prefill]`) by
/// provider name; the others keep the default.
pub fn rig_full(
    providers: &[(&str, &str)],
    servers: Vec<axum::Router>,
    routes: &str,
    plan: &str,
    limits: switchyard_live::adapter::InputLimits,
    capabilities: &[(&str, &str)],
) -> Rig {
    let shape = (routes, plan, limits, capabilities, &[][..]);
    rig_from(providers, servers, shape, Transport::new)
}

/// Routes, plan, input limits, capabilities (as `rig_full` takes them) and prices (as
/// `rig_priced` does).
type Shape<'a> = (
    &'a str,
    &'a str,
    switchyard_live::adapter::InputLimits,
    &'a [(&'a str, &'a str)],
    &'a [(&'a str, &'a str)],
);

fn rig_from(
    providers: &[(&str, &str)],
    servers: Vec<axum::Router>,
    (routes, plan, limits, capabilities, prices): Shape<'_>,
    over: impl FnOnce(InProcess) -> Transport,
) -> Rig {
    let mut transport = InProcess::new();
    let mut fakes = Vec::new();
    let mut provider_yaml = String::new();
    let mut targets = String::new();
    for ((name, dialect), fake) in providers.iter().zip(servers) {
        transport = transport.with(&format!("{name}.fake"), fake.clone());
        fakes.push(((*name).to_owned(), fake));
        provider_yaml.push_str(&format!(
            "  - {{ name: {name}, dialect: {dialect}, base_url: 'https://{name}.example', fake_base_url: 'http://{name}.fake', mock_key: dev-key }}\n"
        ));
        let caps = capabilities
            .iter()
            .find(|c| c.0 == *name)
            .map_or(String::new(), |c| format!(", capabilities: {}", c.1));
        let price = prices
            .iter()
            .find(|p| p.0 == *name)
            .map_or(String::new(), |p| format!(", price: {}", p.1));
        targets.push_str(&format!(
            "  - {{ name: t-{name}, provider: {name}, model: m-{name}, context_window: 100000{caps}{price} }}\n"
        ));
    }
    let router_yaml = format!("targets:\n{targets}routes:\n{routes}plan:\n{plan}");
    let params = switchyard_core::config::load_router(&router_yaml, "rig.yaml").unwrap();
    let used: Vec<&str> = providers.iter().map(|p| p.0).collect();
    let store = store(&provider_yaml, &used);
    let router = Driver::with_limits(params, store, over(transport), 7, limits).unwrap();
    Rig { router, fakes }
}

impl Rig {
    pub async fn inject(&self, provider: &str, fault: &str) {
        let fake = &self.fakes.iter().find(|f| f.0 == provider).unwrap().1;
        let req = HttpRequest::post("/_fake/faults")
            .body(Body::from(fault.to_owned()))
            .unwrap();
        let resp = fake.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 201, "fault {fault} refused");
    }

    /// Sets the fake's options (`{"prefill": false}`).
    pub async fn options(&self, provider: &str, options: &str) {
        let fake = &self.fakes.iter().find(|f| f.0 == provider).unwrap().1;
        let req = HttpRequest::post("/_fake/options")
            .body(Body::from(options.to_owned()))
            .unwrap();
        let resp = fake.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200, "options {options} refused");
    }

    /// The fake's journal (`GET /_fake/journal`): the requests it received, newest first.
    pub async fn journal(&self, provider: &str) -> serde_json::Value {
        let fake = &self.fakes.iter().find(|f| f.0 == provider).unwrap().1;
        let req = HttpRequest::get("/_fake/journal")
            .body(Body::empty())
            .unwrap();
        let resp = fake.clone().oneshot(req).await.unwrap();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&body).unwrap()
    }

    /// The provider recovers: its faults are cleared.
    pub async fn clear(&self, provider: &str) {
        let fake = &self.fakes.iter().find(|f| f.0 == provider).unwrap().1;
        let req = HttpRequest::delete("/_fake/faults")
            .body(Body::empty())
            .unwrap();
        let resp = fake.clone().oneshot(req).await.unwrap();
        assert!(resp.status().is_success(), "faults not cleared");
    }
}

pub fn request(route: &str) -> Request {
    Request {
        route: route.to_owned(),
        messages: vec![Message::text(Role::User, "hello there")],
        max_tokens: Some(100),
        estimated_prompt_tokens: 10,
        ..Request::default()
    }
}
