//! The load generator: prepares rooms through an [`SfuAdapter`], joins webrtc-rs participants
//! that publish a real VP8 + Opus clip (or only receive), waits until media flows, then measures
//! a window of `seconds` and reports per role.
//!
//! Everything runs on the caller's runtime; the binary uses a single-threaded one
//! (FIELD-NOTES: one worker was cheaper per packet with webrtc-rs).
//!
//! A seat may be several peers (Janus publishes and subscribes on separate PeerConnections,
//! see [`SfuAdapter::join_seat`]): it is counted as one, receiving the union of what its peers
//! received and sending their sum, so both servers are counted the same way.
//!
//! With [`RunOptions::record`] every room is recorded over the measured window: started after
//! the warm-up (and before the settling pause), stopped after the window, and filed before the
//! run ends (see [`SfuAdapter::start_recording`]).
//!
//! [`soak`] is the long run of another kind: rooms churning for an hour against a server
//! process whose memory, threads and descriptors are watched for leaks.
//!
//! [`transport`] runs a scenario over UDP and over ICE-TCP (each peer through a
//! [`tcp_bridge`]) and compares the server's CPU per forwarded packet.

mod child_log;
pub mod compare;
mod concord_process;
pub mod procfs;
pub mod slope;
pub mod soak;
pub mod tcp_bridge;
pub mod transport;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use concord_client::adapter::{RecordedFiles, RoomRecording};
use concord_client::peer::{ReceivedMedia, StreamCounts, FREEZE_THRESHOLD};
use concord_client::stats::quantile;
use concord_client::{
    Clip, ClipSpec, MediaKind, MediaSource, Peer, PeerOptions, Role, SendLog, SfuAdapter,
    SimulcastClip,
};

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// One publisher, `subscribers` receivers, one room.
    Fanout { subscribers: usize },
    /// `rooms` rooms of 4 participants, each publishing audio and video.
    Rooms { rooms: usize },
}

/// A load run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub scenario: Scenario,
    /// Length of the measured window (after warm-up).
    pub seconds: f64,
    pub clip: ClipSpec,
    pub clip_cache: std::path::PathBuf,
    /// How long joining and the first frames may take.
    pub warmup_timeout: Duration,
    /// A pause between warm-up and the window (first keyframe requests, retransmissions and
    /// subscription updates settle).
    pub settle: Duration,
    /// A server process to sample (CPU time, memory) at the window's start and end.
    pub server_pid: Option<u32>,
    /// The address the participants' media sockets bind to.
    pub client_ip: std::net::IpAddr,
    /// Record every room over the measured window.
    pub record: bool,
    /// Publishers send VP8 simulcast (three clips, see [`SimulcastClip::default_specs`]) and
    /// every receiver asks for this layer (0 lowest) of every video: Concord through `view`
    /// with a tile of the layer's size, Janus through the same message, which its adapter turns
    /// into `configure` with the substream.
    pub simulcast: Option<usize>,
}

/// Aggregates for one role.
#[derive(Debug, Clone, Serialize)]
pub struct RoleReport {
    pub role: String,
    /// Peers in this role.
    pub peers: usize,
    /// Streams (publisher × kind) counted.
    pub streams: usize,
    pub packets_per_s: f64,
    pub mbit_per_s: f64,
    pub loss_pct: f64,
    pub video_frames: u64,
    pub audio_frames: u64,
    /// Whole frames received over frames their publishers sent in the window, both kinds.
    pub frame_delivery_pct: Option<f64>,
    pub freezes: u64,
    pub delay_p50_ms: Option<f64>,
    pub delay_p99_ms: Option<f64>,
    pub delay_samples: usize,
}

