#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use switchyard::{EXIT_BAD_INPUT, EXIT_OK, run};
use switchyard_testkit::{TempDir, fixtures};

fn cli(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("switchyard")
        .chain(args.iter().copied())
        .map(String::from);
    let code = run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn a_good_router_config_validates() {
    let dir = TempDir::new("validate-good");
    let file = dir.write("router.yaml", fixtures::ROUTER_YAML);
    let (code, out, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(out.contains("ok (3 targets, 2 routes, 1 rule)"), "{out}");
}

/// A scenario's line counts what it has, each word in the number it needs (NU3: "1 classes").
#[test]
fn a_good_scenario_validates_with_its_counts() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/active-passive-outage.yaml"
    );
    let (code, out, err) = cli(&["validate", file]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(
        out.contains("(scenario `active-passive-outage`: 2 providers, 1 class, 6 expectations)"),
        "{out}"
    );
}

#[test]
fn a_bad_config_names_file_line_column_and_field() {
    let dir = TempDir::new("validate-bad");
    let bad = fixtures::ROUTER_YAML.replace("weights: [3, 1]", "weights: [0, 0]");
    let file = dir.write("router.yaml", &bad);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT);
    let line = fixtures::line_of(&bad, "weights: [0, 0]");
    assert!(
        err.contains(&format!("router.yaml:{line}:5: field `routes[0].weights`")),
        "{err}"
    );
}

#[test]
fn a_missing_file_and_bad_usage_exit_2() {
    let (code, _, err) = cli(&["validate", "/nonexistent/router.yaml"]);
    assert_eq!(code, EXIT_BAD_INPUT);
    assert!(
        err.contains("/nonexistent/router.yaml: cannot read"),
        "{err}"
    );
    assert_eq!(cli(&["frobnicate"]).0, EXIT_BAD_INPUT);
    assert_eq!(cli(&["validate"]).0, EXIT_BAD_INPUT);
    assert_eq!(cli(&["--help"]).0, EXIT_OK);
}

/// The `file:line:column` of each error line, in the order printed.
fn positions(err: &str) -> Vec<(usize, usize)> {
    err.lines()
        .filter_map(|l| {
            let mut parts = l.split(':');
            let _file = parts.next()?;
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect()
}

const SCENARIO_HEAD: &str = "\
name: many-errors
seed: 1
duration: 1m
providers:
  - { name: openai, profile: openai }
  - { name: anthropic, profile: anthropic }
";

#[test]
fn every_field_error_of_a_file_is_reported_in_file_order() {
    let dir = TempDir::new("validate-fields");
    let text = format!(
        "{SCENARIO_HEAD}\
router:
  targets:
    - name: openai-4o
      provider: openai
      model: gpt-4o
      colour: blue
    - name: claude
      provider: anthropic
      model: claude-sonnet-4-20250514
      context_window: 200000
      price:
        input: 3
        output: lots
  routes:
    - {{ name: chat, policy: priority, tiers: [[openai-4o], [claude]] }}
traffic:
  arrival: {{ poisson: 10 }}
  classes:
    - name: chat
      weight: 1
      route: chat
      prompt_tokens: {{ fixed: 100 }}
      speed: fast
expect:
  - {{ metric: success_rate, op: \">=\", value: 0.99 }}
"
    );
    let file = dir.write("scenario.yaml", &text);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    let colour = fixtures::line_of(&text, "colour: blue");
    let lots = fixtures::line_of(&text, "output: lots");
    let speed = fixtures::line_of(&text, "speed: fast");
    assert_eq!(
        positions(&err),
        vec![(colour, 7), (lots, 9), (speed, 7)],
        "{err}"
    );
    assert!(
        err.contains("field `router.targets[0].colour`")
            && err.contains("unknown field `colour`")
            && err.contains("field `router.targets[1].price.output`")
            && err.contains("field `traffic.classes[0].speed`")
            && err.contains("scenario.yaml: 3 errors"),
        "{err}"
    );
}

/// A bad value in a required field is taken out to read on; the "missing field" that the
/// taking out causes is not reported, and does not stop the listing: the errors after it, in
/// later list items and later sections, are all there, named as in the file.
#[test]
fn a_bad_required_field_does_not_hide_the_errors_after_it() {
    let dir = TempDir::new("validate-required");
    let text = format!(
        "{SCENARIO_HEAD}\
router:
  targets:
    - name: [not, a, name]
      provider: openai
      model: gpt-4o
    - name: claude
      provider: anthropic
      model: claude-sonnet-4-20250514
      colour: blue
  routes:
    - {{ name: chat, policy: priority, tiers: [[claude]] }}
traffic:
  arrival: {{ poisson: 10 }}
  classes:
    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }}, speed: fast }}
"
    );
    let file = dir.write("scenario.yaml", &text);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    assert!(!err.contains("missing field"), "{err}");
    assert!(
        err.contains("field `router.targets[0].name`")
            && err.contains("field `router.targets[1].colour`")
            && err.contains("field `traffic.classes[0].speed`")
            && err.contains("scenario.yaml: 3 errors"),
        "{err}"
    );
    let name = fixtures::line_of(&text, "name: [not");
    let colour = fixtures::line_of(&text, "colour: blue");
    let speed = fixtures::line_of(&text, "speed: fast");
    let lines: Vec<usize> = positions(&err).into_iter().map(|p| p.0).collect();
    assert_eq!(lines, vec![name, colour, speed], "{err}");
}

