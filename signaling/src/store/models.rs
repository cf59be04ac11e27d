//! Records as the API shows them. Enums are stored as their snake_case names.

use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;

text_enum!(
    /// What an account may do.
    AccountRole { Admin => "admin", Mediator => "mediator", Staff => "staff" }
);

text_enum!(
    /// What an invited person is in a session.
    InviteeRole { Party => "party", Expert => "expert", Observer => "observer" }
);

text_enum!(
    /// What someone is in a session's room: the host's and staff's from their account, an
    /// invitee's from their invitation.
    ParticipantRole {
        Mediator => "mediator",
        Party => "party",
        Expert => "expert",
        Observer => "observer",
        Staff => "staff",
    }
);

impl ParticipantRole {
    /// Observers watch and listen; everyone else may send audio and video.
    pub fn may_publish(self) -> bool {
        self != ParticipantRole::Observer
    }

    /// Those who explain with a map or a document on a computer: the mediator, a clerk, an
    /// expert. Parties share photos of documents instead.
    pub fn may_share_screen(self) -> bool {
        matches!(
            self,
            ParticipantRole::Mediator | ParticipantRole::Staff | ParticipantRole::Expert
        )
    }
}

text_enum!(
    /// The administrative level handling a dispute (cases escalate village → township → county).
    DisputeLevel { Village => "village", Township => "township", County => "county" }
);

text_enum!(
    DisputeStatus {
        Open => "open",
        InMediation => "in_mediation",
        Settled => "settled",
        Escalated => "escalated",
        Closed => "closed",
    }
);

text_enum!(
    SessionStatus { Scheduled => "scheduled", Live => "live", Ended => "ended" }
);

text_enum!(
    RecordingStatus {
        Recording => "recording",
        Finished => "finished",
        Interrupted => "interrupted",
        Failed => "failed",
    }
);

text_enum!(
    FileStatus {
        Writing => "writing",
        Complete => "complete",
        Interrupted => "interrupted",
        Failed => "failed",
    }
);

text_enum!(
    FileKind { Participant => "participant", Composite => "composite", Manifest => "manifest" }
);

text_enum!(
    /// Where a recording's composite is (`interrupted`: the server restarted while making it).
    CompositeStatus {
        None => "none",
        Pending => "pending",
        Running => "running",
        Done => "done",
        Failed => "failed",
        Interrupted => "interrupted",
    }
);

text_enum!(
    /// What happened in a session, as its case file lists it.
    SessionEventKind {
        Arrived => "arrived",
        Admitted => "admitted",
        Refused => "refused",
        Left => "left",
        Removed => "removed",
        Disconnected => "disconnected",
        ConnectionLost => "connection_lost",
        Reconnected => "reconnected",
        MovedConnection => "moved_connection",
        NetworkSummary => "network_summary",
        RecordingNotice => "recording_notice",
        RecordingConsent => "recording_consent",
        RecordingObjection => "recording_objection",
        RecordingStarted => "recording_started",
        RecordingStopRequested => "recording_stop_requested",
        RecordingStopped => "recording_stopped",
        RecordingCancelled => "recording_cancelled",
        RecordingFailed => "recording_failed",
        SessionEnded => "session_ended",
        Chat => "chat",
        IdentityConfirmed => "identity_confirmed",
        NoticeAcknowledged => "notice_acknowledged",
        CaucusStarted => "caucus_started",
        CaucusConsent => "caucus_consent",
        CaucusRecorded => "caucus_recorded",
        CaucusEnded => "caucus_ended",
        ScreenShareStarted => "screen_share_started",
        ScreenShareStopped => "screen_share_stopped",
        RecordPresented => "record_presented",
        RecordConfirmed => "record_confirmed",
        RecordDisputed => "record_disputed",
        DocumentShared => "document_shared",
        DocumentSharingChanged => "document_sharing_changed",
        ExpertInvited => "expert_invited",
        ExpertConsent => "expert_consent",
    }
);

