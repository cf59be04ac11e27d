//! Test support: encoded frames cut into RTP payloads the way browsers send them, so that tests
//! of a tap's consumers (the recorder) can feed [`TappedPacket`]s without a browser. The SFU
//! itself never packetizes: it forwards the publishers' packets as they are.

use std::sync::Arc;
use std::time::Instant;

use crate::tap::{TapCodec, TapKind, TappedPacket};

/// Payload bytes per packet, about what browsers use to stay under a path's MTU.
pub const MAX_PAYLOAD: usize = 1100;

/// One publisher track: numbers its packets and (VP8) its pictures.
pub struct Packetizer {
    participant: Arc<str>,
    track: u32,
    kind: TapKind,
    codec: TapCodec,
    clock_rate: u32,
    next_seq: u64,
    picture_id: u16,
}

impl Packetizer {
    /// A track of `participant` sending `codec`: Opus is audio at 48 kHz, VP8 and H.264 video at
    /// 90 kHz.
    pub fn new(participant: &str, track: u32, codec: TapCodec) -> Packetizer {
        let (kind, clock_rate) = match codec {
            TapCodec::Opus => (TapKind::Audio, 48_000),
            TapCodec::Vp8 | TapCodec::H264 | TapCodec::Other => (TapKind::Video, 90_000),
        };
        Packetizer {
            participant: Arc::from(participant),
            track,
            kind,
            codec,
            clock_rate,
            // Not 0: a consumer must not assume streams start there.
            next_seq: 1000,
            picture_id: 0,
        }
    }

    /// Goes on with another video codec on the same track and numbers, as a publisher does
    /// after a renegotiation.
    pub fn switch_codec(&mut self, codec: TapCodec) {
        self.codec = codec;
    }

    /// The packets carrying one encoded frame (VP8 frame, Annex-B H.264 access unit, Opus
    /// packet), all arriving at `received`.
    pub fn packets(&mut self, frame: &[u8], rtp_time: u64, received: Instant) -> Vec<TappedPacket> {
        let payloads = match self.codec {
            TapCodec::Vp8 => {
                let payloads = vp8_payloads(frame, self.picture_id, MAX_PAYLOAD);
                self.picture_id = (self.picture_id + 1) & 0x7fff;
                payloads
            }
            TapCodec::H264 => h264_payloads(frame, MAX_PAYLOAD),
            TapCodec::Opus | TapCodec::Other => vec![frame.to_vec()],
        };
        let count = payloads.len();
        payloads
            .into_iter()
            .enumerate()
            .map(|(index, payload)| {
                let seq_no = self.next_seq;
                self.next_seq += 1;
                TappedPacket {
                    participant: self.participant.clone(),
                    track: self.track,
                    kind: self.kind,
                    codec: self.codec,
                    clock_rate: self.clock_rate,
                    seq_no,
                    rtp_time,
                    marker: self.kind == TapKind::Video && index + 1 == count,
                    received,
                    sender_report: None,
                    payload: Arc::from(payload),
                }
            })
            .collect()
    }
}

/// RFC 7741: each packet gets the extended descriptor with a 15-bit picture id, as browsers
/// send it; the first packet starts partition 0.
pub fn vp8_payloads(frame: &[u8], picture_id: u16, max_payload: usize) -> Vec<Vec<u8>> {
    const DESCRIPTOR: usize = 4;
    let chunk = max_payload.saturating_sub(DESCRIPTOR).max(1);
    let [picture_high, picture_low] = picture_id.to_be_bytes();
    frame
        .chunks(chunk)
        .enumerate()
        .map(|(index, part)| {
            let start = if index == 0 { 0x10 } else { 0x00 };
            let mut payload = Vec::with_capacity(DESCRIPTOR + part.len());
            payload.extend_from_slice(&[
                0x80 | start,
                0x80,
                0x80 | (picture_high & 0x7f),
                picture_low,
            ]);
            payload.extend_from_slice(part);
            payload
        })
        .collect()
}

const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// RFC 6184, packetization mode 1: NAL units that fit together (the parameter sets) share a
/// STAP-A, one too large for a packet is cut into FU-As, the rest go alone.
pub fn h264_payloads(access_unit: &[u8], max_payload: usize) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    let mut aggregate: Vec<&[u8]> = Vec::new();
    for nal in annex_b_nal_units(access_unit) {
        let aggregated_len = 1 + aggregate.iter().map(|n| 2 + n.len()).sum::<usize>();
        if !aggregate.is_empty() && aggregated_len + 2 + nal.len() > max_payload {
            payloads.push(single_or_stap_a(&aggregate));
            aggregate.clear();
        }
        if nal.len() > max_payload {
            payloads.extend(fu_a(nal, max_payload));
        } else {
            aggregate.push(nal);
        }
    }
    if !aggregate.is_empty() {
        payloads.push(single_or_stap_a(&aggregate));
    }
    payloads
}

fn single_or_stap_a(nal_units: &[&[u8]]) -> Vec<u8> {
    if let [nal] = nal_units {
        return nal.to_vec();
    }
    // The aggregate's F bit and NRI: the highest of its units'.
    let header = nal_units
        .iter()
        .filter_map(|nal| nal.first())
        .fold(0, |header, first| header.max(first & 0xe0));
    let mut payload = vec![header | NAL_STAP_A];
    for nal in nal_units {
        let size = u16::try_from(nal.len()).unwrap_or(u16::MAX);
        payload.extend_from_slice(&size.to_be_bytes());
        payload.extend_from_slice(nal);
    }
    payload
}

fn fu_a(nal: &[u8], max_payload: usize) -> Vec<Vec<u8>> {
    let Some((&header, body)) = nal.split_first() else {
        return Vec::new();
    };
    let indicator = (header & 0xe0) | NAL_FU_A;
    let chunks = body.chunks(max_payload.saturating_sub(2).max(1));
    let last = chunks.len().saturating_sub(1);
    chunks
        .enumerate()
        .map(|(index, part)| {
            let start = if index == 0 { 0x80 } else { 0 };
            let end = if index == last { 0x40 } else { 0 };
            let mut payload = Vec::with_capacity(2 + part.len());
            payload.extend_from_slice(&[indicator, start | end | (header & 0x1f)]);
            payload.extend_from_slice(part);
            payload
        })
        .collect()
}

/// The NAL units of an Annex-B byte stream (3- or 4-byte start codes), without start codes.
fn annex_b_nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at + 3 <= stream.len() {
        if stream[at..at + 3] == [0, 0, 1] {
            starts.push(at + 3);
            at += 3;
        } else {
            at += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (index, &start) in starts.iter().enumerate() {
        let mut end = starts.get(index + 1).map_or(stream.len(), |next| next - 3);
        // A 4-byte start code's leading zero (or trailing_zero_8bits) belongs to no unit.
        while end > start && stream[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            units.push(&stream[start..end]);
        }
    }
    units
}
