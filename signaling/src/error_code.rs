//! The stable error codes clients see: in a REST error's JSON and in a signaling `error`
//! message. One list, so a code means the same on both and the web client's texts for them
//! (`web/assets/i18n.js`, `err.<code>`) have one source to follow.

use crate::text_enum::text_enum;

text_enum!(
    ErrorCode {
        BadRequest => "bad_request",
        ValidationFailed => "validation_failed",
        Unauthenticated => "unauthenticated",
        Forbidden => "forbidden",
        CrossOrigin => "cross_origin",
        AccountDisabled => "account_disabled",
        WrongPassword => "wrong_password",
        NotFound => "not_found",
        Conflict => "conflict",
        InvitationUnknown => "invitation_unknown",
        InvitationExpired => "invitation_expired",
        InvitationRevoked => "invitation_revoked",
        SessionEnded => "session_ended",
        PayloadTooLarge => "payload_too_large",
        UnsupportedMediaType => "unsupported_media_type",
        RateLimited => "rate_limited",
        Busy => "busy",
        Internal => "internal",
        // Signaling only.
        BadMessage => "bad_message",
        MessageTooLarge => "message_too_large",
        NotJoined => "not_joined",
        AlreadyJoined => "already_joined",
        NotAdmitted => "not_admitted",
        JoinTimeout => "join_timeout",
        ResumeRefused => "resume_refused",
        SignedOut => "signed_out",
        SessionNotFound => "session_not_found",
        BadSdp => "bad_sdp",
        TooManyCandidates => "too_many_candidates",
        MediaFailed => "media_failed",
        RecordingFailed => "recording_failed",
        JoinedElsewhere => "joined_elsewhere",
        ServerStopping => "server_stopping",
    }
);

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
