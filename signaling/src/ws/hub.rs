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
use crate::secrets::now_ms;
use crate::store::Store;

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
    /// holds a seat for it.
    pub async fn resume(
        &self,
        token: String,
        outbox: mpsc::Sender<ToConnection>,
        media_events: mpsc::Sender<PeerEvent>,
        removal: Removal,
    ) -> Option<(RoomRef, Resumed)> {
        let (session_id, _) = token.split_once('.')?;
        let room = self.existing(session_id)?;
        let resumed = room
            .resume(token, outbox, media_events, removal)
            .await
            .ok()??;
        Some((room, resumed))
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

    fn existing(&self, session_id: &str) -> Option<RoomRef> {
        self.lock().get(session_id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomRef>> {
        self.inner.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends a session: recorded as ended, and everyone in its room is told and let go.
    pub async fn end_session(&self, session_id: &str, by: &str) -> ApiResult<()> {
        let newly_ended = self
            .inner
            .store
            .mark_session_ended(session_id, now_ms())
            .await
            .map_err(ApiError::from)?;
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

    /// Whoever is in the room on a revoked invitation is removed.
    pub async fn invitation_revoked(&self, session_id: &str, invitation_id: &str) {
        if let Some(room) = self.existing(session_id) {
            let identity = invitation_identity(invitation_id);
            let _ = room.send(RoomCommand::Evict { identity }).await;
        }
    }
}

pub fn invitation_identity(invitation_id: &str) -> String {
    format!("invitation:{invitation_id}")
}

pub fn account_identity(user_id: &str) -> String {
    format!("account:{user_id}")
}
