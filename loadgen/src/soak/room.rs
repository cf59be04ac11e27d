//! One room's churn: a dispute, and session after session under it until the run stops. In each
//! session the signed-in account is the host (over `/ws`, without media) and a few parties
//! publish the clip; every so often one thing happens, in turn: recording starts or stops, a
//! party's connection drops and it resumes its seat, a party leaves and comes back. When the
//! session's time is up recording stops, the session is ended through the REST API and the
//! next one opens.
//!
//! A failed step is counted and noted, never the end of the run: an hour's soak should say
//! what went wrong and go on.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use concord_client::api::id_of;
use concord_client::{msg_type, ApiClient, PeerOptions, SignalClient};

use super::counters::{add, ChurnCounters};
use super::seat::{packets_received, Seat};

/// How long a signaling reply (joining, resuming, leaving) may take.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a new participant's media may take to connect.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(30);
/// How long stopping a recording may take: the state stays `on` until every file is filed.
const RECORDING_STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// A party that left comes back after a pause in this range, in milliseconds.
const AWAY_MS: std::ops::Range<u64> = 500..3000;

/// How the rooms churn.
#[derive(Debug, Clone)]
pub struct ChurnPlan {
    pub rooms: usize,
    /// Parties per session (each publishes the clip and receives the others).
    pub participants: usize,
    /// How long a session lasts, on average (each one ±20 %).
    pub session_length: Duration,
    /// How often something happens in a room, on average (each interval ±50 %).
    pub churn_every: Duration,
}

/// What happens in a room, in turn.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// Start recording, or stop it.
    Recording,
    /// A party's connection drops and it resumes its seat.
    Reconnect,
    /// A party leaves and joins again with its invitation.
    LeaveAndRejoin,
}

const EVENTS: [Event; 3] = [Event::Recording, Event::Reconnect, Event::LeaveAndRejoin];

/// What every room shares.
pub(super) struct Churn<'a> {
    pub api: &'a ApiClient,
    pub ws_url: &'a str,
    /// The signed-in account's `Cookie` header: the host's connections.
    pub cookie: &'a str,
    pub peer_options: &'a PeerOptions,
    pub plan: &'a ChurnPlan,
    pub counters: &'a ChurnCounters,
    /// Every dispute created, for the filing check at the end.
    pub disputes: &'a Mutex<Vec<String>>,
}

impl Churn<'_> {
    /// Runs room `room` until `stop` turns true, then winds its last session down.
    pub(super) async fn run_room(&self, room: usize, mut stop: watch::Receiver<bool>) {
        let dispute_id = match self.create_dispute().await {
            Ok(id) => id,
            Err(err) => {
                self.counters.failed(format!("room {room}: {err:#}"));
                return;
            }
        };
        // Rooms start at different points of the cycle, so that not all of them record at once.
        let mut next_event = room;
        while !*stop.borrow() {
            if let Err(err) = self
                .session(room, &dispute_id, &mut next_event, &mut stop)
                .await
            {
                self.counters.failed(format!("room {room}: {err:#}"));
                // Whatever broke, the next session starts afresh; not in a tight loop.
                wait_or_stop(&mut stop, self.plan.churn_every).await;
            }
        }
    }

    async fn create_dispute(&self) -> Result<String> {
        let dispute = self.api.create_dispute().await?;
        let id = id_of(&dispute)?;
        self.disputes
            .lock()
            .map_err(|_| anyhow!("the dispute list's lock is poisoned"))?
            .push(id.clone());
        Ok(id)
    }

    /// One session, from opening to its end.
    async fn session(
        &self,
        room: usize,
        dispute_id: &str,
        next_event: &mut usize,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        let session = self.api.create_session(dispute_id, false).await?;
        let session_id = id_of(&session)?;
        add(&self.counters.sessions_opened, 1);
        let mut host = SignalClient::connect(self.ws_url, Some(self.cookie)).await?;
        let joined = host.join_session(&session_id, SIGNAL_TIMEOUT).await?;
        if msg_type(&joined) != "joined" || joined.get("is_host") != Some(&Value::Bool(true)) {
            bail!("expected to join session {session_id} as host, the server answered {joined}");
        }
        let mut live = LiveSession {
            churn: self,
            room,
            session_id,
            host,
            tokens: Vec::new(),
            seats: Vec::new(),
            recording: false,
        };
        let churned = live.churn(next_event, stop).await;
        let ended = live.end().await;
        churned.and(ended)
    }
}

