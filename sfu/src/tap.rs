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

use crate::forwarding::layer_switch::{LayerPacket, LayerSwitch, Verdict};
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
    /// Video tracks this tap receives, each as one stream: the top layer the publisher sends,
    /// started at a keyframe (a file cannot begin mid-picture) and continued across layer
    /// switches like a subscriber's.
    videos: Vec<TappedVideo>,
    pub dropped: u64,
}

struct TappedVideo {
    track: (PeerKey, Mid),
    switch: LayerSwitch,
    /// The last RTP time handed out, extended: rewritten times are only 32 bits.
    last_rtp_time: Option<u64>,
}

/// What became of a packet offered to a tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TapOffer {
    Taken,
    /// The tap waits for a keyframe of this packet's layer.
    WaitingForKeyframe,
    /// Another layer of the video is being recorded.
    Skipped,
}

impl Tap {
    pub fn new(events: mpsc::Sender<TapEvent>) -> Tap {
        Tap {
            events,
            videos: Vec::new(),
            dropped: 0,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    /// Offers a packet without waiting. Video comes with its layer and the top layer the
    /// publisher sends now, which is the one recorded. A packet the queue cannot take is
    /// dropped: the consumer sees the gap in sequence numbers, as it would see loss on the
    /// network.
    pub fn offer(
        &mut self,
        track: (PeerKey, Mid),
        packet: &TappedPacket,
        video: Option<(&LayerPacket, Option<u8>)>,
    ) -> TapOffer {
        let Some((layer_packet, top)) = video else {
            self.send(packet.clone());
            return TapOffer::Taken;
        };
        let index = match self.videos.iter().position(|v| v.track == track) {
            Some(index) => index,
            None => {
                self.videos.push(TappedVideo {
                    track,
                    switch: LayerSwitch::new(top),
                    last_rtp_time: None,
                });
                self.videos.len() - 1
            }
        };
        let video = &mut self.videos[index];
        if top.is_some() {
            video.switch.set_target(top);
        }
        let out = match video.switch.decide(layer_packet) {
            Verdict::Forward(out) => out,
            Verdict::WaitingForKeyframe => return TapOffer::WaitingForKeyframe,
            Verdict::Skip => return TapOffer::Skipped,
        };
        let shift = out.rtp_time.wrapping_sub(layer_packet.rtp_time);
        let last = video.last_rtp_time.unwrap_or(packet.rtp_time);
        let rtp_time = extend(last, out.rtp_time);
        video.last_rtp_time = Some(rtp_time);
        let sender_report = packet.sender_report.map(|report| SenderReport {
            ntp_time: report.ntp_time,
            rtp_time: extend(rtp_time, (report.rtp_time as u32).wrapping_add(shift)),
        });
        self.send(TappedPacket {
            seq_no: out.seq_no,
            rtp_time,
            sender_report,
            ..packet.clone()
        });
        TapOffer::Taken
    }

    fn send(&mut self, packet: TappedPacket) {
        if self.events.try_send(TapEvent::Packet(packet)).is_err() {
            self.dropped += 1;
        }
    }

    /// Nothing of `from` is taken for a while (a caucus not recorded): its video starts again
    /// at a keyframe, as a file cannot go on from the middle of a picture.
    pub fn hold_back(&mut self, from: PeerKey) {
        for video in self.videos.iter_mut().filter(|v| v.track.0 == from) {
            video.switch.stop();
        }
    }

    pub fn publisher_left(&mut self, from: PeerKey, participant: &Arc<str>) {
        self.videos.retain(|v| v.track.0 != from);
        let event = TapEvent::PublisherLeft {
            participant: participant.clone(),
        };
        if self.events.try_send(event).is_err() {
            self.dropped += 1;
        }
    }
}

/// `value`, a 32-bit RTP time, extended to 64 bits as the one nearest `near`.
fn extend(near: u64, value: u32) -> u64 {
    let delta = value.wrapping_sub(near as u32) as i32;
    near.wrapping_add_signed(i64::from(delta))
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

#[cfg(test)]
mod tests {
    use super::extend;

    #[test]
    fn rtp_times_extend_across_the_wrap_both_ways() {
        assert_eq!(extend(100, 190), 190);
        assert_eq!(extend(u64::from(u32::MAX) - 10, 5), u64::from(u32::MAX) + 6);
        assert_eq!(
            extend(u64::from(u32::MAX) + 6, u32::MAX - 10),
            u64::from(u32::MAX) - 10
        );
    }
}
