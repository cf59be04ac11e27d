//! Turning a tap's RTP packets back into frames, for a consumer that needs whole frames (the
//! recorder). It runs on the consumer's own task or thread, never the room's: the room only
//! hands packets over.
//!
//! Each track's packets are put back in sequence order. A frame is the packets sharing an RTP
//! timestamp; a video frame ends at the marker bit (or where the next timestamp begins with no
//! packet missing). A missing packet is waited for a little (a retransmission may still come);
//! then it is given up: the frame it belonged to is dropped and the next frame emitted says it
//! is not contiguous, so a decoder knows to resume at a keyframe.
//!
//! Sans-IO: time is what the packets' arrival times and [`FrameAssembler::advance`] say; the
//! clock is never read here.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::payload::{vp8_descriptor_len, vp8_starts_frame, NAL_FU_A, NAL_IDR, NAL_STAP_A};
use crate::tap::{SenderReport, TapCodec, TapKind, TappedPacket};

/// How long a missing video packet is waited for, from the arrival of the first packet after
/// it: a NACK and its retransmission take a round trip or two. Kept well under the recorder's
/// reorder window (300 ms), which a frame released this late must still fit in.
const VIDEO_GAP_WAIT: Duration = Duration::from_millis(200);
/// Browsers do not retransmit audio: a missing audio packet is waited for only as long as
/// packets overtaking each other on the network take.
const AUDIO_GAP_WAIT: Duration = Duration::from_millis(60);
/// Overload policy: at most this many packets of a track wait behind a missing one (a large
/// keyframe is about 200). Past it the oldest gap is given up at once, whatever the time.
const MAX_BUFFERED: usize = 512;
/// A packet this far behind what was already emitted is no late retransmission but a stream
/// that started again (a new encoder, a new SSRC): the track starts over from it.
const RESTART_DISTANCE: u64 = 2 * MAX_BUFFERED as u64;

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
    /// Video only: the frame decodes on its own (VP8 key frame, H.264 IDR).
    pub keyframe: bool,
    /// False when frames are missing before this one (loss the NACKs could not repair, or the
    /// tap's own queue overflowing): decoding must resume at a keyframe.
    pub contiguous: bool,
    pub sender_report: Option<SenderReport>,
    /// Opus: the packet. VP8: the frame (RFC 6386). H.264: the access unit in Annex-B, a
    /// 4-byte start code before each NAL unit.
    pub data: Arc<[u8]>,
}

/// What the assembler emitted and what it had to throw away, since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    pub frames: u64,
    /// Packets that came after their place was emitted or given up.
    pub packets_late: u64,
    pub packets_duplicate: u64,
    /// Frames dropped because packets of theirs were missing.
    pub frames_incomplete: u64,
    /// Frames dropped because their payloads did not parse.
    pub frames_malformed: u64,
}

/// Assembles every track of a tap: feed it packets with [`push`](Self::push), tell it the time
/// with [`advance`](Self::advance) when packets stop, take frames with
/// [`pop_frame`](Self::pop_frame). Frames of one track come out in order; tracks interleave.
#[derive(Default)]
pub struct FrameAssembler {
    tracks: Vec<TrackBuffer>,
    output: Output,
    /// The latest time known: the newest arrival, or a later `advance`.
    now: Option<Instant>,
}

#[derive(Default)]
struct Output {
    ready: VecDeque<TappedFrame>,
    /// Depacketizing happens here, reused: a frame's one allocation is its `Arc`.
    scratch: Vec<u8>,
    stats: AssemblerStats,
}

impl FrameAssembler {
    pub fn new() -> FrameAssembler {
        FrameAssembler::default()
    }

    pub fn push(&mut self, packet: TappedPacket) {
        self.note_time(packet.received);
        let index = match self
            .tracks
            .iter()
            .position(|t| t.track == packet.track && t.participant == packet.participant)
        {
            Some(index) => index,
            None => {
                self.tracks.push(TrackBuffer::new(&packet));
                self.tracks.len() - 1
            }
        };
        let Some(track) = self.tracks.get_mut(index) else {
            return;
        };
        track.insert(packet, &mut self.output);
        track.drain(GiveUp::Waited(self.now), &mut self.output);
    }

