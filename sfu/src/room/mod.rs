//! A room: every peer of one session and the forwarding between them, as a state machine.
//!
//! The room is sans-IO: it is told the time, handed commands and datagrams, and writes what it
//! sends through a [`Transmit`]. [`task`] runs it on a media thread with the real socket and
//! clock; tests run it in memory with str0m peers on simulated time.
//!
//! After each input, the room drains every peer that was fed something until str0m reports its
//! next timeout, forwarding what publishers produced to their subscribers ([`forward`]). Media
//! is forwarded as RTP packets as they arrive (str0m's RTP mode): no jitter buffer and no
//! repacketizing per subscriber. Payloads are reference-counted: forwarding to N subscribers
//! copies no payload bytes. Every so often [`policy`] re-decides which layer of which video
//! each subscriber gets.

mod caucus;
mod forward;
mod policy;
pub(crate) mod task;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::media::{Direction, MediaKind, Mid, Rid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc};
use tokio::sync::mpsc;

use crate::forwarding::speaker::SpeakerDetector;
use crate::handle::{JoinOptions, PeerEvent, TileView};
use crate::ice_tcp::TcpLink;
use crate::ids::{ParticipantId, PeerKey, SCREEN_SUFFIX};
use crate::outgoing::Source;
use crate::peer::{Peer, StreamReport};
use crate::stats::{Counters, RoomStats};
use crate::tap::{Tap, TapEvent};
use crate::SfuError;

pub(crate) use forward::Forward;

/// Video packets kept per outgoing stream for retransmission (str0m's default is 1,000). A
/// resend older than a second or two arrives too late to be shown; 400 packets are 1.6 s at
/// 2.5 Mbit/s and hold any keyframe, and cut a participant's memory in a busy room.
const SEND_BUFFER_VIDEO: usize = 400;
/// Where each subscriber's bandwidth estimate starts: one camera's middle layer and the voices
/// fit; a weaker link is found within a second or two, a stronger one by probing.
const INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(700);
/// How long a peer whose ICE path was lost is kept for its client to restart ICE (the web
/// client tries twice within about 20 s, then makes a new connection, which needs this one
/// gone).
const PATH_LOST_GRACE: Duration = Duration::from_secs(15);
/// How often str0m reports loss and round-trip time per peer.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Most tiles a client may describe in one view.
pub(crate) const MAX_TILES: usize = 64;

/// Where the room's datagrams go: the shared UDP socket, or a test's in-memory network.
pub(crate) trait Transmit {
    /// Sends one datagram; false if it could not be handed to the network.
    fn send(&mut self, destination: SocketAddr, contents: &[u8]) -> bool;
}

/// Sends a datagram str0m addressed to a peer connected over TCP; false if that connection is
/// gone (its route is then forgotten).
fn send_tcp(routes: &mut Vec<TcpRoute>, destination: SocketAddr, contents: &[u8]) -> bool {
    let Some(index) = routes.iter().position(|r| r.addr == destination) else {
        return false;
    };
    if routes[index].link.send(contents) {
        return true;
    }
    routes.swap_remove(index);
    false
}

pub(crate) struct Room {
    name: String,
    /// The address in our ICE candidate (behind a 1:1 NAT not the bound one).
    candidate_addr: SocketAddr,
    peers: Vec<Peer>,
    /// Reused across drains so forwarding does not allocate per packet.
    forwards: VecDeque<Forward>,
    taps: Vec<Tap>,
    send_failures: u64,
    counters: Counters,
    /// When the earliest datagram of the batch being handled arrived.
    batch_started: Option<Instant>,
    /// Since when each packet forwarded in this drain has been held (reused).
    held_since: Vec<Instant>,
    speakers: SpeakerDetector,
    /// When the forwarding policy and the quality reports run next.
    next_policy: Instant,
    next_quality: Instant,
    last_policy: Instant,
    /// Router registrations of peers that left (or credentials an ICE restart replaced), for
    /// the task to remove.
    departed: Vec<String>,
    /// Router registrations to add: the new credentials of an ICE restart.
    registrations: Vec<(PeerKey, IceCreds)>,
    /// The address in our passive TCP candidate, when media over TCP is on.
    tcp_candidate_addr: Option<SocketAddr>,
    /// Peers connected over TCP, and how to send to each.
    tcp_routes: Vec<TcpRoute>,
    /// A private talk in progress: its media stays within it.
    caucus: Option<crate::handle::Caucus>,
}

