//! How a writer is set up: target path, tracks and the timing policies.

use std::path::PathBuf;
use std::time::Duration;

use crate::frame::Codec;
use crate::h264::ParameterSets;
use crate::interleave::REORDER_WINDOW;

/// Data reaches the disk (`sync_data`) at least this often, in session-clock time
/// of the frames written. Every write already goes straight to the OS (no user-space
/// buffer), so a killed process loses nothing written; this bounds what a power cut
/// or kernel crash can lose.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A video timestamp jump this large is treated like a loss: wait for a keyframe.
/// Generous because screen sharing legitimately sends a frame every few seconds;
/// callers that report every loss through `note_video_loss` can set `None`.
pub const MAX_VIDEO_GAP: Duration = Duration::from_secs(3);

/// Declared size of the video track when no keyframe has been seen by the time the
/// file header is written. Players take the real size from each VP8 keyframe.
pub const FALLBACK_VIDEO_SIZE: (u32, u32) = (640, 480);

/// With a video track, libwebm keeps audio frames in memory until the next video frame (so a
/// cluster can begin at a keyframe with its audio). When video has been silent this long (in
/// frame time: camera stopped, track gone, a slow screen share), the writer starts a cluster,
/// which puts the held audio on disk: a crash then loses at most this plus the reorder window.
pub const AUDIO_HOLD_LIMIT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct AudioConfig {
    pub codec: Codec,
    pub channels: u8,
    /// Samples (at 48 kHz) the decoder drops at the start; 0 for a WebRTC stream
    /// joined mid-way, the encoder's lookahead (often 312) for a fresh encoder.
    pub pre_skip: u16,
    /// The original input rate, informational only (OpusHead field).
    pub input_sample_rate: u32,
}

impl AudioConfig {
    /// Opus as WebRTC negotiates it: `opus/48000/2`.
    pub fn webrtc_opus() -> Self {
        AudioConfig {
            codec: Codec::Opus,
            channels: 2,
            pre_skip: 0,
            input_sample_rate: 48_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct VideoConfig {
    pub codec: Codec,
    /// H.264's sequence and picture parameter sets, needed before the first frame for the
    /// track header (take them from the first keyframe); `None` for VP8.
    pub h264: Option<ParameterSets>,
}

impl VideoConfig {
    pub fn vp8() -> Self {
        VideoConfig {
            codec: Codec::Vp8,
            h264: None,
        }
    }

    pub fn h264(parameter_sets: ParameterSets) -> Self {
        VideoConfig {
            codec: Codec::H264,
            h264: Some(parameter_sets),
        }
    }

    /// `webm` for VP8; `mkv` for H.264, which WebM does not allow.
    pub fn file_extension(&self) -> &'static str {
        match self.codec {
            Codec::H264 => "mkv",
            Codec::Vp8 | Codec::Opus => "webm",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Must not exist: it is created with `create_new`.
    pub path: PathBuf,
    pub audio: Option<AudioConfig>,
    pub video: Option<VideoConfig>,
    pub reorder_window: Duration,
    pub max_video_gap: Option<Duration>,
    pub sync_interval: Duration,
}

impl WriterConfig {
    /// VP8 + Opus with the default policies.
    pub fn vp8_opus(path: impl Into<PathBuf>) -> Self {
        WriterConfig {
            path: path.into(),
            audio: Some(AudioConfig::webrtc_opus()),
            video: Some(VideoConfig::vp8()),
            reorder_window: REORDER_WINDOW,
            max_video_gap: Some(MAX_VIDEO_GAP),
            sync_interval: SYNC_INTERVAL,
        }
    }

    /// H.264 (into Matroska) + Opus with the default policies.
    pub fn h264_opus(path: impl Into<PathBuf>, parameter_sets: ParameterSets) -> Self {
        WriterConfig {
            video: Some(VideoConfig::h264(parameter_sets)),
            ..WriterConfig::vp8_opus(path)
        }
    }
}
