//! Recordings on the dispute's page: listed and served to authorized staff only, every play
//! and download written to the audit log. Invitees never get them, whatever they present.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_DISPOSITION};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::disputes::readable_dispute;
use super::error::{ApiError, ApiResult};
use crate::auth::{user_from_headers, CurrentUser};
use crate::secrets::{new_id, now_ms, token_hash};
use crate::state::AppState;
use crate::store::{AuditEntry, FileKind};

/// The caller as an account, refusing invitees with 403 (they are known, and not allowed) and
/// everyone else without an account with 401.
async fn staff_caller(state: &AppState, headers: &HeaderMap) -> ApiResult<CurrentUser> {
    if let Some(user) = user_from_headers(state, headers).await? {
        return Ok(CurrentUser(user));
    }
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        if state
            .store
            .invitation_by_token_hash(&token_hash(token.trim()))
            .await?
            .is_some()
        {
            return Err(ApiError::Forbidden);
        }
    }
    Err(ApiError::Unauthenticated)
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(dispute_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = staff_caller(&state, &headers).await?;
    readable_dispute(&state, &user, &dispute_id).await?;
    let recordings = state.store.recordings_of_dispute(&dispute_id).await?;
    let mut listed = Vec::with_capacity(recordings.len());
    for recording in recordings {
        let mut value =
            serde_json::to_value(&recording).map_err(|e| ApiError::Internal(e.into()))?;
        for (index, file) in recording.files.iter().enumerate() {
            let audit = state.store.audit_of(&file.id).await?;
            value["files"][index]["audit"] = json!(audit
                .iter()
                .map(|a| json!({"at": a.at, "user_id": a.user_id, "action": a.action, "ip": a.ip}))
                .collect::<Vec<_>>());
        }
        listed.push(value);
    }
    Ok(Json(json!({ "recordings": listed })))
}

#[derive(Deserialize)]
pub struct FileQuery {
    #[serde(default)]
    download: Option<String>,
}

pub async fn file(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(file_id): Path<String>,
    Query(query): Query<FileQuery>,
    request: Request,
) -> ApiResult<Response> {
    let user = staff_caller(&state, request.headers()).await?;
    let (file, recording) = state
        .store
        .recording_file(&file_id)
        .await?
        .ok_or(ApiError::NotFound("recording file"))?;
    readable_dispute(&state, &user, &recording.dispute_id).await?;

    let root = state.config.recordings_dir();
    let path = root.join(&file.path);
    // The stored path is ours, but never serve anything outside the recordings directory.
    let inside = match (path.canonicalize(), root.canonicalize()) {
        (Ok(path), Ok(root)) => path.starts_with(root),
        _ => false,
    };
    if !inside {
        return Err(ApiError::NotFound("recording file"));
    }

    let download = query.download.is_some_and(|d| d != "0" && d != "false");
    let entry = AuditEntry {
        at: now_ms(),
        user_id: user.0.id.clone(),
        action: if download { "download" } else { "play" }.to_owned(),
        object_id: file.id.clone(),
        ip: peer.ip().to_string(),
    };
    state.store.record_audit(&new_id(), &entry).await?;

    let mime = match file.kind {
        FileKind::Manifest => "application/json",
        FileKind::Participant | FileKind::Composite => "video/webm",
    };
    let served = ServeFile::new_with_mime(
        &path,
        &mime.parse().map_err(|_| ApiError::NotFound("file"))?,
    )
    .oneshot(request)
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let mut response = served.map(Body::new);
    if download {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording".to_owned());
        // ASCII fallback plus the UTF-8 name (participant names are often Chinese).
        let ascii: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response.headers_mut().insert(CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}
