//! What a finished recording reports about itself.

use std::path::PathBuf;
use std::time::Duration;

/// Frames not written, by cause. Every drop is counted, never silent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Arrived after a later frame had been written (reorder window exceeded).
    pub late: u64,
    /// Video delta frames before the first keyframe.
    pub leading: u64,
    /// Video delta frames after a loss, waiting for the next keyframe.
    pub after_loss: u64,
    /// Frames whose bitstream header could not be parsed.
    pub corrupt: u64,
}

impl Drops {
    pub fn total(&self) -> u64 {
        self.late + self.leading + self.after_loss + self.corrupt
    }
}

/// A keyframe with a size different from the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolutionChange {
    /// Session-clock time of the keyframe.
    pub at: Duration,
    pub width: u16,
    pub height: u16,
}

/// Counters kept while writing; `finish` turns them into a [`Summary`].
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub audio_frames: u64,
    pub video_frames: u64,
    pub dropped: Drops,
    /// The first entry is the initial size, then one per change.
    pub resolutions: Vec<ResolutionChange>,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub path: PathBuf,
    /// Session-clock time of the first frame written; the file's time 0. Aligning
    /// participants means offsetting each file by this.
    pub start: Option<Duration>,
    /// Session-clock time of the last frame written.
    pub end: Option<Duration>,
    /// `end - start` (the last frame's own length is not included).
    pub duration: Duration,
    pub audio_frames: u64,
    pub video_frames: u64,
    pub dropped: Drops,
    /// Initial size first, then every change.
    pub resolutions: Vec<ResolutionChange>,
    /// Size declared in the track header (the first keyframe's, or the fallback).
    pub declared_video_size: Option<(u32, u32)>,
    pub bytes: u64,
    pub sha256: [u8; 32],
}

impl Summary {
    pub fn sha256_hex(&self) -> String {
        crate::hash::to_hex(&self.sha256)
    }

    /// Number of resolution changes after the initial size.
    pub fn resolution_changes(&self) -> usize {
        self.resolutions.len().saturating_sub(1)
    }
}
