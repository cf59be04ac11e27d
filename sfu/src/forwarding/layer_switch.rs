//! One subscriber's copy of one published video: which simulcast layer it gets, and the
//! rewriting that makes a switch between layers invisible to its decoder.
//!
//! Each layer is a stream of its own (own SSRC, sequence numbers, RTP timestamps and VP8 picture
//! ids). The subscriber sees one stream: a switch happens only at a keyframe of the new layer,
//! and from there its numbers are shifted to continue where the old layer's ended. A decoder
//! that saw picture ids jump backwards would drop frames as old; a jitter buffer that saw
//! timestamps jump would stall. Pausing (the link cannot carry even the lowest layer) finishes the
//! frame in flight, and resuming starts at a keyframe, continuing the numbers the same way.

use std::time::Instant;

use crate::sequence::SequenceRewriter;

/// Video RTP clock rate (RFC 7741, RFC 6184).
const VIDEO_CLOCK_RATE: u64 = 90_000;

/// VP8 picture id and TL0PICIDX as a packet carries them (RFC 7741 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp8Ids {
    pub picture_id: Option<PictureId>,
    pub tl0_pic_idx: Option<u8>,
}

/// A VP8 picture id with the width it is written in: 7 or 15 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PictureId {
    pub value: u16,
    pub wide: bool,
}

impl PictureId {
    fn modulus(self) -> u32 {
        if self.wide {
            1 << 15
        } else {
            1 << 7
        }
    }

    fn shifted(self, shift: u16) -> u16 {
        ((u32::from(self.value) + u32::from(shift)) % self.modulus()) as u16
    }
}

/// What the switch needs to know of one incoming packet of the source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerPacket {
    /// Index of the packet's layer among the source's layers, 0 the lowest.
    pub layer: u8,
    /// Extended sequence number in its layer's stream.
    pub seq_no: u64,
    pub rtp_time: u32,
    pub arrival: Instant,
    /// The first packet of a keyframe: where a decoder can start.
    pub starts_keyframe: bool,
    pub vp8: Option<Vp8Ids>,
}

/// The numbers a forwarded packet goes out with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewritten {
    pub seq_no: u64,
    pub rtp_time: u32,
    /// VP8 fields to patch into the payload descriptor; `None` when they go out unchanged.
    pub vp8: Option<Vp8Rewrite>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp8Rewrite {
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Forward(Rewritten),
    /// A packet of the wanted layer, but forwarding cannot start before a keyframe of it: the
    /// caller asks the publisher for one (throttled).
    WaitingForKeyframe,
    /// Not the layer this subscriber gets (or paused, or from before the start).
    Skip,
}

/// The last packet sent out: where the next layer's numbers must continue from.
#[derive(Debug, Clone, Copy)]
struct LastOut {
    rtp_time: u32,
    arrival: Instant,
    picture_id: Option<PictureId>,
    tl0_pic_idx: Option<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct LayerSwitch {
    /// The layer being forwarded; `None` before the first keyframe and while paused.
    current: Option<u8>,
    /// The layer wanted; `None` pauses.
    target: Option<u8>,
    sequence: SequenceRewriter,
    /// Outgoing = incoming + shift (wrapping), for the current layer.
    rtp_time_shift: u32,
    picture_id_shift: u16,
    tl0_shift: u8,
    /// RTP time of the current layer's latest packet: a new value is a new frame.
    frame_rtp_time: Option<u32>,
    /// Stop the current layer at the end of its frame instead of waiting for the target's
    /// keyframe: the link is congested, and what it carries now is what keeps it so.
    leave_now: bool,
    last_out: Option<LastOut>,
    /// Completed switches (a start and a resume count too), for the quality summary.
    switches: u32,
}

impl LayerSwitch {
    /// A switch that wants `target` from the start.
    pub fn new(target: Option<u8>) -> LayerSwitch {
        LayerSwitch {
            current: None,
            target,
            sequence: SequenceRewriter::new(),
            rtp_time_shift: 0,
            picture_id_shift: 0,
            tl0_shift: 0,
            frame_rtp_time: None,
            leave_now: false,
            last_out: None,
            switches: 0,
        }
    }

    pub fn current(&self) -> Option<u8> {
        self.current
    }

    pub fn target(&self) -> Option<u8> {
        self.target
    }

    /// Layer changes completed so far.
    pub fn switches(&self) -> u32 {
        self.switches
    }

