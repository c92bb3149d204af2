//! The store's errors: typed, bounded, and free of secrets (a URL's password never appears).

use std::time::Duration;

/// Why a store operation failed. Every operation returns one of these; none panics.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No answer within the store timeout: the store is slow or the link is down.
    #[error("fleet store: {op} timed out after {} ms", after.as_millis())]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The store cannot be reached (connection refused, dropped or failing).
    #[error("fleet store: {op}: store unreachable ({detail})")]
    Unreachable {
        /// The operation.
        op: &'static str,
        /// What the client saw, without the URL.
        detail: String,
    },
    /// The store answered with an error (a script error, a wrong password, out of memory).
    #[error("fleet store: {op}: the store answered an error ({detail})")]
    Server {
        /// The operation.
        op: &'static str,
        /// The store's error, at most 200 bytes.
        detail: String,
    },
    /// The store's reply did not have the expected shape.
    #[error("fleet store: {op}: malformed reply ({detail})")]
    Malformed {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        detail: &'static str,
    },
    /// The caller's input is outside the store's bounds.
    #[error("fleet store: {op}: invalid input ({detail})")]
    Invalid {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        detail: &'static str,
    },
    /// The store's URL did not parse (the URL is not repeated: it may hold a password).
    #[error(
        "fleet store: the store URL is not a redis://, rediss://, unix:// or redis+unix:// URL"
    )]
    BadUrl,
}

/// The longest error detail kept from the client, in bytes.
const MAX_DETAIL: usize = 200;

impl StoreError {
    pub(crate) fn invalid(op: &'static str, detail: &'static str) -> StoreError {
        StoreError::Invalid { op, detail }
    }

    pub(crate) fn malformed(op: &'static str, detail: &'static str) -> StoreError {
        StoreError::Malformed { op, detail }
    }

    /// Whether the store could not be reached or did not answer in time: the cases in which a
    /// replica falls back to local state.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Timeout { .. } | StoreError::Unreachable { .. }
        )
    }

    pub(crate) fn from_redis(op: &'static str, e: &redis::RedisError) -> StoreError {
        if let redis::ErrorKind::Server(_) | redis::ErrorKind::Extension = e.kind() {
            return StoreError::Server {
                op,
                detail: bounded(&e.to_string()),
            };
        }
        if e.kind() == redis::ErrorKind::AuthenticationFailed {
            // The server's words only ("WRONGPASS ..."), never the credentials sent.
            return StoreError::Server {
                op,
                detail: "authentication failed".to_string(),
            };
        }
        // I/O, a dropped or refused connection, a client-side failure: the client's category
        // and the OS error, which name no URL.
        StoreError::Unreachable {
            op,
            detail: bounded(&e.to_string()),
        }
    }
}

fn bounded(text: &str) -> String {
    if text.len() <= MAX_DETAIL {
        return text.to_string();
    }
    let mut end = MAX_DETAIL;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_bounded_on_a_char_boundary() {
        let long = "é".repeat(150); // 300 bytes
        let b = bounded(&long);
        assert!(b.len() <= MAX_DETAIL + 3, "{}", b.len());
        assert!(b.ends_with("..."));
        assert_eq!(bounded("short"), "short");
    }
}
