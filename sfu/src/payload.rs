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
