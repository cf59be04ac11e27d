//! Reading just enough of a video payload to know whether a keyframe starts in it: the point
//! where a subscriber that has nothing yet (or lost too much) can start decoding.

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
    let Some(&first) = payload.first() else {
        return false;
    };
    let extended = first & 0x80 != 0;
    let start_of_partition = first & 0x10 != 0;
    let partition = first & 0x07;
    if !start_of_partition || partition != 0 {
        return false;
    }
    let mut at = 1;
    if extended {
        let Some(&flags) = payload.get(at) else {
            return false;
        };
        at += 1;
        if flags & 0x80 != 0 {
            // Picture id: one byte, or two when its top bit says so.
            let Some(&picture_id) = payload.get(at) else {
                return false;
            };
            at += if picture_id & 0x80 != 0 { 2 } else { 1 };
        }
        if flags & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if flags & 0x30 != 0 {
            at += 1; // TID / KEYIDX
        }
    }
    payload.get(at).is_some_and(|tag| tag & 0x01 == 0)
}

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

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