impl AccountRole {
    /// May open disputes and host sessions.
    pub fn can_host(self) -> bool {
        matches!(self, AccountRole::Admin | AccountRole::Mediator)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: AccountRole,
    /// Disabled by an administrator: cannot sign in.
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    #[serde(default)]
    pub phone: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dispute {
    pub id: String,
    pub case_number: String,
    pub title: String,
    pub category: String,
    pub level: DisputeLevel,
    pub status: DisputeStatus,
    pub description: String,
    pub outcome: String,
    pub parties: Vec<Party>,
    pub mediator_id: String,
    /// Every session of this dispute is recorded from the host's arrival.
    pub record_by_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewDispute {
    pub case_number: String,
    pub title: String,
    pub category: String,
    pub level: DisputeLevel,
    pub description: String,
    pub parties: Vec<Party>,
    pub mediator_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct DisputeChanges {
    pub title: Option<String>,
    pub category: Option<String>,
    pub level: Option<DisputeLevel>,
    pub status: Option<DisputeStatus>,
    pub description: Option<String>,
    pub outcome: Option<String>,
    pub record_by_default: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub dispute_id: String,
    pub status: SessionStatus,
    pub lobby_enabled: bool,
    pub scheduled_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    pub id: String,
    pub session_id: String,
    pub role: InviteeRole,
    pub name: String,
    pub phone: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub session_id: String,
    pub token_hash: String,
    pub role: InviteeRole,
    pub name: String,
    pub phone: String,
    pub expires_at: i64,
}

text_enum!(
    /// Whom an expert invited from the room speaks to: the mediator alone (the parties neither
    /// see nor hear them) or the whole room.
    ExpertScope { Mediator => "mediator", Room => "room" }
);

/// An entry of the expert roster.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Expert {
    pub id: String,
    pub name: String,
    /// 土地, 婚姻家庭, 劳动, 医疗, 物业 …
    pub specialty: String,
    pub center: String,
    pub phone: String,
    pub created_at: i64,
}

/// An expert invited into a session from the room.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExpertInvitation {
    pub invitation_id: String,
    pub session_id: String,
    pub expert: Expert,
    pub scope: ExpertScope,
    pub invited_by: String,
    pub created_at: i64,
}

/// A party's answer to an expert joining (an `expert_consent` event's detail).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ExpertConsent {
    pub invitation_id: String,
    pub participant_id: String,
    pub name: String,
    pub accepted: bool,
    pub answered_at: i64,
}

/// A photo or document shared in a session's room: evidence material of the case.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct SharedDocument {
    pub id: String,
    pub session_id: String,
    pub participant_id: String,
    pub shared_by: String,
    pub shared_by_role: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// Relative to the documents directory; never shown to clients.
    #[serde(skip)]
    pub path: String,
    pub shared_at: i64,
    /// A PDF's pages drawn as pictures (`GET /api/documents/{id}/pages/{n}`); 0 for a photo.
    #[serde(default)]
    pub page_count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionEvent {
    pub at: i64,
    pub kind: SessionEventKind,
    pub actor: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recording {
    pub id: String,
    pub session_id: String,
    pub dispute_id: String,
    pub status: RecordingStatus,
    pub started_by: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub error: Option<String>,
    pub manifest_sha256: Option<String>,
    /// The side-by-side file made afterwards: `none`, `pending`, `running`, `done`, `failed`,
    /// `interrupted` (the server stopped while making it).
    pub composite_status: CompositeStatus,
    /// Percent done while `running`.
    pub composite_progress: i64,
    pub files: Vec<RecordingFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingFile {
    pub id: String,
    pub recording_id: String,
    pub kind: FileKind,
    pub participant_name: String,
    pub participant_role: String,
    /// Relative to the recordings directory; never shown to clients as a filesystem path.
    #[serde(skip)]
    pub path: String,
    pub status: FileStatus,
    pub sha256: Option<String>,
    pub size_bytes: Option<i64>,
    pub duration_ms: Option<i64>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewRecordingFile {
    pub id: String,
    pub recording_id: String,
    pub kind: FileKind,
    pub participant_name: String,
    pub participant_role: String,
    pub path: String,
    pub started_at: i64,
}

/// What a finished file turned out to be.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub status: FileStatus,
    pub sha256: Option<String>,
    pub size_bytes: Option<i64>,
    pub duration_ms: Option<i64>,
    pub ended_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub user_id: String,
    pub action: String,
    pub object_id: String,
    pub ip: String,
}

/// Who holds a resume seat: the invitation or the account they came in on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatHolder {
    Invitation(String),
    Account(String),
}

/// An admitted member's seat as a restarted server finds it: the hash of the one token that
/// resumes it, who holds it, and what they were in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeSeat {
    pub participant_id: String,
    pub session_id: String,
    pub token_hash: String,
    pub holder: SeatHolder,
    pub name: String,
    pub role: ParticipantRole,
    pub is_host: bool,
    pub issued_at: i64,
    /// When the member's connection dropped; `None` while connected.
    pub dropped_at: Option<i64>,
    /// The end of the grace period after that drop; `None` while connected.
    pub held_until: Option<i64>,
}
