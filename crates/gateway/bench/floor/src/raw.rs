//! The raw floor: the gateway's way, without hyper. Each connection is one task that reads a
//! request into its buffer, parses its head (httparse), writes it (its `host` rewritten) on a
//! keep-alive connection to the upstream taken from the serving thread's pool, reads the reply's
//! head and its `content-length` body, and writes them back. Its limits, fine for the fake and
//! oha: no chunked requests or replies, no `HEAD`, 1xx, 204 or 304 replies, no timeouts;
//! anything else closes the client's connection (or answers 502).

use std::cell::RefCell;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a request or a reply (head and body) may take.
const MAX_MESSAGE: usize = 1024 * 1024;
/// Headers parsed at most.
const MAX_HEADERS: usize = 64;

thread_local! {
    /// This serving thread's idle connections to the upstream.
    static IDLE: RefCell<Vec<TcpStream>> = const { RefCell::new(Vec::new()) };
}

/// What the connections share.
#[derive(Clone, Copy)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub host: &'static str,
    /// Microseconds spun before sending upstream, before replying and after ([`work_from_env`]).
    pub work: Points,
    /// The gateway's mechanics this floor does too ([`mechanics_from_env`]).
    pub mechanics: Mechanics,
    /// KiB of this thread's memory touched before sending upstream, before replying and after
    /// ([`touch_from_env`]).
    pub touch: Points,
}

/// `FLOOR_MECHANICS=peek,timers` (either or both): mechanics of the gateway's request path
/// the floor skips by default, so each one's cost can be measured: `peek`, a `recv` with
/// `MSG_PEEK` on an idle upstream connection before its use (one dropped unless nothing is
/// there to read); `timers`, each read from the upstream and each write under a timeout, as
/// the gateway arms them (its timer on a client's request head is armed only for a head not
/// whole in one read, so reads from the client stay untimed here).
#[derive(Clone, Copy, Default)]
pub struct Mechanics {
    pub peek: bool,
    pub timers: bool,
}

/// What `FLOOR_MECHANICS` asks for: none when unset; `Err` naming an unknown one.
pub fn mechanics_from_env() -> Result<Mechanics, String> {
    let mut m = Mechanics::default();
    let Some(v) = env_var("FLOOR_MECHANICS")? else {
        return Ok(m);
    };
    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "peek" => m.peek = true,
            "timers" => m.timers = true,
            _ => {
                return Err(format!(
                    "FLOOR_MECHANICS: {name:?} is not one of peek, timers"
                ));
            }
        }
    }
    Ok(m)
}

/// A knob's value: `None` when unset, `Err` when not UTF-8.
fn env_var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name}: not UTF-8")),
    }
}

/// How long a read or a write may take with `FLOOR_MECHANICS=timers` (never reached here:
/// the timer is armed and disarmed, as the gateway's are).
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `io`, under [`TIMEOUT`] when `timers` (its end a `TimedOut` error).
async fn timed<T>(
    timers: bool,
    io: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    if !timers {
        return io.await;
    }
    tokio::time::timeout(TIMEOUT, io)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// Writes `bytes` whole, under [`TIMEOUT`] when `timers`.
async fn send(tcp: &mut TcpStream, bytes: &[u8], timers: bool) -> std::io::Result<()> {
    timed(timers, tcp.write_all(bytes)).await
}

/// Whether an idle connection has nothing to read (the gateway's check before reusing one).
fn idle_alive(tcp: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::uninit()];
    matches!(
        socket2::SockRef::from(tcp).peek(&mut byte),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    )
}

/// A parsed message: its head's length and its body's, and whether its connection ends with it.
struct Framed {
    head: usize,
    body: usize,
    close: bool,
}

impl Framed {
    fn whole(&self) -> Option<usize> {
        self.head.checked_add(self.body)
    }
}

/// The `content-length` among `headers`: `None` when there is none, `Err` when it is not a
/// number.
fn length(headers: &[httparse::Header<'_>]) -> Result<Option<usize>, ()> {
    let Some(h) = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    else {
        return Ok(None);
    };
    let text = std::str::from_utf8(h.value).map_err(drop)?;
    text.trim().parse().map(Some).map_err(drop)
}

/// The request in `buf`, once its head is whole, written for the upstream into `out`; `Err`
/// for one this floor does not forward (chunked, malformed).
fn request(buf: &[u8], up: Upstream, out: &mut Vec<u8>) -> Result<Option<Framed>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    if parsed
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        return Err(());
    }
    let body = length(parsed.headers)?.unwrap_or(0);
    out.clear();
    out.extend_from_slice(parsed.method.unwrap_or("GET").as_bytes());
    out.push(b' ');
    out.extend_from_slice(parsed.path.unwrap_or("/").as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(up.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") || h.name.eq_ignore_ascii_case("connection") {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(Framed {
        head,
        body,
        close: false,
    }))
}