/// One received stream over the window.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    pub receiver: String,
    pub publisher: String,
    pub kind: String,
    pub packets: u64,
    pub bytes: u64,
    pub lost: u64,
    pub frames: u64,
    /// Frames the publisher sent in the window (Opus packets for audio).
    pub frames_sent: u64,
    pub freezes: u64,
    /// The picture height of the last video keyframe received: which simulcast layer arrived.
    pub keyframe_height: Option<u16>,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub server: String,
    pub scenario: String,
    pub seconds: f64,
    pub clip_video_kbit_s: f64,
    /// With simulcast: each layer's encoded video bitrate (lowest first) and the height of the
    /// layer the receivers asked for.
    pub simulcast_layers_kbit_s: Option<Vec<f64>>,
    pub simulcast_layer_height: Option<u16>,
    pub roles: Vec<RoleReport>,
    /// CPU used by this process during the window (user + system), percent of one core. With
    /// `--serve-inline` it includes the server.
    pub cpu_pct: f64,
    pub cpu_seconds: f64,
    /// PLI/FIR the publishers received over the whole run, and the keyframes they sent (clip
    /// keyframes, every 2 s, plus the ones skipped ahead to on request).
    pub keyframe_requests: u64,
    pub keyframes_sent: u64,
    /// Everything every seat received, all roles together.
    pub received: Option<RoleReport>,
    /// The server process over the window, with [`RunOptions::server_pid`].
    pub server_process: Option<ProcessWindow>,
    /// Seats (participants) in the run.
    pub seats: usize,
    pub streams: Vec<StreamReport>,
    /// With [`RunOptions::record`]: what was recorded.
    pub recording: Option<RecordingReport>,
}

/// The rooms' recordings of a run with [`RunOptions::record`].
#[derive(Debug, Clone, Serialize)]
pub struct RecordingReport {
    pub rooms: usize,
    /// The longest wait from asking to recording, over the rooms (the server's notice period
    /// included), and from stopping to every file being filed.
    pub start_s: f64,
    pub stop_s: f64,
    /// Participant files filed, those filed `complete`, and their size.
    pub participant_files: usize,
    pub complete_files: usize,
    pub bytes: u64,
}

impl RecordingReport {
    fn new(starts: &[Duration], stopped: &[RecordedFiles]) -> Self {
        let seconds = |longest: Option<Duration>| longest.unwrap_or_default().as_secs_f64();
        RecordingReport {
            rooms: stopped.len(),
            start_s: seconds(starts.iter().max().copied()),
            stop_s: seconds(stopped.iter().map(|f| f.time_to_stop).max()),
            participant_files: stopped.iter().map(|f| f.participant_files).sum(),
            complete_files: stopped.iter().map(|f| f.complete_files).sum(),
            bytes: stopped.iter().map(|f| f.bytes).sum(),
        }
    }
}

/// A process's use of the machine over the measured window (from `/proc`, see [`procfs`]).
#[derive(Debug, Clone, Serialize)]
pub struct ProcessWindow {
    pub pid: u32,
    /// User + system CPU time over the window, all threads.
    pub cpu_seconds: f64,
    /// Resident memory at the window's start and end, and its peak since the process started.
    pub rss_start_kb: u64,
    pub rss_end_kb: u64,
    pub rss_peak_kb: u64,
    /// Bytes the process caused to be written to storage over the window (`write_bytes` of
    /// `/proc/<pid>/io`), and bytes it passed to `write` (`wchar`: sockets included), when
    /// `/proc/<pid>/io` could be read.
    pub write_bytes: Option<u64>,
    pub wchar: Option<u64>,
}

struct Seat {
    role: Role,
    /// Never empty; the first names the seat.
    peers: Vec<Peer>,
    /// Publishers whose audio and video this seat must receive.
    expects: Vec<String>,
}

impl Seat {
    fn id(&self) -> &str {
        self.peers.first().map_or("", |p| p.participant_id())
    }

    /// What the seat's peers received, together.
    fn received(&self) -> ReceivedMedia {
        let mut all = ReceivedMedia::new();
        for peer in &self.peers {
            for (key, counts) in peer.received() {
                match all.get_mut(&key) {
                    Some(c) => merge(c, &counts),
                    None => {
                        all.insert(key, counts);
                    }
                }
            }
        }
        all
    }