#[test]
fn every_semantic_error_of_a_scenario_is_reported_in_file_order() {
    let dir = TempDir::new("validate-semantic");
    // `gateway:` is checked after the targets, and sits before them in the file.
    let text = format!(
        "{SCENARIO_HEAD}\
gateway: somewhere
router:
  targets:
    - {{ name: openai-4o, provider: openai, model: gpt-4o }}
    - {{ name: claude, provider: antropic, model: claude-sonnet-4-20250514, context_window: 200000 }}
  routes:
    - {{ name: chat, policy: priority, tiers: [[openai-4o], [claude]] }}
traffic:
  arrival: {{ poisson: 10 }}
  classes:
    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }} }}
expect:
  - {{ metric: success_rate, phase: \"during:nothing\", op: \">=\", value: 0.99 }}
  - {{ metric: success_rate, op: \">=\", value: 0.99 }}
  - {{ metric: cost, provider: opnai, op: \"<=\", value: 1 }}
"
    );
    let file = dir.write("scenario.yaml", &text);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    let antropic = fixtures::line_of(&text, "provider: antropic");
    let phase = fixtures::line_of(&text, "during:nothing");
    let opnai = fixtures::line_of(&text, "provider: opnai");
    let lines: Vec<usize> = positions(&err).into_iter().map(|(l, _)| l).collect();
    let gateway = fixtures::line_of(&text, "gateway: somewhere");
    assert_eq!(lines, vec![gateway, antropic, phase, opnai], "{err}");
    assert!(
        err.contains("field `router.targets[1].provider`: no provider `antropic`")
            && err.contains("field `expect[0].phase`: no phase `during:nothing`")
            && err.contains("field `expect[2].provider`: no provider `opnai`")
            && err.contains("field `gateway`: `somewhere`")
            && err.contains("scenario.yaml: 4 errors"),
        "{err}"
    );
}

#[test]
fn every_semantic_error_of_a_router_config_is_reported_in_file_order() {
    let dir = TempDir::new("validate-router-all");
    let text = "\
targets:
  - { name: a, provider: openai, model: gpt-4o, context_window: 0 }
  - { name: b, provider: anthropic, model: claude, capabilities: [telepathy] }
routes:
  - { name: chat, policy: priority, tiers: [[a], [claud]] }
  - { name: other, policy: priority, tiers: [[b]], fallback: nowhere }
rules:
  - { when: { task: x }, route: nope }
";
    let file = dir.write("router.yaml", text);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    let lines: Vec<usize> = positions(&err).into_iter().map(|(l, _)| l).collect();
    assert_eq!(lines, vec![2, 3, 5, 6, 8], "{err}");
    assert!(
        err.contains("unknown target `claud`")
            && err.contains("unknown route `nowhere`")
            && err.contains("unknown route `nope`")
            && err.contains("unknown capability `telepathy`")
            && err.contains("router.yaml: 5 errors"),
        "{err}"
    );
}

/// `compare`'s variants are checked as the scenario's router is: every error of each
/// variant's router, its targets against the scenario's providers, the names the
/// expectations use, and the variants' names (unique, safe), each at its line.
#[test]
fn variants_are_validated_like_the_scenarios_router() {
    let dir = TempDir::new("validate-variants");
    let text = format!(
        "{SCENARIO_HEAD}\
router:
  targets:
    - {{ name: gpt, provider: openai, model: gpt-4o }}
    - {{ name: claude, provider: anthropic, model: claude-sonnet-4-20250514 }}
  routes:
    - {{ name: chat, policy: priority, tiers: [[gpt], [claude]] }}
traffic:
  arrival: {{ poisson: 10 }}
  classes:
    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }} }}
expect:
  - {{ metric: share, target: claude, op: \"<=\", value: 1 }}
variants:
  - name: fine
    router:
      targets:
        - {{ name: gpt, provider: openai, model: gpt-4o }}
        - {{ name: claude, provider: anthropic, model: claude-sonnet-4-20250514 }}
      routes:
        - {{ name: chat, policy: round_robin, targets: [gpt, claude] }}
  - name: broken
    router:
      targets:
        - {{ name: gpt, provider: nobody, model: gpt-4o }}
        - {{ name: claude, provider: anthropic, model: gpt-9 }}
        - {{ name: extra, provider: openai, model: gpt-4o, context_window: 0 }}
      routes:
        - {{ name: chat, policy: priority, tiers: [[gpt], [claud]] }}
  - name: fine
    router:
      targets:
        - {{ name: gpt, provider: openai, model: gpt-4o }}
      routes:
        - {{ name: chat, policy: static, targets: [gpt] }}
  - name: ../evil
    router:
      targets:
        - {{ name: gpt, provider: openai, model: gpt-4o }}
        - {{ name: claude, provider: anthropic, model: claude-sonnet-4-20250514 }}
      routes:
        - {{ name: chat, policy: static, targets: [gpt] }}
"
    );
    let file = dir.write("scenario.yaml", &text);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    for needle in [
        "field `variants[1].router.targets[0].provider`: no provider `nobody`",
        "field `variants[1].router.targets[1].model`: provider `anthropic` serves",
        "field `variants[1].router.targets[2].context_window`",
        "field `variants[1].router.routes[0].tiers[1][0]`: unknown target `claud`",
        "field `variants[2].name`: a second variant named `fine`",
        "field `variants[2].router`: expect[0] names target `claude`, which this variant does not have",
        "field `variants[3].name`: `../evil`",
        "scenario.yaml: 7 errors",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    let lines: Vec<usize> = positions(&err).into_iter().map(|(l, _)| l).collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted, "{err}");
    let nobody = fixtures::line_of(&text, "provider: nobody");
    assert!(err.contains(&format!("scenario.yaml:{nobody}:")), "{err}");
}

/// Columns point at the field itself, in flow style too (`{ provider: x }`); an unknown
/// name lists the known ones; scenario, target and fault names are safe file names of at
/// most 100 characters.
#[test]
fn columns_point_at_the_field_and_unknown_names_list_the_known() {
    let dir = TempDir::new("validate-columns");
    let long = "f".repeat(101);
    let text = columns_scenario(&long);
    let file = dir.write("scenario.yaml", &text);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    let column = |needle: &str, field: &str| column_of(&text, needle, field);
    let expected = [
        (column(&long, "name:"), "faults[0].name`: `ffff"),
        (
            column("provider: antropic", "name:"),
            "targets[1].name`: `c/laude` cannot name a target",
        ),
        (
            column("provider: antropic", "provider:"),
            "no provider `antropic` in this scenario's providers (anthropic, openai)",
        ),
        (
            column("[claud]", "claud"),
            "unknown target `claud`; targets: gpt, c/laude",
        ),
    ];
    assert!(err.contains("is 101 characters long; at most 100"), "{err}");
    assert_errors_at(&err, &expected);

    // With the router right, the expectations' names are checked too (the broken fault
    // does not hide them).
    let text = text
        .replace(
            "\"c/laude\", provider: antropic",
            "claude, provider: anthropic",
        )
        .replace("[claud]", "[claude]")
        + "  - { metric: share, target: gtp, op: \"<=\", value: 1 }\n";
    let column = |needle: &str, field: &str| column_of(&text, needle, field);
    let file = dir.write("scenario2.yaml", &text);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    let expected = [
        (column(&long, "name:"), "is 101 characters long"),
        (
            column("class: chta", "class:"),
            "unknown class `chta`; classes: chat",
        ),
        (
            column("target: gtp", "target:"),
            "unknown target `gtp`; targets: gpt, claude",
        ),
    ];
    assert_errors_at(&err, &expected);
}

/// A scenario with a fault name of `long`, a target name that is not a safe name, and
/// misspelt provider, target and class names.
fn columns_scenario(long: &str) -> String {
    format!(
        "name: cols
seed: 1
duration: 1m
providers:
  - name: openai
    profile: openai
    faults:
      - {{ name: {long}, kind: http, status: 503, at: 10s, for: 10s }}
      - {{ name: ok, kind: http, status: 503, at: 10s, for: 10s }}
  - {{ name: anthropic, profile: anthropic }}
router:
  targets:
    - {{ name: gpt, provider: openai, model: gpt-4o }}
    - {{ name: \"c/laude\", provider: antropic, model: claude-sonnet-4-20250514 }}
  routes:
    - {{ name: chat, policy: priority, tiers: [[gpt], [claud]] }}
traffic:
  arrival: {{ poisson: 10 }}
  classes:
    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }} }}
expect:
  - {{ metric: success_rate, class: chta, op: \">=\", value: 0.9 }}
"
    )
}

/// `err` reports exactly the `expected` errors, in order, each (its message) at its 1-based
/// line and column.
fn assert_errors_at(err: &str, expected: &[((usize, usize), &str)]) {
    let found = positions(err);
    for ((at, message), got) in expected.iter().zip(&found) {
        assert_eq!(at, got, "{message}\n{err}");
        assert!(err.contains(message), "{message}\n{err}");
    }
    assert_eq!(found.len(), expected.len(), "{err}");
}

/// The 1-based line of `needle` in `text` and the column of `field` on that line.
fn column_of(text: &str, needle: &str, field: &str) -> (usize, usize) {
    let line = fixtures::line_of(text, needle);
    let l = text.lines().nth(line - 1).unwrap();
    (line, l.find(field).unwrap() + 1)
}

/// A field error does not hide the rest of the file: once the wrong fields are taken out,
/// the scenario is checked too, and its own errors come in the same pass, in file order.
#[test]
fn field_errors_and_the_other_errors_come_in_one_pass() {
    let dir = TempDir::new("validate-one-pass");
    let text = format!(
        "{SCENARIO_HEAD}\
router:
  targets:
    - {{ name: gpt, provider: openai, model: gpt-4o, colour: red }}
    - {{ name: claude, provider: antropic, model: claude-sonnet-4-20250514 }}
  routes:
    - {{ name: chat, policy: priority, tiers: [[gpt], [claude]] }}
traffic:
  arrival: {{ poisson: 10 }}
  classes:
    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }}, max_tokens: lots }}
