//! Serves the embedded browser client.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub async fn index() -> Response {
    let page = concord_web::index_html();
    (
        [
            (CONTENT_TYPE, page.content_type),
            (CACHE_CONTROL, "no-store"),
        ],
        page.body,
    )
        .into_response()
}

pub async fn asset(Path(path): Path<String>) -> Result<Response, ApiError> {
    let asset = concord_web::asset(&path).ok_or(ApiError::NotFound("file"))?;
    Ok((
        [
            (CONTENT_TYPE, asset.content_type),
            (CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response())
}