/// A peer's media connection over TCP: where the room sends what str0m addresses to it.
struct TcpRoute {
    addr: SocketAddr,
    peer: PeerKey,
    link: TcpLink,
}

/// The SFU's side of a participant's connection, as every peer gets it.
pub(crate) fn server_rtc(credentials: IceCreds, now: Instant) -> Rtc {
    Rtc::builder()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .set_local_ice_credentials(credentials)
        .clear_codecs()
        // RED for Opus where the browser offers it: a lost voice packet comes again in the
        // next one. Forwarded as sent; unwrapped for subscribers without it.
        .enable_opus(true, true)
        .enable_vp8(true)
        .enable_h264(true)
        .set_send_buffer_video(SEND_BUFFER_VIDEO)
        .enable_bwe(Some(INITIAL_ESTIMATE))
        .set_stats_interval(Some(STATS_INTERVAL))
        .build(now)
}

impl Room {
    /// A room whose peers are offered `candidate_addr` over UDP and, if given,
    /// `tcp_candidate_addr` over TCP.
    pub fn new(
        name: String,
        candidate_addr: SocketAddr,
        tcp_candidate_addr: Option<SocketAddr>,
        now: Instant,
    ) -> Room {
        Room {
            name,
            candidate_addr,
            tcp_candidate_addr,
            tcp_routes: Vec::new(),
            caucus: None,
            peers: Vec::new(),
            forwards: VecDeque::new(),
            taps: Vec::new(),
            send_failures: 0,
            counters: Counters::new(),
            batch_started: None,
            held_since: Vec::new(),
            speakers: SpeakerDetector::new(),
            next_policy: now,
            next_quality: now + policy::QUALITY_INTERVAL,
            last_policy: now,
            departed: Vec::new(),
            registrations: Vec::new(),
        }
    }

    /// The earliest time the room must be woken even if nothing arrives.
    pub fn next_deadline(&self) -> Instant {
        let voices = self
            .peers
            .iter()
            .flat_map(|p| &p.tracks_in)
            .filter_map(|t| t.voice_history.quiet_due);
        self.peers
            .iter()
            .map(|p| p.deadline)
            .chain(voices)
            .fold(self.next_policy.min(self.next_quality), Instant::min)
    }

    /// Adds a participant's media connection under `key`; returns its ICE credentials: the
    /// router finds it by the username fragment and believes only STUN signed with the password.
    pub fn join(
        &mut self,
        key: PeerKey,
        participant: ParticipantId,
        options: JoinOptions,
        events: mpsc::Sender<PeerEvent>,
        now: Instant,
    ) -> Result<IceCreds, SfuError> {
        if self.peers.iter().any(|p| p.participant == participant) {
            return Err(SfuError::AlreadyJoined);
        }
        let credentials = IceCreds::new();
        let ufrag = credentials.ufrag.clone();
        let registration = credentials.clone();
        let mut rtc = server_rtc(credentials, now);
        let candidate = Candidate::host(self.candidate_addr, "udp")
            .map_err(|e| SfuError::SdpRefused(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        if let Some(addr) = self.tcp_candidate_addr {
            // Passive: the browser connects to us (an ICE-lite server never dials out).
            let candidate = Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Passive)
                .build()
                .map_err(|e| SfuError::SdpRefused(e.to_string()))?;
            rtc.add_local_candidate(candidate);
        }

        let mut peer = Peer::new(key, participant, rtc, ufrag.clone(), events, now);
        peer.may_publish = options.may_publish;
        peer.host = options.host;
        peer.hosts_only = options.hosts_only;
        peer.in_caucus = self.in_caucus(&peer.participant);
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
        // The newcomer gets its layers at the next policy run, not a full interval later.
        self.next_policy = now;
        Ok(registration)
    }

    /// Applies a client's offer. `screen_mid` names the video it adds as a shared screen (kept
    /// for later offers that do not repeat it).
    pub fn offer(
        &mut self,
        participant: &ParticipantId,
        sdp: &str,
        screen_mid: Option<&str>,
        now: Instant,
    ) -> Result<String, SfuError> {
        let peer = self
            .peer_mut(participant)
            .ok_or(SfuError::UnknownParticipant)?;
        if let Some(mid) = screen_mid {
            peer.screen_mid = Some(Mid::from(mid));
        }
        let answer = peer.accept_offer(sdp)?;
        // An offer with new ICE credentials is an ICE restart (the client lost its path): str0m
        // answers with new credentials of its own, by which the router must now find the peer.
        let credentials = peer.rtc.direct_api().local_ice_credentials();
        if credentials.ufrag != peer.ufrag {
            let old = std::mem::replace(&mut peer.ufrag, credentials.ufrag.clone());
            let key = peer.key;
            tracing::debug!(%participant, "ice restart");
            // Its path was lost: once the restart completes, decoders on both sides need a
            // fresh picture; if it never does, the peer is dropped after the grace.
            peer.path_lost_since.get_or_insert(now);
            self.departed.push(old);
            self.registrations.push((key, credentials));
        }
        Ok(answer)
    }

    /// Router registrations to add (ICE credentials of a restart), for the task.
    pub fn take_registrations(&mut self) -> impl Iterator<Item = (PeerKey, IceCreds)> + '_ {
        self.registrations.drain(..)
    }

