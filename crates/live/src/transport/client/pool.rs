//! The client's idle connections, per target and runtime ([`Pool`]).

use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::uri::Authority;

use super::{Conn, MAX_IDLE_PER_TARGET};

#[derive(Debug, Default)]
pub(super) struct Pool {
    /// A handful of targets: a scan beats a hash.
    targets: std::sync::Mutex<Vec<Idle>>,
}

/// One target's idle connections opened on one runtime, newest last. Targets are told apart
/// by scheme and by authority byte for byte (a target's URL is made once, so its requests
/// spell it alike).
#[derive(Debug)]
pub(super) struct Idle {
    /// The runtime whose IO driver the connections' sockets are registered with.
    runtime: Option<tokio::runtime::Id>,
    https: bool,
    authority: Authority,
    host: HeaderValue,
    /// Each with the instant it stops being usable (its idle time is up).
    pub(super) conns: Vec<(Conn, tokio::time::Instant)>,
}

/// Where a request goes (its scheme and authority) and the runtime it runs on: the pool key.
#[derive(Debug)]
pub(super) struct Key {
    /// The runtime the request runs on (none outside one: then nothing is pooled for it).
    runtime: Option<tokio::runtime::Id>,
    https: bool,
    authority: Authority,
}

impl Key {
    /// The pool's key for an origin, on the runtime the request runs on.
    pub(super) fn new(https: bool, authority: Authority) -> Self {
        Key {
            runtime: tokio::runtime::Handle::try_current().ok().map(|h| h.id()),
            https,
            authority,
        }
    }

    fn matches(&self, idle: &Idle) -> bool {
        idle.runtime == self.runtime
            && idle.https == self.https
            && idle.authority.as_str() == self.authority.as_str()
    }
}

impl Pool {
    pub(super) fn targets(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The newest idle connection to `key` young enough, with the target's `Host` value
    /// (when it has been to the pool before). Not yet checked for use.
    fn pop(&self, key: &Key) -> (Option<Conn>, Option<HeaderValue>) {
        let mut targets = self.targets();
        let Some(idle) = targets.iter_mut().find(|t| key.matches(t)) else {
            return (None, None);
        };
        let now = tokio::time::Instant::now();
        while let Some((conn, until)) = idle.conns.pop() {
            if now < until {
                return (Some(conn), Some(idle.host.clone()));
            }
        }
        (None, Some(idle.host.clone()))
    }

    /// An idle connection to `key` that is still usable, with the target's `Host` value.
    /// Those found closed are closed for good (outside the lock: the check reads the socket).
    pub(super) fn take(&self, key: &Key) -> (Option<Conn>, Option<HeaderValue>) {
        let (mut conn, host) = self.pop(key);
        while let Some(mut c) = conn.take() {
            if c.is_usable() {
                return (Some(c), host);
            }
            conn = self.pop(key).0;
        }
        (None, host)
    }

    /// Idle connections, all targets (for tests).
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.targets().iter().map(|t| t.conns.len()).sum()
    }

    /// Keeps `conn` for the next request of `key`'s target on `key`'s runtime: the one that
    /// opened it (the key travels with the connection, whichever thread ends the body).
    pub(super) fn give_back(&self, key: &Key, conn: Conn, idle_for: Duration) {
        if key.runtime.is_none() || idle_for.is_zero() {
            return;
        }
        let now = tokio::time::Instant::now();
        let until = now.checked_add(idle_for).unwrap_or(now);
        let mut targets = self.targets();
        let at = match targets.iter().position(|t| key.matches(t)) {
            Some(at) => at,
            None => {
                let Ok(host) = HeaderValue::from_str(key.authority.as_str()) else {
                    return;
                };
                targets.push(Idle {
                    runtime: key.runtime,
                    https: key.https,
                    authority: key.authority.clone(),
                    host,
                    conns: Vec::new(),
                });
                targets.len() - 1
            }
        };
        if let Some(idle) = targets.get_mut(at) {
            // Old ones first out: a connection idle past the timeout is closed here too.
            idle.conns.retain(|(_, until)| now < *until);
            if idle.conns.len() < MAX_IDLE_PER_TARGET {
                idle.conns.push((conn, until));
            }
        }
    }
}
