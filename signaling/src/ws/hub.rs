//! Finds the actor of a live session, starting one on first arrival.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use concord_sfu::{PeerEvent, Sfu, TapEvent};
use tokio::sync::mpsc;

use super::protocol::SessionInfo;
use super::room::{
    self, NewMember, Removal, Resumed, RoomCommand, RoomRef, RoomSettings, ToConnection,
};
use crate::error::{ApiError, ApiResult};
use crate::secrets::{now_ms, token_hash};
use crate::store::{ExpertInvitation, SeatHolder, SessionStatus, Store, StoreResult};

/// The registry of running rooms. The lock guards only the map (held for a look-up, never
/// across an await); each room's state lives in its own task.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    rooms: Mutex<HashMap<String, RoomRef>>,
    sfu: Sfu,
    store: Store,
    recording: RoomSettings,
}

impl Hub {
    pub fn new(sfu: Sfu, store: Store, recording: RoomSettings) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                rooms: Mutex::new(HashMap::new()),
                sfu,
                store,
                recording,
            }),
        }
    }

    /// The SFU's counters for every running room (see [`concord_sfu::RoomStats`]).
    pub async fn media_stats(&self, reset: bool) -> Vec<concord_sfu::RoomStats> {
        self.inner.sfu.stats(reset).await
    }

    /// Puts a member into the session's room, starting the room if needed.
    pub async fn enter(&self, session: &SessionInfo, member: NewMember) -> Option<RoomRef> {
        let mut member = member;
        // A room that stopped between look-up and entry is replaced once.
        for _ in 0..2 {
            let room = self.room(session);
            match room.enter(member).await {
                Ok(()) => return Some(room),
                Err(Some(returned)) => member = returned,
                Err(None) => return None,
            }
            self.forget_closed(&session.id);
        }
        None
    }

    /// Resumes a seat with a token from `joined` (it names its session); `None` if no room
    /// holds a seat for it. A session without a running room (the server restarted) has its
    /// room opened again if the records hold a seat for the token.
    pub async fn resume(
        &self,
        token: String,
        outbox: mpsc::Sender<ToConnection>,
        media_events: mpsc::Sender<PeerEvent>,
        removal: Removal,
    ) -> Option<(RoomRef, Resumed)> {
        let (session_id, _) = token.split_once('.')?;
        let room = match self.existing(session_id).filter(|room| !room.is_closed()) {
            Some(room) => room,
            None => self.reopen_for(session_id, &token).await?,
        };
        let resumed = room
            .resume(token, outbox, media_events, removal)
            .await
            .ok()??;
        Some((room, resumed))
    }

    /// Opens the room of `session_id` again if the records hold a seat for `token` in it,
    /// still held, in a session still live. Nothing is opened for a token the records do not
    /// know, so guesses cost a look-up and no more.
    async fn reopen_for(&self, session_id: &str, token: &str) -> Option<RoomRef> {
        if token.len() > MAX_RESUME_TOKEN_LEN {
            return None;
        }
        let store = &self.inner.store;
        let seat = logged(store.resume_seat_by_token_hash(&token_hash(token)).await)??;
        let held = seat.held_until.is_none_or(|until| until > now_ms());
        if seat.session_id != session_id || !held {
            return None;
        }
        let session = logged(store.session(session_id).await)??;
        if session.status == SessionStatus::Ended {
            return None;
        }
        let dispute = logged(store.dispute(&session.dispute_id).await)??;
        Some(self.room(&SessionInfo::of(&session, &dispute)))
    }

    fn room(&self, session: &SessionInfo) -> RoomRef {
        let mut rooms = self.lock();
        if let Some(room) = rooms.get(&session.id).filter(|r| !r.is_closed()) {
            return room.clone();
        }
        let hub = self.clone();
        let id = session.id.clone();
        let room = room::spawn(
            session.clone(),
            &self.inner.sfu,
            self.inner.store.clone(),
            self.inner.recording.clone(),
            move || hub.forget_closed(&id),
        );
        rooms.insert(session.id.clone(), room.clone());
        room
    }

    /// Drops the registry entry of a room whose task has stopped (a newer one is kept).
    fn forget_closed(&self, session_id: &str) {
        let mut rooms = self.lock();
        if rooms.get(session_id).is_some_and(RoomRef::is_closed) {
            rooms.remove(session_id);
        }
    }

    /// The room of a live session (nobody in it: `None`).
    pub fn room_of(&self, session_id: &str) -> Option<RoomRef> {
        self.existing(session_id)
    }

    fn existing(&self, session_id: &str) -> Option<RoomRef> {
        self.lock().get(session_id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomRef>> {
        self.inner.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends a session: recorded as ended, everyone in its room is told and let go, and no seat
    /// of it can be resumed.
    pub async fn end_session(&self, session_id: &str, by: &str) -> ApiResult<()> {
        let store = &self.inner.store;
        let newly_ended = store
            .mark_session_ended(session_id, now_ms())
            .await
            .map_err(ApiError::from)?;
        if let Err(error) = store.delete_resume_seats_of_session(session_id).await {
            // Harmless: a seat of an ended session is never given back.
            tracing::error!(%error, "could not delete the seats of an ended session");
        }
        if let Some(room) = self.existing(session_id) {
            let _ = room.end(by.to_owned()).await;
        }
        if !newly_ended {
            tracing::debug!(session = session_id, "session was already ended");
        }
        Ok(())
    }

    /// Lets every room go before the server stops, so their last events are written.
    pub async fn shut_down(&self) {
        let rooms: Vec<RoomRef> = self.lock().drain().map(|(_, room)| room).collect();
        for room in rooms {
            let _ = room.shut_down().await;
        }
    }

    /// A copy of everything a live session's room forwards, until the receiver is dropped;
    /// `None` when nobody is in the session.
    pub async fn tap_session(
        &self,
        session_id: &str,
        capacity: usize,
    ) -> Option<mpsc::Receiver<TapEvent>> {
        let room = self.existing(session_id)?;
        let (events, receiver) = mpsc::channel(capacity);
        match room.tap(events).await {
            Ok(true) => Some(receiver),
            _ => None,
        }
    }

    /// Whoever is in the room on a revoked invitation is removed, and no seat of theirs on
    /// record can be resumed.
    /// An expert was invited from the room: a running room asks its parties now (a room
    /// opened later finds the invitation on record).
    pub async fn expert_invited(&self, session_id: &str, invitation: ExpertInvitation) {
        if let Some(room) = self.existing(session_id) {
            let invitation = Box::new(invitation);
            let _ = room.send(RoomCommand::ExpertInvited { invitation }).await;
        }
    }

    pub async fn invitation_revoked(&self, session_id: &str, invitation_id: &str) {
        let store = &self.inner.store;
        if let Err(error) = store.delete_resume_seats_of_invitation(invitation_id).await {
            // The seat is checked against the invitation again before it is given back.
            tracing::error!(%error, "could not delete the seats of a revoked invitation");
        }
        if let Some(room) = self.existing(session_id) {
            let identity = SeatHolder::Invitation(invitation_id.to_owned());
            let _ = room.send(RoomCommand::Evict { identity }).await;
        }
    }
}

/// Longer tokens are refused unread (ours are a session id, a dot and 32 characters).
const MAX_RESUME_TOKEN_LEN: usize = 128;

/// The value of a store look-up, an error logged and taken for "none".
fn logged<T>(result: StoreResult<T>) -> Option<T> {
    result
        .map_err(|error| tracing::error!(%error, "a seat look-up failed"))
        .ok()
}
