//! The signaling messages, exactly as `docs/protocol.md` writes them down.

pub use super::attestations::{Attestation, IdentityMethod};
pub use super::chat::ChatMessage;
pub use super::experts::ExpertInvitationView;
pub use super::mediation_record::{PresentedRecord, RecordAnswer, RecordDraft, RecordView};
use crate::error_code::ErrorCode;
pub use crate::session_summary::SessionInfo;
pub use crate::store::ParticipantRole;
use serde::{Deserialize, Serialize};

/// Largest text message a client may send (an SDP offer with many codecs is ~10 KiB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Takes back a seat held after the connection dropped, with the `resume_token` of the
    /// last `joined`: no lobby, and the others see no one leave.
    Resume {
        token: String,
    },
    Join {
        token: Option<String>,
        session_id: Option<String>,
        #[allow(dead_code)]
        display_name: Option<String>,
    },
    /// With `screen_mid`: the video on that mid is a shared screen (mediator, clerk and
    /// expert only), sent to everyone as its own stream.
    Offer {
        sdp: String,
        #[serde(default)]
        screen_mid: Option<String>,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: Option<String>,
    },
    Mute {
        audio_muted: bool,
        video_muted: bool,
    },
    View {
        tiles: Vec<TileSize>,
    },
    AudioOnly {
        enabled: bool,
    },
    Admit {
        participant_id: String,
    },
    Refuse {
        participant_id: String,
    },
    Kick {
        participant_id: String,
    },
    EndSession,
    StartRecording,
    StopRecording,
    RecordingConsent {
        consent: bool,
    },
    /// A chat message to everyone, or with `to` privately to one participant (a party or an
    /// expert may write privately only to the mediator).
    Chat {
        text: String,
        #[serde(default)]
        to: Option<String>,
    },
    /// The host has confirmed who `participant_id` is, by `method` (with a `note` for
    /// `other`).
    ConfirmIdentity {
        participant_id: String,
        method: IdentityMethod,
        #[serde(default)]
        note: String,
    },
    /// A party has read the notice of their rights (`version`, as `joined` named it).
    AcknowledgeNotice {
        version: String,
    },
    /// The host talks in private with `participant_ids` (背对背): only they and the host see
    /// and hear each other until `end_caucus`. With `record`, those in it are asked whether
    /// it may be recorded; it is not unless every one of them agrees.
    StartCaucus {
        participant_ids: Vec<String>,
        #[serde(default)]
        record: bool,
    },
    EndCaucus,
    /// A caucus member's answer to recording the caucus.
    CaucusConsent {
        consent: bool,
    },
    /// The mediator or a clerk saves the record (笔录) as typed, an edit of `version`.
    RecordDraft {
        text: String,
        version: i64,
    },
    /// The host puts the record as it stands to the parties and experts.
    PresentRecord,
    /// The host lets parties share photos and documents, or stops them.
    SetDocumentSharing {
        parties_may_share: bool,
    },
    /// A party or expert confirms the presented record (`sha256`) or, with `agrees` false,
    /// says what they disagree with.
    AnswerRecord {
        sha256: String,
        agrees: bool,
        #[serde(default)]
        disagreement: String,
    },
    /// A party accepts (or declines) the expert invited on `invitation_id` joining.
    AnswerExpert {
        invitation_id: String,
        accept: bool,
    },
    /// This member starts or stops showing their screen (its video goes with an `offer`'s
    /// `screen_mid`).
    ShareScreen {
        sharing: bool,
    },
    Leave,
    Ping,
    Pong,
}

/// Most tiles one `view` may describe.
pub const MAX_VIEW_TILES: usize = 64;

/// How large a client shows one participant's video, in device pixels.
#[derive(Debug, Deserialize)]
pub struct TileSize {
    pub participant_id: String,
    pub width: u32,
    pub height: u32,
}

/// One participant's connection quality in a `quality` message. The details are sent to the
/// participant themself and to the host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QualityEntry {
    pub participant_id: String,
    pub level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_pct: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downlink_kbps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub videos_paused: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_switches: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    Off,
    /// Everyone has been told; recording starts after the notice period.
    Notice,
    On,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParticipantInfo {
    pub id: String,
    pub name: String,
    pub role: ParticipantRole,
    pub is_host: bool,
    pub audio_muted: bool,
    pub video_muted: bool,
    /// An expert advising the mediator only: the hosts see and hear them, nobody else.
    pub hosts_only: bool,
}

