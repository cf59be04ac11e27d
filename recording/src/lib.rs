//! Concord's recorder: one participant's assembled VP8/Opus frames into one WebM file,
//! written incrementally so a crash loses at most the last moments and leaves a
//! playable file. No HTTP, no database, no SFU internals: frames in, file and
//! [`Summary`] out.
//!
//! ```text
//! Frame ─▶ video keyframe gate ─▶ reorder buffer (300 ms) ─▶ libwebm ─▶ file (create_new)
//!            (drops + needs_keyframe)   (non-decreasing time)          (sync_data each 1 s)
//! ```
//!
//! # libwebm behaviour worth knowing (measured, see `tests/`)
//! - It rejects any frame older than the last written on any track: hence the
//!   reorder buffer ([`REORDER_WINDOW`]); later frames are dropped as late.
//! - In a segment with a video track it keeps audio frames in memory until the next
//!   video frame. While video is silent (camera stopped, track gone) audio is not on
//!   disk, and a crash loses it (up to ~33 s once a cluster exists, everything if
//!   video never started). `tests/muxing.rs` pins this. The `webm` crate exposes
//!   neither `Segment::ForceNewClusterOnNextFrame` (which would flush that queue) nor
//!   the cluster length; clusters start at each video keyframe or after 30 s.
//! - Block data is written as frames are added; the segment and the open cluster
//!   keep "unknown" sizes until `finish`, which readers accept, so a killed
//!   recording plays. Its header `Duration` is a placeholder (ffprobe: 0.001 s)
//!   until `finish`: take an interrupted file's length from its packets or remux it
//!   (`ffmpeg -i in.webm -c copy out.webm`).
//! - No H.264 track type: [`Codec::H264`] is refused with [`Error::Unsupported`].

mod composite;
mod config;
mod error;
mod frame;
mod hash;
mod interleave;
mod mux;
mod opus;
mod session;
mod sink;
mod summary;
mod vp8;
mod writer;

pub use composite::{compose, ffmpeg_args, CompositeInput};
pub use config::{
    AudioConfig, VideoConfig, WriterConfig, FALLBACK_VIDEO_SIZE, MAX_VIDEO_GAP, SYNC_INTERVAL,
};
pub use error::Error;
pub use frame::{Codec, Frame, Kind};
pub use hash::{sha256_file, to_hex};
pub use interleave::{MAX_QUEUED, REORDER_WINDOW};
pub use session::{start, FileNamer, RecorderConfig, RecorderEvent, RecorderHandle};
pub use summary::{Drops, ResolutionChange, Stats, Summary};
pub use vp8::{parse as parse_vp8_header, Vp8Header};
pub use writer::{DropReason, ParticipantWriter, Pushed};
