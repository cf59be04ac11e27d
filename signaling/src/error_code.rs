//! The stable error codes clients see: in a REST error's JSON and in a signaling `error`
//! message. One list, so a code means the same on both and the web client's texts for them
//! (`web/assets/i18n.js`, `err.<code>`) have one source to follow.

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    ValidationFailed,
    Unauthenticated,
    Forbidden,
    CrossOrigin,
    AccountDisabled,
    NotFound,
    Conflict,
    InvitationUnknown,
    InvitationExpired,
    InvitationRevoked,
    SessionEnded,
    PayloadTooLarge,
    RateLimited,
    Busy,
    Internal,
    // Signaling only.
    BadMessage,
    MessageTooLarge,
    NotJoined,
    AlreadyJoined,
    NotAdmitted,
    JoinTimeout,
    ResumeRefused,
    SignedOut,
    SessionNotFound,
    BadSdp,
    TooManyCandidates,
    MediaFailed,
    RecordingFailed,
    JoinedElsewhere,
    ServerStopping,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 31] = [
        ErrorCode::BadRequest,
        ErrorCode::ValidationFailed,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::CrossOrigin,
        ErrorCode::AccountDisabled,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::InvitationUnknown,
        ErrorCode::InvitationExpired,
        ErrorCode::InvitationRevoked,
        ErrorCode::SessionEnded,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Busy,
        ErrorCode::Internal,
        ErrorCode::BadMessage,
        ErrorCode::MessageTooLarge,
        ErrorCode::NotJoined,
        ErrorCode::AlreadyJoined,
        ErrorCode::NotAdmitted,
        ErrorCode::JoinTimeout,
        ErrorCode::ResumeRefused,
        ErrorCode::SignedOut,
        ErrorCode::SessionNotFound,
        ErrorCode::BadSdp,
        ErrorCode::TooManyCandidates,
        ErrorCode::MediaFailed,
        ErrorCode::RecordingFailed,
        ErrorCode::JoinedElsewhere,
        ErrorCode::ServerStopping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CrossOrigin => "cross_origin",
            ErrorCode::AccountDisabled => "account_disabled",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvitationUnknown => "invitation_unknown",
            ErrorCode::InvitationExpired => "invitation_expired",
            ErrorCode::InvitationRevoked => "invitation_revoked",
            ErrorCode::SessionEnded => "session_ended",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::NotAdmitted => "not_admitted",
            ErrorCode::JoinTimeout => "join_timeout",
            ErrorCode::ResumeRefused => "resume_refused",
            ErrorCode::SignedOut => "signed_out",
            ErrorCode::SessionNotFound => "session_not_found",
            ErrorCode::BadSdp => "bad_sdp",
            ErrorCode::TooManyCandidates => "too_many_candidates",
            ErrorCode::MediaFailed => "media_failed",
            ErrorCode::RecordingFailed => "recording_failed",
            ErrorCode::JoinedElsewhere => "joined_elsewhere",
            ErrorCode::ServerStopping => "server_stopping",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// The web client says each code in both its languages (`err.<code>`), so nobody reads a
    /// bare "something went wrong" for a known refusal.
    #[test]
    fn every_code_has_the_web_clients_words() {
        let texts = include_str!("../../web/assets/i18n.js");
        for code in ErrorCode::ALL {
            assert!(
                texts.contains(&format!("'err.{}'", code.as_str())),
                "web/assets/i18n.js has no err.{code}"
            );
        }
    }

    #[test]
    fn codes_are_distinct() {
        let mut seen: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }
}
