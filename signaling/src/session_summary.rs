//! The session summary: a session and its dispute as a participant is told them (in `lobby` and
//! `joined`) and as a recording is filed under them, made from their records in one place.

use serde::Serialize;

use crate::store::{Dispute, Session};

#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub id: String,
    pub dispute_id: String,
    pub case_number: String,
    pub title: String,
    pub lobby_enabled: bool,
    pub record_by_default: bool,
}

impl SessionInfo {
    /// The summary of `session`, held under `dispute`.
    pub fn of(session: &Session, dispute: &Dispute) -> SessionInfo {
        SessionInfo {
            id: session.id.clone(),
            dispute_id: dispute.id.clone(),
            case_number: dispute.case_number.clone(),
            title: dispute.title.clone(),
            lobby_enabled: session.lobby_enabled,
            record_by_default: dispute.record_by_default,
        }
    }
}