    /// Gives up missing packets that were waited for long enough by `now`, for tracks whose
    /// packets stopped coming after a loss.
    pub fn advance(&mut self, now: Instant) {
        self.note_time(now);
        for track in &mut self.tracks {
            track.drain(GiveUp::Waited(self.now), &mut self.output);
        }
    }

    /// The publisher left: what is complete of theirs is emitted, the rest and their state
    /// forgotten (if they come back, their streams start afresh).
    pub fn remove_participant(&mut self, participant: &str) {
        for track in &mut self.tracks {
            if &*track.participant == participant {
                track.drain(GiveUp::Everything, &mut self.output);
            }
        }
        self.tracks.retain(|t| &*t.participant != participant);
    }

    /// Stops waiting for anything: every complete frame still held is emitted.
    pub fn flush(&mut self) {
        for track in &mut self.tracks {
            track.drain(GiveUp::Everything, &mut self.output);
        }
    }

    pub fn pop_frame(&mut self) -> Option<TappedFrame> {
        self.output.ready.pop_front()
    }

    pub fn stats(&self) -> AssemblerStats {
        self.output.stats
    }

    fn note_time(&mut self, at: Instant) {
        self.now = Some(self.now.map_or(at, |now| now.max(at)));
    }
}

/// When the frame at the head of a track, blocked by a missing packet, is given up.
#[derive(Clone, Copy)]
enum GiveUp {
    /// When the missing packet was waited for long enough by this time.
    Waited(Option<Instant>),
    /// Until the head reaches this sequence number.
    Before(u64),
    Everything,
}

/// One track's packets waiting to become frames.
struct TrackBuffer {
    participant: Arc<str>,
    track: u32,
    /// `slots[i]` holds sequence number `next_seq + i`, `None` while it is missing. Never ends
    /// with `None`.
    slots: VecDeque<Option<TappedPacket>>,
    next_seq: u64,
    /// A frame is known to begin at `next_seq` (the packet before it ended one).
    at_frame_start: bool,
    /// RTP time of the frame that ended before `next_seq`, emitted or given up: packets of it
    /// found after a gap are the rest of a frame already lost.
    previous_rtp_time: Option<u64>,
    /// Frames were lost since the last one emitted.
    lost: bool,
    emitted_any: bool,
    /// `next_seq` has moved: a packet older than it is late. Until then a packet that overtook
    /// the track's first ones on the network still finds its place.
    advanced: bool,
}

impl TrackBuffer {
    fn new(first: &TappedPacket) -> TrackBuffer {
        TrackBuffer {
            participant: first.participant.clone(),
            track: first.track,
            slots: VecDeque::new(),
            next_seq: first.seq_no,
            at_frame_start: false,
            previous_rtp_time: None,
            lost: false,
            emitted_any: false,
            advanced: false,
        }
    }

    fn insert(&mut self, packet: TappedPacket, output: &mut Output) {
        let seq = packet.seq_no;
        if seq < self.next_seq {
            let behind = self.next_seq - seq;
            let fits = usize::try_from(behind)
                .is_ok_and(|behind| behind.saturating_add(self.slots.len()) <= MAX_BUFFERED);
            if !self.advanced && fits {
                for _ in 1..behind {
                    self.slots.push_front(None);
                }
                self.slots.push_front(Some(packet));
                self.next_seq = seq;
                return;
            }
            if behind <= RESTART_DISTANCE {
                output.stats.packets_late += 1;
                return;
            }
            self.drain(GiveUp::Everything, output);
            self.skip_to(seq);
        }
        // Too far ahead to wait for everything before it: the oldest is given up until it fits.
        let too_far = seq.saturating_sub(MAX_BUFFERED as u64 - 1);
        if self.next_seq < too_far {
            self.drain(GiveUp::Before(too_far), output);
            if self.next_seq < too_far {
                // Emptied, and still more missing than is ever waited for.
                self.skip_to(seq);
            }
        }
        let Some(offset) = seq
            .checked_sub(self.next_seq)
            .and_then(|offset| usize::try_from(offset).ok())
        else {
            output.stats.packets_late += 1;
            return;
        };
        if offset >= self.slots.len() {
            self.slots.resize_with(offset + 1, || None);
        }
        match self.slots.get_mut(offset) {
            Some(slot @ None) => *slot = Some(packet),
            Some(Some(_)) => output.stats.packets_duplicate += 1,
            None => {}
        }
    }

