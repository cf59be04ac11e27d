use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::disputes::{managed_dispute, readable_dispute};
use super::validate::{phone, required};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Body};
use crate::secrets::{new_id, new_token, now_ms, token_hash};
use crate::state::AppState;
use crate::store::{Invitation, InviteeRole, NewInvitation, Session, SessionStatus};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    scheduled_at: Option<i64>,
    #[serde(default = "lobby_on")]
    lobby_enabled: bool,
}

fn lobby_on() -> bool {
    true
}

pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(dispute_id): Path<String>,
    Body(body): Body<CreateSession>,
) -> ApiResult<Json<Value>> {
    managed_dispute(&state, &user, &dispute_id).await?;
    let session = state
        .store
        .create_session(
            &new_id(),
            &dispute_id,
            body.lobby_enabled,
            body.scheduled_at,
            now_ms(),
        )
        .await?;
    Ok(Json(json!({ "session": session })))
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session = find(&state, &id).await?;
    let dispute = readable_dispute(&state, &user, &session.dispute_id).await?;
    let invitations = state.store.invitations_of_session(&id).await?;
    let events = state.store.session_events(&id).await?;
    // The record as last typed; what was presented and each answer are among the events.
    let record_draft = state.store.record_draft(&id).await?;
    let documents = state.store.documents_of_session(&id).await?;
    Ok(Json(json!({
        "session": session,
        "dispute": dispute,
        "invitations": invitations,
        "events": events,
        "record_draft": record_draft,
        "documents": documents,
    })))
}

pub async fn end(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session = find(&state, &id).await?;
    managed_dispute(&state, &user, &session.dispute_id).await?;
    state.hub.end_session(&id, &user.0.display_name).await?;
    let session = find(&state, &id).await?;
    Ok(Json(json!({ "session": session })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    role: InviteeRole,
    name: String,
    #[serde(default)]
    phone: String,
    expires_in_minutes: Option<u64>,
    /// Finer-grained validity, mainly so tests can watch a link expire.
    expires_in_seconds: Option<u64>,
}

pub async fn invite(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(session_id): Path<String>,
    Body(body): Body<CreateInvitation>,
) -> ApiResult<Json<Value>> {
    let session = find(&state, &session_id).await?;
    managed_dispute(&state, &user, &session.dispute_id).await?;
    if session.status == SessionStatus::Ended {
        return Err(ApiError::SessionEnded);
    }
    let seconds = validity(&state, body.expires_in_seconds, body.expires_in_minutes)?;
    let name = required("name", &body.name, 100)?;
    let phone = phone(&body.phone)?;
    let (invitation, token, url) =
        create_link(&state, session_id, body.role, name, phone, seconds).await?;
    Ok(Json(
        json!({ "invitation": invitation, "token": token, "url": url }),
    ))
}

/// How long a new link is valid, in seconds: as asked (within the configured bounds) or the
/// default.
pub(super) fn validity(
    state: &AppState,
    seconds: Option<u64>,
    minutes: Option<u64>,
) -> ApiResult<u64> {
    let limits = &state.config.invitations;
    let seconds = match (seconds, minutes) {
        (Some(s), _) => s,
        (None, Some(m)) => m.saturating_mul(60),
        (None, None) => limits.default_ttl_minutes * 60,
    };
    if seconds == 0 || seconds > limits.max_ttl_minutes * 60 {
        return Err(ApiError::Validation(format!(
            "validity must be between 1 second and {} minutes",
            limits.max_ttl_minutes
        )));
    }
    Ok(seconds)
}

/// A new invitation link: the invitation filed (only the token's hash), the token, its URL.
pub(super) async fn create_link(
    state: &AppState,
    session_id: String,
    role: InviteeRole,
    name: String,
    phone: String,
    seconds: u64,
) -> ApiResult<(Invitation, String, String)> {
    let token = new_token();
    let now = now_ms();
    let new = NewInvitation {
        session_id,
        token_hash: token_hash(&token),
        role,
        name,
        phone,
        expires_at: now.saturating_add(i64::try_from(seconds * 1000).unwrap_or(i64::MAX)),
    };
    let invitation = state.store.create_invitation(&new_id(), &new, now).await?;
    let url = format!("{}/j/{token}", state.public_url);
    Ok((invitation, token, url))
}

pub(super) async fn find(state: &AppState, id: &str) -> ApiResult<Session> {
    state
        .store
        .session(id)
        .await?
        .ok_or(ApiError::NotFound("session"))
}
