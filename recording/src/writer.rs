//! One participant's recording: frames in, one WebM (VP8) or Matroska (H.264) file out,
//! written as they come.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{WriterConfig, AUDIO_HOLD_LIMIT, FALLBACK_VIDEO_SIZE};
use crate::frame::{Codec, Frame, Kind};
use crate::h264::{self, H264Header};
use crate::interleave::Interleaver;
use crate::mux::{Muxer, VideoTrack};
use crate::sink;
use crate::summary::{ResolutionChange, Stats, Summary};
use crate::vp8::{self, Vp8Header};
use crate::{hash, Error};

/// What libwebm wrote reaches the kernel at least this often (session-clock time): it is
/// buffered because libwebm writes about eight small elements per frame, and `kill -9` loses
/// at most this much of what the muxer already released.
const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

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

/// What a video frame's bitstream says, whatever the codec.
enum VideoHeader {
    /// `size` when the frame carries it (every VP8 keyframe; an H.264 IDR with its SPS).
    Key {
        size: Option<(u16, u16)>,
    },
    Inter,
}

fn video_header(codec: Codec, data: &[u8]) -> Option<VideoHeader> {
    match codec {
        Codec::Vp8 => vp8::parse(data).map(|h| match h {
            Vp8Header::Key { width, height } => VideoHeader::Key {
                size: Some((width, height)),
            },
            Vp8Header::Inter => VideoHeader::Inter,
        }),
        Codec::H264 => h264::parse(data).map(|h| match h {
            H264Header::Key { size } => VideoHeader::Key { size },
            H264Header::Inter => VideoHeader::Inter,
        }),
        Codec::Opus => None,
    }
}

enum MuxState {
    /// The header waits for the first frame to leave the reorder buffer, so the
    /// first keyframe's size can be declared.
    NotStarted(File),
    Running(Muxer),
    /// After an error or `finish`.
    Gone,
}

/// Writes one participant's audio and video to a new WebM/Matroska file, incrementally.
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
    last_flush: Option<Duration>,
    declared_video_size: Option<(u32, u32)>,
    /// Session time of the first audio frame libwebm may be holding back for video.
    audio_held_since: Option<Duration>,
    stats: Stats,
}

impl ParticipantWriter {
    /// Creates the file (never overwriting anything) and checks the configuration.
    pub fn create(config: WriterConfig) -> Result<Self, Error> {
        if let Some(v) = &config.video {
            match (v.codec, &v.h264) {
                (Codec::Vp8, _) => {}
                (Codec::H264, Some(parameter_sets)) => {
                    parameter_sets.decoder_configuration()?;
                }
                (Codec::H264, None) => {
                    return Err(Error::Invalid(
                        "H.264 needs its parameter sets before the first frame".into(),
                    ))
                }
                (Codec::Opus, _) => return Err(Error::Invalid("Opus as a video codec".into())),
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
            last_flush: None,
            declared_video_size: None,
            audio_held_since: None,
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
        let data = match frame.codec {
            // Matroska keeps H.264 as length-prefixed NAL units, not Annex-B.
            Codec::H264 => Arc::from(h264::to_length_prefixed(&frame.data)?),
            Codec::Vp8 | Codec::Opus => frame.data,
        };
        let queued = Queued { kind, key, data };
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
        let Some(header) = video_header(frame.codec, &frame.data) else {
            self.stats.dropped.corrupt += 1;
            self.video.broken = true;
            return Err(DropReason::Corrupt);
        };
        match header {
            VideoHeader::Inter if !self.video.started => {
                self.stats.dropped.leading += 1;
                Err(DropReason::Leading)
            }
            VideoHeader::Inter if self.video.broken => {
                self.stats.dropped.after_loss += 1;
                Err(DropReason::AfterLoss)
            }
            VideoHeader::Inter => Ok(false),
            VideoHeader::Key { size } => {
                self.video.started = true;
                self.video.broken = false;
                match size {
                    // Keep writing: keyframes carry their size (VP8's header, H.264's
                    // in-band SPS) and decoders follow.
                    Some((width, height)) if self.video.size != Some((width, height)) => {
                        self.video.size = Some((width, height));
                        self.stats
                            .resolutions
                            .push(ResolutionChange { at, width, height });
                    }
                    _ => {}
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
            MuxState::NotStarted(file) => {
                let video = match &self.config.video {
                    Some(v) => {
                        let parameter_sets = v.h264.as_ref();
                        // The muxer wants a size up front: the first keyframe's (already
                        // seen, since frames wait in the reorder buffer), the SPS's, or a
                        // fallback. Later changes are carried by the keyframes themselves.
                        let (width, height) = self
                            .video
                            .size
                            .or_else(|| parameter_sets.and_then(|p| p.size()))
                            .map_or(FALLBACK_VIDEO_SIZE, |(w, h)| (u32::from(w), u32::from(h)));
                        let codec_private = match parameter_sets {
                            Some(p) => p.decoder_configuration()?,
                            None => Vec::new(),
                        };
                        Some(VideoTrack {
                            codec: v.codec,
                            width,
                            height,
                            codec_private,
                        })
                    }
                    None => None,
                };
                self.declared_video_size = video.as_ref().map(|v| (v.width, v.height));
                MuxState::Running(Muxer::start(
                    file,
                    &self.config.path,
                    self.config.audio.as_ref(),
                    video.as_ref(),
                )?)
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
        if self.config.video.is_some() {
            match q.kind {
                // libwebm writes the audio it held before this frame.
                Kind::Video => self.audio_held_since = None,
                Kind::Audio => match self.audio_held_since {
                    Some(since) if at.saturating_sub(since) >= AUDIO_HOLD_LIMIT => {
                        muxer.force_new_cluster();
                        self.audio_held_since = None;
                    }
                    Some(_) => {}
                    None => self.audio_held_since = Some(at),
                },
            }
        }
        muxer.write(q.kind, &q.data, ns, q.key)?;
        match q.kind {
            Kind::Audio => self.stats.audio_frames += 1,
            Kind::Video => self.stats.video_frames += 1,
        }
        self.last_written = Some(at);
        let sync_due = self
            .last_sync
            .is_none_or(|s| at.saturating_sub(s) >= self.config.sync_interval);
        if sync_due
            || self
                .last_flush
                .is_none_or(|f| at.saturating_sub(f) >= FLUSH_INTERVAL)
        {
            muxer.flush()?;
            self.last_flush = Some(at);
        }
        if sync_due {
            self.sync
                .sync_data()
                .map_err(|e| Error::io(&self.config.path, e))?;
            self.last_sync = Some(at);
        }
        Ok(())
    }
}
