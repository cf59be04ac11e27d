use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::validate::{optional, phone, required};
use crate::auth::{may_manage, CurrentUser};
use crate::error::{ApiError, ApiResult, Body};
use crate::secrets::{new_id, now_ms};
use crate::state::AppState;
use crate::store::{
    AccountRole, Dispute, DisputeChanges, DisputeLevel, DisputeStatus, NewDispute, Party,
};

const MAX_PARTIES: usize = 20;

/// Mediators see their own disputes; staff and administrators see all.
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Value>> {
    let only = (user.0.role == AccountRole::Mediator).then_some(user.0.id.as_str());
    Ok(Json(
        json!({ "disputes": state.store.disputes(only).await? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDispute {
    case_number: String,
    title: String,
    category: String,
    #[serde(default = "default_level")]
    level: DisputeLevel,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parties: Vec<Party>,
}

fn default_level() -> DisputeLevel {
    DisputeLevel::Township
}

pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Body(body): Body<CreateDispute>,
) -> ApiResult<Json<Value>> {
    let mediator = user.require(AccountRole::can_host)?;
    if body.parties.len() > MAX_PARTIES {
        return Err(ApiError::Validation(format!(
            "at most {MAX_PARTIES} parties"
        )));
    }
    let parties = body
        .parties
        .iter()
        .map(|p| {
            Ok(Party {
                name: required("party name", &p.name, 100)?,
                phone: phone(&p.phone)?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let new = NewDispute {
        case_number: required("case_number", &body.case_number, 64)?,
        title: required("title", &body.title, 200)?,
        category: required("category", &body.category, 64)?,
        level: body.level,
        description: optional("description", &body.description, 4000)?,
        parties,
        mediator_id: mediator.id.clone(),
    };
    let dispute = state
        .store
        .create_dispute(&new_id(), &new, now_ms())
        .await?;
    Ok(Json(json!({ "dispute": dispute })))
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let dispute = readable_dispute(&state, &user, &id).await?;
    let sessions = state.store.sessions_of_dispute(&id).await?;
    Ok(Json(json!({ "dispute": dispute, "sessions": sessions })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateDispute {
    title: Option<String>,
    category: Option<String>,
    level: Option<DisputeLevel>,
    status: Option<DisputeStatus>,
    description: Option<String>,
    outcome: Option<String>,
    record_by_default: Option<bool>,
}

pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(body): Body<UpdateDispute>,
) -> ApiResult<Json<Value>> {
    managed_dispute(&state, &user, &id).await?;
    let changes = DisputeChanges {
        title: body.title.map(|t| required("title", &t, 200)).transpose()?,
        category: body
            .category
            .map(|c| required("category", &c, 64))
            .transpose()?,
        level: body.level,
        status: body.status,
        description: body
            .description
            .map(|d| optional("description", &d, 4000))
            .transpose()?,
        outcome: body
            .outcome
            .map(|o| optional("outcome", &o, 4000))
            .transpose()?,
        record_by_default: body.record_by_default,
    };
    let dispute = state
        .store
        .update_dispute(&id, &changes, now_ms())
        .await?
        .ok_or(ApiError::NotFound("dispute"))?;
    Ok(Json(json!({ "dispute": dispute })))
}

/// A dispute the caller may read: staff and admins any, a mediator their own.
pub async fn readable_dispute(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
) -> ApiResult<Dispute> {
    let dispute = state
        .store
        .dispute(id)
        .await?
        .ok_or(ApiError::NotFound("dispute"))?;
    let readable = match user.0.role {
        AccountRole::Admin | AccountRole::Staff => true,
        AccountRole::Mediator => dispute.mediator_id == user.0.id,
    };
    if readable {
        Ok(dispute)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// A dispute the caller may change and host sessions for.
pub async fn managed_dispute(state: &AppState, user: &CurrentUser, id: &str) -> ApiResult<Dispute> {
    let dispute = state
        .store
        .dispute(id)
        .await?
        .ok_or(ApiError::NotFound("dispute"))?;
    if may_manage(&user.0, &dispute.mediator_id) {
        Ok(dispute)
    } else {
        Err(ApiError::Forbidden)
    }
}
