//! Synthetic media as RTP payloads: Opus frames and VP8 frames that depacketizers accept.
//!
//! Nothing here is decodable picture or sound; it only has to look right to an SFU that
//! reassembles VP8 frames and checks for keyframes (RFC 7741 payload descriptor, RFC 6386 frame
//! header).

use bytes::{BufMut, Bytes, BytesMut};

/// Opus at 48 kHz, 20 ms per packet.
pub const OPUS_SAMPLES_PER_PACKET: u32 = 960;
/// VP8 at a 90 kHz clock and ~30 frames per second.
pub const VP8_TICKS_PER_FRAME: u32 = 3000;
/// Largest VP8 RTP payload (descriptor included) we produce.
pub const MAX_VP8_PAYLOAD: usize = 1100;
/// Size of our VP8 payload descriptor: X bit, I bit, 15-bit picture id.
const VP8_DESCRIPTOR_LEN: usize = 4;

/// A 20 ms Opus packet: TOC byte for CELT fullband 20 ms mono, one frame, then filler (about
/// 32 kbit/s).
pub fn opus_packet() -> Bytes {
    let mut buf = BytesMut::with_capacity(80);
    buf.put_u8(0xf8);
    buf.put_bytes(0xa5, 79);
    buf.freeze()
}

/// One synthetic VP8 frame split into RTP payloads (each carrying its own payload descriptor).
/// The caller sets the marker bit on the last one.
pub fn vp8_frame_payloads(picture_id: u16, keyframe: bool, frame_len: usize) -> Vec<Bytes> {
    vp8_payloads(picture_id, &vp8_frame(keyframe, frame_len))
}

/// An encoded VP8 frame split into RTP payloads of at most [`MAX_VP8_PAYLOAD`] bytes, each with
/// the RFC 7741 payload descriptor (X=1, S=1 on the first, partition 0, I=1 with a 15-bit
/// picture id). The caller sets the marker bit on the last one.
pub fn vp8_payloads(picture_id: u16, frame: &[u8]) -> Vec<Bytes> {
    let chunk = MAX_VP8_PAYLOAD - VP8_DESCRIPTOR_LEN;
    frame
        .chunks(chunk)
        .enumerate()
        .map(|(i, part)| {
            let mut buf = BytesMut::with_capacity(VP8_DESCRIPTOR_LEN + part.len());
            // X=1 (extensions present), N=0, S=1 only at the start of the frame, PID=0.
            buf.put_u8(if i == 0 { 0x90 } else { 0x80 });
            // I=1: a picture id follows.
            buf.put_u8(0x80);
            // M=1: 15-bit picture id.
            buf.put_u8(0x80 | ((picture_id >> 8) as u8 & 0x7f));
            buf.put_u8(picture_id as u8);
            buf.put_slice(part);
            buf.freeze()
        })
        .collect()
}

/// Whether an RTP payload starts a VP8 frame (S bit set, partition 0).
pub fn is_vp8_frame_start(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|b0| b0 & 0x10 != 0 && b0 & 0x07 == 0)
}

/// An encoded VP8 frame: the 3-byte frame tag, and for a keyframe the start code and a
/// 320x240 size, then filler standing in for the compressed data.
fn vp8_frame(keyframe: bool, frame_len: usize) -> Vec<u8> {
    let header_len = if keyframe { 10 } else { 3 };
    let frame_len = frame_len.max(header_len + 1);
    let first_partition = (frame_len - header_len).min(0x7ffff) as u32;
    // Frame tag (RFC 6386 §9.1): bit 0 is 0 for a key frame, bits 1-3 version, bit 4 show_frame,
    // bits 5-23 the size of the first partition.
    let tag = (first_partition << 5) | (1 << 4) | u32::from(!keyframe);
    let mut frame = Vec::with_capacity(frame_len);
    frame.extend_from_slice(&tag.to_le_bytes()[..3]);
    if keyframe {
        frame.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        frame.extend_from_slice(&320u16.to_le_bytes());
        frame.extend_from_slice(&240u16.to_le_bytes());
    }
    frame.resize(frame_len, 0x5a);
    frame
}

