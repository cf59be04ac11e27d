//! A recording survives the server being killed: after `kill -9` and a restart on the same
//! data directory, the recording is marked interrupted and kept with its hash, size and
//! duration (read from what was written), its file reads cleanly up to within two seconds
//! of the kill, and a manifest lists the files with those hashes.
//!
//! Killed while ffmpeg is making the composite (the recording itself finished), the restarted
//! server marks the composite interrupted, removes what ffmpeg had written of it, and writes
//! the manifest that the stopped run never did: the participants' files with their hashes and
//! why there is no composite. A second restart changes nothing.
//!
//! The server runs in a child process: this test binary started again with only the ignored
//! `child_server` entry point, so the parent can kill a real server process.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use concord_signaling::Config;
use concord_tests::recordings::{expect_recording_state, ffmpeg_errors, packet_seconds, sha256_of};
use concord_tests::{ApiClient, JoinAs, MediaKind, Peer, MEDIA_TIMEOUT, SIGNAL_TIMEOUT};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CHILD_DIR: &str = "CONCORD_TEST_CHILD_SERVER_DIR";
const ADMIN_PASSWORD: &str = "admin-password-for-tests";
const MEDIATOR_PASSWORD: &str = "a long mediator password";
/// How long the test records before the kill: the length measured, not a synchronisation.
const RECORD_BEFORE_KILL: Duration = Duration::from_secs(5);
/// How long the test records before stopping, when the kill comes during the composite.
const RECORD_BEFORE_COMPOSITE: Duration = Duration::from_secs(6);
/// How long the composite may take to start once the recording has stopped.
const COMPOSITE_START_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Starts the child server on `dir` and returns it with its base URL. With `tools`, that
/// directory comes first on the server's `PATH` (where it finds `ffmpeg`).
async fn start_child(dir: &Path, tools: Option<&Path>) -> (Child, String) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new(exe);
    if let Some(tools) = tools {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![tools.to_owned()];
        dirs.extend(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(dirs).expect("a PATH"));
    }
    let mut child = command
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
    packet_seconds(path).into_iter().fold(0.0, f64::max)
}

/// A mediator and a party in a call with media flowing, on the server at `url`.
struct Call {
    mediator: ApiClient,
    dispute_id: String,
    host: Peer,
    party: Peer,
}

