//! What the caller hands the writer: one assembled, encoded frame.

use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Opus,
    Vp8,
    /// Annex-B access units, as the tap's `FrameAssembler` puts them together; written to
    /// Matroska (`.mkv`), since WebM allows only VP8/VP9/AV1 video.
    H264,
}

impl Codec {
    pub fn kind(self) -> Kind {
        match self {
            Codec::Opus => Kind::Audio,
            Codec::Vp8 | Codec::H264 => Kind::Video,
        }
    }
}

/// One complete encoded frame (a jitter buffer in front assembled it from RTP).
#[derive(Debug, Clone)]
pub struct Frame {
    pub codec: Codec,
    /// Presentation time on the session clock shared by every participant (the caller
    /// maps RTP time through RTCP sender reports onto it), so files line up.
    pub timestamp: Duration,
    /// The caller's keyframe flag. The bitstream decides (VP8's frame tag, an H.264 IDR),
    /// since writing a delta frame as a keyframe would corrupt the file.
    pub keyframe: bool,
    pub data: Arc<[u8]>,
}

impl Frame {
    pub fn audio(codec: Codec, timestamp: Duration, data: Arc<[u8]>) -> Self {
        Frame {
            codec,
            timestamp,
            keyframe: true,
            data,
        }
    }

    pub fn video(codec: Codec, timestamp: Duration, keyframe: bool, data: Arc<[u8]>) -> Self {
        Frame {
            codec,
            timestamp,
            keyframe,
            data,
        }
    }
}
