//! Real encoded media for the tests, made with Debian's ffmpeg at test time, and the
//! small parsers that turn IVF and Ogg files into frames. ffmpeg/ffprobe are required:
//! their absence is a failure with a clear message, never a skip.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord_recording::{
    parse_h264_header, parse_vp8_header, Codec, Frame, H264Header, ParticipantWriter, Pushed,
    RecorderConfig, RecorderEvent, RecorderHandle, Vp8Header,
};
use concord_sfu::packetize::Packetizer;
use concord_sfu::{TapCodec, TapEvent};
use tokio::sync::mpsc;

pub struct VideoFrame {
    pub at: Duration,
    pub key: bool,
    pub data: Arc<[u8]>,
}

pub struct OpusStream {
    pub channels: u8,
    pub pre_skip: u16,
    pub packets: Vec<(Duration, Arc<[u8]>)>,
}

fn run(cmd: &mut Command) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`{program}` is not installed: these tests need Debian's ffmpeg \
             (apt-get install ffmpeg) to make and check real media"
        ),
        Err(e) => panic!("cannot run `{program}`: {e}"),
    }
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// VP8 in IVF like WebRTC sends it: realtime, no alt-ref (hidden) frames, a keyframe
/// every `gop` frames. testsrc at 30 fps.
pub fn encode_vp8(dir: &Path, name: &str, size: (u32, u32), secs: u32, gop: u32) -> PathBuf {
    let out = dir.join(format!("{name}.ivf"));
    run_ok(
        Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc=size={}x{}:rate=30", size.0, size.1),
                "-t",
                &secs.to_string(),
                "-c:v",
                "libvpx",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-b:v",
                "400k",
                "-auto-alt-ref",
                "0",
                "-lag-in-frames",
                "0",
                "-g",
                &gop.to_string(),
                "-keyint_min",
                &gop.to_string(),
                "-f",
                "ivf",
            ])
            .arg(&out),
    );
    out
}

/// H.264 like WebRTC sends it: Constrained Baseline (no B-frames), an IDR every `gop` frames
/// carrying its SPS/PPS, as a raw Annex-B stream with an access unit delimiter before each
/// frame (so the test can split frames). testsrc at 30 fps.
pub fn encode_h264(dir: &Path, name: &str, size: (u32, u32), secs: u32, gop: u32) -> PathBuf {
    let out = dir.join(format!("{name}.h264"));
    run_ok(
        Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc=size={}x{}:rate=30", size.0, size.1),
                "-t",
                &secs.to_string(),
                "-pix_fmt",
                "yuv420p",
                "-c:v",
                "libx264",
                "-profile:v",
                "baseline",
                "-tune",
                "zerolatency",
                "-b:v",
                "400k",
                "-x264-params",
                &format!("keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:aud=1"),
                "-f",
                "h264",
            ])
            .arg(&out),
    );
    out
}

/// Splits an Annex-B stream at its access unit delimiters (`00 00 00 01 09`), one frame each,
/// stamped at 30 fps: what a browser's encoder hands its packetizer.
pub fn read_h264(path: &Path) -> Vec<VideoFrame> {
    let b = std::fs::read(path).expect("read h264");
    let starts: Vec<usize> = (0..b.len().saturating_sub(4))
        .filter(|&i| b[i..i + 5] == [0, 0, 0, 1, 9])
        .collect();
    assert!(
        !starts.is_empty(),
        "no access unit delimiters in {}",
        path.display()
    );
    let ends = starts
        .iter()
        .skip(1)
        .copied()
        .chain(std::iter::once(b.len()));
    starts
        .iter()
        .zip(ends)
        .enumerate()
        .map(|(i, (&start, end))| {
            let data: Arc<[u8]> = b[start..end].into();
            let key = matches!(parse_h264_header(&data), Some(H264Header::Key { .. }));
            VideoFrame {
                at: Duration::from_nanos(i as u64 * 1_000_000_000 / 30),
                key,
                data,
            }
        })
        .collect()
}

