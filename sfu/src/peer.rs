//! One participant's media connection inside a room: its `Rtc`, the tracks it publishes and the
//! tracks it receives from the others, and the state of SDP renegotiation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::PayloadParams;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::rtp::{ExtensionValues, RtpWrite, Ssrc};
use str0m::{Candidate, Rtc};
use tokio::sync::mpsc;

use crate::ids::{ParticipantId, PeerKey};
use crate::room::PeerEvent;
use crate::sequence::SequenceRewriter;
use crate::tap::{tap_codec, TapCodec};
use crate::SfuError;

/// A publisher is asked for a keyframe at most this often per track; subscribers' PLIs and new
/// subscriptions inside the window share the keyframe already on its way.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);

/// A track this peer publishes.
pub(crate) struct TrackIn {
    pub mid: Mid,
    pub kind: MediaKind,
    /// Numbered from 0 in order of appearance: how taps name the track.
    pub number: u32,
    /// The SSRC its packets carry; a new one means the publisher restarted the stream.
    pub ssrc: Option<Ssrc>,
    /// The codec of the last packet, looked up once per payload type.
    pub codec: Option<IncomingCodec>,
    last_keyframe_request: Option<Instant>,
}

/// What a publisher's payload type stands for, in its own negotiated numbering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncomingCodec {
    pub pt: Pt,
    pub params: PayloadParams,
    pub codec: TapCodec,
    pub clock_rate: u32,
}

/// Where a forwarded track comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    pub peer: PeerKey,
    pub mid: Mid,
}

/// One publisher packet on its way to the subscribers, read once for all of them.
pub(crate) struct Forwarded {
    pub seq_no: u64,
    pub rtp_time: u32,
    pub received: Instant,
    pub marker: bool,
    /// The header extensions worth passing on (levels, orientation, capture time).
    pub extensions: ExtensionValues,
    pub payload: Arc<[u8]>,
    pub codec: IncomingCodec,
    pub starts_keyframe: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Sent,
    WaitingForKeyframe,
    NotSubscribed,
}

/// A track this peer receives from another participant.
pub(crate) struct TrackOut {
    pub source: Source,
    pub kind: MediaKind,
    /// Stream id in the SDP: the publishing participant's id, so clients can label tiles.
    pub stream_id: String,
    pub state: TrackOutState,
    /// Video starts at a keyframe, the first thing a decoder can use; audio at once.
    pub sequence: SequenceRewriter,
    /// The publisher's payload type and ours for the same codec (they may number differently).
    pub payload_types: Option<(Pt, Pt)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackOutState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

pub(crate) struct Peer {
    pub key: PeerKey,
    pub participant: ParticipantId,
    /// The participant id, shared with tapped frames without copying.
    pub label: Arc<str>,
    pub rtc: Rtc,
    pub ufrag: String,
    pub events: mpsc::Sender<PeerEvent>,
    /// When str0m next wants `Input::Timeout`.
    pub deadline: Instant,
    /// The client's first offer has been answered: from then on the server may offer.
    pub negotiated: bool,
    pub pending: Option<SdpPendingOffer>,
    pub tracks_in: Vec<TrackIn>,
    pub tracks_out: Vec<TrackOut>,
    pub connected: bool,
    /// Observers receive only: whatever they offer is not forwarded.
    pub may_publish: bool,
    /// Something was fed to `rtc` (input, a write, an SDP change) since it was last drained.
    /// Only such peers are polled: polling the idle ones on every packet cost more than the
    /// forwarding itself in large rooms.
    pub needs_poll: bool,
}

impl Peer {
    pub fn new(
        key: PeerKey,
        participant: ParticipantId,
        rtc: Rtc,
        ufrag: String,
        events: mpsc::Sender<PeerEvent>,
        now: Instant,
    ) -> Peer {
        Peer {
            key,
            label: Arc::from(participant.0.as_str()),
            participant,
            rtc,
            ufrag,
            events,
            deadline: now,
            negotiated: false,
            pending: None,
            tracks_in: Vec::new(),
            tracks_out: Vec::new(),
            connected: false,
            may_publish: true,
            needs_poll: true,
        }
    }

