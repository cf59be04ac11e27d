//! The composite of a recording: participants' files side by side with audio mixed, aligned by
//! their start offsets, made by Debian's ffmpeg (the tests fail, not skip, without it).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use concord_recording::{
    compose, AudioConfig, Codec, CompositeInput, Frame, ParticipantWriter, WriterConfig,
};
use serde_json::Value;
use support::{encode_opus, push_all, read_ogg_opus};

/// Whether a made-up participant's file has a voice.
#[derive(Clone, Copy, PartialEq)]
enum Sound {
    Tone,
    None,
}

/// A WebM of `seconds` of test pattern (and tone), as a participant's file would be.
fn participant_file(path: &Path, seconds: u32, size: &str, sound: Sound) {
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={size}:rate=15"));
    match sound {
        Sound::Tone => ffmpeg.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]),
        Sound::None => ffmpeg.arg("-an"),
    };
    let status = ffmpeg
        .arg("-t")
        .arg(seconds.to_string())
        .args(["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"])
        .arg(path)
        .status()
        .expect("ffmpeg is installed (Debian's ffmpeg; .ci/run installs it)");
    assert!(status.success(), "ffmpeg made {}", path.display());
}

fn duration_of(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("the file's duration")
}

fn input(
    path: std::path::PathBuf,
    who: &str,
    offset: Duration,
    duration: Duration,
) -> CompositeInput {
    CompositeInput {
        path,
        participant: who.to_owned(),
        offset,
        duration,
        has_video: true,
        has_audio: true,
        shared_screen: false,
    }
}

fn probe(path: &Path) -> Value {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args([
            "format=duration:stream=codec_type,codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    serde_json::from_slice(&output.stdout).expect("ffprobe prints JSON")
}

/// The video stream of an ffprobe report.
fn video_stream(probe: &Value) -> Value {
    probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
        .cloned()
        .expect("a video stream")
}

#[tokio::test]
async fn composite_lays_participants_side_by_side_and_aligns_them() {
    let dir = tempfile::tempdir().expect("dir");
    let a = dir.path().join("a.webm");
    let b = dir.path().join("b.webm");
    participant_file(&a, 6, "320x240", Sound::Tone);
    participant_file(&b, 4, "640x360", Sound::Tone);
    let inputs = [
        input(a, "a", Duration::ZERO, Duration::from_secs(6)),
        input(b, "b", Duration::from_secs(1), Duration::from_secs(4)),
    ];
    let output = dir.path().join("composite.webm");
    let mut reported = Vec::new();
    compose(&inputs, &output, |fraction| reported.push(fraction))
        .await
        .expect("the composite is made");

    let probe = probe(&output);
    let streams = probe["streams"].as_array().expect("streams");
    let video = video_stream(&probe);
    assert_eq!(video["codec_name"], "vp8");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(1280), Some(360))
    );
    assert!(
        streams
            .iter()
            .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "opus"),
        "{probe}"
    );
    let duration = duration_of(&probe);
    assert!(
        (duration - 6.0).abs() < 0.5,
        "as long as the longest file: {duration}"
    );
    assert!(reported.len() >= 2, "progress was reported: {reported:?}");
    assert_eq!(reported.last().copied(), Some(1.0));
    assert!(reported.windows(2).all(|w| w[0] <= w[1]), "{reported:?}");

    let again = compose(&inputs, &output, |_| {}).await;
    assert!(again.is_err(), "an existing composite is never overwritten");
}

/// Where `path`'s sound is silent, as (start, end) in seconds (ffmpeg's `silencedetect`).
#[tokio::test]
async fn a_shared_screen_is_large_in_the_composite_with_the_cameras_under_it() {
    let dir = tempfile::tempdir().expect("dir");
    let a = dir.path().join("a.webm");
    let b = dir.path().join("b.webm");
    let screen = dir.path().join("a-screen.webm");
    participant_file(&a, 5, "320x240", Sound::Tone);
    participant_file(&b, 5, "640x360", Sound::Tone);
    participant_file(&screen, 3, "1280x720", Sound::None);
    let inputs = [
        input(a, "a", Duration::ZERO, Duration::from_secs(5)),
        input(b, "b", Duration::ZERO, Duration::from_secs(5)),
        CompositeInput {
            has_audio: false,
            shared_screen: true,
            ..input(screen, "a", Duration::from_secs(1), Duration::from_secs(3))
        },
    ];
    let output = dir.path().join("composite.webm");
    compose(&inputs, &output, |_| {})
        .await
        .expect("the composite is made");

    let probe = probe(&output);
    let video = video_stream(&probe);
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(1280), Some(720 + 180)),
        "the screen's 1280x720 stage over a strip of 320x180 cameras"
    );
    let duration = duration_of(&probe);
    assert!((duration - 5.0).abs() < 0.5, "{duration}");
    // The stage is black until the share begins, and shows the screen while it lasts.
    let stage_before = mean_luma(&output, 0.5, "1280:720:0:0");
    let stage_during = mean_luma(&output, 2.5, "1280:720:0:0");
    assert!(stage_before < 30, "black before the share: {stage_before}");
    assert!(stage_during > 60, "the screen during it: {stage_during}");
    let strip = mean_luma(&output, 0.5, "640:180:320:720");
    assert!(strip > 60, "the cameras under it: {strip}");
}

