//! What a stream dropped before its end is booked at (see [`ChatStream`]'s doc).

use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::body::HttpBody;
use switchyard_core::dialect::estimate_tokens_from_chars;
use switchyard_core::outcome::{AttemptReport, Outcome};
use switchyard_core::request::Usage;
use switchyard_core::time::Duration;

use super::ChatStream;

/// What a stream dropped before its end was booked at: its request's tokens (every attempt's,
/// summed) and their cost, for a caller that logs the request after the stream is gone (the
/// gateway's access log). Empty until then. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct StreamBooking(Arc<Mutex<Option<Booked>>>);

/// What a stream dropped before its end was booked at.
#[derive(Clone, Copy, Debug)]
struct Booked {
    usage: Usage,
    cost: f64,
    /// Some of `usage` are estimates (`Plan::tokens_estimated`).
    estimated: bool,
    /// The answer was whole: the caller had the target's finish chunk (see [`ChatStream`]'s
    /// `Drop`), and the request is booked served.
    served: bool,
}

impl StreamBooking {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Booked>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tokens and cost, once the stream was dropped before its end.
    pub fn get(&self) -> Option<(Usage, f64)> {
        self.slot().map(|b| (b.usage, b.cost))
    }

    /// Whether some of the booked tokens are estimates (`Plan::tokens_estimated`): a
    /// continuation on its way booked the prompt's estimate, an attempt reported no usage.
    pub fn tokens_estimated(&self) -> bool {
        self.slot().is_some_and(|b| b.estimated)
    }

    /// Whether the stream, dropped before its end, was booked served: its caller had
    /// received the target's finish chunk (a forwarded stream left before the usage chunk or
    /// `[DONE]`), so the answer was whole.
    pub fn served(&self) -> bool {
        self.slot().is_some_and(|b| b.served)
    }
}

impl Drop for ChatStream {
    /// A caller that left mid-stream: the attempt streaming is recorded `cancelled` with the
    /// tokens it generated (see the type's doc), then the request abandoned, and the booking
    /// filled. A stream that ended (or whose plan did) books nothing more here.
    fn drop(&mut self) {
        if self.guard.plan.outcome().is_some() {
            return;
        }
        if self.finish_delivered() {
            // The caller had the whole answer, the finish chunk included: it is booked as an
            // answer that ended there (the usage the target reported, else estimated), the
            // attempt a success and the request served, not abandoned. A usage chunk the
            // target has already sent is read first.
            self.read_what_came();
            let end = self.open.decoder.end();
            let _ = self.close(end);
            let plan = &self.guard.plan;
            if plan.outcome().is_some() {
                *self.booking.slot() = Some(Booked {
                    usage: plan.tokens(),
                    cost: plan.cost(),
                    estimated: plan.tokens_estimated(),
                    served: true,
                });
                return;
            }
        }
        let driver = self.guard.driver.clone();
        let now = driver.now();
        let plan = &mut self.guard.plan;
        if plan.committed() == Some(self.attempt) && plan.is_outstanding(self.attempt) {
            let open = &self.open;
            // As reported when the stream reported it; else the larger estimate (the
            // decoder's, or the characters this attempt delivered).
            let completion = open.decoder.reported_completion().unwrap_or_else(|| {
                open.decoder
                    .completion_so_far()
                    .max(estimate_tokens_from_chars(self.resume.attempt_chars))
            });
            // The prompt's cached tokens as reported too: priced at the cached rate.
            let (prompt, cached) = open
                .decoder
                .reported_prompt()
                .unwrap_or((open.prompt_estimate, 0));
            let report = AttemptReport {
                first_token: Some(Duration::from(open.first_token)),
                prompt_tokens: prompt,
                cached_prompt_tokens: cached,
                completion_tokens: completion,
                delivered_tokens: true,
                usage_missing: open.decoder.reported_completion().is_none()
                    || open.decoder.reported_prompt().is_none(),
                ..AttemptReport::new(Outcome::Cancelled, Duration::from(open.started.elapsed()))
            };
            driver.core().record(plan, self.attempt, report, now);
        }
        // A continuation still on its way was sent the prompt: booked at the estimate.
        driver.core().caller_left(plan, now);
        *self.booking.slot() = Some(Booked {
            usage: plan.tokens(),
            cost: plan.cost(),
            estimated: plan.tokens_estimated(),
            served: false,
        });
    }
}

/// The most frames [`ChatStream::read_what_came`] reads: a usage chunk and `[DONE]` are one
/// or two.
const READY_FRAMES: usize = 4;

impl ChatStream {
    /// Feeds the decoder what the upstream has sent and the stream not read yet, without
    /// waiting (frames ready now, at most [`READY_FRAMES`], each bounded as any read is), so
    /// that a usage chunk sent right behind the finish chunk is booked as the target reported
    /// it rather than estimated. What it yields is for nobody: the caller has gone.
    fn read_what_came(&mut self) {
        // Off a runtime (a stream dropped by a thread of its own) a body's poll may need the
        // runtime's timers or IO and panic: nothing is read, the usage estimated.
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let open = &mut self.open;
        let read = std::future::poll_fn(|cx| {
            for _ in 0..READY_FRAMES {
                if open.decoder.done || open.decoder.reported_completion().is_some() {
                    break;
                }
                let frame = match std::pin::Pin::new(&mut open.body).poll_frame(cx) {
                    std::task::Poll::Ready(Some(Ok(frame))) => frame,
                    _ => break,
                };
                if let Ok(data) = frame.into_data()
                    && open.decoder.feed(&data).is_err()
                {
                    break;
                }
            }
            std::task::Poll::Ready(())
        });
        // Outside the task's coop budget: a task that spent it would read nothing (every
        // poll `Pending`) and book an estimate though the usage had come.
        let read = std::pin::pin!(tokio::task::unconstrained(read));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = read.poll(&mut cx);
    }

    /// Whether the caller has received the committed attempt's finish chunk: a stream whose
    /// chunks it was sent as they came ([`ChatStream::forwards_raw`]: one the gateway writes
    /// sends its finish chunk only at `End`), whose finish reason was read, with nothing but
    /// chunks without content (the usage chunk) still queued for it.
    fn finish_delivered(&self) -> bool {
        let plan = &self.guard.plan;
        self.forwards_raw()
            && self.open.decoder.finish.is_some()
            && plan.committed() == Some(self.attempt)
            && plan.is_outstanding(self.attempt)
            && self
                .queued
                .iter()
                .all(|p| matches!(p, crate::adapter::Piece::Raw(r) if r.usage_only || r.empty))
    }
}
