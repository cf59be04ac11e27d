//! One live session's signaling state, owned by one task: who is in the room, who waits in the
//! lobby, who hosts. Connections talk to it through a [`RoomRef`]; it talks back through each
//! member's outbox. Media goes to the SFU, which this actor joins members to on admission, so
//! nobody receives media before the host lets them in. Each admitted member's seat is also on
//! record (`seats.rs`): a room opened after a restart starts with those seats held.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use concord_sfu::{
    JoinOptions, ParticipantId, PeerEvent, QualityReport, RoomHandle as MediaRoom, Sfu, TapEvent,
};
use tokio::sync::{mpsc, oneshot};

mod experts;

use super::attestations::{
    checked_note, AttestationRefusal, Attestations, IdentityConfirmation, IdentityMethod,
    NoticeAcknowledgment, NOTICE_VERSION,
};
use super::caucus::{AfterLeaving, Caucus, CaucusRefusal};
use super::chat::{checked_text, ChatLog, ChatMessage, ChatRefusal};
use super::documents::{may_share_document, DocumentRefusal};
use super::experts::{Consent, ExpertInvites};
use super::mediation_record::{may_answer, may_edit, MediationRecord, RecordRefusal};
use super::network::NetworkLedger;
use super::protocol::{
    LeaveReason, ParticipantInfo, ParticipantRole, PresentedRecord, RecordAnswer, RecordView,
    RecordingState, ServerMessage, SessionInfo,
};
use super::screen_share::{ScreenShare, ShareChange};
use super::seats::{self, HeldSeat};
use crate::error_code::ErrorCode;
use crate::recordings::{self, ActiveRecording, RecordingContext, Roster};
use crate::secrets::{new_id, new_token, now_ms, token_hash};
use crate::store::{ResumeSeat, SeatHolder, SessionEvent, SessionEventKind, SharedDocument, Store};

/// Commands for one session are few per second; a full queue means a stuck room.
const COMMAND_QUEUE: usize = 128;
/// How often connection quality is passed on to the room, when it changed.
const QUALITY_EVERY: Duration = Duration::from_secs(2);

/// What a connection needs to hear from its room.
pub enum ToConnection {
    Message(ServerMessage),
    /// You are in: send `joined`, and negotiate media through this handle.
    Admitted {
        joined: ServerMessage,
        media: MediaRoom,
    },
}

/// How the room lets a member's connection go: its own channel, never full, so a connection
/// whose queue backed up (a client that stopped reading) is let go all the same. Dropped
/// without a message when the member is gone for another reason.
pub type Removal = oneshot::Sender<ServerMessage>;

/// Someone arriving at the room.
pub struct NewMember {
    pub id: String,
    pub name: String,
    pub role: ParticipantRole,
    pub is_host: bool,
    /// Skips the lobby (hosts, staff).
    pub trusted: bool,
    /// One person per invitation / account: a second arrival replaces the first.
    pub identity: SeatHolder,
    pub outbox: mpsc::Sender<ToConnection>,
    pub media_events: mpsc::Sender<PeerEvent>,
    pub removal: Option<Removal>,
}

struct Member {
    info: ParticipantInfo,
    identity: SeatHolder,
    admitted: bool,
    /// Its connection: messages go here, and only commands from it speak for the member.
    outbox: mpsc::Sender<ToConnection>,
    media_events: mpsc::Sender<PeerEvent>,
    removal: Option<Removal>,
    /// The hash of the one token that resumes this seat (set on admission, new at each use).
    resume_hash: Option<String>,
    /// The connection dropped: the seat is held.
    away: Option<Away>,
}

/// A spell of a member's seat held after their connection dropped.
#[derive(Clone, Copy)]
struct Away {
    /// Numbered per room, so the grace timer of an earlier spell is ignored.
    spell: u64,
    /// When it began (Unix ms): the gap filed with the session's events.
    since_ms: i64,
}

/// What a connection that resumed a seat carries on with.
pub struct Resumed {
    pub member: String,
    /// `joined`, with `resumed` set and the next resume token.
    pub joined: ServerMessage,
    pub media: MediaRoom,
    /// The SFU still has the member's media peer: the page's peer connection carries on.
    pub media_joined: bool,
}

/// How a member came to be in the room, as their `joined` says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// Let in (by the host, or straight in).
    Admitted,
    /// Took their seat back; their media peer carries on.
    Resumed,
    /// Took their seat back, but the SFU has no media peer for them (it let it go, or the
    /// server restarted): only a new peer connection brings media back.
    ResumedWithoutMedia,
}

pub enum RoomCommand {
    Enter {
        member: NewMember,
        reply: oneshot::Sender<()>,
    },
    Admit {
        by: String,
        target: String,
    },
    Refuse {
        by: String,
        target: String,
    },
    Kick {
        by: String,
        target: String,
    },
    Mute {
        id: String,
        audio_muted: bool,
        video_muted: bool,
    },
    /// The SFU's latest reading of a member's link.
    Quality {
        id: String,
        report: QualityReport,
    },
    /// The member's connection `from` is closing (a connection that was replaced since speaks
    /// for no one).
    Leave {
        id: String,
        reason: LeaveReason,
        from: mpsc::Sender<ToConnection>,
    },
    /// The member's connection `from` was lost: an admitted member's seat is held for the
    /// grace period.
    Dropped {
        id: String,
        from: mpsc::Sender<ToConnection>,
    },
    /// A new connection takes back the seat `token` resumes.
    Resume {
        token: String,
        outbox: mpsc::Sender<ToConnection>,
        media_events: mpsc::Sender<PeerEvent>,
        removal: Removal,
        reply: oneshot::Sender<Option<Resumed>>,
    },
    /// The member's connection `from` lost its media peer and offers anew: joined to the SFU
    /// again only while the room still holds the member.
    RejoinMedia {
        id: String,
        from: mpsc::Sender<ToConnection>,
        reply: oneshot::Sender<Result<(), concord_sfu::SfuError>>,
    },
    /// The grace period of away spell `spell` of `id` has passed.
    SeatExpired {
        id: String,
        spell: u64,
    },
    /// Remove whoever came in on this invitation (it was revoked).
    Evict {
        identity: SeatHolder,
    },
    End {
        by: String,
        reply: oneshot::Sender<()>,
    },
    StartRecording {
        by: String,
    },
    StopRecording {
        by: String,
    },
    RecordingConsent {
        id: String,
        consent: bool,
    },
    /// `by` writes `text` in the chat: to everyone, or privately to `to`.
    Chat {
        by: String,
        text: String,
        to: Option<String>,
    },
    /// The host `by` has confirmed who `target` is.
    ConfirmIdentity {
        by: String,
        target: String,
        method: IdentityMethod,
        note: String,
    },
    /// Party `by` has read version `version` of the notice.
    AcknowledgeNotice {
        by: String,
        version: String,
    },
    /// The host `by` takes `members` aside; with `record`, they are asked about recording it.
    StartCaucus {
        by: String,
        members: Vec<String>,
        record: bool,
    },
    EndCaucus {
        by: String,
    },
    /// `by` saves the record, an edit of `version`.
    RecordDraft {
        by: String,
        text: String,
        version: i64,
    },
    PresentRecord {
        by: String,
    },
    /// Whether the member holding `identity`'s seat may share a document now: who they are.
    MayShareDocument {
        identity: SeatHolder,
        reply: oneshot::Sender<Result<ParticipantInfo, DocumentRefusal>>,
    },
    /// A document was shared and filed: everyone is shown it.
    DocumentShared {
        document: SharedDocument,
    },
    SetDocumentSharing {
        by: String,
        parties_may_share: bool,
    },
    AnswerRecord {
        by: String,
        sha256: String,
        agrees: bool,
        disagreement: String,
    },
    /// An expert was invited from the room (filed already): the parties are asked.
    ExpertInvited {
        invitation: Box<crate::store::ExpertInvitation>,
    },
    /// The parties in the room changed: let the expert waiting on `invitation_id` in, or turn
    /// them away, as the answers now stand.
    SettleExpert {
        invitation_id: String,
    },
    /// A party's answer to the expert on `invitation_id` joining.
    AnswerExpert {
        by: String,
        invitation_id: String,
        accept: bool,
    },
    /// `by` starts or stops sharing their screen.
    ShareScreen {
        by: String,
        sharing: bool,
    },
    CaucusConsent {
        id: String,
        consent: bool,
    },
    /// The notice period of recording `generation` has passed.
    BeginRecording {
        generation: u64,
        by: String,
    },
    /// Recording `generation` has ended and been filed.
    RecordingEnded {
        generation: u64,
        error: Option<String>,
    },
    /// Copy every frame the room forwards into `events` (the recorder).
    Tap {
        events: mpsc::Sender<TapEvent>,
        reply: oneshot::Sender<bool>,
    },
    /// The server is stopping: let everyone go (the session stays live for a restart).
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A connection's or the hub's handle to a room actor.
#[derive(Clone)]
pub struct RoomRef {
    commands: mpsc::Sender<RoomCommand>,
}

/// The room's task has stopped (it emptied or the session ended); look it up again.
#[derive(Debug)]
pub struct RoomGone;

impl RoomRef {
    pub async fn send(&self, command: RoomCommand) -> Result<(), RoomGone> {
        self.commands.send(command).await.map_err(|_| RoomGone)
    }