    /// Everything before `seq` is missing for good and the buffer is empty.
    fn skip_to(&mut self, seq: u64) {
        self.slots.clear();
        self.next_seq = seq;
        self.advanced = true;
        self.at_frame_start = false;
        self.previous_rtp_time = None;
        self.note_loss();
    }

    /// Emits the frames that are complete and gives up what `give_up` allows.
    fn drain(&mut self, give_up: GiveUp, output: &mut Output) {
        loop {
            self.skip_packets_without_media();
            let Some(head) = self.slots.front() else {
                return;
            };
            if head.is_some() {
                if let Some(len) = self.complete_frame_len() {
                    self.take_frame(len, output);
                    continue;
                }
            }
            if !self.may_give_up(give_up) {
                return;
            }
            self.give_up_head(&mut output.stats);
        }
    }

    /// Padding-only packets (bandwidth probes) and codecs we cannot depacketize hold a sequence
    /// number, which must not look missing, and nothing else.
    fn skip_packets_without_media(&mut self) {
        while let Some(Some(packet)) = self.slots.front() {
            if carries_media(packet) {
                return;
            }
            self.slots.pop_front();
            self.next_seq += 1;
            self.advanced = true;
        }
    }

    /// Packets of the frame at the head, if all of it is here.
    fn complete_frame_len(&self) -> Option<usize> {
        let first = self.slots.front()?.as_ref()?;
        if first.codec == TapCodec::Opus {
            return Some(1);
        }
        let mut len = 0;
        for slot in &self.slots {
            let packet = slot.as_ref()?;
            if packet.rtp_time != first.rtp_time {
                // The next frame began right after this one's last packet.
                return Some(len);
            }
            len += 1;
            if packet.marker {
                return Some(len);
            }
        }
        None
    }

    fn may_give_up(&self, give_up: GiveUp) -> bool {
        match give_up {
            GiveUp::Everything => true,
            GiveUp::Before(seq) => self.next_seq < seq,
            GiveUp::Waited(None) => false,
            GiveUp::Waited(Some(now)) => {
                // Only a packet missing with a later one here is waited for; the wait counts
                // from that later one's arrival.
                let Some(hole) = self.slots.iter().position(Option::is_none) else {
                    return false;
                };
                let Some(after) = self.slots.iter().skip(hole).flatten().next() else {
                    return false;
                };
                now.saturating_duration_since(after.received) >= gap_wait(after.kind)
            }
        }
    }

