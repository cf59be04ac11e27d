//! Recording a whole session: consumes a room's tap and writes one file per participant.
//!
//! ```text
//! room tap ──packets──▶ feeder task ──batches (bounded)──▶ writer thread
//!                                                          FrameAssembler: packets → frames
//!                                                          ├─▶ ParticipantWriter per participant
//!                                                          └─▶ RecorderEvent (files opened/closed,
//!                                                              keyframes wanted)
//! ```
//!
//! The feeder never blocks the room (the tap is bounded and drops) and never blocks on disk
//! (the writer thread's queue is bounded too: a batch it cannot take is dropped, the assembler
//! finds those packets missing and the participant's video waits for a keyframe). Frames are
//! assembled, and files written, only on the writer thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use concord_sfu::{FrameAssembler, SenderReport, TapCodec, TapEvent, TapKind, TappedFrame};
use tokio::sync::{mpsc, oneshot};

use crate::config::{VideoConfig, WriterConfig};
use crate::error::Error;
use crate::frame::{Codec, Frame};
use crate::h264::ParameterSets;
use crate::summary::Summary;
use crate::writer::ParticipantWriter;

/// Batches waiting for the writer thread. Past this the feeder drops (disk is behind).
const WRITER_QUEUE: usize = 64;
/// The feeder collects what the tap brought this often and hands it over as one batch. Waking
/// a task and a thread for every packet cost more CPU than writing it; a batch delays
/// the file by at most this, well inside what a crash may lose.
const BATCH_INTERVAL: Duration = Duration::from_millis(50);
/// How often the writer thread releases buffered frames when no packet arrives.
const IDLE_ADVANCE: Duration = Duration::from_millis(200);
/// A participant without video by this long after their first frame is recorded audio-only
/// (their camera may still come on: the file then changes).
const AUDIO_ONLY_AFTER: Duration = Duration::from_secs(2);
/// A participant is asked for a keyframe at most this often.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// What the recorder reports to whoever files its results.
#[derive(Debug)]
pub enum RecorderEvent {
    FileOpened {
        participant: String,
        path: PathBuf,
        at: SystemTime,
    },
    FileClosed {
        participant: String,
        path: PathBuf,
        at: SystemTime,
        result: Result<Summary, String>,
    },
    /// The participant's video cannot continue without a keyframe.
    KeyframeWanted { participant: String },
    /// The recording has ended; `error` says why if it was not asked to stop (disk full, an
    /// unwritable directory). Every file was closed before this.
    Stopped { error: Option<String> },
}

/// Names a participant's file (without extension), e.g. from their display name.
pub type FileNamer = Box<dyn Fn(&str) -> String + Send>;

pub struct RecorderConfig {
    /// The directory for this recording's files; created if missing.
    pub dir: PathBuf,
    /// Time zero of the session clock all files share.
    pub started: Instant,
    pub file_name: FileNamer,
}

