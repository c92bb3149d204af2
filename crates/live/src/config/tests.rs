use super::*;

const BASE: &str = "providers:\n  - { name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake' }\n\
                    router:\n  targets:\n    - { name: ta, provider: a, model: m }\n  routes:\n    - { name: chat, policy: static, targets: [ta] }\n";

fn with_limits(limits: &str) -> Result<LiveParams, ConfigError> {
    load_live(&format!("{BASE}limits:\n{limits}"), "live.yaml")
}

#[test]
fn limits_default_when_absent_and_read_humane_sizes_or_integers() {
    let params = load_live(BASE, "live.yaml").unwrap();
    assert_eq!(params.limits, InputLimits::default());
    let params = with_limits(
        "  max_body_bytes: 8MiB\n  max_error_body_bytes: 4096\n  max_event_bytes: 256 KiB\n",
    )
    .unwrap();
    assert_eq!(
        params.limits,
        InputLimits {
            max_body_bytes: 8 << 20,
            max_error_body_bytes: 4096,
            max_event_bytes: 256 << 10,
        }
    );
    let params = with_limits("  max_body_bytes: 2GB\n").unwrap_err();
    assert_eq!(params.path, "limits.max_body_bytes");
}

#[test]
fn limits_out_of_bounds_or_unknown_are_located() {
    for (limits, path, line) in [
        ("  max_event_bytes: 100\n", "limits.max_event_bytes", 9),
        ("  max_body_bytes: 1\n", "limits.max_body_bytes", 9),
        (
            "  max_error_body_bytes: 17MiB\n",
            "limits.max_error_body_bytes",
            9,
        ),
        (
            "  max_body_bytes: 1MiB\n  max_event_bytes: 99999999999999999999KiB\n",
            "limits.max_event_bytes",
            10,
        ),
        ("  max_body_bytes: 1 parsec\n", "limits.max_body_bytes", 9),
        ("  max_body_bytes: -5\n", "limits.max_body_bytes", 9),
        ("  max_reply_bytes: 5\n", "limits", 9),
    ] {
        let err = with_limits(limits).unwrap_err();
        assert!(err.path.starts_with(path), "{limits}: {err:?}");
        assert_eq!(
            (err.file.as_str(), err.line),
            ("live.yaml", line),
            "{limits}: {err:?}"
        );
    }
}

