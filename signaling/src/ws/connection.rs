//! One WebSocket client: reads its messages, checks each against its role and phase, and
//! relays between it, its session's room actor and the SFU. A single task owns the socket,
//! so messages go out in the order they were decided.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use concord_sfu::{ParticipantId, PeerEvent, RoomHandle as MediaRoom, SfuError, TileView};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::caucus::MAX_CAUCUS_MEMBERS;
use super::chat::MAX_CHAT_CHARS;
use super::mediation_record::MAX_DISAGREEMENT_CHARS;
use super::protocol::{
    ClientMessage, LeaveReason, ParticipantRole, ServerMessage, SessionInfo, MAX_MESSAGE_BYTES,
    MAX_VIEW_TILES,
};
use super::room::{NewMember, RoomCommand, RoomRef, ToConnection};
use super::screen_share::ShareRefusal;
use super::seats::{account_place, invitee_place};
use crate::auth::{session_token, user_from_headers};
use crate::client_address::ClientAddress;
use crate::error::ApiError;
use crate::error_code::ErrorCode;
use crate::invitation_tokens::check_token;
use crate::origin::same_origin;
use crate::ratelimit::{address_key, MessageBudget};
use crate::secrets::{new_id, now_ms, token_hash};
use crate::sign_outs::{SignOut, SignOuts};
use crate::state::AppState;
use crate::store::{SeatHolder, SessionStatus, User};

/// Frames above this are refused by the WebSocket layer itself (and close the connection);
/// between `MAX_MESSAGE_BYTES` and this, the client gets `message_too_large` and stays.
const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// A client that keeps sending what we refuse is cut off.
const MAX_ERRORS: u32 = 20;
/// Messages other than pings a client may send at once, and per second after that (see
/// [`MessageBudget`]).
const MESSAGE_BURST: u32 = 120;
const MESSAGES_PER_SECOND: u32 = 30;
const OUTBOX: usize = 256;
const MEDIA_EVENTS: usize = 32;
/// Silence is checked a few times per ping interval, never more often than this.
const MIN_HEARTBEAT_CHECK: Duration = Duration::from_millis(100);
const MAX_HEARTBEAT_CHECK: Duration = Duration::from_secs(5);
/// How long a closing connection waits for the client's Close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// A client that does not take a message within this long has stopped reading (or its network
/// is gone): its connection is dropped rather than left blocked on the write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
) -> Response {
    // A cookie only counts from our own pages: a cross-site page could otherwise open a
    // socket with the mediator's cookie (cross-site WebSocket hijacking).
    let user = if same_origin(&headers) {
        user_from_headers(&state, &headers).await.ok().flatten()
    } else {
        None
    };
    // Listening from before the upgrade: a sign-out meanwhile is not missed.
    let watch = user
        .as_ref()
        .zip(session_token(&headers))
        .map(|(user, token)| SignInWatch {
            user_id: user.id.clone(),
            token_hash: token_hash(token),
            sign_outs: state.sign_outs.subscribe(),
        });
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            Connection::new(state, client, user, watch)
                .run(socket)
                .await;
        })
}

enum Phase {
    /// Waiting for `join`.
    New,
    /// In the room's lobby (or being admitted).
    Waiting { member: String, room: RoomRef },
    /// Admitted: may negotiate media.
    Admitted {
        member: String,
        room: RoomRef,
        media: MediaRoom,
        is_host: bool,
        /// False after the SFU reported the media connection failed: the next offer rejoins.
        media_joined: bool,
    },
}

/// Why the loop ended.
enum Exit {
    /// The client asked to leave, or was cut off; tell the room.
    Leave(LeaveReason),
    /// The connection was lost (it ended without a Close, or went silent): the room holds
    /// the seat for a while, for the client to resume.
    Dropped,
    /// The room already let this member go.
    Released,
}

struct Connection {
    state: AppState,
    ip: IpAddr,
    user: Option<User>,
    phase: Phase,
    outbox_tx: mpsc::Sender<ToConnection>,
    outbox: mpsc::Receiver<ToConnection>,
    media_tx: mpsc::Sender<PeerEvent>,
    media_events: mpsc::Receiver<PeerEvent>,
    /// Set on admission; host actions that go through the hub name it.
    joined_session: Option<String>,
    /// What the member is in the room, from its `joined`.
    role: Option<ParticipantRole>,
    /// The room's word that it let this member go (see [`super::room::Removal`]).
    removal: Option<oneshot::Receiver<ServerMessage>>,
    /// The sign-in the socket was opened with: the socket closes when it ends.
    sign_in: Option<SignInWatch>,
    messages: MessageBudget,
    errors: u32,
}

