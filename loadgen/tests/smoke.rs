//! Short fan-out load runs against an in-process server: every subscriber receives the
//! publisher's real VP8 and Opus frames with little loss, and `--record` records the room over
//! the window into complete files. Delivery only, not speed.

use std::time::Duration;

use concord_client::{Clip, ClipSpec, ConcordAdapter};
use concord_loadgen::{run, RunOptions, Scenario};
use concord_signaling::{Config, Server};

/// Starts a server on 127.0.0.1 with `config` and signs its admin in.
async fn serve_and_sign_in(config: Config) -> (Server, ConcordAdapter) {
    let password = config.admin_password.clone();
    let server = concord_signaling::start(config)
        .await
        .expect("start the server");
    let base_url = server.base_url().trim_end_matches('/').to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    let adapter = ConcordAdapter::sign_in(&base_url, "admin", &password)
        .await
        .expect("sign in");
    (server, adapter)
}

/// A fan-out of `seconds` to `subscribers` on loopback: the clip at its defaults, from the
/// shared clip cache, measured from the start, nothing recorded.
fn fanout(subscribers: usize, seconds: f64) -> RunOptions {
    RunOptions {
        scenario: Scenario::Fanout { subscribers },
        seconds,
        clip: ClipSpec::default(),
        clip_cache: Clip::default_cache_dir(),
        warmup_timeout: Duration::from_secs(60),
        settle: Duration::ZERO,
        server_pid: None,
        client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        record: false,
        simulcast: None,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn fanout_to_three_subscribers_delivers_video_and_audio_frames() {
    let dir = tempfile::tempdir().expect("data directory");
    let config = concord_signaling::Config::for_tests(dir.path());
    let (server, adapter) = serve_and_sign_in(config).await;
    let options = RunOptions {
        clip: ClipSpec {
            video_bitrate: 300_000,
            ..ClipSpec::default()
        },
        ..fanout(3, 5.0)
    };
    let result = run(&adapter, &options).await;
    server.shutdown().await;
    let report = result.expect("load run");
    println!("{}", report.table());

    assert_eq!(report.streams.len(), 6, "3 subscribers × audio and video");
    for s in &report.streams {
        // 5 s at 30 fps / 50 packets per second: far more than a handful.
        assert!(s.frames >= 30, "too few frames: {s:?}");
    }
    report
        .check_delivery(2.0)
        .expect("delivery with under 2 % loss");
    let subscribers = report
        .roles
        .iter()
        .find(|r| r.role.starts_with("subscriber"))
        .expect("a subscriber row");
    assert!(subscribers.delay_samples > 0, "no forwarding-delay samples");
    assert!(report.recording.is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_simulcast_fanout_delivers_the_layer_the_subscribers_ask_for() {
    let dir = tempfile::tempdir().expect("data directory");
    let config = concord_signaling::Config::for_tests(dir.path());
    let (server, adapter) = serve_and_sign_in(config).await;
    let options = RunOptions {
        // The middle layer, 640x360.
        simulcast: Some(1),
        ..fanout(2, 3.0)
    };
    let result = run(&adapter, &options).await;
    server.shutdown().await;
    let report = result.expect("simulcast load run");
    println!("{}", report.table());

    report
        .check_delivery(2.0)
        .expect("delivery with under 2 % loss");
    assert_eq!(report.simulcast_layer_height, Some(360));
    for s in report.streams.iter().filter(|s| s.kind == "video") {
        assert_eq!(s.keyframe_height, Some(360), "the middle layer: {s:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_recorded_run_records_the_publisher_into_a_complete_file() {
    let dir = tempfile::tempdir().expect("data directory");
    let mut config = concord_signaling::Config::for_tests(dir.path());
    config.recording.notice_secs = 0;
    let (server, adapter) = serve_and_sign_in(config).await;
    let options = RunOptions {
        clip: ClipSpec {
            video_bitrate: 300_000,
            ..ClipSpec::default()
        },
        // This process is the server: its storage writes are sampled too.
        server_pid: Some(std::process::id()),
        record: true,
        ..fanout(1, 2.0)
    };
    let result = run(&adapter, &options).await;
    server.shutdown().await;
    let report = result.expect("recorded load run");
    println!("{}", report.table());

    // The host joined without media: the subscriber still gets everything, nothing more.
    report
        .check_delivery(2.0)
        .expect("delivery with under 2 % loss");
    let recording = report.recording.as_ref().expect("a recording report");
    assert_eq!(recording.rooms, 1);
    assert_eq!(
        (recording.participant_files, recording.complete_files),
        (1, 1),
        "one complete file, the publisher's: {recording:?}"
    );
    // 2 s of a 300 kbit/s clip with Opus: well over 50 kB.
    assert!(recording.bytes > 50_000, "{recording:?}");
    let written = report
        .server_process
        .as_ref()
        .and_then(|p| p.write_bytes)
        .expect("storage writes sampled from /proc/self/io");
    assert!(written > 0, "nothing written to storage while recording");

    let on_disk: u64 = walk(&dir.path().join("recordings"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "webm"))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    assert!(
        on_disk >= recording.bytes,
        "the filed files are on disk: {on_disk} bytes"
    );
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
