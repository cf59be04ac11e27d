//! Photos and documents shown in a room (a land certificate, a contract, a photo of a boundary
//! stone), kept with the case as evidence material.
//!
//! `POST /api/sessions/{id}/documents` takes the file's bytes as the body. The caller is a
//! member of that session's room now: an invitee by the invitation token of their link as a
//! bearer token, staff by their sign-in; the room says whether their role may share (never an
//! observer, a party only while the mediator allows it). The type is read from the bytes, not
//! from a name. The file is kept under the data directory with its SHA-256, a row and a session
//! event; everyone in the room is shown it.
//!
//! `GET /api/documents/{id}` serves it to the room's invitees (their token) and to staff who
//! may read the dispute; `GET /api/documents/{id}/pages/{n}` a PDF's page as a picture.

use std::net::IpAddr;
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::disputes::readable_dispute;
use crate::auth::{bearer_token, user_from_headers, CurrentUser};
use crate::client_address::ClientAddress;
use crate::error::{ApiError, ApiResult};
use crate::invitation_tokens::check_token;
use crate::pdf_pages::{self, PdfError};
use crate::secrets::{new_id, now_ms};
use crate::state::AppState;
use crate::store::{SeatHolder, SharedDocument};
use crate::ws::RoomCommand;

/// The largest photo or document: a phone camera's photo is 2–6 MB.
pub const MAX_DOCUMENT_BYTES: usize = 15 * 1024 * 1024;
/// The longest file name kept.
const MAX_NAME_CHARS: usize = 120;

/// What the bytes are, by their first bytes.
fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("image/webp", "webp"))
    } else if bytes.starts_with(b"%PDF-") {
        Some(("application/pdf", "pdf"))
    } else {
        None
    }
}

/// Who calls: an invitee of this session by their link's token, or a signed-in account.
async fn caller_seat(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    session_id: &str,
) -> ApiResult<SeatHolder> {
    if let Some(user) = user_from_headers(state, headers).await? {
        return Ok(SeatHolder::Account(user.id));
    }
    let bearer = bearer_token(headers).ok_or(ApiError::Unauthenticated)?;
    let valid = check_token(state, bearer, client).await?;
    if valid.invitation.session_id != session_id {
        return Err(ApiError::Forbidden);
    }
    Ok(SeatHolder::Invitation(valid.invitation.id))
}

#[derive(Deserialize)]
pub struct ShareQuery {
    #[serde(default)]
    name: Option<String>,
}

pub async fn share(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Path(session_id): Path<String>,
    Query(query): Query<ShareQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let identity = caller_seat(&state, &headers, client, &session_id).await?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let (content_type, extension) = sniff(&body).ok_or(ApiError::UnsupportedMediaType)?;
    let room = state.hub.room_of(&session_id).ok_or(ApiError::Conflict(
        "Nobody is in this session's room.".into(),
    ))?;
    let (reply, answer) = oneshot::channel();
    room.send(RoomCommand::MayShareDocument { identity, reply })
        .await
        .map_err(|_| ApiError::Conflict("The session's room has closed.".into()))?;
    let sharer = answer
        .await
        .map_err(|_| ApiError::Conflict("The session's room has closed.".into()))?
        .map_err(|refusal| ApiError::ForbiddenBecause(refusal.message()))?;

    let id = new_id();
    let relative = PathBuf::from(&session_id).join(format!("{id}.{extension}"));
    let path = state.config.documents_dir().join(&relative);
    if let Some(dir) = path.parent() {
        crate::private_files::private_dir(dir).map_err(|e| ApiError::Internal(e.into()))?;
    }
    tokio::fs::write(&path, &body)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let page_count = match content_type {
        "application/pdf" => pdf_page_count(&path).await?,
        _ => 0,
    };
    let name: String = query
        .name
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let document = SharedDocument {
        id,
        session_id,
        participant_id: sharer.id,
        shared_by: sharer.name,
        shared_by_role: sharer.role.as_str().to_owned(),
        file_name: if name.trim().is_empty() {
            format!("document.{extension}")
        } else {
            name.trim().to_owned()
        },
        content_type: content_type.to_owned(),
        size_bytes: i64::try_from(body.len()).unwrap_or(i64::MAX),
        sha256: hex::encode(Sha256::digest(&body)),
        path: relative.to_string_lossy().into_owned(),
        shared_at: now_ms(),
        page_count,
    };
    if let Err(error) = state.store.add_shared_document(&document).await {
        let _ = tokio::fs::remove_file(&path).await;
        let _ = tokio::fs::remove_dir_all(path.with_extension("pages")).await;
        return Err(error.into());
    }
    let _ = room
        .send(RoomCommand::DocumentShared {
            document: document.clone(),
        })
        .await;
    Ok(Json(json!({ "document": document })))
}