    pub fn answer(
        &mut self,
        participant: &ParticipantId,
        sdp: &str,
        now: Instant,
    ) -> Result<(), SfuError> {
        let peer = self
            .peer_mut(participant)
            .ok_or(SfuError::UnknownParticipant)?;
        let opened = peer.accept_answer(sdp)?;
        // A new subscriber must see a picture at once, not at the publisher's next keyframe.
        for source in opened {
            if let Some(publisher) = self.peers.iter_mut().find(|p| p.key == source.peer) {
                publisher.request_keyframe(source.mid, None, now);
            }
        }
        self.next_policy = now;
        Ok(())
    }

    pub fn candidate(
        &mut self,
        participant: &ParticipantId,
        candidate: &str,
    ) -> Result<(), SfuError> {
        self.peer_mut(participant)
            .ok_or(SfuError::UnknownParticipant)
            .and_then(|peer| peer.add_remote_candidate(candidate))
    }

    /// The sizes at which `participant` shows the others' videos.
    pub fn set_view(&mut self, participant: &ParticipantId, tiles: &[TileView], now: Instant) {
        let views: Vec<(PeerKey, u32, u32)> = tiles
            .iter()
            .take(MAX_TILES)
            .filter_map(|tile| {
                let publisher = self
                    .peers
                    .iter()
                    .find(|p| p.participant == tile.publisher)?;
                Some((publisher.key, tile.width, tile.height))
            })
            .collect();
        if let Some(peer) = self.peer_mut(participant) {
            peer.wishes.views = Some(views);
            self.next_policy = now;
        }
    }

    pub fn set_audio_only(&mut self, participant: &ParticipantId, enabled: bool, now: Instant) {
        if let Some(peer) = self.peer_mut(participant) {
            peer.wishes.audio_only = enabled;
            self.next_policy = now;
        }
    }

    /// Points `participant`'s events at a new signaling connection; false if it has no peer.
    /// A renegotiation its old connection could not take is offered again.
    pub fn rebind(&mut self, participant: &ParticipantId, events: mpsc::Sender<PeerEvent>) -> bool {
        let Some(peer) = self.peer_mut(participant) else {
            return false;
        };
        peer.events = events;
        if let Some(offer) = peer.pending_offer.clone() {
            let _ = peer.notify(PeerEvent::Offer(offer));
        }
        // What dynacast told the publisher while its connection was gone never arrived: a
        // layer switched back on meanwhile would never be sent (and, asked for and not
        // coming, would be taken for one its uplink cannot carry).
        for track in peer.tracks_in.iter().filter(|t| t.is_simulcast()) {
            let _ = peer.notify(PeerEvent::PublishLayers {
                mid: track.mid.to_string(),
                active: track.active_rids(),
            });
        }
        true
    }

    pub fn leave(&mut self, participant: &ParticipantId) {
        if let Some(index) = self
            .peers
            .iter()
            .position(|p| &p.participant == participant)
        {
            self.remove_peer(index);
        }
    }

    /// Starts a tap; every video publisher is asked for a keyframe so the copy starts soon.
    pub fn tap(&mut self, events: mpsc::Sender<TapEvent>, now: Instant) {
        self.taps.push(Tap::new(events));
        for peer in &mut self.peers {
            let mids: Vec<_> = peer.tracks_in.iter().map(|t| t.mid).collect();
            for mid in mids {
                peer.request_keyframe(mid, None, now);
            }
        }
    }

