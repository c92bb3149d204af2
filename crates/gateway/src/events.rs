//! A streamed reply's body: its frames straight from the stream that makes them.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use futures_util::Stream;
use hyper::body::Frame;

/// A body whose frames are `stream`'s items, one data frame each, in order, ending when the
/// stream does. Each poll of the body polls the stream: axum's `Body::from_stream` puts a
/// stream adapter, an error mapping and a box of its own in between, polled at every frame.
/// The stream is dropped with the body (a client that leaves drops what the stream owns).
pub(crate) fn body<S>(stream: S) -> Body
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    Body::new(Events(Box::pin(stream)))
}

struct Events<S>(Pin<Box<S>>);

impl<S: Stream<Item = Bytes>> HttpBody for Events<S> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn each_item_is_one_data_frame_in_order_then_the_end() {
        let items = ["data: 1\n\n", "data: 2\n\n", "data: [DONE]\n\n"];
        let stream = futures_util::stream::iter(items.map(super::Bytes::from));
        let mut body = super::body(stream);
        for item in items {
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), item.as_bytes());
        }
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn the_stream_is_dropped_with_the_body() {
        let owned = std::sync::Arc::new(());
        let held = owned.clone();
        let stream = futures_util::stream::unfold(held, |h| async move {
            Some((super::Bytes::from_static(b"x"), h))
        });
        let mut body = super::body(stream);
        assert!(body.frame().await.is_some());
        assert_eq!(std::sync::Arc::strong_count(&owned), 2);
        drop(body);
        assert_eq!(std::sync::Arc::strong_count(&owned), 1);
    }
}
