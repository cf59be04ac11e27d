//! Taps: a copy of every packet a room forwards, for one more subscriber that is not a peer (the
//! recorder). The room hands packets over without waiting; what the tap does with them
//! (assembling frames, writing files) happens on its own task.
//!
//! Overload policy: a tap's queue is bounded. When it is full the packet is dropped (counted);
//! the consumer sees a gap in sequence numbers, waits for a keyframe, and may ask for one with
//! [`crate::RoomHandle::request_keyframe`].

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use str0m::format::Codec;
use str0m::media::{MediaKind, Mid};
use tokio::sync::mpsc;

use crate::ids::PeerKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapCodec {
    Opus,
    Vp8,
    H264,
    Other,
}

/// The publisher's clock pairing from its last RTCP sender report: lines its tracks up with
/// each other and with other publishers.
#[derive(Debug, Clone, Copy)]
pub struct SenderReport {
    pub ntp_time: SystemTime,
    /// In the track's clock rate.
    pub rtp_time: u64,
}

/// One RTP packet as the publisher sent it (after SRTP, retransmissions already unwrapped).
/// Packets come in arrival order, which is not always sequence order; [`FrameAssembler`]
/// turns them back into frames on the consumer's own task, never the room's.
///
/// [`FrameAssembler`]: crate::FrameAssembler
#[derive(Debug, Clone)]
pub struct TappedPacket {
    /// The publishing participant (as signaling named them).
    pub participant: Arc<str>,
    /// The publisher's track, numbered from 0 in the order they appeared.
    pub track: u32,
    pub kind: TapKind,
    pub codec: TapCodec,
    pub clock_rate: u32,
    /// The RTP sequence number, extended (monotonic across the 16-bit wrap).
    pub seq_no: u64,
    /// RTP time in `clock_rate` units, extended (monotonic across the 32-bit wrap).
    pub rtp_time: u64,
    /// RTP marker bit: the last packet of a video frame.
    pub marker: bool,
    /// When the packet arrived.
    pub received: Instant,
    pub sender_report: Option<SenderReport>,
    /// The RTP payload (no header), shared with the subscribers' copies.
    pub payload: Arc<[u8]>,
}

#[derive(Debug, Clone)]
pub enum TapEvent {
    Packet(TappedPacket),
    /// The publisher left the room (or its media failed): its tracks have ended.
    PublisherLeft {
        participant: Arc<str>,
    },
}

pub(crate) struct Tap {
    events: mpsc::Sender<TapEvent>,
    /// Video tracks this tap has started on, at a keyframe: a file cannot begin mid-picture.
    started: Vec<(PeerKey, Mid)>,
    pub dropped: u64,
}

impl Tap {
    pub fn new(events: mpsc::Sender<TapEvent>) -> Tap {
        Tap {
            events,
            started: Vec::new(),
            dropped: 0,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    /// Offers a packet without waiting; returns false while the tap waits for a keyframe on
    /// this video track. A packet the queue cannot take is dropped: the consumer sees the gap
    /// in sequence numbers, as it would see loss on the network.
    pub fn offer(
        &mut self,
        track: (PeerKey, Mid),
        packet: &TappedPacket,
        starts_keyframe: bool,
    ) -> bool {
        if packet.kind == TapKind::Video && !self.started.contains(&track) {
            if !starts_keyframe {
                return false;
            }
            self.started.push(track);
        }
        if self
            .events
            .try_send(TapEvent::Packet(packet.clone()))
            .is_err()
        {
            self.dropped += 1;
        }
        true
    }

    pub fn publisher_left(&mut self, from: PeerKey, participant: &Arc<str>) {
        self.started.retain(|(peer, _)| *peer != from);
        let event = TapEvent::PublisherLeft {
            participant: participant.clone(),
        };
        if self.events.try_send(event).is_err() {
            self.dropped += 1;
        }
    }
}

pub(crate) fn tap_codec(codec: Codec) -> TapCodec {
    match codec {
        Codec::Opus => TapCodec::Opus,
        Codec::Vp8 => TapCodec::Vp8,
        Codec::H264 => TapCodec::H264,
        _ => TapCodec::Other,
    }
}

pub(crate) fn tap_kind(kind: MediaKind) -> TapKind {
    match kind {
        MediaKind::Audio => TapKind::Audio,
        MediaKind::Video => TapKind::Video,
    }
}
