//! A gateway process with a stream open, and the requests the tests write to it by hand.

use super::*;

/// Reads from `conn` until `text` has arrived (or the stream ends).
pub(super) fn read_until(conn: &mut TcpStream, text: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(text) {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A fake serving `tokens` tokens at 10 a second (a slow stream), and its address.
pub(super) fn slow_fake(dir: &TempDir, tokens: u32) -> (Running, String) {
    let profile = dir.write(
        "slow.yaml",
        &format!(
            "name: slow\ndialect: openai\nmodels:\n  - {{ name: m }}\nlatency:\n  first_token: {{ fixed: 10ms }}\n  tokens_per_second: {{ fixed: 10 }}\noutput_tokens: {{ fixed: {tokens} }}\n"
        ),
    );
    let mut fake = binary();
    fake.args(["fake", "serve", "--profile", profile.to_str().unwrap()]);
    let (fake, line) = start(fake);
    let upstream = line.rsplit("http://").next().unwrap().to_owned();
    (fake, upstream)
}

/// `POST path` with the JSON `body`, sent on a new connection to `addr` (closed after its
/// reply, reads bounded at 20 s): `host`, then `headers`, then the body's type and length.
pub(super) fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> TcpStream {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nhost: x\r\n{extra}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    conn
}

/// A streamed chat request sent on a new connection (closed after its reply).
pub(super) fn open_stream(addr: &str) -> TcpStream {
    let body = r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    post(addr, "/v1/chat/completions", &[], body)
}

/// A gateway with a stream open: the process, its address and stderr lines, the stream (its
/// head and first event read: `began`), and the slow fake behind it, in its folder.
pub(super) struct Streaming {
    pub(super) gw: Running,
    pub(super) addr: String,
    pub(super) lines: Receiver<String>,
    pub(super) stream: TcpStream,
    pub(super) began: String,
    pub(super) config: PathBuf,
    _fake: Running,
    _dir: TempDir,
}

/// A fake serving `tokens` tokens at 10 a second, in a folder `name`; the gateway config
/// `config` writes for it (given the folder and the fake's address); the gateway started on
/// it at 127.0.0.1:0 with `flags`; and a stream opened on that gateway, begun with a 200.
pub(super) fn stream_open(
    name: &str,
    tokens: u32,
    config: impl FnOnce(&TempDir, &str) -> PathBuf,
    flags: &[&str],
) -> Streaming {
    let dir = TempDir::new(name);
    let (fake, upstream) = slow_fake(&dir, tokens);
    let config = config(&dir, &upstream);
    let mut command = gateway(&config, "127.0.0.1:0");
    command.args(flags);
    let (mut gw, line) = start(command);
    let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
    let lines = stderr_lines(&mut gw.0);
    let mut stream = open_stream(&addr);
    let began = read_until(&mut stream, "data: ");
    assert!(began.starts_with("HTTP/1.1 200"), "{began}");
    Streaming {
        gw,
        addr,
        lines,
        stream,
        began,
        config,
        _fake: fake,
        _dir: dir,
    }
}