    /// Hands a member to the room. If the room has stopped, the member comes back (`Some`) to
    /// be taken to a fresh room; `None` if the room stopped while taking them in.
    pub async fn enter(&self, member: NewMember) -> Result<(), Option<NewMember>> {
        let (reply, done) = oneshot::channel();
        match self
            .commands
            .send(RoomCommand::Enter { member, reply })
            .await
        {
            Ok(()) => done.await.map_err(|_| None),
            Err(mpsc::error::SendError(RoomCommand::Enter { member, .. })) => Err(Some(member)),
            Err(_) => Err(None),
        }
    }

    /// Resumes the seat `token` belongs to with a new connection; `None` if no seat has it.
    pub async fn resume(
        &self,
        token: String,
        outbox: mpsc::Sender<ToConnection>,
        media_events: mpsc::Sender<PeerEvent>,
        removal: Removal,
    ) -> Result<Option<Resumed>, RoomGone> {
        let (reply, done) = oneshot::channel();
        self.send(RoomCommand::Resume {
            token,
            outbox,
            media_events,
            removal,
            reply,
        })
        .await?;
        done.await.map_err(|_| RoomGone)
    }

    /// Joins member `id` to the SFU again after its media peer failed.
    pub async fn rejoin_media(
        &self,
        id: String,
        from: mpsc::Sender<ToConnection>,
    ) -> Result<(), concord_sfu::SfuError> {
        let (reply, done) = oneshot::channel();
        self.send(RoomCommand::RejoinMedia { id, from, reply })
            .await
            .map_err(|_| concord_sfu::SfuError::RoomClosed)?;
        done.await.map_err(|_| concord_sfu::SfuError::RoomClosed)?
    }

    pub async fn end(&self, by: String) -> Result<(), RoomGone> {
        let (reply, done) = oneshot::channel();
        self.send(RoomCommand::End { by, reply }).await?;
        done.await.map_err(|_| RoomGone)
    }

    /// Starts copying the room's media into `events`; false if the media room is gone.
    pub async fn tap(&self, events: mpsc::Sender<TapEvent>) -> Result<bool, RoomGone> {
        let (reply, done) = oneshot::channel();
        self.send(RoomCommand::Tap { events, reply }).await?;
        done.await.map_err(|_| RoomGone)
    }

    pub async fn shut_down(&self) -> Result<(), RoomGone> {
        let (reply, done) = oneshot::channel();
        self.send(RoomCommand::Shutdown { reply }).await?;
        done.await.map_err(|_| RoomGone)
    }

    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// Where and how a room records, and how its cameras publish.
#[derive(Clone)]
pub struct RoomSettings {
    pub root: PathBuf,
    pub notice: Duration,
    /// Clients publish their camera as simulcast layers.
    pub simulcast: bool,
    /// TURN servers handed to each participant.
    pub turn: crate::config::TurnConfig,
    /// How long a dropped member's seat is held.
    pub resume_grace: Duration,
}

/// Starts the actor for a session; `on_stop` runs when it ends (the hub forgets it).
pub fn spawn(
    session: SessionInfo,
    sfu: &Sfu,
    store: Store,
    settings: RoomSettings,
    on_stop: impl FnOnce() + Send + 'static,
) -> RoomRef {
    let (commands, inbox) = mpsc::channel(COMMAND_QUEUE);
    let room = Room {
        media: sfu.create_room(&session.id),
        session,
        store,
        members: Vec::new(),
        recording: Recording::Off,
        generation: 0,
        roster: Roster::default(),
        settings,
        myself: commands.downgrade(),
        network: NetworkLedger::default(),
        away_spells: 0,
        chat: ChatLog::default(),
        attestations: Attestations::default(),
        caucus: None,
        screen_share: ScreenShare::default(),
        mediation_record: MediationRecord::default(),
        documents: Vec::new(),
        parties_may_share: true,
        experts: ExpertInvites::default(),
    };
    tokio::spawn(async move {
        let mut room = room;
        // Before any command: an arrival finds the seats on record (a restarted server's),
        // experts among them advising as they were.
        room.restore_experts().await;
        room.restore_seats().await;
        room.restore_record().await;
        room.run(inbox).await;
        on_stop();
    });
    RoomRef { commands }
}

struct Room {
    session: SessionInfo,
    media: MediaRoom,
    store: Store,
    /// In arrival order: the lobby is shown first come, first served.
    members: Vec<Member>,
    recording: Recording,
    /// Numbers each recording so late timers and endings of an earlier one are ignored.
    generation: u64,
    roster: Roster,
    settings: RoomSettings,
    /// For timers and the recorder to report back; weak so the room still stops when empty.
    myself: mpsc::WeakSender<RoomCommand>,
    network: NetworkLedger,
    /// Numbers each spell a member is away, so a late timer of an earlier one is ignored.
    away_spells: u64,
    chat: ChatLog,
    attestations: Attestations,
    caucus: Option<Caucus>,
    screen_share: ScreenShare,
    mediation_record: MediationRecord,
    /// Photos and documents shared so far; whether parties may share now.
    documents: Vec<SharedDocument>,
    parties_may_share: bool,
    /// Experts invited from the room and the parties' answers.
    experts: ExpertInvites,
}

enum Recording {
    Off,
    Notice {
        generation: u64,
    },
    On {
        generation: u64,
        active: ActiveRecording,
    },
    /// Asked to stop; waiting for the files to be filed.
    Stopping {
        generation: u64,
    },
}

impl Recording {
    fn state(&self) -> RecordingState {
        match self {
            Recording::Off => RecordingState::Off,
            Recording::Notice { .. } => RecordingState::Notice,
            Recording::On { .. } | Recording::Stopping { .. } => RecordingState::On,
        }
    }
}

impl Room {
    async fn run(mut self, mut inbox: mpsc::Receiver<RoomCommand>) {
        let mut quality_tick = tokio::time::interval(QUALITY_EVERY);
        quality_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = inbox.recv() => {
                    let Some(command) = command else { break };
                    let keep_going = self.handle(command).await;
                    if !keep_going || self.members.is_empty() {
                        break;
                    }
                }
                _ = quality_tick.tick() => self.announce_quality(),
            }
        }
        // Nobody left (or the session ended): finish and file what was recorded.
        self.stop_recording_now().await;
        tracing::debug!(session = %self.session.id, "signaling room stopped");
    }

