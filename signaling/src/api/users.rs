use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiResult, Body};
use super::validate::{password, required, username};
use crate::auth::CurrentUser;
use crate::secrets::{new_id, now_ms};
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