#[test]
fn gateway_settings_default_and_out_of_bounds_are_located() {
    let params = load_live(BASE, "live.yaml").unwrap();
    assert_eq!(params.gateway.max_in_flight(), DEFAULT_MAX_IN_FLIGHT);
    assert_eq!(
        params.gateway.body_read_timeout(),
        std::time::Duration::from_secs(10)
    );
    assert_eq!(
        params.gateway.shutdown_grace(),
        std::time::Duration::from_secs(30)
    );
    let params = load_live(
        &format!(
            "{BASE}gateway:\n  max_in_flight: 8\n  body_read_timeout: 2s\n  shutdown_grace: 1s\n"
        ),
        "live.yaml",
    )
    .unwrap();
    assert_eq!(params.gateway.max_in_flight(), 8);
    assert_eq!(
        params.gateway.body_read_timeout(),
        std::time::Duration::from_secs(2)
    );
    assert_eq!(
        params.gateway.shutdown_grace(),
        std::time::Duration::from_secs(1)
    );
    // 0s: cut at once; 1h, the most.
    for (grace, secs) in [("0s", 0), ("1h", 3600)] {
        let text = format!("{BASE}gateway:\n  shutdown_grace: {grace}\n");
        let params = load_live(&text, "live.yaml").unwrap();
        assert_eq!(
            params.gateway.shutdown_grace(),
            std::time::Duration::from_secs(secs)
        );
    }
    for (gateway, path) in [
        ("  max_in_flight: 0\n", "gateway.max_in_flight"),
        ("  max_in_flight: 65537\n", "gateway.max_in_flight"),
        ("  body_read_timeout: 1ms\n", "gateway.body_read_timeout"),
        ("  body_read_timeout: 11m\n", "gateway.body_read_timeout"),
        ("  shutdown_grace: 61m\n", "gateway.shutdown_grace"),
        ("  shutdown_grace: -1s\n", "gateway.shutdown_grace"),
        ("  shutdown_grace: soon\n", "gateway.shutdown_grace"),
        ("  listen: localhost\n", "gateway.listen"),
        ("  max_body_bytes: 0\n", "gateway.max_body_bytes"),
    ] {
        let err = load_live(&format!("{BASE}gateway:\n{gateway}"), "live.yaml").unwrap_err();
        assert_eq!(err.path, path, "{gateway}: {err:?}");
        assert_eq!(err.file, "live.yaml", "{gateway}: {err:?}");
    }
}

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn sha256_fields_must_be_64_hex_characters_and_errors_are_located() {
    let ok = format!(
        "{BASE}gateway:\n  admin_token_sha256: {HASH}\n  metrics_token_sha256: {}\n  keys:\n    - {{ name: app, sha256: {HASH} }}\n",
        HASH.to_ascii_uppercase()
    );
    let params = load_live(&ok, "live.yaml").unwrap();
    assert_eq!(
        decode_sha256(params.gateway.metrics_token_sha256.as_deref().unwrap()),
        decode_sha256(HASH)
    );
    let short = &HASH[..63];
    let bad_char = format!("{}g", &HASH[..63]);
    for (gateway, path, line) in [
        (
            format!("  admin_token_sha256: {short}\n"),
            "gateway.admin_token_sha256",
            9,
        ),
        (
            format!("  metrics_token_sha256: {bad_char}\n"),
            "gateway.metrics_token_sha256",
            9,
        ),
        (
            format!(
                "  keys:\n    - {{ name: a, sha256: {HASH} }}\n    - {{ name: b, sha256: secret }}\n"
            ),
            "gateway.keys[1].sha256",
            11,
        ),
    ] {
        let err = load_live(&format!("{BASE}gateway:\n{gateway}"), "live.yaml").unwrap_err();
        assert_eq!(err.path, path, "{gateway}: {err:?}");
        assert_eq!(
            (err.file.as_str(), err.line),
            ("live.yaml", line),
            "{err:?}"
        );
        assert!(err.message.contains("64 hex characters"), "{err:?}");
    }
}

#[test]
fn the_default_body_limit_follows_the_largest_context_window() {
    let config = |window: &str, gateway: &str| {
        load_live(
            &format!(
                "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake' }}\n\
                 router:\n  targets:\n    - {{ name: ta, provider: a, model: m, context_window: 8000 }}\n    - {{ name: tb, provider: a, model: m, {window} }}\n  routes:\n    - {{ name: chat, policy: round_robin, targets: [ta, tb] }}\n{gateway}"
            ),
            "live.yaml",
        )
        .unwrap()
    };
    // 1M tokens × 8 bytes + 8 MiB.
    let p = config("context_window: 1000000", "");
    assert_eq!(p.gateway.max_body(&p.router), 8_000_000 + (8 << 20));
    // The default window (128k): 1 024 000 + 8 MiB.
    let p = config("context_window: 128000", "");
    assert_eq!(p.gateway.max_body(&p.router), 1_024_000 + (8 << 20));
    // Never above 256 MiB; an explicit setting wins.
    let p = config("context_window: 4000000000", "");
    assert_eq!(p.gateway.max_body(&p.router), MAX_BODY_BYTES);
    let p = config(
        "context_window: 1000000",
        "gateway:\n  max_body_bytes: 5000\n",
    );
    assert_eq!(p.gateway.max_body(&p.router), 5000);
}

#[test]
fn log_settings_default_to_text_at_info_and_rust_log_wins() {
    let params = load_live(BASE, "live.yaml").unwrap();
    assert_eq!(params.gateway.log_format, LogFormat::Text);
    assert_eq!(params.gateway.log_level(None), LogLevel::Info);
    let params = load_live(
        &format!("{BASE}gateway:\n  log_format: json\n  log_level: warn\n"),
        "live.yaml",
    )
    .unwrap();
    assert_eq!(params.gateway.log_format, LogFormat::Json);
    assert_eq!(params.gateway.log_level(None), LogLevel::Warn);
    assert_eq!(params.gateway.log_level(Some("DEBUG")), LogLevel::Debug);
    // Not a plain level (a filter directive): the config's level stands.
    assert_eq!(
        params.gateway.log_level(Some("switchyard=debug")),
        LogLevel::Warn
    );
    let err = load_live(&format!("{BASE}gateway:\n  log_format: xml\n"), "live.yaml").unwrap_err();
    assert!(err.path.starts_with("gateway"), "{err:?}");
}

