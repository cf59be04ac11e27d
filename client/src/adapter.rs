//! The seam between a load run and a particular server: prepare a room for some publishers and
//! subscribers, then join each seat and negotiate media. [`ConcordAdapter`] does it through
//! Concord's REST API (a signed-in mediator creates a dispute, a session with the lobby off, and
//! one invitation per seat) and its WebSocket signaling with the invitation tokens. Another
//! server (Janus VideoRoom, for the comparison) gets its own implementation: its `join` runs a
//! task translating that server's signaling to and from Concord's message shapes and hands the
//! resulting [`crate::peer::MessageChannel`] to [`Peer::start_on`], so the media side (publisher,
//! counters, delay) stays the same.
//!
//! A room can also be recorded ([`SfuAdapter::start_recording`]): for Concord a host connection
//! (the signed-in account, over `/ws`, without media) sends `start_recording` and keeps the
//! returned [`RoomRecording`] until it is stopped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::api::{id_of, ApiClient};
use crate::peer::{JoinAs, Peer, PeerOptions};
use crate::signal::{msg_type, signaling_url, SignalClient};

/// How long a stopped recording may take to finish and file its files.
const RECORDING_STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// What a seat does in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Sends audio and video (and receives everyone else's).
    Publisher,
    /// Only receives.
    Subscriber,
}

/// One seat in a prepared room: what [`SfuAdapter::join`] needs to take it. Opaque to the
/// load generator.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub role: Role,
    /// For Concord: the invitation token.
    pub credential: String,
}

/// "Prepare a room; join it as publisher or subscriber and negotiate SDP."
#[async_trait]
pub trait SfuAdapter: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// Prepares one room with a seat per entry of `roles`, returned in the same order.
    async fn create_room(&self, roles: &[Role]) -> Result<Vec<Ticket>>;

    /// Takes a seat: signals, negotiates, and returns the participant once the server accepted
    /// it (media then flows on its own). `options.publish` follows the ticket's role.
    async fn join(&self, ticket: &Ticket, options: PeerOptions) -> Result<Peer>;

    /// Takes a seat that may need more than one connection (Janus VideoRoom publishes and
    /// subscribes on separate PeerConnections). The first peer names the seat: its participant
    /// id is the publisher id the others receive. What the seat received is the union of what
    /// its peers received; what it sent, the sum.
    async fn join_seat(&self, ticket: &Ticket, options: PeerOptions) -> Result<Vec<Peer>> {
        Ok(vec![self.join(ticket, options).await?])
    }

    /// Starts recording the room whose seats are `room` (what one [`SfuAdapter::create_room`]
    /// returned) and returns once the server records. The recording goes on until
    /// [`RoomRecording::stop`].
    async fn start_recording(&self, room: &[Ticket]) -> Result<Box<dyn RoomRecording>> {
        let _ = room;
        bail!("{} cannot record rooms", self.name())
    }
}

/// A room being recorded, from [`SfuAdapter::start_recording`]. Dropping it without
/// [`RoomRecording::stop`] leaves the recording to the server (Concord's host connection
/// closes; the recording goes on until the session ends).
#[async_trait]
pub trait RoomRecording: Send + Sync {
    /// From asking for the recording to the server recording (Concord: the notice period
    /// included).
    fn time_to_start(&self) -> Duration;

    /// Stops recording, waits until every file is finished and filed, and says what was filed.
    async fn stop(self: Box<Self>) -> Result<RecordedFiles>;
}

/// What a stopped recording filed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedFiles {
    /// The recording's id on the server.
    pub id: String,
    /// Per-participant files, and those among them filed `complete`.
    pub participant_files: usize,
    pub complete_files: usize,
    /// The participant files' sizes, summed.
    pub bytes: u64,
    /// From `stop_recording` to the files being filed.
    pub time_to_stop: Duration,
}

/// Concord through its REST API and `/ws` signaling.
pub struct ConcordAdapter {
    api: ApiClient,
    ws_url: String,
    timeout: Duration,
    /// The session and dispute of every room created, by invitation token.
    rooms: Mutex<HashMap<String, CreatedRoom>>,
}

#[derive(Debug, Clone)]
struct CreatedRoom {
    session_id: String,
    dispute_id: String,
}

impl ConcordAdapter {
    /// Signs in to `base_url` (`http://127.0.0.1:PORT`) as a mediator or admin.
    pub async fn sign_in(base_url: &str, username: &str, password: &str) -> Result<Self> {
        let api = ApiClient::new(base_url)?;
        api.login(username, password).await?;
        Ok(Self {
            api,
            ws_url: signaling_url(base_url),
            timeout: Duration::from_secs(20),
            rooms: Mutex::new(HashMap::new()),
        })
    }
}

#[async_trait]
impl SfuAdapter for ConcordAdapter {
    fn name(&self) -> &str {
        "concord"
    }

