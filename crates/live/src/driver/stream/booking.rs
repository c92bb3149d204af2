//! What a stream dropped before its end is booked at (see [`ChatStream`]'s doc).

use std::sync::{Arc, Mutex};

use switchyard_core::dialect::estimate_tokens_from_chars;
use switchyard_core::outcome::{AttemptReport, Outcome};
use switchyard_core::request::Usage;
use switchyard_core::time::Duration;

use super::ChatStream;

/// What a stream dropped before its end was booked at: its request's tokens (every attempt's,
/// summed) and their cost, for a caller that logs the request after the stream is gone (the
/// gateway's access log). Empty until then. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct StreamBooking(Arc<Mutex<Option<(Usage, f64)>>>);

impl StreamBooking {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<(Usage, f64)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tokens and cost, once the stream was dropped before its end.
    pub fn get(&self) -> Option<(Usage, f64)> {
        *self.slot()
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
                ..AttemptReport::new(Outcome::Cancelled, Duration::from(open.started.elapsed()))
            };
            driver.core().record(plan, self.attempt, report, now);
        }
        driver.core().abandon(plan, now);
        *self.booking.slot() = Some((plan.tokens(), plan.cost()));
    }
}
