//! A room: one task owns every peer of one session and forwards media between them.
//!
//! The task reacts to three things: commands from signaling (join, SDP, leave), datagrams from
//! the router, and str0m's timeouts. After each, it drains every peer's output until str0m
//! reports its next timeout, forwarding what publishers produced to their subscribers. Media is
//! forwarded as RTP packets as they arrive (str0m's RTP mode): no jitter buffer and no
//! repacketizing per subscriber. Payloads are reference-counted: forwarding to N subscribers
//! copies no payload bytes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::ids::{ParticipantId, PeerKey};
use crate::payload::starts_keyframe;
use crate::peer::{Delivery, Forwarded, IncomingCodec, Peer, Source};
use crate::router::{Datagram, RouterCommand};
use crate::stats::{Counters, RoomStats};
use crate::tap::{tap_kind, SenderReport, Tap, TapEvent, TappedPacket};
use crate::{SfuError, SfuInner};

/// Commands from signaling are few; a full queue means the room task is stuck.
const COMMAND_QUEUE: usize = 64;
/// Datagrams waiting for the room task. Past this the router drops (UDP semantics).
const DATAGRAM_QUEUE: usize = 4096;
/// Datagrams handled in one go before outputs are drained, to amortise the drain.
const DATAGRAM_BATCH: usize = 64;
/// Video packets kept per outgoing stream for retransmission (str0m's default is 1,000). A
/// resend older than a second or two arrives too late to be shown; 400 packets are 1.6 s at
/// 2.5 Mbit/s and hold any keyframe, and cut a participant's memory in a busy room.
const SEND_BUFFER_VIDEO: usize = 400;
/// Upper bound on how long the task sleeps when no peer asks for a timeout.
const IDLE_TICK: Duration = Duration::from_millis(500);

/// What the SFU tells signaling about one participant's media connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// The server adds or removes tracks: send this offer to the client, return its answer.
    Offer(String),
    /// ICE and DTLS are up; media flows.
    Connected,
    /// The media connection is gone (ICE consent lost, DTLS failure, or the peer misbehaved).
    /// The participant has been removed from the room's media.
    Failed,
}

pub(crate) enum Command {
    Join {
        participant: ParticipantId,
        may_publish: bool,
        events: mpsc::Sender<PeerEvent>,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Offer {
        participant: ParticipantId,
        sdp: String,
        reply: oneshot::Sender<Result<String, SfuError>>,
    },
    Answer {
        participant: ParticipantId,
        sdp: String,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Candidate {
        participant: ParticipantId,
        candidate: String,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Leave {
        participant: ParticipantId,
    },
    Tap {
        events: mpsc::Sender<TapEvent>,
        reply: oneshot::Sender<()>,
    },
    RequestKeyframe {
        participant: ParticipantId,
    },
    Stats {
        reset: bool,
        reply: oneshot::Sender<RoomStats>,
    },
}

/// Signaling's handle to a room task. Cloneable; the room stops when every handle is dropped.
#[derive(Clone)]
pub struct RoomHandle {
    commands: mpsc::Sender<Command>,
}

impl RoomHandle {
    /// Adds a participant's media connection. Nothing is negotiated until its offer arrives.
    /// Tracks offered by a participant who may not publish (an observer) are never forwarded.
    pub async fn join(
        &self,
        participant: ParticipantId,
        may_publish: bool,
        events: mpsc::Sender<PeerEvent>,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::Join {
            participant,
            may_publish,
            events,
            reply,
        })
        .await?
    }

    /// Applies the client's offer and returns the answer SDP.
    pub async fn offer(&self, participant: ParticipantId, sdp: String) -> Result<String, SfuError> {
        self.request(|reply| Command::Offer {
            participant,
            sdp,
            reply,
        })
        .await?
    }

    /// Applies the client's answer to the server's last offer.
    pub async fn answer(&self, participant: ParticipantId, sdp: String) -> Result<(), SfuError> {
        self.request(|reply| Command::Answer {
            participant,
            sdp,
            reply,
        })
        .await?
    }

    /// Adds a trickled remote ICE candidate.
    pub async fn candidate(
        &self,
        participant: ParticipantId,
        candidate: String,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::Candidate {
            participant,
            candidate,
            reply,
        })
        .await?
    }

    /// Starts copying every frame the room forwards (and publishers leaving) into `events`,
    /// until its receiver is dropped. Video publishers are asked for a keyframe so the copy
    /// starts with a picture.
    pub async fn tap(&self, events: mpsc::Sender<TapEvent>) -> Result<(), SfuError> {
        self.request(|reply| Command::Tap { events, reply }).await
    }

    /// Asks a participant for a keyframe on its video (a tap lost frames).
    pub async fn request_keyframe(&self, participant: ParticipantId) {
        let _ = self
            .commands
            .send(Command::RequestKeyframe { participant })
            .await;
    }

    /// The room's counters so far; `reset` starts them again (for a measured window).
    pub async fn stats(&self, reset: bool) -> Result<RoomStats, SfuError> {
        self.request(|reply| Command::Stats { reset, reply }).await
    }

    pub(crate) fn downgrade(&self) -> mpsc::WeakSender<Command> {
        self.commands.downgrade()
    }

    pub(crate) fn upgrade(weak: &mpsc::WeakSender<Command>) -> Option<RoomHandle> {
        weak.upgrade().map(|commands| RoomHandle { commands })
    }

    /// Removes a participant; the others stop receiving its tracks.
    pub async fn leave(&self, participant: ParticipantId) {
        let _ = self.commands.send(Command::Leave { participant }).await;
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SfuError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| SfuError::RoomClosed)?;
        response.await.map_err(|_| SfuError::RoomClosed)
    }
}

