//! Invitations over REST: what a link shows before the device check, and revoking one.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{may_manage, CurrentUser};
use crate::client_address::ClientAddress;
use crate::error::{ApiError, ApiResult};
use crate::invitation_tokens::check_token;
use crate::secrets::now_ms;
use crate::state::AppState;

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