/// A running recording. Dropping it without [`stop`](Self::stop) also stops it.
pub struct RecorderHandle {
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl RecorderHandle {
    /// Stops recording and waits until every file is finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

/// Starts recording what `tap` carries.
pub fn start(
    config: RecorderConfig,
    mut tap: mpsc::Receiver<TapEvent>,
    events: mpsc::Sender<RecorderEvent>,
) -> RecorderHandle {
    let (stop_tx, mut stop_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let (batches_tx, batches_rx) = std_mpsc::sync_channel(WRITER_QUEUE);
    let writer_events = events.clone();
    let thread = std::thread::Builder::new()
        .name("recorder".to_owned())
        .spawn(move || WriterThread::new(config, writer_events).run(batches_rx));
    if let Err(error) = thread {
        let _ = events.try_send(RecorderEvent::Stopped {
            error: Some(format!("could not start the recorder thread: {error}")),
        });
        let _ = done_tx.send(());
        return RecorderHandle {
            stop: Some(stop_tx),
            done: Some(done_rx),
        };
    }
    tokio::spawn(async move {
        // Departures from a batch the writer could not take: they go with the next one.
        let mut carried: Vec<TapEvent> = Vec::new();
        let mut tick = tokio::time::interval(BATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Not woken by each packet: the tap's queue holds them until the next tick.
            let stopping = tokio::select! {
                _ = &mut stop_rx => true,
                _ = tick.tick() => false,
            };
            let mut batch = std::mem::take(&mut carried);
            let tap_open = loop {
                match tap.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(mpsc::error::TryRecvError::Empty) => break true,
                    Err(mpsc::error::TryRecvError::Disconnected) => break false,
                }
            };
            if !batch.is_empty() {
                match batches_tx.try_send(batch) {
                    Ok(()) => {}
                    // The disk is behind: the packets are lost like packets on the network
                    // (the assembler sees them missing), but who left must still be told.
                    Err(std_mpsc::TrySendError::Full(batch)) => {
                        carried = batch
                            .into_iter()
                            .filter(|event| matches!(event, TapEvent::PublisherLeft { .. }))
                            .collect();
                    }
                    // The writer thread stopped (a disk error): nothing more to do.
                    Err(std_mpsc::TrySendError::Disconnected(_)) => break,
                }
            }
            // Stopped: what the tap had handed over is written, then every file finished.
            if stopping || !tap_open {
                break;
            }
        }
        // Closing the queue tells the writer thread to finish every file.
        drop(batches_tx);
        drop(tap);
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(thread) = thread {
                let _ = thread.join();
            }
        })
        .await;
        let _ = done_tx.send(());
    });
    RecorderHandle {
        stop: Some(stop_tx),
        done: Some(done_rx),
    }
}

/// Maps one track's RTP time onto the session clock: placed once, at its first frame, then
/// following RTP time (which does not jitter like arrivals or drift like repeated sender-report
/// mappings would).
struct Anchor {
    rtp: u64,
    at: Duration,
    clock_rate: u64,
    /// The last timestamp given: WebM keeps whole milliseconds and a stream's must increase.
    last: Option<Duration>,
}

/// The smallest step between two frames of one stream that the container keeps apart.
const MIN_STEP: Duration = Duration::from_millis(1);
/// How far a frame's media time may stray from its arrival before the track is placed again at
/// its arrival: a publisher's RTP clock that jumps (a broken or hostile stream) would otherwise
/// put frames days away, and the file and the composite would claim that length.
const MAX_CLOCK_STRAY: Duration = Duration::from_secs(10);
/// Codec changes that open a new file per participant while they stay (a renegotiation to
/// H.264 and back is one too many): a publisher alternating codecs would otherwise open a file
/// (and a row) per keyframe. Video in yet another codec is left out of the recording until the
/// participant leaves and comes back.
const CODEC_CHANGES_PER_STAY: u32 = 1;

