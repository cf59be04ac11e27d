//! [`JanusAdapter`]: the load generator's [`SfuAdapter`] for Janus 1.x's VideoRoom plugin, over
//! Janus's WebSocket API, so the same participants (publisher, counters, delay) can be measured
//! against Janus.
//!
//! A room is a VideoRoom room (Opus + VP8, no bitrate cap, no periodic FIR, no recording). Janus
//! publishes and subscribes on separate PeerConnections, so a publishing seat is two
//! [`Peer`]s on one Janus session: one publishing on a publisher handle (its participant id is
//! its feed id) and one receiving everyone else on a single multistream subscriber handle.
//! A receive-only seat is one subscriber handle. See [`seat`] for the translation.

mod seat;
mod session;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

pub use session::JanusError;

use crate::adapter::{Role, SfuAdapter, Ticket};
use crate::peer::{Peer, PeerOptions};
use seat::{Seat, SeatState};
use session::Session;

/// Janus VideoRoom through its WebSocket API (`ws://127.0.0.1:8188` by default).
pub struct JanusAdapter {
    ws_url: String,
    timeout: Duration,
}

/// What a [`Ticket`]'s credential holds for Janus (as JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct SeatTicket {
    room: u64,
    /// This seat's feed id, if it publishes.
    feed: Option<u64>,
    /// Every publishing feed of the room.
    publishers: Vec<u64>,
}

impl JanusAdapter {
    /// Checks that Janus answers at `ws_url` (a session is created and dropped).
    pub async fn connect(ws_url: &str) -> Result<Self> {
        let adapter = Self {
            ws_url: ws_url.to_owned(),
            timeout: Duration::from_secs(20),
        };
        let (session, _events) = Session::open(ws_url, adapter.timeout).await?;
        drop(session);
        Ok(adapter)
    }

    /// A seat that publishes: a publisher handle and a subscriber handle on one session.
    async fn join_publisher(&self, seat: SeatTicket, options: PeerOptions) -> Result<Vec<Peer>> {
        let feed = seat
            .feed
            .ok_or_else(|| anyhow!("a publisher ticket without a feed id"))?;
        let (session, events) = Session::open(&self.ws_url, self.timeout).await?;
        let publisher_handle = session.attach().await?;
        let subscriber_handle = session.attach().await?;
        let join = json!({
            "request": "join",
            "ptype": "publisher",
            "room": seat.room,
            "id": feed,
            "display": format!("load publisher {feed}"),
        });
        let joined = session.message(publisher_handle, join, None).await?;
        if joined.data.get("videoroom").and_then(Value::as_str) != Some("joined") {
            bail!("VideoRoom `join` answered {}", joined.data);
        }
        let room_feeds: BTreeSet<u64> = seat
            .publishers
            .iter()
            .copied()
            .filter(|f| *f != feed)
            .collect();
        let live: BTreeSet<u64> = joined
            .data
            .get("publishers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("id").and_then(Value::as_u64))
            .filter(|id| room_feeds.contains(id))
            .collect();

        let (mut publish_channel, publisher) = seat::link(publisher_handle, false);
        let (subscribe_channel, subscriber) = seat::link(subscriber_handle, true);
        let (state, mut state_rx) = watch::channel(SeatState::default());
        let task = Seat {
            session,
            room: seat.room,
            feed: Some(feed),
            private_id: joined.data.get("private_id").and_then(Value::as_u64),
            publisher: Some(publisher),
            subscriber,
            room_feeds,
            wanted: live,
            state,
            patience: self.timeout,
        };
        // The publishing peer owns the task: closing it ends the session for both.
        publish_channel.task = Some(tokio::spawn(task.run(events)));
        let joined_msg = json!({"type": "joined", "participant_id": feed.to_string()});
        let publishing = Peer::start_on(
            publish_channel,
            joined_msg,
            PeerOptions {
                publish: true,
                ..options.clone()
            },
        )
        .await?;
        let joined_msg = json!({"type": "joined", "participant_id": format!("{feed}/subscriber")});
        let receiving = Peer::start_on(
            subscribe_channel,
            joined_msg,
            PeerOptions {
                publish: false,
                ..options
            },
        )
        .await?;
        // Others can only subscribe to a feed Janus has seen come up.
        seat::wait_publishing(&mut state_rx, self.timeout)
            .await
            .with_context(|| format!("publishing feed {feed}"))?;
        Ok(vec![publishing, receiving])
    }

    /// A receive-only seat: one subscriber handle taking every publisher of the room.
    async fn join_subscriber(&self, seat: SeatTicket, options: PeerOptions) -> Result<Peer> {
        let (session, events) = Session::open(&self.ws_url, self.timeout).await?;
        let handle = session.attach().await?;
        let (mut channel, subscriber) = seat::link(handle, true);
        let (state, _) = watch::channel(SeatState::default());
        let feeds: BTreeSet<u64> = seat.publishers.iter().copied().collect();
        let task = Seat {
            session,
            room: seat.room,
            feed: None,
            private_id: None,
            publisher: None,
            subscriber,
            room_feeds: feeds.clone(),
            wanted: feeds,
            state,
            patience: self.timeout,
        };
        channel.task = Some(tokio::spawn(task.run(events)));
        let joined_msg =
            json!({"type": "joined", "participant_id": format!("subscriber-{handle}")});
        Peer::start_on(
            channel,
            joined_msg,
            PeerOptions {
                publish: false,
                ..options
            },
        )
        .await
    }
}

/// A random id for a room or a feed: Janus takes any positive integer; staying below 2^32 keeps
/// it exact in every JSON implementation.
fn random_id() -> u64 {
    u64::from(rand::random::<u32>() | 1)
}

#[async_trait]
impl SfuAdapter for JanusAdapter {
    fn name(&self) -> &str {
        "janus"
    }

