//! Passwords (argon2), the sign-in cookie, and the extractor that names the caller.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::secrets::{new_token, now_ms, token_hash};
use crate::state::AppState;
use crate::store::{AccountRole, User};

pub const COOKIE_NAME: &str = "concord_session";

/// Password hashes computed at once, at most, per server. Each takes about 19 MiB and a core
/// for a while: a few hundred logins at once would exhaust memory and starve live sessions.
/// Beyond this the caller gets [`ApiError::Busy`] (429) at once instead of a place in a queue.
const HASHES_AT_ONCE: usize = 4;

/// The server's password hashing, bounded (see [`HASHES_AT_ONCE`]). Cheap to clone.
#[derive(Clone)]
pub struct Hashing {
    slots: Arc<Semaphore>,
}

impl Default for Hashing {
    fn default() -> Self {
        Hashing {
            slots: Arc::new(Semaphore::new(HASHES_AT_ONCE)),
        }
    }
}

impl Hashing {
    fn slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy)
    }

    /// Hashing is deliberately slow; keep it off the async workers.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let slot = self.slot()?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2: {e}")))
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
    }

    /// Whether `password` matches `stored`.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, ApiError> {
        let slot = self.slot()?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            PasswordHash::new(&stored)
                .map(|hash| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &hash)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))
    }
}

/// Starts a signed-in session and returns the `Set-Cookie` header for it.
pub async fn sign_in(state: &AppState, user: &User) -> Result<HeaderValue, ApiError> {
    let token = new_token();
    let now = now_ms();
    let lifetime_ms =
        i64::try_from(state.config.signaling.sign_in_hours * 3_600_000).unwrap_or(i64::MAX);
    state
        .store
        .create_auth_session(&token_hash(&token), &user.id, now, now + lifetime_ms)
        .await?;
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        lifetime_ms / 1000
    );
    HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.into()))
}

pub fn clear_cookie() -> (axum::http::HeaderName, HeaderValue) {
    (
        SET_COOKIE,
        HeaderValue::from_static("concord_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    )
}

pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The token of an `Authorization: Bearer` header (an invitee's link token), if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The account a request's cookie signs in, if any.
pub async fn user_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<User>, ApiError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    Ok(state
        .store
        .user_for_auth_session(&token_hash(token), now_ms())
        .await?)
}

/// A signed-in account; rejects with 401 otherwise.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        user_from_headers(state, &parts.headers)
            .await?
            .map(CurrentUser)
            .ok_or(ApiError::Unauthenticated)
    }
}

impl CurrentUser {
    pub fn require(&self, allowed: impl Fn(AccountRole) -> bool) -> Result<&User, ApiError> {
        if allowed(self.0.role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// May this account change (and host sessions of) a dispute mediated by `mediator_id`?
pub fn may_manage(user: &User, mediator_id: &str) -> bool {
    user.role == AccountRole::Admin
        || (user.role == AccountRole::Mediator && user.id == mediator_id)
}