/// A session in progress.
struct LiveSession<'c, 'a> {
    churn: &'c Churn<'a>,
    room: usize,
    session_id: String,
    host: SignalClient,
    /// One invitation token per party; a party that left comes back with its own.
    tokens: Vec<String>,
    /// `None` while a party is away (or failed to join).
    seats: Vec<Option<Seat>>,
    recording: bool,
}

impl LiveSession<'_, '_> {
    fn counters(&self) -> &ChurnCounters {
        self.churn.counters
    }

    /// Invites and seats the parties, then runs events until the session's time is up or the
    /// run stops.
    async fn churn(
        &mut self,
        next_event: &mut usize,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        let plan = self.churn.plan;
        for i in 0..plan.participants {
            let invitation = self
                .churn
                .api
                .invite(&self.session_id, "party", &format!("Soak party {i}"))
                .await?;
            self.tokens.push(invitation.token);
            let seat = self.join(i).await;
            self.seats.push(seat);
        }
        let length = jittered(plan.session_length, 0.2);
        let ends_at = Instant::now() + length;
        loop {
            let next = Instant::now() + jittered(plan.churn_every, 0.5);
            if next >= ends_at {
                wait_or_stop(stop, ends_at.saturating_duration_since(Instant::now())).await;
                return Ok(());
            }
            if wait_or_stop(stop, next.saturating_duration_since(Instant::now())).await {
                return Ok(());
            }
            let event = EVENTS[*next_event % EVENTS.len()];
            *next_event += 1;
            if let Err(err) = self.happen(event).await {
                self.counters()
                    .failed(format!("room {}: {event:?}: {err:#}", self.room));
            }
            self.read_host_inbox().await?;
        }
    }

    /// Empties the host's inbox (it keeps what nobody waited for), counting the drops the
    /// room told of: each resumed seat should have been one, not a leave. A `ping` brings in
    /// everything the server sent before its `pong`.
    async fn read_host_inbox(&mut self) -> Result<()> {
        self.host
            .round_trip(SIGNAL_TIMEOUT)
            .await
            .context("the host's connection")?;
        let drops = self
            .host
            .inbox()
            .drain_buffered()
            .iter()
            .filter(|m| msg_type(m) == "participant_reconnecting")
            .count();
        add(&self.counters().drops_seen, drops as u64);
        Ok(())
    }

