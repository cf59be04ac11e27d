//! Checking an invitation token: shared by the REST inspect call and the signaling `join`.

use std::net::IpAddr;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use crate::auth::{may_manage, CurrentUser};
use crate::client_address::ClientAddress;
use crate::ratelimit::address_key;
use crate::secrets::{now_ms, token_hash};
use crate::state::AppState;
use crate::store::{Dispute, Invitation, Session, SessionStatus};

/// A token that names a usable invitation, with what it opens.
pub struct ValidInvitation {
    pub invitation: Invitation,
    pub session: Session,
    pub dispute: Dispute,
}

/// Looks a token up, refusing unknown, expired, revoked and ended ones; failures count against
/// the caller's address and a caller with too many is refused before any look-up.
pub async fn check_token(state: &AppState, token: &str, ip: IpAddr) -> ApiResult<ValidInvitation> {
    let started = Instant::now();
    let ip = address_key(ip);
    if state.token_failures.is_blocked(&ip, started) {
        return Err(ApiError::RateLimited);
    }
    let result = lookup(state, token).await;
    if matches!(
        result,
        Err(ApiError::InvitationUnknown
            | ApiError::InvitationExpired
            | ApiError::InvitationRevoked)
    ) {
        state.token_failures.record_failure(&ip, started);
    }
    result
}

async fn lookup(state: &AppState, token: &str) -> ApiResult<ValidInvitation> {
    if token.len() > 128 {
        return Err(ApiError::InvitationUnknown);
    }
    let invitation = state
        .store
        .invitation_by_token_hash(&token_hash(token))
        .await?
        .ok_or(ApiError::InvitationUnknown)?;
    if invitation.revoked_at.is_some() {
        return Err(ApiError::InvitationRevoked);
    }
    if invitation.expires_at <= now_ms() {
        return Err(ApiError::InvitationExpired);
    }
    let session = state
        .store
        .session(&invitation.session_id)
        .await?
        .ok_or(ApiError::InvitationUnknown)?;
    if session.status == SessionStatus::Ended {
        return Err(ApiError::SessionEnded);
    }
    let dispute = state
        .store
        .dispute(&session.dispute_id)
        .await?
        .ok_or(ApiError::InvitationUnknown)?;
    Ok(ValidInvitation {
        invitation,
        session,
        dispute,
    })
}

#[derive(Deserialize)]
pub struct InspectQuery {
    token: String,
}

/// What the invitee's page shows before the device check. Deliberately little: no phone
/// numbers, no other parties.
pub async fn inspect(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Query(query): Query<InspectQuery>,
) -> ApiResult<Json<Value>> {
    let valid = check_token(&state, &query.token, client).await?;
    Ok(Json(json!({
        "role": valid.invitation.role,
        "name": valid.invitation.name,
        "expires_at": valid.invitation.expires_at,
        "session": {
            "id": valid.session.id,
            "status": valid.session.status,
            "lobby_enabled": valid.session.lobby_enabled,
        },
        "dispute": {
            "case_number": valid.dispute.case_number,
            "title": valid.dispute.title,
        },
    })))
}

pub async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let invitation = state
        .store
        .invitation(&id)
        .await?
        .ok_or(ApiError::NotFound("invitation"))?;
    let session = state
        .store
        .session(&invitation.session_id)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    let dispute = state
        .store
        .dispute(&session.dispute_id)
        .await?
        .ok_or(ApiError::NotFound("dispute"))?;
    if !may_manage(&user.0, &dispute.mediator_id) {
        return Err(ApiError::Forbidden);
    }
    let invitation = state
        .store
        .revoke_invitation(&id, now_ms())
        .await?
        .ok_or(ApiError::NotFound("invitation"))?;
    // Whoever is in the room on this link is removed at once.
    state
        .hub
        .invitation_revoked(&invitation.session_id, &invitation.id)
        .await;
    Ok(Json(json!({ "invitation": invitation })))
}