    /// Drops the incomplete frame at the head and the gap after it.
    fn give_up_head(&mut self, stats: &mut AssemblerStats) {
        let mut dropped_frame = false;
        while let Some(Some(packet)) = self.slots.front() {
            self.previous_rtp_time = Some(packet.rtp_time);
            dropped_frame = true;
            self.slots.pop_front();
            self.next_seq += 1;
        }
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.next_seq += 1;
        }
        if dropped_frame {
            stats.frames_incomplete += 1;
        }
        self.advanced = true;
        self.at_frame_start = false;
        self.note_loss();
    }

    /// Emits the `len` packets at the head as a frame if it can be one, and moves past them.
    fn take_frame(&mut self, len: usize, output: &mut Output) {
        let Some(Some(first)) = self.slots.front() else {
            return;
        };
        let rtp_time = first.rtp_time;
        let begins_here = self.at_frame_start
            || (self.previous_rtp_time != Some(rtp_time)
                && starts_frame(first.codec, &first.payload));
        if !begins_here {
            // The rest of a frame whose start was lost.
            output.stats.frames_incomplete += 1;
            self.note_loss();
        } else {
            match self.assemble(len, output) {
                Some(frame) => {
                    output.ready.push_back(frame);
                    output.stats.frames += 1;
                    self.lost = false;
                    self.emitted_any = true;
                }
                None => {
                    output.stats.frames_malformed += 1;
                    self.note_loss();
                }
            }
        }
        self.slots.drain(..len);
        self.next_seq += len as u64;
        self.advanced = true;
        self.at_frame_start = true;
        self.previous_rtp_time = Some(rtp_time);
    }

    /// The frame the `len` packets at the head carry; `None` if they do not parse.
    fn assemble(&self, len: usize, output: &mut Output) -> Option<TappedFrame> {
        let first = self.slots.front()?.as_ref()?;
        let packets = || self.slots.range(..len).flatten();
        if packets().any(|p| p.codec != first.codec) {
            return None;
        }
        let payloads = packets().map(|p| &*p.payload);
        let scratch = &mut output.scratch;
        scratch.clear();
        let (keyframe, data) = match first.codec {
            // One packet, one frame: shared as it came.
            TapCodec::Opus => (false, first.payload.clone()),
            TapCodec::Vp8 => (
                depacketize_vp8(payloads, scratch).ok()?,
                Arc::from(&scratch[..]),
            ),
            TapCodec::H264 => (
                depacketize_h264(payloads, scratch).ok()?,
                Arc::from(&scratch[..]),
            ),
            TapCodec::Other => return None,
        };
        Some(TappedFrame {
            participant: first.participant.clone(),
            track: first.track,
            kind: first.kind,
            codec: first.codec,
            clock_rate: first.clock_rate,
            rtp_time: first.rtp_time,
            received: packets().map(|p| p.received).max()?,
            keyframe,
            contiguous: !self.lost,
            sender_report: packets().rev().find_map(|p| p.sender_report),
            data,
        })
    }

    /// Frames are lost. Before the first frame emitted nothing counts as lost: the consumer
    /// starts at a keyframe anyway.
    fn note_loss(&mut self) {
        if self.emitted_any {
            self.lost = true;
        }
    }
}

fn carries_media(packet: &TappedPacket) -> bool {
    !packet.payload.is_empty() && packet.codec != TapCodec::Other
}

fn gap_wait(kind: TapKind) -> Duration {
    match kind {
        TapKind::Audio => AUDIO_GAP_WAIT,
        TapKind::Video => VIDEO_GAP_WAIT,
    }
}

/// Whether a packet can be the first of a frame, for a frame found after a gap: the packet
/// before it, which would say so, is missing.
fn starts_frame(codec: TapCodec, payload: &[u8]) -> bool {
    match codec {
        TapCodec::Opus => true,
        TapCodec::Vp8 => vp8_starts_frame(payload),
        // No certainty from one packet (a frame may hold several slices): at least not the
        // middle of a NAL unit.
        TapCodec::H264 => match payload {
            [header, fu_header, ..] if header & 0x1f == NAL_FU_A => fu_header & 0x80 != 0,
            [_, ..] => true,
            [] => false,
        },
        TapCodec::Other => false,
    }
}

/// A frame's payloads did not parse (or carried nothing).
#[derive(Debug)]
struct Malformed;

/// Appends the VP8 frame the payloads carry to `out`; whether it is a key frame.
fn depacketize_vp8<'a>(
    payloads: impl Iterator<Item = &'a [u8]>,
    out: &mut Vec<u8>,
) -> Result<bool, Malformed> {
    let mut first = true;
    for payload in payloads.filter(|p| !p.is_empty()) {
        if first && !vp8_starts_frame(payload) {
            return Err(Malformed);
        }
        first = false;
        let descriptor = vp8_descriptor_len(payload).ok_or(Malformed)?;
        out.extend_from_slice(payload.get(descriptor..).ok_or(Malformed)?);
    }
    // RFC 6386 §9.1: the frame tag's lowest bit is 0 on a key frame.
    let tag = out.first().ok_or(Malformed)?;
    Ok(tag & 0x01 == 0)
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Appends the access unit the payloads carry to `out` in Annex-B; whether it holds an IDR.
/// Packetization mode 1 (RFC 6184 §6.3): single NAL units, STAP-A, FU-A.
fn depacketize_h264<'a>(
    payloads: impl Iterator<Item = &'a [u8]>,
    out: &mut Vec<u8>,
) -> Result<bool, Malformed> {
    let mut keyframe = false;
    // A NAL unit arriving in FU-A fragments is being put back together.
    let mut in_fragment = false;
    for payload in payloads {
        let Some((&header, body)) = payload.split_first() else {
            continue;
        };
        match header & 0x1f {
            1..=23 => {
                if in_fragment {
                    return Err(Malformed);
                }
                append_nal_unit(payload, out, &mut keyframe)?;
            }
            NAL_STAP_A => {
                if in_fragment {
                    return Err(Malformed);
                }
                append_stap_a(body, out, &mut keyframe)?;
            }
            NAL_FU_A => {
                let (&fu_header, fragment) = body.split_first().ok_or(Malformed)?;
                let starts = fu_header & 0x80 != 0;
                let ends = fu_header & 0x40 != 0;
                if starts == in_fragment {
                    // A start inside a unit, or a continuation of none.
                    return Err(Malformed);
                }
                if starts {
                    // The unit's own header: F and NRI from the indicator, type from the FU header.
                    let unit_type = fu_header & 0x1f;
                    out.extend_from_slice(&START_CODE);
                    out.push((header & 0xe0) | unit_type);
                    keyframe |= unit_type == NAL_IDR;
                }
                out.extend_from_slice(fragment);
                in_fragment = !ends;
            }
            // STAP-B, MTAP, FU-B belong to the interleaved mode, which is never negotiated; 0,
            // 30 and 31 are undefined.
            _ => return Err(Malformed),
        }
    }
    if in_fragment || out.is_empty() {
        return Err(Malformed);
    }
    Ok(keyframe)
}

