use super::*;
use switchyard_core::credentials::{ProviderConfig, resolve_providers};

const YAML: &str = "
- name: openai
  dialect: openai
  base_url: https://api.openai.com
  rotation_days: 90
  keys:
    - { source: env:OPENAI_KEY_OLD, valid_from: 2026-01-01, valid_until: 2026-12-31, last_rotated: 2026-01-01 }
    - { source: env:OPENAI_KEY_NEW, valid_from: 2026-11-20, last_rotated: 2026-11-20 }
- name: anthropic
  dialect: anthropic
  base_url: https://api.anthropic.com
  headers: { anthropic-beta: 'env:ANTHROPIC_BETA' }
  keys:
    - { source: 'file:KEYFILE' }
";

fn providers(env: Environment, keyfile: &str) -> Vec<ProviderParams> {
    let configs: Vec<ProviderConfig> =
        serde_yaml::from_str(&YAML.replace("KEYFILE", keyfile)).unwrap();
    resolve_providers(&configs, env, &["openai", "anthropic"]).unwrap()
}

fn today() -> Date {
    Date::parse("2026-11-25").unwrap()
}

fn at(secs: u64) -> Instant {
    Instant::ZERO + switchyard_core::time::Duration::from_secs(secs)
}

fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn env_and_file_sources_resolve_and_the_newest_valid_key_is_used() {
    // Long: one key ring's story, in order (resolve, revoke, cool off, re-probe); each step
    // starts from the state the one before left.
    let dir = std::env::temp_dir().join(format!("switchyard-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("anthropic.key");
    std::fs::write(&file, "sk-ant-from-file\n").unwrap();
    let env = env_with(&[
        ("OPENAI_KEY_OLD", "sk-old"),
        ("OPENAI_KEY_NEW", "sk-new"),
        ("ANTHROPIC_BETA", "beta-from-env"),
    ]);
    let store = CredentialStore::load(
        providers(Environment::Production, file.to_str().unwrap()),
        Environment::Production,
        &["openai", "anthropic"],
        today(),
        &env,
    )
    .unwrap();
    assert_eq!(
        store
            .key(0, today(), at(0))
            .map(|(i, k)| (i, k.expose().to_owned())),
        Some((1, "sk-new".to_owned()))
    );
    assert_eq!(
        store
            .key(1, today(), at(0))
            .map(|(_, k)| k.expose().to_owned()),
        Some("sk-ant-from-file".to_owned()),
        "trimmed"
    );
    // Before the new key's window opens, the old one.
    assert_eq!(
        store
            .key(0, Date::parse("2026-11-01").unwrap(), at(0))
            .map(|(i, _)| i),
        Some(0)
    );
    assert_eq!(
        store.headers(1)["anthropic-beta"].expose(),
        "beta-from-env",
        "header values resolve like keys"
    );
    assert!(store.headers(0).is_empty());
    // Two 401s on the new key: still in use. The third within a minute takes it out of use:
    // back to the old one, and the revocation is reported by source.
    assert_eq!(store.key(0, today(), at(0)).map(|(i, _)| i), Some(1));
    let before = store.events().len();
    store.revoke(0, 1, at(1));
    store.revoke(0, 1, at(2));
    assert_eq!(store.key(0, today(), at(3)).map(|(i, _)| i), Some(1));
    store.revoke(0, 1, at(4));
    store.revoke(0, 1, at(5));
    assert_eq!(store.key(0, today(), at(6)).map(|(i, _)| i), Some(0));
    assert_eq!(
        store.revocations(),
        [Revocation {
            provider: "openai".into(),
            source: "env:OPENAI_KEY_NEW".into(),
            reason: "unauthorized (401)"
        }]
    );
    let status = store.status(today(), at(6));
    assert!(status[0].keys[1].revoked && status[0].keys[0].in_use);
    assert_eq!(status[0].keys[1].reprobe_in_secs, Some(298.0));
    // After the 5-minute cool-off the new key is tried again; a 401 then revokes it at once,
    // for twice as long.
    assert_eq!(store.key(0, today(), at(304)).map(|(i, _)| i), Some(1));
    assert!(store.status(today(), at(304))[0].keys[1].reprobing);
    store.revoke(0, 1, at(305));
    assert_eq!(store.key(0, today(), at(306)).map(|(i, _)| i), Some(0));
    let events = store.events();
    let what: Vec<(&str, &str, Option<f64>)> = events[before..]
        .iter()
        .map(|e| {
            let key = if e.source.ends_with("NEW") {
                "new"
            } else {
                "old"
            };
            (key, e.what, e.cool_off_secs)
        })
        .collect();
    assert_eq!(
        what,
        [
            ("new", "refused (401): taken out of use", Some(300.0)),
            ("old", "in use", None),
            ("new", "cool-off over: re-probing", None),
            ("new", "in use", None),
            ("new", "refused (401): taken out of use", Some(600.0)),
            ("old", "in use", None),
        ]
    );
    assert_eq!(store.revocations().len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn production_refuses_to_start_naming_what_is_missing() {
    let env = env_with(&[("OPENAI_KEY_OLD", "sk-old-secret")]);
    // The old key is set but expired on this date; the new one is not set; the file is missing.
    let day = Date::parse("2027-02-01").unwrap();
    let err = CredentialStore::load(
        providers(Environment::Production, "/nonexistent/key"),
        Environment::Production,
        &["openai", "anthropic"],
        day,
        &env,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("provider `openai`: no usable key: env:OPENAI_KEY_OLD (not valid today), env:OPENAI_KEY_NEW (not set)"), "{text}");
    assert!(
        text.contains("provider `anthropic`: no usable key: file:/nonexistent/key (not set)"),
        "{text}"
    );
    assert!(
        text.contains(
            "provider `anthropic`: header `anthropic-beta`: env:ANTHROPIC_BETA (not set)"
        ),
        "{text}"
    );
    assert!(!text.contains("sk-old-secret"), "never the key itself");
    // A provider no target uses is not required.
    let ok = CredentialStore::load(
        providers(Environment::Production, "/nonexistent/key"),
        Environment::Production,
        &["openai"],
        today(),
        &env_with(&[("OPENAI_KEY_NEW", "k")]),
    );
    assert!(ok.is_ok());
}

#[test]
fn development_needs_nothing_from_the_environment() {
    let yaml = "- { name: openai, dialect: openai, base_url: 'https://api.openai.com', fake_base_url: 'http://127.0.0.1:1', keys: [{ source: env:OPENAI_KEY }] }";
    let configs: Vec<ProviderConfig> = serde_yaml::from_str(yaml).unwrap();
    let p = resolve_providers(&configs, Environment::Development, &["openai"]).unwrap();
    let store = CredentialStore::load(p, Environment::Development, &["openai"], today(), &|_| None)
        .unwrap();
    assert_eq!(
        store
            .key(0, today(), at(0))
            .map(|(_, k)| k.expose().to_owned()),
        Some("switchyard-dev".to_owned())
    );
}

#[test]
fn status_reports_sources_and_states_never_keys() {
    let env = env_with(&[
        ("OPENAI_KEY_OLD", "sk-old-secret"),
        ("OPENAI_KEY_NEW", "sk-new-secret"),
        ("ANTHROPIC_BETA", "beta-header-secret"),
    ]);
    let store = CredentialStore::load(
        providers(Environment::Production, "/nonexistent/key"),
        Environment::Production,
        &["openai"],
        today(),
        &env,
    )
    .unwrap();
    let report = store.status(today(), at(0));
    let openai = &report[0];
    assert_eq!(
        openai.keys[0].status, "stale",
        "rotated 2026-01-01, 90-day policy"
    );
    assert_eq!(openai.keys[1].status, "fresh");
    assert!(openai.keys[1].in_use && !openai.keys[0].in_use);
    assert_eq!(worst(&openai.keys), "stale");
    assert!(!report[1].keys[0].resolved);
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("env:OPENAI_KEY_OLD"));
    assert!(!json.contains("secret"), "{json}");
    assert_eq!(
        store.headers(1)["anthropic-beta"].expose(),
        "beta-header-secret"
    );
    assert!(
        !format!("{store:?}").contains("secret"),
        "Debug of the store redacts keys and header values: {store:?}"
    );
}

#[test]
fn a_source_with_a_typo_is_refused_where_it_is_written() {
    let live = include_str!("../../../../scenarios/routers/live.yaml");
    assert!(crate::config::load_live(live, "live.yaml").is_ok());
    let cases = [
        (
            "env:OPENAI_API_KEY_PREVIOUS",
            "ENV:OPENAI_API_KEY_PREVIOUS",
            "live.yaml:18:11: field `providers[0].keys[1].source`",
        ),
        (
            "file:/run/secrets/anthropic",
            "sk-ant-pasted-bare",
            "live.yaml:26:11: field `providers[1].keys[0].source`",
        ),
        (
            "\"literal:org-switchyard\"",
            "Env:ORG",
            "live.yaml:13:16: field `providers[0].headers.OpenAI-Organization`",
        ),
    ];
    for (good, bad, place) in cases {
        let text = live.replacen(good, bad, 1);
        let e = crate::config::load_live(&text, "live.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(place), "{e}");
        assert!(
            e.contains("`env:NAME`, `file:PATH` or `literal:VALUE`"),
            "{e}"
        );
        assert!(
            !e.contains("sk-ant-pasted-bare"),
            "never echoes the text: {e}"
        );
    }
}

#[test]
fn a_base_url_with_user_information_is_refused_where_it_is_written_and_never_echoed() {
    let live = include_str!("../../../../scenarios/routers/live.yaml");
    let cases = [
        (
            "base_url: https://api.openai.com",
            "base_url: https://sy-user:hunter2-secret@api.openai.com",
            "live.yaml:9:5: field `providers[0].base_url`",
        ),
        (
            "fake_base_url: http://127.0.0.1:9102",
            "fake_base_url: http://hunter2-secret@127.0.0.1:9102/v1",
            "live.yaml:22:5: field `providers[1].fake_base_url`",
        ),
    ];
    for (good, bad, place) in cases {
        let text = live.replacen(good, bad, 1);
        assert_ne!(text, live);
        let e = crate::config::load_live(&text, "live.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(place), "{e}");
        assert!(e.contains("user information"), "{e}");
        assert!(!e.contains("hunter2"), "never echoes the password: {e}");
    }
    // An `@` in the path or query is not user information.
    let text = live.replacen(
        "base_url: https://api.openai.com",
        "base_url: https://api.openai.com/v1?team=a@b",
        1,
    );
    assert!(crate::config::load_live(&text, "live.yaml").is_ok());
}
