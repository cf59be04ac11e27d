//! Reading RTP payload formats (RFC 7741 VP8, RFC 6184 H.264) just enough to forward and to
//! reassemble: where a frame and a keyframe start (the point where a subscriber that has nothing
//! yet can start decoding), and how long VP8's payload descriptor is.

use crate::tap::TapCodec;

/// Whether this RTP payload is the first packet of a keyframe.
pub fn starts_keyframe(codec: TapCodec, payload: &[u8]) -> bool {
    match codec {
        TapCodec::Vp8 => vp8_starts_keyframe(payload),
        TapCodec::H264 => h264_starts_keyframe(payload),
        TapCodec::Opus | TapCodec::Other => false,
    }
}

/// RFC 7741: a payload descriptor, then (at the start of partition 0) the VP8 frame tag, whose
/// lowest bit is 0 for a keyframe.
fn vp8_starts_keyframe(payload: &[u8]) -> bool {
    if !vp8_starts_frame(payload) {
        return false;
    }
    vp8_descriptor_len(payload)
        .and_then(|len| payload.get(len))
        .is_some_and(|tag| tag & 0x01 == 0)
}

/// RFC 7741 §4.2: the S bit with partition index 0 marks the first packet of a frame.
pub(crate) fn vp8_starts_frame(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|first| first & 0x10 != 0 && first & 0x07 == 0)
}

/// RFC 7741 §4.2: the payload descriptor's length, `None` if the packet is shorter than it.
pub(crate) fn vp8_descriptor_len(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    let mut len = 1;
    if first & 0x80 != 0 {
        let extension = *payload.get(1)?;
        len += 1;
        if extension & 0x80 != 0 {
            // Picture id: 7 bits, or 15 when its first bit says so.
            let picture_id = *payload.get(len)?;
            len += if picture_id & 0x80 != 0 { 2 } else { 1 };
        }
        if extension & 0x40 != 0 {
            len += 1; // TL0PICIDX
        }
        if extension & 0x30 != 0 {
            len += 1; // TID, Y, KEYIDX
        }
    }
    (len <= payload.len()).then_some(len)
}

/// The primary (newest) block of an RFC 2198 RED payload: after the 4-byte headers of the
/// redundant blocks (F bit set: payload type, timestamp offset, 10-bit length) and the primary's
/// 1-byte header come the redundant blocks' data, then the primary's. `None` if malformed.
pub(crate) fn red_primary(payload: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    let mut redundant = 0usize;
    loop {
        let header = *payload.get(at)?;
        if header & 0x80 == 0 {
            at += 1;
            break;
        }
        let block = payload.get(at..at + 4)?;
        redundant += usize::from(u16::from_be_bytes([block[2], block[3]]) & 0x03ff);
        at += 4;
    }
    payload.get(at + redundant..)
}

/// One redundant block of a RED payload: an earlier frame, `offset` RTP ticks before the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RedBlock<'a> {
    pub pt: u8,
    pub offset: u32,
    pub data: &'a [u8],
}

/// The redundant blocks of an RFC 2198 RED payload, oldest first; ends early at a malformed one.
#[derive(Debug, Clone)]
pub(crate) struct RedBlocks<'a> {
    payload: &'a [u8],
    header_at: usize,
    data_at: usize,
}

pub(crate) fn red_blocks(payload: &[u8]) -> RedBlocks<'_> {
    let mut primary_header = 0;
    while payload.get(primary_header).is_some_and(|h| h & 0x80 != 0) {
        primary_header += 4;
    }
    RedBlocks {
        payload,
        header_at: 0,
        data_at: primary_header + 1,
    }
}

impl<'a> Iterator for RedBlocks<'a> {
    type Item = RedBlock<'a>;

    fn next(&mut self) -> Option<RedBlock<'a>> {
        let header = self.payload.get(self.header_at..self.header_at + 4)?;
        if header[0] & 0x80 == 0 {
            return None;
        }
        let word = u32::from_be_bytes([0, header[1], header[2], header[3]]);
        let len = (word & 0x03ff) as usize;
        let data = self.payload.get(self.data_at..self.data_at + len)?;
        self.header_at += 4;
        self.data_at += len;
        Some(RedBlock {
            pt: header[0] & 0x7f,
            offset: word >> 10,
            data,
        })
    }
}

