//! The Redis a live fleet shares: a `redis-server` the runner starts for the run, on a unix
//! socket in a directory of its own (no TCP port, so no port to pick; no persistence), killed
//! and its directory removed when the guard drops: at the end, on an error, and when Ctrl-C
//! stops the run (the runner drops the run's future, and with it this guard).
//!
//! Even a runner killed outright (no destructor runs) leaves no Redis behind: the server runs
//! under a small `sh` that holds the read end of a pipe from the runner and kills it when the
//! pipe closes, which the kernel does when the runner dies.
//!
//! A `down` store fault kills it ([`RedisServer::stop`]) and starts it again, empty, on the
//! same socket ([`RedisServer::start_again`]), as a crashed Redis without persistence comes
//! back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a starting server may take to answer PING.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// What the runner says when `redis-server` is not on the PATH.
pub(super) const NOT_INSTALLED: &str = "a live fleet (`replicas` with `shared_state`) shares \
    a real Redis, and `redis-server` is not on the PATH: install it (`apt-get install -y \
    redis-server` on Debian), or run the scenario in simulation";

/// The `sh` that runs `redis-server` (its arguments after `sh`'s `$0`) and kills it (SIGKILL,
/// as a crash) when its standard input closes.
const WATCHER: &str = "redis-server \"$@\" & r=$!; read _ignored; kill -9 $r; wait $r";

/// A running `redis-server`; dropping it kills the server and removes its directory.
#[derive(Debug)]
pub(super) struct RedisServer {
    /// The watching `sh`; closing its stdin kills the server.
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
}

/// Numbers the servers one process starts, so their directories differ.
static NEXT: AtomicU32 = AtomicU32::new(0);

impl RedisServer {
    /// Starts a server in a fresh directory under the system's temporary one and waits until
    /// it answers PING.
    pub(super) async fn start() -> Result<RedisServer, String> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("switchyard-run-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut server = RedisServer {
            child: None,
            socket: dir.join("r.sock"),
            dir,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// The socket the server listens on.
    pub(super) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Kills the server (its data is lost: no persistence) and waits for it to exit, the
    /// wait on a blocking thread (not the runtime's).
    pub(super) async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // EOF on the watcher's stdin: it kills the server, waits for it, and exits.
            drop(child.stdin.take());
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// As [`RedisServer::stop`], outside the runtime (on drop): the wait blocks this thread.
    fn stop_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Starts it again on the same socket, empty.
    pub(super) async fn start_again(&mut self) -> Result<(), String> {
        self.stop().await;
        self.spawn().await
    }

    /// Whether it is running (not stopped, not exited).
    #[cfg(test)]
    pub(super) fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    async fn spawn(&mut self) -> Result<(), String> {
        if !on_the_path("redis-server") {
            return Err(NOT_INSTALLED.to_owned());
        }
        let log = std::fs::File::create(self.dir.join("redis.log"))
            .map_err(|e| format!("cannot create the Redis log: {e}"))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot create the Redis log: {e}"))?;
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHER)
            .arg("sh")
            .arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(&self.socket)
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start redis-server (through sh): {e}"))?;
        self.child = Some(child);
        self.wait_for_ping().await
    }

    async fn wait_for_ping(&mut self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" / ");
                return Err(format!(
                    "redis-server exited ({status}) before answering: {tail}"
                ));
            }
            if ping(&self.socket).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                self.stop().await;
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" / ");
                return Err(format!(
                    "redis-server did not answer within {} s: {tail}",
                    READY_WITHIN.as_secs()
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Whether an executable file `name` is in one of the PATH's directories.
fn on_the_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

async fn ping(socket: &Path) -> bool {
    let Ok(mut s) = tokio::net::UnixStream::connect(socket).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let Ok(Ok(n)) = tokio::time::timeout(std::time::Duration::from_secs(1), s.read(&mut buf)).await
    else {
        return false;
    };
    buf[..n].starts_with(b"+PONG")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop_now();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