/// Stereo Opus (20 ms packets) in Ogg, a 440 Hz sine.
pub fn encode_opus(dir: &Path, name: &str, secs: u32) -> PathBuf {
    let out = dir.join(format!("{name}.ogg"));
    run_ok(
        Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                &secs.to_string(),
                "-ac",
                "2",
                "-c:a",
                "libopus",
                "-b:a",
                "64k",
                "-f",
                "ogg",
            ])
            .arg(&out),
    );
    out
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// IVF: 32-byte file header (timebase denominator at 16, numerator at 20), then per
/// frame a 12-byte header (size u32, pts u64) and the frame.
pub fn read_ivf(path: &Path) -> Vec<VideoFrame> {
    let b = std::fs::read(path).expect("read ivf");
    assert_eq!(&b[..4], b"DKIF", "not an IVF file");
    let header_len = usize::from(le_u16(&b, 6));
    let den = u64::from(le_u32(&b, 16));
    let num = u64::from(le_u32(&b, 20));
    let mut frames = Vec::new();
    let mut pos = header_len;
    while pos + 12 <= b.len() {
        let size = le_u32(&b, pos) as usize;
        let pts = u64::from_le_bytes(b[pos + 4..pos + 12].try_into().expect("8 bytes"));
        let data: Arc<[u8]> = b[pos + 12..pos + 12 + size].into();
        let key = matches!(parse_vp8_header(&data), Some(Vp8Header::Key { .. }));
        frames.push(VideoFrame {
            at: Duration::from_nanos(pts * num * 1_000_000_000 / den),
            key,
            data,
        });
        pos += 12 + size;
    }
    frames
}

/// Samples (at 48 kHz) in one Opus packet, from its TOC byte (RFC 6716 §3.1).
pub fn opus_packet_samples(p: &[u8]) -> u32 {
    let config = p[0] >> 3;
    let per_frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let count = match p[0] & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(p[1] & 0x3f),
    };
    per_frame * count
}

/// Ogg pages → packets (lacing values of 255 continue a packet), skipping the
/// OpusHead and OpusTags packets; timestamps from the running sample count.
pub fn read_ogg_opus(path: &Path) -> OpusStream {
    let b = std::fs::read(path).expect("read ogg");
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos + 27 <= b.len() {
        assert_eq!(&b[pos..pos + 4], b"OggS", "lost Ogg page sync at {pos}");
        let nsegs = usize::from(b[pos + 26]);
        let table = &b[pos + 27..pos + 27 + nsegs];
        let mut body = pos + 27 + nsegs;
        for &lace in table {
            partial.extend_from_slice(&b[body..body + usize::from(lace)]);
            body += usize::from(lace);
            if lace < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        pos = body;
    }
    let head = &packets[0];
    assert_eq!(&head[..8], b"OpusHead");
    assert_eq!(&packets[1][..8], b"OpusTags");
    let channels = head[9];
    let pre_skip = le_u16(head, 10);
    let mut samples = 0u64;
    let packets = packets[2..]
        .iter()
        .map(|p| {
            let at = Duration::from_nanos(samples * 1_000_000_000 / 48_000);
            samples += u64::from(opus_packet_samples(p));
            (at, Arc::from(p.as_slice()))
        })
        .collect();
    OpusStream {
        channels,
        pre_skip,
        packets,
    }
}

/// Both tracks as frames in arrival order: video reaches the writer `video_lag`
/// after audio of the same time (separate jitter buffers), so the writer must
/// reorder them.
pub fn arrival_order(
    video: &[VideoFrame],
    audio: &[(Duration, Arc<[u8]>)],
    video_lag: Duration,
) -> Vec<Frame> {
    arrival_order_of(Codec::Vp8, video, audio, video_lag)
}

/// [`arrival_order`] for video of `codec`.
pub fn arrival_order_of(
    codec: Codec,
    video: &[VideoFrame],
    audio: &[(Duration, Arc<[u8]>)],
    video_lag: Duration,
) -> Vec<Frame> {
    let mut all: Vec<(Duration, Frame)> = video
        .iter()
        .map(|v| {
            (
                v.at + video_lag,
                Frame::video(codec, v.at, v.key, v.data.clone()),
            )
        })
        .chain(
            audio
                .iter()
                .map(|(at, d)| (*at, Frame::audio(Codec::Opus, *at, d.clone()))),
        )
        .collect();
    all.sort_by_key(|(arrival, _)| *arrival);
    all.into_iter().map(|(_, f)| f).collect()
}

pub fn push_all(w: &mut ParticipantWriter, frames: Vec<Frame>) {
    for f in frames {
        let at = f.timestamp;
        let r = w.push(f).expect("push");
        assert_eq!(r, Pushed::Queued, "frame at {at:?} was dropped");
    }
}

pub fn ffprobe_json(path: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run_ok(
        Command::new("ffprobe")
            .args(["-v", "error", "-of", "json"])
            .args(extra)
            .arg(path),
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON")
}

/// Format duration, and per stream (codec, width, height, decoded frame count).
#[derive(Debug)]
pub struct Probe {
    pub duration: Option<f64>,
    pub streams: Vec<(String, Option<u64>, Option<u64>, u64)>,
}

impl Probe {
    pub fn stream(&self, codec: &str) -> &(String, Option<u64>, Option<u64>, u64) {
        self.streams
            .iter()
            .find(|s| s.0 == codec)
            .unwrap_or_else(|| panic!("no {codec} stream in {:?}", self.streams))
    }
}

pub fn probe(path: &Path) -> Probe {
    let v = ffprobe_json(
        path,
        &[
            "-count_frames",
            "-show_entries",
            "format=duration:stream=codec_name,width,height,nb_read_frames",
        ],
    );
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|s| s.parse().ok());
    let streams = v["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            (
                s["codec_name"].as_str().unwrap_or_default().to_string(),
                s["width"].as_u64(),
                s["height"].as_u64(),
                s["nb_read_frames"]
                    .as_str()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            )
        })
        .collect();
    Probe { duration, streams }
}

