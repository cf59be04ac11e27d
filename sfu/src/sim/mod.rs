//! Rooms in memory on simulated time: a [`Room`] and simulated participants (str0m peers)
//! joined over a simulated network, so forwarding, layer choice and bandwidth estimation can be
//! tested without sockets, threads or a wall clock, the way str0m's own tests drive two peers.

pub(crate) mod client;
pub(crate) mod net;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::handle::{JoinOptions, PeerEvent, QualityReport, VideoPause};
use crate::ids::{ParticipantId, PeerKey};
use crate::room::{Room, Transmit};
use client::Client;
use net::{Link, Wire};

const SFU_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5000);

/// One simulated participant with its two links and what the room told it.
pub(crate) struct Participant {
    pub key: PeerKey,
    pub id: ParticipantId,
    pub client: Client,
    pub up: Link,
    pub down: Link,
    events: mpsc::Receiver<PeerEvent>,
    pub publish_layers: Vec<(Instant, Vec<String>)>,
    pub pauses: Vec<(Instant, ParticipantId, Option<VideoPause>)>,
    pub quality: Vec<(Instant, QualityReport)>,
    /// What the room sent this participant, by RTP payload type (RTCP as 200-204): datagrams
    /// and bytes.
    pub sent_by_type: std::collections::BTreeMap<u8, (u64, u64)>,
}

pub(crate) struct Sim {
    pub now: Instant,
    pub start: Instant,
    pub room: Room,
    pub participants: Vec<Participant>,
    wire: Wire,
}

/// The room's datagrams, put on each participant's downlink.
struct ToWire<'a> {
    now: Instant,
    participants: &'a mut [Participant],
    wire: &'a mut Wire,
}

impl Transmit for ToWire<'_> {
    fn send(&mut self, destination: SocketAddr, contents: &[u8]) -> bool {
        if let Some(p) = self
            .participants
            .iter_mut()
            .find(|p| p.client.addr == destination)
        {
            let kind = match (contents.first(), contents.get(1)) {
                (Some(first), Some(second)) if (128..192).contains(first) => {
                    if (192..=207).contains(second) {
                        *second
                    } else {
                        second & 0x7f
                    }
                }
                _ => 0,
            };
            let entry = p.sent_by_type.entry(kind).or_default();
            entry.0 += 1;
            entry.1 += contents.len() as u64;
            if let Some(arrives) = p.down.carry(self.now, contents.len()) {
                self.wire
                    .push(arrives, SFU_ADDR, destination, contents.to_vec());
            }
        }
        true
    }
}

impl Sim {
    pub fn new() -> Sim {
        let now = Instant::now();
        Sim {
            now,
            start: now,
            room: Room::new("sim".to_owned(), SFU_ADDR, None, now),
            participants: Vec::new(),
            wire: Wire::default(),
        }
    }

    /// Seconds since the start, for messages.
    pub fn elapsed(&self) -> f64 {
        self.now.saturating_duration_since(self.start).as_secs_f64()
    }