/// Whether an RTP payload starts a VP8 keyframe (S bit, partition 0, key-frame bit clear).
pub fn is_vp8_keyframe_start(payload: &[u8]) -> bool {
    let Some(&b0) = payload.first() else {
        return false;
    };
    let start = b0 & 0x10 != 0;
    let partition = b0 & 0x07;
    if !start || partition != 0 {
        return false;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = payload.get(i) else {
            return false;
        };
        i += 1;
        if x & 0x80 != 0 {
            let Some(&pic) = payload.get(i) else {
                return false;
            };
            i += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    payload.get(i).is_some_and(|b| b & 0x01 == 0)
}

/// The picture size (width, height) a VP8 keyframe's first RTP payload announces (RFC 6386
/// §9.1: after the 3-byte frame tag and the start code, 14 bits each, the top 2 bits being the
/// scaling); `None` for anything else.
pub fn vp8_keyframe_size(payload: &[u8]) -> Option<(u16, u16)> {
    if !is_vp8_keyframe_start(payload) {
        return None;
    }
    let start = vp8_descriptor_len(payload)?;
    let frame = payload.get(start..start + 10)?;
    if frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((width, height))
}

/// Length of an RTP payload's VP8 payload descriptor (RFC 7741 §4.2).
fn vp8_descriptor_len(payload: &[u8]) -> Option<usize> {
    let b0 = *payload.first()?;
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let x = *payload.get(i)?;
        i += 1;
        if x & 0x80 != 0 {
            let pic = *payload.get(i)?;
            i += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_has_start_code_and_size_and_is_recognised() {
        let payloads = vp8_frame_payloads(7, true, 3000);
        assert_eq!(payloads.len(), 3, "3000 bytes split at {MAX_VP8_PAYLOAD}");
        assert!(payloads.iter().all(|p| p.len() <= MAX_VP8_PAYLOAD));
        let first = &payloads[0];
        assert_eq!(first[0] & 0x10, 0x10, "S bit on the first packet");
        assert_eq!(payloads[1][0] & 0x10, 0, "no S bit on later packets");
        let frame = &first[VP8_DESCRIPTOR_LEN..];
        assert_eq!(frame[0] & 0x01, 0, "key-frame bit");
        assert_eq!(&frame[3..6], &[0x9d, 0x01, 0x2a], "start code");
        assert_eq!(u16::from_le_bytes([frame[6], frame[7]]), 320);
        assert_eq!(u16::from_le_bytes([frame[8], frame[9]]), 240);
        assert!(is_vp8_keyframe_start(first));
        assert!(!is_vp8_keyframe_start(&payloads[1]));
    }

    #[test]
    fn delta_frame_is_not_a_keyframe() {
        let payloads = vp8_frame_payloads(8, false, 800);
        assert_eq!(payloads.len(), 1);
        assert!(!is_vp8_keyframe_start(&payloads[0]));
        // Picture id is carried as 15 bits.
        let p = vp8_frame_payloads(0x1234, false, 10);
        assert_eq!(p[0][2], 0x80 | 0x12);
        assert_eq!(p[0][3], 0x34);
    }

    #[test]
    fn a_keyframe_announces_its_size() {
        let payloads = vp8_frame_payloads(7, true, 3000);
        assert_eq!(vp8_keyframe_size(&payloads[0]), Some((320, 240)));
        assert_eq!(vp8_keyframe_size(&payloads[1]), None);
        assert_eq!(
            vp8_keyframe_size(&vp8_frame_payloads(8, false, 800)[0]),
            None
        );
        assert_eq!(vp8_keyframe_size(&payloads[0][..8]), None, "cut short");
    }

    #[test]
    fn keyframe_detection_handles_short_descriptors() {
        assert!(!is_vp8_keyframe_start(&[]));
        assert!(!is_vp8_keyframe_start(&[0x90]));
        assert!(is_vp8_keyframe_start(&[0x10, 0x00]));
        assert!(!is_vp8_keyframe_start(&[0x10, 0x01]));
    }
}
