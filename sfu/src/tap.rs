//! Taps: a copy of every frame a room forwards, for one more subscriber that is not a peer (the
//! recorder). The room hands frames over without waiting; what the tap does with them (writing
//! files) happens on its own task.
//!
//! Overload policy: a tap's queue is bounded. When it is full the frame is dropped (counted),
//! and the next frame of that track is marked not contiguous, so the consumer knows to wait for
//! a keyframe (and may ask for one with [`crate::RoomHandle::request_keyframe`]).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use str0m::format::Codec;
use str0m::media::{MediaData, MediaKind, Mid};
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

/// One assembled frame as the publisher sent it.
#[derive(Debug, Clone)]
pub struct TappedFrame {
    /// The publishing participant (as signaling named them).
    pub participant: Arc<str>,
    /// The publisher's track, numbered from 0 in the order they appeared.
    pub track: u32,
    pub kind: TapKind,
    pub codec: TapCodec,
    pub clock_rate: u32,
    /// RTP time in `clock_rate` units, unwrapped (monotonic across the 32-bit wrap).
    pub rtp_time: u64,
    /// When the frame's last packet arrived.
    pub received: Instant,
    pub keyframe: bool,
    /// False when frames are missing before this one (loss the NACKs could not repair, or the
    /// tap's own queue overflowing): decoding must resume at a keyframe.
    pub contiguous: bool,
    pub sender_report: Option<SenderReport>,
    pub data: Arc<[u8]>,
}

#[derive(Debug, Clone)]
pub enum TapEvent {
    Frame(TappedFrame),
    /// The publisher left the room (or its media failed): its tracks have ended.
    PublisherLeft {
        participant: Arc<str>,
    },
}

pub(crate) struct Tap {
    events: mpsc::Sender<TapEvent>,
    /// Tracks whose last frame this tap dropped: their next frame is not contiguous.
    broken: Vec<(PeerKey, Mid)>,
    pub dropped: u64,
}

impl Tap {
    pub fn new(events: mpsc::Sender<TapEvent>) -> Tap {
        Tap {
            events,
            broken: Vec::new(),
            dropped: 0,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    /// Offers a frame without waiting.
    pub fn offer(&mut self, from: PeerKey, publisher: &Publisher, data: &MediaData) {
        let mut contiguous = data.contiguous;
        if let Some(at) = self.broken.iter().position(|b| *b == (from, data.mid)) {
            contiguous = false;
            self.broken.swap_remove(at);
        }
        let frame = tapped(publisher, data, contiguous);
        if self.events.try_send(TapEvent::Frame(frame)).is_err() {
            self.dropped += 1;
            if !self.broken.contains(&(from, data.mid)) {
                self.broken.push((from, data.mid));
            }
        }
    }

    pub fn publisher_left(&mut self, from: PeerKey, participant: &Arc<str>) {
        self.broken.retain(|(peer, _)| *peer != from);
        let event = TapEvent::PublisherLeft {
            participant: participant.clone(),
        };
        if self.events.try_send(event).is_err() {
            self.dropped += 1;
        }
    }
}

/// Who published a frame, as the tap names them.
pub(crate) struct Publisher<'a> {
    pub participant: &'a Arc<str>,
    pub track: u32,
    pub kind: MediaKind,
}

fn tapped(publisher: &Publisher, data: &MediaData, contiguous: bool) -> TappedFrame {
    let spec = data.params.spec();
    let clock = spec.clock_rate;
    TappedFrame {
        participant: publisher.participant.clone(),
        track: publisher.track,
        kind: match publisher.kind {
            MediaKind::Audio => TapKind::Audio,
            MediaKind::Video => TapKind::Video,
        },
        codec: match spec.codec {
            Codec::Opus => TapCodec::Opus,
            Codec::Vp8 => TapCodec::Vp8,
            Codec::H264 => TapCodec::H264,
            _ => TapCodec::Other,
        },
        clock_rate: clock.get(),
        rtp_time: data.time.rebase(clock).numer(),
        received: data.network_time,
        keyframe: data.is_keyframe(),
        contiguous,
        sender_report: data.last_sender_info.map(|info| SenderReport {
            ntp_time: info.ntp_time,
            rtp_time: info.rtp_time.rebase(clock).numer(),
        }),
        data: data.data.clone(),
    }
}
