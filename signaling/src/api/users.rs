use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::validate::{password, required, username};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Body};
use crate::secrets::{new_id, now_ms};
use crate::sign_outs::Ended;
use crate::state::AppState;
use crate::store::AccountRole;

pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Value>> {
    user.require(|r| r == AccountRole::Admin)?;
    Ok(Json(json!({ "users": state.store.users().await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    display_name: String,
    password: String,
    role: AccountRole,
}

pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Body(new): Body<NewUser>,
) -> ApiResult<Json<Value>> {
    user.require(|r| r == AccountRole::Admin)?;
    let name = username(&new.username)?;
    let display_name = required("display_name", &new.display_name, 100)?;
    password(&new.password)?;
    let hash = state.hashing.hash(new.password).await?;
    let created = state
        .store
        .create_user(
            &new_id(),
            &name,
            &display_name,
            new.role,
            Some(&hash),
            now_ms(),
        )
        .await?;
    Ok(Json(json!({ "user": created })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    disabled: bool,
}

/// Disables an account (it cannot sign in; its sign-ins end and the sockets they opened close)
/// or enables it again. Administrators only, and never their own account: the last
/// administrator could otherwise lock everyone out.
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Body(change): Body<AccountChange>,
) -> ApiResult<Json<Value>> {
    let admin = user.require(|r| r == AccountRole::Admin)?;
    if admin.id == id {
        return Err(ApiError::Conflict(
            "Administrators cannot disable their own account.".into(),
        ));
    }
    let disabled_at = change.disabled.then(now_ms);
    if !state.store.set_user_disabled(&id, disabled_at).await? {
        return Err(ApiError::NotFound("user"));
    }
    if change.disabled {
        state.store.delete_auth_sessions_of(&id, None).await?;
        state.sign_outs.announce(&id, Ended::All);
    }
    let updated = state
        .store
        .user(&id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(Json(json!({ "user": updated })))
}