#[test]
fn sizes_parse_with_checked_arithmetic() {
    assert_eq!("64KiB".parse(), Ok(ByteSize(65_536)));
    assert_eq!("1GB".parse(), Ok(ByteSize(1_000_000_000)));
    assert_eq!(" 12 ".parse(), Ok(ByteSize(12)));
    for bad in [
        "",
        "KiB",
        "1.5MiB",
        "18446744073709551615KiB",
        "-1",
        "1 kib",
    ] {
        assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
    }
}

#[test]
fn shared_state_defaults_bounds_and_located_errors_never_repeat_the_url() {
    let ok = format!(
        "{BASE}gateway:\n  shared_state: {{ redis: 'redis://:hunter2pw@10.0.0.5:6379/0', sync_every: 250ms }}\n"
    );
    let params = load_live(&ok, "live.yaml").unwrap();
    let shared = params.gateway.shared_state.as_ref().unwrap();
    assert_eq!(
        shared.sync_every(),
        switchyard_core::time::Duration::from_millis(250)
    );
    assert_eq!(shared.lease_block(), DEFAULT_LEASE_BLOCK);
    assert!(!format!("{params:?}").contains("hunter2pw"));
    for (line, path) in [
        (
            "{ redis: 'http://:hunter2pw@h:1' }",
            "gateway.shared_state.redis",
        ),
        ("{ redis: 'hunter2pw' }", "gateway.shared_state.redis"),
        (
            "{ redis: 'redis://:hunter2pw@h', sync_every: 5ms }",
            "gateway.shared_state.sync_every",
        ),
        (
            "{ redis: 'redis://:hunter2pw@h', sync_every: 2h }",
            "gateway.shared_state.sync_every",
        ),
        (
            "{ redis: 'redis://:hunter2pw@h', lease_block: 0 }",
            "gateway.shared_state.lease_block",
        ),
        (
            "{ redis: 'redis://:hunter2pw@h', lease_block: 1.5 }",
            "gateway.shared_state.lease_block",
        ),
    ] {
        let text = format!("{BASE}gateway:\n  max_in_flight: 8\n  shared_state: {line}\n");
        let err = load_live(&text, "live.yaml").unwrap_err();
        assert_eq!(err.path, path, "{line}: {err:?}");
        assert_eq!(err.file, "live.yaml");
        let want = text
            .lines()
            .position(|l| l.contains("shared_state"))
            .unwrap()
            + 1;
        assert_eq!(err.line, want, "{line}: {err:?}");
        assert!(err.column > 1, "{line}: {err:?}");
        assert!(!err.to_string().contains("hunter2pw"), "{err}");
    }
}

#[test]
fn gateway_threads_default_to_the_cores_and_zero_or_absurd_counts_are_located() {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    assert_eq!(
        load_live(BASE, "live.yaml").unwrap().gateway.threads(),
        cores.min(8)
    );
    // The default stops at 8 (32 cores: 8 threads); a setting goes past it.
    assert_eq!([1, 2, 8, 9, 32].map(default_threads), [1, 2, 8, 8, 8]);
    let params = load_live(&format!("{BASE}gateway:\n  threads: 32\n"), "live.yaml").unwrap();
    assert_eq!(params.gateway.threads(), 32);
    let params = load_live(&format!("{BASE}gateway:\n  threads: 3\n"), "live.yaml").unwrap();
    assert_eq!(params.gateway.threads(), 3);
    for threads in ["0", "257", "100000"] {
        let err = load_live(
            &format!("{BASE}gateway:\n  threads: {threads}\n"),
            "live.yaml",
        )
        .unwrap_err();
        assert_eq!(err.path, "gateway.threads", "{err:?}");
        assert_eq!((err.file.as_str(), err.line), ("live.yaml", 9), "{err:?}");
        assert!(err.column > 1, "{err:?}");
        assert!(err.message.contains(threads), "{err:?}");
    }
    let err = load_live(&format!("{BASE}gateway:\n  threads: -1\n"), "live.yaml").unwrap_err();
    assert_eq!(
        (err.line, err.path.as_str()),
        (9, "gateway.threads"),
        "{err:?}"
    );
}
