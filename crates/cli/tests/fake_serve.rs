use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use switchyard_testkit::TempDir;

fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    c
}

#[test]
fn serves_each_profile_prints_its_address_and_stops_on_ctrl_c() {
    let mut child = binary()
        .args([
            "fake",
            "serve",
            "--profile",
            "openai",
            "--profile",
            "fake-providers/anthropic.yaml",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let parts: Vec<&str> = first.split(' ').collect();
    assert_eq!(&parts[..2], ["openai", "openai"], "{first}");
    assert!(
        second.starts_with("anthropic anthropic http://127.0.0.1:"),
        "{second}"
    );
    let addr = parts[2].trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200") && reply.contains("gpt-4o-mini"),
        "{reply}"
    );
    // Ctrl-C: a clean stop with exit code 0.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The shipped profiles are built in: `--profile openai` works from a folder without
/// `fake-providers/`, and a `fake-providers/openai.yaml` in the working directory overrides it.
#[test]
fn a_builtin_profile_serves_from_any_folder_and_a_local_file_overrides_it() {
    let dir = TempDir::new("builtin-serve");
    let models = |dir: &std::path::Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .current_dir(dir)
            .args(["fake", "serve", "--profile", "openai"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let first = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .next()
            .unwrap()
            .unwrap();
        let addr = first
            .split(' ')
            .nth(2)
            .unwrap()
            .trim_start_matches("http://");
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0));
        reply
    };
    let reply = models(dir.path());
    assert!(
        reply.starts_with("HTTP/1.1 200") && reply.contains("gpt-4o-mini"),
        "{reply}"
    );
    std::fs::create_dir_all(dir.path().join("fake-providers")).unwrap();
    dir.write(
        "fake-providers/openai.yaml",
        "name: openai\ndialect: openai\nmodels:\n  - { name: local-model }\n",
    );
    let reply = models(dir.path());
    assert!(
        reply.contains("local-model") && !reply.contains("gpt-4o-mini"),
        "{reply}"
    );
}

#[test]
fn a_bad_profile_exits_2_naming_file_line_and_field() {
    let dir = TempDir::new("bad-profile");
    let file = dir.write(
        "p.yaml",
        "name: x\ndialect: openai\nmodels:\n  - name: m\n    context_window: 0\n",
    );
    let out = binary()
        .args(["fake", "serve", "--profile", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("p.yaml:5:5: field `models[0].context_window`: must be at least 1"),
        "{err}"
    );
    let out = binary()
        .args(["fake", "serve", "--profile", "no-such-profile"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("fake-providers/no-such-profile.yaml: cannot read")
    );
}

#[test]
fn every_shipped_profile_loads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fake-providers");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            switchyard_fake::load_profile(&text, &path.display().to_string()).unwrap();
            count += 1;
        }
    }
    assert!(count >= 5, "{count} profiles");
}
