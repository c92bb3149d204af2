//! Bounded reading of what an upstream sends: reply bodies, error bodies and stream events
//! all have a size limit, so a hostile or broken provider costs at most a known amount of
//! memory per attempt.

use axum::body::HttpBody;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;

use crate::sse::DEFAULT_MAX_EVENT_BYTES;

/// How much of an upstream's input one attempt accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputLimits {
    /// The largest complete (non-streamed) reply body; default 32 MiB (the largest context
    /// windows return well under 1 MiB of text). A larger one is `malformed_response`.
    pub max_body_bytes: usize,
    /// The most of an error body read; default 64 KiB. A larger one is classified on its
    /// status and headers with the part that was read (vendors' error bodies are < 2 KiB).
    pub max_error_body_bytes: usize,
    /// The largest single stream event; default 1 MiB. A larger one ends the stream as
    /// `malformed_response` (or `stream_interrupted` once tokens were delivered).
    pub max_event_bytes: usize,
}

impl InputLimits {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;
    pub const DEFAULT_MAX_ERROR_BODY_BYTES: usize = 64 << 10;
    pub const DEFAULT_MAX_EVENT_BYTES: usize = DEFAULT_MAX_EVENT_BYTES;
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            max_error_body_bytes: Self::DEFAULT_MAX_ERROR_BODY_BYTES,
            max_event_bytes: Self::DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// Why a body could not be read whole.
#[derive(Clone, thiserror::Error)]
pub enum ReadError {
    /// More than `limit` bytes came; `prefix` holds the first `limit` of them (for error
    /// bodies, which are classified on what was read). Reading stopped there.
    #[error("the body exceeded {limit} bytes")]
    TooLarge { limit: usize, prefix: Bytes },
    /// The connection failed mid-body. (The transport's error is dropped, not carried: it
    /// may name the URL, and a query-string key with it.)
    #[error("the body could not be read")]
    Transport,
}

impl std::fmt::Debug for ReadError {
    /// Without the prefix's bytes: an upstream's error body may echo what it was sent.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::TooLarge { limit, prefix } => f
                .debug_struct("TooLarge")
                .field("limit", limit)
                .field("prefix_len", &prefix.len())
                .finish(),
            ReadError::Transport => f.write_str("Transport"),
        }
    }
}

/// Reads `body` whole if it is at most `max_bytes` long. Stops reading as soon as it is not,
/// without waiting for (or buffering) the rest. A body of one frame is not copied.
pub async fn read_capped<B>(body: B, max_bytes: usize) -> Result<Bytes, ReadError>
where
    B: HttpBody + Unpin,
{
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Transport)?;
        let Ok(mut data) = frame.into_data() else {
            continue; // Trailers.
        };
        let n = data.remaining();
        let room = max_bytes - len;
        if n > room {
            let mut prefix = BytesMut::with_capacity(max_bytes);
            if let Some(f) = first.take() {
                prefix.extend_from_slice(&f);
            }
            if let Some(m) = more.take() {
                prefix.extend_from_slice(&m);
            }
            prefix.extend_from_slice(&data.copy_to_bytes(room));
            return Err(ReadError::TooLarge {
                limit: max_bytes,
                prefix: prefix.freeze(),
            });
        }
        len += n;
        let chunk = data.copy_to_bytes(n);
        match (&mut first, &mut more) {
            (None, None) => first = Some(chunk),
            (Some(f), None) => {
                let mut m = BytesMut::with_capacity(len.max(f.len() * 2).min(max_bytes));
                m.extend_from_slice(f);
                m.extend_from_slice(&chunk);
                first = None;
                more = Some(m);
            }
            (_, Some(m)) => m.extend_from_slice(&chunk),
        }
    }
    Ok(match (first, more) {
        // The joined body without its buffer's slack (its growth can double it): a forwarded
        // reply is kept as it is read, as long as a slow client takes to read it.
        (_, Some(m)) if m.capacity() - m.len() > m.len() / 8 => Bytes::copy_from_slice(&m),
        (_, Some(m)) => m.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}

/// Reads an error body for classification: at most `max_bytes` of it, and whatever arrived
/// before a failure or the limit (an error reply is classified on its status and headers
/// with the part that was read, never refused for its size).
pub async fn read_error_body<B>(body: B, max_bytes: usize) -> Bytes
where
    B: HttpBody + Unpin,
{
    match read_capped(body, max_bytes).await {
        Ok(b) | Err(ReadError::TooLarge { prefix: b, .. }) => b,
        Err(ReadError::Transport) => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use futures_util::stream;
    use std::convert::Infallible;

    fn chunked(chunks: &[&'static [u8]]) -> Body {
        let frames: Vec<Result<Bytes, Infallible>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Body::from_stream(stream::iter(frames))
    }

    /// A body of many frames is joined into a buffer of its size, not one its growth doubled.
    #[tokio::test]
    async fn a_joined_body_keeps_no_slack() {
        let frames: Vec<Result<Bytes, Infallible>> = (0..65)
            .map(|i| Ok(Bytes::from(vec![b'a' + (i % 26) as u8; 16 * 1024])))
            .collect();
        let whole = read_capped(Body::from_stream(stream::iter(frames)), 4 << 20)
            .await
            .unwrap();
        assert_eq!(whole.len(), 65 * 16 * 1024);
        assert_eq!(whole[16 * 1024], b'b');
        let buffer = whole.try_into_mut().unwrap();
        assert!(
            buffer.capacity() <= buffer.len() + buffer.len() / 8,
            "{} bytes held for {}",
            buffer.capacity(),
            buffer.len()
        );
    }

    #[tokio::test]
    async fn a_body_within_the_limit_reads_whole() {
        assert_eq!(
            read_capped(Body::from("hello"), 5).await.unwrap(),
            &b"hello"[..]
        );
        assert_eq!(
            read_capped(chunked(&[b"he", b"", b"llo", b"!"]), 6)
                .await
                .unwrap(),
            &b"hello!"[..]
        );
        assert_eq!(read_capped(Body::empty(), 0).await.unwrap(), &b""[..]);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_stops_with_its_prefix() {
        let err = read_capped(Body::from("hello!"), 5).await.unwrap_err();
        assert!(
            matches!(&err, ReadError::TooLarge { limit: 5, prefix } if prefix == &b"hello"[..])
        );
        let err = read_capped(chunked(&[b"hel", b"lo", b"!", b"more"]), 5)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ReadError::TooLarge { limit: 5, prefix } if prefix == &b"hello"[..])
        );
        assert_eq!(format!("{err:?}"), "TooLarge { limit: 5, prefix_len: 5 }");
    }

    #[tokio::test]
    async fn reading_stops_at_the_limit_without_draining_an_endless_body() {
        // A body that never ends: reading must stop once the limit is passed.
        let endless = stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from_static(b"xxxx")));
        let err = read_capped(Body::from_stream(endless), 1 << 10)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { limit: 1024, .. }));
    }

    #[tokio::test]
    async fn a_transport_failure_is_not_too_large() {
        let frames: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"par")),
            Err(std::io::Error::other("reset by sk-secret")),
        ];
        let err = read_capped(Body::from_stream(stream::iter(frames)), 100)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::Transport));
        assert!(!format!("{err} {err:?}").contains("sk-secret"));
    }

    #[tokio::test]
    async fn an_error_body_is_read_up_to_its_limit() {
        assert_eq!(
            read_error_body(Body::from("{\"error\":1}xxxxxxxx"), 11).await,
            &b"{\"error\":1}"[..]
        );
        assert_eq!(read_error_body(Body::from("{}"), 11).await, &b"{}"[..]);
    }
}
