//! Dev-only helpers shared by Switchyard's tests: fixtures and temporary directories.

pub mod fixtures;

use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed on drop. Named per test and process, so
/// tests running in parallel never share one.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("switchyard-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        #[expect(
            clippy::expect_used,
            reason = "test helper: a temp dir that cannot be made is a broken machine"
        )]
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        #[expect(clippy::expect_used, reason = "test helper")]
        std::fs::write(&path, text).expect("write fixture");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
