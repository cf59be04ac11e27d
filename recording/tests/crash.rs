//! `kill -9` in the middle of a recording: what was written must still play.
//!
//! The parent test re-runs this test binary as a child (the ignored helper below),
//! which records 10 s of real media in real time and prints how far it has written.
//! Once it reports 4 s the parent sends SIGKILL, then checks the truncated file with
//! ffprobe/ffmpeg. Real time matters: the bound is "at most the last 2 s lost", on
//! the writer's own clock.

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
    let video = read_ivf(&dir.join("v.ivf"));
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

#[test]
fn kill_9_mid_recording_leaves_a_playable_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    encode_vp8(dir.path(), "v", (320, 240), 10, 60);
    encode_opus(dir.path(), "a", 10);

    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
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
    while reported_ms < KILL_AFTER.as_millis() as u64 {
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
    let reported = reported_ms as f64 / 1000.0;
    // The strict reading of "loses at most the last 2 s": measured against the newest
    // frame the child had handed over, including what sat in the reorder buffer.
    let pushed = pushed_ms as f64 / 1000.0;

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
    // placeholder (ffprobe shows ~0.001 s), so an interrupted recording's duration must
    // come from its last packet or a remux, never from the header.
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