/// An RFC 2198 RED payload of `primary` (at RTP time `time`) with `earlier` frames (oldest first,
/// each with its RTP time) as redundancy, all of payload type `pt`. Earlier frames too far back
/// for RED's 14-bit offset, or too long for its 10-bit length, are left out.
pub(crate) fn red_with(pt: u8, time: u32, primary: &[u8], earlier: &[(u32, &[u8])]) -> Vec<u8> {
    let fits = |(at, data): &&(u32, &[u8])| {
        let offset = time.wrapping_sub(*at);
        (1..=RED_MAX_OFFSET).contains(&offset) && data.len() <= RED_MAX_BLOCK
    };
    let blocks: Vec<&(u32, &[u8])> = earlier.iter().filter(fits).collect();
    let size = blocks.iter().map(|(_, d)| 4 + d.len()).sum::<usize>() + 1 + primary.len();
    let mut red = Vec::with_capacity(size);
    for (at, data) in &blocks {
        let offset = time.wrapping_sub(*at);
        // F bit, payload type; 14-bit timestamp offset, 10-bit length.
        let word = (offset << 10) | data.len() as u32;
        red.push(0x80 | (pt & 0x7f));
        red.extend_from_slice(&word.to_be_bytes()[1..]);
    }
    red.push(pt & 0x7f);
    for (_, data) in &blocks {
        red.extend_from_slice(data);
    }
    red.extend_from_slice(primary);
    red
}

/// The Opus frame in a voice payload: its primary block if it is RED.
pub(crate) fn opus_frame(payload: &[u8], red: bool) -> Option<&[u8]> {
    if red {
        red_primary(payload)
    } else {
        Some(payload)
    }
}

/// The payload type of a RED payload's primary block.
pub(crate) fn red_primary_pt(payload: &[u8]) -> Option<u8> {
    let mut at = 0;
    loop {
        let header = *payload.get(at)?;
        if header & 0x80 == 0 {
            return Some(header & 0x7f);
        }
        at += 4;
    }
}

/// Whether an Opus frame is a comfort-noise frame of discontinuous transmission: while a voice
/// is silent its encoder sends one every 400 ms, of at most two bytes (RFC 7587 §3.1.3; the size
/// is what libwebrtc tells them by).
pub(crate) fn opus_is_comfort_noise(frame: &[u8]) -> bool {
    frame.len() <= 2
}

/// The largest timestamp offset and block length RED can say.
const RED_MAX_OFFSET: u32 = 0x3fff;
const RED_MAX_BLOCK: usize = 0x03ff;

/// The picture size a VP8 keyframe announces (RFC 6386 §9.1: after the 3-byte frame tag, the
/// start code 9d 01 2a, then 14-bit width and height). `payload` is the keyframe's first
/// packet, descriptor included.
pub(crate) fn vp8_keyframe_size(payload: &[u8]) -> Option<(u32, u32)> {
    let start = vp8_descriptor_len(payload)?;
    let header = payload.get(start..start + 10)?;
    if header[0] & 0x01 != 0 || header[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
    let height = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
    Some((u32::from(width), u32::from(height)))
}

/// The VP8 ids a payload descriptor carries (RFC 7741 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp8DescriptorIds {
    /// The picture id and whether it is written in 15 bits (else 7).
    pub picture_id: Option<(u16, bool)>,
    pub tl0_pic_idx: Option<u8>,
}

/// Reads the picture id and TL0PICIDX of a VP8 payload descriptor; `None` if it is truncated.
pub(crate) fn vp8_ids(payload: &[u8]) -> Option<Vp8DescriptorIds> {
    let mut ids = Vp8DescriptorIds {
        picture_id: None,
        tl0_pic_idx: None,
    };
    let first = *payload.first()?;
    if first & 0x80 == 0 {
        return Some(ids);
    }
    let extension = *payload.get(1)?;
    let mut at = 2;
    if extension & 0x80 != 0 {
        let high = *payload.get(at)?;
        if high & 0x80 != 0 {
            let low = *payload.get(at + 1)?;
            ids.picture_id = Some((u16::from(high & 0x7f) << 8 | u16::from(low), true));
            at += 2;
        } else {
            ids.picture_id = Some((u16::from(high), false));
            at += 1;
        }
    }
    if extension & 0x40 != 0 {
        ids.tl0_pic_idx = Some(*payload.get(at)?);
    }
    Some(ids)
}

