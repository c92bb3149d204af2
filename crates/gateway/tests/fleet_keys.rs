//! `gateway.shared_state` and keys: two gateways share one `redis-server` and one provider
//! with two keys, the newer of which the provider refuses (401). Three 401s take it out of
//! use on the first gateway; the second stops using it within one sync period, without
//! having sent it a request of its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use support::fleet::{Served, chat, joined, learned_within_one_sync, shared_state};
use switchyard_fleet::RedisServer;
use switchyard_gateway::Gateway;
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

/// The key the provider no longer accepts (the newer, so the one in use).
const REFUSED: &str = "sk-refused-SECRET-5b1e";

/// The fake provider, accepting only `dev-key`; counts the requests sent with `REFUSED`.
#[derive(Clone)]
struct Upstream {
    refused_hits: Arc<AtomicU64>,
    fake: axum::Router,
}

async fn upstream(State(u): State<Upstream>, req: Request<Body>) -> Response {
    let refused = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(REFUSED));
    if refused {
        u.refused_hits.fetch_add(1, Ordering::Relaxed);
    }
    u.fake.clone().oneshot(req).await.unwrap().into_response()
}

fn config(redis: &str, replica: u32) -> String {
    format!(
        "providers:\n  - {{ name: p, dialect: openai, base_url: 'http://p.fake', mode: live, keys: [{{ source: 'literal:dev-key', valid_from: 2020-01-01 }}, {{ source: 'literal:{REFUSED}', valid_from: 2021-01-01 }}] }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m }}\n\
         \x20 routes:\n    - {{ name: chat, policy: static, targets: [t] }}\n  plan: {{ max_attempts: 1 }}\n\
         {}",
        shared_state(redis, replica)
    )
}

async fn start(redis: &str, replica: u32, up: &Upstream) -> Served {
    let stub = axum::Router::new()
        .fallback(upstream)
        .with_state(up.clone());
    let transport = Transport::new(InProcess::new().with("p.fake", stub));
    support::fleet::serve(&config(redis, replica), transport).await
}

fn revoked(gw: &Gateway) -> usize {
    gw.router().credentials().revocations().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_by_one_gateway_is_not_used_by_the_other_within_one_sync() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    let url = redis.url();
    let profile = "name: p\ndialect: openai\nmodels:\n  - { name: m }\nlatency:\n  first_token: { fixed: 10ms }\n  tokens_per_second: { fixed: 1000 }\noutput_tokens: { fixed: 5 }\nkeys: [dev-key]\n";
    let up = Upstream {
        refused_hits: Arc::new(AtomicU64::new(0)),
        fake: switchyard_fake::server::router(
            switchyard_fake::load_profile(profile, "p.yaml").unwrap(),
            1,
        ),
    };
    let g1 = start(&url, 1, &up).await;
    let g2 = start(&url, 2, &up).await;
    joined(&[&g1, &g2]).await;

    // Gateway 1 uses the newer key: three 401s take it out of use there.
    for n in 0..3 {
        assert_eq!(revoked(&g1.gw), 0, "after {n}");
        let (status, text) = chat(g1.addr).await;
        // The provider's 401 is the gateway's 502: the client's key was fine.
        assert_eq!(status, 502, "{text}");
        assert!(!text.contains(REFUSED), "{text}");
    }
    assert_eq!(revoked(&g1.gw), 1);
    let revoked_at = tokio::time::Instant::now();
    assert_eq!(up.refused_hits.load(Ordering::Relaxed), 3);
    let (status, text) = chat(g1.addr).await;
    assert_eq!(status, 200, "{text}");

    // Gateway 2 learns it within one sync period (plus the publisher's tick and slack), as
    // a revocation of its own...
    learned_within_one_sync(revoked_at, || revoked(&g2.gw) > 0).await;
    let report = g2.gw.router().credentials().revocations();
    assert_eq!(
        (report[0].provider.as_str(), report[0].source.as_str()),
        ("p", "literal")
    );
    // ...and from then on uses the older key: it never sent the refused one a request.
    for _ in 0..3 {
        let (status, text) = chat(g2.addr).await;
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(up.refused_hits.load(Ordering::Relaxed), 3);
    // The advisory names the key by its source and index, never by its value.
    let by_id = g2.gw.router().with_core(|r, now| {
        r.fleet().is_some_and(|f| {
            f.is_revoked("p/literal#1", now) && !f.is_revoked(&format!("p/{REFUSED}"), now)
        })
    });
    assert!(by_id);
}