    /// Accepts the client's offer. Any server offer still waiting for its answer is abandoned
    /// (the client's offer wins the glare) and redone after.
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, SfuError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|_| SfuError::BadSdp)?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::SdpRefused(e.to_string()))?;
        self.pending = None;
        for track in &mut self.tracks_out {
            track.state = match track.state {
                TrackOutState::Negotiating(_) => TrackOutState::ToOpen,
                TrackOutState::NegotiatingStop(mid) => TrackOutState::ToStop(mid),
                other => other,
            };
        }
        self.negotiated = true;
        Ok(answer.to_sdp_string())
    }

    /// Applies the client's answer to our pending offer; returns the tracks that just opened.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<Vec<Source>, SfuError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|_| SfuError::BadSdp)?;
        let pending = self.pending.take().ok_or(SfuError::NoPendingOffer)?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| SfuError::SdpRefused(e.to_string()))?;
        let mut opened = Vec::new();
        for track in &mut self.tracks_out {
            if let TrackOutState::Negotiating(mid) = track.state {
                track.state = TrackOutState::Open(mid);
                if track.kind == MediaKind::Video {
                    opened.push(track.source);
                }
            }
        }
        self.tracks_out
            .retain(|t| !matches!(t.state, TrackOutState::NegotiatingStop(_)));
        Ok(opened)
    }

    pub fn add_remote_candidate(&mut self, candidate: &str) -> Result<(), SfuError> {
        let line = candidate.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        if line.is_empty() {
            // End-of-candidates: nothing to do for an ICE-lite server.
            return Ok(());
        }
        let candidate = Candidate::from_sdp_string(line).map_err(|_| SfuError::BadCandidate)?;
        self.rtc.add_remote_candidate(candidate);
        Ok(())
    }

    /// If tracks need adding or removing and no offer is outstanding, makes the server's offer.
    pub fn renegotiate(&mut self) -> Option<String> {
        if !self.negotiated || self.pending.is_some() {
            return None;
        }
        let changed = self
            .tracks_out
            .iter()
            .any(|t| matches!(t.state, TrackOutState::ToOpen | TrackOutState::ToStop(_)));
        if !changed {
            return None;
        }
        self.needs_poll = true;
        let mut change = self.rtc.sdp_api();
        for track in &mut self.tracks_out {
            match track.state {
                TrackOutState::ToOpen => {
                    let mid = change.add_media(
                        track.kind,
                        Direction::SendOnly,
                        Some(track.stream_id.clone()),
                        None,
                        None,
                    );
                    track.state = TrackOutState::Negotiating(mid);
                }
                TrackOutState::ToStop(mid) => {
                    change.stop_media(mid);
                    track.state = TrackOutState::NegotiatingStop(mid);
                }
                _ => {}
            }
        }
        if !change.has_changes() {
            return None;
        }
        let (offer, pending) = change.apply()?;
        self.pending = Some(pending);
        Some(offer.to_sdp_string())
    }

    pub fn subscribe(&mut self, source: Source, kind: MediaKind, stream_id: &str) {
        if self.tracks_out.iter().any(|t| t.source == source) {
            return;
        }
        self.tracks_out.push(TrackOut {
            source,
            kind,
            stream_id: stream_id.to_owned(),
            state: TrackOutState::ToOpen,
            sequence: SequenceRewriter::new(),
            payload_types: None,
        });
    }

    /// The publisher of `source` is gone: stop forwarding it.
    pub fn unsubscribe_from(&mut self, publisher: PeerKey) {
        self.tracks_out.retain_mut(|track| {
            if track.source.peer != publisher {
                return true;
            }
            match track.state {
                // Never offered: forget it.
                TrackOutState::ToOpen => false,
                TrackOutState::Negotiating(mid) | TrackOutState::Open(mid) => {
                    track.state = TrackOutState::ToStop(mid);
                    true
                }
                TrackOutState::ToStop(_) | TrackOutState::NegotiatingStop(_) => true,
            }
        });
    }

    /// Hands one of `source`'s packets to this subscriber, if it receives `source`.
    pub fn forward(&mut self, source: Source, packet: &Forwarded) -> Delivery {
        let Some((track, mid)) = self.tracks_out.iter_mut().find_map(|t| match t.state {
            TrackOutState::Open(mid) if t.source == source => Some((t, mid)),
            _ => None,
        }) else {
            return Delivery::NotSubscribed;
        };
        if !track.sequence.is_forwarding() {
            if track.kind == MediaKind::Video && !packet.starts_keyframe {
                return Delivery::WaitingForKeyframe;
            }
            track.sequence.start_at(packet.seq_no);
        }
        let Some(seq_no) = track.sequence.map(packet.seq_no) else {
            return Delivery::NotSubscribed;
        };
        let pt = match track.payload_types {
            Some((from, to)) if from == packet.codec.pt => to,
            _ => {
                // A subscriber that cannot take the codec gets nothing of this track.
                let Some(pt) = self
                    .rtc
                    .codec_config()
                    .match_params(packet.codec.params)
                    .map(|p| p.pt())
                else {
                    return Delivery::NotSubscribed;
                };
                track.payload_types = Some((packet.codec.pt, pt));
                pt
            }
        };
        let mut direct = self.rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(mid, None) else {
            return Delivery::NotSubscribed;
        };
        let write = RtpWrite::new(
            pt,
            seq_no.into(),
            packet.rtp_time,
            packet.received,
            packet.payload.clone(),
        )
        .marker(packet.marker)
        .ext_vals(packet.extensions.clone())
        .nackable(true);
        stream.write_rtp(write);
        self.needs_poll = true;
        Delivery::Sent
    }

    /// The publisher restarted its stream on `source`: every subscriber starts again at a
    /// keyframe of the new one.
    pub fn restart_forwarding(&mut self, source: Source) {
        for track in self.tracks_out.iter_mut().filter(|t| t.source == source) {
            track.sequence.pause();
        }
    }

    /// The source forwarded on one of our outgoing mids.
    pub fn source_of(&self, mid: Mid) -> Option<Source> {
        self.tracks_out.iter().find_map(|t| match t.state {
            TrackOutState::Open(m) | TrackOutState::Negotiating(m) if m == mid => Some(t.source),
            _ => None,
        })
    }

    pub fn add_track_in(&mut self, mid: Mid, kind: MediaKind) -> bool {
        if self.tracks_in.iter().any(|t| t.mid == mid) {
            return false;
        }
        self.tracks_in.push(TrackIn {
            mid,
            kind,
            number: u32::try_from(self.tracks_in.len()).unwrap_or(u32::MAX),
            ssrc: None,
            codec: None,
            last_keyframe_request: None,
        });
        true
    }

    /// The published track an incoming packet belongs to, and whether its SSRC is new for the
    /// track (the publisher restarted its stream). Looked up in str0m once per SSRC.
    pub fn track_in_for(&mut self, ssrc: Ssrc) -> Option<(usize, bool)> {
        if let Some(index) = self.tracks_in.iter().position(|t| t.ssrc == Some(ssrc)) {
            return Some((index, false));
        }
        let mid = self.rtc.direct_api().stream_rx(&ssrc)?.mid();
        let index = self.tracks_in.iter().position(|t| t.mid == mid)?;
        let restarted = self.tracks_in[index].ssrc.replace(ssrc).is_some();
        Some((index, restarted))
    }

    /// The codec behind payload type `pt` on published track `index`.
    pub fn incoming_codec(&mut self, index: usize, pt: Pt) -> Option<IncomingCodec> {
        if let Some(known) = self.tracks_in[index].codec.filter(|c| c.pt == pt) {
            return Some(known);
        }
        let params = *self.rtc.codec_config().find(|p| p.pt() == pt)?;
        let spec = params.spec();
        let codec = IncomingCodec {
            pt,
            params,
            codec: tap_codec(spec.codec),
            clock_rate: spec.clock_rate.get(),
        };
        self.tracks_in[index].codec = Some(codec);
        Some(codec)
    }

    /// Asks this publisher for a keyframe on `mid`, at most once per interval.
    pub fn request_keyframe(&mut self, mid: Mid, now: Instant) {
        let Some(track) = self.tracks_in.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        if track.kind != MediaKind::Video {
            return;
        }
        if track
            .last_keyframe_request
            .is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_REQUEST_INTERVAL)
        {
            return;
        }
        let mut direct = self.rtc.direct_api();
        let Some(stream) = direct.stream_rx_by_mid(mid, None) else {
            return;
        };
        stream.request_keyframe(KeyframeRequestKind::Pli);
        track.last_keyframe_request = Some(now);
        self.needs_poll = true;
    }

    /// Hands an event to this participant's signaling connection without waiting: a connection
    /// that does not keep up is treated as gone.
    pub fn notify(&self, event: PeerEvent) -> bool {
        self.events.try_send(event).is_ok()
    }
}
