//! One participant's recording: frames in, one WebM file out, written as they come.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{WriterConfig, FALLBACK_VIDEO_SIZE};
use crate::frame::{Codec, Frame, Kind};
use crate::interleave::Interleaver;
use crate::mux::Muxer;
use crate::sink::{self, FileSink};
use crate::summary::{ResolutionChange, Stats, Summary};
use crate::vp8::{self, Vp8Header};
use crate::{hash, Error};

/// What happened to a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Pushed {
    /// Waiting in the reorder buffer or already written.
    Queued,
    Dropped(DropReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Late,
    /// Delta frame before the first keyframe.
    Leading,
    /// Delta frame after a loss.
    AfterLoss,
    Corrupt,
}

struct Queued {
    kind: Kind,
    key: bool,
    data: Arc<[u8]>,
}

/// The keyframe discipline of the video track: a delta frame is only decodable if
/// every frame since the last keyframe was written, so after any hole we write
/// nothing until a keyframe comes (and tell the caller to ask for one).
#[derive(Default)]
struct VideoGate {
    started: bool,
    broken: bool,
    last_arrival: Option<Duration>,
    size: Option<(u16, u16)>,
}

impl VideoGate {
    fn needs_keyframe(&self) -> bool {
        !self.started || self.broken
    }
}

enum MuxState {
    /// The header waits for the first frame to leave the reorder buffer, so the
    /// first keyframe's size can be declared.
    NotStarted(FileSink),
    Running(Muxer),
    /// After an error or `finish`.
    Gone,
}

/// Writes one participant's audio and video to a new WebM file, incrementally.
///
/// Sans-IO in time: it never reads a clock. Frames carry session-clock timestamps and
/// [`advance`](Self::advance) tells it the time when no frame comes. It does block on
/// disk writes, so run it on a blocking thread or a task of its own, never on the
/// room's task.
pub struct ParticipantWriter {
    config: WriterConfig,
    state: MuxState,
    sync: File,
    queue: Interleaver<Queued>,
    video: VideoGate,
    /// Session time of the first frame written: the file's zero.
    origin: Option<Duration>,
    last_written: Option<Duration>,
    last_sync: Option<Duration>,
    declared_video_size: Option<(u32, u32)>,
    stats: Stats,
}

impl ParticipantWriter {
    /// Creates the file (never overwriting anything) and checks the configuration.
    pub fn create(config: WriterConfig) -> Result<Self, Error> {
        if let Some(v) = &config.video {
            if v.codec != Codec::Vp8 {
                return Err(Error::Unsupported(format!(
                    "{:?} video: the webm muxer has VP8/VP9/AV1 tracks only",
                    v.codec
                )));
            }
        }
        if let Some(a) = &config.audio {
            // Validate before touching the disk: a rejected configuration leaves no file.
            crate::opus::opus_head(a.channels, a.pre_skip, a.input_sample_rate)?;
            if a.codec != Codec::Opus {
                return Err(Error::Unsupported(format!("{:?} audio", a.codec)));
            }
        }
        if config.audio.is_none() && config.video.is_none() {
            return Err(Error::Invalid(
                "a recording needs at least one track".into(),
            ));
        }
        let (sink, sync) = sink::create_new(&config.path)?;
        Ok(ParticipantWriter {
            queue: Interleaver::new(config.reorder_window),
            config,
            state: MuxState::NotStarted(sink),
            sync,
            video: VideoGate::default(),
            origin: None,
            last_written: None,
            last_sync: None,
            declared_video_size: None,
            stats: Stats::default(),
        })
    }

    /// Takes one frame. Frames of one track must come in their own order; audio and
    /// video may be skewed by up to the reorder window.
    pub fn push(&mut self, frame: Frame) -> Result<Pushed, Error> {
        self.check_usable()?;
        let kind = frame.codec.kind();
        let expected = match kind {
            Kind::Audio => self.config.audio.as_ref().map(|a| a.codec),
            Kind::Video => self.config.video.as_ref().map(|v| v.codec),
        };
        if expected != Some(frame.codec) {
            return Err(Error::Invalid(format!(
                "{:?} frame for a writer configured with {expected:?}",
                frame.codec
            )));
        }
        let key = match kind {
            // Every Opus packet decodes on its own.
            Kind::Audio => true,
            Kind::Video => match self.gate_video(&frame) {
                Ok(key) => key,
                Err(reason) => return Ok(Pushed::Dropped(reason)),
            },
        };
        let queued = Queued {
            kind,
            key,
            data: frame.data,
        };
        if self.queue.push(frame.timestamp, queued).is_err() {
            self.stats.dropped.late += 1;
            if kind == Kind::Video {
                // Its successors reference it: they are undecodable until a keyframe.
                self.video.broken = true;
            }
            return Ok(Pushed::Dropped(DropReason::Late));
        }
        self.write_due()?;
        Ok(Pushed::Queued)
    }

    /// The caller lost a video frame (an RTP gap its jitter buffer gave up on). Delta
    /// frames are dropped until the next keyframe; [`needs_keyframe`](Self::needs_keyframe)
    /// turns true.
    pub fn note_video_loss(&mut self) {
        self.video.broken = true;
    }

    /// True while video is configured and waiting for a keyframe (at the start or
    /// after a loss): the caller should ask the publisher for one (PLI), throttled.
    pub fn needs_keyframe(&self) -> bool {
        self.config.video.is_some() && self.video.needs_keyframe()
    }

    /// Tells the writer the session time has reached `now`, writing frames whose
    /// reorder wait is over even when no new frame arrives (e.g. muted audio).
    pub fn advance(&mut self, now: Duration) -> Result<(), Error> {
        self.check_usable()?;
        self.queue.advance(now);
        self.write_due()
    }