    async fn create_room(&self, roles: &[Role]) -> Result<Vec<Ticket>> {
        let dispute = self.api.create_dispute().await?;
        let dispute_id = id_of(&dispute)?;
        let session = self.api.create_session(&dispute_id, false).await?;
        let session_id = id_of(&session)?;
        let mut tickets = Vec::with_capacity(roles.len());
        for (i, role) in roles.iter().enumerate() {
            // Observers receive everything and are never forwarded: a pure subscriber.
            let invited_as = match role {
                Role::Publisher => "party",
                Role::Subscriber => "observer",
            };
            let invitation = self
                .api
                .invite(&session_id, invited_as, &format!("Load {invited_as} {i}"))
                .await
                .with_context(|| format!("inviting seat {i}"))?;
            tickets.push(Ticket {
                role: *role,
                credential: invitation.token,
            });
        }
        let created = CreatedRoom {
            session_id,
            dispute_id,
        };
        let mut rooms = self
            .rooms
            .lock()
            .map_err(|_| anyhow!("the room list's lock is poisoned"))?;
        for ticket in &tickets {
            rooms.insert(ticket.credential.clone(), created.clone());
        }
        Ok(tickets)
    }

    async fn join(&self, ticket: &Ticket, mut options: PeerOptions) -> Result<Peer> {
        options.publish = ticket.role == Role::Publisher;
        Peer::join_with(
            &self.ws_url,
            JoinAs::Token(&ticket.credential),
            options,
            self.timeout,
        )
        .await
    }

    /// The signed-in account joins the session as its host over `/ws` without a peer
    /// connection (it never offers, so the SFU negotiates nothing with it and forwards it
    /// nothing), sends `start_recording` and waits for the state `on`, after the server's
    /// notice period.
    async fn start_recording(&self, room: &[Ticket]) -> Result<Box<dyn RoomRecording>> {
        let first = room
            .first()
            .ok_or_else(|| anyhow!("a room without seats cannot be recorded"))?;
        let created = self
            .rooms
            .lock()
            .map_err(|_| anyhow!("the room list's lock is poisoned"))?
            .get(&first.credential)
            .cloned()
            .ok_or_else(|| anyhow!("this adapter did not create that room"))?;
        let cookie = self
            .api
            .cookie()
            .ok_or_else(|| anyhow!("not signed in: no cookie for the host connection"))?;
        let mut host = SignalClient::connect(&self.ws_url, Some(&cookie)).await?;
        let joined = host
            .join_session(&created.session_id, self.timeout)
            .await
            .context("the host joins the session")?;
        if msg_type(&joined) != "joined" || joined.get("is_host") != Some(&Value::Bool(true)) {
            host.close();
            bail!("expected to join as host, the server answered {joined}");
        }
        let asked = Instant::now();
        host.send(json!({"type": "start_recording"}))?;
        host.wait_for_recording_state("on", self.timeout)
            .await
            .context("starting the recording")?;
        Ok(Box::new(ConcordRecording {
            host,
            api: self.api.clone(),
            dispute_id: created.dispute_id,
            time_to_start: asked.elapsed(),
        }))
    }
}

/// A Concord room being recorded: the host's signaling connection.
struct ConcordRecording {
    host: SignalClient,
    api: ApiClient,
    dispute_id: String,
    time_to_start: Duration,
}

#[async_trait]
impl RoomRecording for ConcordRecording {
    fn time_to_start(&self) -> Duration {
        self.time_to_start
    }

    async fn stop(mut self: Box<Self>) -> Result<RecordedFiles> {
        let asked = Instant::now();
        self.host.send(json!({"type": "stop_recording"}))?;
        // The state stays `on` until every file is finished and filed (docs/protocol.md).
        self.host
            .wait_for_recording_state("off", RECORDING_STOP_TIMEOUT)
            .await
            .context("stopping the recording")?;
        let time_to_stop = asked.elapsed();
        self.host.send(json!({"type": "leave"}))?;
        let listing = self
            .api
            .get(&format!("/api/disputes/{}/recordings", self.dispute_id))
            .await?
            .ok()
            .context("listing the dispute's recordings")?;
        let mut files = recorded_files(&listing)?;
        files.time_to_stop = time_to_stop;
        Ok(files)
    }
}

/// The first recording of a `GET /api/disputes/{id}/recordings` listing (one per room here).
fn recorded_files(listing: &Value) -> Result<RecordedFiles> {
    let recording = listing
        .pointer("/recordings/0")
        .ok_or_else(|| anyhow!("the dispute has no recording: {listing}"))?;
    let files = recording
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("a recording without `files`: {recording}"))?;
    let participant: Vec<&Value> = files
        .iter()
        .filter(|f| f.get("kind").and_then(Value::as_str) == Some("participant"))
        .collect();
    Ok(RecordedFiles {
        id: id_of(recording)?,
        participant_files: participant.len(),
        complete_files: participant
            .iter()
            .filter(|f| f.get("status").and_then(Value::as_str) == Some("complete"))
            .count(),
        bytes: participant
            .iter()
            .filter_map(|f| f.get("size_bytes").and_then(Value::as_u64))
            .sum(),
        time_to_stop: Duration::ZERO,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_gives_the_participant_files_and_their_sizes() {
        let listing = json!({"recordings": [{
            "id": "r1",
            "files": [
                {"kind": "participant", "status": "complete", "size_bytes": 1000},
                {"kind": "participant", "status": "writing", "size_bytes": 500},
                {"kind": "composite", "status": "complete", "size_bytes": 9000},
                {"kind": "manifest", "status": "complete", "size_bytes": 10},
            ],
        }]});
        let files = recorded_files(&listing).expect("a recording");
        assert_eq!(files.id, "r1");
        assert_eq!((files.participant_files, files.complete_files), (2, 1));
        assert_eq!(files.bytes, 1500);
        assert!(recorded_files(&json!({"recordings": []})).is_err());
    }
}