/// A caucus as every member of the room is told of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaucusInfo {
    pub active: bool,
    /// Everyone in it, the host among them.
    pub members: Vec<String>,
    /// The host asked whether it may be recorded.
    pub record_requested: bool,
    /// Everyone in it agreed: it is recorded (while recording is on).
    pub recorded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    Kicked,
    Disconnected,
    Refused,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Lobby {
        participant_id: String,
        session: SessionInfo,
        /// What the wait is for: `parties_consent` for an expert the parties are being asked
        /// about; absent while the host decides.
        #[serde(skip_serializing_if = "Option::is_none")]
        waiting_for: Option<&'static str>,
    },
    Joined {
        participant_id: String,
        role: ParticipantRole,
        is_host: bool,
        session: Box<SessionInfo>,
        participants: Vec<ParticipantInfo>,
        lobby: Vec<ParticipantInfo>,
        recording: RecordingState,
        /// Publish the camera as simulcast layers (else one stream).
        simulcast: bool,
        /// TURN servers with this participant's short-lived credentials (empty without TURN).
        ice_servers: Vec<crate::turn::IceServer>,
        /// Single-use: resumes this seat after a dropped connection (a new one comes with
        /// each `joined`).
        resume_token: String,
        /// This `joined` answers a `resume`: the seat, and media, carry on.
        resumed: bool,
        /// With `resumed`: the server no longer has this member's media peer (it let it go, or
        /// the server restarted), so only an offer from a new peer connection brings media
        /// back; an ICE restart cannot. `media_failed` follows as well.
        media_lost: bool,
        /// The room's recent chat this member may read, oldest first.
        chat: Vec<ChatMessage>,
        /// Every admitted member's identity confirmation and notice acknowledgment, this
        /// member's own among them.
        attestations: Vec<Attestation>,
        /// The version of the notice parties acknowledge.
        notice_version: &'static str,
        /// The caucus in progress, if any.
        caucus: Option<CaucusInfo>,
        /// Who is sharing their screen now, if anyone.
        screen_share: Option<String>,
        /// The mediation record as this member sees it.
        mediation_record: Box<RecordView>,
        /// Photos and documents shared in the room so far, oldest first.
        documents: Vec<crate::store::SharedDocument>,
        /// Whether parties may share photos and documents now.
        parties_may_share: bool,
        /// Experts invited from the room, with the parties' answers.
        expert_invitations: Vec<ExpertInvitationView>,
    },
    Answer {
        sdp: String,
    },
    Offer {
        sdp: String,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    /// A participant's connection dropped; their seat is held while they reconnect.
    ParticipantReconnecting {
        participant_id: String,
    },
    /// ...and they are back.
    ParticipantReconnected {
        participant_id: String,
    },
    ParticipantLeft {
        participant_id: String,
        reason: LeaveReason,
    },
    ParticipantMuted {
        participant_id: String,
        audio_muted: bool,
        video_muted: bool,
    },
    LobbyUpdate {
        lobby: Vec<ParticipantInfo>,
    },
    Recording {
        state: RecordingState,
        #[serde(skip_serializing_if = "Option::is_none")]
        starts_in_ms: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    RecordingConsent {
        participant_id: String,
        name: String,
        consent: bool,
    },
    PublishLayers {
        mid: String,
        active: Vec<String>,
    },
    VideoPaused {
        participant_id: String,
        paused: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
    },
    Quality {
        participants: Vec<QualityEntry>,
    },
    Chat(ChatMessage),
    /// A member's identity was confirmed or they acknowledged the notice.
    Attestation(Attestation),
    /// A caucus began, changed (a member left, everyone agreed to record it) or, with
    /// `active` false, ended.
    Caucus(CaucusInfo),
    /// Someone shared a photo or document (fetch it from `/api/documents/{id}`).
    DocumentShared(Box<crate::store::SharedDocument>),
    /// Whether parties may share photos and documents now.
    DocumentSharing {
        parties_may_share: bool,
    },
    /// The mediation record changed (saved, presented, answered), as this member sees it.
    MediationRecord(RecordView),
    /// Who shares their screen now (`None`: nobody). Their screen arrives as the stream
    /// `{participant_id}.screen`.
    ScreenShare {
        participant_id: Option<String>,
    },
    /// An expert was invited from the room, a party answered, or the expert joined.
    ExpertInvitation(Box<ExpertInvitationView>),
    Refused,
    Kicked,
    SessionEnded,
    Error {
        code: ErrorCode,
        message: String,
    },
    Ping,
    Pong,
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use concord_sfu::fuzzing::{iterations, Mutator};

    use super::ClientMessage;

    /// Messages a page sends, as seeds for mutation.
    const SEEDS: [&[u8]; 13] = [
        br#"{"type":"join","token":"abcdefghijklmnopqrstuvwxyz0123456789"}"#,
        br#"{"type":"join","session_id":"0123456789abcdef"}"#,
        br#"{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}"#,
        br#"{"type":"candidate","candidate":"candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host"}"#,
        br#"{"type":"mute","kind":"audio","muted":true}"#,
        br#"{"type":"view","tiles":[{"participant_id":"abc","width":640,"height":360}]}"#,
        br#"{"type":"kick","participant_id":"abc"}"#,
        br#"{"type":"resume","token":"s.t"}"#,
        br#"{"type":"chat","text":"\u4f60\u597d","to":"abc"}"#,
        br#"{"type":"confirm_identity","participant_id":"abc","method":"other","note":"x"}"#,
        br#"{"type":"acknowledge_notice","version":"rights-2026-12"}"#,
        br#"{"type":"start_caucus","participant_ids":["abc","def"],"record":true}"#,
        br#"{"type":"caucus_consent","consent":false}"#,
    ];

    #[test]
    fn fuzz_client_messages_are_parsed_or_refused_never_panicked_on() {
        let mut m = Mutator::new(0x5eed_0201);
        let mut parsed = 0u64;
        for _ in 0..iterations() {
            let bytes = m.mutate(&SEEDS);
            let text = String::from_utf8_lossy(&bytes);
            parsed += u64::from(serde_json::from_str::<ClientMessage>(&text).is_ok());
        }
        // Mutations keep enough messages whole that the typed paths are exercised too.
        assert!(parsed > 0, "no mutated message parsed at all");
    }

    #[test]
    fn fuzz_forwarded_for_headers() {
        use axum::http::{HeaderMap, HeaderValue};
        let proxy = std::net::IpAddr::from([10, 0, 0, 1]);
        let mut m = Mutator::new(0x5eed_0202);
        let seeds: [&[u8]; 3] = [
            b"203.0.113.9",
            b"1.2.3.4, 203.0.113.9",
            b"::ffff:203.0.113.9, 10.0.0.1",
        ];
        for _ in 0..iterations() {
            let Ok(value) = HeaderValue::from_bytes(&m.mutate(&seeds)) else {
                continue;
            };
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", value);
            let _ = crate::client_address::client_of(proxy, &headers, &[proxy]);
        }
    }
}