    /// Session time of the last frame handed to the muxer (and so to the OS).
    pub fn written_until(&self) -> Option<Duration> {
        self.last_written
    }

    /// Frames waiting in the reorder buffer (in memory, lost on a crash).
    pub fn queued_frames(&self) -> usize {
        self.queue.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Writes what is queued, finalizes the file (cues, duration: seekable), syncs it
    /// and hashes it. Blocking: reads the whole file back for the SHA-256.
    pub fn finish(mut self) -> Result<Summary, Error> {
        self.check_usable()?;
        while let Some((at, q)) = self.queue.pop_any() {
            self.write_frame(at, q)?;
        }
        let path = self.config.path.clone();
        match std::mem::replace(&mut self.state, MuxState::Gone) {
            MuxState::Running(muxer) => {
                muxer.finish()?;
            }
            // No frame ever written: libwebm cannot finalize an empty segment, and the
            // file stays empty. The summary says so (no start, zero frames).
            MuxState::NotStarted(_) | MuxState::Gone => {}
        }
        self.sync.sync_all().map_err(|e| Error::io(&path, e))?;
        let (sha256, bytes) = hash::sha256_file(&path)?;
        let duration = match (self.origin, self.last_written) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        };
        Ok(Summary {
            path,
            start: self.origin,
            end: self.last_written,
            duration,
            audio_frames: self.stats.audio_frames,
            video_frames: self.stats.video_frames,
            dropped: self.stats.dropped,
            resolutions: std::mem::take(&mut self.stats.resolutions),
            declared_video_size: self.declared_video_size,
            bytes,
            sha256,
        })
    }

    fn check_usable(&self) -> Result<(), Error> {
        match self.state {
            MuxState::Gone => Err(Error::Poisoned),
            _ => Ok(()),
        }
    }

    /// Applies the keyframe discipline at arrival. Returns the keyframe flag to write,
    /// or why the frame is dropped.
    fn gate_video(&mut self, frame: &Frame) -> Result<bool, DropReason> {
        let at = frame.timestamp;
        let previous = self.video.last_arrival.replace(at);
        if let Some(prev) = previous {
            let backwards = at < prev;
            let jump = self
                .config
                .max_video_gap
                .is_some_and(|gap| at.saturating_sub(prev) > gap);
            if backwards || jump {
                self.video.broken = true;
            }
        }
        let header = match frame.codec {
            Codec::Vp8 => vp8::parse(&frame.data),
            Codec::Opus | Codec::H264 => None,
        };
        let Some(header) = header else {
            self.stats.dropped.corrupt += 1;
            self.video.broken = true;
            return Err(DropReason::Corrupt);
        };
        match header {
            Vp8Header::Inter if !self.video.started => {
                self.stats.dropped.leading += 1;
                Err(DropReason::Leading)
            }
            Vp8Header::Inter if self.video.broken => {
                self.stats.dropped.after_loss += 1;
                Err(DropReason::AfterLoss)
            }
            Vp8Header::Inter => Ok(false),
            Vp8Header::Key { width, height } => {
                self.video.started = true;
                self.video.broken = false;
                if self.video.size != Some((width, height)) {
                    // Keep writing: VP8 keyframes carry their size and decoders follow.
                    self.video.size = Some((width, height));
                    self.stats
                        .resolutions
                        .push(ResolutionChange { at, width, height });
                }
                Ok(true)
            }
        }
    }

    fn write_due(&mut self) -> Result<(), Error> {
        while let Some((at, q)) = self.queue.pop_due() {
            self.write_frame(at, q)?;
        }
        Ok(())
    }

    fn write_frame(&mut self, at: Duration, q: Queued) -> Result<(), Error> {
        let result = self.try_write_frame(at, q);
        if result.is_err() {
            // Poison: libwebm's state after a failed write is unknown.
            self.state = MuxState::Gone;
        }
        result
    }

    fn try_write_frame(&mut self, at: Duration, q: Queued) -> Result<(), Error> {
        // On error the state stays `Gone`: the writer is poisoned.
        self.state = match std::mem::replace(&mut self.state, MuxState::Gone) {
            MuxState::NotStarted(sink) => {
                let video_size = self.config.video.as_ref().map(|_| {
                    // The muxer wants a size up front: the first keyframe's (already
                    // seen, since frames wait in the reorder buffer) or a fallback.
                    // Later changes are carried by the keyframes themselves.
                    self.video
                        .size
                        .map_or(FALLBACK_VIDEO_SIZE, |(w, h)| (u32::from(w), u32::from(h)))
                });
                self.declared_video_size = video_size;
                MuxState::Running(Muxer::start(sink, self.config.audio.as_ref(), video_size)?)
            }
            other => other,
        };
        let MuxState::Running(muxer) = &mut self.state else {
            return Err(Error::Poisoned);
        };
        let origin = *self.origin.get_or_insert(at);
        // The interleaver releases in non-decreasing order, so `at >= origin`.
        let rel = at.saturating_sub(origin);
        let ns = u64::try_from(rel.as_nanos())
            .map_err(|_| Error::Invalid("timestamp beyond 584 years".into()))?;
        muxer.write(q.kind, &q.data, ns, q.key)?;
        match q.kind {
            Kind::Audio => self.stats.audio_frames += 1,
            Kind::Video => self.stats.video_frames += 1,
        }
        self.last_written = Some(at);
        if self
            .last_sync
            .is_none_or(|s| at.saturating_sub(s) >= self.config.sync_interval)
        {
            self.sync
                .sync_data()
                .map_err(|e| Error::io(&self.config.path, e))?;
            self.last_sync = Some(at);
        }
        Ok(())
    }
}