/// RFC 6184 §5.7.1: each unit behind its 16-bit size.
fn append_stap_a(
    mut units: &[u8],
    out: &mut Vec<u8>,
    keyframe: &mut bool,
) -> Result<(), Malformed> {
    if units.is_empty() {
        return Err(Malformed);
    }
    while !units.is_empty() {
        let (size, rest) = units.split_first_chunk::<2>().ok_or(Malformed)?;
        let (unit, rest) = rest
            .split_at_checked(usize::from(u16::from_be_bytes(*size)))
            .ok_or(Malformed)?;
        append_nal_unit(unit, out, keyframe)?;
        units = rest;
    }
    Ok(())
}

fn append_nal_unit(unit: &[u8], out: &mut Vec<u8>, keyframe: &mut bool) -> Result<(), Malformed> {
    let header = unit.first().ok_or(Malformed)?;
    *keyframe |= header & 0x1f == NAL_IDR;
    out.extend_from_slice(&START_CODE);
    out.extend_from_slice(unit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packetize::{h264_payloads, Packetizer};

    const FRAME_TIME: Duration = Duration::from_millis(33);
    const VIDEO_TICKS: u64 = 3000;

    /// A VP8 frame's bytes: a key frame has the frame tag's lowest bit clear.
    fn vp8_frame(index: usize, key: bool, len: usize) -> Vec<u8> {
        let mut frame: Vec<u8> = (0..len).map(|i| (i * 7 + index) as u8).collect();
        frame[0] = if key { 0x10 } else { 0x11 };
        frame
    }

    /// `frames` VP8 frames of 2,500 bytes (three packets each), a key frame every `gop`.
    fn vp8_stream(
        start: Instant,
        frames: usize,
        gop: usize,
    ) -> (Vec<Vec<u8>>, Vec<Vec<TappedPacket>>) {
        let mut packetizer = Packetizer::new("alice", 1, TapCodec::Vp8);
        let data: Vec<Vec<u8>> = (0..frames)
            .map(|i| vp8_frame(i, i % gop == 0, 2500))
            .collect();
        let packets = data
            .iter()
            .enumerate()
            .map(|(i, frame)| {
                let at = start + FRAME_TIME * i as u32;
                packetizer.packets(frame, 90_000 + VIDEO_TICKS * i as u64, at)
            })
            .collect();
        (data, packets)
    }

    fn frames(assembler: &mut FrameAssembler) -> Vec<TappedFrame> {
        std::iter::from_fn(|| assembler.pop_frame()).collect()
    }

    #[test]
    fn vp8_frames_in_order_come_out_whole() {
        let start = Instant::now();
        let (data, packets) = vp8_stream(start, 4, 2);
        assert!(packets.iter().all(|p| p.len() == 3));
        let mut assembler = FrameAssembler::new();
        for packet in packets.into_iter().flatten() {
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 4);
        for (i, frame) in out.iter().enumerate() {
            assert_eq!(&*frame.data, &data[i][..], "frame {i}");
            assert_eq!(frame.keyframe, i % 2 == 0);
            assert!(frame.contiguous);
            assert_eq!(frame.rtp_time, 90_000 + VIDEO_TICKS * i as u64);
            assert_eq!(frame.received, start + FRAME_TIME * i as u32);
            assert_eq!(
                (frame.kind, frame.codec, frame.track),
                (TapKind::Video, TapCodec::Vp8, 1)
            );
        }
        assert_eq!(assembler.stats().frames, 4);
    }

    #[test]
    fn a_frame_whose_marker_is_missing_ends_where_the_next_begins() {
        let start = Instant::now();
        let (data, mut packets) = vp8_stream(start, 2, 2);
        if let Some(last) = packets[0].last_mut() {
            last.marker = false;
        }
        let mut packets = packets.into_iter().flatten();
        let mut assembler = FrameAssembler::new();
        for packet in packets.by_ref().take(3) {
            assembler.push(packet);
        }
        assert!(assembler.pop_frame().is_none(), "it may go on");
        for packet in packets {
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 2);
        assert_eq!(*out[0].data, data[0][..]);
    }

    #[test]
    fn reordered_packets_are_put_back_in_sequence() {
        let start = Instant::now();
        let (data, packets) = vp8_stream(start, 3, 3);
        let mut order: Vec<TappedPacket> = packets.into_iter().flatten().collect();
        // The first frame's first packet overtaken, frames 2 and 3 interleaved.
        order.swap(0, 1);
        order.swap(4, 6);
        order.swap(5, 8);
        let mut assembler = FrameAssembler::new();
        for packet in order {
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 3);
        for (frame, expected) in out.iter().zip(&data) {
            assert_eq!(&*frame.data, &expected[..]);
            assert!(frame.contiguous);
        }
    }

    #[test]
    fn duplicates_are_ignored() {
        let start = Instant::now();
        let (data, packets) = vp8_stream(start, 3, 3);
        let mut assembler = FrameAssembler::new();
        for packet in packets.into_iter().flatten() {
            assembler.push(packet.clone());
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 3);
        assert!(out
            .iter()
            .zip(&data)
            .all(|(f, d)| *f.data == d[..] && f.contiguous));
        let stats = assembler.stats();
        assert_eq!(stats.packets_duplicate + stats.packets_late, 9);
    }

    #[test]
    fn a_gap_is_given_up_after_the_wait_and_the_next_frame_is_not_contiguous() {
        let start = Instant::now();
        // Key, delta, key, delta.
        let (data, mut packets) = vp8_stream(start, 4, 2);
        let lost = packets[1].remove(2);
        let mut assembler = FrameAssembler::new();
        for packet in packets.into_iter().flatten() {
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(
            out.len(),
            1,
            "frame 1 waits for its last packet, the rest behind it"
        );

        // Not yet given up just before the wait is over.
        let after_gap = start + FRAME_TIME * 2;
        assembler.advance(after_gap + VIDEO_GAP_WAIT - Duration::from_millis(1));
        assert!(assembler.pop_frame().is_none());
        assembler.advance(after_gap + VIDEO_GAP_WAIT);
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 2, "frame 1 dropped, 2 and 3 emitted");
        assert_eq!(&*out[0].data, &data[2][..]);
        assert!(out[0].keyframe && !out[0].contiguous);
        assert!(out[1].contiguous && !out[1].keyframe);
        assert_eq!(assembler.stats().frames_incomplete, 1);

        // The retransmission arriving now is too late.
        assembler.push(lost);
        assert!(assembler.pop_frame().is_none());
        assert_eq!(assembler.stats().packets_late, 1);
    }

    #[test]
    fn a_retransmission_within_the_wait_fills_the_gap() {
        let start = Instant::now();
        let (data, mut packets) = vp8_stream(start, 3, 3);
        let mut lost = packets[1].remove(0);
        lost.received = start + FRAME_TIME * 2 + VIDEO_GAP_WAIT / 2;
        let mut assembler = FrameAssembler::new();
        for packet in packets.into_iter().flatten() {
            assembler.push(packet);
        }
        assert_eq!(frames(&mut assembler).len(), 1);
        assembler.push(lost);
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .zip(&data[1..])
            .all(|(f, d)| *f.data == d[..] && f.contiguous));
    }

    #[test]
    fn a_gap_is_given_up_at_once_when_too_many_packets_wait_behind_it() {
        let start = Instant::now();
        let (_, mut packets) = vp8_stream(start, 200, 1000);
        packets[1].remove(1);
        let mut assembler = FrameAssembler::new();
        // All at one instant: only the buffer's size can make it give up.
        for mut packet in packets.into_iter().flatten() {
            packet.received = start;
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert!(out.len() > 150, "{}", out.len());
        assert!(out[0].contiguous && !out[1].contiguous && out[2].contiguous);
        assert_eq!(out[1].rtp_time, 90_000 + VIDEO_TICKS * 2);
    }

    #[test]
    fn a_track_joined_mid_frame_starts_at_the_next_frame() {
        let start = Instant::now();
        let (data, mut packets) = vp8_stream(start, 3, 3);
        packets[0].remove(0);
        let mut assembler = FrameAssembler::new();
        for packet in packets.into_iter().flatten() {
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 2);
        assert_eq!(&*out[0].data, &data[1][..]);
        assert!(out[0].contiguous, "nothing was lost since the tap began");
    }

    #[test]
    fn padding_only_packets_are_no_gap() {
        let start = Instant::now();
        let (_, packets) = vp8_stream(start, 2, 2);
        let mut assembler = FrameAssembler::new();
        for (i, frame) in packets.into_iter().enumerate() {
            for mut packet in frame {
                // Room for a padding packet after each frame.
                packet.seq_no += i as u64;
                let template = packet.clone();
                assembler.push(packet);
                if template.marker {
                    assembler.push(TappedPacket {
                        seq_no: template.seq_no + 1,
                        marker: false,
                        payload: Arc::from(&[][..]),
                        ..template
                    });
                }
            }
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|f| f.contiguous));
    }

    #[test]
    fn a_restarted_stream_starts_over() {
        let start = Instant::now();
        let (_, packets) = vp8_stream(start, 4, 2);
        let mut packets: Vec<TappedPacket> = packets.into_iter().flatten().collect();
        // Frames 2 and 3 numbered from far below frames 0 and 1.
        for packet in &mut packets[..6] {
            packet.seq_no += 20_000;
        }
        let mut assembler = FrameAssembler::new();
        for packet in packets {
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 4);
        assert!(out[0].contiguous && out[1].contiguous && !out[2].contiguous);
    }

    #[test]
    fn a_publisher_leaving_releases_what_is_complete_and_forgets_the_rest() {
        let start = Instant::now();
        let (_, mut packets) = vp8_stream(start, 3, 3);
        packets[1].remove(0);
        let mut assembler = FrameAssembler::new();
        for packet in packets.iter().flatten() {
            assembler.push(packet.clone());
        }
        assert_eq!(frames(&mut assembler).len(), 1);
        assembler.remove_participant("alice");
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 1, "frame 2 was complete");
        assert!(!out[0].contiguous);
        // Back again with the same numbers: a fresh start, not duplicates.
        for packet in packets.into_iter().flatten() {
            assembler.push(packet);
        }
        assembler.flush();
        assert_eq!(frames(&mut assembler).len(), 2);
    }

    /// SPS, PPS, then an IDR slice too large for one packet.
    fn h264_idr() -> Vec<u8> {
        let mut access_unit = Vec::new();
        for unit in [
            &[0x67, 0x42, 0xc0, 0x1e, 0xd9][..],
            &[0x68, 0xce, 0x3c, 0x80][..],
            &[0x65; 3000][..],
        ] {
            access_unit.extend_from_slice(&START_CODE);
            access_unit.extend_from_slice(unit);
        }
        access_unit
    }

    #[test]
    fn h264_stap_a_and_fu_a_become_annex_b() {
        let start = Instant::now();
        let idr = h264_idr();
        let mut delta = START_CODE.to_vec();
        delta.extend_from_slice(&[0x41, 0x9a, 0x02, 0x03]);
        let mut packetizer = Packetizer::new("bob", 1, TapCodec::H264);
        let idr_packets = packetizer.packets(&idr, 0, start);
        let headers: Vec<u8> = idr_packets.iter().map(|p| p.payload[0] & 0x1f).collect();
        assert_eq!(headers, [NAL_STAP_A, NAL_FU_A, NAL_FU_A, NAL_FU_A]);
        let mut assembler = FrameAssembler::new();
        for packet in idr_packets.into_iter().chain(packetizer.packets(
            &delta,
            VIDEO_TICKS,
            start + FRAME_TIME,
        )) {
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 2);
        assert_eq!(&*out[0].data, &idr[..]);
        assert!(out[0].keyframe);
        assert_eq!(&*out[1].data, &delta[..]);
        assert!(!out[1].keyframe && out[1].contiguous);
    }

    #[test]
    fn opus_packets_are_frames_as_they_came() {
        let start = Instant::now();
        let mut packetizer = Packetizer::new("carol", 0, TapCodec::Opus);
        let mut assembler = FrameAssembler::new();
        let mut sent = Vec::new();
        for i in 0..3u8 {
            let packets = packetizer.packets(&[0x78, i, i], 960 * u64::from(i), start);
            sent.push(packets[0].payload.clone());
            assembler.push(packets[0].clone());
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 3);
        for (frame, payload) in out.iter().zip(&sent) {
            assert!(Arc::ptr_eq(&frame.data, payload), "not copied");
            assert_eq!((frame.kind, frame.clock_rate), (TapKind::Audio, 48_000));
        }
    }

    #[test]
    fn malformed_payloads_are_dropped() {
        let truncated_vp8 = [0x90, 0x80, 0xff];
        assert!(depacketize_vp8([&truncated_vp8[..]].into_iter(), &mut Vec::new()).is_err());
        // FU-A continuation without a start, a STAP-A claiming more than it holds, FU-B.
        for payload in [
            &[0x7c, 0x05, 1][..],
            &[0x78, 0x00, 0x09, 0x67],
            &[0x7d, 0x85],
        ] {
            assert!(depacketize_h264([payload].into_iter(), &mut Vec::new()).is_err());
        }
        // An FU-A that never ends.
        let fu = h264_payloads(&h264_idr(), 1100);
        let unfinished = fu[..fu.len() - 1].iter().map(|p| &p[..]);
        assert!(depacketize_h264(unfinished, &mut Vec::new()).is_err());

        // Through the assembler: the frame is dropped, the next is not contiguous.
        let start = Instant::now();
        let (_, mut packets) = vp8_stream(start, 3, 3);
        // The extension bit set, the extension byte missing.
        packets[1][1].payload = Arc::from(&[0x80][..]);
        let mut assembler = FrameAssembler::new();
        for packet in packets.into_iter().flatten() {
            assembler.push(packet);
        }
        let out = frames(&mut assembler);
        assert_eq!(out.len(), 2);
        assert!(!out[1].contiguous);
        assert_eq!(assembler.stats().frames_malformed, 1);
    }

    #[test]
    fn arbitrary_packets_never_panic() {
        let start = Instant::now();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut assembler = FrameAssembler::new();
        for _ in 0..20_000 {
            let codec = [
                TapCodec::Vp8,
                TapCodec::H264,
                TapCodec::Opus,
                TapCodec::Other,
            ][(random() % 4) as usize];
            let len = (random() % 24) as usize;
            let payload: Vec<u8> = (0..len).map(|_| random() as u8).collect();
            let seq_no = match random() % 8 {
                0 => random(),
                _ => 5000 + random() % 700,
            };
            assembler.push(TappedPacket {
                participant: Arc::from(["a", "b"][(random() % 2) as usize]),
                track: (random() % 2) as u32,
                kind: if codec == TapCodec::Opus {
                    TapKind::Audio
                } else {
                    TapKind::Video
                },
                codec,
                clock_rate: 90_000,
                seq_no,
                rtp_time: random() % 4,
                marker: random() % 3 == 0,
                received: start + Duration::from_millis(random() % 1000),
                sender_report: None,
                payload: Arc::from(payload),
            });
            if random() % 50 == 0 {
                assembler.advance(start + Duration::from_millis(random() % 2000));
            }
            while assembler.pop_frame().is_some() {}
        }
        assembler.flush();
    }
}
