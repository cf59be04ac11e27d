//! Concord's recorder: one participant's assembled frames into one file (VP8 + Opus into
//! WebM, H.264 + Opus into Matroska), written incrementally so a crash loses at most the last
//! moments and leaves a playable file. No HTTP, no database, no SFU internals: frames in, file
//! and [`Summary`] out.
//!
//! ```text
//! Frame ─▶ video keyframe gate ─▶ reorder buffer (300 ms) ─▶ libwebm ─▶ file (create_new)
//!            (drops + needs_keyframe)   (non-decreasing time)          (sync_data each 1 s)
//! ```
//!
//! libwebm is the copy the `webm-sys` crate compiles; `cpp/mkv.cc` is our own small binding to
//! its muxer (any codec id, `ForceNewClusterOnNextFrame`), which `build.rs` compiles.
//!
//! # libwebm behaviour worth knowing (measured, see `tests/`)
//! - It rejects any frame older than the last written on any track: hence the
//!   reorder buffer ([`REORDER_WINDOW`]); later frames are dropped as late.
//! - In a segment with a video track it keeps audio frames in memory until the next
//!   video frame (so clusters can start at a video keyframe with their audio). When video
//!   is silent for [`AUDIO_HOLD_LIMIT`] (camera stopped, track gone) the writer forces a new
//!   cluster, which writes the held audio: `tests/crash.rs` kills a writer whose camera
//!   stopped and measures the loss.
//! - Block data is written as frames are added; the segment and the open cluster
//!   keep "unknown" sizes until `finish`, which readers accept, so a killed
//!   recording plays. Its header `Duration` is a placeholder (ffprobe: 0.001 s)
//!   until `finish`: [`recorded_duration`] reads an interrupted file's length from its
//!   packets.
//! - H.264 goes in as `V_MPEG4/ISO/AVC`: length-prefixed NAL units, the first keyframe's
//!   parameter sets as CodecPrivate ([`ParameterSets`]); libwebm then writes DocType
//!   `matroska`.

mod composite;
mod config;
mod error;
mod frame;
#[cfg(test)]
mod fuzz;
mod h264;
mod hash;
mod interleave;
mod mux;
mod opus;
mod probe;
mod session;
mod sink;
mod summary;
mod vp8;
mod writer;

pub use composite::{compose, ffmpeg_args, CompositeInput};
pub use config::{
    AudioConfig, VideoConfig, WriterConfig, AUDIO_HOLD_LIMIT, FALLBACK_VIDEO_SIZE, MAX_VIDEO_GAP,
    SYNC_INTERVAL,
};
pub use error::Error;
pub use frame::{Codec, Frame, Kind};
pub use h264::{
    nal_units as h264_nal_units, parse as parse_h264_header, H264Header, ParameterSets,
};
pub use hash::{sha256_file, to_hex};
pub use interleave::{MAX_QUEUED, REORDER_WINDOW};
pub use probe::recorded_duration;
pub use session::{start, FileNamer, RecorderConfig, RecorderEvent, RecorderHandle};
pub use summary::{Drops, ResolutionChange, Stats, Summary};
pub use vp8::{parse as parse_vp8_header, Vp8Header};
pub use writer::{DropReason, ParticipantWriter, Pushed};
