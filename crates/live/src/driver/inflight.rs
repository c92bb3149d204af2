//! A request's attempts in flight: the first held on its own, a `FuturesUnordered` only once
//! a second one (a hedge, or a retry sent while an attempt is still out) joins it.
//!
//! Most requests send one attempt at a time. `FuturesUnordered` costs two allocations to
//! make, a third per future pushed, and a ready-to-run queue with atomic wake-ups per poll:
//! about a thousand instructions a request (`crates/gateway/bench/instructions.sh`) for a
//! set of one. The behaviour is a `FuturesUnordered`'s: `next` yields each future's output
//! once, as it completes, and `None` when none is left.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, Stream, StreamExt};

#[derive(Debug)]
pub(super) struct Inflight<F> {
    /// The first future pushed while the set was empty.
    one: Option<F>,
    /// The others, made when a second future joins.
    many: Option<FuturesUnordered<F>>,
}

impl<F> Default for Inflight<F> {
    fn default() -> Self {
        Inflight {
            one: None,
            many: None,
        }
    }
}

impl<F: Future + Unpin> Inflight<F> {
    pub(super) fn push(&mut self, future: F) {
        if self.is_empty() {
            self.one = Some(future);
        } else {
            self.many
                .get_or_insert_with(FuturesUnordered::new)
                .push(future);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.one.is_none() && self.many.as_ref().is_none_or(FuturesUnordered::is_empty)
    }
}

impl<F: Future + Unpin> Stream for Inflight<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.get_mut();
        if let Some(future) = this.one.as_mut()
            && let Poll::Ready(out) = Pin::new(future).poll(cx)
        {
            this.one = None;
            return Poll::Ready(Some(out));
        }
        if let Some(many) = this.many.as_mut().filter(|m| !m.is_empty())
            && let Poll::Ready(Some(out)) = many.poll_next_unpin(cx)
        {
            return Poll::Ready(Some(out));
        }
        if this.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Inflight;
    use futures_util::future::BoxFuture;
    use futures_util::{FutureExt, StreamExt};
    use std::time::Duration;

    fn after(ms: u64, out: u32) -> BoxFuture<'static, u32> {
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            out
        }
        .boxed()
    }

    /// Outputs in the order the futures complete, each once, then `None`, whichever holds
    /// them (alone, or with others joined later, also while one is out).
    #[tokio::test(start_paused = true)]
    async fn yields_each_output_as_it_completes_then_none() {
        let mut set: Inflight<BoxFuture<'static, u32>> = Inflight::default();
        assert!(set.is_empty());
        assert_eq!(set.next().await, None);
        set.push(after(10, 1));
        assert!(!set.is_empty());
        assert_eq!(set.next().await, Some(1));
        assert!(set.is_empty());
        assert_eq!(set.next().await, None);
        // The first is slower than those that join it.
        set.push(after(30, 1));
        set.push(after(10, 2));
        set.push(after(20, 3));
        assert_eq!(set.next().await, Some(2));
        // One joins while others are out: it goes with them.
        set.push(after(5, 4));
        let rest: Vec<u32> = [
            set.next().await,
            set.next().await,
            set.next().await,
            set.next().await,
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(rest, [4, 3, 1]);
        assert!(set.is_empty());
        // Empty again: the next is held alone, and still comes out.
        set.push(after(1, 5));
        assert_eq!(set.next().await, Some(5));
        assert_eq!(set.next().await, None);
    }
}