    /// Wants `target` from now on (`None`: pause). Takes effect at the next keyframe of the
    /// target layer, or for a pause at the end of the frame in flight.
    pub fn set_target(&mut self, target: Option<u8>) {
        if target != self.target {
            self.leave_now = false;
        }
        self.target = target;
    }

    /// Wants a lower `target` and stops the current layer at once (at the end of its frame),
    /// not when the target's keyframe arrives: on a congested link the higher layer would crowd
    /// out that very keyframe, and the voices.
    pub fn drop_to(&mut self, target: Option<u8>) {
        self.set_target(target);
        self.leave_now = target < self.current;
    }

    /// Stops at once, mid-frame if need be: nothing more is forwarded until a keyframe of the
    /// target layer starts it again (numbers and times carry on from the last packet sent).
    pub fn stop(&mut self) {
        self.current = None;
        self.frame_rtp_time = None;
    }

    /// The layer's stream restarted (a new SSRC, numbers from elsewhere): if it is the one being
    /// forwarded, start it again at its next keyframe.
    pub fn restart(&mut self, layer: u8) {
        if self.current == Some(layer) {
            self.current = None;
            self.frame_rtp_time = None;
        }
    }

    pub fn decide(&mut self, packet: &LayerPacket) -> Verdict {
        if self.current == Some(packet.layer) {
            let leaving = self.target.is_none() || self.leave_now;
            if leaving && self.frame_rtp_time != Some(packet.rtp_time) {
                // Pausing (or leaving in a hurry): the frame in flight is finished, the next
                // one is not sent.
                self.current = None;
                self.frame_rtp_time = None;
                self.leave_now = false;
                return Verdict::Skip;
            }
            return self.forward(packet);
        }
        if self.target != Some(packet.layer) {
            return Verdict::Skip;
        }
        if !packet.starts_keyframe {
            return Verdict::WaitingForKeyframe;
        }
        self.switch_to(packet);
        self.forward(packet)
    }

    /// Makes `packet`'s layer current, continuing the outgoing numbers from the last packet
    /// sent.
    fn switch_to(&mut self, packet: &LayerPacket) {
        self.current = Some(packet.layer);
        self.switches += 1;
        self.sequence.start_at(packet.seq_no);
        let Some(last) = self.last_out else {
            // The first layer ever goes out with its own numbers.
            return;
        };
        let elapsed = packet.arrival.saturating_duration_since(last.arrival);
        let ticks = (elapsed.as_micros() as u64 * VIDEO_CLOCK_RATE / 1_000_000).max(1);
        let next_rtp_time = last.rtp_time.wrapping_add(ticks as u32);
        self.rtp_time_shift = next_rtp_time.wrapping_sub(packet.rtp_time);
        let ids = packet.vp8.unwrap_or(Vp8Ids {
            picture_id: None,
            tl0_pic_idx: None,
        });
        self.picture_id_shift = match (last.picture_id, ids.picture_id) {
            (Some(last_id), Some(id)) => {
                let modulus = id.modulus();
                let next = (u32::from(last_id.value) + 1) % modulus;
                ((next + modulus - u32::from(id.value) % modulus) % modulus) as u16
            }
            _ => 0,
        };
        self.tl0_shift = match (last.tl0_pic_idx, ids.tl0_pic_idx) {
            (Some(last_tl0), Some(tl0)) => last_tl0.wrapping_add(1).wrapping_sub(tl0),
            _ => 0,
        };
    }

