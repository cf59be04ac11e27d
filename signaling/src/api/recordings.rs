//! Recordings on the dispute's page: listed and served to authorized staff only, every play
//! and download written to the audit log. Invitees never get them, whatever they present.
//! Each file is served with the media type of its container, read from its filed name:
//! `.webm` (VP8) as `video/webm`, `.mkv` (H.264) as `video/x-matroska`.

use std::net::IpAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::CONTENT_DISPOSITION;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::disputes::readable_dispute;
use crate::auth::{bearer_token, session_token, user_from_headers, CurrentUser};
use crate::client_address::ClientAddress;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::address_key;
use crate::secrets::{new_id, now_ms, token_hash};
use crate::state::AppState;
use crate::store::{AuditEntry, FileKind, RecordingFile};

/// How a file is served: its `Content-Type`, and the codecs inside (RFC 6381 names) so that a
/// page can ask its browser whether it can play the file before trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MediaType {
    content_type: &'static str,
    codecs: Option<&'static str>,
}

/// The media type of a filed file, from its kind and its name's extension (the recorder names
/// each file by its container: WebM holds VP8, Matroska holds H.264 since WebM cannot; both
/// carry Opus; the composite is VP8 and Opus in WebM).
fn media_type(file: &RecordingFile) -> MediaType {
    let extension = std::path::Path::new(&file.path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match (file.kind, extension.as_deref()) {
        (FileKind::Manifest, _) | (_, Some("json")) => MediaType {
            content_type: "application/json",
            codecs: None,
        },
        (_, Some("mkv")) => MediaType {
            content_type: "video/x-matroska",
            codecs: Some("avc1.42E01E, opus"),
        },
        (_, Some("webm")) => MediaType {
            content_type: "video/webm",
            codecs: Some("vp8, opus"),
        },
        _ => MediaType {
            content_type: "application/octet-stream",
            codecs: None,
        },
    }
}

/// The caller as an account, refusing invitees with 403 (they are known, and not allowed) and
/// everyone else without an account with 401. A token that is neither a sign-in nor an
/// invitation is a guess: it counts against the caller's address like a bad invitation link,
/// and a caller with too many is refused before any look-up.
async fn staff_caller(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
) -> ApiResult<CurrentUser> {
    let now = Instant::now();
    let address = address_key(client);
    let bearer = bearer_token(headers);
    let presented = bearer.is_some() || session_token(headers).is_some();
    if presented && state.token_failures.is_blocked(&address, now) {
        return Err(ApiError::RateLimited);
    }
    if let Some(user) = user_from_headers(state, headers).await? {
        return Ok(CurrentUser(user));
    }
    if let Some(token) = bearer {
        if state
            .store
            .invitation_by_token_hash(&token_hash(token))
            .await?
            .is_some()
        {
            return Err(ApiError::Forbidden);
        }
    }
    if presented {
        state.token_failures.record_failure(&address, now);
    }
    Err(ApiError::Unauthenticated)
}

pub async fn list(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    Path(dispute_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = staff_caller(&state, &headers, client).await?;
    readable_dispute(&state, &user, &dispute_id).await?;
    let recordings = state.store.recordings_of_dispute(&dispute_id).await?;
    let mut listed = Vec::with_capacity(recordings.len());
    for recording in recordings {
        let mut value =
            serde_json::to_value(&recording).map_err(|e| ApiError::Internal(e.into()))?;
        for (index, file) in recording.files.iter().enumerate() {
            let media = media_type(file);
            value["files"][index]["content_type"] = json!(media.content_type);
            value["files"][index]["codecs"] = json!(media.codecs);
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
    ClientAddress(client): ClientAddress,
    Path(file_id): Path<String>,
    Query(query): Query<FileQuery>,
    request: Request,
) -> ApiResult<Response> {
    let user = staff_caller(&state, request.headers(), client).await?;
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
        ip: client.to_string(),
    };
    state.store.record_audit(&new_id(), &entry).await?;

    let content_type = media_type(&file).content_type;
    let mime = content_type
        .parse()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("{content_type} is not a media type")))?;
    let served = ServeFile::new_with_mime(&path, &mime)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileStatus;

    fn file(kind: FileKind, path: &str) -> RecordingFile {
        RecordingFile {
            id: "f".to_owned(),
            recording_id: "r".to_owned(),
            kind,
            participant_name: String::new(),
            participant_role: String::new(),
            path: path.to_owned(),
            status: FileStatus::Complete,
            sha256: None,
            size_bytes: None,
            duration_ms: None,
            started_at: 0,
            ended_at: None,
        }
    }

    #[test]
    fn files_are_served_as_their_container() {
        let served = |kind, path| media_type(&file(kind, path)).content_type;
        assert_eq!(
            served(FileKind::Participant, "r/party-张-abc.mkv"),
            "video/x-matroska"
        );
        assert_eq!(
            served(FileKind::Participant, "r/party-x.MKV"),
            "video/x-matroska"
        );
        assert_eq!(
            served(FileKind::Participant, "r/party-x.webm"),
            "video/webm"
        );
        assert_eq!(
            served(FileKind::Composite, "r/composite.webm"),
            "video/webm"
        );
        assert_eq!(
            served(FileKind::Manifest, "r/manifest.json"),
            "application/json"
        );
        assert_eq!(
            served(FileKind::Participant, "r/odd"),
            "application/octet-stream"
        );
        assert_eq!(
            media_type(&file(FileKind::Participant, "r/a.mkv")).codecs,
            Some("avc1.42E01E, opus")
        );
    }
}
