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

fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn env_and_file_sources_resolve_and_the_newest_valid_key_is_used() {
    let dir = std::env::temp_dir().join(format!("switchyard-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("anthropic.key");
    std::fs::write(&file, "sk-ant-from-file\n").unwrap();
    let env = env_with(&[("OPENAI_KEY_OLD", "sk-old"), ("OPENAI_KEY_NEW", "sk-new")]);
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
            .key(0, today())
            .map(|(i, k)| (i, k.expose().to_owned())),
        Some((1, "sk-new".to_owned()))
    );
    assert_eq!(
        store.key(1, today()).map(|(_, k)| k.expose().to_owned()),
        Some("sk-ant-from-file".to_owned()),
        "trimmed"
    );
    // Before the new key's window opens, the old one.
    assert_eq!(
        store
            .key(0, Date::parse("2026-11-01").unwrap())
            .map(|(i, _)| i),
        Some(0)
    );
    // A 401 on the new key: back to the old one, and the revocation is reported by source.
    store.revoke(0, 1);
    store.revoke(0, 1);
    assert_eq!(store.key(0, today()).map(|(i, _)| i), Some(0));
    assert_eq!(
        store.revocations(),
        [Revocation {
            provider: "openai".into(),
            source: "env:OPENAI_KEY_NEW".into(),
            reason: "unauthorized (401)"
        }]
    );
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
        store.key(0, today()).map(|(_, k)| k.expose().to_owned()),
        Some("switchyard-dev".to_owned())
    );
}

#[test]
fn status_reports_sources_and_states_never_keys() {
    let env = env_with(&[
        ("OPENAI_KEY_OLD", "sk-old-secret"),
        ("OPENAI_KEY_NEW", "sk-new-secret"),
    ]);
    let store = CredentialStore::load(
        providers(Environment::Production, "/nonexistent/key"),
        Environment::Production,
        &["openai"],
        today(),
        &env,
    )
    .unwrap();
    let report = store.status(today());
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
    assert!(
        !format!("{store:?}").contains("secret"),
        "Debug of the store redacts"
    );
}
