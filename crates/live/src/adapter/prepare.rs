//! A target's request made once ([`prepare`]), and the body each attempt sends with it
//! ([`body`]).

use switchyard_core::dialect::{Dialect, Unsupported};
use switchyard_core::request::Request as ChatRequest;

use super::{Endpoint, anthropic, auth_name, gemini, http_request, openai};
use crate::transport::Prepared;

/// The body of the request [`build`](super::build) makes (to send with a [`prepare`]d request).
pub fn body(endpoint: &Endpoint<'_>, request: &ChatRequest) -> Result<Vec<u8>, Unsupported> {
    match endpoint.dialect {
        Dialect::Openai => openai::encode(endpoint.model, request, false),
        Dialect::AzureOpenai => openai::encode(endpoint.model, request, true),
        Dialect::Anthropic => {
            anthropic::encode(endpoint.model, request, endpoint.default_max_tokens)
        }
        Dialect::Gemini => gemini::encode(request),
    }
}

/// The request [`build`](super::build) makes at `endpoint`, but its body, [`Prepared`] once; `None` when
/// the key goes in the URL (no [`Endpoint::url`]), has no auth value, or nothing is built.
pub fn prepare(endpoint: &Endpoint<'_>, stream: bool) -> Option<Prepared> {
    endpoint.url?;
    if auth_name(endpoint.auth).is_some() && endpoint.auth_value.is_none() {
        return None;
    }
    let request = http_request(endpoint, stream, Vec::new());
    request.uri().authority()?; // Not built: the default request.
    Some(Prepared::new(request))
}
