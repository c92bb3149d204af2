//! `/admin/`: state, overrides and reload, behind the admin token. Every action is logged
//! (overrides also become router events, in reports and telemetry, and a log line each). A pin
//! to a target that is not one of the route's targets is refused (400, naming both).
//!
//! Also the `/metrics` guard: with `gateway.metrics_token_sha256` set, `GET /metrics` needs
//! `Authorization: Bearer <token>` (401 otherwise). Both tokens are checked as digests, in
//! constant time (the `secret` module).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchyard_core::router::{CommandError, OverrideCommand};

use crate::Gateway;
use crate::errors::ApiError;
use crate::secret;

fn check(gw: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = gw
        .secrets
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .admin;
    let Some(expected) = expected else {
        return Err(ApiError::forbidden(
            "The admin API is off: set gateway.admin_token_sha256.",
        ));
    };
    match secret::bearer(headers) {
        Some(t) if secret::same(&secret::digest(t), &expected) => Ok(()),
        _ => Err(ApiError::unauthorized("A valid admin token is required.")),
    }
}

/// `/metrics` behind `gateway.metrics_token_sha256`, when set.
pub(crate) async fn metrics_auth(
    State(gw): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let expected = gw
        .secrets
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .metrics;
    if let Some(expected) = expected {
        let ok = secret::bearer(request.headers())
            .is_some_and(|t| secret::same(&secret::digest(t), &expected));
        if !ok {
            return ApiError::unauthorized("A valid metrics token is required.").into_response();
        }
    }
    next.run(request).await
}

pub(crate) async fn state(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(e) = check(&gw, &headers) {
        return e.into_response();
    }
    let router = gw.router();
    let alerts: Vec<bool> =
        router.inspect(|core| core.telemetry().rings.iter().map(|r| r.alerting).collect());
    let targets: Vec<serde_json::Value> = router
        .snapshot()
        .into_iter()
        .zip(alerts)
        .map(|(t, alerting)| {
            let mut v = serde_json::to_value(t).unwrap_or_default();
            v["alerting"] = serde_json::json!(alerting);
            v
        })
        .collect();
    let log: Vec<serde_json::Value> = gw
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();
    let revocations = router.credentials().revocations();
    axum::Json(
        serde_json::json!({ "targets": targets, "admin_log": log, "key_revocations": revocations }),
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverrideRequest {
    /// `drain`, `pin`, `freeze`, `force` or `restore`.
    action: String,
    target: Option<String>,
    route: Option<String>,
    /// For `force`: forced_open, disabled, metrics_only, automatic.
    mode: Option<String>,
}

pub(crate) async fn overrides(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if let Err(e) = check(&gw, &headers) {
        return e.into_response();
    }
    // The body after the token, under the same size and time limits as a chat request.
    let body = match crate::chat::read_body(&gw, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let req: OverrideRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::bad_request(&format!("Invalid override: {e}"), None).into_response();
        }
    };
    let router = gw.router();
    let params = router.params();
    let command = match params.parse_override(OverrideCommand {
        action: &req.action,
        target: req.target.as_deref(),
        route: req.route.as_deref(),
        mode: req.mode.as_deref(),
    }) {
        Ok(c) => c,
        Err(e @ CommandError::Invalid(_)) => {
            return ApiError::bad_request(&format!("Invalid override: {e}"), None).into_response();
        }
        Err(e) => return ApiError::bad_request(&e.to_string(), None).into_response(),
    };
    // `parse_override` checked the command against this driver's params, which never
    // change; the core checks again, and a refusal is the caller's 400, not a silent no-op.
    if let Err(e) = router.try_apply(command) {
        return ApiError::bad_request(
            &format!("Override `{}` refused: {e}", command.label()),
            None,
        )
        .into_response();
    }
    gw.log_router_events();
    gw.record(serde_json::json!({ "action": req.action, "target": req.target, "route": req.route, "mode": req.mode }));
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "applied": req.action })),
    )
        .into_response()
}

pub(crate) async fn reload(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(e) = check(&gw, &headers) {
        return e.into_response();
    }
    match gw.reload() {
        Ok(()) => axum::Json(serde_json::json!({ "reloaded": true })).into_response(),
        Err(e) => ApiError::bad_request(&e.to_string(), Some("reload_failed")).into_response(),
    }
}