    async fn create_room(&self, roles: &[Role]) -> Result<Vec<Ticket>> {
        let (session, _events) = Session::open(&self.ws_url, self.timeout).await?;
        let handle = session.attach().await?;
        let room = random_id();
        let publisher_seats = roles.iter().filter(|r| **r == Role::Publisher).count();
        let create = json!({
            "request": "create",
            "room": room,
            "description": "concord-loadgen",
            "is_private": true,
            "publishers": publisher_seats.max(1),
            // Like Concord: no bandwidth cap sent to publishers, no periodic keyframe requests,
            // no recording.
            "bitrate": 0,
            "fir_freq": 0,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "record": false,
        });
        let created = session.message(handle, create, None).await?;
        if created.data.get("videoroom").and_then(Value::as_str) != Some("created") {
            bail!("VideoRoom `create` answered {}", created.data);
        }
        let mut feeds = BTreeSet::new();
        while feeds.len() < publisher_seats {
            feeds.insert(random_id());
        }
        let publishers: Vec<u64> = feeds.into_iter().collect();
        let mut next_feed = publishers.iter();
        let mut tickets = Vec::with_capacity(roles.len());
        for role in roles {
            let feed = match role {
                Role::Publisher => next_feed.next().copied(),
                Role::Subscriber => None,
            };
            let seat = SeatTicket {
                room,
                feed,
                publishers: publishers.clone(),
            };
            tickets.push(Ticket {
                role: *role,
                credential: serde_json::to_string(&seat).context("encoding a Janus ticket")?,
            });
        }
        Ok(tickets)
    }

    /// Only receive-only seats are one peer with Janus; see [`SfuAdapter::join_seat`].
    async fn join(&self, ticket: &Ticket, options: PeerOptions) -> Result<Peer> {
        let mut peers = self.join_seat(ticket, options).await?;
        match peers.len() {
            1 => peers.pop().ok_or_else(|| anyhow!("no peer")),
            _ => bail!(
                "a Janus publisher seat has two PeerConnections (publish, subscribe): use join_seat"
            ),
        }
    }

    async fn join_seat(&self, ticket: &Ticket, options: PeerOptions) -> Result<Vec<Peer>> {
        let seat: SeatTicket = serde_json::from_str(&ticket.credential)
            .with_context(|| format!("not a Janus ticket: {}", ticket.credential))?;
        match ticket.role {
            Role::Publisher => self.join_publisher(seat, options).await,
            Role::Subscriber => Ok(vec![self.join_subscriber(seat, options).await?]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_through_json() {
        let seat = SeatTicket {
            room: 7,
            feed: Some(9),
            publishers: vec![9, 11],
        };
        let text = serde_json::to_string(&seat).expect("encode");
        let back: SeatTicket = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, seat);
    }

    #[test]
    fn random_ids_are_positive() {
        for _ in 0..100 {
            let id = random_id();
            assert!(id > 0 && id < 1 << 32);
        }
    }
}