expect:
  - {{ metric: succes_rate, op: \">=\", value: 1 }}
"
    );
    let file = dir.write("scenario.yaml", &text);
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    let expected = [
        (
            column_of(&text, "colour: red", "colour"),
            "field `router.targets[0].colour`: unknown field `colour`",
        ),
        (
            column_of(&text, "provider: antropic", "provider:"),
            "no provider `antropic`",
        ),
        (
            column_of(&text, "max_tokens: lots", "max_tokens"),
            "field `traffic.classes[0].max_tokens`: invalid type",
        ),
        (
            column_of(&text, "succes_rate", "metric"),
            "unknown metric `succes_rate`; known: requests,",
        ),
    ];
    let found = positions(&err);
    for ((at, message), got) in expected.iter().zip(&found) {
        assert_eq!(at, got, "{message}\n{err}");
        assert!(err.contains(message), "{message}\n{err}");
    }
    assert_eq!(found.len(), expected.len(), "{err}");
    assert!(err.contains("scenario.yaml: 4 errors"), "{err}");
}

/// A broken router or traffic section does not hide the expectations' errors that need
/// neither: a misspelt fault or metric is reported in the same pass.
#[test]
fn a_broken_router_or_traffic_does_not_hide_the_expectations_own_errors() {
    let dir = TempDir::new("validate-alone");
    let head = "\
name: alone
seed: 1
duration: 10m
providers:
  - name: openai
    profile: openai
    faults:
      - { name: primary-outage, kind: http, status: 503, at: 1m, for: 1m }
  - { name: anthropic, profile: anthropic }
";
    let router = |tier: &str| {
        format!(
            "router:
  targets:
    - {{ name: gpt, provider: openai, model: gpt-4o }}
    - {{ name: claude, provider: anthropic, model: claude-sonnet-4-20250514 }}
  routes:
    - {{ name: chat, policy: priority, tiers: [[gpt], [{tier}]] }}
"
        )
    };
    let traffic = |poisson: &str| {
        format!(
            "traffic:
  arrival: {{ poisson: {poisson} }}
  classes:
    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }}, max_tokens: 10 }}