    /// (packets, payload bytes, video frames, audio packets) the seat has sent.
    fn sent(&self) -> (u64, u64, u64, u64) {
        self.peers.iter().map(sent).fold((0, 0, 0, 0), |a, b| {
            (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
        })
    }

    /// Waits until some peer of the seat has a whole frame of each kind from each publisher the
    /// seat expects.
    /// With `layer_height`, video only counts once a keyframe of that height arrived (the
    /// simulcast layer asked for).
    async fn wait_for_first_frames(
        &self,
        deadline: tokio::time::Instant,
        layer_height: Option<u16>,
    ) -> Result<()> {
        for publisher in &self.expects {
            for kind in MediaKind::BOTH {
                let key = (publisher.clone(), kind);
                let height = layer_height.filter(|_| kind == MediaKind::Video);
                let what = match height {
                    Some(h) => format!("a whole {kind} frame {h} lines high from {publisher}"),
                    None => format!("a whole {kind} frame from {publisher}"),
                };
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let waits = self.peers.iter().map(|peer| {
                    Box::pin(peer.wait_until(&what, left, |m| {
                        m.get(&key).is_some_and(|c| {
                            c.frames >= 1
                                && height
                                    .is_none_or(|h| c.keyframe_size.is_some_and(|(_, kh)| kh == h))
                        })
                    }))
                });
                futures_util::future::select_ok(waits)
                    .await
                    .with_context(|| format!("warm-up of seat {}", self.id()))?;
            }
        }
        Ok(())
    }
}

/// Adds `b`'s counts to `a` (one stream received on two of a seat's connections).
fn merge(a: &mut StreamCounts, b: &StreamCounts) {
    a.tracks += b.tracks;
    a.packets += b.packets;
    a.bytes += b.bytes;
    a.keyframes += b.keyframes;
    a.plis_sent += b.plis_sent;
    a.ended &= b.ended;
    a.lost += b.lost;
    a.frames += b.frames;
    a.freezes += b.freezes;
    a.freeze_ms += b.freeze_ms;
    a.last_frame_at = a.last_frame_at.max(b.last_frame_at);
    a.keyframe_size = a.keyframe_size.or(b.keyframe_size);
    a.delay_us.extend_from_slice(&b.delay_us);
}

/// The clip of `spec`, from `cache` or encoded there, prepared on a blocking thread: encoding
/// takes seconds, which the runtime's own thread must not spend.
async fn prepare_clip(spec: &ClipSpec, cache: &std::path::Path) -> Result<Arc<Clip>> {
    let spec = spec.clone();
    let cache = cache.to_owned();
    let clip = tokio::task::spawn_blocking(move || Clip::prepare(&spec, &cache))
        .await
        .context("clip preparation task")??;
    Ok(Arc::new(clip))
}

/// Runs one scenario against `adapter`.
pub async fn run(adapter: &dyn SfuAdapter, options: &RunOptions) -> Result<Report> {
    let clip = prepare_clip(&options.clip, &options.clip_cache).await?;
    // With simulcast: the clips, and the tile size that asks for the chosen layer.
    let simulcast = match options.simulcast {
        Some(layer) => {
            let specs = SimulcastClip::default_specs(&options.clip, options.clip.video_bitrate);
            let Some((_, wanted)) = specs.get(layer).cloned() else {
                bail!("there is no simulcast layer {layer} (0..{})", specs.len());
            };
            let cache = options.clip_cache.clone();
            let clips = tokio::task::spawn_blocking(move || SimulcastClip::prepare(&specs, &cache))
                .await
                .context("simulcast clip preparation task")??;
            Some((Arc::new(clips), wanted))
        }
        None => None,
    };
    let send_log = Arc::new(SendLog::new());
    let source = match &simulcast {
        Some((clips, _)) => MediaSource::Simulcast(Arc::clone(clips)),
        None => MediaSource::Clip(Arc::clone(&clip)),
    };
    let peer_options = PeerOptions {
        source,
        send_log: Some(Arc::clone(&send_log)),
        local_ip: options.client_ip,
        ..PeerOptions::default()
    };

    let rooms: Vec<Vec<Role>> = match options.scenario {
        Scenario::Fanout { subscribers } => {
            let mut roles = vec![Role::Publisher];
            roles.extend(std::iter::repeat_n(Role::Subscriber, subscribers));
            vec![roles]
        }
        Scenario::Rooms { rooms } => vec![vec![Role::Publisher; 4]; rooms],
    };

    let mut seats: Vec<Seat> = Vec::new();
    let mut room_tickets = Vec::new();
    for roles in &rooms {
        let tickets = adapter.create_room(roles).await?;
        let first = seats.len();
        for ticket in &tickets {
            let peers = adapter
                .join_seat(ticket, peer_options.clone())
                .await
                .with_context(|| format!("joining seat {} ({:?})", seats.len(), ticket.role))?;
            if peers.is_empty() {
                bail!("{} gave seat {} no connection", adapter.name(), seats.len());
            }
            seats.push(Seat {
                role: ticket.role,
                peers,
                expects: Vec::new(),
            });
        }
        let publishers: Vec<String> = seats[first..]
            .iter()
            .filter(|s| s.role == Role::Publisher)
            .map(|s| s.id().to_owned())
            .collect();
        for seat in &mut seats[first..] {
            let me = seat.id().to_owned();
            seat.expects = publishers.iter().filter(|p| **p != me).cloned().collect();
        }
        room_tickets.push(tickets);
    }

    // Every receiver asks for the same simulcast layer of every video it expects.
    let layer_height = simulcast.as_ref().map(|(_, spec)| spec.height as u16);
    if let Some((_, spec)) = &simulcast {
        for seat in &seats {
            let tiles: Vec<serde_json::Value> = seat
                .expects
                .iter()
                .map(|p| {
                    serde_json::json!({"participant_id": p, "width": spec.width, "height": spec.height})
                })
                .collect();
            let view = serde_json::json!({"type": "view", "tiles": tiles});
            for peer in &seat.peers {
                peer.send(view.clone())?;
            }
        }
    }

    // Warm-up: every seat receives a whole frame of each kind from each publisher it expects
    // (of the simulcast layer asked for).
    let deadline = tokio::time::Instant::now() + options.warmup_timeout;
    for seat in &seats {
        seat.wait_for_first_frames(deadline, layer_height).await?;
    }
    // Recording starts before the settling pause, so that the recorder's first keyframe
    // requests fall outside the window.
    let recordings: Vec<Box<dyn RoomRecording>> = if options.record {
        futures_util::future::try_join_all(
            room_tickets
                .iter()
                .map(|tickets| adapter.start_recording(tickets)),
        )
        .await?
    } else {
        Vec::new()
    };
    tokio::time::sleep(options.settle).await;

    let before: Vec<ReceivedMedia> = seats.iter().map(Seat::received).collect();
    let sent_before: Vec<(u64, u64, u64, u64)> = seats.iter().map(Seat::sent).collect();
    let server_before = options.server_pid.map(procfs::sample).transpose()?;
    let cpu_before = cpu_seconds();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(options.seconds)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu_after = cpu_seconds();
    let server_after = options.server_pid.map(procfs::sample).transpose()?;
    let after: Vec<ReceivedMedia> = seats.iter().map(Seat::received).collect();
    let sent_after: Vec<(u64, u64, u64, u64)> = seats.iter().map(Seat::sent).collect();
    let now = Instant::now();
    let server_process = match (options.server_pid, server_before, server_after) {
        (Some(pid), Some(b), Some(a)) => Some(ProcessWindow {
            pid,
            cpu_seconds: a.cpu_seconds() - b.cpu_seconds(),
            rss_start_kb: b.rss_kb,
            rss_end_kb: a.rss_kb,
            rss_peak_kb: a.hwm_kb,
            write_bytes: a.io.zip(b.io).map(|(a, b)| a.write_bytes - b.write_bytes),
            wchar: a.io.zip(b.io).map(|(a, b)| a.wchar - b.wchar),
        }),
        _ => None,
    };
    // Stopped (and filed) while every participant is still there.
    let recording = if options.record {
        let starts: Vec<Duration> = recordings.iter().map(|r| r.time_to_start()).collect();
        let stopped =
            futures_util::future::try_join_all(recordings.into_iter().map(|r| r.stop())).await?;
        Some(RecordingReport::new(&starts, &stopped))
    } else {
        None
    };

    // Publishers' sending side.
    let mut roles = Vec::new();
    let publishers: Vec<usize> = (0..seats.len())
        .filter(|&i| seats[i].role == Role::Publisher)
        .collect();
    if !publishers.is_empty() {
        let (mut packets, mut bytes, mut frames) = (0, 0, 0);
        for &i in &publishers {
            packets += sent_after[i].0 - sent_before[i].0;
            bytes += sent_after[i].1 - sent_before[i].1;
            frames += sent_after[i].2 - sent_before[i].2;
        }
        roles.push(RoleReport {
            role: "publisher (sent)".to_owned(),
            peers: publishers.len(),
            streams: publishers.len() * 2,
            packets_per_s: packets as f64 / elapsed,
            mbit_per_s: bytes as f64 * 8.0 / elapsed / 1e6,
            loss_pct: 0.0,
            video_frames: frames,
            audio_frames: 0,
            frame_delivery_pct: None,
            freezes: 0,
            delay_p50_ms: None,
            delay_p99_ms: None,
            delay_samples: 0,
        });
    }

    // Receiving side, per role.
    let mut streams = Vec::new();
    let mut everyone = Agg::default();
    for role in [Role::Subscriber, Role::Publisher] {
        let members: Vec<usize> = (0..seats.len())
            .filter(|&i| seats[i].role == role)
            .collect();
        let mut agg = Agg::default();
        for &i in &members {
            let seat = &seats[i];
            for publisher in &seat.expects {
                for kind in MediaKind::BOTH {
                    let key = (publisher.clone(), kind);
                    let empty = Default::default();
                    let b = before[i].get(&key).unwrap_or(&empty);
                    let Some(a) = after[i].get(&key) else {
                        continue;
                    };
                    let mut freezes = a.freezes - b.freezes;
                    // A stream frozen at the end of the window counts too.
                    if kind == MediaKind::Video
                        && a.last_frame_at
                            .is_none_or(|at| now.saturating_duration_since(at) > FREEZE_THRESHOLD)
                    {
                        freezes += 1;
                    }
                    let frames_sent =
                        seats
                            .iter()
                            .position(|p| p.id() == publisher)
                            .map_or(0, |j| match kind {
                                MediaKind::Video => sent_after[j].2 - sent_before[j].2,
                                MediaKind::Audio => sent_after[j].3 - sent_before[j].3,
                            });
                    let s = StreamReport {
                        receiver: seat.id().to_owned(),
                        publisher: publisher.clone(),
                        kind: kind.to_string(),
                        packets: a.packets - b.packets,
                        bytes: a.bytes - b.bytes,
                        lost: a.lost - b.lost,
                        frames: a.frames - b.frames,
                        frames_sent,
                        freezes,
                        keyframe_height: a.keyframe_size.map(|(_, h)| h),
                    };
                    let delays = &a.delay_us[b.delay_us.len().min(a.delay_us.len())..];
                    agg.add(&s, kind, delays);
                    everyone.add(&s, kind, delays);
                    streams.push(s);
                }
            }
        }
        if agg.streams == 0 {
            continue;
        }
        let name = match role {
            Role::Subscriber => "subscriber (received)",
            Role::Publisher => "publisher (received)",
        };
        roles.push(agg.report(name, members.len(), elapsed));
    }

    let received =
        (everyone.streams > 0).then(|| everyone.report("all received", seats.len(), elapsed));

    let (mut keyframe_requests, mut keyframes_sent) = (0, 0);
    for peer in seats.iter().flat_map(|s| &s.peers) {
        let c = peer.published();
        keyframe_requests += c.keyframe_requests.load(Ordering::Relaxed);
        keyframes_sent += c.keyframes_sent.load(Ordering::Relaxed);
    }
    let seat_count = seats.len();
    for peer in seats.into_iter().flat_map(|s| s.peers) {
        peer.close().await;
    }

    let scenario = match options.scenario {
        Scenario::Fanout { subscribers } => {
            format!("fanout: 1 publisher, {subscribers} subscribers")
        }
        Scenario::Rooms { rooms } => format!("rooms: {rooms} × 4 publishers"),
    };
    let scenario = match layer_height {
        Some(h) => format!("{scenario}, simulcast, receiving the {h}-line layer"),
        None => scenario,
    };
    let cpu = cpu_after - cpu_before;
    Ok(Report {
        server: adapter.name().to_owned(),
        scenario,
        seconds: elapsed,
        clip_video_kbit_s: match &simulcast {
            Some((clips, _)) => clips.video_bitrate() / 1000.0,
            None => clip.video_bitrate() / 1000.0,
        },
        simulcast_layers_kbit_s: simulcast.as_ref().map(|(clips, _)| {
            clips
                .layers
                .iter()
                .map(|l| l.clip.video_bitrate() / 1000.0)
                .collect()
        }),
        simulcast_layer_height: layer_height,
        roles,
        cpu_pct: cpu / elapsed * 100.0,
        cpu_seconds: cpu,
        keyframe_requests,
        keyframes_sent,
        received,
        server_process,
        seats: seat_count,
        streams,
        recording,
    })
}

/// (packets, payload bytes, video frames, audio packets) a peer has sent.
fn sent(peer: &Peer) -> (u64, u64, u64, u64) {
    let c = peer.published();
    (
        c.audio_packets.load(Ordering::Relaxed) + c.video_packets.load(Ordering::Relaxed),
        c.audio_bytes.load(Ordering::Relaxed) + c.video_bytes.load(Ordering::Relaxed),
        c.video_frames.load(Ordering::Relaxed),
        c.audio_packets.load(Ordering::Relaxed),
    )
}

#[derive(Default)]
struct Agg {
    streams: usize,
    packets: u64,
    bytes: u64,
    lost: u64,
    video_frames: u64,
    audio_frames: u64,
    freezes: u64,
    frames_sent: u64,
    delays: Vec<u32>,
}

impl Agg {
    fn add(&mut self, s: &StreamReport, kind: MediaKind, delays: &[u32]) {
        self.streams += 1;
        self.packets += s.packets;
        self.bytes += s.bytes;
        self.lost += s.lost;
        self.freezes += s.freezes;
        self.frames_sent += s.frames_sent;
        match kind {
            MediaKind::Video => self.video_frames += s.frames,
            MediaKind::Audio => self.audio_frames += s.frames,
        }
        self.delays.extend_from_slice(delays);
    }

