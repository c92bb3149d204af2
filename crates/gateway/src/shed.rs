//! Load shedding: at most `gateway.max_in_flight` `/v1/` requests are served at once, and one
//! more is refused at once with OpenAI's 503 `overloaded` and `Retry-After: 1` (the SDKs retry
//! it), rather than queued where it would wait, hold memory, and time out anyway.
//!
//! A request holds its permit from the moment it is admitted until its response body has
//! given its last frame (or is dropped before): for a streamed reply, until the stream ends
//! or the client leaves (on the fast path, a write that waits `SEND_TIMEOUT` on the client
//! ends it too). The permit lives in the middleware's future and then in the body, so a
//! request dropped at any `.await` releases it (nothing has to remember to give it back).
//! The access log's middleware ([`crate::access_log`]) admits or sheds: one layer on the hot
//! path, not two.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Gateway;
use crate::errors::ApiError;

/// A fixed number of permits.
#[derive(Debug)]
pub(crate) struct Limit {
    permits: Arc<Semaphore>,
    size: usize,
}

impl Limit {
    pub(crate) fn new(size: usize) -> Self {
        Limit {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// A permit, or `None` at the limit (never waits).
    fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Requests being served now.
    pub(crate) fn in_use(&self) -> usize {
        self.size.saturating_sub(self.permits.available_permits())
    }
}

impl Gateway {
    /// `/v1/` requests being served now (streams count until their body ends).
    pub fn in_flight(&self) -> usize {
        self.in_flight.in_use()
    }
}

/// A permit for a request, to be held until its response body has ended; `None` at the
/// limit (the request is then shed with [`refusal`]). Called by the access log's middleware,
/// so that one layer does both.
pub(crate) fn admit(gw: &Gateway) -> Option<OwnedSemaphorePermit> {
    gw.in_flight.try_admit()
}

/// What a shed request gets: OpenAI's 503 `overloaded`, or Anthropic's on `/v1/messages`.
/// `id`: the request's id (its access log's), for Anthropic's error body.
pub(crate) fn refusal(gw: &Gateway, request: &Request, id: Option<String>) -> Response {
    let e = ApiError::overloaded(gw.in_flight.size);
    if request.uri().path() == crate::messages::PATH {
        return crate::messages::refusal(gw, e, id);
    }
    e.into_response()
}