    /// Asks for keyframes of everything `participant` publishes; for a name a tap knows a
    /// shared screen by ([`crate::screen_stream_id`]), of that screen.
    pub fn request_keyframe(&mut self, participant: &ParticipantId, now: Instant) {
        let screen = participant.0.strip_suffix(SCREEN_SUFFIX);
        let publisher = ParticipantId(screen.unwrap_or(&participant.0).to_owned());
        if let Some(peer) = self.peer_mut(&publisher) {
            let mids: Vec<_> = peer
                .tracks_in
                .iter()
                .filter(|t| screen.is_none() || t.shared_screen.is_some())
                .map(|t| t.mid)
                .collect();
            for mid in mids {
                peer.request_keyframe(mid, None, now);
            }
        }
    }

    pub fn stats(&mut self, reset: bool) -> RoomStats {
        let stats = self.counters.snapshot(&self.name, self.peers.len());
        if reset {
            self.counters = Counters::new();
        }
        stats
    }

    /// Every peer is drained after a command: it may have changed SDP or wishes.
    pub fn mark_all_for_poll(&mut self) {
        self.batch_started = None;
        for peer in &mut self.peers {
            peer.needs_poll = true;
        }
    }

    /// Marks the start of a batch of datagrams that arrived from `received` on.
    pub fn start_batch(&mut self, received: Option<Instant>) {
        self.batch_started = received;
    }

    /// One datagram for `peer`, which the router found by its source address.
    pub fn receive(
        &mut self,
        peer: PeerKey,
        source: SocketAddr,
        received: Instant,
        payload: &[u8],
        out: &mut impl Transmit,
    ) {
        self.feed(peer, Protocol::Udp, source, received, payload, out);
    }

    /// One frame of `peer`'s media connection over TCP; the first comes with the `link` to
    /// send back through.
    pub fn receive_tcp(
        &mut self,
        peer: PeerKey,
        source: SocketAddr,
        received: Instant,
        payload: &[u8],
        link: Option<TcpLink>,
        out: &mut impl Transmit,
    ) {
        if let Some(link) = link {
            if !self.peers.iter().any(|p| p.key == peer) {
                return;
            }
            // One connection per peer: a new one (the browser reconnected) replaces the old,
            // whose link is dropped and so closed.
            self.tcp_routes
                .retain(|r| r.peer != peer && r.addr != source);
            self.tcp_routes.push(TcpRoute {
                addr: source,
                peer,
                link,
            });
        }
        self.feed(peer, Protocol::Tcp, source, received, payload, out);
    }

    fn feed(
        &mut self,
        peer: PeerKey,
        proto: Protocol,
        source: SocketAddr,
        received: Instant,
        payload: &[u8],
        out: &mut impl Transmit,
    ) {
        let Some(index) = self.peers.iter().position(|p| p.key == peer) else {
            return;
        };
        // The destination is the address the peer sent to, our advertised candidate: str0m
        // drops STUN sent to an address it has no candidate for.
        let destination = match proto {
            Protocol::Udp => self.candidate_addr,
            _ => match self.tcp_candidate_addr {
                Some(addr) => addr,
                None => return,
            },
        };
        let Ok(receive) = Receive::new(proto, source, destination, payload) else {
            return;
        };
        let peer = &mut self.peers[index];
        let moved = proto == Protocol::Udp && peer.note_nomination(source, payload);
        let back = peer.heard(received);
        if moved || back {
            tracing::debug!(participant = %peer.participant, %source, moved, "peer back");
            peer.note_path_back(received);
            // A NAT rebinding, a new network or a path that was gone: what was sent meanwhile
            // is lost, and without fresh pictures decoders would wait for it for seconds.
            ask_for_fresh_pictures(peer, received, &mut self.forwards);
        }
        let input = Input::Receive(received, receive);
        contained(&mut self.peers[index], |rtc| rtc.handle_input(input));
        // In RTP mode str0m holds one received packet until the next poll: polling later, after
        // the rest of the batch, would lose all but the last.
        self.poll_peer(index, received, out);
    }

    /// Feeds the time to every peer whose timeout has come, and runs the policy when due.
    pub fn handle_timeouts(&mut self, now: Instant) {
        self.batch_started = None;
        for peer in &mut self.peers {
            let gone = peer
                .path_lost_since
                .is_some_and(|since| now.saturating_duration_since(since) >= PATH_LOST_GRACE);
            if gone && peer.rtc.is_alive() {
                tracing::info!(participant = %peer.participant, "ICE path not restored; media peer dropped");
                peer.rtc.disconnect();
                peer.needs_poll = true;
            }
            if peer.deadline <= now {
                peer.needs_poll = true;
                contained(peer, |rtc| rtc.handle_input(Input::Timeout(now)));
            }
        }
        self.end_quiet_voices(now);
        if now >= self.next_policy {
            let elapsed = now.saturating_duration_since(self.last_policy);
            self.last_policy = now;
            self.next_policy = now + policy::POLICY_INTERVAL;
            self.run_policy(now, elapsed);
        }
        if now >= self.next_quality {
            self.next_quality = now + policy::QUALITY_INTERVAL;
            self.report_quality(now);
        }
    }

