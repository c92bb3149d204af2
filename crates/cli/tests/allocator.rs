//! The binary runs on mimalloc (src/main.rs): its `malloc` replaces the C library's, kept in
//! the binary by a reference the linker cannot drop.

#[test]
fn the_binary_allocates_with_mimalloc() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .expect("run switchyard");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // mimalloc says so when it starts, asked to be verbose; glibc's malloc says nothing.
    assert!(err.contains("mimalloc: process init"), "stderr: {err}");
}