    fn report(mut self, role: &str, peers: usize, elapsed: f64) -> RoleReport {
        let ms = |us: Option<u32>| us.map(|v| f64::from(v) / 1000.0);
        let expected = self.packets + self.lost;
        RoleReport {
            role: role.to_owned(),
            peers,
            streams: self.streams,
            packets_per_s: self.packets as f64 / elapsed,
            mbit_per_s: self.bytes as f64 * 8.0 / elapsed / 1e6,
            loss_pct: if expected == 0 {
                0.0
            } else {
                self.lost as f64 * 100.0 / expected as f64
            },
            video_frames: self.video_frames,
            audio_frames: self.audio_frames,
            frame_delivery_pct: (self.frames_sent > 0).then(|| {
                (self.video_frames + self.audio_frames) as f64 * 100.0 / self.frames_sent as f64
            }),
            freezes: self.freezes,
            delay_p50_ms: ms(quantile(&mut self.delays, 0.5)),
            delay_p99_ms: ms(quantile(&mut self.delays, 0.99)),
            delay_samples: self.delays.len(),
        }
    }
}

/// "360 × 20" for twenty equal entries, or the distinct values with their counts.
fn summarize(values: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(x, _)| *x == v.as_str()) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(v, n)| format!("{v} × {n}")).collect();
    parts.join(", ")
}