    /// Polls every peer that was fed something until str0m has nothing more to say, forwarding
    /// what it produced (which feeds the subscribers, polled in the next round), then
    /// renegotiates where tracks changed and removes peers that died.
    pub fn drain(&mut self, now: Instant, out: &mut impl Transmit) {
        loop {
            for index in 0..self.peers.len() {
                if std::mem::take(&mut self.peers[index].needs_poll) {
                    self.poll_peer(index, now, out);
                }
            }
            if self.forwards.is_empty() {
                break;
            }
            while let Some(forward) = self.forwards.pop_front() {
                self.forward(forward, now);
            }
        }
        for peer in &mut self.peers {
            if let Some(offer) = peer.renegotiate() {
                // A signaling connection that dropped may be resumed: the offer waits for it
                // (see `rebind`). One that is there but does not keep up is given up on.
                if !peer.notify(PeerEvent::Offer(offer)) && !peer.events.is_closed() {
                    tracing::info!(participant = %peer.participant, "signaling does not keep up; media peer dropped");
                    peer.rtc.disconnect();
                }
            }
        }
        while let Some(index) = self.peers.iter().position(|p| !p.rtc.is_alive()) {
            let peer = self.remove_peer(index);
            let _ = peer.events.try_send(PeerEvent::Failed);
        }
    }

    /// Every packet forwarded in the drain just finished has now been handed to its
    /// subscribers' sockets: count how long each was held.
    pub fn record_holds(&mut self, now: Instant) {
        for since in self.held_since.drain(..) {
            self.counters
                .record_hold(now.saturating_duration_since(since));
        }
    }

    /// Router registrations to remove (peers that left since the last call).
    pub fn take_departed(&mut self) -> impl Iterator<Item = String> + '_ {
        self.departed.drain(..)
    }

    /// Closes every peer (the room is stopping); returns their registrations.
    pub fn close(&mut self) -> Vec<String> {
        for peer in &mut self.peers {
            peer.rtc.disconnect();
        }
        let tap_drops: u64 = self.taps.iter().map(|t| t.dropped).sum();
        tracing::debug!(
            send_failures = self.send_failures,
            tap_drops,
            "room stopped"
        );
        self.peers.drain(..).map(|p| p.ufrag).collect()
    }

    fn poll_peer(&mut self, index: usize, now: Instant, out: &mut impl Transmit) {
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
                    if at <= now && !clock_moved {
                        clock_moved = true;
                        contained(peer, |rtc| rtc.handle_input(Input::Timeout(now)));
                        continue;
                    }
                    peer.deadline = at.max(now);
                    return;
                }
                Output::Transmit(transmit) => {
                    self.counters.datagrams_out += 1;
                    let sent = match transmit.proto {
                        Protocol::Udp => out.send(
                            peer.udp_destination(transmit.destination, &transmit.contents),
                            &transmit.contents,
                        ),
                        _ => send_tcp(
                            &mut self.tcp_routes,
                            transmit.destination,
                            &transmit.contents,
                        ),
                    };
                    if !sent {
                        self.send_failures += 1;
                    }
                }
                Output::Event(event) => on_event(peer, event, now, &mut self.forwards),
            }
        }
    }

    fn remove_peer(&mut self, index: usize) -> Peer {
        let mut peer = self.peers.remove(index);
        peer.rtc.disconnect();
        // Its connection over TCP, if any, closes with its link.
        self.tcp_routes.retain(|r| r.peer != peer.key);
        self.departed.push(peer.ufrag.clone());
        if !peer.tracks_in.is_empty() {
            let screens = peer
                .tracks_in
                .iter()
                .filter_map(|t| t.shared_screen.as_ref());
            for label in std::iter::once(&peer.label).chain(screens) {
                for tap in &mut self.taps {
                    tap.publisher_left(peer.key, label);
                }
            }
        }
        self.speakers.forget(peer.key);
        for other in &mut self.peers {
            other.unsubscribe_from(peer.key);
        }
        tracing::info!(participant = %peer.participant, "media peer left");
        peer
    }

    fn peer_mut(&mut self, participant: &ParticipantId) -> Option<&mut Peer> {
        self.peers
            .iter_mut()
            .find(|p| &p.participant == participant)
    }
}

