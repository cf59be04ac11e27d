//! The expert roster and bringing an expert into a live session: the mediator picks one from
//! the room and gets a link to send them; the room asks the parties (`ws/experts.rs`).

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::disputes::managed_dispute;
use super::sessions::{create_link, find, validity};
use super::validate::{optional, phone, required};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Body};
use crate::secrets::{new_id, now_ms};
use crate::state::AppState;
use crate::store::{
    AccountRole, Expert, ExpertInvitation, ExpertScope, InviteeRole, SessionEvent,
    SessionEventKind, SessionStatus,
};

#[derive(Deserialize)]
pub struct RosterQuery {
    specialty: Option<String>,
}

/// The roster, of one specialty or all. Every account may read it (a clerk prepares the
/// session too); the experts' phone numbers are for staff.
pub async fn list(
    State(state): State<AppState>,
    _user: CurrentUser,
    Query(query): Query<RosterQuery>,
) -> ApiResult<Json<Value>> {
    let specialty = query.specialty.as_deref().map(str::trim);
    let experts = state
        .store
        .experts(specialty.filter(|s| !s.is_empty()))
        .await?;
    Ok(Json(json!({ "experts": experts })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExpert {
    name: String,
    specialty: String,
    center: String,
    #[serde(default)]
    phone: String,
}

/// Adds an expert to the roster (administrators and mediators).
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Body(new): Body<NewExpert>,
) -> ApiResult<Json<Value>> {
    user.require(|r| matches!(r, AccountRole::Admin | AccountRole::Mediator))?;
    let expert = Expert {
        id: new_id(),
        name: required("name", &new.name, 100)?,
        specialty: required("specialty", &new.specialty, 40)?,
        center: optional("center", &new.center, 100)?,
        phone: phone(&new.phone)?,
        created_at: now_ms(),
    };
    state.store.create_expert(&expert).await?;
    Ok(Json(json!({ "expert": expert })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteExpert {
    expert_id: String,
    scope: ExpertScope,
    expires_in_minutes: Option<u64>,
}

/// The mediator invites an expert from the roster into a session: a link to send them. The
/// parties in the room are asked whether they accept; the expert comes in once they have.
pub async fn invite(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(session_id): Path<String>,
    Body(body): Body<InviteExpert>,
) -> ApiResult<Json<Value>> {
    let session = find(&state, &session_id).await?;
    managed_dispute(&state, &user, &session.dispute_id).await?;
    if session.status == SessionStatus::Ended {
        return Err(ApiError::SessionEnded);
    }
    let expert = state
        .store
        .expert(&body.expert_id)
        .await?
        .ok_or(ApiError::NotFound("expert"))?;
    let seconds = validity(&state, None, body.expires_in_minutes)?;
    let (invitation, token, url) = create_link(
        &state,
        session_id.clone(),
        InviteeRole::Expert,
        expert.name.clone(),
        expert.phone.clone(),
        seconds,
    )
    .await?;
    let expert_invitation = ExpertInvitation {
        invitation_id: invitation.id.clone(),
        session_id: session_id.clone(),
        expert,
        scope: body.scope,
        invited_by: user.0.display_name.clone(),
        created_at: invitation.created_at,
    };
    state
        .store
        .add_expert_invitation(&expert_invitation)
        .await?;
    let detail = json!({
        "invitation_id": expert_invitation.invitation_id,
        "expert": expert_invitation.expert.name,
        "specialty": expert_invitation.expert.specialty,
        "center": expert_invitation.expert.center,
        "scope": expert_invitation.scope,
    });
    let event = SessionEvent {
        at: invitation.created_at,
        kind: SessionEventKind::ExpertInvited,
        actor: user.0.display_name.clone(),
        detail: detail.to_string(),
    };
    state
        .store
        .record_session_event(&new_id(), &session_id, &event)
        .await?;
    state
        .hub
        .expert_invited(&session_id, expert_invitation.clone())
        .await;
    Ok(Json(json!({
        "invitation": invitation,
        "token": token,
        "url": url,
        "expert_invitation": expert_invitation,
    })))
}
