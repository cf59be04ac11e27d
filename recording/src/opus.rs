//! The Opus identification header ("OpusHead", RFC 7845 §5.1), which Matroska
//! stores as the audio track's CodecPrivate. Without it players cannot know the
//! channel count and pre-skip and ffmpeg refuses the track.

use crate::Error;

/// Opus in Matroska is always timed at 48 kHz, whatever the encoder's input rate.
pub const OPUS_CLOCK_RATE: u32 = 48_000;

/// Builds the 19-byte OpusHead for mapping family 0 (mono or stereo, which is what
/// WebRTC sends). More channels would need a mapping table: rejected.
pub fn opus_head(channels: u8, pre_skip: u16, input_sample_rate: u32) -> Result<Vec<u8>, Error> {
    if !(1..=2).contains(&channels) {
        return Err(Error::Unsupported(format!(
            "Opus with {channels} channels (only mono/stereo, mapping family 0)"
        )));
    }
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(channels);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&input_sample_rate.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // channel mapping family
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_layout_matches_rfc7845() {
        let h = opus_head(2, 312, 48_000).expect("stereo is supported");
        assert_eq!(h.len(), 19);
        assert_eq!(&h[..8], b"OpusHead");
        assert_eq!(h[9], 2);
        assert_eq!(u16::from_le_bytes([h[10], h[11]]), 312);
        assert_eq!(u32::from_le_bytes([h[12], h[13], h[14], h[15]]), 48_000);
    }

    #[test]
    fn surround_is_rejected() {
        assert!(matches!(
            opus_head(6, 0, 48_000),
            Err(Error::Unsupported(_))
        ));
    }
}
