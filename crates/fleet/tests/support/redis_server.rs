//! A real `redis-server` for one test: its own directory and unix socket, no TCP port, no
//! persistence; killed when the guard drops (an `.await` may be the test's last).
//!
//! Nothing is skipped: without `redis-server` on the PATH the test fails saying how to install
//! it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running `redis-server`; dropping it kills the server and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
    extra: Vec<String>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    pub async fn start() -> RedisServer {
        RedisServer::start_with(&[]).await
    }

    /// Starts a server with extra arguments (`--requirepass`, ...).
    pub async fn start_with(extra: &[&str]) -> RedisServer {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("switchyard-fleet-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let socket = dir.join("r.sock");
        let mut server = RedisServer {
            child: None,
            dir,
            socket,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn().await;
        server
    }

    /// `unix:///.../r.sock`: the URL for `RedisStore::connect`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The socket's path.
    #[allow(dead_code, reason = "not every test file uses it")]
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Kills the server (its data is lost: no persistence) and waits for it to exit.
    #[allow(dead_code, reason = "not every test file uses it")]
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Starts the server again on the same socket (empty, as after a crash).
    #[allow(dead_code, reason = "not every test file uses it")]
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    #[allow(dead_code, reason = "not every test file uses it")]
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    #[allow(dead_code, reason = "not every test file uses it")]
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(Child::id).expect("server running");
        let status = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    async fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("redis.log")).expect("create redis.log");
        let log2 = log.try_clone().expect("clone log handle");
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
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
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: the fleet store's tests run against a real \
                 Redis. Install it: `apt-get install -y redis-server` (Debian), or run \
                 .ci/run, which does."
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        self.wait_for_ping().await;
    }

    async fn wait_for_ping(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                panic!("redis-server exited ({status}) before answering PING:\n{log}");
            }
            if ping(&self.socket).await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not answer PING on {} within 10 s",
                self.socket.display()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
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
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