async fn call(url: &str) -> Call {
    let admin = ApiClient::new(url).expect("client");
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
    let mediator = ApiClient::new(url).expect("client");
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
    let host = Peer::join(
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
    Call {
        mediator,
        dispute_id,
        host,
        party,
    }
}

/// The dispute's recordings as `url`'s server lists them to the mediator (signed in anew).
async fn first_recording(url: &str, dispute_id: &str) -> Value {
    let mediator = ApiClient::new(url).expect("client");
    mediator
        .login("mediator", MEDIATOR_PASSWORD)
        .await
        .expect("the mediator signs in");
    let listing = mediator
        .get(&format!("/api/disputes/{dispute_id}/recordings"))
        .await
        .expect("request")
        .ok()
        .expect("the recordings are listed");
    listing["recordings"][0].clone()
}

/// `manifest.json` of the recording in `dir`, checked against what is filed: its hash is the
/// recording's `manifest_sha256` and a filed manifest file's.
fn filed_manifest(dir: &Path, recording: &Value) -> Value {
    let path = dir.join("manifest.json");
    let sha = sha256_of(&path);
    assert_eq!(
        recording["manifest_sha256"].as_str(),
        Some(sha.as_str()),
        "the manifest's hash is filed: {recording}"
    );
    let manifests: Vec<&Value> = recording["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["kind"] == "manifest")
        .collect();
    assert_eq!(manifests.len(), 1, "one manifest is filed: {recording}");
    assert_eq!(manifests[0]["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(manifests[0]["status"], "complete");
    serde_json::from_slice(&std::fs::read(&path).expect("read the manifest"))
        .expect("the manifest is JSON")
}

/// Each participant file the manifest lists is a filed file with the same status and hash,
/// and the file on disk has that hash.
fn assert_manifest_lists_participant_files(manifest: &Value, recording: &Value, dir: &Path) {
    let filed: Vec<&Value> = recording["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["kind"] == "participant")
        .collect();
    let listed: Vec<&Value> = manifest["files"]
        .as_array()
        .expect("the manifest's files")
        .iter()
        .filter(|f| f["kind"] == "participant")
        .collect();
    assert_eq!(listed.len(), filed.len(), "{manifest}");
    for entry in listed {
        let name = entry["file"].as_str().expect("a file name");
        let sha = sha256_of(&dir.join(name));
        assert_eq!(entry["sha256"].as_str(), Some(sha.as_str()), "{entry}");
        assert!(
            filed
                .iter()
                .any(|f| f["sha256"] == entry["sha256"] && f["status"] == entry["status"]),
            "{entry} is filed as the manifest says: {recording}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_is_kept_after_the_server_is_killed() {
    let data = tempfile::tempdir().expect("a data directory");
    let (mut child, url) = start_child(data.path(), None).await;
    let Call {
        dispute_id,
        mut host,
        party,
        ..
    } = call(&url).await;

    host.send(json!({"type": "start_recording"})).expect("send");
    expect_recording_state(&mut host, "on").await;
    let recording_started = Instant::now();
    tokio::time::sleep(RECORD_BEFORE_KILL).await;

    child.start_kill().expect("kill -9 the server");
    let recorded = recording_started.elapsed();
    let _ = child.wait().await;
    party.close().await;
    host.close().await;

    let (_child, url) = start_child(data.path(), None).await;
    let recording = &first_recording(&url, &dispute_id).await;
    assert_eq!(recording["status"], "interrupted", "{recording}");
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

    // The restarted server wrote the manifest: both files with the hashes filed on restart.
    let manifest = filed_manifest(&dir, recording);
    assert_eq!(manifest["written_after_restart"], true, "{manifest}");
    assert_eq!(manifest["recording_id"], recording["id"]);
    assert!(
        manifest["error"].is_string(),
        "says why it ended: {manifest}"
    );
    assert_manifest_lists_participant_files(&manifest, recording, &dir);
    assert!(
        manifest["files"]
            .as_array()
            .is_some_and(|f| f.iter().all(|f| f["kind"] == "participant")),
        "no composite was started: {manifest}"
    );
}

/// A directory with an `ffmpeg` that reads its first input at its native rate (`-re`), so a
/// composite takes about as long as the recording: long enough to kill the server while it
/// runs. It writes its process id to `ffmpeg.pid` beside it.
fn slow_ffmpeg() -> tempfile::TempDir {
    let real = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("ffmpeg"))
                .find(|exe| exe.is_file())
        })
        .expect("ffmpeg is installed (Debian's ffmpeg; .ci/run installs it)");
    let dir = tempfile::tempdir().expect("a tools directory");
    let script = dir.path().join("ffmpeg");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > \"{}\"\nexec \"{}\" -re \"$@\"\n",
            dir.path().join("ffmpeg.pid").display(),
            real.display()
        ),
    )
    .expect("write the ffmpeg wrapper");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("make the wrapper executable");
    dir
}

/// The process id of the composite's ffmpeg, while it runs.
fn running_ffmpeg(tools: &Path) -> Option<String> {
    let pid = std::fs::read_to_string(tools.join("ffmpeg.pid")).ok()?;
    let pid = pid.trim().to_owned();
    // After the wrapper's `exec`, the process is ffmpeg itself, reading at native rate.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    (cmdline.contains("ffmpeg") && cmdline.contains("-re")).then_some(pid)
}

fn ffmpeg_runs(tools: &Path) -> bool {
    running_ffmpeg(tools).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_is_written_after_the_server_is_killed_while_making_the_composite() {
    let data = tempfile::tempdir().expect("a data directory");
    let tools = slow_ffmpeg();
    let (mut child, url) = start_child(data.path(), Some(tools.path())).await;
    let Call {
        mediator,
        dispute_id,
        mut host,
        party,
    } = call(&url).await;

    host.send(json!({"type": "start_recording"})).expect("send");
    expect_recording_state(&mut host, "on").await;
    tokio::time::sleep(RECORD_BEFORE_COMPOSITE).await;
    host.send(json!({"type": "stop_recording"})).expect("send");
    expect_recording_state(&mut host, "off").await;
    party.close().await;
    host.close().await;

    // Kill the server while ffmpeg is making the composite: it has started (the wrapper has
    // written its process id and the output file exists) and the store says it is not done.
    // (The test peers' synthetic video never decodes, so ffmpeg reports no progress before
    // the end, and `pending` is all the store says until then.)
    let making = tokio::time::timeout(COMPOSITE_START_TIMEOUT, async {
        loop {
            let listing = mediator
                .get(&format!("/api/disputes/{dispute_id}/recordings"))
                .await
                .expect("request")
                .ok()
                .expect("list the recordings");
            let recording = listing["recordings"][0].clone();
            let output = data
                .path()
                .join("recordings")
                .join(recording["id"].as_str().unwrap_or_default())
                .join("composite.webm");
            match recording["composite_status"].as_str() {
                Some("pending" | "running") if ffmpeg_runs(tools.path()) && output.exists() => {
                    return recording;
                }
                Some("none" | "pending" | "running") => {}
                _ => panic!("the composite ended before the kill: {recording}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("ffmpeg starts making the composite");
    child.start_kill().expect("kill -9 the server");
    let _ = child.wait().await;
    // ffmpeg dies with the server (the kernel's parent-death signal): nothing goes on writing
    // a composite the restart will mark interrupted.
    let ffmpeg_gone = tokio::time::timeout(Duration::from_secs(5), async {
        while ffmpeg_runs(tools.path()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(ffmpeg_gone.is_ok(), "ffmpeg outlived the killed server");
    assert_eq!(making["status"], "finished", "{making}");
    assert!(making["manifest_sha256"].is_null(), "{making}");

    let (mut child, url) = start_child(data.path(), Some(tools.path())).await;
    let recording = first_recording(&url, &dispute_id).await;
    // What ffmpeg had written is gone.
    assert_eq!(recording["status"], "finished", "{recording}");
    assert_eq!(recording["composite_status"], "interrupted", "{recording}");
    assert!(
        recording["error"].is_null(),
        "the recording itself did not fail"
    );
    let dir: PathBuf = data
        .path()
        .join("recordings")
        .join(recording["id"].as_str().expect("id"));
    assert!(
        !dir.join("composite.webm").exists(),
        "the unfinished composite is removed"
    );
    let files = recording["files"].as_array().expect("files");
    assert!(
        files
            .iter()
            .all(|f| f["kind"] != "composite" || f["status"] == "failed"),
        "no composite is filed as made: {recording}"
    );
    let participants = files.iter().filter(|f| f["kind"] == "participant");
    assert_eq!(participants.clone().count(), 2, "{recording}");
    assert!(
        participants.into_iter().all(|f| f["status"] == "complete"),
        "the participants' files were finished before the kill: {recording}"
    );

    let manifest = filed_manifest(&dir, &recording);
    assert_eq!(manifest["written_after_restart"], true, "{manifest}");
    assert_eq!(manifest["dispute_id"].as_str(), Some(dispute_id.as_str()));
    assert!(manifest["case_number"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    assert_manifest_lists_participant_files(&manifest, &recording, &dir);
    let composite = manifest["files"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == "composite"))
        .unwrap_or_else(|| panic!("the manifest says what became of the composite: {manifest}"));
    assert_eq!(composite["status"], "failed", "{composite}");
    assert!(composite["sha256"].is_null(), "{composite}");
    assert!(
        composite["error"]
            .as_str()
            .is_some_and(|e| e.contains("server stopped")),
        "{composite}"
    );

    // Another restart finds nothing more to do.
    child.start_kill().expect("kill the server");
    let _ = child.wait().await;
    let (_child, url) = start_child(data.path(), Some(tools.path())).await;
    let again = first_recording(&url, &dispute_id).await;
    assert_eq!(again["manifest_sha256"], recording["manifest_sha256"]);
    assert_eq!(again["files"], recording["files"], "nothing more is filed");
}
