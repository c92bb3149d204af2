//! What the log says of an attempt that got no response (`connect_failed`).

use super::{Binding, Driver};

impl Driver {
    /// Logs why an attempt got no response (`connect_failed`), for the operator: a warning
    /// on `switchyard::upstream` with the target, the host and port it was sent to (never the
    /// URL's user information, path or query) and the transport's words (a refused
    /// connection, a name that does not resolve, a certificate refused, a connection closed
    /// before a response). At most one line a second per target, with how many were left
    /// out since its last (`left_out`): a dead provider whose breaker does not open (disabled,
    /// `metrics_only`, panic bypass) does not flood the log. The client is told only
    /// `connect_failed`.
    pub(super) fn unreached(&self, binding: &Binding, error: &(dyn std::error::Error + 'static)) {
        use std::sync::atomic::Ordering::Relaxed;
        let now_ms = u64::try_from(self.inner.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = binding.unreached_next_ms.load(Relaxed);
        if now_ms < next
            || binding
                .unreached_next_ms
                .compare_exchange(next, now_ms.saturating_add(1000), Relaxed, Relaxed)
                .is_err()
        {
            binding.unreached_left_out.fetch_add(1, Relaxed);
            return;
        }
        let left_out = binding.unreached_left_out.swap(0, Relaxed);
        // The in-process transport's words name the request's host (said as the address
        // already); a layer's may carry its URL: said without it.
        let cause = if chain_has_unroutable(error) {
            "no route to this address".to_owned()
        } else {
            // A layer over the transport may name the URL, whose query may hold a key
            // (`auth: query:NAME`): every query is cut out of its words.
            without_queries(&crate::transport::error_chain(error))
        };
        tracing::warn!(
            target: "switchyard::upstream",
            event = "connect_failed",
            target_name = binding.name.as_str(),
            address = binding.address.as_str(),
            error = cause.as_str(),
            left_out = (left_out > 0).then_some(left_out),
            "no response from the provider"
        );
    }
}

/// `text` with each URL query cut out: from a `?` to the next whitespace, written `?…` (not
/// to a quote or bracket: a key, appended to the URL as it is, may hold those).
fn without_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_query = false;
    for c in text.chars() {
        if in_query {
            if c.is_whitespace() {
                in_query = false;
                out.push(c);
            }
        } else if c == '?' {
            in_query = true;
            out.push_str("?…");
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `error` or any of its sources is the in-process transport's unroutable request
/// (whose words name its host).
fn chain_has_unroutable(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| {
        matches!(
            e.downcast_ref::<crate::transport::TransportError>(),
            Some(crate::transport::TransportError::Unroutable(_))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreached_attempts_words_keep_no_url_query() {
        let said = "error sending request for url (https://h:443/v1/chat?key=SECRET&x=1): tcp connect error: refused";
        let kept = without_queries(said);
        assert_eq!(
            kept,
            "error sending request for url (https://h:443/v1/chat?… tcp connect error: refused"
        );
        assert_eq!(
            without_queries("connection failed: Connection refused (os error 111)"),
            "connection failed: Connection refused (os error 111)"
        );
        assert_eq!(
            without_queries("at 'http://h/?k=SE)CR\"ET' now"),
            "at 'http://h/?… now"
        );
    }
}