    /// Joins a participant who publishes a simulcast camera and a microphone (or, with
    /// `publish` false, only receives); returns its index.
    pub fn join(&mut self, name: &str, options: JoinOptions, publish: bool) -> usize {
        let index = self.participants.len();
        let addr = SocketAddr::new(
            std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 1, index as u8 + 1)),
            6000,
        );
        let key = PeerKey(index as u64 + 1);
        let id = ParticipantId(name.to_owned());
        let (events_tx, events) = mpsc::channel(1024);
        self.room
            .join(key, id.clone(), options, events_tx, self.now)
            .expect("the room takes the participant");
        let mut client = Client::new(name, addr, self.now);
        let (offer, pending) = client.offer(publish, self.now);
        let answer = self
            .room
            .offer(&id, &offer, None, self.now)
            .expect("the room answers");
        client.accept_answer(pending, &answer);
        self.room.mark_all_for_poll();
        self.participants.push(Participant {
            key,
            id,
            client,
            up: Link::new(1_000 + index as u64),
            down: Link::new(2_000 + index as u64),
            events,
            publish_layers: Vec::new(),
            pauses: Vec::new(),
            quality: Vec::new(),
            sent_by_type: std::collections::BTreeMap::new(),
        });
        index
    }

    /// Participant `index`'s signaling connection is gone: what the room tells it is lost
    /// until [`resume_signaling`](Self::resume_signaling).
    pub fn lose_signaling(&mut self, index: usize) {
        let (gone, _) = mpsc::channel(1);
        let id = self.participants[index].id.clone();
        self.room.rebind(&id, gone);
    }

    /// Participant `index` is back on a new signaling connection.
    pub fn resume_signaling(&mut self, index: usize) {
        let (events_tx, events) = mpsc::channel(1024);
        let id = self.participants[index].id.clone();
        self.participants[index].events = events;
        self.room.rebind(&id, events_tx);
        self.handle_events();
    }

    pub fn leave(&mut self, index: usize) {
        let id = self.participants[index].id.clone();
        self.room.leave(&id);
        self.room.mark_all_for_poll();
    }

    /// Runs the simulation for `duration`.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.step(end);
        }
    }

    fn step(&mut self, end: Instant) {
        let mut next = end.min(self.room.next_deadline());
        for p in &self.participants {
            next = next.min(p.client.next_due());
        }
        if let Some(arrival) = self.wire.next_arrival() {
            next = next.min(arrival);
        }
        // Time moves at least a little each step, as on a real machine.
        self.now = next.max(self.now + Duration::from_micros(200));

        let mut to_send = Vec::new();
        while let Some(datagram) = self.wire.pop_due(self.now) {
            if datagram.destination == SFU_ADDR {
                let Some(p) = self
                    .participants
                    .iter()
                    .find(|p| p.client.addr == datagram.source)
                else {
                    continue;
                };
                let key = p.key;
                let mut out = ToWire {
                    now: self.now,
                    participants: &mut self.participants,
                    wire: &mut self.wire,
                };
                self.room
                    .receive(key, datagram.source, self.now, &datagram.contents, &mut out);
            } else if let Some(p) = self
                .participants
                .iter_mut()
                .find(|p| p.client.addr == datagram.destination)
            {
                p.client
                    .receive(self.now, datagram.source, &datagram.contents);
            }
        }
        self.room.handle_timeouts(self.now);
        let mut out = ToWire {
            now: self.now,
            participants: &mut self.participants,
            wire: &mut self.wire,
        };
        self.room.drain(self.now, &mut out);
        self.room.record_holds(self.now);
        let _ = self.room.take_departed().count();

        for p in &mut self.participants {
            to_send.clear();
            p.client.run(self.now, &mut to_send);
            for (destination, contents) in to_send.drain(..) {
                if let Some(arrives) = p.up.carry(self.now, contents.len()) {
                    self.wire
                        .push(arrives, p.client.addr, destination, contents);
                }
            }
        }
        self.handle_events();
    }

    /// What the room told participants: offers are answered at once, the rest recorded.
    fn handle_events(&mut self) {
        let mut answers = Vec::new();
        for p in &mut self.participants {
            while let Ok(event) = p.events.try_recv() {
                match event {
                    PeerEvent::Offer(offer) => {
                        let answer = p.client.answer(&offer);
                        answers.push((p.id.clone(), answer));
                    }
                    PeerEvent::PublishLayers { active, .. } => {
                        p.client.set_active_layers(&active);
                        p.publish_layers.push((self.now, active));
                    }
                    PeerEvent::VideoPaused { publisher, pause } => {
                        p.pauses.push((self.now, publisher, pause));
                    }
                    PeerEvent::Quality(report) => p.quality.push((self.now, report)),
                    PeerEvent::Connected | PeerEvent::Failed => {}
                }
            }
        }
        for (id, answer) in answers {
            self.room
                .answer(&id, &answer, self.now)
                .expect("the room takes the answer");
            self.room.mark_all_for_poll();
        }
    }
}
