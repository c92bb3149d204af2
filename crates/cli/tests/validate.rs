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
    assert!(out.contains("ok (3 targets, 2 routes, 1 rules)"), "{out}");
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
