//! Checking an invitation token, for the REST `inspect` call and the signaling `join` alike:
//! unknown, expired, revoked and ended ones are refused, and every failure counts against the
//! caller's address, which is refused before any look-up once it has too many.

use std::net::IpAddr;
use std::time::Instant;

use crate::error::{ApiError, ApiResult};
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