pub(crate) struct RoomContext {
    pub name: String,
    pub socket: Arc<UdpSocket>,
    pub candidate_addr: SocketAddr,
    pub router: mpsc::Sender<RouterCommand>,
    pub sfu: Weak<SfuInner>,
}

pub(crate) fn spawn(runtime: &Handle, context: RoomContext) -> RoomHandle {
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (datagram_tx, datagram_rx) = mpsc::channel(DATAGRAM_QUEUE);
    let span = tracing::info_span!("room", room = %context.name);
    let room = Room {
        context,
        inbox: datagram_tx,
        peers: Vec::new(),
        forwards: VecDeque::new(),
        taps: Vec::new(),
        send_failures: 0,
        counters: Counters::new(),
        batch_started: None,
        held_since: Vec::new(),
    };
    runtime.spawn(room.run(command_rx, datagram_rx).instrument(span));
    RoomHandle {
        commands: command_tx,
    }
}

/// Work produced while draining one peer that touches other peers.
// `RtpPacket` is large, but boxing it would allocate per packet; the queue is reused instead.
#[allow(clippy::large_enum_variant)]
enum Forward {
    Rtp {
        from: PeerKey,
        /// Index of the publisher's track in its `tracks_in`.
        track: usize,
        /// The track's SSRC changed with this packet.
        restarted: bool,
        codec: IncomingCodec,
        packet: RtpPacket,
    },
    TrackAdded {
        source: Source,
        kind: MediaKind,
    },
    KeyframeRequest {
        source: Source,
    },
}

struct Room {
    context: RoomContext,
    inbox: mpsc::Sender<Datagram>,
    peers: Vec<Peer>,
    /// Reused across drains so forwarding does not allocate per packet.
    forwards: VecDeque<Forward>,
    taps: Vec<Tap>,
    send_failures: u64,
    counters: Counters,
    /// When the earliest datagram of the batch being handled arrived.
    batch_started: Option<Instant>,
    /// Since when each frame forwarded in this drain has been held (reused).
    held_since: Vec<Instant>,
}

