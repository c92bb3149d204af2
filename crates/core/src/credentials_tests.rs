use super::*;

fn day(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn provider(yaml: &str) -> ProviderConfig {
    serde_yaml::from_str(yaml).unwrap()
}

const OPENAI: &str = "
name: openai
dialect: openai
base_url: https://api.openai.com/
fake_base_url: http://127.0.0.1:9001
rotation_days: 90
headers: { OpenAI-Organization: 'literal:org-1', X-Team: env:TEAM_HEADER }
keys:
  - { source: env:OPENAI_OLD, valid_from: 2026-01-01, valid_until: 2026-12-01, last_rotated: 2026-01-01 }
  - { source: env:OPENAI_NEW, valid_from: 2026-11-20, last_rotated: 2026-11-20 }
";

#[test]
fn secrets_never_print() {
    let s = Secret::new("sk-live-123456");
    assert_eq!(format!("{s:?}"), "Secret([redacted])");
    assert_eq!(s.to_string(), "[redacted]");
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
    let source = KeySource::parse("literal:sk-live-123456").unwrap();
    assert_eq!(source.to_string(), "literal");
    assert!(!format!("{source:?}").contains("sk-live"));
    let p = resolve_providers(
        &[provider(
            &OPENAI
                .replace("env:OPENAI_NEW", "literal:sk-live-123456")
                .replace("literal:org-1", "literal:sk-header-secret"),
        )],
        Environment::Development,
        &[],
    )
    .unwrap();
    let text = format!("{p:?}");
    assert!(
        !text.contains("sk-live") && !text.contains("sk-header-secret"),
        "{text}"
    );
    assert_eq!(s.expose(), "sk-live-123456");
}

#[test]
fn dates_parse_and_print() {
    assert_eq!(day("2026-11-25").to_string(), "2026-11-25");
    assert_eq!(Date::from_unix(1_795_564_800), day("2026-11-25"));
    assert_eq!(day("2026-11-25").days_until(day("2026-12-25")), 30);
    assert!(Date::parse("25/11/2026").is_none());
}

#[test]
fn dates_at_their_edges() {
    assert_eq!(Date::parse(" 1970-01-01\n"), Some(Date(0)));
    assert_eq!(Date::parse("1969-12-31"), None, "before 1970");
    assert_eq!(Date::parse("2026-13-01"), None);
    assert_eq!(Date::parse("2026-01-32"), None);
    // A day its month does not have is refused, not rolled into the next month.
    assert_eq!(Date::parse("2026-02-30"), None);
    assert_eq!(Date::parse("2026-04-31"), None);
    assert_eq!(Date::parse("2025-02-29"), None, "2025 is not a leap year");
    assert_eq!(
        Date::parse("2028-02-29").map(|d| d.to_string()),
        Some("2028-02-29".into())
    );
    assert_eq!(
        Date::parse("2026-12-31").map(|d| d.to_string()),
        Some("2026-12-31".into())
    );
    assert_eq!(Date::from_unix(86_399), Date(0));
    assert_eq!(Date::from_unix(86_400), Date(1));
    assert_eq!(Date::from_unix(u64::MAX), Date(u32::MAX));
    assert_eq!(day("2026-11-25").days_until(day("2026-11-20")), -5);
}

#[test]
fn sources_and_auth_styles() {
    assert_eq!(KeySource::parse("env:X"), Ok(KeySource::Env("X".into())));
    assert_eq!(
        KeySource::parse("file:/k"),
        Ok(KeySource::File("/k".into()))
    );
    assert_eq!(
        KeySource::parse("literal:k"),
        Ok(KeySource::Literal(Secret::new("k")))
    );
    // A typo in the prefix, or no prefix, is not a literal key.
    for bad in ["ENV:X", "Env:X", "sk-bare-key", "File:/k", ""] {
        let e = KeySource::parse(bad).unwrap_err();
        assert!(e.contains("`literal:VALUE`"), "{bad}: {e}");
        assert!(
            bad.is_empty() || !e.contains(bad),
            "never echoes the text: {e}"
        );
    }
    assert!(KeySource::parse("ENV:X").unwrap_err().contains("`env:`"));
    assert_eq!(
        AuthStyle::parse("query:key"),
        Some(AuthStyle::Query("key".into()))
    );
    assert_eq!(AuthStyle::parse("telepathy"), None);
    assert_eq!(
        AuthStyle::default_for(Dialect::Anthropic),
        AuthStyle::XApiKey
    );
    assert_eq!(
        default_headers(Dialect::Anthropic)["anthropic-version"],
        KeySource::Literal(Secret::new("2023-06-01"))
    );
}

#[test]
fn development_uses_fakes_and_mock_keys() {
    let p =
        &resolve_providers(&[provider(OPENAI)], Environment::Development, &["openai"]).unwrap()[0];
    assert_eq!(p.mode, Mode::Fake);
    assert_eq!(p.base_url, "http://127.0.0.1:9001");
    assert_eq!(p.keys.len(), 1);
    assert!(matches!(&p.keys[0].source, KeySource::Literal(s) if s.expose() == "switchyard-dev"));
    // An explicit override to live in development keeps the live URL and keys.
    let live = provider(&format!("{OPENAI}mode: live\n"));
    let p = &resolve_providers(&[live], Environment::Development, &["openai"]).unwrap()[0];
    assert_eq!(
        (p.mode, p.base_url.as_str(), p.keys.len()),
        (Mode::Live, "https://api.openai.com", 2)
    );
    assert_eq!(
        p.headers["OpenAI-Organization"],
        KeySource::Literal(Secret::new("org-1"))
    );
    assert_eq!(p.headers["X-Team"], KeySource::Env("TEAM_HEADER".into()));
    assert_eq!(p.revocation, keyring::RevocationParams::default());
}

#[test]
fn production_rules() {
    let p =
        &resolve_providers(&[provider(OPENAI)], Environment::Production, &["openai"]).unwrap()[0];
    assert_eq!(p.mode, Mode::Live);
    let literal = provider(&OPENAI.replace("env:OPENAI_NEW", "literal:sk-in-the-file"));
    let e = resolve_providers(&[literal], Environment::Production, &["openai"]).unwrap_err();
    assert_eq!(e.path, "providers[0].keys[1].source");
    assert!(e.message.contains("only in development") && !e.message.contains("sk-in-the-file"));
    let keyless = provider("name: openai\ndialect: openai\nbase_url: https://api.openai.com\n");
    let e = resolve_providers(&[keyless], Environment::Production, &["openai"]).unwrap_err();
    assert!(e.message.contains("no keys"), "{e}");
    let e = resolve_providers(
        &[provider(OPENAI)],
        Environment::Production,
        &["openai", "anthropic"],
    )
    .unwrap_err();
    assert!(e.message.contains("`anthropic`"), "{e}");
    let no_fake = provider("name: x\ndialect: gemini\nbase_url: https://g\n");
    let e = resolve_providers(&[no_fake], Environment::Development, &["x"]).unwrap_err();
    assert_eq!(e.path, "providers[0].fake_base_url");
}

#[test]
fn rotation_states_and_the_active_key() {
    let p =
        &resolve_providers(&[provider(OPENAI)], Environment::Production, &["openai"]).unwrap()[0];
    let (old, new) = (&p.keys[0], &p.keys[1]);
    // Old key rotated 2026-01-01 with a 90-day period: stale by April.
    assert_eq!(
        old.status(day("2026-03-01"), p.rotation_days),
        KeyStatus::Fresh
    );
    assert_eq!(
        old.status(day("2026-03-25"), p.rotation_days),
        KeyStatus::DueSoon
    );
    assert_eq!(
        old.status(day("2026-05-01"), p.rotation_days),
        KeyStatus::Stale
    );
    assert_eq!(
        old.status(day("2026-12-02"), p.rotation_days),
        KeyStatus::Expired
    );
    assert_eq!(
        new.status(day("2026-11-19"), p.rotation_days),
        KeyStatus::NotYetValid
    );
    assert_eq!(
        new.status(day("2026-11-25"), p.rotation_days),
        KeyStatus::Fresh
    );
    // Overlap: before the new key starts, the old one; during the overlap, the newer one.
    let mut ring = keyring::KeyRing::new(p.keys.len(), p.revocation);
    let t0 = crate::time::Instant::ZERO;
    let choose = |ring: &mut keyring::KeyRing, today| ring.choose(t0, |i| p.rank(i, today), |_| {});
    assert_eq!(choose(&mut ring, day("2026-11-01")), Some(0));
    assert_eq!(choose(&mut ring, day("2026-11-25")), Some(1));
    // The new key revoked by 401s: back to the old one while it lasts.
    for _ in 0..3 {
        ring.unauthorized(1, t0);
    }
    assert_eq!(choose(&mut ring, day("2026-11-25")), Some(0));
    assert_eq!(choose(&mut ring, day("2026-12-05")), None);
}

#[test]
fn rotation_is_due_soon_from_14_days_before_through_the_due_day() {
    // No last_rotated: counted from valid_from, 2026-01-01; due 90 days later, 2026-04-01.
    let key = KeyParams {
        source: KeySource::Env("K".into()),
        valid_from: Some(day("2026-01-01")),
        valid_until: None,
        last_rotated: None,
    };
    let on = |d| key.status(day(d), Some(90));
    assert_eq!(on("2026-03-17"), KeyStatus::Fresh);
    assert_eq!(on("2026-03-18"), KeyStatus::DueSoon);
    assert_eq!(on("2026-04-01"), KeyStatus::DueSoon);
    assert_eq!(on("2026-04-02"), KeyStatus::Stale);
    assert_eq!(key.status(day("2030-01-01"), None), KeyStatus::Fresh);
    assert!(key.is_valid_on(day("2026-01-01")) && !key.is_valid_on(day("2025-12-31")));
}

#[test]
fn a_key_without_valid_from_ranks_below_one_with_it() {
    let yaml = "name: p\ndialect: openai\nbase_url: https://p\nkeys:\n  - { source: env:A, valid_from: 2020-01-01 }\n  - { source: env:B }\n";
    let p = &resolve_providers(&[provider(yaml)], Environment::Production, &["p"]).unwrap()[0];
    let today = day("2026-01-01");
    assert!(p.rank(0, today) > p.rank(1, today));
    assert_eq!(p.rank(2, today), None);
    assert_eq!(p.rank(0, day("2019-12-31")), None);
}

#[test]
fn bad_provider_configs() {
    let e = resolve_providers(
        &[provider(&format!("{OPENAI}auth: smoke_signals\n"))],
        Environment::Development,
        &[],
    )
    .unwrap_err();
    assert_eq!(e.path, "providers[0].auth");
    let twice = [provider(OPENAI), provider(OPENAI)];
    assert!(
        resolve_providers(&twice, Environment::Development, &[])
            .unwrap_err()
            .message
            .contains("twice")
    );
    // A typo in a key's prefix, in fake mode too, or in a header's.
    for env in [Environment::Development, Environment::Production] {
        let typo = provider(&OPENAI.replace("env:OPENAI_NEW", "ENV:OPENAI_NEW"));
        let e = resolve_providers(&[typo], env, &[]).unwrap_err();
        assert_eq!(e.path, "providers[0].keys[1].source");
    }
    let header = provider(&OPENAI.replace("'literal:org-1'", "org-1"));
    let e = resolve_providers(&[header], Environment::Development, &[]).unwrap_err();
    assert_eq!(e.path, "providers[0].headers.OpenAI-Organization");
    let revocation = provider(&format!("{OPENAI}revocation: {{ after_401s: 0 }}\n"));
    let e = resolve_providers(&[revocation], Environment::Development, &[]).unwrap_err();
    assert_eq!(e.path, "providers[0].revocation.after_401s");
    let backwards = provider(&OPENAI.replace("valid_until: 2026-12-01", "valid_until: 2025-12-01"));
    let e = resolve_providers(&[backwards], Environment::Production, &[]).unwrap_err();
    assert_eq!(e.path, "providers[0].keys[0].valid_until");
    let ftp = provider(&OPENAI.replace("https://api.openai.com/", "ftp://api.openai.com"));
    let e = resolve_providers(&[ftp], Environment::Production, &[]).unwrap_err();
    assert_eq!(e.path, "providers[0].base_url");
    // In development the fake's URL is the one used, and the one named.
    let ftp = provider(&OPENAI.replace("http://127.0.0.1:9001", "ftp://127.0.0.1:9001"));
    let e = resolve_providers(&[ftp], Environment::Development, &[]).unwrap_err();
    assert_eq!(e.path, "providers[0].fake_base_url");
}

#[test]
fn a_panic_that_formats_a_secret_does_not_show_it() {
    let s = Secret::new("sk-panic-secret");
    let payload =
        std::panic::catch_unwind(|| panic!("request failed with {s:?} / {s}")).unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("[redacted]") && !message.contains("sk-panic-secret"),
        "{message}"
    );
}
