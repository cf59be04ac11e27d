//! `kill -9` in the middle of a recording: what was written must still play.
//!
//! The parent test re-runs this test binary as a child (the ignored helper below),
//! which records 10 s of real media in real time and prints how far it has written.
//! Once it reports the kill time the parent sends SIGKILL, then checks the truncated
//! file with ffprobe/ffmpeg. Real time matters: the bound is "at most the last 2 s
//! lost", on the writer's own clock. One child's camera stops after 2 s while its
//! microphone goes on, the case where libwebm would keep audio in memory.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use concord_recording::{AudioConfig, ParticipantWriter, WriterConfig};
use support::*;

const CHILD_ENV: &str = "CONCORD_RECORDING_CRASH_CHILD";
/// Milliseconds of video the child sends (all of it when unset).
const CHILD_VIDEO_ENV: &str = "CONCORD_RECORDING_CRASH_VIDEO_MS";
const CHILD_TEST: &str = "crash_child_records_in_real_time";
const KILL_AFTER: Duration = Duration::from_secs(4);
const MAX_LOSS: f64 = 2.0;
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
const VIDEO_LAG: Duration = Duration::from_millis(120);
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// "wrote W pushed P" (milliseconds).
fn parse_progress(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("wrote ")?;
    let (w, p) = rest.split_once(" pushed ")?;
    Some((w.parse().ok()?, p.parse().ok()?))
}

fn output_path(dir: &Path) -> PathBuf {
    dir.join("crashed.webm")
}

#[test]
#[ignore = "helper: started as a child process by kill_9_mid_recording_leaves_a_playable_file"]
fn crash_child_records_in_real_time() {
    let dir = PathBuf::from(std::env::var(CHILD_ENV).expect("run by the crash test only"));
    let mut video = read_ivf(&dir.join("v.ivf"));
    if let Some(ms) = std::env::var(CHILD_VIDEO_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        video.retain(|f| f.at < Duration::from_millis(ms));
    }
    let audio = read_ogg_opus(&dir.join("a.ogg"));
    let mut config = WriterConfig::vp8_opus(output_path(&dir));
    config.audio = Some(AudioConfig {
        channels: audio.channels,
        pre_skip: audio.pre_skip,
        ..AudioConfig::webrtc_opus()
    });
    let mut w = ParticipantWriter::create(config).expect("create");
    let start = Instant::now();
    let mut reported = Duration::ZERO;
    for f in arrival_order(&video, &audio.packets, VIDEO_LAG) {
        // Frames arrive when they would live: video a little after its audio.
        let arrival = f.timestamp
            + if f.codec.kind() == concord_recording::Kind::Video {
                VIDEO_LAG
            } else {
                Duration::ZERO
            };
        if let Some(wait) = arrival.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let pushed = f.timestamp;
        let _ = w.push(f).expect("push");
        if let Some(written) = w.written_until() {
            if written >= reported + REPORT_EVERY {
                reported = written;
                // "wrote" is on disk (handed to the OS); "pushed" is the newest frame
                // handed to the writer, some of it still in the reorder buffer.
                println!(
                    "wrote {} pushed {}",
                    written.as_millis(),
                    pushed.as_millis()
                );
            }
        }
    }
    w.finish().expect("finish");
    println!("finished");
}

/// Runs the child on `dir` (sending `video_ms` of video, or all), kills it once it reports
/// having written `kill_after`, and returns how far it had written and pushed (seconds).
fn record_then_kill(dir: &Path, video_ms: Option<u64>, kill_after: Duration) -> (f64, f64) {
    let mut command = child_test_command(CHILD_TEST, CHILD_ENV, dir);
    if let Some(ms) = video_ms {
        command.env(CHILD_VIDEO_ENV, ms.to_string());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + CHILD_TIMEOUT;
    let (mut reported_ms, mut pushed_ms) = (0u64, 0u64);
    while reported_ms < kill_after.as_millis() as u64 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some((w, p)) = parse_progress(&line) {
                    (reported_ms, pushed_ms) = (w, p);
                }
                assert_ne!(line, "finished", "child finished before it was killed");
            }
            Err(e) => {
                let _ = child.kill();
                panic!("no progress from the child ({e}); last reported {reported_ms} ms");
            }
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert_eq!(status.signal(), Some(9), "child died of SIGKILL");
    // Lines printed before the kill but not yet read can only raise the bar.
    drop(reader.join());
    for line in rx.try_iter() {
        if let Some((w, p)) = parse_progress(&line) {
            (reported_ms, pushed_ms) = (reported_ms.max(w), pushed_ms.max(p));
        }
    }
    (reported_ms as f64 / 1000.0, pushed_ms as f64 / 1000.0)
}