/// User + system CPU seconds of this process so far (0 if `/proc` cannot be read).
pub fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| procfs::parse_cpu_ticks(&stat))
        .map_or(0.0, procfs::ticks_to_seconds)
}

impl Report {
    /// The summary table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} — {} — {:.1} s measured, clip video {:.0} kbit/s\n",
            self.server, self.scenario, self.seconds, self.clip_video_kbit_s
        );
        if let Some(layers) = &self.simulcast_layers_kbit_s {
            let layers: Vec<String> = layers.iter().map(|k| format!("{k:.0}")).collect();
            let heights: Vec<String> = self
                .streams
                .iter()
                .filter(|s| s.kind == "video")
                .map(|s| s.keyframe_height.map_or("-".to_owned(), |h| h.to_string()))
                .collect();
            out += &format!(
                "simulcast layers {} kbit/s; receivers asked for {} lines, last keyframes {}\n",
                layers.join(" / "),
                self.simulcast_layer_height.unwrap_or(0),
                summarize(&heights)
            );
        }
        out += &format!(
            "{:<22} {:>5} {:>7} {:>10} {:>8} {:>7} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
            "role",
            "peers",
            "streams",
            "packets/s",
            "Mbit/s",
            "loss %",
            "v.frames",
            "a.frames",
            "frames %",
            "freezes",
            "delay p50",
            "delay p99"
        );
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
        for r in &self.roles {
            out += &format!(
                "{:<22} {:>5} {:>7} {:>10.0} {:>8.2} {:>7.2} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
                r.role,
                r.peers,
                r.streams,
                r.packets_per_s,
                r.mbit_per_s,
                r.loss_pct,
                r.video_frames,
                r.audio_frames,
                r.frame_delivery_pct
                    .map_or("-".to_owned(), |v| format!("{v:.1}")),
                r.freezes,
                ms(r.delay_p50_ms),
                ms(r.delay_p99_ms),
            );
        }
        out += &format!(
            "generator CPU: {:.2} s over {:.1} s = {:.1} % of one core",
            self.cpu_seconds, self.seconds, self.cpu_pct
        );
        if let Some(p) = &self.server_process {
            out += &format!(
                "\nserver (pid {}) CPU: {:.2} s = {:.1} % of one core; RSS {:.1} MB (peak {:.1} MB)",
                p.pid,
                p.cpu_seconds,
                p.cpu_seconds / self.seconds * 100.0,
                p.rss_end_kb as f64 / 1024.0,
                p.rss_peak_kb as f64 / 1024.0
            );
            if let Some(bytes) = p.write_bytes {
                out += &format!(
                    "; storage writes {:.2} MB/s",
                    bytes as f64 / self.seconds / 1e6
                );
            }
        }
        if let Some(r) = &self.recording {
            out += &format!(
                "\nrecorded {} room(s): on after {:.1} s, filed {:.1} s after stopping; {}/{} \
                 participant files complete, {:.1} MB",
                r.rooms,
                r.start_s,
                r.stop_s,
                r.complete_files,
                r.participant_files,
                r.bytes as f64 / 1e6
            );
        }
        out
    }

    /// Fails unless every expected stream delivered frames with loss below `max_loss_pct`.
    pub fn check_delivery(&self, max_loss_pct: f64) -> Result<()> {
        for s in &self.streams {
            let expected = s.packets + s.lost;
            let loss = if expected == 0 {
                100.0
            } else {
                s.lost as f64 * 100.0 / expected as f64
            };
            if s.frames == 0 || loss > max_loss_pct {
                bail!(
                    "{} got {} frames of {}'s {} with {loss:.1} % loss: {s:?}",
                    s.receiver,
                    s.frames,
                    s.publisher,
                    s.kind
                );
            }
        }
        Ok(())
    }
}
