//! Forwarding one publisher packet to every subscriber and tap, and the other work a drain
//! produces that touches more than one peer (new tracks, keyframe requests).

use std::sync::Arc;
use std::time::Instant;

use str0m::media::MediaKind;
use str0m::rtp::{ExtensionValues, RtpPacket};

use super::caucus::Standing;
use super::Room;
use crate::forwarding::layer_switch::{PictureId, Vp8Ids};
use crate::ids::PeerKey;
use crate::incoming::{EarlierVoice, EarlierVoices, IncomingCodec, TrackIn};
use crate::outgoing::Source;
use crate::payload::{starts_keyframe, vp8_ids, vp8_keyframe_size};
use crate::peer::{Delivery, Forwarded};
use crate::tap::{tap_kind, SenderReport, TapCodec, TapOffer, TappedPacket};

/// Work produced while draining one peer that touches other peers.
// `RtpPacket` is large, but boxing it would allocate per packet; the queue is reused instead.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Forward {
    Rtp {
        from: PeerKey,
        /// Index of the publisher's track in its `tracks_in`.
        track: usize,
        /// The simulcast layer (0 for a single stream).
        layer: u8,
        /// The layer's SSRC changed with this packet.
        restarted: bool,
        codec: IncomingCodec,
        packet: RtpPacket,
    },
    TrackAdded {
        source: Source,
        kind: MediaKind,
    },
    /// Someone needs a keyframe of `source`: of one layer, or of every layer.
    KeyframeRequest {
        source: Source,
        layer: Option<u8>,
    },
}

impl Room {
    pub(super) fn forward(&mut self, forward: Forward, now: Instant) {
        match forward {
            Forward::Rtp {
                from,
                track,
                layer,
                restarted,
                codec,
                packet,
            } => self.forward_rtp(from, track, layer, restarted, codec, packet),
            Forward::TrackAdded { source, kind } => {
                let Some(publisher) = self.peers.iter().find(|p| p.key == source.peer) else {
                    return;
                };
                let stream_id = publisher
                    .tracks_in
                    .iter()
                    .find(|t| t.mid == source.mid)
                    .and_then(|t| t.shared_screen.as_deref())
                    .unwrap_or(&publisher.participant.0)
                    .to_owned();
                for peer in &mut self.peers {
                    if peer.key != source.peer {
                        peer.subscribe(source, kind, &stream_id);
                    }
                }
                self.next_policy = now;
            }
            Forward::KeyframeRequest { source, layer } => {
                if let Some(publisher) = self.peers.iter_mut().find(|p| p.key == source.peer) {
                    publisher.request_keyframe(source.mid, layer, now);
                }
            }
        }
    }