pub(crate) const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
pub(crate) const NAL_STAP_A: u8 = 24;
pub(crate) const NAL_FU_A: u8 = 28;

/// RFC 6184: a keyframe starts with its parameter sets (SPS) or, where the sender sends them
/// out of band, with the first packet of an IDR slice.
fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&header) = payload.first() else {
        return false;
    };
    match header & 0x1f {
        NAL_IDR | NAL_SPS => true,
        NAL_STAP_A => {
            let mut rest = &payload[1..];
            while rest.len() > 2 {
                let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let Some(&nal) = rest.get(2) else {
                    return false;
                };
                if matches!(nal & 0x1f, NAL_IDR | NAL_SPS) {
                    return true;
                }
                rest = rest.get(2 + size..).unwrap_or(&[]);
            }
            false
        }
        NAL_FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == NAL_IDR),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframe_and_delta_frame() {
        // Extended descriptor with a 15-bit picture id, start of partition 0.
        let key = [0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00];
        let delta = [0x90, 0x80, 0x81, 0x23, 0x11, 0x02, 0x00];
        assert!(starts_keyframe(TapCodec::Vp8, &key));
        assert!(!starts_keyframe(TapCodec::Vp8, &delta));
        // A continuation packet of a keyframe is not its start.
        let continuation = [0x80, 0x80, 0x81, 0x23, 0x10];
        assert!(!starts_keyframe(TapCodec::Vp8, &continuation));
        // Short descriptor (no X bit).
        assert!(starts_keyframe(TapCodec::Vp8, &[0x10, 0x50]));
        assert!(!starts_keyframe(TapCodec::Vp8, &[0x90, 0x80]));
        assert!(!starts_keyframe(TapCodec::Vp8, &[]));
    }

    #[test]
    fn red_with_two_earlier_frames_reads_back() {
        let earlier: [(u32, &[u8]); 2] = [(1000, &[1, 1]), (1960, &[2, 2, 2])];
        let red = red_with(111, 2920, &[3, 3, 3, 3], &earlier);
        assert_eq!(red_primary(&red), Some(&[3u8, 3, 3, 3][..]));
        // Oldest block: F bit and PT, offset 1920, length 2.
        assert_eq!(red[0], 0x80 | 111);
        let word = u32::from_be_bytes([0, red[1], red[2], red[3]]);
        assert_eq!((word >> 10, word & 0x3ff), (1920, 2));
        let word = u32::from_be_bytes([0, red[5], red[6], red[7]]);
        assert_eq!((word >> 10, word & 0x3ff), (960, 3));
        assert_eq!(red[8], 111);
        assert_eq!(&red[9..], &[1, 1, 2, 2, 2, 3, 3, 3, 3]);
        // A frame from too long ago (a pause in the voice) is left out.
        let red = red_with(111, 40_000, &[3], &earlier);
        assert_eq!(red, [111, 3]);
    }

    #[test]
    fn red_blocks_come_oldest_first_with_their_offsets() {
        let earlier: [(u32, &[u8]); 2] = [(1000, &[1, 1]), (1960, &[2, 2, 2])];
        let red = red_with(111, 2920, &[3, 3, 3, 3], &earlier);
        let blocks: Vec<RedBlock> = red_blocks(&red).collect();
        assert_eq!(
            blocks,
            [
                RedBlock {
                    pt: 111,
                    offset: 1920,
                    data: &[1, 1]
                },
                RedBlock {
                    pt: 111,
                    offset: 960,
                    data: &[2, 2, 2]
                },
            ]
        );
        assert_eq!(red_blocks(&[111, 3]).count(), 0);
        // A block longer than what is left ends the walk.
        assert_eq!(red_blocks(&red[..11]).count(), 1);
        assert_eq!(red_blocks(&red[..10]).count(), 0);
        assert_eq!(red_blocks(&red[..3]).count(), 0);
    }

    #[test]
    fn the_primary_block_tells_its_payload_type() {
        let red = red_with(111, 2920, &[3, 3], &[(1960, &[2])]);
        assert_eq!(red_primary_pt(&red), Some(111));
        assert_eq!(red_primary_pt(&[0x80 | 111, 0, 0]), None);
    }

    #[test]
    fn comfort_noise_is_the_tiny_frame_of_a_silent_voice() {
        assert!(opus_is_comfort_noise(&[0xf8]));
        assert!(opus_is_comfort_noise(&[0xf8, 0xff]));
        assert!(!opus_is_comfort_noise(&[0x78, 1, 2, 3, 4, 5]));
    }

    #[test]
    fn red_payloads_give_up_their_primary_block() {
        // One redundant block of 3 bytes (PT 111, offset 960), then the primary of 2 bytes.
        let offset_and_len: u32 = (960 << 10) | 3;
        let mut red = vec![0x80 | 111];
        red.extend_from_slice(&offset_and_len.to_be_bytes()[1..]);
        red.push(111);
        red.extend_from_slice(&[1, 2, 3, 9, 8]);
        assert_eq!(red_primary(&red), Some(&[9u8, 8][..]));
        // Only a primary.
        assert_eq!(red_primary(&[111, 5, 6]), Some(&[5u8, 6][..]));
        // Truncated headers or blocks.
        assert_eq!(red_primary(&red[..3]), None);
        assert_eq!(red_primary(&red[..6]), None);
        assert_eq!(red_primary(&[]), None);
    }

    #[test]
    fn vp8_keyframes_tell_their_size() {
        // Descriptor (S bit), frame tag of a keyframe, start code, 640 × 360.
        let mut key = vec![0x10, 0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a];
        key.extend_from_slice(&640u16.to_le_bytes());
        key.extend_from_slice(&360u16.to_le_bytes());
        assert_eq!(vp8_keyframe_size(&key), Some((640, 360)));
        key[1] |= 0x01; // a delta frame has no size
        assert_eq!(vp8_keyframe_size(&key), None);
        assert_eq!(vp8_keyframe_size(&key[..8]), None);
    }

    #[test]
    fn vp8_picture_ids_in_both_widths_and_tl0picidx() {
        let wide = [0x90, 0xe0, 0x81, 0x23, 0x42, 0x20, 0x10];
        assert_eq!(
            vp8_ids(&wide),
            Some(Vp8DescriptorIds {
                picture_id: Some((0x0123, true)),
                tl0_pic_idx: Some(0x42),
            })
        );
        let narrow = [0x90, 0x80, 0x12, 0x10];
        assert_eq!(
            vp8_ids(&narrow).and_then(|ids| ids.picture_id),
            Some((0x12, false))
        );
        assert_eq!(vp8_ids(&[0x10, 0x50]).and_then(|i| i.picture_id), None);
        assert_eq!(vp8_ids(&[0x90, 0x80]), None, "truncated");
        assert_eq!(vp8_ids(&[]), None);
    }

    #[test]
    fn h264_parameter_sets_idr_and_fragments() {
        let stap_a_with_sps = [0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce];
        assert!(starts_keyframe(TapCodec::H264, &stap_a_with_sps));
        assert!(starts_keyframe(TapCodec::H264, &[0x65, 0x88]));
        assert!(starts_keyframe(TapCodec::H264, &[0x7c, 0x85, 0x88]));
        // FU-A continuation of an IDR, and a non-IDR slice.
        assert!(!starts_keyframe(TapCodec::H264, &[0x7c, 0x05, 0x88]));
        assert!(!starts_keyframe(TapCodec::H264, &[0x41, 0x9a]));
        // A truncated STAP-A is not read past its end.
        assert!(!starts_keyframe(TapCodec::H264, &[0x78, 0xff, 0xff]));
        assert!(!starts_keyframe(TapCodec::Opus, &[0x65]));
    }
}
