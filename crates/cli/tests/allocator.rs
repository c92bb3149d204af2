//! The binary runs on mimalloc (src/main.rs): on Linux with glibc its `malloc` replaces the C
//! library's, kept in the binary by a reference the linker cannot drop. (Elsewhere mimalloc
//! is Rust's global allocator, by construction; nothing to check.)

/// mimalloc's statistics at exit, asked for: the pages it handed out. A mimalloc that is
/// linked but serves nothing (`malloc` still glibc's) prints no pages section at all; one
/// that is not linked prints nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binary_allocates_with_mimalloc() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--version")
        .env("MIMALLOC_SHOW_STATS", "1")
        .output()
        .expect("run switchyard");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // ` pages     :    21          22           2`: the peak number of pages in use (from a
    // thousand on, written `1.2 K`: its number part is read).
    let peak = err
        .lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix("pages")?;
            rest.trim_start().strip_prefix(':')
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    assert!(
        peak.is_some_and(|p| p > 0.0),
        "peak pages {peak:?} in: {err}"
    );
}