    async fn happen(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Recording if self.recording => self.stop_recording().await,
            Event::Recording => self.start_recording().await,
            Event::Reconnect => {
                let Some(slot) = self.random_slot(true) else {
                    bail!("nobody to reconnect");
                };
                self.reconnect(slot).await
            }
            Event::LeaveAndRejoin => {
                let slot = self.random_slot(false).unwrap_or(0);
                let mut left = Ok(());
                if let Some(seat) = self.seats.get_mut(slot).and_then(Option::take) {
                    left = match seat.leave(SIGNAL_TIMEOUT).await {
                        Ok(received) => {
                            add(&self.counters().leaves, 1);
                            add(&self.counters().media_bytes_received, received);
                            Ok(())
                        }
                        Err(err) => Err(err.context(format!("party {slot} leaving"))),
                    };
                    let away = rand::thread_rng().gen_range(AWAY_MS);
                    tokio::time::sleep(Duration::from_millis(away)).await;
                }
                // Back even after a leave that went wrong: the seat is given up either way.
                let seat = self.join(slot).await;
                if let Some(place) = self.seats.get_mut(slot) {
                    *place = seat;
                }
                left
            }
        }
    }

    /// Party `slot` joins with its invitation and connects its media; `None` (counted) if it
    /// could not.
    async fn join(&self, slot: usize) -> Option<Seat> {
        let token = self.tokens.get(slot)?;
        let joined = async {
            let seat = Seat::join(
                self.churn.ws_url,
                token,
                self.churn.peer_options.clone(),
                SIGNAL_TIMEOUT,
            )
            .await?;
            if let Err(err) = seat.peer().wait_connected(MEDIA_TIMEOUT).await {
                seat.close().await;
                return Err(err);
            }
            Ok::<_, anyhow::Error>(seat)
        }
        .await;
        match joined {
            Ok(seat) => {
                add(&self.counters().joins, 1);
                Some(seat)
            }
            Err(err) => {
                self.counters()
                    .failed(format!("room {}: party {slot} joining: {err:#}", self.room));
                None
            }
        }
    }

    /// Drops party `slot`'s connection and resumes its seat; checks that media still reaches
    /// it afterwards. A seat that could not be resumed is given up and taken again afresh.
    async fn reconnect(&mut self, slot: usize) -> Result<()> {
        let others_publishing = self.seats.iter().flatten().count() > 1;
        let Some(seat) = self.seats.get(slot).and_then(Option::as_ref) else {
            bail!("party {slot} is away");
        };
        let before = packets_received(&seat.peer().received());
        if let Err(err) = seat.reconnect().await {
            if let Some(seat) = self.seats.get_mut(slot).and_then(Option::take) {
                let received = seat.close().await;
                add(&self.counters().media_bytes_received, received);
            }
            let seat = self.join(slot).await;
            if let Some(place) = self.seats.get_mut(slot) {
                *place = seat;
            }
            return Err(err.context(format!("party {slot} resuming its seat")));
        }
        add(&self.counters().reconnects, 1);
        if others_publishing {
            seat.peer()
                .wait_until("media after resuming", MEDIA_TIMEOUT, |media| {
                    packets_received(media) > before
                })
                .await?;
        }
        Ok(())
    }

    /// An occupied slot at random (or, with `occupied` false, any slot); `None` if there is none.
    fn random_slot(&self, occupied: bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.seats.len())
            .filter(|&i| !occupied || self.seats[i].is_some())
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let pick = rand::thread_rng().gen_range(0..candidates.len());
        candidates.get(pick).copied()
    }

    async fn start_recording(&mut self) -> Result<()> {
        self.host.send(json!({"type": "start_recording"}))?;
        // Once asked, the server may record even if the wait fails: stop it at the end.
        self.recording = true;
        self.host
            .wait_for_recording_state("on", SIGNAL_TIMEOUT)
            .await?;
        add(&self.counters().recordings_started, 1);
        Ok(())
    }

    async fn stop_recording(&mut self) -> Result<()> {
        self.host.send(json!({"type": "stop_recording"}))?;
        self.recording = false;
        self.host
            .wait_for_recording_state("off", RECORDING_STOP_TIMEOUT)
            .await?;
        add(&self.counters().recordings_stopped, 1);
        Ok(())
    }

    /// Stops recording, ends the session for everyone and closes every peer.
    async fn end(mut self) -> Result<()> {
        let stopped = if self.recording {
            self.stop_recording().await
        } else {
            Ok(())
        };
        let read = self.read_host_inbox().await;
        let ended = self
            .churn
            .api
            .post(&format!("/api/sessions/{}/end", self.session_id), json!({}))
            .await
            .and_then(|response| response.ok())
            .with_context(|| format!("ending session {}", self.session_id));
        if ended.is_ok() {
            add(&self.counters().sessions_ended, 1);
        }
        for seat in self.seats.drain(..).flatten() {
            let received = seat.close().await;
            add(&self.churn.counters.media_bytes_received, received);
        }
        self.host.close();
        stopped.and(read).and(ended.map(|_| ()))
    }
}

/// Waits `wait`, or less if the run stops meanwhile; true if it stopped.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    let stopped = async {
        // An error means the run is over too (its sender is gone).
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = stopped => return true,
    }
    *stop.borrow()
}

/// `mean` give or take `spread` of itself, at random.
fn jittered(mean: Duration, spread: f64) -> Duration {
    let factor = rand::thread_rng().gen_range(1.0 - spread..=1.0 + spread);
    mean.mul_f64(factor)
}
