//! Probes for orchestrators and load balancers, without a key.
//!
//! - `GET /healthz`: the process answers (200 `ok`). Restart it when this fails.
//! - `GET /readyz`: whether to send it traffic: 200 while some target can be sent to (its
//!   breaker not forced open and it not drained by an operator), 503 with a JSON body saying
//!   why otherwise, and 503 once shutdown has started (draining). An automatically opened
//!   breaker does not make the gateway unready: it recovers on its own, and taking every
//!   replica out of rotation on a provider's brown-out would turn it into an outage.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::Gateway;

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

pub(crate) async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    if gw.is_draining() {
        return not_ready(
            "draining",
            "shutting down: finishing the requests in flight".to_owned(),
            Vec::new(),
        );
    }
    let targets = gw.router().snapshot();
    let usable = targets
        .iter()
        .filter(|t| t.breaker_mode != "forced_open" && !t.drained)
        .count();
    if usable > 0 {
        return axum::Json(serde_json::json!({ "status": "ready", "usable_targets": usable }))
            .into_response();
    }
    let why = targets
        .iter()
        .map(|t| {
            let state = if t.drained { "drained" } else { "forced_open" };
            serde_json::json!({ "target": t.name, "state": state })
        })
        .collect();
    not_ready(
        "no_target_available",
        format!(
            "none of the {} targets can be sent to: each is drained or its breaker forced open",
            targets.len()
        ),
        why,
    )
}

fn not_ready(reason: &str, message: String, targets: Vec<serde_json::Value>) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({
            "status": "not_ready",
            "reason": reason,
            "message": message,
            "targets": targets,
        })),
    )
        .into_response()
}