impl Room {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut datagrams: mpsc::Receiver<Datagram>,
    ) {
        let mut batch = Vec::with_capacity(DATAGRAM_BATCH);
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(command) => {
                        self.batch_started = None;
                        self.handle_command(command);
                        for peer in &mut self.peers {
                            peer.needs_poll = true;
                        }
                    }
                    None => break,
                },
                received = datagrams.recv_many(&mut batch, DATAGRAM_BATCH) => {
                    if received == 0 {
                        break;
                    }
                    self.batch_started = batch.first().map(|d| d.received);
                    for datagram in batch.drain(..) {
                        self.handle_datagram(datagram);
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.batch_started = None;
                    self.handle_timeouts(Instant::now());
                }
            }
            self.drain();
        }
        for peer in std::mem::take(&mut self.peers) {
            self.unregister(&peer);
        }
        let tap_drops: u64 = self.taps.iter().map(|t| t.dropped).sum();
        tracing::debug!(
            send_failures = self.send_failures,
            tap_drops,
            "room stopped"
        );
    }

    fn next_deadline(&self) -> Instant {
        let idle = Instant::now() + IDLE_TICK;
        self.peers
            .iter()
            .map(|p| p.deadline)
            .fold(idle, Instant::min)
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Join {
                participant,
                may_publish,
                events,
                reply,
            } => {
                let _ = reply.send(self.join(participant, may_publish, events));
            }
            Command::Offer {
                participant,
                sdp,
                reply,
            } => {
                let result = self
                    .peer_mut(&participant)
                    .ok_or(SfuError::UnknownParticipant)
                    .and_then(|peer| peer.accept_offer(&sdp));
                let _ = reply.send(result);
            }
            Command::Answer {
                participant,
                sdp,
                reply,
            } => {
                let result = self.accept_answer(&participant, &sdp);
                let _ = reply.send(result);
            }
            Command::Candidate {
                participant,
                candidate,
                reply,
            } => {
                let result = self
                    .peer_mut(&participant)
                    .ok_or(SfuError::UnknownParticipant)
                    .and_then(|peer| peer.add_remote_candidate(&candidate));
                let _ = reply.send(result);
            }
            Command::Tap { events, reply } => {
                self.taps.push(Tap::new(events));
                let now = Instant::now();
                for peer in &mut self.peers {
                    let mids: Vec<_> = peer.tracks_in.iter().map(|t| t.mid).collect();
                    for mid in mids {
                        peer.request_keyframe(mid, now);
                    }
                }
                let _ = reply.send(());
            }
            Command::RequestKeyframe { participant } => {
                let now = Instant::now();
                if let Some(peer) = self.peer_mut(&participant) {
                    let mids: Vec<_> = peer.tracks_in.iter().map(|t| t.mid).collect();
                    for mid in mids {
                        peer.request_keyframe(mid, now);
                    }
                }
            }
            Command::Stats { reset, reply } => {
                let _ = reply.send(self.counters.snapshot(&self.context.name, self.peers.len()));
                if reset {
                    self.counters = Counters::new();
                }
            }
            Command::Leave { participant } => {
                if let Some(index) = self.peers.iter().position(|p| p.participant == participant) {
                    self.remove_peer(index);
                }
            }
        }
    }

    fn join(
        &mut self,
        participant: ParticipantId,
        may_publish: bool,
        events: mpsc::Sender<PeerEvent>,
    ) -> Result<(), SfuError> {
        if self.peers.iter().any(|p| p.participant == participant) {
            return Err(SfuError::AlreadyJoined);
        }
        let sfu = self.context.sfu.upgrade().ok_or(SfuError::RoomClosed)?;
        let key = sfu.allocate_peer_key();
        let now = Instant::now();
        let credentials = IceCreds::new();
        let ufrag = credentials.ufrag.clone();
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .set_local_ice_credentials(credentials)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .set_send_buffer_video(SEND_BUFFER_VIDEO)
            .build(now);
        let candidate = Candidate::host(self.context.candidate_addr, "udp")
            .map_err(|e| SfuError::SdpRefused(e.to_string()))?;
        rtc.add_local_candidate(candidate);

        let registration = RouterCommand::Register {
            ufrag: ufrag.clone(),
            peer: key,
            inbox: self.inbox.clone(),
        };
        if self.context.router.try_send(registration).is_err() {
            return Err(SfuError::RoomClosed);
        }

        let mut peer = Peer::new(key, participant, rtc, ufrag, events, now);
        peer.may_publish = may_publish;
        for publisher in &self.peers {
            for track in &publisher.tracks_in {
                let source = Source {
                    peer: publisher.key,
                    mid: track.mid,
                };
                peer.subscribe(source, track.kind, &publisher.participant.0);
            }
        }
        tracing::info!(participant = %peer.participant, "media peer joined");
        self.peers.push(peer);
        Ok(())
    }

    fn accept_answer(&mut self, participant: &ParticipantId, sdp: &str) -> Result<(), SfuError> {
        let now = Instant::now();
        let peer = self
            .peer_mut(participant)
            .ok_or(SfuError::UnknownParticipant)?;
        let opened = peer.accept_answer(sdp)?;
        // A new subscriber must see a picture at once, not at the publisher's next keyframe.
        for source in opened {
            if let Some(publisher) = self.peers.iter_mut().find(|p| p.key == source.peer) {
                publisher.request_keyframe(source.mid, now);
            }
        }
        Ok(())
    }

    fn handle_datagram(&mut self, datagram: Datagram) {
        let Some(index) = self.peers.iter().position(|p| p.key == datagram.peer) else {
            return;
        };
        let peer = &mut self.peers[index];
        // The destination is the address the peer sent to, our advertised candidate (behind a
        // 1:1 NAT not the bound one): str0m drops STUN sent to an address it has no candidate for.
        let Ok(receive) = Receive::new(
            Protocol::Udp,
            datagram.source,
            self.context.candidate_addr,
            &datagram.payload,
        ) else {
            return;
        };
        let input = Input::Receive(datagram.received, receive);
        contained(peer, |rtc| rtc.handle_input(input));
        // In RTP mode str0m holds one received packet until the next poll: polling later, after
        // the rest of the batch, would lose all but the last.
        self.poll_peer(index);
    }

    fn handle_timeouts(&mut self, now: Instant) {
        for peer in &mut self.peers {
            if peer.deadline <= now {
                peer.needs_poll = true;
                contained(peer, |rtc| rtc.handle_input(Input::Timeout(now)));
            }
        }
    }

    /// Polls every peer that was fed something until str0m has nothing more to say, forwarding
    /// what it produced (which feeds the subscribers, polled in the next round), then
    /// renegotiates where tracks changed and removes peers that died.
    fn drain(&mut self) {
        loop {
            for index in 0..self.peers.len() {
                if std::mem::take(&mut self.peers[index].needs_poll) {
                    self.poll_peer(index);
                }
            }
            if self.forwards.is_empty() {
                break;
            }
            while let Some(forward) = self.forwards.pop_front() {
                self.forward(forward);
            }
        }
        // Every frame forwarded above has now been handed to its subscribers' sockets.
        if !self.held_since.is_empty() {
            let now = Instant::now();
            for since in self.held_since.drain(..) {
                self.counters
                    .record_hold(now.saturating_duration_since(since));
            }
        }
        for peer in &mut self.peers {
            if let Some(offer) = peer.renegotiate() {
                if !peer.notify(PeerEvent::Offer(offer)) {
                    peer.rtc.disconnect();
                }
            }
        }
        while let Some(index) = self.peers.iter().position(|p| !p.rtc.is_alive()) {
            let peer = self.remove_peer(index);
            let _ = peer.events.try_send(PeerEvent::Failed);
        }
    }

    fn poll_peer(&mut self, index: usize) {
        let peer = &mut self.peers[index];
        let mut clock_moved = false;
        loop {
            if !peer.rtc.is_alive() {
                return;
            }
            let output = match catch_unwind(AssertUnwindSafe(|| peer.rtc.poll_output())) {
                Ok(Ok(output)) => output,
                Ok(Err(error)) => {
                    tracing::info!(participant = %peer.participant, %error, "media peer failed");
                    peer.rtc.disconnect();
                    return;
                }
                Err(_) => {
                    tracing::error!(participant = %peer.participant, "str0m panicked; peer dropped");
                    peer.rtc.disconnect();
                    return;
                }
            };
            match output {
                Output::Timeout(at) => {
                    // A forwarded packet waits in str0m's send queue until its clock moves
                    // (`StreamTx::write_rtp`): move it now, once, rather than a turn of the
                    // room's loop later.
                    let now = Instant::now();
                    if at <= now && !clock_moved {
                        clock_moved = true;
                        contained(peer, |rtc| rtc.handle_input(Input::Timeout(now)));
                        continue;
                    }
                    peer.deadline = at;
                    return;
                }
                Output::Transmit(transmit) => {
                    self.counters.datagrams_out += 1;
                    if self
                        .context
                        .socket
                        .try_send_to(&transmit.contents, transmit.destination)
                        .is_err()
                    {
                        self.send_failures += 1;
                    }
                }
                Output::Event(event) => on_event(peer, event, &mut self.forwards),
            }
        }
    }

    fn forward(&mut self, forward: Forward) {
        let now = Instant::now();
        match forward {
            Forward::Rtp {
                from,
                track,
                restarted,
                codec,
                packet,
            } => self.forward_rtp(from, track, restarted, codec, packet, now),
            Forward::TrackAdded { source, kind } => {
                let Some(publisher) = self.peers.iter().find(|p| p.key == source.peer) else {
                    return;
                };
                let stream_id = publisher.participant.0.clone();
                for peer in &mut self.peers {
                    if peer.key != source.peer {
                        peer.subscribe(source, kind, &stream_id);
                    }
                }
            }
            Forward::KeyframeRequest { source } => {
                if let Some(publisher) = self.peers.iter_mut().find(|p| p.key == source.peer) {
                    publisher.request_keyframe(source.mid, now);
                }
            }
        }
    }

    fn forward_rtp(
        &mut self,
        from: PeerKey,
        track: usize,
        restarted: bool,
        codec: IncomingCodec,
        packet: RtpPacket,
        now: Instant,
    ) {
        let Some(publisher) = self.peers.iter().find(|p| p.key == from) else {
            return;
        };
        let Some(track) = publisher.tracks_in.get(track) else {
            return;
        };
        let source = Source {
            peer: from,
            mid: track.mid,
        };
        let kind = track.kind;
        let tap = (!self.taps.is_empty()).then(|| TappedPacket {
            participant: publisher.label.clone(),
            track: track.number,
            kind: tap_kind(kind),
            codec: codec.codec,
            clock_rate: codec.clock_rate,
            seq_no: *packet.seq_no,
            rtp_time: packet.time.numer(),
            marker: packet.header.marker,
            received: packet.timestamp,
            sender_report: packet.last_sender_info.map(|info| SenderReport {
                ntp_time: info.ntp_time,
                rtp_time: info.rtp_time.numer(),
            }),
            payload: packet.payload.clone(),
        });
        let forwarded = Forwarded {
            seq_no: *packet.seq_no,
            rtp_time: packet.header.timestamp,
            received: packet.timestamp,
            marker: packet.header.marker,
            extensions: passed_on(&packet.header.ext_vals),
            starts_keyframe: kind == MediaKind::Video
                && starts_keyframe(codec.codec, &packet.payload),
            payload: packet.payload,
            codec,
        };
        let mut someone_waits = false;
        let mut handed_out = 0u64;
        for peer in &mut self.peers {
            if peer.key == from || !peer.connected {
                continue;
            }
            if restarted {
                peer.restart_forwarding(source);
            }
            match peer.forward(source, &forwarded) {
                Delivery::Sent => handed_out += 1,
                Delivery::WaitingForKeyframe => someone_waits = true,
                Delivery::NotSubscribed => {}
            }
        }
        self.counters.packets_in += 1;
        if handed_out > 0 {
            self.counters.packets_out += handed_out;
            let since = self
                .batch_started
                .map_or(forwarded.received, |batch| batch.max(forwarded.received));
            self.held_since.push(since);
        }
        if let Some(packet) = tap {
            for tap in &mut self.taps {
                let track = (from, source.mid);
                if !tap.offer(track, &packet, forwarded.starts_keyframe) {
                    someone_waits = true;
                }
            }
            self.taps.retain(|tap| !tap.is_closed());
        }
        // Ask again while anyone waits: the first request (or its keyframe) may be lost.
        if someone_waits {
            if let Some(publisher) = self.peers.iter_mut().find(|p| p.key == from) {
                publisher.request_keyframe(source.mid, now);
            }
        }
    }

    fn remove_peer(&mut self, index: usize) -> Peer {
        let mut peer = self.peers.remove(index);
        peer.rtc.disconnect();
        self.unregister(&peer);
        if !peer.tracks_in.is_empty() {
            for tap in &mut self.taps {
                tap.publisher_left(peer.key, &peer.label);
            }
        }
        for other in &mut self.peers {
            other.unsubscribe_from(peer.key);
        }
        tracing::info!(participant = %peer.participant, "media peer left");
        peer
    }

    fn unregister(&self, peer: &Peer) {
        let command = RouterCommand::Unregister {
            ufrag: peer.ufrag.clone(),
        };
        // If the router's queue is full the route lingers until the ufrag is reused, which
        // never happens (random ufrags); the datagrams it routes find no peer and are dropped.
        let _ = self.context.router.try_send(command);
    }

    fn peer_mut(&mut self, participant: &ParticipantId) -> Option<&mut Peer> {
        self.peers
            .iter_mut()
            .find(|p| &p.participant == participant)
    }
}

