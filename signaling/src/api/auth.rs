use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::validate::{required, username};
use crate::auth::{clear_cookie, session_token, sign_in, CurrentUser};
use crate::client_address::ClientAddress;
use crate::error::{ApiError, ApiResult, Body};
use crate::ratelimit::address_key;
use crate::secrets::{now_ms, token_hash};
use crate::sign_outs::Ended;
use crate::state::AppState;
use crate::store::Credentials;

pub const SETUP_PURPOSE: &str = "setup";
pub const SIGN_IN_LINK_PURPOSE: &str = "sign-in";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
}

/// Failed sign-ins a client address may make per minute, and that may be made per minute
/// against one username (from anywhere): beyond them, 429 before any password is hashed.
pub const LOGIN_FAILURES_PER_ADDRESS: u32 = 10;
pub const LOGIN_FAILURES_PER_USERNAME: u32 = 5;

pub async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Body(login): Body<Login>,
) -> ApiResult<Response> {
    let now = Instant::now();
    let address = address_key(client);
    let username = login.username.trim().to_lowercase();
    if state.login_failures.is_blocked(&address, now)
        || state.username_failures.is_blocked(&username, now)
    {
        return Err(ApiError::RateLimited);
    }
    let verified = check_login(&state, login).await;
    if matches!(verified, Err(ApiError::Unauthenticated)) {
        state.login_failures.record_failure(&address, now);
        state.username_failures.record_failure(&username, now);
    }
    let credentials = verified?;
    let cookie = sign_in(&state, &credentials.user).await?;
    Ok((
        [(SET_COOKIE, cookie)],
        Json(json!({ "user": credentials.user })),
    )
        .into_response())
}

/// The account `login` names, if its password is right.
async fn check_login(state: &AppState, login: Login) -> ApiResult<Credentials> {
    let credentials = state.store.credentials(login.username.trim()).await?;
    let Some(credentials) = credentials else {
        // Same work and answer as a wrong password, so usernames cannot be probed.
        state.hashing.hash(login.password).await?;
        return Err(ApiError::Unauthenticated);
    };
    let Some(stored) = credentials.password_hash.clone() else {
        return Err(ApiError::Unauthenticated);
    };
    if !state.hashing.verify(login.password, stored).await? {
        return Err(ApiError::Unauthenticated);
    }
    // Said only to whoever knows the password.
    if credentials.user.disabled {
        return Err(ApiError::AccountDisabled);
    }
    Ok(credentials)
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = session_token(&headers) {
        let hash = token_hash(token);
        let user = state.store.user_for_auth_session(&hash, now_ms()).await?;
        state.store.delete_auth_session(&hash).await?;
        if let Some(user) = user {
            state.sign_outs.announce(&user.id, Ended::One(hash));
        }
    }
    Ok(([clear_cookie()], Json(json!({}))).into_response())
}

