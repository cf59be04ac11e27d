//! Just enough of the VP8 bitstream (RFC 6386 §9.1) to know whether a frame is a
//! keyframe and, if so, its size. The size is not needed to mux, but a change of
//! resolution must be noticed and reported.

/// A VP8 keyframe starts with a 3-byte frame tag, the start code and 2+2 bytes of size.
const KEYFRAME_HEADER_LEN: usize = 10;
const START_CODE: [u8; 3] = [0x9d, 0x01, 0x2a];

/// What the first bytes of a VP8 frame say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vp8Header {
    Key { width: u16, height: u16 },
    Inter,
}

/// Parses the frame tag. `None` for input too short or a keyframe without the start
/// code: such a frame is corrupt and must not be written as a keyframe.
pub fn parse(frame: &[u8]) -> Option<Vp8Header> {
    let tag = *frame.first()?;
    // Bit 0 of the frame tag is the frame type, 0 meaning keyframe.
    if tag & 1 == 1 {
        return Some(Vp8Header::Inter);
    }
    if frame.len() < KEYFRAME_HEADER_LEN || frame[3..6] != START_CODE {
        return None;
    }
    // The top two bits of each 16-bit field are a scaling mode, not part of the size.
    let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    if width == 0 || height == 0 {
        return None;
    }
    Some(Vp8Header::Key { width, height })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_size_is_read_without_scaling_bits() {
        // 640x480 with horizontal scale bits set (0b01 << 14).
        let w = 640u16 | (1 << 14);
        let h = 480u16;
        let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
        f.extend_from_slice(&w.to_le_bytes());
        f.extend_from_slice(&h.to_le_bytes());
        assert_eq!(
            parse(&f),
            Some(Vp8Header::Key {
                width: 640,
                height: 480
            })
        );
    }

    #[test]
    fn inter_frame_and_garbage() {
        assert_eq!(parse(&[0x31, 0, 0]), Some(Vp8Header::Inter));
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x10, 0x02, 0x00, 0, 0, 0, 1, 0, 1, 0]), None);
        assert_eq!(parse(&[0x10, 0x02]), None);
    }
}