fn on_event(peer: &mut Peer, event: Event, now: Instant, forwards: &mut VecDeque<Forward>) {
    match event {
        Event::Connected => {
            peer.connected = true;
            let _ = peer.notify(PeerEvent::Connected);
            // Publishers that joined before we could send them anything: ask for a picture.
            for track in &peer.tracks_out {
                if track.kind == MediaKind::Video {
                    forwards.push_back(Forward::KeyframeRequest {
                        source: track.source,
                        layer: None,
                    });
                }
            }
        }
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
            tracing::info!(participant = %peer.participant, "ICE path lost; waiting for a restart");
            peer.path_lost_since.get_or_insert(now);
        }
        Event::IceConnectionStateChange(
            IceConnectionState::Connected | IceConnectionState::Completed,
        ) if peer.path_lost_since.is_some() => {
            peer.path_lost_since = None;
            tracing::info!(participant = %peer.participant, "ICE path back");
            ask_for_fresh_pictures(peer, now, forwards);
        }
        Event::MediaAdded(added) => {
            let publishes = peer.may_publish
                && matches!(added.direction, Direction::RecvOnly | Direction::SendRecv);
            let rids: Vec<Rid> = added
                .simulcast
                .map(|s| if s.recv.is_empty() { s.send } else { s.recv })
                .unwrap_or_default()
                .into_iter()
                .map(|layer| layer.rid)
                .collect();
            if publishes && peer.add_track_in(added.mid, added.kind, &rids) {
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
            let Some((track, layer, restarted)) = peer.track_in_for(packet.header.ssrc) else {
                return;
            };
            let Some(codec) = peer.incoming_codec(track, packet.header.payload_type) else {
                return;
            };
            forwards.push_back(Forward::Rtp {
                from: peer.key,
                track,
                layer,
                restarted,
                codec,
                packet,
            });
        }
        Event::KeyframeRequest(request) => {
            tracing::trace!(participant = %peer.participant, mid = %request.mid, "keyframe request in");
            // The subscriber's decoder is stuck: the layer it gets (or waits for) must send one.
            if let Some((source, layer)) = peer.source_of(request.mid) {
                forwards.push_back(Forward::KeyframeRequest { source, layer });
            }
        }
        Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
            peer.estimate = Some(estimate.as_u64());
            peer.stuck_estimate.note_estimate(estimate.as_u64(), now);
        }
        Event::MediaEgressStats(stats) => {
            tracing::trace!(participant = %peer.participant, mid = %stats.mid, rid = ?stats.rid, bytes = stats.bytes, packets = stats.packets, plis = stats.plis, firs = stats.firs, nacks = stats.nacks, "egress stream");
            if let Some(remote) = &stats.remote {
                let highest = *remote.maximum_sequence_number;
                let report = StreamReport {
                    highest,
                    // 24 bits, signed: duplicates can make it negative.
                    lost: if remote.packets_lost < 0x80_0000 {
                        remote.packets_lost
                    } else {
                        0
                    },
                    skipped: peer.skipped_up_to(stats.mid, highest),
                    sent_bytes: stats.bytes,
                    sent_packets: stats.packets,
                    at: stats.timestamp,
                };
                let video = peer
                    .tracks_out
                    .iter()
                    .any(|t| t.open_mid() == Some(stats.mid) && t.video().is_some());
                peer.reported_loss.add(stats.mid, stats.rid, video, report);
            }
        }
        Event::PeerStats(stats) => {
            peer.reported_loss.fresh = true;
            peer.link = peer.link.next(
                stats.egress_loss_fraction,
                stats.ingress_loss_fraction,
                stats.rtt,
                stats.peer_bytes_tx,
                stats.timestamp,
            );
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

#[cfg(test)]
mod tests;

/// What was sent to and from `peer` while its path was gone is lost both ways: decoders need a
/// fresh picture, of every video it receives and of every video it publishes.
fn ask_for_fresh_pictures(peer: &mut Peer, now: Instant, forwards: &mut VecDeque<Forward>) {
    for track in &peer.tracks_out {
        if track.kind == MediaKind::Video {
            forwards.push_back(Forward::KeyframeRequest {
                source: track.source,
                layer: None,
            });
        }
    }
    for index in 0..peer.tracks_in.len() {
        let mid = peer.tracks_in[index].mid;
        // Not video: request_keyframe ignores it.
        peer.request_keyframe(mid, None, now);
    }
}