/// A sign-in and where its end is announced.
struct SignInWatch {
    user_id: String,
    token_hash: String,
    sign_outs: broadcast::Receiver<SignOut>,
}

/// Resolves when the socket's sign-in ends; never for a socket opened without one.
async fn signed_out(watch: &mut Option<SignInWatch>) {
    match watch {
        Some(watch) => {
            SignOuts::ended(&mut watch.sign_outs, &watch.user_id, &watch.token_hash).await
        }
        None => std::future::pending().await,
    }
}

type Socket = futures_util::stream::SplitSink<WebSocket, Message>;

impl Connection {
    fn new(
        state: AppState,
        ip: IpAddr,
        user: Option<User>,
        sign_in: Option<SignInWatch>,
    ) -> Connection {
        let (outbox_tx, outbox) = mpsc::channel(OUTBOX);
        let (media_tx, media_events) = mpsc::channel(MEDIA_EVENTS);
        Connection {
            state,
            ip,
            user,
            phase: Phase::New,
            outbox_tx,
            outbox,
            media_tx,
            media_events,
            joined_session: None,
            role: None,
            removal: None,
            sign_in,
            messages: MessageBudget::new(MESSAGE_BURST, MESSAGES_PER_SECOND, Instant::now()),
            errors: 0,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let signaling = self.state.config.signaling.clone();
        let ping_after = Duration::from_secs(signaling.ping_after_secs);
        let drop_after = Duration::from_secs(signaling.drop_after_secs);
        let mut last_heard = Instant::now();
        let mut pinged = false;
        let check = (ping_after / 4).clamp(MIN_HEARTBEAT_CHECK, MAX_HEARTBEAT_CHECK);
        let mut heartbeat = tokio::time::interval(check);
        // A socket that never joins holds a connection and a task for nothing.
        let join_by = Instant::now() + Duration::from_secs(signaling.join_within_secs);

        let exit = loop {
            tokio::select! {
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else {
                        break Exit::Dropped;
                    };
                    last_heard = Instant::now();
                    pinged = false;
                    let step = match frame {
                        Message::Text(text) => self.on_text(&mut sink, text.as_str()).await,
                        Message::Binary(_) => {
                            self.refuse(&mut sink, ErrorCode::BadMessage, "Send JSON text messages.").await
                        }
                        Message::Close(_) => Err(Exit::Leave(LeaveReason::Left)),
                        Message::Ping(_) | Message::Pong(_) => Ok(()),
                    };
                    if let Err(exit) = step {
                        break exit;
                    }
                }
                Some(delivery) = self.outbox.recv() => {
                    if let Err(exit) = self.on_delivery(&mut sink, delivery).await {
                        break exit;
                    }
                }
                Some(event) = self.media_events.recv() => {
                    if let Err(exit) = self.on_media_event(&mut sink, event).await {
                        break exit;
                    }
                }
                () = signed_out(&mut self.sign_in) => {
                    let notice = ServerMessage::error(
                        ErrorCode::SignedOut,
                        "This sign-in has ended; sign in again to continue.",
                    );
                    let _ = send(&mut sink, &notice).await;
                    break Exit::Leave(LeaveReason::Left);
                }
                notice = let_go(&mut self.removal) => {
                    if let Some(notice) = notice {
                        let _ = send(&mut sink, &notice).await;
                    }
                    break Exit::Released;
                }
                _ = heartbeat.tick() => {
                    if matches!(self.phase, Phase::New) && Instant::now() >= join_by {
                        let late = ServerMessage::error(
                            ErrorCode::JoinTimeout,
                            "No join arrived in time; connect again to join.",
                        );
                        let _ = send(&mut sink, &late).await;
                        break Exit::Released;
                    }
                    let silent = last_heard.elapsed();
                    if silent >= drop_after {
                        break Exit::Dropped;
                    }
                    if silent >= ping_after && !pinged {
                        pinged = true;
                        if send(&mut sink, &ServerMessage::Ping).await.is_err() {
                            break Exit::Dropped;
                        }
                    }
                }
            }
        };

        if let Phase::Waiting { member, room } | Phase::Admitted { member, room, .. } = &self.phase
        {
            let (id, from) = (member.clone(), self.outbox_tx.clone());
            let command = match exit {
                Exit::Leave(reason) => Some(RoomCommand::Leave { id, reason, from }),
                Exit::Dropped => Some(RoomCommand::Dropped { id, from }),
                Exit::Released => None,
            };
            if let Some(command) = command {
                let _ = room.send(command).await;
            }
        }
        // Closing handshake: read until the client's Close. Closing with unread input makes
        // the kernel reset the connection, which can destroy our last messages in flight.
        let _ = sink.close().await;
        let drain = async { while let Some(Ok(_)) = stream.next().await {} };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
    }

