//! Keys in a running router: revocation after 401s, the re-probe after a cool-off, and no key
//! or header value anywhere it could leak.

mod common;

use switchyard_core::credentials::{Date, Environment, ProviderConfig, resolve_providers};
use switchyard_core::outcome::ErrorKind;
use switchyard_live::credentials::CredentialStore;
use switchyard_live::{Driver, InProcess, Transport};

const SECRET: &str = "sk-secret-must-never-print-4242";
const HEADER_SECRET: &str = "hdr-secret-must-never-print-4343";

/// A driver over a fake OpenAI with two keys: the newer is not accepted by the provider
/// (revoked upstream); the older is.
#[expect(clippy::unwrap_used, reason = "test setup")]
fn two_keys_the_newer_refused() -> Driver {
    let fake = switchyard_fake::server::router(common::profile("openai", "openai"), 1);
    let transport = InProcess::new().with("openai.fake", fake);
    let providers: Vec<ProviderConfig> = serde_yaml::from_str(&format!(
        "- name: openai\n  dialect: openai\n  base_url: http://openai.fake\n  mode: live\n  \
         headers: {{ x-team: 'literal:{HEADER_SECRET}' }}\n  keys:\n    \
         - {{ source: 'literal:dev-key', valid_from: 2020-01-01 }}\n    \
         - {{ source: 'literal:{SECRET}', valid_from: 2021-01-01 }}\n"
    ))
    .unwrap();
    let resolved = resolve_providers(&providers, Environment::Development, &["openai"]).unwrap();
    let store = CredentialStore::load(
        resolved,
        Environment::Development,
        &["openai"],
        Date(20_000),
        &|_| None,
    )
    .unwrap();
    let router_yaml = "targets:\n  - { name: t-openai, provider: openai, model: m-openai }\nroutes:\n  - { name: solo, policy: static, targets: [t-openai] }\n";
    let params = switchyard_core::config::load_router(router_yaml, "r.yaml").unwrap();
    Driver::new(params, store, Transport::new(transport), 1).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_refused_key_is_taken_out_of_use_then_reprobed_and_never_printed() {
    let router = two_keys_the_newer_refused();

    // Three 401s within the minute (the default) take the newer key out of use.
    let mut err = None;
    for n in 0..3 {
        assert!(router.credentials().revocations().is_empty(), "after {n}");
        let e = router.chat(common::request("solo")).await.unwrap_err();
        assert_eq!(e.kind(), Some(ErrorKind::Unauthorized));
        err = Some(e);
    }
    let err = err.unwrap();
    let revocations = router.credentials().revocations();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].source, "literal");
    // The next request uses the other key and succeeds.
    let reply = router.chat(common::request("solo")).await.unwrap();
    assert_eq!(reply.usage.completion_tokens, 10);
    // After the 5-minute cool-off the newer key is tried again: one 401 revokes it at once,
    // and the request after that is served by the older key.
    tokio::time::advance(std::time::Duration::from_secs(301)).await;
    let e = router.chat(common::request("solo")).await.unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Unauthorized));
    assert_eq!(router.credentials().revocations().len(), 2);
    assert!(
        router
            .credentials()
            .events()
            .iter()
            .any(|e| e.what == "cool-off over: re-probing")
    );
    let reply = router.chat(common::request("solo")).await.unwrap();
    assert_eq!(reply.usage.completion_tokens, 10);
    let revocations = router.credentials().revocations();

    // Nowhere a person or a tool could read it: errors, debug output, snapshots, telemetry,
    // status reports.
    let texts = [
        err.to_string(),
        format!("{err:?}"),
        format!("{router:?}"),
        format!("{:?}", router.telemetry()),
        serde_json::to_string(&router.snapshot()).unwrap(),
        serde_json::to_string(
            &router
                .credentials()
                .status(Date(20_000), switchyard_core::time::Instant::ZERO),
        )
        .unwrap(),
        serde_json::to_string(&revocations).unwrap(),
        serde_json::to_string(&router.credentials().events()).unwrap(),
        format!("{:?}", router.credentials()),
        format!("{:?}", router.credentials().providers()),
    ];
    for text in texts {
        assert!(
            !text.contains(SECRET) && !text.contains(HEADER_SECRET),
            "leaked: {text}"
        );
    }
}