/// Presentation times (seconds) of every packet of one stream type ("v" or "a").
pub fn packet_times(path: &Path, stream: &str) -> Vec<f64> {
    let v = ffprobe_json(
        path,
        &[
            "-select_streams",
            stream,
            "-show_entries",
            "packet=pts_time",
        ],
    );
    v["packets"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["pts_time"].as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes every stream fully; returns ffmpeg's error output (empty when clean).
pub fn decode_errors(path: &Path) -> String {
    let out = run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"]));
    assert!(
        out.status.success(),
        "ffmpeg could not decode {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `ffmpeg -c copy`: the repair a truncated recording gets.
pub fn remux(input: &Path, output: &Path) {
    run_ok(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(input)
            .args(["-c", "copy"])
            .arg(output),
    );
}

pub fn sha256sum(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// What a room's tap carries of one participant: each frame cut into RTP packets as a browser
/// sends them (audio on track 0, video on track 1), every packet of a frame arriving at the
/// frame's time.
pub struct TapFeed {
    started: Instant,
    audio: Packetizer,
    video: Packetizer,
    events: Vec<(Duration, TapEvent)>,
}

impl TapFeed {
    pub fn new(participant: &str, video_codec: TapCodec, started: Instant) -> TapFeed {
        TapFeed {
            started,
            audio: Packetizer::new(participant, 0, TapCodec::Opus),
            video: Packetizer::new(participant, 1, video_codec),
            events: Vec::new(),
        }
    }

    /// An Opus packet captured at `at` (session time).
    pub fn audio(&mut self, at: Duration, data: &[u8]) {
        let packets = self
            .audio
            .packets(data, rtp_time(at, 48_000), self.started + at);
        self.events
            .extend(packets.into_iter().map(|p| (at, TapEvent::Packet(p))));
    }

    /// A VP8 frame or H.264 access unit captured at `at` (session time).
    pub fn video(&mut self, at: Duration, data: &[u8]) {
        let packets = self
            .video
            .packets(data, rtp_time(at, 90_000), self.started + at);
        self.events
            .extend(packets.into_iter().map(|p| (at, TapEvent::Packet(p))));
    }

    /// Video frames from now on come in `codec`, on the same track.
    pub fn switch_video_codec(&mut self, codec: TapCodec) {
        self.video.switch_codec(codec);
    }

    /// Everything, in arrival order.
    pub fn into_events(mut self) -> Vec<TapEvent> {
        // Stable: a frame's packets stay in sequence.
        self.events.sort_by_key(|(at, _)| *at);
        self.events.into_iter().map(|(_, event)| event).collect()
    }
}

fn rtp_time(at: Duration, clock_rate: u32) -> u64 {
    (at.as_secs_f64() * f64::from(clock_rate)) as u64
}

/// A recorder writing into `dir/recording`, fed as a room's tap would feed it (a queue of
/// `queue` events), each participant's file named after them.
pub fn start_tapped_recorder(
    dir: &Path,
    started: Instant,
    queue: usize,
) -> (
    mpsc::Sender<TapEvent>,
    mpsc::Receiver<RecorderEvent>,
    RecorderHandle,
) {
    let (tap_tx, tap_rx) = mpsc::channel(queue);
    let (events_tx, events_rx) = mpsc::channel(256);
    let recorder = concord_recording::start(
        RecorderConfig {
            dir: dir.join("recording"),
            started,
            file_name: Box::new(|participant| participant.to_owned()),
        },
        tap_rx,
        events_tx,
    );
    (tap_tx, events_rx, recorder)
}

/// This test binary again, running only the ignored test `test` with `env` set to `dir`: how
/// the crash and disk-full tests run a recorder in a process they can kill or limit.
pub fn child_test_command(test: &str, env: &str, dir: &Path) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env, dir);
    command
}