/// `ticks` at `clock_rate` as a duration.
fn ticks(ticks: u64, clock_rate: u64) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(clock_rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// When the publisher captured `rtp_time`, by its own clock, from a sender report.
fn sender_time(report: &SenderReport, rtp_time: u64, clock_rate: u64) -> SystemTime {
    if rtp_time >= report.rtp_time {
        report.ntp_time + ticks(rtp_time - report.rtp_time, clock_rate)
    } else {
        report
            .ntp_time
            .checked_sub(ticks(report.rtp_time - rtp_time, clock_rate))
            .unwrap_or(report.ntp_time)
    }
}

/// A participant's place on the session clock: their clock's reading at one arrival. Anchored
/// once, at their first frame with a sender report (their clock may be far from ours, so only
/// differences of it are used).
#[derive(Clone, Copy)]
struct SenderBase {
    sender: SystemTime,
    at: Duration,
}

impl SenderBase {
    fn timestamp(&self, sender: SystemTime) -> Duration {
        match sender.duration_since(self.sender) {
            Ok(later) => self.at + later,
            Err(earlier) => self.at.saturating_sub(earlier.duration()),
        }
    }
}

struct Participant {
    writer: ParticipantWriter,
    path: PathBuf,
    /// The file's video codec (audio-only participants' files have none).
    video: Option<Codec>,
    anchors: HashMap<u32, Anchor>,
    sender_base: Option<SenderBase>,
}

impl Participant {
    /// The session-clock time of a frame that arrived at `arrival`. A track whose first frame
    /// carries a sender report is placed by the publisher's own clock, which its audio and
    /// video share (so they start in sync whatever their arrival jitter); the participant is
    /// anchored once on the session clock, at that frame's arrival (only differences of a
    /// phone's clock are trusted). Without a report the track is placed at its arrival.
    fn timestamp(&mut self, frame: &TappedFrame, arrival: Duration) -> Duration {
        let clock_rate = u64::from(frame.clock_rate.max(1));
        if !self.anchors.contains_key(&frame.track) {
            let at = match frame.sender_report.as_ref() {
                Some(report) => {
                    let sender = sender_time(report, frame.rtp_time, clock_rate);
                    let base = *self.sender_base.get_or_insert(SenderBase {
                        sender,
                        at: arrival,
                    });
                    base.timestamp(sender)
                }
                None => arrival,
            };
            let anchor = Anchor {
                rtp: frame.rtp_time,
                at,
                clock_rate,
                last: None,
            };
            self.anchors.insert(frame.track, anchor);
        }
        let Some(anchor) = self.anchors.get_mut(&frame.track) else {
            return arrival;
        };
        let mut exact =
            anchor.at + ticks(frame.rtp_time.saturating_sub(anchor.rtp), anchor.clock_rate);
        if frame.rtp_time < anchor.rtp || exact.abs_diff(arrival) > MAX_CLOCK_STRAY {
            anchor.rtp = frame.rtp_time;
            anchor.at = arrival;
            exact = arrival;
        }
        // Whole milliseconds, as WebM keeps them: the writer's and libwebm's offsets then
        // subtract exactly and two frames can never round onto one millisecond.
        let mut timestamp =
            Duration::from_millis(u64::try_from(exact.as_millis()).unwrap_or(u64::MAX));
        if let Some(last) = anchor.last {
            timestamp = timestamp.max(last + MIN_STEP);
        }
        anchor.last = Some(timestamp);
        timestamp
    }
}

/// A participant's clock mapping, carried from one of their files to the next.
struct Timing {
    anchors: HashMap<u32, Anchor>,
    sender_base: Option<SenderBase>,
}

struct WriterThread {
    config: RecorderConfig,
    events: mpsc::Sender<RecorderEvent>,
    /// The tap's packets back into frames.
    assembler: FrameAssembler,
    participants: HashMap<Arc<str>, Participant>,
    /// First frames of participants not yet writing, until it is clear whether video comes.
    pending: HashMap<Arc<str>, Vec<TappedFrame>>,
    /// Participants whose file could not be written: not retried for every frame.
    failed: Vec<Arc<str>>,
    /// When each participant was last asked for a keyframe (throttle).
    keyframe_requests: HashMap<Arc<str>, Instant>,
    /// Codec changes per participant since they came (see [`CODEC_CHANGES_PER_STAY`]).
    codec_changes: HashMap<Arc<str>, u32>,
    error: Option<String>,
}

impl WriterThread {
    fn new(config: RecorderConfig, events: mpsc::Sender<RecorderEvent>) -> WriterThread {
        WriterThread {
            config,
            events,
            assembler: FrameAssembler::new(),
            participants: HashMap::new(),
            pending: HashMap::new(),
            failed: Vec::new(),
            keyframe_requests: HashMap::new(),
            codec_changes: HashMap::new(),
            error: None,
        }
    }

    fn run(mut self, batches: std_mpsc::Receiver<Vec<TapEvent>>) {
        if let Err(error) = std::fs::create_dir_all(&self.config.dir) {
            self.error = Some(format!(
                "cannot create {}: {error}",
                self.config.dir.display()
            ));
        }
        while self.error.is_none() {
            match batches.recv_timeout(IDLE_ADVANCE) {
                Ok(batch) => {
                    for event in batch {
                        match event {
                            TapEvent::Packet(packet) => {
                                self.assembler.push(packet);
                                self.write_assembled();
                            }
                            TapEvent::PublisherLeft { participant } => {
                                // What they sent to the end is written, then the file closed.
                                self.assembler.remove_participant(&participant);
                                self.write_assembled();
                                self.close(&participant);
                                self.codec_changes.remove(&participant);
                            }
                        }
                        if self.error.is_some() {
                            break;
                        }
                    }
                    // Tracks that went quiet after a loss stop waiting for it too.
                    self.assembler.advance(Instant::now());
                    self.write_assembled();
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    self.assembler.advance(Instant::now());
                    self.write_assembled();
                    self.advance_all();
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // Stopping: nothing more will come, so whatever is complete is written.
        self.assembler.flush();
        self.write_assembled();
        let names: Vec<Arc<str>> = self
            .participants
            .keys()
            .chain(self.pending.keys())
            .cloned()
            .collect();
        for name in names {
            self.close(&name);
        }
        let error = self.error.take();
        let _ = self.events.blocking_send(RecorderEvent::Stopped { error });
    }

    /// Writes the frames the assembler has completed; after an error, none.
    fn write_assembled(&mut self) {
        while self.error.is_none() {
            let Some(frame) = self.assembler.pop_frame() else {
                return;
            };
            self.write(frame);
        }
    }

    fn write(&mut self, frame: TappedFrame) {
        if frame.codec == TapCodec::Other || self.failed.contains(&frame.participant) {
            return;
        }
        let new_video = self
            .participants
            .get(&frame.participant)
            .map(|p| frame.kind == TapKind::Video && p.video != tap_codec(frame.codec));
        let changes = self
            .codec_changes
            .get(&frame.participant)
            .copied()
            .unwrap_or(0);
        let may_reopen = self
            .participants
            .get(&frame.participant)
            .is_some_and(|p| may_start_another(p.video, changes));
        match new_video {
            Some(false) => self.push(frame),
            Some(true) if !may_reopen => {}
            // The file has no video track (the camera came on) or another codec (a
            // renegotiation): finish it and go on in one that fits, from a frame that can
            // start one.
            Some(true) => {
                let name = frame.participant.clone();
                let Some(video) = video_config(&frame) else {
                    self.request_keyframe(&name);
                    return;
                };
                let changing = self
                    .participants
                    .get(&name)
                    .is_some_and(|p| p.video.is_some());
                if changing {
                    *self.codec_changes.entry(name.clone()).or_default() += 1;
                }
                let timing = self.close(&name);
                if self.reopen(&name, Some(video), timing) {
                    self.push(frame);
                }
            }
            // Not writing yet: hold the first frames until it is clear whether video comes, and
            // in which codec (the file's type and tracks are fixed at its start; an H.264 track
            // needs the parameter sets of a keyframe). An audio-only participant is not given an
            // empty video track.
            None => {
                let name = frame.participant.clone();
                let is_video = frame.kind == TapKind::Video;
                let held = self.pending.entry(name.clone()).or_default();
                held.push(frame);
                let has_video = held.iter().any(|f| video_config(f).is_some());
                let waited = match (held.first(), held.last()) {
                    (Some(first), Some(last)) => {
                        last.received.saturating_duration_since(first.received) >= AUDIO_ONLY_AFTER
                    }
                    _ => false,
                };
                if has_video || waited {
                    self.flush_pending(&name);
                } else if is_video {
                    // Video that cannot start a file yet (H.264 without its parameter sets).
                    self.request_keyframe(&name);
                }
            }
        }
    }

    /// Opens the file for held frames and writes them.
    fn flush_pending(&mut self, name: &Arc<str>) {
        let Some(held) = self.pending.remove(name) else {
            return;
        };
        let video = held.iter().find_map(video_config);
        if self.reopen(name, video, None) {
            for frame in held {
                self.push(frame);
            }
        }
    }

    /// Opens a participant's (next) file, keeping their timing; false if it could not be.
    fn reopen(
        &mut self,
        name: &Arc<str>,
        video: Option<VideoConfig>,
        timing: Option<Timing>,
    ) -> bool {
        match self.open(name, video) {
            Ok(mut participant) => {
                if let Some(timing) = timing {
                    participant.anchors = timing.anchors;
                    participant.sender_base = timing.sender_base;
                }
                self.participants.insert(name.clone(), participant);
                true
            }
            // Opening fails for reasons that fail every file (an unwritable directory, a
            // full disk): stop, keeping what was written.
            Err(error) => {
                self.error = Some(error);
                false
            }
        }
    }

    fn push(&mut self, frame: TappedFrame) {
        let codec = match frame.codec {
            TapCodec::Opus => Codec::Opus,
            TapCodec::Vp8 => Codec::Vp8,
            TapCodec::H264 => Codec::H264,
            TapCodec::Other => return,
        };
        let session_time = frame
            .received
            .saturating_duration_since(self.config.started);
        let Some(participant) = self.participants.get_mut(&frame.participant) else {
            return;
        };
        let timestamp = participant.timestamp(&frame, session_time);
        let entry = match frame.kind {
            TapKind::Audio => Frame::audio(codec, timestamp, frame.data),
            TapKind::Video => {
                if !frame.contiguous {
                    participant.writer.note_video_loss();
                }
                Frame::video(codec, timestamp, frame.keyframe, frame.data)
            }
        };
        let pushed = participant.writer.push(entry);
        if participant.video.is_some() && participant.writer.needs_keyframe() {
            self.request_keyframe(&frame.participant);
        }
        if let Err(error) = pushed {
            let stops_everything = matches!(error, Error::Io { .. });
            let name = frame.participant.clone();
            if let Some(participant) = self.participants.remove(&name) {
                self.fail(&name, participant, error.to_string());
            }
            if stops_everything {
                self.error = Some(format!("writing {name}'s recording failed: {error}"));
            }
        }
    }

    /// Asks the participant for a keyframe, at most every [`KEYFRAME_REQUEST_INTERVAL`].
    fn request_keyframe(&mut self, participant: &Arc<str>) {
        let now = Instant::now();
        let due = self
            .keyframe_requests
            .get(participant)
            .is_none_or(|at| now.saturating_duration_since(*at) >= KEYFRAME_REQUEST_INTERVAL);
        if due {
            self.keyframe_requests.insert(participant.clone(), now);
            let _ = self.events.try_send(RecorderEvent::KeyframeWanted {
                participant: participant.to_string(),
            });
        }
    }

    fn open(
        &mut self,
        participant: &str,
        video: Option<VideoConfig>,
    ) -> Result<Participant, String> {
        let stem = sanitize(&(self.config.file_name)(participant));
        let extension = video.as_ref().map_or("webm", VideoConfig::file_extension);
        let path = unused_path(&self.config.dir, &stem, extension);
        let codec = video.as_ref().map(|v| v.codec);
        let mut config = WriterConfig::vp8_opus(&path);
        config.video = video;
        let writer = ParticipantWriter::create(config)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let _ = self.events.blocking_send(RecorderEvent::FileOpened {
            participant: participant.to_owned(),
            path: path.clone(),
            at: SystemTime::now(),
        });
        Ok(Participant {
            writer,
            path,
            video: codec,
            anchors: HashMap::new(),
            sender_base: None,
        })
    }

    fn advance_all(&mut self) {
        let now = self.config.started.elapsed();
        let mut failed = Vec::new();
        for (name, participant) in &mut self.participants {
            if let Err(error) = participant.writer.advance(now) {
                failed.push((name.clone(), error));
            }
        }
        for (name, error) in failed {
            if matches!(error, Error::Io { .. }) {
                self.error = Some(format!("writing {name}'s recording failed: {error}"));
            }
            if let Some(participant) = self.participants.remove(&name) {
                self.fail(&name, participant, error.to_string());
            }
        }
    }

    /// Finishes a participant's file (they left, the recording ends, or their camera came on),
    /// first writing any frames still held; returns their timing for a next file.
    fn close(&mut self, name: &Arc<str>) -> Option<Timing> {
        self.flush_pending(name);
        let participant = self.participants.remove(name)?;
        let timing = Timing {
            anchors: participant.anchors,
            sender_base: participant.sender_base,
        };
        let path = participant.path.clone();
        let result = participant.writer.finish().map_err(|e| e.to_string());
        if let Err(error) = &result {
            if self.error.is_none() {
                self.error = Some(format!("finishing {name}'s recording failed: {error}"));
            }
        }
        let _ = self.events.blocking_send(RecorderEvent::FileClosed {
            participant: name.to_string(),
            path,
            at: SystemTime::now(),
            result,
        });
        Some(timing)
    }

    /// A participant's file cannot go on; what was written is kept (the writer is finished
    /// if it still can be).
    fn fail(&mut self, name: &Arc<str>, participant: Participant, error: String) {
        self.failed.push(name.clone());
        let path = participant.path.clone();
        let result = match participant.writer.finish() {
            Ok(summary) => Ok(summary),
            Err(_) => Err(error),
        };
        let _ = self.events.blocking_send(RecorderEvent::FileClosed {
            participant: name.to_string(),
            path,
            at: SystemTime::now(),
            result,
        });
    }
}

/// Keeps file names portable: letters (any script), digits, '-', '_' only.
fn sanitize(stem: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect();
    if cleaned.is_empty() {
        "participant".to_owned()
    } else {
        cleaned
    }
}

/// Whether a participant whose file holds `video` (its codec, if any), after `changes` codec
/// changes, may start another file for video that does not fit it: for a camera that came on,
/// always; for a change of codec, [`CODEC_CHANGES_PER_STAY`] times.
fn may_start_another(video: Option<Codec>, changes: u32) -> bool {
    video.is_none() || changes < CODEC_CHANGES_PER_STAY
}

/// The file codec a tapped video frame asks for.
fn tap_codec(codec: TapCodec) -> Option<Codec> {
    match codec {
        TapCodec::Vp8 => Some(Codec::Vp8),
        TapCodec::H264 => Some(Codec::H264),
        TapCodec::Opus | TapCodec::Other => None,
    }
}

/// The video track a file can start with from this frame: any VP8 frame (its keyframes carry
/// their size, and the writer waits for one), an H.264 keyframe only with its parameter sets,
/// which the track header needs.
fn video_config(frame: &TappedFrame) -> Option<VideoConfig> {
    if frame.kind != TapKind::Video {
        return None;
    }
    match frame.codec {
        TapCodec::Vp8 => Some(VideoConfig::vp8()),
        TapCodec::H264 => ParameterSets::from_access_unit(&frame.data).map(VideoConfig::h264),
        TapCodec::Opus | TapCodec::Other => None,
    }
}

/// A path in `dir` that does not exist yet: `stem.ext`, then `stem-2.ext`, …
fn unused_path(dir: &Path, stem: &str, extension: &str) -> PathBuf {
    let first = dir.join(format!("{stem}.{extension}"));
    if !first.exists() {
        return first;
    }
    (2u32..)
        .map(|n| dir.join(format!("{stem}-{n}.{extension}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(
        track: u32,
        rtp_time: u64,
        clock_rate: u32,
        report: Option<SenderReport>,
    ) -> TappedFrame {
        TappedFrame {
            participant: Arc::from("p"),
            track,
            kind: if clock_rate == 48_000 {
                TapKind::Audio
            } else {
                TapKind::Video
            },
            codec: if clock_rate == 48_000 {
                TapCodec::Opus
            } else {
                TapCodec::Vp8
            },
            clock_rate,
            rtp_time,
            received: Instant::now(),
            keyframe: true,
            contiguous: true,
            sender_report: report,
            data: Arc::from(&[0u8][..]),
        }
    }

    fn participant(path: &std::path::Path) -> Participant {
        Participant {
            writer: ParticipantWriter::create(WriterConfig::vp8_opus(path)).expect("writer"),
            path: path.to_owned(),
            video: Some(Codec::Vp8),
            anchors: HashMap::new(),
            sender_base: None,
        }
    }

    #[test]
    fn without_sender_reports_tracks_follow_rtp_time_from_their_first_arrival() {
        let path = std::env::temp_dir().join(format!("concord-rtp-{}.webm", std::process::id()));
        let mut participant = participant(&path);
        let first =
            participant.timestamp(&frame(0, 90_000, 90_000, None), Duration::from_millis(250));
        assert_eq!(first, Duration::from_millis(250));
        let later = participant.timestamp(
            &frame(0, 180_000, 90_000, None),
            Duration::from_millis(1400),
        );
        assert_eq!(
            later,
            Duration::from_millis(1250),
            "RTP time, not the jittery arrival"
        );
        let same = participant.timestamp(
            &frame(0, 180_010, 90_000, None),
            Duration::from_millis(1400),
        );
        assert_eq!(
            same,
            Duration::from_millis(1251),
            "never two frames in one millisecond"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn codec_changes_open_files_sparingly() {
        assert!(
            may_start_another(None, 5),
            "a camera that came on gets its file"
        );
        assert!(may_start_another(Some(Codec::Vp8), 0), "one renegotiation");
        assert!(
            !may_start_another(Some(Codec::H264), 1),
            "alternating codecs get no file per keyframe"
        );
    }

    #[test]
    fn a_jump_in_rtp_time_is_placed_at_its_arrival_not_days_away() {
        let path = std::env::temp_dir().join(format!("concord-jump-{}.webm", std::process::id()));
        let mut participant = participant(&path);
        participant.timestamp(&frame(0, 90_000, 90_000, None), Duration::from_millis(100));
        // Three days of RTP ticks later, a second after the first frame arrived.
        let three_days = 3 * 24 * 3600 * 90_000;
        let jumped = participant.timestamp(
            &frame(0, 90_000 + three_days, 90_000, None),
            Duration::from_millis(1100),
        );
        assert_eq!(jumped, Duration::from_millis(1100), "placed at its arrival");
        // The stream goes on from there, by its own clock again.
        let next = participant.timestamp(
            &frame(0, 90_000 + three_days + 9_000, 90_000, None),
            Duration::from_millis(1230),
        );
        assert_eq!(next, Duration::from_millis(1200));
        // And backwards is no way around it.
        let back = participant.timestamp(&frame(0, 0, 90_000, None), Duration::from_millis(1300));
        assert_eq!(back, Duration::from_millis(1300));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn sender_reports_keep_audio_and_video_in_sync_despite_arrival_jitter() {
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // Audio and video captured at the same instant by the sender's clock (RTP times map
        // to `epoch` through each track's sender report) but arriving 120 ms apart.
        let audio_report = SenderReport {
            ntp_time: epoch,
            rtp_time: 480_000,
        };
        let video_report = SenderReport {
            ntp_time: epoch,
            rtp_time: 900_000,
        };
        let path = std::env::temp_dir().join(format!("concord-sync-{}.webm", std::process::id()));
        let mut participant = participant(&path);
        let audio = participant.timestamp(
            &frame(0, 480_000 + 48_000, 48_000, Some(audio_report)),
            Duration::from_millis(2000),
        );
        let video = participant.timestamp(
            &frame(1, 900_000 + 90_000, 90_000, Some(video_report)),
            Duration::from_millis(2120),
        );
        assert_eq!(audio, Duration::from_millis(2000));
        assert_eq!(video, audio, "captured together, placed together");
        let later = participant.timestamp(
            &frame(1, 900_000 + 180_000, 90_000, Some(video_report)),
            Duration::from_millis(3300),
        );
        assert_eq!(
            later,
            Duration::from_millis(3000),
            "one second of sender clock later"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn file_names_are_portable_and_never_reused() {
        assert_eq!(sanitize("张建国 (party)/../x"), "张建国--party-----x");
        assert_eq!(sanitize(""), "participant");
        let dir = std::env::temp_dir().join(format!("concord-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let first = unused_path(&dir, "a", "webm");
        std::fs::write(&first, b"x").expect("write");
        assert_eq!(unused_path(&dir, "a", "webm"), dir.join("a-2.webm"));
        assert_eq!(unused_path(&dir, "a", "mkv"), dir.join("a.mkv"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
