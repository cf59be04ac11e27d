//! The disk fills up in the middle of a recording: the recorder must stop with an error that
//! names the file and the OS's reason, and what reached the disk must still play.
//!
//! No mocks and no mounts: the parent test re-runs this test binary as a child (the ignored
//! helper below) that lowers its own `RLIMIT_FSIZE` to [`FILE_LIMIT`] and ignores `SIGXFSZ`, so
//! once the recording reaches that size every write(2) fails with `EFBIG` ("File too large"),
//! the same path through `FdWriter`, the muxer and the recorder as `ENOSPC`. The child feeds a
//! participant's real VP8 and Opus, as RTP packets, through the session recorder (room tap,
//! feeder, writer thread and its frame assembler) and prints every `RecorderEvent`; the parent
//! checks them and the file.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use concord_recording::RecorderEvent;
use concord_sfu::TapCodec;
use support::*;

const CHILD_ENV: &str = "CONCORD_RECORDING_DISK_FULL_CHILD";
const CHILD_TEST: &str = "disk_full_child_records_until_writes_fail";
/// Largest file the child may write: well past the header and the first flushes, well short of
/// the 10 s of media (about 600 KB).
const FILE_LIMIT: u64 = 300 * 1024;
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// Every write past `limit` bytes of any file fails with EFBIG instead of killing the process.
fn limit_file_size(limit: u64) {
    // SAFETY: plain syscalls on this process with a valid, initialised struct.
    unsafe {
        assert_ne!(
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN),
            libc::SIG_ERR,
            "ignore SIGXFSZ"
        );
        let rlimit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit),
            0,
            "setrlimit(RLIMIT_FSIZE): {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
#[ignore = "helper: started as a child process by a_write_failing_mid_recording_stops_it_and_keeps_what_was_written"]
fn disk_full_child_records_until_writes_fail() {
    let dir = PathBuf::from(std::env::var(CHILD_ENV).expect("run by the disk-full test only"));
    // Read the media before the limit applies (reading is not limited, but be plain about it).
    let video = read_ivf(&dir.join("v.ivf"));
    let audio = read_ogg_opus(&dir.join("a.ogg"));
    limit_file_size(FILE_LIMIT);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let started = Instant::now();
        let mut feed = TapFeed::new("villager", TapCodec::Vp8, started);
        for (at, data) in &audio.packets {
            feed.audio(*at, data);
        }
        for frame in &video {
            feed.video(frame.at, &frame.data);
        }

        let (tap_tx, mut events_rx, recorder) = start_tapped_recorder(&dir, started, 16_384);
        // Ten seconds of media at once: session time comes from the packets, not the clock.
        for event in feed.into_events() {
            if tap_tx.send(event).await.is_err() {
                // The recorder stopped taking packets (its writer thread has stopped).
                println!("@@ tap closed");
                break;
            }
        }
        // The recorder must stop by itself: no `stop()` before its `Stopped` event.
        loop {
            match events_rx.recv().await {
                Some(RecorderEvent::FileOpened { path, .. }) => {
                    println!("@@ opened {}", path.display());
                }
                Some(RecorderEvent::FileClosed { path, result, .. }) => match result {
                    Ok(summary) => println!("@@ closed {} ok {summary:?}", path.display()),
                    Err(error) => println!("@@ closed {} error {error}", path.display()),
                },
                Some(RecorderEvent::KeyframeWanted { .. }) => {}
                Some(RecorderEvent::Stopped { error }) => {
                    println!("@@ stopped {}", error.as_deref().unwrap_or("without error"));
                    break;
                }
                None => {
                    println!("@@ events closed without Stopped");
                    break;
                }
            }
        }
        drop(tap_tx);
        recorder.stop().await;
    });
    println!("@@ child done");
}

/// Runs the child on `dir` and returns its stdout lines; it must exit on its own, cleanly.
fn run_child(dir: &Path) -> Vec<String> {
    let mut child = child_test_command(CHILD_TEST, CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        // The harness prints its own text around ours: keep only the child's marked lines.
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.split_once("@@ ").map(|(_, ours)| ours.to_owned()))
            .collect();
        let _ = tx.send(lines);
    });
    let lines = match rx.recv_timeout(CHILD_TIMEOUT) {
        Ok(lines) => lines,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child hung ({e}): the recorder did not stop after writes failed");
        }
    };
    let status = child.wait().expect("reap the child");
    assert!(
        status.success(),
        "the child failed (a panic?): {status}; its output: {lines:#?}"
    );
    lines
}

#[test]
fn a_write_failing_mid_recording_stops_it_and_keeps_what_was_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    encode_vp8(dir.path(), "v", (320, 240), 10, 60);
    encode_opus(dir.path(), "a", 10);
    let began = Instant::now();
    let lines = run_child(dir.path());
    eprintln!("child ({:?}): {lines:#?}", began.elapsed());

    let path = dir.path().join("recording").join("villager.webm");
    let shown = path.display().to_string();
    assert!(
        lines.contains(&format!("opened {shown}")),
        "the file was opened: {lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l == "child done"),
        "no panic: {lines:#?}"
    );
    // The mediator sees why: the file and the OS's reason, on the Stopped event.
    let stopped = lines
        .iter()
        .find_map(|l| l.strip_prefix("stopped "))
        .expect("a Stopped event");
    assert!(
        stopped.contains(&shown) && stopped.contains("File too large (os error 27)"),
        "the error names the file and the OS's reason: {stopped}"
    );
    // The participant's file was closed with that error, not reported finished.
    let closed = lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("closed {shown} ")))
        .expect("a FileClosed event for the file");
    assert!(
        closed.starts_with("error ") && closed.contains("File too large"),
        "{closed}"
    );
    // No second file was started after the failure.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("opened ")).count(),
        1,
        "{lines:#?}"
    );

    // Writing stopped at the limit, and what was written stays.
    let size = std::fs::metadata(&path).expect("the file is kept").len();
    eprintln!("file size {size} bytes (limit {FILE_LIMIT})");
    assert!(
        size <= FILE_LIMIT && size > FILE_LIMIT / 2,
        "{size} bytes, limit {FILE_LIMIT}"
    );

    // It plays: ffprobe finds both streams and decodes frames of each.
    let p = probe(&path);
    eprintln!("file written until the failure: {p:?}");
    let (_, width, height, video_frames) = p.stream("vp8").clone();
    assert_eq!((width, height), (Some(320), Some(240)), "{p:?}");
    let audio_frames = p.stream("opus").3;
    // Most of what fit in 300 KB (about eight seconds of this test picture) is kept.
    assert!(
        video_frames >= 100 && audio_frames >= 150,
        "decoded frames: {p:?}"
    );
    let errors = decode_errors(&path);
    assert_eq!(errors, "", "decoding the file written until the failure");
}