    /// Returns false when the room must stop (the session ended).
    async fn handle(&mut self, command: RoomCommand) -> bool {
        match command {
            RoomCommand::Enter { member, reply } => {
                self.enter(member).await;
                let _ = reply.send(());
            }
            RoomCommand::Admit { by, target } => {
                if self.is_host(&by) {
                    match self.expert_consent_of(&target) {
                        Some(Consent::Waiting | Consent::Declined) => {
                            let error = ServerMessage::error(
                                ErrorCode::Conflict,
                                "The parties have not all accepted this expert joining.",
                            );
                            self.send_to(&by, ToConnection::Message(error));
                        }
                        _ => self.admit(&target).await,
                    }
                }
            }
            RoomCommand::Refuse { by, target } => {
                if self.is_host(&by) && self.is_waiting(&target) {
                    self.remove(&target, LeaveReason::Refused, Some(ServerMessage::Refused))
                        .await;
                }
            }
            RoomCommand::Kick { by, target } => {
                if self.is_host(&by) && by != target {
                    self.remove(&target, LeaveReason::Kicked, Some(ServerMessage::Kicked))
                        .await;
                }
            }
            RoomCommand::Mute {
                id,
                audio_muted,
                video_muted,
            } => self.mute(&id, audio_muted, video_muted),
            RoomCommand::ConfirmIdentity {
                by,
                target,
                method,
                note,
            } => {
                let confirmed = self.confirm_identity(&by, &target, method, &note).await;
                self.refuse_attestation(&by, confirmed);
            }
            RoomCommand::AcknowledgeNotice { by, version } => {
                let acknowledged = self.acknowledge_notice(&by, &version).await;
                self.refuse_attestation(&by, acknowledged);
            }
            RoomCommand::StartCaucus {
                by,
                members,
                record,
            } => {
                let started = self.start_caucus(&by, &members, record).await;
                self.refuse_caucus(&by, started);
            }
            RoomCommand::EndCaucus { by } => {
                let ended = match self.host_name(&by) {
                    Some(host) => self.end_caucus(&host, "ended").await,
                    None => Ok(()),
                };
                self.refuse_caucus(&by, ended);
            }
            RoomCommand::CaucusConsent { id, consent } => {
                let answered = self.caucus_consent(&id, consent).await;
                self.refuse_caucus(&id, answered);
            }
            RoomCommand::ShareScreen { by, sharing } => self.share_screen(&by, sharing).await,
            RoomCommand::ExpertInvited { invitation } => self.expert_invited(*invitation),
            RoomCommand::SettleExpert { invitation_id } => {
                self.settle_expert(&invitation_id).await;
            }
            RoomCommand::AnswerExpert {
                by,
                invitation_id,
                accept,
            } => {
                if let Err(refusal) = self.answer_expert(&by, &invitation_id, accept).await {
                    let error = ServerMessage::error(refusal.code(), refusal.message());
                    self.send_to(&by, ToConnection::Message(error));
                }
            }
            RoomCommand::MayShareDocument { identity, reply } => {
                let _ = reply.send(self.may_share_document(&identity));
            }
            RoomCommand::DocumentShared { document } => self.document_shared(document).await,
            RoomCommand::SetDocumentSharing {
                by,
                parties_may_share,
            } => self.set_document_sharing(&by, parties_may_share).await,
            RoomCommand::RecordDraft { by, text, version } => {
                let outcome = self.save_record(&by, &text, version).await;
                self.refuse_record(&by, outcome);
            }
            RoomCommand::PresentRecord { by } => {
                let outcome = self.present_record(&by).await;
                self.refuse_record(&by, outcome);
            }
            RoomCommand::AnswerRecord {
                by,
                sha256,
                agrees,
                disagreement,
            } => {
                let outcome = self
                    .answer_record(&by, &sha256, agrees, &disagreement)
                    .await;
                self.refuse_record(&by, outcome);
            }
            RoomCommand::Chat { by, text, to } => {
                if let Err(refusal) = self.chat(&by, &text, to.as_deref()).await {
                    let code = match refusal {
                        ChatRefusal::TooFast => ErrorCode::RateLimited,
                        ChatRefusal::MayNotWrite | ChatRefusal::PrivateOnlyToTheMediator => {
                            ErrorCode::Forbidden
                        }
                        ChatRefusal::NoSuchParticipant => ErrorCode::NotFound,
                        ChatRefusal::Empty | ChatRefusal::TooLong => ErrorCode::BadMessage,
                    };
                    let error = ServerMessage::error(code, refusal.message());
                    self.send_to(&by, ToConnection::Message(error));
                }
            }
            RoomCommand::Quality { id, report } => {
                if self.members.iter().any(|m| m.info.id == id && m.admitted) {
                    self.network.update(&id, report, Instant::now());
                }
            }
            RoomCommand::Leave { id, reason, from } => {
                if self.speaks_for(&id, &from) {
                    self.remove(&id, reason, None).await;
                }
            }
            RoomCommand::Dropped { id, from } => {
                if self.speaks_for(&id, &from) {
                    self.dropped(&id).await;
                }
            }
            RoomCommand::Resume {
                token,
                outbox,
                media_events,
                removal,
                reply,
            } => {
                let resumed = self.resume(&token, outbox, media_events, removal).await;
                let _ = reply.send(resumed);
            }
            RoomCommand::RejoinMedia { id, from, reply } => {
                let _ = reply.send(self.rejoin_media(&id, &from).await);
            }
            RoomCommand::SeatExpired { id, spell } => {
                let still_away = self
                    .members
                    .iter()
                    .any(|m| m.info.id == id && m.away.is_some_and(|a| a.spell == spell));
                if still_away {
                    self.remove(&id, LeaveReason::Disconnected, None).await;
                }
            }
            RoomCommand::Evict { identity } => {
                let ids: Vec<String> = self
                    .members
                    .iter()
                    .filter(|m| m.identity == identity)
                    .map(|m| m.info.id.clone())
                    .collect();
                for id in ids {
                    let notice = ServerMessage::error(
                        ErrorCode::InvitationRevoked,
                        "Your invitation was withdrawn by the mediator.",
                    );
                    self.remove(&id, LeaveReason::Kicked, Some(notice)).await;
                }
            }
            RoomCommand::End { by, reply } => {
                self.stop_recording_now().await;
                for mut member in std::mem::take(&mut self.members) {
                    let_go(&mut member, ServerMessage::SessionEnded);
                    self.file_network_summary(&member).await;
                    self.media.leave(ParticipantId(member.info.id)).await;
                }
                self.record(SessionEventKind::SessionEnded, &by, "").await;
                let _ = reply.send(());
                return false;
            }
            RoomCommand::StartRecording { by } => {
                if let Some(name) = self.host_name(&by) {
                    self.announce_recording(name).await;
                }
            }
            RoomCommand::StopRecording { by } => {
                if let Some(name) = self.host_name(&by) {
                    self.stop_recording(&name).await;
                }
            }
            RoomCommand::RecordingConsent { id, consent } => self.consent(&id, consent).await,
            RoomCommand::BeginRecording { generation, by } => {
                self.begin_recording(generation, by).await;
            }
            RoomCommand::RecordingEnded { generation, error } => {
                self.recording_ended(generation, error).await;
            }
            RoomCommand::Tap { events, reply } => {
                let _ = reply.send(self.media.tap(events).await.is_ok());
            }
            RoomCommand::Shutdown { reply } => {
                self.stop_recording_now().await;
                for mut member in std::mem::take(&mut self.members) {
                    let notice = ServerMessage::error(
                        ErrorCode::ServerStopping,
                        "The server is restarting; join again in a moment.",
                    );
                    let_go(&mut member, notice);
                    self.file_network_summary(&member).await;
                }
                let _ = reply.send(());
                return false;
            }
        }
        true
    }

