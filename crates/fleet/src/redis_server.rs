//! A `redis-server` of one's own: the one a live fleet shares in the runner (`replicas` with
//! `shared_state`), and the one each of the fleet's tests and benches runs against. It
//! listens on a unix socket in a directory of its own (no TCP port unless asked, so no port
//! to pick; no persistence), and is killed, its directory removed, when the guard drops: at
//! the end, on an error, and when Ctrl-C stops a run (the runner drops the run's future, and
//! with it this guard).
//!
//! Even an owner killed outright (no destructor runs) leaves no Redis behind: the server runs
//! under a small `sh` that holds the read end of a pipe from the owner and kills it when the
//! pipe closes, which the kernel does when the owner dies. The two are a process group of
//! their own, so that [`RedisServer::pause`] freezes the server through the group.
//!
//! [`RedisServer::stop`] kills it (as a crash) and [`RedisServer::start_again`] starts it
//! again, empty, on the same socket, as a crashed Redis without persistence comes back.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a starting server may take to answer PING.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// The `sh` that runs `redis-server` (its arguments after `sh`'s `$0`) and kills it (SIGKILL,
/// as a crash) when its standard input closes.
const WATCHER: &str = "redis-server \"$@\" & r=$!; read _ignored; kill -9 $r; wait $r";

/// Why a server did not start.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// `redis-server` is not on the PATH.
    #[error(
        "`redis-server` is not on the PATH: install it (`apt-get install -y redis-server` on \
         Debian)"
    )]
    NotInstalled,
    /// It could not be started, or did not answer; with the end of its log.
    #[error("{0}")]
    Failed(String),
}

/// As its message: a test's `unwrap()` then says how to install Redis.
impl std::fmt::Debug for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A running `redis-server`; dropping it kills the server and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    /// The watching `sh`, leader of the server's process group; closing its stdin kills the
    /// server.
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
    /// Arguments after the defaults (`--requirepass`, `--port`, ...).
    extra: Vec<String>,
    /// Frozen by [`RedisServer::pause`].
    paused: AtomicBool,
}

/// Numbers the servers one process starts, so their directories differ.
static NEXT: AtomicU32 = AtomicU32::new(0);

impl RedisServer {
    /// Starts a server in `switchyard-{label}-{pid}-{n}` under the system's temporary
    /// directory, with `extra` arguments after the defaults, and waits until it answers PING.
    pub async fn start(label: &str, extra: &[&str]) -> Result<RedisServer, StartError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("switchyard-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StartError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let mut server = RedisServer {
            child: None,
            socket: dir.join("r.sock"),
            dir,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            paused: AtomicBool::new(false),
        };
        server.spawn().await?;
        Ok(server)
    }

    /// The socket the server listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `unix:///.../r.sock`: the URL for [`RedisStore::connect`](crate::RedisStore::connect).
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Kills the server (its data is lost: no persistence) and waits for it to exit, the
    /// wait on a blocking thread (not the runtime's).
    pub async fn stop(&mut self) {
        if let Some(child) = self.take_child() {
            let _ = tokio::task::spawn_blocking(move || wait(child)).await;
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// As [`RedisServer::stop`], outside the runtime (on drop): the wait blocks this thread.
    fn stop_now(&mut self) {
        if let Some(child) = self.take_child() {
            wait(child);
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// The watcher, thawed if paused (a frozen `sh` would not see its stdin close).
    fn take_child(&mut self) -> Option<Child> {
        let child = self.child.take()?;
        if self.paused.swap(false, Ordering::Relaxed) {
            let _ = signal_group(&child, "-CONT");
        }
        Some(child)
    }

    /// Starts it again on the same socket, empty.
    pub async fn start_again(&mut self) -> Result<(), StartError> {
        self.stop().await;
        self.spawn().await
    }

    /// Whether it is running (not stopped, not exited).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) -> Result<(), StartError> {
        self.signal("-STOP")?;
        self.paused.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) -> Result<(), StartError> {
        self.signal("-CONT")?;
        self.paused.store(false, Ordering::Relaxed);
        Ok(())
    }

    fn signal(&self, sig: &str) -> Result<(), StartError> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| StartError::Failed("redis-server is not running".to_owned()))?;
        signal_group(child, sig)
    }

    async fn spawn(&mut self) -> Result<(), StartError> {
        if !on_the_path("redis-server") {
            return Err(StartError::NotInstalled);
        }
        let log = std::fs::File::create(self.dir.join("redis.log"))
            .map_err(|e| StartError::Failed(format!("cannot create the Redis log: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| StartError::Failed(format!("cannot create the Redis log: {e}")))?;
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
            .args(&self.extra)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                StartError::Failed(format!("cannot start redis-server (through sh): {e}"))
            })?;
        self.child = Some(child);
        self.wait_for_ping().await
    }

    async fn wait_for_ping(&mut self) -> Result<(), StartError> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(StartError::Failed(format!(
                    "redis-server exited ({status}) before answering: {}",
                    self.log_tail()
                )));
            }
            if ping(&self.socket).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                self.stop().await;
                return Err(StartError::Failed(format!(
                    "redis-server did not answer within {} s: {}",
                    READY_WITHIN.as_secs(),
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The log's last five lines, latest first.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        log.lines().rev().take(5).collect::<Vec<_>>().join(" / ")
    }
}

/// Closes the watcher's stdin (it kills the server, waits for it, and exits) and waits.
fn wait(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

/// Sends `sig` (`-STOP`, `-CONT`) to the process group `child` leads.
fn signal_group(child: &Child, sig: &str) -> Result<(), StartError> {
    let group = format!("-{}", child.id());
    let status = Command::new("kill")
        .args([sig, "--", &group])
        .status()
        .map_err(|e| StartError::Failed(format!("cannot run kill: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(StartError::Failed(format!(
            "kill {sig} -- {group}: {status}"
        )))
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
    let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await else {
        return false;
    };
    // "+PONG", or "-NOAUTH ..." from a server with a password: either way it is up.
    buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop_now();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