#[test]
fn kill_9_mid_recording_leaves_a_playable_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    encode_vp8(dir.path(), "v", (320, 240), 10, 60);
    encode_opus(dir.path(), "a", 10);
    // `pushed` is the strict reading of "loses at most the last 2 s": measured against the
    // newest frame the child had handed over, including what sat in the reorder buffer.
    let (reported, pushed) = record_then_kill(dir.path(), None, KILL_AFTER);

    let path = output_path(dir.path());
    let p = probe(&path);
    eprintln!("killed after writing {reported} s (pushed {pushed} s); truncated file: {p:?}");
    assert!(p.stream("vp8").3 > 0 && p.stream("opus").3 > 0, "{p:?}");
    let last_video = packet_times(&path, "v").into_iter().fold(0.0, f64::max);
    let last_audio = packet_times(&path, "a").into_iter().fold(0.0, f64::max);
    eprintln!("last packets: video {last_video} s, audio {last_audio} s");
    for (track, last) in [("video", last_video), ("audio", last_audio)] {
        assert!(
            last >= reported - MAX_LOSS,
            "{track} ends at {last}, wrote {reported}"
        );
        assert!(
            last >= pushed - MAX_LOSS,
            "{track} ends at {last}, pushed {pushed}"
        );
    }
    // libwebm writes the segment Duration only in `finalize`: a killed file carries a
    // placeholder (ffprobe shows ~0.001 s), so an interrupted recording's duration comes
    // from its packets, as `recorded_duration` reads them.
    let duration = concord_recording::recorded_duration(&path)
        .expect("ffprobe reads the truncated file")
        .expect("it has packets")
        .as_secs_f64();
    eprintln!("recorded_duration of the truncated file: {duration} s");
    assert!(
        duration >= reported - MAX_LOSS && duration <= pushed,
        "{duration} s, wrote {reported} s, pushed {pushed} s"
    );
    let errors = decode_errors(&path);
    eprintln!("decoding the truncated file: {errors:?}");

    // The usual repair: a copy-remux gives a clean file with a duration.
    let repaired = dir.path().join("repaired.webm");
    remux(&path, &repaired);
    let r = probe(&repaired);
    eprintln!("repaired: {r:?}");
    assert!(
        r.duration.is_some_and(|d| d >= reported - MAX_LOSS),
        "{r:?}"
    );
    assert_eq!(decode_errors(&repaired), "");
}

#[test]
fn kill_9_after_the_camera_stopped_loses_at_most_two_seconds_of_audio() {
    let dir = tempfile::tempdir().expect("temp dir");
    encode_vp8(dir.path(), "v", (320, 240), 10, 60);
    encode_opus(dir.path(), "a", 10);
    let video_stops = Duration::from_secs(2);
    // Killed 4 s after the last video frame: before, libwebm still held all of that audio.
    let kill_after = video_stops + Duration::from_secs(4);
    let (reported, pushed) =
        record_then_kill(dir.path(), Some(video_stops.as_millis() as u64), kill_after);

    let path = output_path(dir.path());
    let last_video = packet_times(&path, "v").into_iter().fold(0.0, f64::max);
    let last_audio = packet_times(&path, "a").into_iter().fold(0.0, f64::max);
    let lost = pushed - last_audio;
    eprintln!(
        "camera stopped at {} s; killed after writing {reported} s (pushed {pushed} s); \
         last packets: video {last_video} s, audio {last_audio} s; audio lost {lost:.3} s",
        video_stops.as_secs_f64()
    );
    assert!(
        (last_video - video_stops.as_secs_f64()).abs() < 0.1,
        "video runs until it stopped: {last_video}"
    );
    assert!(
        lost <= MAX_LOSS,
        "audio ends at {last_audio} s, {lost:.2} s before the newest pushed ({pushed} s)"
    );
    assert_eq!(
        ffmpeg_copy_errors(&path),
        "",
        "the truncated file's packets read cleanly"
    );
}

/// Errors reading every packet of `path` (a copy to nowhere): the container, not the codecs.
fn ffmpeg_copy_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-c", "copy", "-f", "null", "-"])
        .output()
        .expect("ffmpeg is installed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