    async fn enter(&mut self, new: NewMember) {
        // The same person arriving again (a reload, a phone that switched networks) replaces
        // their old connection.
        let mut seated_before = false;
        if let Some((old, admitted)) = self
            .members
            .iter()
            .find(|m| m.identity == new.identity)
            .map(|m| (m.info.id.clone(), m.admitted))
        {
            // Someone the host let in already (a page reloaded) is not made to wait again.
            seated_before = admitted;
            let notice = ServerMessage::error(
                ErrorCode::JoinedElsewhere,
                "You joined this session from another window or device.",
            );
            self.remove(&old, LeaveReason::Disconnected, Some(notice))
                .await;
        }
        let id = new.id.clone();
        let trusted = new.trusted || seated_before || !self.session.lobby_enabled;
        self.record(SessionEventKind::Arrived, &new.name, new.role.as_str())
            .await;
        self.members.push(Member {
            info: ParticipantInfo {
                id: new.id,
                name: new.name,
                role: new.role,
                is_host: new.is_host,
                audio_muted: false,
                video_muted: false,
                hosts_only: false,
            },
            identity: new.identity,
            admitted: false,
            outbox: new.outbox,
            media_events: new.media_events,
            removal: new.removal,
            resume_hash: None,
            away: None,
        });
        // An expert invited from the room comes in once the parties accepted them (and not
        // before, lobby or not); one reloading a page they were let in on is in already.
        let consent = match seated_before {
            true => None,
            false => self.expert_consent_of(&id),
        };
        match consent {
            Some(Consent::Accepted) => self.admit(&id).await,
            Some(Consent::Declined) => self.turn_expert_away(&id).await,
            Some(Consent::Waiting) => self.wait_in_lobby(&id, Some("parties_consent")),
            None if trusted => self.admit(&id).await,
            None => self.wait_in_lobby(&id, None),
        }
    }

    fn wait_in_lobby(&self, id: &str, waiting_for: Option<&'static str>) {
        let lobby = ServerMessage::Lobby {
            participant_id: id.to_owned(),
            session: self.session.clone(),
            waiting_for,
        };
        self.send_to(id, ToConnection::Message(lobby));
        self.announce_lobby();
    }

    async fn admit(&mut self, id: &str) {
        let Some(index) = self
            .members
            .iter()
            .position(|m| m.info.id == id && !m.admitted)
        else {
            return;
        };
        let events = self.members[index].media_events.clone();
        let hosts_only = self.advises_hosts_only(&self.members[index].identity);
        self.members[index].info.hosts_only = hosts_only;
        let options = JoinOptions {
            may_publish: self.members[index].info.role.may_publish(),
            host: self.members[index].info.is_host,
            hosts_only,
        };
        let participant = ParticipantId(id.to_owned());
        if let Err(error) = self.media.join(participant, options, events).await {
            tracing::error!(%error, "could not add a participant to the media room");
            let notice =
                ServerMessage::error(ErrorCode::Internal, "The media server could not add you.");
            self.remove(id, LeaveReason::Disconnected, Some(notice))
                .await;
            return;
        }
        self.members[index].admitted = true;
        let resume_token = self.new_resume_token(index).await;
        let joined = self.joined(index, resume_token, Arrival::Admitted);
        let member = &self.members[index];
        let info = member.info.clone();
        if let Ok(mut roster) = self.roster.lock() {
            roster.insert(info.id.clone(), (info.name.clone(), info.role.as_str()));
        }
        self.send_to(
            id,
            ToConnection::Admitted {
                joined,
                media: self.media.clone(),
            },
        );
        self.broadcast_except(
            id,
            ServerMessage::ParticipantJoined {
                participant: info.clone(),
            },
        );
        self.announce_lobby();
        self.record(SessionEventKind::Admitted, &info.name, info.role.as_str())
            .await;
        self.expert_admitted_or_party_changed(&info);
        if info.is_host && self.session.record_by_default {
            self.announce_recording(info.name.clone()).await;
        }
    }

    /// `joined` for member `index`: who else is in, the lobby for the host, and the token that
    /// resumes the seat.
    fn joined(&self, index: usize, resume_token: String, arrival: Arrival) -> ServerMessage {
        let member = &self.members[index];
        ServerMessage::Joined {
            participant_id: member.info.id.clone(),
            role: member.info.role,
            is_host: member.info.is_host,
            session: Box::new(self.session.clone()),
            participants: self
                .members
                .iter()
                .filter(|m| m.admitted && m.info.id != member.info.id)
                .map(|m| m.info.clone())
                .collect(),
            lobby: if member.info.is_host {
                self.lobby()
            } else {
                Vec::new()
            },
            recording: self.recording.state(),
            simulcast: self.settings.simulcast,
            ice_servers: crate::turn::ice_servers(
                &self.settings.turn,
                &member.info.id,
                crate::secrets::now_ms() / 1000,
            ),
            resume_token,
            resumed: arrival != Arrival::Admitted,
            media_lost: arrival == Arrival::ResumedWithoutMedia,
            chat: self.chat.visible_to(&member.info.id),
            attestations: self
                .members
                .iter()
                .filter(|m| m.admitted)
                .map(|m| self.attestations.of(&m.info.id))
                .collect(),
            notice_version: NOTICE_VERSION,
            caucus: self.caucus.as_ref().map(|c| c.info(true)),
            screen_share: self.screen_share.sharer().map(str::to_owned),
            mediation_record: Box::new(self.record_view(&member.info)),
            documents: self.documents.clone(),
            parties_may_share: self.parties_may_share,
            expert_invitations: self.experts.views(&self.parties_in_room()),
        }
    }

    /// A new single-use resume token for member `index` (its session's id, so the hub finds
    /// the room, and 192 random bits); only its hash is kept, here and on record, where it
    /// replaces the one before.
    async fn new_resume_token(&mut self, index: usize) -> String {
        let token = format!("{}.{}", self.session.id, new_token());
        let hash = token_hash(&token);
        let member = &mut self.members[index];
        member.resume_hash = Some(hash.clone());
        let seat = ResumeSeat {
            participant_id: member.info.id.clone(),
            session_id: self.session.id.clone(),
            token_hash: hash,
            holder: member.identity.clone(),
            name: member.info.name.clone(),
            role: member.info.role,
            is_host: member.info.is_host,
            issued_at: now_ms(),
            dropped_at: None,
            held_until: None,
        };
        if let Err(error) = self.store.save_resume_seat(&seat).await {
            // The seat still resumes while this process runs; only a restart would lose it.
            tracing::error!(%error, "could not record a resume seat");
        }
        token
    }

    /// Before any arrival: the seats on record for this session (a restarted server's) are
    /// held as if their members' connections had just dropped.
    async fn restore_seats(&mut self) {
        let held = seats::held_seats(&self.store, &self.session, self.settings.resume_grace).await;
        if !held.is_empty() {
            tracing::info!(session = %self.session.id, seats = held.len(), "seats held from the records");
        }
        for seat in held {
            self.hold_restored(seat);
        }
    }

    /// Seats member `held` as admitted and away until their hold ends. They have no connection
    /// (nothing speaks for them) and no media peer until they resume.
    fn hold_restored(&mut self, held: HeldSeat) {
        let HeldSeat {
            seat,
            dropped_at,
            held_until,
        } = held;
        self.away_spells += 1;
        let spell = self.away_spells;
        let (outbox, _) = mpsc::channel(1);
        let (media_events, _) = mpsc::channel(1);
        let hosts_only = self.advises_hosts_only(&seat.holder);
        if let SeatHolder::Invitation(invitation) = &seat.holder {
            self.experts.joined(invitation);
        }
        let info = ParticipantInfo {
            id: seat.participant_id,
            name: seat.name,
            role: seat.role,
            is_host: seat.is_host,
            audio_muted: false,
            video_muted: false,
            hosts_only,
        };
        if let Ok(mut roster) = self.roster.lock() {
            roster.insert(info.id.clone(), (info.name.clone(), info.role.as_str()));
        }
        let left = u64::try_from(held_until.saturating_sub(now_ms())).unwrap_or(0);
        self.expire_seat_after(info.id.clone(), spell, Duration::from_millis(left));
        self.members.push(Member {
            info,
            identity: seat.holder,
            admitted: true,
            outbox,
            media_events,
            removal: None,
            resume_hash: Some(seat.token_hash),
            away: Some(Away {
                spell,
                since_ms: dropped_at,
            }),
        });
    }

