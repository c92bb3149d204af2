//! A streamed reply's body: its frames straight from the stream that makes them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use futures_util::Stream;
use hyper::body::Frame;

/// A body whose frames are `stream`'s items, one data frame each, in order, ending when the
/// stream does. Each poll of the body polls the stream: axum's `Body::from_stream` puts a
/// stream adapter, an error mapping and a box of its own in between, polled at every frame.
/// The stream is dropped with the body (a client that leaves drops what the stream owns).
///
/// Once `cut` says shutdown is cutting what is still in flight, the body sends what `last`
/// makes (the dialect's in-band error event, made only then) and ends, whether or not the stream has something to say:
/// a client's SDK raises its own error then, not a transport one (`tests/serve.rs`).
pub(crate) fn body<S>(stream: S, cut: &Cut, last: fn() -> Bytes) -> Body
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    Body::new(Events {
        stream: Box::pin(stream),
        watch: Some(Watch {
            cut: cut.clone(),
            waiter: Box::pin(cut.0.clone().notified_owned()),
            last,
        }),
    })
}

/// Shutdown's order to cut: set once, and every body waiting told.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cut(Arc<tokio::sync::Notify>, Arc<AtomicBool>);

impl Cut {
    /// Cuts every body now and from now on.
    pub(crate) fn now(&self) {
        self.1.store(true, Ordering::Release);
        self.0.notify_waiters();
    }

    /// Whether the order was given.
    pub(crate) fn is_set(&self) -> bool {
        self.1.load(Ordering::Acquire)
    }
}

struct Events<S> {
    stream: Pin<Box<S>>,
    /// Until the body ends.
    watch: Option<Watch>,
}

/// What a body watches for: the order to cut, its waiter, and what makes the event to end with.
struct Watch {
    cut: Cut,
    waiter: Pin<Box<tokio::sync::futures::OwnedNotified>>,
    last: fn() -> Bytes,
}

impl<S: Stream<Item = Bytes>> HttpBody for Events<S> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let Some(watch) = &mut self.watch else {
            return Poll::Ready(None);
        };
        // The waiter first (polling registers it), then the flag: an order given before the
        // waiter was registered is seen too.
        if watch.waiter.as_mut().poll(cx).is_ready() || watch.cut.is_set() {
            let last = (watch.last)();
            self.watch = None;
            return Poll::Ready(Some(Ok(Frame::data(last))));
        }
        let next = self.stream.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            self.watch = None;
        }
        next.map(|item| item.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn each_item_is_one_data_frame_in_order_then_the_end() {
        let items = ["data: 1\n\n", "data: 2\n\n", "data: [DONE]\n\n"];
        let stream = futures_util::stream::iter(items.map(super::Bytes::from));
        let mut body = super::body(stream, &super::Cut::default(), super::Bytes::new);
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
        let mut body = super::body(stream, &super::Cut::default(), super::Bytes::new);
        assert!(body.frame().await.is_some());
        assert_eq!(std::sync::Arc::strong_count(&owned), 2);
        drop(body);
        assert_eq!(std::sync::Arc::strong_count(&owned), 1);
    }

    /// A body waiting on a stream that says nothing is woken by the cut, sends its last
    /// event and ends; one made after the cut ends at once the same way.
    #[tokio::test]
    async fn a_cut_ends_a_waiting_body_with_its_last_event() {
        let cut = super::Cut::default();
        let last = super::Bytes::from_static(b"event: error\n\n");
        let make = || super::Bytes::from_static(b"event: error\n\n");
        let mut body = super::body(futures_util::stream::pending(), &cut, make);
        let waiting = tokio::spawn(async move {
            let frame = body.frame().await.unwrap().unwrap();
            (frame.into_data().unwrap(), body.frame().await.is_none())
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        cut.now();
        let (frame, ended) = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the cut woke the body")
            .unwrap();
        assert_eq!(frame, last);
        assert!(ended);
        let mut after = super::body(futures_util::stream::pending(), &cut, make);
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), after.frame())
            .await
            .expect("a body made after the cut ends at once");
        assert_eq!(first.unwrap().unwrap().into_data().unwrap(), last);
        assert!(after.frame().await.is_none());
    }
}