    async fn on_text(&mut self, sink: &mut Socket, text: &str) -> Result<(), Exit> {
        if text.len() > MAX_MESSAGE_BYTES {
            return self
                .refuse(
                    sink,
                    ErrorCode::MessageTooLarge,
                    "Messages are limited to 64 KiB.",
                )
                .await;
        }
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(error) => {
                let detail = format!("Not a valid message: {error}");
                return self.refuse(sink, ErrorCode::BadMessage, detail).await;
            }
        };
        // Pings stay with this connection's task (and its writes time out); everything else
        // may reach the room's, which one client must not keep busy.
        let keepalive = matches!(message, ClientMessage::Ping | ClientMessage::Pong);
        if !keepalive && !self.messages.take(Instant::now()) {
            return self
                .refuse(
                    sink,
                    ErrorCode::RateLimited,
                    "Too many messages; slow down.",
                )
                .await;
        }
        match message {
            ClientMessage::Join {
                token, session_id, ..
            } => self.on_join(sink, token, session_id).await,
            ClientMessage::Resume { token } => self.on_resume(sink, token).await,
            ClientMessage::Ping => send(sink, &ServerMessage::Pong).await,
            ClientMessage::Pong => Ok(()),
            ClientMessage::Leave => Err(Exit::Leave(LeaveReason::Left)),
            other => self.on_in_room(sink, other).await,
        }
    }

    async fn on_join(
        &mut self,
        sink: &mut Socket,
        token: Option<String>,
        session_id: Option<String>,
    ) -> Result<(), Exit> {
        if !matches!(self.phase, Phase::New) {
            return self
                .refuse(sink, ErrorCode::AlreadyJoined, "You have already joined.")
                .await;
        }
        let arrival = match (token, session_id) {
            (Some(token), None) => self.arrival_by_invitation(&token).await,
            (None, Some(session_id)) => self.arrival_by_account(&session_id).await,
            _ => Err((
                ErrorCode::BadMessage,
                "Join with either a token or a session_id.".to_owned(),
            )),
        };
        let (session, member) = match arrival {
            Ok(arrival) => arrival,
            Err((code, message)) => {
                // No media, no room: the socket closes right after the reason.
                let _ = send(sink, &ServerMessage::error(code, message)).await;
                return Err(Exit::Released);
            }
        };
        let member_id = member.id.clone();
        let mut member = member;
        let (removal, removed) = oneshot::channel();
        member.removal = Some(removal);
        self.removal = Some(removed);
        let Some(room) = self.state.hub.enter(&session, member).await else {
            let _ = send(
                sink,
                &ServerMessage::error(ErrorCode::Internal, "The room is not available."),
            )
            .await;
            return Err(Exit::Released);
        };
        self.phase = Phase::Waiting {
            member: member_id,
            room,
        };
        Ok(())
    }

    /// Takes back a held seat. A token that resumes nothing is refused like a bad invitation
    /// link, and counts towards the same limit of failures per address.
    async fn on_resume(&mut self, sink: &mut Socket, token: String) -> Result<(), Exit> {
        if !matches!(self.phase, Phase::New) {
            return self
                .refuse(sink, ErrorCode::AlreadyJoined, "You have already joined.")
                .await;
        }
        let now = Instant::now();
        let limiter = &self.state.token_failures;
        let address = address_key(self.ip);
        if limiter.is_blocked(&address, now) {
            let refusal = ServerMessage::error(ErrorCode::RateLimited, "Too many failed attempts.");
            let _ = send(sink, &refusal).await;
            return Err(Exit::Released);
        }
        let hub = self.state.hub.clone();
        let (removal, removed) = oneshot::channel();
        let resumed = hub
            .resume(
                token,
                self.outbox_tx.clone(),
                self.media_tx.clone(),
                removal,
            )
            .await;
        let Some((room, resumed)) = resumed else {
            limiter.record_failure(&address, now);
            let refusal = ServerMessage::error(
                ErrorCode::ResumeRefused,
                "This seat cannot be resumed; join again from your link.",
            );
            let _ = send(sink, &refusal).await;
            return Err(Exit::Released);
        };
        let is_host = self.note_joined(&resumed.joined);
        self.removal = Some(removed);
        self.phase = Phase::Admitted {
            member: resumed.member,
            room,
            media: resumed.media,
            is_host,
            media_joined: resumed.media_joined,
        };
        send(sink, &resumed.joined).await?;
        if !resumed.media_joined {
            // The media peer did not outlast the drop: the page needs a new peer connection.
            let notice = ServerMessage::error(
                ErrorCode::MediaFailed,
                "The media connection was lost; send a new offer to reconnect.",
            );
            send(sink, &notice).await?;
        }
        Ok(())
    }

    /// Notes the session a `joined` admits this connection to; returns whether it hosts.
    fn note_joined(&mut self, joined: &ServerMessage) -> bool {
        match joined {
            ServerMessage::Joined {
                is_host,
                session,
                role,
                ..
            } => {
                self.joined_session = Some(session.id.clone());
                self.role = Some(*role);
                *is_host
            }
            _ => false,
        }
    }

    async fn arrival_by_invitation(
        &self,
        token: &str,
    ) -> Result<(SessionInfo, NewMember), (ErrorCode, String)> {
        let valid = check_token(&self.state, token, self.ip)
            .await
            .map_err(api_error_to_signal)?;
        let _ = self
            .state
            .store
            .touch_invitation(&valid.invitation.id, now_ms())
            .await;
        let role = invitee_place(valid.invitation.role);
        let session = SessionInfo::of(&valid.session, &valid.dispute);
        let member = self.new_member(
            valid.invitation.name.clone(),
            role,
            false,
            false,
            SeatHolder::Invitation(valid.invitation.id.clone()),
        );
        Ok((session, member))
    }

    async fn arrival_by_account(
        &self,
        session_id: &str,
    ) -> Result<(SessionInfo, NewMember), (ErrorCode, String)> {
        let user = self
            .user
            .clone()
            .ok_or((ErrorCode::Unauthenticated, "Sign in first.".to_owned()))?;
        let not_found = || {
            (
                ErrorCode::SessionNotFound,
                "There is no such session.".to_owned(),
            )
        };
        let store = &self.state.store;
        let session = store
            .session(session_id)
            .await
            .map_err(|_| internal())?
            .ok_or_else(not_found)?;
        if session.status == SessionStatus::Ended {
            return Err((
                ErrorCode::SessionEnded,
                "This session has ended.".to_owned(),
            ));
        }
        let dispute = store
            .dispute(&session.dispute_id)
            .await
            .map_err(|_| internal())?
            .ok_or_else(not_found)?;
        let Some((role, is_host)) = account_place(&user, &dispute.mediator_id) else {
            return Err((ErrorCode::Forbidden, "This is not your session.".to_owned()));
        };
        if is_host {
            store
                .mark_session_live(&session.id, now_ms())
                .await
                .map_err(|_| internal())?;
        }
        let info = SessionInfo::of(&session, &dispute);
        // Only the host skips the lobby: parties see staff come in like anyone else.
        let member = self.new_member(
            user.display_name.clone(),
            role,
            is_host,
            is_host,
            SeatHolder::Account(user.id.clone()),
        );
        Ok((info, member))
    }

    fn new_member(
        &self,
        name: String,
        role: ParticipantRole,
        is_host: bool,
        trusted: bool,
        identity: SeatHolder,
    ) -> NewMember {
        NewMember {
            id: new_id(),
            name,
            role,
            is_host,
            trusted,
            identity,
            outbox: self.outbox_tx.clone(),
            media_events: self.media_tx.clone(),
            removal: None,
        }
    }

    /// Everything but join, ping and leave: needs a room, most of it admission.
    async fn on_in_room(&mut self, sink: &mut Socket, message: ClientMessage) -> Result<(), Exit> {
        let (member, room, media, is_host, media_joined) = match &self.phase {
            Phase::New => {
                return self
                    .refuse(sink, ErrorCode::NotJoined, "Send join first.")
                    .await;
            }
            Phase::Waiting { .. } => {
                return self
                    .refuse(
                        sink,
                        ErrorCode::NotAdmitted,
                        "Wait until the mediator lets you in.",
                    )
                    .await;
            }
            Phase::Admitted {
                member,
                room,
                media,
                is_host,
                media_joined,
            } => (
                member.clone(),
                room.clone(),
                media.clone(),
                *is_host,
                *media_joined,
            ),
        };
        let participant = ParticipantId(member.clone());
        let host_only = matches!(
            message,
            ClientMessage::Admit { .. }
                | ClientMessage::Refuse { .. }
                | ClientMessage::Kick { .. }
                | ClientMessage::EndSession
                | ClientMessage::StartRecording
                | ClientMessage::StopRecording
                | ClientMessage::ConfirmIdentity { .. }
                | ClientMessage::StartCaucus { .. }
                | ClientMessage::EndCaucus
                | ClientMessage::SetDocumentSharing { .. }
        );
        if host_only && !is_host {
            return self
                .refuse(sink, ErrorCode::Forbidden, "Only the mediator may do that.")
                .await;
        }
        match message {
            ClientMessage::Offer { sdp, screen_mid } => {
                if screen_mid.is_some() && !self.role.is_some_and(|r| r.may_share_screen()) {
                    let refusal = ShareRefusal::MayNotShare.message();
                    return self.refuse(sink, ErrorCode::Forbidden, refusal).await;
                }
                if !media_joined {
                    // Through the room: only a member it still holds gets media again.
                    let rejoined = room.rejoin_media(member.clone(), self.outbox_tx.clone());
                    if let Err(error) = rejoined.await {
                        return self.refuse_sfu(sink, error).await;
                    }
                    self.set_media_joined(true);
                }
                match media.offer_sharing(participant, sdp, screen_mid).await {
                    Ok(answer) => send(sink, &ServerMessage::Answer { sdp: answer }).await,
                    Err(error) => self.refuse_sfu(sink, error).await,
                }
            }
            ClientMessage::Answer { sdp } => match media.answer(participant, sdp).await {
                Ok(()) => Ok(()),
                Err(error) => self.refuse_sfu(sink, error).await,
            },
            ClientMessage::Candidate { candidate } => {
                let candidate = candidate.unwrap_or_default();
                match media.candidate(participant, candidate).await {
                    Ok(()) => Ok(()),
                    Err(error) => self.refuse_sfu(sink, error).await,
                }
            }
            ClientMessage::Mute {
                audio_muted,
                video_muted,
            } => {
                let command = RoomCommand::Mute {
                    id: member,
                    audio_muted,
                    video_muted,
                };
                room_send(&room, command).await
            }
            ClientMessage::View { tiles } => {
                if tiles.len() > MAX_VIEW_TILES {
                    return self
                        .refuse(
                            sink,
                            ErrorCode::BadMessage,
                            "A view describes at most 64 tiles.",
                        )
                        .await;
                }
                let tiles = tiles
                    .into_iter()
                    .map(|tile| TileView {
                        publisher: ParticipantId(tile.participant_id),
                        width: tile.width,
                        height: tile.height,
                    })
                    .collect();
                media.set_view(participant, tiles).await;
                Ok(())
            }
            ClientMessage::AudioOnly { enabled } => {
                media.set_audio_only(participant, enabled).await;
                Ok(())
            }
            ClientMessage::Admit { participant_id } => {
                room_send(
                    &room,
                    RoomCommand::Admit {
                        by: member,
                        target: participant_id,
                    },
                )
                .await
            }
            ClientMessage::Refuse { participant_id } => {
                room_send(
                    &room,
                    RoomCommand::Refuse {
                        by: member,
                        target: participant_id,
                    },
                )
                .await
            }
            ClientMessage::Kick { participant_id } => {
                room_send(
                    &room,
                    RoomCommand::Kick {
                        by: member,
                        target: participant_id,
                    },
                )
                .await
            }
            ClientMessage::StartRecording => {
                room_send(&room, RoomCommand::StartRecording { by: member }).await
            }
            ClientMessage::StopRecording => {
                room_send(&room, RoomCommand::StopRecording { by: member }).await
            }
            ClientMessage::RecordingConsent { consent } => {
                room_send(
                    &room,
                    RoomCommand::RecordingConsent {
                        id: member,
                        consent,
                    },
                )
                .await
            }
            ClientMessage::Chat { text, to } => {
                if text.len() > 4 * MAX_CHAT_CHARS {
                    return self
                        .refuse(
                            sink,
                            ErrorCode::BadMessage,
                            "A chat message holds at most 1000 characters.",
                        )
                        .await;
                }
                room_send(
                    &room,
                    RoomCommand::Chat {
                        by: member,
                        text,
                        to,
                    },
                )
                .await
            }
            ClientMessage::ConfirmIdentity {
                participant_id,
                method,
                note,
            } => {
                let command = RoomCommand::ConfirmIdentity {
                    by: member,
                    target: participant_id,
                    method,
                    note,
                };
                room_send(&room, command).await
            }
            ClientMessage::StartCaucus {
                participant_ids,
                record,
            } => {
                if participant_ids.len() > MAX_CAUCUS_MEMBERS {
                    return self
                        .refuse(sink, ErrorCode::BadMessage, "A caucus holds at most 16.")
                        .await;
                }
                let command = RoomCommand::StartCaucus {
                    by: member,
                    members: participant_ids,
                    record,
                };
                room_send(&room, command).await
            }
            ClientMessage::EndCaucus => {
                room_send(&room, RoomCommand::EndCaucus { by: member }).await
            }
            ClientMessage::RecordDraft { text, version } => {
                let command = RoomCommand::RecordDraft {
                    by: member,
                    text,
                    version,
                };
                room_send(&room, command).await
            }
            ClientMessage::SetDocumentSharing { parties_may_share } => {
                let command = RoomCommand::SetDocumentSharing {
                    by: member,
                    parties_may_share,
                };
                room_send(&room, command).await
            }
            ClientMessage::PresentRecord => {
                room_send(&room, RoomCommand::PresentRecord { by: member }).await
            }
            ClientMessage::AnswerRecord {
                sha256,
                agrees,
                disagreement,
            } => {
                if disagreement.len() > 4 * MAX_DISAGREEMENT_CHARS {
                    let refusal = "Say what you disagree with in at most 2000 characters.";
                    return self.refuse(sink, ErrorCode::BadMessage, refusal).await;
                }
                let command = RoomCommand::AnswerRecord {
                    by: member,
                    sha256,
                    agrees,
                    disagreement,
                };
                room_send(&room, command).await
            }
            ClientMessage::AnswerExpert {
                invitation_id,
                accept,
            } => {
                let command = RoomCommand::AnswerExpert {
                    by: member,
                    invitation_id,
                    accept,
                };
                room_send(&room, command).await
            }
            ClientMessage::ShareScreen { sharing } => {
                room_send(
                    &room,
                    RoomCommand::ShareScreen {
                        by: member,
                        sharing,
                    },
                )
                .await
            }
            ClientMessage::CaucusConsent { consent } => {
                let command = RoomCommand::CaucusConsent {
                    id: member,
                    consent,
                };
                room_send(&room, command).await
            }
            ClientMessage::AcknowledgeNotice { version } => {
                let command = RoomCommand::AcknowledgeNotice {
                    by: member,
                    version,
                };
                room_send(&room, command).await
            }
            ClientMessage::EndSession => {
                let name = self
                    .user
                    .as_ref()
                    .map(|u| u.display_name.clone())
                    .unwrap_or_default();
                if let Some(session_id) = self.joined_session.clone() {
                    if let Err(error) = self.state.hub.end_session(&session_id, &name).await {
                        tracing::error!(?error, "ending a session failed");
                        return self
                            .refuse(sink, ErrorCode::Internal, "Could not end the session.")
                            .await;
                    }
                }
                Ok(())
            }
            ClientMessage::Join { .. }
            | ClientMessage::Resume { .. }
            | ClientMessage::Ping
            | ClientMessage::Pong
            | ClientMessage::Leave => Ok(()),
        }
    }

    fn set_media_joined(&mut self, joined: bool) {
        if let Phase::Admitted { media_joined, .. } = &mut self.phase {
            *media_joined = joined;
        }
    }

    async fn on_delivery(&mut self, sink: &mut Socket, delivery: ToConnection) -> Result<(), Exit> {
        match delivery {
            ToConnection::Message(message) => send(sink, &message).await,
            ToConnection::Admitted { joined, media } => {
                let phase = std::mem::replace(&mut self.phase, Phase::New);
                let (member, room) = match phase {
                    Phase::Waiting { member, room } => (member, room),
                    other => {
                        self.phase = other;
                        return Ok(());
                    }
                };
                let is_host = self.note_joined(&joined);
                self.phase = Phase::Admitted {
                    member,
                    room,
                    media,
                    is_host,
                    media_joined: true,
                };
                send(sink, &joined).await
            }
        }
    }

    async fn on_media_event(&mut self, sink: &mut Socket, event: PeerEvent) -> Result<(), Exit> {
        match event {
            PeerEvent::Offer(sdp) => send(sink, &ServerMessage::Offer { sdp }).await,
            PeerEvent::Connected => Ok(()),
            PeerEvent::PublishLayers { mid, active } => {
                send(sink, &ServerMessage::PublishLayers { mid, active }).await
            }
            PeerEvent::VideoPaused { publisher, pause } => {
                let message = ServerMessage::VideoPaused {
                    participant_id: publisher.0,
                    paused: pause.is_some(),
                    reason: pause.map(|p| p.as_str()),
                };
                send(sink, &message).await
            }
            PeerEvent::Quality(report) => {
                if let Phase::Admitted { member, room, .. } = &self.phase {
                    let command = RoomCommand::Quality {
                        id: member.clone(),
                        report,
                    };
                    room_send(room, command).await?;
                }
                Ok(())
            }
            PeerEvent::Failed => {
                self.set_media_joined(false);
                let notice = ServerMessage::error(
                    ErrorCode::MediaFailed,
                    "The media connection was lost; send a new offer to reconnect.",
                );
                send(sink, &notice).await
            }
        }
    }

    async fn refuse_sfu(&mut self, sink: &mut Socket, error: SfuError) -> Result<(), Exit> {
        let code = match error {
            SfuError::BadSdp | SfuError::SdpRefused(_) | SfuError::NoPendingOffer => {
                ErrorCode::BadSdp
            }
            SfuError::BadCandidate => ErrorCode::BadMessage,
            SfuError::TooManyCandidates => ErrorCode::TooManyCandidates,
            SfuError::UnknownParticipant | SfuError::AlreadyJoined => ErrorCode::MediaFailed,
            SfuError::RoomClosed | SfuError::Bind(_) => ErrorCode::Internal,
        };
        self.refuse(sink, code, error.to_string()).await
    }

    /// Answers a refused message with an error; too many and the client is cut off.
    async fn refuse(
        &mut self,
        sink: &mut Socket,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Result<(), Exit> {
        self.errors += 1;
        send(sink, &ServerMessage::error(code, message)).await?;
        if self.errors >= MAX_ERRORS {
            let _ = send(
                sink,
                &ServerMessage::error(ErrorCode::BadMessage, "Too many refused messages; goodbye."),
            )
            .await;
            return Err(Exit::Leave(LeaveReason::Disconnected));
        }
        Ok(())
    }
}

async fn room_send(room: &RoomRef, command: RoomCommand) -> Result<(), Exit> {
    room.send(command)
        .await
        .map_err(|_| Exit::Leave(LeaveReason::Disconnected))
}

async fn send(sink: &mut Socket, message: &ServerMessage) -> Result<(), Exit> {
    let text =
        serde_json::to_string(message).map_err(|_| Exit::Leave(LeaveReason::Disconnected))?;
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(Exit::Dropped),
    }
}

/// Waits for the room's word that it let this member go: `Some(notice)` to pass on, `None` when
/// it let go without one. Never resolves before a join, or once heard.
async fn let_go(removal: &mut Option<oneshot::Receiver<ServerMessage>>) -> Option<ServerMessage> {
    let Some(receiver) = removal.as_mut() else {
        return std::future::pending().await;
    };
    let notice = receiver.await.ok();
    *removal = None;
    notice
}

fn internal() -> (ErrorCode, String) {
    (
        ErrorCode::Internal,
        "Something went wrong on the server.".to_owned(),
    )
}

fn api_error_to_signal(error: ApiError) -> (ErrorCode, String) {
    let (_, code) = error.status_and_code();
    (code, error.message())
}