    /// Lets member `id` go when `after` has passed, if they are still away in spell `spell`.
    fn expire_seat_after(&self, id: String, spell: u64, after: Duration) {
        let myself = self.myself.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let Some(room) = myself.upgrade() {
                let _ = room.send(RoomCommand::SeatExpired { id, spell }).await;
            }
        });
    }

    /// Whether commands from the connection `from` speak for member `id`: not once the
    /// member resumed on another connection.
    fn speaks_for(&self, id: &str, from: &mpsc::Sender<ToConnection>) -> bool {
        self.members
            .iter()
            .any(|m| m.info.id == id && m.outbox.same_channel(from))
    }

    /// Member `id`'s connection was lost: an admitted member's seat (and media) is held for
    /// the grace period, and the others see them reconnecting; a member in the lobby has
    /// nothing to hold.
    async fn dropped(&mut self, id: &str) {
        let Some(member) = self.members.iter_mut().find(|m| m.info.id == id) else {
            return;
        };
        if !member.admitted {
            self.remove(id, LeaveReason::Disconnected, None).await;
            return;
        }
        self.away_spells += 1;
        let spell = self.away_spells;
        let since_ms = now_ms();
        member.away = Some(Away { spell, since_ms });
        let name = member.info.name.clone();
        self.broadcast_except(
            id,
            ServerMessage::ParticipantReconnecting {
                participant_id: id.to_owned(),
            },
        );
        let gap = serde_json::json!({ "participant_id": id, "from_ms": since_ms });
        self.record(SessionEventKind::ConnectionLost, &name, &gap.to_string())
            .await;
        let grace = self.settings.resume_grace;
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let held_until = since_ms.saturating_add(grace_ms);
        if let Err(error) = self.store.hold_resume_seat(id, since_ms, held_until).await {
            tracing::error!(%error, "could not record a held seat");
        }
        self.expire_seat_after(id.to_owned(), spell, grace);
    }

    /// Gives the seat `token` resumes to a new connection. The token is used up; the old
    /// connection, if it still thinks itself connected, is closed.
    async fn resume(
        &mut self,
        token: &str,
        outbox: mpsc::Sender<ToConnection>,
        media_events: mpsc::Sender<PeerEvent>,
        removal: Removal,
    ) -> Option<Resumed> {
        let hash = token_hash(token);
        let index = self
            .members
            .iter()
            .position(|m| m.admitted && m.resume_hash.as_deref() == Some(hash.as_str()))?;
        let next_token = self.new_resume_token(index).await;
        let member = &mut self.members[index];
        member.outbox = outbox;
        let old_removal = member.removal.replace(removal);
        member.media_events = media_events.clone();
        let away = member.away.take();
        let was_away = away.is_some();
        let id = member.info.id.clone();
        let name = member.info.name.clone();
        if !was_away {
            let notice = ServerMessage::error(
                ErrorCode::JoinedElsewhere,
                "You joined this session from another window or device.",
            );
            if let Some(old) = old_removal {
                let _ = old.send(notice);
            }
        }
        let media_joined = self
            .media
            .rebind(ParticipantId(id.clone()), media_events)
            .await
            .unwrap_or(false);
        if was_away {
            self.broadcast_except(
                &id,
                ServerMessage::ParticipantReconnected {
                    participant_id: id.clone(),
                },
            );
        }
        // The gap, for the case file and the recording's timeline: who, from when, to when.
        let (kind, detail) = match away {
            Some(away) => (
                SessionEventKind::Reconnected,
                serde_json::json!({ "participant_id": id, "from_ms": away.since_ms, "to_ms": now_ms() }),
            ),
            None => (
                SessionEventKind::MovedConnection,
                serde_json::json!({ "participant_id": id }),
            ),
        };
        self.record(kind, &name, &detail.to_string()).await;
        let arrival = if media_joined {
            Arrival::Resumed
        } else {
            Arrival::ResumedWithoutMedia
        };
        Some(Resumed {
            member: id,
            joined: self.joined(index, next_token, arrival),
            media: self.media.clone(),
            media_joined,
        })
    }

    /// Joins member `id` (on connection `from`) to the SFU again, if the room still holds it.
    async fn rejoin_media(
        &mut self,
        id: &str,
        from: &mpsc::Sender<ToConnection>,
    ) -> Result<(), concord_sfu::SfuError> {
        let member = self
            .members
            .iter()
            .find(|m| m.info.id == id && m.admitted && m.outbox.same_channel(from))
            .ok_or(concord_sfu::SfuError::UnknownParticipant)?;
        let options = JoinOptions {
            may_publish: member.info.role.may_publish(),
            host: member.info.is_host,
            hosts_only: member.info.hosts_only,
        };
        let events = member.media_events.clone();
        self.media
            .join(ParticipantId(id.to_owned()), options, events)
            .await
    }

    /// Takes a member out; `notice` is sent to them before their connection closes.
    async fn remove(&mut self, id: &str, reason: LeaveReason, notice: Option<ServerMessage>) {
        let Some(index) = self.members.iter().position(|m| m.info.id == id) else {
            return;
        };
        let mut member = self.members.remove(index);
        self.chat.forget(id);
        self.caucus_left(&member.info).await;
        if self.screen_share.left(id) == ShareChange::Stopped {
            self.screen_share_stopped(&member.info.name).await;
        }
        if let Some(notice) = notice {
            let_go(&mut member, notice);
        }
        if member.admitted {
            if let Err(error) = self.store.delete_resume_seat(&member.info.id).await {
                tracing::error!(%error, "could not delete a resume seat");
            }
            self.media
                .leave(ParticipantId(member.info.id.clone()))
                .await;
            self.file_network_summary(&member).await;
            self.broadcast_except(
                id,
                ServerMessage::ParticipantLeft {
                    participant_id: member.info.id.clone(),
                    reason,
                },
            );
        } else {
            self.announce_lobby();
        }
        if member.admitted {
            self.expert_admitted_or_party_changed(&member.info);
        }
        let kind = match reason {
            LeaveReason::Left => SessionEventKind::Left,
            LeaveReason::Kicked => SessionEventKind::Removed,
            LeaveReason::Disconnected => SessionEventKind::Disconnected,
            LeaveReason::Refused => SessionEventKind::Refused,
        };
        self.record(kind, &member.info.name, member.info.role.as_str())
            .await;
    }

    /// Tells everyone the connection quality of the room, if it changed: every level to
    /// everyone, the details to each person about themself and to the host about everyone.
    fn announce_quality(&mut self) {
        if !self.network.take_changed() {
            return;
        }
        for member in self.members.iter().filter(|m| m.admitted) {
            let participants = self
                .network
                .entries_for(&member.info.id, member.info.is_host);
            deliver(
                member,
                ToConnection::Message(ServerMessage::Quality { participants }),
            );
        }
    }

    /// Files what the SFU saw of a leaving member's link with the session's events.
    async fn file_network_summary(&mut self, member: &Member) {
        let Some(summary) = self.network.take(&member.info.id, Instant::now()) else {
            return;
        };
        #[derive(serde::Serialize)]
        struct Detail<'a> {
            participant_id: &'a str,
            role: &'static str,
            #[serde(flatten)]
            summary: super::network::NetworkSummary,
        }
        let detail = Detail {
            participant_id: &member.info.id,
            role: member.info.role.as_str(),
            summary,
        };
        match serde_json::to_string(&detail) {
            Ok(detail) => {
                self.record(SessionEventKind::NetworkSummary, &member.info.name, &detail)
                    .await
            }
            Err(error) => tracing::error!(%error, "could not write a network summary"),
        }
    }

    /// Passes `by`'s message to everyone, or to `to` alone, and files it with the session.
    async fn chat(&mut self, by: &str, text: &str, to: Option<&str>) -> Result<(), ChatRefusal> {
        let Some(sender) = self.admitted(by) else {
            return Ok(());
        };
        if sender.role == ParticipantRole::Observer {
            return Err(ChatRefusal::MayNotWrite);
        }
        let text = checked_text(text)?;
        let recipient = match to {
            None => None,
            Some(to) => {
                let recipient = self
                    .admitted(to)
                    .filter(|r| r.id != by)
                    .ok_or(ChatRefusal::NoSuchParticipant)?;
                if !sender.is_host && !recipient.is_host {
                    return Err(ChatRefusal::PrivateOnlyToTheMediator);
                }
                Some(recipient)
            }
        };
        let at_ms = now_ms();
        self.chat.admit_rate(by, at_ms)?;
        let message = ChatMessage {
            id: new_id(),
            from: sender.id,
            from_name: sender.name,
            to: recipient.as_ref().map(|r| r.id.clone()),
            to_name: recipient.map(|r| r.name),
            text,
            at_ms,
        };
        self.file_chat(&message).await;
        for member in self.members.iter().filter(|m| m.admitted) {
            if message.visible_to(&member.info.id) {
                deliver(
                    member,
                    ToConnection::Message(ServerMessage::Chat(message.clone())),
                );
            }
        }
        self.chat.keep(message);
        Ok(())
    }

    /// The chat is part of the case file: each message is a session event, its text and ends
    /// in the detail, so a room opened after a restart shows it again.
    async fn file_chat(&self, message: &ChatMessage) {
        self.file(SessionEvent {
            at: message.at_ms,
            kind: SessionEventKind::Chat,
            actor: message.from_name.clone(),
            detail: serde_json::to_string(message).unwrap_or_default(),
        })
        .await;
    }

    /// The chat, confirmations and acknowledgments of a session this room takes up again
    /// (after a restart), from its events.
    async fn restore_record(&mut self) {
        let mut presented = None;
        let mut answers = Vec::new();
        let events = match self.store.session_events(&self.session.id).await {
            Ok(events) => events,
            Err(error) => {
                tracing::error!(%error, "could not read the session's record");
                return;
            }
        };
        for event in &events {
            match event.kind {
                SessionEventKind::Chat => {
                    if let Ok(message) = serde_json::from_str::<ChatMessage>(&event.detail) {
                        self.chat.keep(message);
                    }
                }
                SessionEventKind::IdentityConfirmed => {
                    if let Ok(c) = serde_json::from_str::<IdentityConfirmation>(&event.detail) {
                        self.attestations.confirm(&c.participant_id, c.method);
                    }
                }
                SessionEventKind::NoticeAcknowledged => {
                    if let Ok(a) = serde_json::from_str::<NoticeAcknowledgment>(&event.detail) {
                        self.attestations.acknowledge(&a.participant_id, &a.version);
                    }
                }
                SessionEventKind::DocumentSharingChanged => {
                    self.parties_may_share = event.detail == "parties_may_share";
                }
                SessionEventKind::RecordPresented => {
                    if let Ok(p) = serde_json::from_str::<PresentedRecord>(&event.detail) {
                        presented = Some(p);
                    }
                }
                SessionEventKind::RecordConfirmed | SessionEventKind::RecordDisputed => {
                    if let Ok(a) = serde_json::from_str::<RecordAnswer>(&event.detail) {
                        answers.push(a);
                    }
                }
                _ => {}
            }
        }
        let draft = match self.store.record_draft(&self.session.id).await {
            Ok(draft) => draft,
            Err(error) => {
                tracing::error!(%error, "could not read the mediation record's draft");
                None
            }
        };
        self.mediation_record.restore(draft, presented, answers);
        match self.store.documents_of_session(&self.session.id).await {
            Ok(documents) => self.documents = documents,
            Err(error) => tracing::error!(%error, "could not read the session's documents"),
        }
    }

    fn may_share_document(
        &self,
        identity: &SeatHolder,
    ) -> Result<ParticipantInfo, DocumentRefusal> {
        let member = self
            .members
            .iter()
            .find(|m| m.admitted && &m.identity == identity)
            .ok_or(DocumentRefusal::NotInTheRoom)?;
        let info = &member.info;
        may_share_document(info.role, info.is_host, self.parties_may_share)?;
        Ok(info.clone())
    }

    /// Filed by the API already: an event for the case file, and everyone is shown it.
    async fn document_shared(&mut self, document: SharedDocument) {
        let detail = serde_json::to_string(&document).unwrap_or_default();
        self.record(
            SessionEventKind::DocumentShared,
            &document.shared_by,
            &detail,
        )
        .await;
        self.broadcast_all(ServerMessage::DocumentShared(Box::new(document.clone())));
        self.documents.push(document);
    }

    async fn set_document_sharing(&mut self, by: &str, parties_may_share: bool) {
        let Some(host) = self.host_name(by) else {
            return;
        };
        if self.parties_may_share == parties_may_share {
            return;
        }
        self.parties_may_share = parties_may_share;
        let detail = match parties_may_share {
            true => "parties_may_share",
            false => "parties_may_not_share",
        };
        self.record(SessionEventKind::DocumentSharingChanged, &host, detail)
            .await;
        self.broadcast_all(ServerMessage::DocumentSharing { parties_may_share });
    }

    fn record_view(&self, member: &ParticipantInfo) -> RecordView {
        self.mediation_record
            .view(&member.id, may_edit(member.role, member.is_host))
    }

    /// Sends the record, as each may see it, to the admitted members `to` picks.
    fn send_record_to(&self, to: impl Fn(&ParticipantInfo) -> bool) {
        for member in self.members.iter().filter(|m| m.admitted && to(&m.info)) {
            let view = self.record_view(&member.info);
            deliver(
                member,
                ToConnection::Message(ServerMessage::MediationRecord(view)),
            );
        }
    }

    /// Sends everyone admitted the record as each may see it.
    fn announce_record(&self) {
        self.send_record_to(|_| true);
    }

    /// Editor `by` saves the record as typed (not a case event: the draft has its own row).
    async fn save_record(
        &mut self,
        by: &str,
        text: &str,
        version: i64,
    ) -> Result<(), RecordRefusal> {
        let Some(editor) = self.admitted(by) else {
            return Ok(());
        };
        if !may_edit(editor.role, editor.is_host) {
            return Err(RecordRefusal::MayNotEdit);
        }
        let draft = self
            .mediation_record
            .save(text, version, &editor.name, now_ms())?
            .clone();
        if let Err(error) = self.store.save_record_draft(&self.session.id, &draft).await {
            tracing::error!(%error, "could not save the mediation record's draft");
        }
        // Only editors see the draft: nobody else's view changed.
        self.send_record_to(|m| may_edit(m.role, m.is_host));
        Ok(())
    }

    /// The host puts the record to the parties and experts; filed with its text and hash.
    async fn present_record(&mut self, by: &str) -> Result<(), RecordRefusal> {
        let Some(host) = self.host_name(by) else {
            return Err(RecordRefusal::MayNotEdit);
        };
        let presented = self.mediation_record.present(now_ms())?.clone();
        let detail = serde_json::to_string(&presented).unwrap_or_default();
        self.record(SessionEventKind::RecordPresented, &host, &detail)
            .await;
        self.announce_record();
        Ok(())
    }

    /// A party or expert confirms the presented record or disagrees; filed.
    async fn answer_record(
        &mut self,
        by: &str,
        sha256: &str,
        agrees: bool,
        disagreement: &str,
    ) -> Result<(), RecordRefusal> {
        let Some(member) = self.admitted(by) else {
            return Ok(());
        };
        if !may_answer(member.role, member.is_host) {
            return Err(RecordRefusal::MayNotAnswer);
        }
        let answer = self
            .mediation_record
            .answer(
                (&member.id, &member.name),
                sha256,
                agrees,
                disagreement,
                now_ms(),
            )?
            .clone();
        let kind = match agrees {
            true => SessionEventKind::RecordConfirmed,
            false => SessionEventKind::RecordDisputed,
        };
        let detail = serde_json::to_string(&answer).unwrap_or_default();
        self.record(kind, &member.name, &detail).await;
        self.announce_record();
        Ok(())
    }

    fn refuse_record(&self, by: &str, outcome: Result<(), RecordRefusal>) {
        let Err(refusal) = outcome else {
            return;
        };
        let code = match refusal {
            RecordRefusal::MayNotEdit | RecordRefusal::MayNotAnswer => ErrorCode::Forbidden,
            RecordRefusal::Stale | RecordRefusal::NotTheLatest => ErrorCode::Conflict,
            RecordRefusal::TooLong
            | RecordRefusal::NothingToPresent
            | RecordRefusal::DisagreementNeeded => ErrorCode::BadMessage,
        };
        self.send_to(
            by,
            ToConnection::Message(ServerMessage::error(code, refusal.message())),
        );
        if refusal == RecordRefusal::Stale {
            // The editor typed over an older version: they get the latest to carry on from.
            self.send_record_to(|m| m.id == by);
        }
    }

    /// The host `by` confirms who `target` (a party or an expert in the room) is; filed and
    /// shown to everyone.
    async fn confirm_identity(
        &mut self,
        by: &str,
        target: &str,
        method: IdentityMethod,
        note: &str,
    ) -> Result<(), AttestationRefusal> {
        let Some(host) = self.host_name(by) else {
            return Ok(());
        };
        let person = self
            .admitted(target)
            .ok_or(AttestationRefusal::NoSuchParticipant)?;
        if !takes_part(&person) {
            return Err(AttestationRefusal::NotForThisRole);
        }
        let note = checked_note(method, note)?;
        let confirmation = IdentityConfirmation {
            participant_id: person.id.clone(),
            name: person.name,
            method,
            note,
        };
        let detail = serde_json::to_string(&confirmation).unwrap_or_default();
        self.record(SessionEventKind::IdentityConfirmed, &host, &detail)
            .await;
        self.attestations.confirm(&person.id, method);
        self.broadcast_all(ServerMessage::Attestation(self.attestations.of(&person.id)));
        Ok(())
    }

    /// Party `by` has read the notice; filed and shown to everyone.
    async fn acknowledge_notice(
        &mut self,
        by: &str,
        version: &str,
    ) -> Result<(), AttestationRefusal> {
        let Some(party) = self.admitted(by) else {
            return Ok(());
        };
        if party.role != ParticipantRole::Party || party.is_host {
            return Err(AttestationRefusal::NotForThisRole);
        }
        if version != NOTICE_VERSION {
            return Err(AttestationRefusal::OtherNotice);
        }
        let acknowledgment = NoticeAcknowledgment {
            participant_id: party.id.clone(),
            version: version.to_owned(),
        };
        let detail = serde_json::to_string(&acknowledgment).unwrap_or_default();
        self.record(SessionEventKind::NoticeAcknowledged, &party.name, &detail)
            .await;
        self.attestations.acknowledge(&party.id, version);
        self.broadcast_all(ServerMessage::Attestation(self.attestations.of(&party.id)));
        Ok(())
    }

    /// The host `by` takes `members` (parties and experts in the room) aside.
    async fn start_caucus(
        &mut self,
        by: &str,
        members: &[String],
        record: bool,
    ) -> Result<(), CaucusRefusal> {
        let Some(host) = self.host_name(by) else {
            return Ok(());
        };
        if self.caucus.is_some() {
            return Err(CaucusRefusal::AlreadyOn);
        }
        let caucus = Caucus::new(by, members, record)?;
        let mut names = Vec::new();
        for id in caucus.members() {
            let member = self.admitted(id).ok_or(CaucusRefusal::NotInRoom)?;
            if !takes_part(&member) {
                return Err(CaucusRefusal::NotForThisRole);
            }
            names.push(serde_json::json!({"id": id, "name": member.name}));
        }
        self.media.set_caucus(Some(caucus.media())).await;
        let detail = serde_json::json!({"members": names, "record_requested": record});
        self.record(SessionEventKind::CaucusStarted, &host, &detail.to_string())
            .await;
        self.broadcast_all(ServerMessage::Caucus(caucus.info(true)));
        self.caucus = Some(caucus);
        Ok(())
    }

    /// Everyone back in the main room; `reason` is filed (`ended` by the host, or `left`).
    async fn end_caucus(&mut self, actor: &str, reason: &str) -> Result<(), CaucusRefusal> {
        let caucus = self.caucus.take().ok_or(CaucusRefusal::NoneOn)?;
        self.media.set_caucus(None).await;
        let detail = serde_json::json!({"members": caucus.members(), "reason": reason});
        self.record(SessionEventKind::CaucusEnded, actor, &detail.to_string())
            .await;
        self.broadcast_all(ServerMessage::Caucus(caucus.info(false)));
        Ok(())
    }

    /// A caucus member's answer to recording it: once all agree, it is recorded from then on.
    async fn caucus_consent(&mut self, id: &str, consent: bool) -> Result<(), CaucusRefusal> {
        let Some(name) = self.admitted(id).map(|m| m.name) else {
            return Ok(());
        };
        let caucus = self.caucus.as_mut().ok_or(CaucusRefusal::NotAsked)?;
        let was_recorded = caucus.recorded();
        let recorded = caucus.consent(id, consent)?;
        let media = caucus.media();
        let info = caucus.info(true);
        self.record(SessionEventKind::CaucusConsent, &name, &consent.to_string())
            .await;
        if recorded != was_recorded {
            self.media.set_caucus(Some(media)).await;
            if recorded {
                self.record(SessionEventKind::CaucusRecorded, "", "").await;
            }
        }
        self.broadcast_all(ServerMessage::Caucus(info));
        Ok(())
    }

    /// A member left the room: the caucus goes on without them, or ends.
    async fn share_screen(&mut self, by: &str, sharing: bool) {
        let Some(member) = self.admitted(by) else {
            return;
        };
        match self.screen_share.request(by, member.role, sharing) {
            Err(refusal) => {
                let error = ServerMessage::error(ErrorCode::Forbidden, refusal.message());
                self.send_to(by, ToConnection::Message(error));
            }
            Ok(ShareChange::Started { .. }) => {
                self.broadcast_all(ServerMessage::ScreenShare {
                    participant_id: Some(by.to_owned()),
                });
                self.record(SessionEventKind::ScreenShareStarted, &member.name, "")
                    .await;
            }
            Ok(ShareChange::Stopped) => self.screen_share_stopped(&member.name).await,
            Ok(ShareChange::Unchanged) => {}
        }
    }

    async fn screen_share_stopped(&mut self, sharer_name: &str) {
        self.broadcast_all(ServerMessage::ScreenShare {
            participant_id: None,
        });
        self.record(SessionEventKind::ScreenShareStopped, sharer_name, "")
            .await;
    }

    async fn caucus_left(&mut self, member: &ParticipantInfo) {
        let Some(caucus) = self.caucus.as_mut() else {
            return;
        };
        match caucus.leave(&member.id) {
            AfterLeaving::Unchanged => {}
            AfterLeaving::Smaller => {
                let (media, info) = (caucus.media(), caucus.info(true));
                self.media.set_caucus(Some(media)).await;
                self.broadcast_all(ServerMessage::Caucus(info));
            }
            AfterLeaving::Over => {
                let _ = self.end_caucus(&member.name, "left").await;
            }
        }
    }

    fn refuse_caucus(&self, by: &str, outcome: Result<(), CaucusRefusal>) {
        if let Err(refusal) = outcome {
            let error = ServerMessage::error(refusal.code(), refusal.message());
            self.send_to(by, ToConnection::Message(error));
        }
    }

    fn refuse_attestation(&self, by: &str, outcome: Result<(), AttestationRefusal>) {
        let Err(refusal) = outcome else {
            return;
        };
        let code = match refusal {
            AttestationRefusal::NoSuchParticipant => ErrorCode::NotFound,
            AttestationRefusal::NotForThisRole => ErrorCode::Forbidden,
            AttestationRefusal::NoteNeeded
            | AttestationRefusal::NoteTooLong
            | AttestationRefusal::OtherNotice => ErrorCode::BadMessage,
        };
        let error = ServerMessage::error(code, refusal.message());
        self.send_to(by, ToConnection::Message(error));
    }

    fn mute(&mut self, id: &str, audio_muted: bool, video_muted: bool) {
        let Some(member) = self
            .members
            .iter_mut()
            .find(|m| m.info.id == id && m.admitted)
        else {
            return;
        };
        member.info.audio_muted = audio_muted;
        member.info.video_muted = video_muted;
        self.broadcast_except(
            id,
            ServerMessage::ParticipantMuted {
                participant_id: id.to_owned(),
                audio_muted,
                video_muted,
            },
        );
    }

    /// Tells everyone recording will start, then starts it after the notice period.
    async fn announce_recording(&mut self, by: String) {
        if !matches!(self.recording, Recording::Off) {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        self.recording = Recording::Notice { generation };
        let notice = self.settings.notice;
        self.broadcast_all(ServerMessage::Recording {
            state: RecordingState::Notice,
            starts_in_ms: Some(u64::try_from(notice.as_millis()).unwrap_or(u64::MAX)),
            message: None,
        });
        self.record(SessionEventKind::RecordingNotice, &by, "")
            .await;
        let myself = self.myself.clone();
        tokio::spawn(async move {
            tokio::time::sleep(notice).await;
            if let Some(room) = myself.upgrade() {
                let _ = room
                    .send(RoomCommand::BeginRecording { generation, by })
                    .await;
            }
        });
    }

    async fn begin_recording(&mut self, generation: u64, by: String) {
        if !matches!(self.recording, Recording::Notice { generation: g } if g == generation) {
            return;
        }
        let context = RecordingContext {
            store: self.store.clone(),
            root: self.settings.root.clone(),
            session: self.session.clone(),
            started_by: by.clone(),
            media: self.media.clone(),
            roster: self.roster.clone(),
        };
        let myself = self.myself.clone();
        let on_end = move |error| {
            if let Some(room) = myself.upgrade() {
                let _ = room.try_send(RoomCommand::RecordingEnded { generation, error });
            }
        };
        match recordings::start(context, on_end).await {
            Ok(active) => {
                self.record(SessionEventKind::RecordingStarted, &by, &active.id)
                    .await;
                self.recording = Recording::On { generation, active };
                self.broadcast_all(ServerMessage::Recording {
                    state: RecordingState::On,
                    starts_in_ms: None,
                    message: None,
                });
            }
            Err(error) => {
                tracing::error!(%error, "recording could not start");
                self.recording = Recording::Off;
                self.record(SessionEventKind::RecordingFailed, &by, &error)
                    .await;
                self.broadcast_all(ServerMessage::Recording {
                    state: RecordingState::Failed,
                    starts_in_ms: None,
                    message: Some(error),
                });
            }
        }
    }

    async fn stop_recording(&mut self, by: &str) {
        match std::mem::replace(&mut self.recording, Recording::Off) {
            Recording::Notice { .. } => {
                self.record(SessionEventKind::RecordingCancelled, by, "")
                    .await;
                self.broadcast_recording_off();
            }
            Recording::On { generation, active } => {
                self.record(SessionEventKind::RecordingStopRequested, by, &active.id)
                    .await;
                self.recording = Recording::Stopping { generation };
                // Finishing files may take a moment; the room goes on meanwhile and hears
                // the end through `RecordingEnded`.
                tokio::spawn(active.stop());
            }
            other => self.recording = other,
        }
    }

    /// Stops and waits until the files are filed (the session is ending).
    async fn stop_recording_now(&mut self) {
        if let Recording::On { active, .. } = std::mem::replace(&mut self.recording, Recording::Off)
        {
            active.stop().await;
        }
    }

    async fn recording_ended(&mut self, generation: u64, error: Option<String>) {
        let current = match self.recording {
            Recording::On { generation: g, .. } | Recording::Stopping { generation: g } => g,
            _ => return,
        };
        if current != generation {
            return;
        }
        self.recording = Recording::Off;
        match error {
            None => {
                self.record(SessionEventKind::RecordingStopped, "", "")
                    .await;
                self.broadcast_recording_off();
            }
            Some(error) => {
                self.record(SessionEventKind::RecordingFailed, "", &error)
                    .await;
                self.broadcast_all(ServerMessage::Recording {
                    state: RecordingState::Failed,
                    starts_in_ms: None,
                    message: Some(error),
                });
            }
        }
    }

    async fn consent(&mut self, id: &str, consent: bool) {
        let Some(member) = self
            .members
            .iter()
            .find(|m| m.info.id == id && m.admitted && !m.info.is_host)
        else {
            return;
        };
        let name = member.info.name.clone();
        let kind = if consent {
            SessionEventKind::RecordingConsent
        } else {
            SessionEventKind::RecordingObjection
        };
        self.record(kind, &name, member.info.role.as_str()).await;
        let answer = ServerMessage::RecordingConsent {
            participant_id: id.to_owned(),
            name,
            consent,
        };
        for host in self.members.iter().filter(|m| m.admitted && m.info.is_host) {
            deliver(host, ToConnection::Message(answer.clone()));
        }
    }

    fn broadcast_recording_off(&self) {
        self.broadcast_all(ServerMessage::Recording {
            state: RecordingState::Off,
            starts_in_ms: None,
            message: None,
        });
    }

    fn broadcast_all(&self, message: ServerMessage) {
        for member in self.members.iter().filter(|m| m.admitted) {
            deliver(member, ToConnection::Message(message.clone()));
        }
    }

    /// An admitted member's details.
    fn admitted(&self, id: &str) -> Option<ParticipantInfo> {
        self.members
            .iter()
            .find(|m| m.info.id == id && m.admitted)
            .map(|m| m.info.clone())
    }

    fn host_name(&self, id: &str) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.info.id == id && m.admitted && m.info.is_host)
            .map(|m| m.info.name.clone())
    }

    fn lobby(&self) -> Vec<ParticipantInfo> {
        self.members
            .iter()
            .filter(|m| !m.admitted)
            .map(|m| m.info.clone())
            .collect()
    }

    fn announce_lobby(&self) {
        if !self.session.lobby_enabled {
            return;
        }
        let lobby = self.lobby();
        for host in self.members.iter().filter(|m| m.admitted && m.info.is_host) {
            let update = ServerMessage::LobbyUpdate {
                lobby: lobby.clone(),
            };
            deliver(host, ToConnection::Message(update));
        }
    }

    fn is_host(&self, id: &str) -> bool {
        self.members
            .iter()
            .any(|m| m.info.id == id && m.admitted && m.info.is_host)
    }

    fn is_waiting(&self, id: &str) -> bool {
        self.members.iter().any(|m| m.info.id == id && !m.admitted)
    }

    fn send_to(&self, id: &str, message: ToConnection) {
        if let Some(member) = self.members.iter().find(|m| m.info.id == id) {
            deliver(member, message);
        }
    }

    fn broadcast_except(&self, except: &str, message: ServerMessage) {
        for member in self
            .members
            .iter()
            .filter(|m| m.admitted && m.info.id != except)
        {
            deliver(member, ToConnection::Message(message.clone()));
        }
    }

    /// Session events are part of the case file. Written in order, before the room moves on
    /// (they are a few per minute), so none is lost when the server stops.
    async fn record(&self, kind: SessionEventKind, actor: &str, detail: &str) {
        self.file(SessionEvent {
            at: now_ms(),
            kind,
            actor: actor.to_owned(),
            detail: detail.to_owned(),
        })
        .await;
    }

    async fn file(&self, event: SessionEvent) {
        if let Err(error) = self
            .store
            .record_session_event(&new_id(), &self.session.id, &event)
            .await
        {
            tracing::error!(%error, "could not record a session event");
        }
    }
}

/// Overload policy: a connection whose outbox is full is not reading; it will be dropped by
/// its heartbeat. The room never waits for one member. A member who is away has no connection
/// to tell: their `joined` brings them up to date when they resume.
fn deliver(member: &Member, message: ToConnection) {
    if member.away.is_some() {
        return;
    }
    if member.outbox.try_send(message).is_err() {
        tracing::warn!(participant = %member.info.id, "signaling outbox full; message dropped");
    }
}

/// Tells `member`'s connection it has been let go, with `notice` to pass on before closing.
fn let_go(member: &mut Member, notice: ServerMessage) {
    if let Some(removal) = member.removal.take() {
        let _ = removal.send(notice);
    }
}

/// A party or an expert, not hosting: whom the mediator confirms and may take aside.
fn takes_part(member: &ParticipantInfo) -> bool {
    !member.is_host
        && matches!(
            member.role,
            ParticipantRole::Party | ParticipantRole::Expert
        )
}
