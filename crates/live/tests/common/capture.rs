//! A server on 127.0.0.1:0 that answers every request with the same bytes on a kept
//! connection and hands each request's bytes (head and body) to the test, with the number of
//! the connection it came on. Shared by `tests/prepared.rs` (through `common`) and the unit
//! tests of `src/transport/prepared` (`#[path]`), which compare what reaches the upstream.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Starts the server; its URL and the receiver of `(connection, request bytes)`. `reply` is
/// a whole HTTP/1.1 response (e.g. `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok`).
/// A request's bytes are handed over before its reply is written, so a client that has its
/// reply finds them in the receiver.
pub async fn capture(reply: &'static [u8]) -> (String, mpsc::UnboundedReceiver<(usize, Vec<u8>)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(connection(tcp, n, tx.clone(), reply));
            n += 1;
        }
    });
    (url, rx)
}

/// Serves connection `n`'s requests until the client closes it.
async fn connection(
    mut tcp: tokio::net::TcpStream,
    n: usize,
    tx: mpsc::UnboundedSender<(usize, Vec<u8>)>,
    reply: &'static [u8],
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < end + 4 + length {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        let request: Vec<u8> = buf.drain(..end + 4 + length).collect();
        let _ = tx.send((n, request));
        if tcp.write_all(reply).await.is_err() {
            return;
        }
    }
}
