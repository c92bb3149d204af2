//! A request made once per target and sent many times with a new body each time
//! ([`Prepared`]): the driver prepares one per target, stream or not, and key.

use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Uri, header};
use bytes::Bytes;
use http_body_util::Full;

use super::HttpRequest;
use super::wire;

/// A request without its body, prepared once: its method, URL and headers as the seam takes
/// them, and, for [`HttpClient`](super::HttpClient), its head as the wire carries it up to
/// the body's length, encoded once (`wire::encode_fields`, the same bytes a request built
/// from it would be written with). A bare `HttpClient` behind a [`Transport`](super::Transport)
/// writes that head, the length and the body, with no `http::Request`, header map or URL
/// made for the request; any other transport (layers, [`InProcess`](super::InProcess)) is
/// sent the `http::Request` built from it ([`Prepared::request`]).
///
/// Its headers may hold a secret (the auth header): its `Debug` shows neither them nor the
/// URL (which a query-string key would be in).
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    /// `None` when the URL has no scheme or authority (the client refuses the request as it
    /// refuses one built from it), or the authority is not a valid `host` value.
    pub(super) wire: Option<Wire>,
}

/// What [`HttpClient`](super::HttpClient) needs of a prepared request.
pub(super) struct Wire {
    pub(super) https: bool,
    pub(super) authority: Authority,
    /// The request line and headers, `host` among them: the head but for the body's length
    /// and the final CRLF.
    pub(super) fields: Box<[u8]>,
    /// The headers ask to close the connection after the reply.
    pub(super) close: bool,
}

impl Prepared {
    /// `request` prepared (its body, if any, dropped: each send gives its own).
    pub fn new(request: HttpRequest) -> Self {
        let (parts, _) = request.into_parts();
        let wire = wire_form(&parts.method, &parts.uri, &parts.headers);
        Prepared {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            wire,
        }
    }

    /// The request with `body`, as [`HttpClient`](super::HttpClient) would write it.
    pub fn request(&self, body: Vec<u8>) -> HttpRequest {
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    pub(super) fn method(&self) -> &Method {
        &self.method
    }

    pub(super) fn uri(&self) -> &Uri {
        &self.uri
    }
}

/// The head [`HttpClient::send`](super::HttpClient::send) writes for a request of `method`
/// to `uri` with `headers`, but for its body's length: `host` first unless the headers have
/// one.
fn wire_form(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Wire> {
    let (Some(authority), Some(scheme)) = (uri.authority(), uri.scheme()) else {
        return None;
    };
    let host = if headers.contains_key(header::HOST) {
        None
    } else {
        Some(HeaderValue::from_str(authority.as_str()).ok()?)
    };
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut fields = Vec::with_capacity(256);
    let close = wire::encode_fields(method, path, headers, host.as_ref(), &mut fields);
    Some(Wire {
        https: *scheme == Scheme::HTTPS,
        authority: authority.clone(),
        fields: fields.into_boxed_slice(),
        close,
    })
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