    fn forward_rtp(
        &mut self,
        from: PeerKey,
        track_index: usize,
        layer: u8,
        restarted: bool,
        codec: IncomingCodec,
        packet: RtpPacket,
    ) {
        let received = packet.timestamp;
        let Some(publisher) = self.peers.iter_mut().find(|p| p.key == from) else {
            return;
        };
        let Some(track) = publisher.tracks_in.get_mut(track_index) else {
            return;
        };
        let video = track.kind == MediaKind::Video;
        let keyframe = video && starts_keyframe(codec.codec, &packet.payload);
        if let Some(incoming) = track.layers.get_mut(usize::from(layer)) {
            incoming.meter.add(packet.payload.len(), received);
            incoming.last_packet = Some(received);
            if keyframe && codec.codec == TapCodec::Vp8 {
                if let Some((width, height)) = vp8_keyframe_size(&packet.payload) {
                    incoming.width = Some(width);
                    incoming.height = Some(height);
                }
            }
        }
        let source = Source {
            peer: from,
            mid: track.mid,
        };
        let kind = track.kind;
        let top_layer = track.top_flowing(received);
        let voice = kind == MediaKind::Audio;
        let seq_no = *packet.seq_no;
        // Frames the publisher's uplink lost come back out of the RED of the next packet: every
        // subscriber (and the recording) gets them, as if they had arrived.
        let rebuilt = if voice && codec.red {
            track.voice_history.lost_frames(seq_no, &packet.payload)
        } else {
            Vec::new()
        };
        let mut rebuilt_voices = Vec::with_capacity(rebuilt.len());
        for frame in rebuilt {
            let rtp_time = packet.header.timestamp.wrapping_sub(frame.offset);
            let earlier_voices = track.voice_history.push(
                frame.seq_no,
                EarlierVoice {
                    rtp_time,
                    payload: frame.payload.clone(),
                    red: true,
                },
            );
            let made = MadeVoice {
                seq_no: frame.seq_no,
                rtp_time,
                media_time: packet.time.numer().wrapping_sub(u64::from(frame.offset)),
                at: received,
                payload: frame.payload,
                earlier_voices,
            };
            let tapped = (!self.taps.is_empty())
                .then(|| made.tapped(tap_label(&publisher.label, track), track.number, codec));
            let forwarded = made.forwarded(codec);
            rebuilt_voices.push((forwarded, tapped));
        }
        let earlier_voices = if voice {
            let earlier = track.voice_history.push(
                seq_no,
                EarlierVoice {
                    rtp_time: packet.header.timestamp,
                    payload: packet.payload.clone(),
                    red: codec.red,
                },
            );
            track.voice_history.arrived(received);
            earlier
        } else {
            Default::default()
        };
        if voice {
            if let Some(level) = packet.header.ext_vals.audio_level {
                self.speakers.observe(from, level);
            }
        }
        let tap = (!self.taps.is_empty()).then(|| TappedPacket {
            participant: tap_label(&publisher.label, track),
            track: track.number,
            kind: tap_kind(kind),
            codec: codec.codec,
            clock_rate: codec.clock_rate,
            seq_no,
            rtp_time: packet.time.numer(),
            marker: packet.header.marker,
            received,
            sender_report: packet.last_sender_info.map(|info| SenderReport {
                ntp_time: info.ntp_time,
                rtp_time: info.rtp_time.numer(),
            }),
            payload: packet.payload.clone(),
        });
        let forwarded = Forwarded {
            layer,
            seq_no,
            rtp_time: packet.header.timestamp,
            received,
            marker: packet.header.marker,
            extensions: passed_on(&packet.header.ext_vals),
            starts_keyframe: keyframe,
            vp8: (video && codec.codec == TapCodec::Vp8)
                .then(|| vp8_ids(&packet.payload))
                .flatten()
                .map(|ids| Vp8Ids {
                    picture_id: ids
                        .picture_id
                        .map(|(value, wide)| PictureId { value, wide }),
                    tl0_pic_idx: ids.tl0_pic_idx,
                }),
            payload: packet.payload,
            codec,
            unwrapped: std::cell::OnceCell::new(),
            earlier_voices,
            deep_red: Default::default(),
        };
        if restarted {
            for peer in &mut self.peers {
                if peer.key != from {
                    peer.restart_forwarding(source, layer);
                }
            }
        }
        let mut waiting_layers = 0u8;
        for (rebuilt, tapped) in rebuilt_voices {
            waiting_layers |= self.hand_out(source, &rebuilt, tapped, None);
        }
        self.counters.packets_in += 1;
        waiting_layers |= self.hand_out(source, &forwarded, tap, video.then_some(top_layer));
        // Ask again while anyone waits: the first request (or its keyframe) may be lost.
        if waiting_layers != 0 {
            if let Some(publisher) = self.peers.iter_mut().find(|p| p.key == from) {
                publisher.request_keyframe(source.mid, Some(layer), received);
            }
        }
    }

    /// Sends the comfort noise of every voice that stopped speaking without it (lost on its
    /// uplink), so subscribers fall quiet instead of concealing for 400 ms.
    pub(super) fn end_quiet_voices(&mut self, now: Instant) {
        for index in 0..self.peers.len() {
            for track_index in 0..self.peers[index].tracks_in.len() {
                let publisher = &mut self.peers[index];
                let track = &mut publisher.tracks_in[track_index];
                if track.voice_history.quiet_due.is_none_or(|due| due > now) {
                    continue;
                }
                let (Some(codec), Some((seq_no, frame, earlier_voices))) =
                    (track.codec, track.voice_history.comfort_noise())
                else {
                    continue;
                };
                let source = Source {
                    peer: publisher.key,
                    mid: track.mid,
                };
                let made = MadeVoice {
                    seq_no,
                    rtp_time: frame.rtp_time,
                    // The 32-bit time is the extended one for the first 24 hours of a stream.
                    media_time: u64::from(frame.rtp_time),
                    at: now,
                    payload: frame.payload,
                    earlier_voices,
                };
                let tap = (!self.taps.is_empty())
                    .then(|| made.tapped(tap_label(&publisher.label, track), track.number, codec));
                let forwarded = made.forwarded(codec);
                self.hand_out(source, &forwarded, tap, None);
            }
        }
    }