"
        )
    };
    let expect = "expect:
  - { metric: time_to_failover, fault: primary-outgae, op: \"<=\", value: 5s }
  - { metric: time_to_fallback, fault: primary-outage, op: \"<=\", value: 5s }
";
    for (case, text) in [
        (
            "router",
            format!("{head}{}{}{expect}", router("claude-sonet"), traffic("10")),
        ),
        (
            "traffic",
            format!("{head}{}{}{expect}", router("claude"), traffic("-3")),
        ),
    ] {
        let file = dir.write(&format!("{case}.yaml"), &text);
        let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
        assert_eq!(code, EXIT_BAD_INPUT, "{err}");
        for message in [
            "no fault named `primary-outgae`",
            "unknown metric `time_to_fallback`",
        ] {
            assert!(err.contains(message), "{case}: {message}\n{err}");
        }
        assert!(
            err.contains(&format!("{case}.yaml: 3 errors")),
            "{case}: {err}"
        );
    }
}

/// A live config's `gateway.upstream_ca_file` is read as the gateway would read it (beside
/// the config): a file that holds no certificate is an error at the field, a good one passes.
#[test]
fn a_live_configs_ca_file_is_checked() {
    let dir = TempDir::new("validate-ca-file");
    let text = "providers:\n  - { name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://127.0.0.1:9' }\n\
                router:\n  targets:\n    - { name: ta, provider: a, model: m }\n  routes:\n    - { name: chat, policy: static, targets: [ta] }\n\
                gateway:\n  upstream_ca_file: ca.pem\n";
    let file = dir.write("gw.yaml", text);
    dir.write(
        "ca.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    assert!(
        err.contains("gw.yaml:9:3: field `gateway.upstream_ca_file`"),
        "{err}"
    );
    assert!(err.contains("ca.pem`: holds no certificate"), "{err}");
    dir.write(
        "ca.pem",
        include_str!("../../live/src/transport/client/localhost.crt"),
    );
    let (code, out, err) = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(out.contains("gw.yaml: ok (1 provider"), "{out}");
    // A field left blank is YAML's null: refused, not taken as no file.
    let blank = dir.write(
        "blank.yaml",
        &text.replace("upstream_ca_file: ca.pem", "upstream_ca_file:"),
    );
    let (code, _, err) = cli(&["validate", blank.to_str().unwrap()]);
    assert_eq!(code, EXIT_BAD_INPUT, "{err}");
    assert!(
        err.contains("blank.yaml:9:3: field `gateway.upstream_ca_file`"),
        "{err}"
    );
    assert!(err.contains("is empty: name a PEM file"), "{err}");
}