/// The mean brightness (0-255) of the region `crop` (w:h:x:y) of `path`'s picture at `at` s.
fn mean_luma(path: &Path, at: f64, crop: &str) -> u8 {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{at:.3}"), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-vf"])
        .arg(format!("crop={crop},scale=1:1:flags=area"))
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout.first().copied().expect("one pixel")
}

fn silences(path: &Path) -> Vec<(f64, f64)> {
    let output = Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "silencedetect=noise=-40dB:d=0.5", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let log = String::from_utf8_lossy(&output.stderr);
    let value = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    let mut found = Vec::new();
    let mut start = None;
    for line in log.lines() {
        if let Some(at) = value(line, "silence_start: ") {
            start = Some(at);
        } else if let (Some(from), Some(to)) = (start, value(line, "silence_end: ")) {
            found.push((from, to));
            start = None;
        }
    }
    if let Some(from) = start {
        found.push((from, f64::INFINITY));
    }
    found
}

/// A voice-only file whose tone stops from `gap.0` to `gap.1` seconds (the participant's
/// network dropped) and goes on to `until`, written by the recorder's own writer.
fn voice_with_a_gap(dir: &Path, gap: (f64, f64), until: f64) -> std::path::PathBuf {
    let opus = read_ogg_opus(&encode_opus(dir, "voice", until.ceil() as u32));
    let path = dir.join("voice.webm");
    let mut config = WriterConfig::vp8_opus(path.clone());
    config.video = None;
    config.audio = Some(AudioConfig {
        channels: opus.channels,
        pre_skip: opus.pre_skip,
        ..AudioConfig::webrtc_opus()
    });
    let mut writer = ParticipantWriter::create(config).expect("a writer");
    let frames = opus
        .packets
        .iter()
        .filter(|(at, _)| {
            let at = at.as_secs_f64();
            at < until && !(gap.0..gap.1).contains(&at)
        })
        .map(|(at, data)| Frame::audio(Codec::Opus, *at, data.clone()))
        .collect();
    push_all(&mut writer, frames);
    writer.finish().expect("the file is finished");
    path
}

#[tokio::test]
async fn a_participant_who_dropped_out_stays_in_one_tile_and_in_time() {
    let dir = tempfile::tempdir().expect("dir");
    // The voice: a tone with a 3 s hole where the network was gone.
    let voice = voice_with_a_gap(dir.path(), (2.0, 5.0), 8.0);
    // The camera of the same participant: a first connection's file, then (after the drop) a
    // second connection's, and someone else's camera, all without sound.
    let camera = |name: &str, seconds: u32| {
        let path = dir.path().join(format!("{name}.webm"));
        participant_file(&path, seconds, "320x240", Sound::None);
        path
    };
    let secs = Duration::from_secs;
    let mut voice = input(voice, "dropped", Duration::ZERO, secs(8));
    voice.has_video = false;
    let mut first = input(camera("first", 2), "dropped", Duration::ZERO, secs(2));
    let mut second = input(camera("second", 3), "dropped", secs(5), secs(3));
    let mut other = input(camera("other", 8), "other", Duration::ZERO, secs(8));
    for silent in [&mut first, &mut second, &mut other] {
        silent.has_audio = false;
    }
    let output = dir.path().join("composite.webm");
    compose(&[first, voice, other, second], &output, |_| {})
        .await
        .expect("the composite is made");

    let probe = probe(&output);
    let video = video_stream(&probe);
    assert_eq!(
        video["width"].as_u64(),
        Some(1280),
        "two participants, two tiles, however many files: {probe}"
    );
    // The hole in the voice is where it was: the sound after it is not pulled forward.
    let holes = silences(&output);
    let hole = holes
        .iter()
        .find(|(from, to)| *to - *from > 2.0)
        .unwrap_or_else(|| panic!("a hole of about 3 s in the sound: {holes:?}"));
    assert!(
        (hole.0 - 2.0).abs() < 0.3 && (hole.1 - 5.0).abs() < 0.3,
        "the hole lies from 2 s to 5 s: {holes:?}"
    );
    let duration = duration_of(&probe);
    assert!(
        (duration - 8.0).abs() < 0.5,
        "as long as the session: {duration}"
    );
}
