//! Requests a browser makes on behalf of another site. The session cookie is `SameSite=Lax`,
//! which keeps it off cross-site POSTs in today's browsers, but not off a same-site sibling (a
//! county portal on a neighbouring subdomain) nor in older WebViews: a state-changing call that
//! names another origin is refused outright, whatever it carries.

use axum::extract::Request;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Whether the request comes from one of our own pages (or from no browser page at all: a
/// client that sends no `Origin` cannot be carrying a victim's cookie).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    !host.is_empty() && origin_host == host
}

/// Refuses a state-changing request from another origin with 403 `cross_origin`, before any
/// handler (or body parser) sees it. Reads are left alone: they change nothing, and CORS keeps
/// their answers from the other site.
pub async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    let reads = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let cross_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"cross-site");
    if !reads && (cross_site || !same_origin(request.headers())) {
        return ApiError::CrossOrigin.into_response();
    }
    next.run(request).await
}
