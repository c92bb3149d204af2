//! Azure OpenAI: `POST /openai/deployments/{deployment}/chat/completions?api-version=…`,
//! authenticated by `api-key` (or a bearer token). Deployments are the profile's models.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_core::dialect::azure_openai::{
    error_for_kind, filter_results_passed, prompt_filter_results,
};
use switchyard_core::outcome::ErrorKind;

use super::Shared;
use super::content::Content;
use super::request::Asked;
use super::respond::{self, Stamp};
use crate::model::Reply;

fn reject(shared: &Shared, status: u16, body: &Value) -> Response {
    shared.count_status(status);
    respond::json(status, body)
}

pub(super) async fn chat(
    State(shared): State<Arc<Shared>>,
    Path(deployment): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !query.contains_key("api-version") {
        return reject(
            &shared,
            404,
            &json!({ "error": { "code": "404", "message": "Resource not found" } }),
        );
    }
    let key = headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    if !key.is_some_and(|k| shared.profile.accepts(k.trim())) {
        let (status, body) = error_for_kind(ErrorKind::Unauthorized);
        return reject(&shared, status, &body);
    }
    if shared.profile.model(&deployment).is_none() {
        let (status, body) = error_for_kind(ErrorKind::Forbidden);
        return reject(&shared, status, &body);
    }
    let asked = match super::openai::parse(&shared, &body, Some(&deployment)) {
        Ok(asked) => asked,
        Err(response) => return response,
    };
    respond::answer(&shared, asked).await
}

/// OpenAI's reply plus Azure's filter results.
pub(super) fn reply(reply: &Reply, asked: &Asked, stamp: Stamp, content: &Content) -> Value {
    let mut body = super::openai::reply(reply, asked, stamp, content);
    body["prompt_filter_results"] = prompt_filter_results();
    if let Some(choice) = body.pointer_mut("/choices/0") {
        choice["content_filter_results"] = filter_results_passed();
    }
    body
}