    /// Hands one packet of `source` to every subscriber and tap; returns the layers someone
    /// waits to start or switch to at a keyframe (a bit per layer). `video` is the top layer
    /// flowing, for a video packet.
    fn hand_out(
        &mut self,
        source: Source,
        forwarded: &Forwarded,
        tap: Option<TappedPacket>,
        video: Option<Option<u8>>,
    ) -> u8 {
        let layer = forwarded.layer;
        let mut waiting_layers = 0u8;
        let mut handed_out = 0u64;
        let publisher = self
            .peers
            .iter()
            .find(|p| p.key == source.peer)
            .map(Standing::of);
        let recordable = self.recordable(publisher.is_some_and(|p| p.in_caucus()));
        for index in 0..self.peers.len() {
            let peer = &self.peers[index];
            if peer.key == source.peer || !peer.connected {
                continue;
            }
            // A caucus or a private adviser parts them: nothing crosses (each pair was held
            // back when it parted).
            if publisher.is_some_and(|p| self.parted(p, Standing::of(peer))) {
                continue;
            }
            let peer = &mut self.peers[index];
            match peer.forward(source, forwarded) {
                Delivery::Sent => handed_out += 1,
                Delivery::WaitingForKeyframe => waiting_layers |= 1 << layer,
                Delivery::Skipped | Delivery::NotSubscribed => {}
            }
        }
        if handed_out > 0 {
            self.counters.packets_out += handed_out;
            let since = self
                .batch_started
                .map_or(forwarded.received, |batch| batch.max(forwarded.received));
            self.held_since.push(since);
        }
        let Some(mut packet) = tap else {
            return waiting_layers;
        };
        if !recordable {
            return waiting_layers;
        }
        if forwarded.codec.red {
            // Recordings hold plain Opus.
            match forwarded.red_primary() {
                Some(primary) => packet.payload = primary,
                None => return waiting_layers,
            }
        }
        let layer_packet = forwarded.layer_packet();
        for tap in &mut self.taps {
            let offered = tap.offer(
                (source.peer, source.mid),
                &packet,
                video.map(|top_layer| (&layer_packet, top_layer)),
            );
            if offered == TapOffer::WaitingForKeyframe {
                waiting_layers |= 1 << layer;
            }
        }
        self.taps.retain(|tap| !tap.is_closed());
        waiting_layers
    }
}

/// Whom a tap files a packet under: the publisher, or its shared screen apart from its camera.
fn tap_label(publisher: &Arc<str>, track: &TrackIn) -> Arc<str> {
    track
        .shared_screen
        .clone()
        .unwrap_or_else(|| publisher.clone())
}

/// A voice frame the SFU sends that did not arrive as such: rebuilt from the RED of the next
/// packet, or the comfort noise of a voice whose own was lost.
struct MadeVoice {
    seq_no: u64,
    rtp_time: u32,
    /// The RTP time extended past its 32 bits, as taps count it.
    media_time: u64,
    at: Instant,
    payload: Arc<[u8]>,
    earlier_voices: EarlierVoices,
}

impl MadeVoice {
    fn tapped(&self, participant: Arc<str>, track: u32, codec: IncomingCodec) -> TappedPacket {
        TappedPacket {
            participant,
            track,
            kind: tap_kind(MediaKind::Audio),
            codec: codec.codec,
            clock_rate: codec.clock_rate,
            seq_no: self.seq_no,
            rtp_time: self.media_time,
            marker: false,
            received: self.at,
            sender_report: None,
            payload: self.payload.clone(),
        }
    }

    fn forwarded(self, codec: IncomingCodec) -> Forwarded {
        Forwarded {
            layer: 0,
            seq_no: self.seq_no,
            rtp_time: self.rtp_time,
            received: self.at,
            marker: false,
            extensions: ExtensionValues::default(),
            starts_keyframe: false,
            vp8: None,
            payload: self.payload,
            codec,
            unwrapped: std::cell::OnceCell::new(),
            earlier_voices: self.earlier_voices,
            deep_red: Default::default(),
        }
    }
}

/// The header extensions a subscriber can use as the publisher sent them. The rest (transport
/// sequence numbers, send times, MID, RID) describe the hop, and str0m writes its own.
fn passed_on(extensions: &ExtensionValues) -> ExtensionValues {
    ExtensionValues {
        audio_level: extensions.audio_level,
        voice_activity: extensions.voice_activity,
        video_orientation: extensions.video_orientation,
        abs_capture_time: extensions.abs_capture_time,
        ..ExtensionValues::default()
    }
}
