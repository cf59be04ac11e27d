//! The SFU's counters, for operators and benchmarks (admins only).

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::AccountRole;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Start every room's counters again after reading them (to measure a window).
    #[serde(default)]
    reset: bool,
}

pub async fn stats(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<StatsQuery>,
) -> ApiResult<Json<Value>> {
    user.require(|r| r == AccountRole::Admin)?;
    let rooms = state.hub.media_stats(query.reset).await;
    Ok(Json(json!({ "rooms": rooms })))
}