fn on_event(peer: &mut Peer, event: Event, forwards: &mut VecDeque<Forward>) {
    match event {
        Event::Connected => {
            peer.connected = true;
            let _ = peer.notify(PeerEvent::Connected);
            // Publishers that joined before we could send them anything: ask for a picture.
            for track in &peer.tracks_out {
                if track.kind == MediaKind::Video {
                    forwards.push_back(Forward::KeyframeRequest {
                        source: track.source,
                    });
                }
            }
        }
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
            peer.rtc.disconnect();
        }
        Event::MediaAdded(added) => {
            let publishes = peer.may_publish
                && matches!(added.direction, Direction::RecvOnly | Direction::SendRecv);
            if publishes && peer.add_track_in(added.mid, added.kind) {
                forwards.push_back(Forward::TrackAdded {
                    source: Source {
                        peer: peer.key,
                        mid: added.mid,
                    },
                    kind: added.kind,
                });
            }
        }
        Event::RtpPacket(packet) => {
            // Loss the NACKs cannot repair is left to the subscribers' decoders: they ask for
            // a keyframe, and that request reaches the publisher.
            let Some((track, restarted)) = peer.track_in_for(packet.header.ssrc) else {
                return;
            };
            let Some(codec) = peer.incoming_codec(track, packet.header.payload_type) else {
                return;
            };
            forwards.push_back(Forward::Rtp {
                from: peer.key,
                track,
                restarted,
                codec,
                packet,
            });
        }
        Event::KeyframeRequest(request) => {
            if let Some(source) = peer.source_of(request.mid) {
                forwards.push_back(Forward::KeyframeRequest { source });
            }
        }
        _ => {}
    }
}

/// Feeds one input to a peer; an error or a panic inside str0m ends that peer, not the room.
fn contained(peer: &mut Peer, f: impl FnOnce(&mut Rtc) -> Result<(), str0m::RtcError>) {
    if !peer.rtc.is_alive() {
        return;
    }
    match catch_unwind(AssertUnwindSafe(|| f(&mut peer.rtc))) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::info!(participant = %peer.participant, %error, "media input refused; peer dropped");
            peer.rtc.disconnect();
        }
        Err(_) => {
            tracing::error!(participant = %peer.participant, "str0m panicked; peer dropped");
            peer.rtc.disconnect();
        }
    }
}

/// The header extensions a subscriber can use as the publisher sent them. The rest (transport
/// sequence numbers, send times, MID) describe the hop, and str0m writes its own.
fn passed_on(extensions: &ExtensionValues) -> ExtensionValues {
    ExtensionValues {
        audio_level: extensions.audio_level,
        voice_activity: extensions.voice_activity,
        video_orientation: extensions.video_orientation,
        abs_capture_time: extensions.abs_capture_time,
        ..ExtensionValues::default()
    }
}
