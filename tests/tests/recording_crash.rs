//! A recording survives the server being killed: after `kill -9` and a restart on the same
//! data directory, the recording is marked interrupted and kept with its hash, size and
//! duration (read from what was written), and its file reads cleanly up to within two seconds
//! of the kill.
//!
//! The server runs in a child process: this test binary started again with only the ignored
//! `child_server` entry point, so the parent can kill a real server process.

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use concord_signaling::Config;
use concord_tests::recordings::{expect_recording_state, ffmpeg_errors};
use concord_tests::{ApiClient, JoinAs, MediaKind, Peer, MEDIA_TIMEOUT, SIGNAL_TIMEOUT};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CHILD_DIR: &str = "CONCORD_TEST_CHILD_SERVER_DIR";
const ADMIN_PASSWORD: &str = "admin-password-for-tests";
const MEDIATOR_PASSWORD: &str = "a long mediator password";
/// How long the test records before the kill: the length measured, not a synchronisation.
const RECORD_BEFORE_KILL: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the server process of recording_is_kept_after_the_server_is_killed"]
async fn child_server() {
    let dir =
        std::env::var(CHILD_DIR).expect("run by recording_is_kept_after_the_server_is_killed");
    let mut config = Config::for_tests(Path::new(&dir));
    config.recording.notice_secs = 1;
    let server = concord_signaling::start(config)
        .await
        .expect("start the server");
    println!("LISTENING {}", server.base_url());
    std::future::pending::<()>().await;
}

/// Starts the child server on `dir` and returns it with its base URL.
async fn start_child(dir: &Path) -> (Child, String) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "child_server", "--nocapture"])
        .env(CHILD_DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the child server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read the child's output") {
            if let Some(url) = line.strip_prefix("LISTENING ") {
                return url.trim().to_owned();
            }
        }
        panic!("the child server exited before listening");
    })
    .await
    .expect("the child server starts");
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// The time of the last packet in a media file.
fn last_packet(path: &Path) -> f64 {
    let probe = StdCommand::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed (Debian's ffmpeg; .ci/run installs it)");
    String::from_utf8_lossy(&probe.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .fold(0.0, f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_is_kept_after_the_server_is_killed() {
    let data = tempfile::tempdir().expect("a data directory");
    let (mut child, url) = start_child(data.path()).await;

    let admin = ApiClient::new(&url).expect("client");
    admin
        .login("admin", ADMIN_PASSWORD)
        .await
        .expect("admin signs in");
    admin
        .post(
            "/api/users",
            json!({"username": "mediator", "display_name": "Mediator",
                   "password": MEDIATOR_PASSWORD, "role": "mediator"}),
        )
        .await
        .expect("request")
        .ok()
        .expect("a mediator account");
    let mediator = ApiClient::new(&url).expect("client");
    mediator
        .login("mediator", MEDIATOR_PASSWORD)
        .await
        .expect("the mediator signs in");
    let dispute = mediator.create_dispute().await.expect("dispute");
    let dispute_id = dispute["id"].as_str().expect("id").to_owned();
    let session = mediator
        .create_session(&dispute_id, false)
        .await
        .expect("session");
    let session_id = session["id"].as_str().expect("id").to_owned();
    let invitation = mediator
        .invite(&session_id, "party", "Party")
        .await
        .expect("invite");

    let ws = format!("{}/ws", url.replacen("http://", "ws://", 1));
    let cookie = mediator.cookie().expect("cookie");
    let mut host = Peer::join(
        &ws,
        JoinAs::Account {
            session_id: &session_id,
            cookie: &cookie,
        },
        SIGNAL_TIMEOUT,
    )
    .await
    .expect("the mediator joins");
    let party = Peer::join(&ws, JoinAs::Token(&invitation.token), SIGNAL_TIMEOUT)
        .await
        .expect("the party joins");
    let party_id = party.participant_id().to_owned();
    host.wait_until_receiving_from(&[&party_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("media flows");

    host.send(json!({"type": "start_recording"})).expect("send");
    expect_recording_state(&mut host, "on").await;
    let recording_started = Instant::now();
    tokio::time::sleep(RECORD_BEFORE_KILL).await;

    child.start_kill().expect("kill -9 the server");
    let recorded = recording_started.elapsed();
    let _ = child.wait().await;
    party.close().await;
    host.close().await;

    let (_child, url) = start_child(data.path()).await;
    let mediator = ApiClient::new(&url).expect("client");
    mediator
        .login("mediator", MEDIATOR_PASSWORD)
        .await
        .expect("the mediator signs in after the restart");
    let listing = mediator
        .get(&format!("/api/disputes/{dispute_id}/recordings"))
        .await
        .expect("request")
        .ok()
        .expect("the recordings are listed");
    let recording = &listing["recordings"][0];
    assert_eq!(recording["status"], "interrupted", "{listing}");
    let files: Vec<&Value> = recording["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["kind"] == "participant")
        .collect();
    assert_eq!(
        files.len(),
        2,
        "both participants' files are kept: {recording}"
    );

    let dir: PathBuf = data
        .path()
        .join("recordings")
        .join(recording["id"].as_str().expect("id"));
    let on_disk: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the recording's directory is kept")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "webm"))
        .collect();
    assert_eq!(on_disk.len(), 2, "{on_disk:?}");
    for file in &files {
        assert_eq!(file["status"], "interrupted", "{file}");
        let sha = file["sha256"]
            .as_str()
            .expect("interrupted files are hashed on restart");
        let path = on_disk
            .iter()
            .find(|p| {
                let out = StdCommand::new("sha256sum")
                    .arg(p)
                    .output()
                    .expect("sha256sum");
                String::from_utf8_lossy(&out.stdout).starts_with(sha)
            })
            .expect("the filed hash is one file's hash");
        let last = last_packet(path);
        let size = std::fs::metadata(path).expect("stat").len();
        assert_eq!(file["size_bytes"].as_u64(), Some(size), "{file}");
        let duration = file["duration_ms"]
            .as_f64()
            .expect("interrupted files get their duration on restart")
            / 1000.0;
        assert!(
            (duration - last).abs() <= 0.05,
            "the filed duration ({duration:.3} s) is the file's ({last:.3} s): {file}"
        );
        // Packets are copied, not decoded: the test peers publish synthetic VP8 bodies that
        // no decoder accepts; the container is what a crash can break.
        let errors = ffmpeg_errors(path, false);
        assert!(
            errors.is_empty(),
            "{} decodes without errors: {errors}",
            path.display()
        );
        let lost = recorded.as_secs_f64() - last;
        assert!(
            lost <= 2.0,
            "{} ends {lost:.2} s before the kill (at most 2 s may be lost): last packet {last:.2} s, \
             recorded {:.2} s",
            path.display(),
            recorded.as_secs_f64()
        );
    }
}