/// Ends every sign-in of the caller's account, this one included (a phone lost, a shared
/// computer left signed in), and closes the sockets they opened.
pub async fn logout_everywhere(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Response> {
    state
        .store
        .delete_auth_sessions_of(&user.0.id, None)
        .await?;
    state.sign_outs.announce(&user.0.id, Ended::All);
    Ok(([clear_cookie()], Json(json!({}))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password, given the current one (a wrong one counts as a failed
/// sign-in), and ends every other sign-in of the account: whoever knew the old password is
/// out.
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    user: CurrentUser,
    headers: HeaderMap,
    Body(change): Body<PasswordChange>,
) -> ApiResult<Json<Value>> {
    super::validate::password(&change.new_password)?;
    let now = Instant::now();
    let address = address_key(client);
    let username = user.0.username.to_lowercase();
    if state.login_failures.is_blocked(&address, now)
        || state.username_failures.is_blocked(&username, now)
    {
        return Err(ApiError::RateLimited);
    }
    let stored = state
        .store
        .credentials(&user.0.username)
        .await?
        .and_then(|c| c.password_hash);
    let right = match stored {
        Some(stored) => {
            state
                .hashing
                .verify(change.current_password, stored)
                .await?
        }
        None => false,
    };
    if !right {
        state.login_failures.record_failure(&address, now);
        state.username_failures.record_failure(&username, now);
        return Err(ApiError::WrongPassword);
    }
    let hash = state.hashing.hash(change.new_password).await?;
    state.store.set_password_hash(&user.0.id, &hash).await?;
    let this_one = session_token(&headers).map(token_hash);
    state
        .store
        .delete_auth_sessions_of(&user.0.id, this_one.as_deref())
        .await?;
    let ended = match this_one {
        Some(hash) => Ended::AllBut(hash),
        None => Ended::All,
    };
    state.sign_outs.announce(&user.0.id, ended);
    Ok(Json(json!({})))
}

pub async fn me(user: CurrentUser) -> Json<Value> {
    Json(json!({ "user": user.0 }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    token: String,
    username: String,
    display_name: String,
    password: String,
}

/// First start: the holder of the printed setup link names the administrator and sets its
/// password. The link works once.
pub async fn setup(State(state): State<AppState>, Body(setup): Body<Setup>) -> ApiResult<Response> {
    let username = username(&setup.username)?;
    let display_name = required("display_name", &setup.display_name, 100)?;
    super::validate::password(&setup.password)?;
    // The link is checked before the slow hash: a stranger without it costs us nothing.
    let setup_link = token_hash(&setup.token);
    let valid = state
        .store
        .one_time_token_valid(&setup_link, SETUP_PURPOSE, now_ms())
        .await?;
    if !valid {
        return Err(ApiError::NotFound(
            "setup link (it may have been used already)",
        ));
    }
    let hash = state.hashing.hash(setup.password).await?;
    let user_id = state
        .store
        .consume_one_time_token(&setup_link, SETUP_PURPOSE, now_ms())
        .await?
        .flatten()
        .ok_or(ApiError::NotFound(
            "setup link (it may have been used already)",
        ))?;
    state
        .store
        .set_user_profile(&user_id, &username, &display_name, &hash)
        .await?;
    let user = state
        .store
        .user(&user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let cookie = sign_in(&state, &user).await?;
    Ok(([(SET_COOKIE, cookie)], Json(json!({ "user": user }))).into_response())
}

/// Whether `next` can only lead to a path on this site. Browsers drop tabs and newlines from
/// URLs and read a backslash as `/`, so `/<tab>/evil.example` is `//evil.example`, another
/// site: any control character, whitespace or backslash is refused, as is a second leading
/// slash.
fn same_site_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
}

#[derive(Deserialize)]
pub struct NextPath {
    next: Option<String>,
}

/// A single-use sign-in link (the demo mediator's): sets the cookie and goes to `next`.
pub async fn sign_in_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<NextPath>,
) -> ApiResult<Response> {
    let user_id = state
        .store
        .consume_one_time_token(&token_hash(&token), SIGN_IN_LINK_PURPOSE, now_ms())
        .await?
        .flatten()
        .ok_or(ApiError::NotFound(
            "sign-in link (it may have been used already)",
        ))?;
    let user = state
        .store
        .user(&user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let cookie = sign_in(&state, &user).await?;
    // Only same-site paths: never an open redirect.
    let next = query
        .next
        .filter(|n| same_site_path(n))
        .unwrap_or_else(|| "/".to_owned());
    Ok((
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, cookie),
            (
                LOCATION,
                next.parse()
                    .map_err(|_| ApiError::BadRequest("bad next".into()))?,
            ),
        ],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::same_site_path;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for good in ["/", "/disputes/42", "/s/abc?x=1#top"] {
            assert!(same_site_path(good), "{good}");
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "evil.example",
            "/ /evil.example",
            "",
        ] {
            assert!(!same_site_path(bad), "{bad:?}");
        }
    }
}