    fn forward(&mut self, packet: &LayerPacket) -> Verdict {
        let Some(seq_no) = self.sequence.map(packet.seq_no) else {
            // From before the switch: the part of this layer the subscriber never got.
            return Verdict::Skip;
        };
        self.frame_rtp_time = Some(packet.rtp_time);
        let rtp_time = packet.rtp_time.wrapping_add(self.rtp_time_shift);
        let picture_id = packet
            .vp8
            .and_then(|ids| ids.picture_id)
            .map(|id| PictureId {
                value: id.shifted(self.picture_id_shift),
                wide: id.wide,
            });
        let tl0_pic_idx = packet
            .vp8
            .and_then(|ids| ids.tl0_pic_idx)
            .map(|tl0| tl0.wrapping_add(self.tl0_shift));
        let newer = self
            .last_out
            .is_none_or(|last| rtp_time.wrapping_sub(last.rtp_time) < 1 << 31);
        if newer {
            self.last_out = Some(LastOut {
                rtp_time,
                arrival: packet.arrival,
                picture_id,
                tl0_pic_idx,
            });
        }
        let vp8 = (self.picture_id_shift != 0 || self.tl0_shift != 0).then_some(Vp8Rewrite {
            picture_id: picture_id.map(|id| id.value),
            tl0_pic_idx,
        });
        Verdict::Forward(Rewritten {
            seq_no,
            rtp_time,
            vp8,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Three layers of one camera, as a browser sends them: each with its own numbering.
    struct Source {
        start: Instant,
        frame: u32,
        /// Per layer: next sequence number, RTP time base, picture id base, TL0PICIDX base.
        layers: [(u64, u32, u16, u8); 3],
    }

    impl Source {
        fn new() -> Source {
            Source {
                start: Instant::now(),
                frame: 0,
                layers: [
                    (1_000, 7_000, 100, 10),
                    (50_000, 3_000_000_000, 30_000, 200),
                    (9, 4_294_960_000, 32_760, 250),
                ],
            }
        }

        /// The packets of the next frame (30 fps) on `layer`: `count` packets.
        fn frame(&mut self, layer: u8, keyframe: bool, count: u64) -> Vec<LayerPacket> {
            let (seq, time, picture_id, tl0) = &mut self.layers[usize::from(layer)];
            let rtp_time = time.wrapping_add(self.frame * 3_000);
            let packets = (0..count)
                .map(|i| LayerPacket {
                    layer,
                    seq_no: *seq + i,
                    rtp_time,
                    arrival: self.start + Duration::from_millis(u64::from(self.frame) * 33),
                    starts_keyframe: keyframe && i == 0,
                    vp8: Some(Vp8Ids {
                        picture_id: Some(PictureId {
                            value: ((u32::from(*picture_id) + self.frame) % 32_768) as u16,
                            wide: true,
                        }),
                        tl0_pic_idx: Some(tl0.wrapping_add(self.frame as u8)),
                    }),
                })
                .collect();
            *seq += count;
            packets
        }

        /// The next frame on every layer; returns them all, lowest layer first.
        fn all_layers(&mut self, keyframe_on: Option<u8>) -> Vec<LayerPacket> {
            let mut packets = Vec::new();
            for layer in 0..3 {
                packets.extend(self.frame(layer, keyframe_on == Some(layer), 2));
            }
            self.frame += 1;
            packets
        }
    }

    fn sent(switch: &mut LayerSwitch, packets: &[LayerPacket]) -> Vec<(LayerPacket, Rewritten)> {
        packets
            .iter()
            .filter_map(|p| match switch.decide(p) {
                Verdict::Forward(out) => Some((*p, out)),
                _ => None,
            })
            .collect()
    }

    fn picture_id(out: &Rewritten, packet: &LayerPacket) -> u16 {
        out.vp8
            .and_then(|v| v.picture_id)
            .or_else(|| packet.vp8.and_then(|v| v.picture_id).map(|p| p.value))
            .expect("a picture id")
    }

    #[test]
    fn the_first_layer_starts_at_its_keyframe_with_its_own_numbers() {
        let mut source = Source::new();
        let mut switch = LayerSwitch::new(Some(1));
        let before = source.all_layers(None);
        let verdicts: Vec<_> = before.iter().map(|p| switch.decide(p)).collect();
        assert!(verdicts.contains(&Verdict::WaitingForKeyframe));
        assert!(!verdicts.iter().any(|v| matches!(v, Verdict::Forward(_))));

        let packets = source.all_layers(Some(1));
        let out = sent(&mut switch, &packets);
        assert_eq!(out.len(), 2, "only layer 1's packets");
        assert!(out.iter().all(|(p, _)| p.layer == 1));
        let (first, rewritten) = out[0];
        assert_eq!(rewritten.rtp_time, first.rtp_time);
        assert_eq!(rewritten.vp8, None, "nothing to patch before any switch");
        assert!(
            rewritten.seq_no < 1 << 15,
            "a new stream starts with a low ROC"
        );
        assert_eq!(out[1].1.seq_no, rewritten.seq_no + 1);
        assert_eq!(switch.current(), Some(1));
    }

    #[test]
    fn a_switch_waits_for_the_keyframe_and_continues_every_number() {
        let mut source = Source::new();
        let mut switch = LayerSwitch::new(Some(0));
        let mut out = sent(&mut switch, &source.all_layers(Some(0)));
        for _ in 0..5 {
            out.extend(sent(&mut switch, &source.all_layers(None)));
        }
        switch.set_target(Some(2));
        // Until layer 2 has a keyframe, layer 0 goes on.
        let waiting = source.all_layers(None);
        let verdicts: Vec<_> = waiting.iter().map(|p| switch.decide(p)).collect();
        assert!(verdicts.contains(&Verdict::WaitingForKeyframe));
        let still_low: Vec<_> = waiting
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| matches!(v, Verdict::Forward(_)))
            .map(|(p, _)| p.layer)
            .collect();
        assert_eq!(still_low, vec![0, 0]);
        let (last_packet, last_out) = *out.last().expect("sent");
        let last_picture_id = picture_id(&last_out, &last_packet);
        let _ = last_packet;
        let before_switch = {
            let mut all = out.clone();
            all.extend(waiting.iter().zip(verdicts).filter_map(|(p, v)| match v {
                Verdict::Forward(o) => Some((*p, o)),
                _ => None,
            }));
            *all.last().expect("sent")
        };

        // The keyframe's frame: layer 0's packets of it arrive first and still go out.
        let after = sent(&mut switch, &source.all_layers(Some(2)));
        assert_eq!(switch.current(), Some(2));
        let layers: Vec<u8> = after.iter().map(|(p, _)| p.layer).collect();
        assert_eq!(layers, vec![0, 0, 2, 2]);
        assert_eq!(after[0].1.seq_no, before_switch.1.seq_no + 1);
        let before_switch = after[1];
        let after = sent(&mut switch, &source.all_layers(None));
        assert!(after.iter().all(|(p, _)| p.layer == 2));
        let (first_packet, first) = after[0];
        let (prev_packet, prev) = before_switch;
        assert_eq!(first.seq_no, prev.seq_no + 3, "no gap in sequence numbers");
        // One frame later on layer 2: 3,000 ticks after its keyframe, which followed layer 0's
        // last frame by at least a tick.
        assert_eq!(
            first.rtp_time.wrapping_sub(prev.rtp_time),
            3_000 + 1,
            "timestamps go on from layer 0's"
        );
        assert_eq!(
            picture_id(&first, &first_packet),
            (picture_id(&prev, &prev_packet) + 2) % 32_768,
            "picture ids continue"
        );
        assert_eq!(last_picture_id + 2, picture_id(&prev, &prev_packet));
        let tl0 = |o: &Rewritten, p: &LayerPacket| {
            o.vp8
                .and_then(|v| v.tl0_pic_idx)
                .or(p.vp8.and_then(|v| v.tl0_pic_idx))
                .expect("tl0")
        };
        assert_eq!(
            tl0(&first, &first_packet),
            tl0(&prev, &prev_packet).wrapping_add(2)
        );
        assert_eq!(switch.switches(), 2);
    }

    #[test]
    fn loss_after_a_switch_stays_visible_and_late_packets_of_before_are_skipped() {
        let mut source = Source::new();
        let mut switch = LayerSwitch::new(Some(1));
        let start = source.all_layers(Some(1));
        let first = sent(&mut switch, &start);
        let mut next = source.all_layers(None);
        // Packet 0 of layer 1 in this frame is lost.
        next.retain(|p| !(p.layer == 1 && p.seq_no == start[3].seq_no + 1));
        let out = sent(&mut switch, &next);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.seq_no, first[1].1.seq_no + 2, "the gap is kept");
        // A packet from before the keyframe arriving late is not forwarded.
        let mut late = start[2];
        late.seq_no -= 1;
        assert_eq!(switch.decide(&late), Verdict::Skip);
    }

    #[test]
    fn a_pause_finishes_the_frame_and_a_resume_continues_at_a_keyframe() {
        let mut source = Source::new();
        let mut switch = LayerSwitch::new(Some(0));
        let mut out = sent(&mut switch, &source.all_layers(Some(0)));
        let frame = source.frame(0, false, 3);
        out.extend(sent(&mut switch, &frame[..1]));
        switch.set_target(None);
        // The rest of the frame in flight still goes out; the next frame does not.
        out.extend(sent(&mut switch, &frame[1..]));
        source.frame += 1;
        assert_eq!(out.len(), 5);
        for _ in 0..30 {
            assert!(sent(&mut switch, &source.all_layers(Some(0))).is_empty());
        }
        assert_eq!(switch.current(), None);

        switch.set_target(Some(1));
        assert!(sent(&mut switch, &source.all_layers(None)).is_empty());
        let resumed = sent(&mut switch, &source.all_layers(Some(1)));
        let (last_packet, last) = *out.last().expect("sent");
        let (first_packet, first) = resumed[0];
        assert_eq!(first.seq_no, last.seq_no + 1);
        assert_eq!(
            first.rtp_time.wrapping_sub(last.rtp_time),
            32 * 33 * 90,
            "the paused second shows as time passing"
        );
        assert_eq!(
            picture_id(&first, &first_packet),
            picture_id(&last, &last_packet) + 1
        );
    }

    #[test]
    fn a_hurried_drop_stops_the_current_layer_before_the_target_keyframe() {
        let mut source = Source::new();
        let mut switch = LayerSwitch::new(Some(2));
        let mut out = sent(&mut switch, &source.all_layers(Some(2)));
        switch.drop_to(Some(0));
        // Nothing at all until layer 0's keyframe: not even layer 2.
        for _ in 0..3 {
            assert!(sent(&mut switch, &source.all_layers(None)).is_empty());
        }
        let after = sent(&mut switch, &source.all_layers(Some(0)));
        assert_eq!(switch.current(), Some(0));
        let (last_packet, last) = out.pop().expect("sent");
        let (first_packet, first) = after[0];
        assert_eq!(first.seq_no, last.seq_no + 1);
        assert_eq!(
            picture_id(&first, &first_packet),
            picture_id(&last, &last_packet) + 1
        );
    }

    #[test]
    fn seven_bit_picture_ids_wrap_within_seven_bits() {
        let now = Instant::now();
        let packet = |layer, seq_no, picture_id, keyframe, ms| LayerPacket {
            layer,
            seq_no,
            rtp_time: 90 * ms as u32,
            arrival: now + Duration::from_millis(ms),
            starts_keyframe: keyframe,
            vp8: Some(Vp8Ids {
                picture_id: Some(PictureId {
                    value: picture_id,
                    wide: false,
                }),
                tl0_pic_idx: None,
            }),
        };
        let mut switch = LayerSwitch::new(Some(0));
        assert!(matches!(
            switch.decide(&packet(0, 10, 127, true, 0)),
            Verdict::Forward(_)
        ));
        switch.set_target(Some(1));
        let Verdict::Forward(out) = switch.decide(&packet(1, 500, 5, true, 33)) else {
            panic!("the keyframe of the target layer is forwarded");
        };
        assert_eq!(out.vp8.and_then(|v| v.picture_id), Some(0));
        assert_eq!(out.vp8.and_then(|v| v.tl0_pic_idx), None);
    }

    #[test]
    fn a_restarted_layer_starts_again_at_its_keyframe() {
        let mut source = Source::new();
        let mut switch = LayerSwitch::new(Some(0));
        let out = sent(&mut switch, &source.all_layers(Some(0)));
        switch.restart(0);
        source.layers[0].0 = 60_000;
        assert!(sent(&mut switch, &source.all_layers(None)).is_empty());
        let again = sent(&mut switch, &source.all_layers(Some(0)));
        assert_eq!(again[0].1.seq_no, out[1].1.seq_no + 1);
    }

    /// Random targets, keyframes and loss: outgoing numbers never go backwards and never repeat,
    /// and across every switch picture ids continue by one.
    #[test]
    fn random_switching_keeps_the_outgoing_stream_monotonic() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let mut source = Source::new();
        let mut switch = LayerSwitch::new(Some(1));
        let mut last: Option<(LayerPacket, Rewritten)> = None;
        for _ in 0..5_000 {
            if random(20) == 0 {
                let target = random(4);
                switch.set_target((target < 3).then_some(target as u8));
            }
            let keyframe = (random(8) == 0).then(|| random(3) as u8);
            let mut packets = source.all_layers(keyframe);
            packets.retain(|_| random(20) != 0);
            for (packet, out) in sent(&mut switch, &packets) {
                if let Some((last_packet, last_out)) = last {
                    assert!(out.seq_no > last_out.seq_no);
                    let forward = out.rtp_time.wrapping_sub(last_out.rtp_time);
                    assert!(forward < 1 << 31, "RTP time went backwards");
                    let step = (u32::from(picture_id(&out, &packet)) + 32_768
                        - u32::from(picture_id(&last_out, &last_packet)))
                        % 32_768;
                    assert!(step < 16, "picture id jumped by {step}");
                }
                last = Some((packet, out));
            }
        }
        assert!(switch.switches() > 20, "{} switches", switch.switches());
    }
}