/// Draws the PDF's pages (see `pdf_pages.rs`); how many. A PDF poppler cannot read is refused
/// (and removed); without poppler installed it is kept, to be opened as a PDF.
async fn pdf_page_count(path: &std::path::Path) -> ApiResult<i64> {
    match pdf_pages::render(path).await {
        Ok(pages) => Ok(i64::from(pages)),
        Err(PdfError::NoRenderer) => {
            tracing::warn!("a PDF is kept without page pictures: install poppler-utils");
            Ok(0)
        }
        Err(PdfError::Io(error)) => {
            let _ = tokio::fs::remove_file(path).await;
            Err(ApiError::Internal(error.into()))
        }
        Err(refusal) => {
            let _ = tokio::fs::remove_file(path).await;
            Err(ApiError::Validation(refusal.to_string()))
        }
    }
}

/// The document `id` if the caller may read it: an invitee of its session by their token,
/// staff who may read its dispute.
async fn readable_document(
    state: &AppState,
    client: IpAddr,
    id: &str,
    headers: &HeaderMap,
) -> ApiResult<SharedDocument> {
    let document = state
        .store
        .shared_document(id)
        .await?
        .ok_or(ApiError::NotFound("document"))?;
    match user_from_headers(state, headers).await? {
        Some(user) => {
            let session = state
                .store
                .session(&document.session_id)
                .await?
                .ok_or(ApiError::NotFound("document"))?;
            readable_dispute(state, &CurrentUser(user), &session.dispute_id).await?;
        }
        None => {
            caller_seat(state, headers, client, &document.session_id).await?;
        }
    }
    Ok(document)
}

pub async fn fetch(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let document = readable_document(&state, client, &id, &headers).await?;
    let path = state.config.documents_dir().join(&document.path);
    private_file(&path, &document.content_type).await
}

/// Page `page` (from 1) of a shared PDF, as a PNG picture.
pub async fn page(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Path((id, page)): Path<(String, u32)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let document = readable_document(&state, client, &id, &headers).await?;
    if page == 0 || i64::from(page) > document.page_count {
        return Err(ApiError::NotFound("page"));
    }
    let pdf = state.config.documents_dir().join(&document.path);
    private_file(&pdf_pages::page_path(&pdf, page), "image/png").await
}

/// A file kept under the data directory, as `content_type`, never cached.
async fn private_file(path: &std::path::Path, content_type: &str) -> ApiResult<Response> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_read_from_the_bytes() {
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0rest").map(|t| t.0),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\nrest").map(|t| t.0),
            Some("image/png")
        );
        assert_eq!(
            sniff(b"RIFF\0\0\0\0WEBPVP8 ").map(|t| t.0),
            Some("image/webp")
        );
        assert_eq!(sniff(b"%PDF-1.7").map(|t| t.0), Some("application/pdf"));
        assert_eq!(sniff(b"just text named .jpg"), None);
        assert_eq!(sniff(b""), None);
    }
}
