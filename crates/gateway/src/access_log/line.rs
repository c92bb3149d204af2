//! One access-log line: its values ([`Line`]), written straight into the log's buffer or as
//! a `tracing` event with the same bytes, and how its numbers are made readable
//! (`latency_ms` to the microsecond, `cost_usd` to the ten-billionth of a dollar).

use switchyard_core::request::Usage;

/// The access log's `tracing` target.
pub(crate) const ACCESS: &str = "switchyard::access";

/// One access-log line's values.
#[derive(Clone, Copy, Debug)]
pub(super) struct Line<'a> {
    pub(super) request_id: &'a str,
    pub(super) client: &'a str,
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) route: &'a str,
    pub(super) model: &'a str,
    pub(super) attempts: &'a str,
    pub(super) served_by: &'a str,
    pub(super) status: u16,
    pub(super) result: &'a str,
    pub(super) latency_ms: f64,
    pub(super) usage: Usage,
    pub(super) cost_usd: f64,
    /// Written (`tokens_estimated=true`) only when true.
    pub(super) tokens_estimated: bool,
}

impl Line<'_> {
    /// Writes the line: straight into the log's buffer when the gateway's own subscriber is
    /// the current one ([`crate::logging::direct`]), else as a `tracing` event with the same
    /// fields (`Line::event`; another subscriber, e.g. a test's). The caller checks that the
    /// target is enabled.
    pub(super) fn write(&self) {
        let fields = self.fields();
        if !crate::logging::direct(
            &tracing::Level::INFO,
            ACCESS,
            "request",
            self.shown(&fields),
        ) {
            self.event();
        }
    }

    /// Of [`Line::fields`], those written: `tokens_estimated`, the last, only when true.
    pub(super) fn shown<'f>(
        &self,
        fields: &'f [crate::logging::LineField<'f>],
    ) -> &'f [crate::logging::LineField<'f>] {
        match fields.split_last() {
            Some((_, rest)) if !self.tokens_estimated => rest,
            _ => fields,
        }
    }

    /// The fields, in the order and with the kinds of [`Line::event`]'s, `tokens_estimated`
    /// last (left out when false: [`Line::shown`]).
    pub(super) fn fields(&self) -> [crate::logging::LineField<'_>; 15] {
        use crate::logging::Value::{Bool, Display, F64, Str, U64};
        use crate::logging::field;
        [
            field!("request_id", Display(self.request_id)),
            field!("client", Str(self.client)),
            field!("method", Display(self.method)),
            field!("path", Display(self.path)),
            field!("route", Str(self.route)),
            field!("model", Str(self.model)),
            field!("attempts", Display(self.attempts)),
            field!("served_by", Str(self.served_by)),
            field!("status", U64(u64::from(self.status))),
            field!("result", Str(self.result)),
            field!("latency_ms", F64(self.latency_ms)),
            field!("prompt_tokens", U64(u64::from(self.usage.prompt_tokens))),
            field!(
                "completion_tokens",
                U64(u64::from(self.usage.completion_tokens))
            ),
            field!("cost_usd", F64(self.cost_usd)),
            field!("tokens_estimated", Bool(self.tokens_estimated)),
        ]
    }

    /// The line as a `tracing` event: the fields [`Line::write`] writes directly, in the same
    /// order and with the same kinds (`%` for its `Display` values).
    pub(super) fn event(&self) {
        tracing::info!(
            target: ACCESS,
            request_id = %self.request_id,
            client = self.client,
            method = %self.method,
            path = %self.path,
            route = self.route,
            model = self.model,
            attempts = %self.attempts,
            served_by = self.served_by,
            status = self.status,
            result = self.result,
            latency_ms = self.latency_ms,
            prompt_tokens = self.usage.prompt_tokens,
            completion_tokens = self.usage.completion_tokens,
            cost_usd = self.cost_usd,
            // Recorded only when `Some`: only when true, as `Line::write` writes it.
            tokens_estimated = self.tokens_estimated.then_some(true),
            "request"
        );
    }
}

/// The `latency_ms` field: `elapsed` to the nearest microsecond, in milliseconds, so that it
/// is written `27.508` (at most three decimals; ryu's shortest form of a whole number of
/// microseconds over 1e3), not `27.507673999999998` as `as_secs_f64() * 1e3` was.
pub(super) fn latency_ms(elapsed: std::time::Duration) -> f64 {
    let micros = elapsed.as_nanos().saturating_add(500) / 1000;
    // Exact below 2^53 microseconds (285 years); saturates beyond u64.
    u64::try_from(micros).unwrap_or(u64::MAX) as f64 / 1e3
}

/// The `cost_usd` field: `cost` to the nearest ten-billionth of a dollar (1e-10 USD), so
/// that it is written `0.0000007` or `0.3` (ryu's shortest form of a whole number of
/// ten-billionths, positional: `crate::logging`), not `7.000000000000001e-7` or
/// `0.30000000000000004`, the sums of float prices. A cost that is negative, not finite or
/// of 1e5 USD or more (where a whole number of ten-billionths no longer has fewer than 16
/// digits) is left as it is.
pub(super) fn cost_usd(cost: f64) -> f64 {
    const PER_USD: f64 = 1e10;
    if !(0.0..1e5).contains(&cost) {
        return cost;
    }
    // Rounded half up (not `round`, a libm call); below 1e15, exact as a u64 and a double.
    let units = (cost * PER_USD + 0.5) as u64;
    units as f64 / PER_USD
}