/// The reply in `buf`, once its head is whole; `Err` for one without a length.
fn reply(buf: &[u8]) -> Result<Option<Framed>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(head)) => {
            let body = length(parsed.headers)?.ok_or(())?;
            let close = parsed.version != Some(1)
                || parsed.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("connection")
                        && h.value.eq_ignore_ascii_case(b"close")
                });
            Ok(Some(Framed { head, body, close }))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(()),
    }
}

/// Reads from `tcp` into `buf` until `parse` finds a whole message there; its framing, or
/// `None` when the peer closed, failed or sent something too large or not forwardable.
async fn read_whole(
    tcp: &mut TcpStream,
    buf: &mut Vec<u8>,
    timers: bool,
    mut parse: impl FnMut(&[u8]) -> Result<Option<Framed>, ()>,
) -> Option<Framed> {
    loop {
        if !buf.is_empty()
            && let Some(framed) = parse(buf).ok()?
        {
            let whole = framed.whole().filter(|w| *w <= MAX_MESSAGE)?;
            if buf.len() >= whole {
                return Some(framed);
            }
        }
        if buf.len() >= MAX_MESSAGE {
            return None;
        }
        buf.reserve(16 * 1024);
        match timed(timers, tcp.read_buf(buf)).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// An idle upstream connection of this thread (unless `fresh`), or a new one; whether it
/// was idle.
async fn take(up: Upstream, fresh: bool) -> std::io::Result<(TcpStream, bool)> {
    while !fresh && let Some(tcp) = IDLE.with(|idle| idle.borrow_mut().pop()) {
        if !up.mechanics.peek || idle_alive(&tcp) {
            return Ok((tcp, true));
        }
    }
    let tcp = TcpStream::connect(up.addr).await?;
    let _ = tcp.set_nodelay(true);
    Ok((tcp, false))
}

/// Sends `request` upstream and reads its reply into `reply_buf`; the reply's length.
async fn exchange(up: Upstream, request: &[u8], reply_buf: &mut Vec<u8>) -> Option<usize> {
    // An idle connection first; when it fails before its reply, once more on a new one.
    for fresh in [false, true] {
        let (mut tcp, pooled) = take(up, fresh).await.ok()?;
        reply_buf.clear();
        if send(&mut tcp, request, up.mechanics.timers).await.is_err() {
            if pooled {
                continue;
            }
            return None;
        }
        let Some(framed) = read_whole(&mut tcp, reply_buf, up.mechanics.timers, reply).await else {
            // A pooled connection the upstream had closed: try another (the fake's replies
            // are idempotent; a real proxy would not resend a request once written).
            if pooled && reply_buf.is_empty() {
                continue;
            }
            return None;
        };
        let whole = framed.whole()?;
        if reply_buf.len() == whole && !framed.close {
            IDLE.with(|idle| idle.borrow_mut().push(tcp));
        }
        return Some(whole);
    }
    None
}

/// The most `FLOOR_WORK_US` may ask for at any point: one second.
const MAX_WORK_US: u64 = 1_000_000;

/// An amount at each of the three points of a request where the floor can stand in for a
/// proxy's own work: before it is sent upstream (`pre`), before its reply is written back
/// (`post`), and once the reply is written (`after`, while the client reads it, as a proxy's
/// booking and access line).
#[derive(Clone, Copy, Default)]
pub struct Points {
    pub pre: u64,
    pub post: u64,
    pub after: u64,
}

impl std::fmt::Display for Points {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{},{}", self.pre, self.post, self.after)
    }
}

/// `NAME=PRE,POST[,AFTER]` ([`Points`], `after` 0 when left out): zeros when unset; `Err` for a
/// value that is not two or three numbers up to `max` `unit`.
fn points_from_env(name: &str, max: u64, unit: &str) -> Result<Points, String> {
    let Some(v) = env_var(name)? else {
        return Ok(Points::default());
    };
    let bad = || format!("{name}={v:?}: want PRE,POST[,AFTER], {unit} up to {max}");
    let n = |t: &str| t.trim().parse::<u64>().ok().filter(|n| *n <= max);
    let parts: Vec<&str> = v.split(',').collect();
    let (pre, post, after) = match parts[..] {
        [pre, post] => (pre, post, "0"),
        [pre, post, after] => (pre, post, after),
        _ => return Err(bad()),
    };
    Ok(Points {
        pre: n(pre).ok_or_else(bad)?,
        post: n(post).ok_or_else(bad)?,
        after: n(after).ok_or_else(bad)?,
    })
}

/// `FLOOR_WORK_US=PRE,POST[,AFTER]`: microseconds spent spinning at each of the [`Points`] (on
/// the serving thread, so other connections of that thread wait too), standing for a proxy's
/// own work a request, so the floor can tell how much latency a given amount of it adds, and
/// where.
pub fn work_from_env() -> Result<Points, String> {
    points_from_env("FLOOR_WORK_US", MAX_WORK_US, "microseconds")
}

/// The most `FLOOR_TOUCH_KB` may ask for at any point: 64 MiB.
const MAX_TOUCH_KB: u64 = 64 * 1024;

/// `FLOOR_TOUCH_KB=PRE,POST[,AFTER]`: KiB of memory the serving thread touches at each of the
/// [`Points`] (one byte written in each of its cache lines, in a scattered order the
/// prefetcher cannot follow): the same lines every request, as a proxy's code and data are,
/// standing for its footprint in the caches it shares with the client and the upstream on the
/// same cores.
pub fn touch_from_env() -> Result<Points, String> {
    points_from_env("FLOOR_TOUCH_KB", MAX_TOUCH_KB, "KiB")
}

thread_local! {
    /// The memory `FLOOR_TOUCH_KB` touches: this thread's, the same every request.
    static TOUCHED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes one byte in each of the first `kb` KiB's cache lines of this thread's [`TOUCHED`],
/// visiting them with a stride co-prime to their count so that consecutive touches are far apart.
/// The buffer is allocated (zero-filled) in the first request of each thread that asks for it.
fn touch(kb: u64) {
    if kb == 0 {
        return;
    }
    const LINE: usize = 64;
    // At most MAX_TOUCH_KB * 16 lines (`touch_from_env`'s cap): fits any usize.
    let lines = kb as usize * (1024 / LINE);
    TOUCHED.with_borrow_mut(|mem| {
        if mem.len() < lines * LINE {
            mem.resize(lines * LINE, 0);
        }
        let stride = coprime_stride(lines);
        let mut at = 0;
        for _ in 0..lines {
            let b = &mut mem[at * LINE];
            *b = std::hint::black_box(b.wrapping_add(1));
            at = (at + stride) % lines;
        }
    });
}

/// A stride near 0.62 of `lines` sharing no factor with it: stepping by it visits every line
/// once, consecutive ones far apart.
fn coprime_stride(lines: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let mut stride = (lines / 8 * 5).max(1);
    while gcd(stride, lines) != 1 {
        stride += 1;
    }
    stride
}

/// Spins for `us` microseconds of wall-clock time (a bench tool's spin reads the clock; the
/// workspace's rule against it is for the core). Wall time, not CPU time: a thread preempted
/// meanwhile spends less CPU than asked.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn work(us: u64) {
    if us == 0 {
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_micros(us);
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

const BAD_GATEWAY: &[u8] =
    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Serves one client connection until it closes.
pub async fn connection(mut client: TcpStream, up: Upstream) {
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut out = Vec::with_capacity(8 * 1024);
    let mut reply_buf = Vec::with_capacity(8 * 1024);
    loop {
        let Some(framed) =
            read_whole(&mut client, &mut buf, false, |b| request(b, up, &mut out)).await
        else {
            return;
        };
        let Some(whole) = framed.whole() else { return };
        out.extend_from_slice(&buf[framed.head..whole]);
        buf.drain(..whole);
        touch(up.touch.pre);
        work(up.work.pre);
        let Some(n) = exchange(up, &out, &mut reply_buf).await else {
            let _ = send(&mut client, BAD_GATEWAY, up.mechanics.timers).await;
            return;
        };
        touch(up.touch.post);
        work(up.work.post);
        if send(&mut client, &reply_buf[..n], up.mechanics.timers)
            .await
            .is_err()
        {
            return;
        }
        touch(up.touch.after);
        work(up.work.after);
    }
}
