//! Recording a session, end to end: three headless participants publish while the mediator
//! records for about ten seconds. Everyone is told first and parties' answers are kept; each
//! participant's file plays with VP8 and Opus and lasts as long as the recording; the files,
//! their hashes, the composite and the manifest (listing all of them, the composite too) are
//! filed against the dispute; only staff may list and fetch them, and every fetch is audited.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use concord_tests::recordings::{expect_recording_state, ffprobe, sha256_of, wait_until_filed};
use concord_tests::{
    ApiClient, JoinAs, MediaKind, Peer, TestServer, MEDIA_TIMEOUT, SIGNAL_TIMEOUT,
};
use serde_json::{json, Value};

/// How long the test records: the length being measured, not a synchronisation.
const RECORDING_LENGTH: Duration = Duration::from_secs(10);

/// GETs `path` as `client` (its cookie, if signed in) plus `headers`; returns the status and
/// the raw body (recordings are binary).
async fn fetch_with(
    server: &TestServer,
    client: &ApiClient,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<u8>) {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(cookie) = client.cookie() {
        request = request.header("cookie", cookie);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body").to_vec();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_are_recorded_into_playable_files_filed_with_their_hashes() {
    let server = TestServer::start_with(|config| config.recording.notice_secs = 1)
        .await
        .expect("start the server");
    let room = server.room(false).await.expect("room");
    let ws = server.ws_url();
    let mut mediator = room.mediator_peer(&ws).await.expect("the mediator joins");
    let mut parties = Vec::new();
    for name in ["张建国", "李秀兰"] {
        let invitation = room.invite("party", name).await.expect("invite");
        let peer = Peer::join(&ws, JoinAs::Token(&invitation.token), SIGNAL_TIMEOUT)
            .await
            .expect("a party joins");
        parties.push((peer, invitation));
    }
    let ids: Vec<String> = parties
        .iter()
        .map(|(p, _)| p.participant_id().to_owned())
        .collect();
    mediator
        .wait_until_receiving_from(&[&ids[0], &ids[1]], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("everyone is publishing");

    // Everyone is told before recording starts; the parties answer.
    mediator
        .send(json!({"type": "start_recording"}))
        .expect("send");
    let notice = expect_recording_state(&mut mediator, "notice").await;
    assert_eq!(notice["starts_in_ms"], 1000, "{notice}");
    for (i, (party, _)) in parties.iter_mut().enumerate() {
        expect_recording_state(party, "notice").await;
        party
            .send(json!({"type": "recording_consent", "consent": i == 0}))
            .expect("send");
    }
    for expected in [true, false] {
        let answer = mediator
            .inbox()
            .expect_where("recording_consent", SIGNAL_TIMEOUT, |m| {
                m["type"] == "recording_consent" && m["consent"] == expected
            })
            .await
            .expect("the mediator sees each party's answer");
        assert!(answer["name"].is_string(), "{answer}");
    }
    expect_recording_state(&mut mediator, "on").await;
    let started = Instant::now();
    for (party, _) in parties.iter_mut() {
        expect_recording_state(party, "on").await;
    }

    tokio::time::sleep(RECORDING_LENGTH).await;
    mediator
        .send(json!({"type": "stop_recording"}))
        .expect("send");
    expect_recording_state(&mut mediator, "off").await;
    let recorded = started.elapsed();

    // Filed against the dispute: three participant files, the composite and the manifest.
    let recording = &wait_until_filed(&room.mediator, &room.dispute_id).await;
    assert_eq!(recording["status"], "finished", "{recording}");
    let files = recording["files"].as_array().expect("files");
    let participant_files: Vec<&Value> = files
        .iter()
        .filter(|f| f["kind"] == "participant")
        .collect();
    let manifest = files
        .iter()
        .find(|f| f["kind"] == "manifest")
        .expect("a manifest is filed");
    assert_eq!(
        participant_files.len(),
        3,
        "one file per participant: {recording}"
    );
    let mut names: Vec<&str> = participant_files
        .iter()
        .filter_map(|f| f["participant_name"].as_str())
        .collect();
    names.sort();
    assert!(
        names.contains(&"张建国") && names.contains(&"李秀兰"),
        "{names:?}"
    );

    let dir: PathBuf = server
        .data_dir()
        .join("recordings")
        .join(recording["id"].as_str().expect("id"));
    for file in &participant_files {
        assert_eq!(file["status"], "complete", "{file}");
        let id = file["id"].as_str().expect("id");
        let (status, bytes) = fetch_with(
            &server,
            &room.mediator,
            &format!("/api/recordings/files/{id}?download=1"),
            &[],
        )
        .await;
        assert_eq!(status, 200, "the mediator downloads {file}");
        assert_eq!(
            Some(bytes.len() as u64),
            file["size_bytes"].as_u64(),
            "{file}"
        );
        let on_disk = std::fs::read_dir(&dir)
            .expect("the recording's directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| std::fs::read(p).is_ok_and(|b| b == bytes))
            .expect("the downloaded bytes are a file of the recording");
        assert_eq!(
            file["sha256"].as_str(),
            Some(sha256_of(&on_disk).as_str()),
            "the filed hash is the file's"
        );
        let probe = ffprobe(&on_disk);
        let codecs: Vec<&str> = probe["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .filter_map(|s| s["codec_name"].as_str())
            .collect();
        assert!(
            codecs.contains(&"vp8") && codecs.contains(&"opus"),
            "{} has VP8 and Opus: {probe}",
            on_disk.display()
        );
        let duration: f64 = probe["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .expect("a duration");
        let expected = recorded.as_secs_f64();
        assert!(
            (duration - expected).abs() <= expected * 0.05,
            "{} lasts {duration:.2} s, the recording {expected:.2} s (within 5 %)",
            on_disk.display()
        );
    }

    // The manifest lists every file with the same hashes, the composite's too, and is itself
    // filed with its hash.
    let manifest_id = manifest["id"].as_str().expect("id");
    let (status, manifest_bytes) = fetch_with(
        &server,
        &room.mediator,
        &format!("/api/recordings/files/{manifest_id}"),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_slice(&manifest_bytes).expect("the manifest is JSON");
    let mut manifest_hashes: Vec<&str> = listed["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["sha256"].as_str())
        .collect();
    let mut filed_hashes: Vec<&str> = files
        .iter()
        .filter(|f| f["kind"] != "manifest")
        .filter_map(|f| f["sha256"].as_str())
        .collect();
    manifest_hashes.sort();
    filed_hashes.sort();
    assert_eq!(manifest_hashes, filed_hashes, "{listed}");
    assert_eq!(recording["composite_status"], "done", "{recording}");
    let composite = listed["files"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == "composite"))
        .unwrap_or_else(|| panic!("the manifest lists the composite: {listed}"));
    assert_eq!(
        composite["sha256"].as_str(),
        Some(sha256_of(&dir.join("composite.webm")).as_str()),
        "the manifest has the composite's hash: {composite}"
    );
    assert_eq!(
        recording["manifest_sha256"].as_str(),
        Some(sha256_of(&dir.join("manifest.json")).as_str())
    );
    // Faces and voices: readable by the server's own user only, ffmpeg's composite too.
    assert_private(&dir, 0o700);
    for entry in std::fs::read_dir(&dir).expect("the recording's directory") {
        let path = entry.expect("an entry").path();
        assert_private(&path, if path.is_dir() { 0o700 } else { 0o600 });
    }

    // Every fetch is audited.
    let listing = room
        .mediator
        .get(&format!("/api/disputes/{}/recordings", room.dispute_id))
        .await
        .expect("request")
        .ok()
        .expect("list again");
    for file in listing["recordings"][0]["files"].as_array().expect("files") {
        let actions: Vec<&str> = file["audit"]
            .as_array()
            .expect("audit")
            .iter()
            .filter_map(|a| a["action"].as_str())
            .collect();
        let expected: &[&str] = match file["kind"].as_str() {
            Some("manifest") => &["play"],
            Some("participant") => &["download"],
            // Never fetched here.
            _ => &[],
        };
        assert_eq!(actions, expected, "{file}");
    }

    // The case file records the notice, the answers and the recording.
    let session = room
        .mediator
        .get(&format!("/api/sessions/{}", room.session_id))
        .await
        .expect("request")
        .ok()
        .expect("read the session");
    let kinds: Vec<&str> = session["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "recording_notice",
        "recording_consent",
        "recording_objection",
        "recording_started",
        "recording_stopped",
    ] {
        assert!(
            kinds.contains(&kind),
            "{kind} is in the session's events: {kinds:?}"
        );
    }

    // Only staff: no account 401, an invitee's token 403, another mediator 403, staff 200.
    let file_path = format!(
        "/api/recordings/files/{}",
        participant_files[0]["id"].as_str().expect("id")
    );
    let list_path = format!("/api/disputes/{}/recordings", room.dispute_id);
    let anonymous = server.client().expect("client");
    for path in [&list_path, &file_path] {
        let (status, _) = fetch_with(&server, &anonymous, path, &[]).await;
        assert_eq!(status, 401, "{path} without an account");
        for (_, invitation) in &parties {
            let bearer = format!("Bearer {}", invitation.token);
            let headers = [("authorization", bearer.as_str())];
            let (status, _) = fetch_with(&server, &anonymous, path, &headers).await;
            assert_eq!(status, 403, "{path} with a party's token");
        }
    }
    let other = server.mediator().await.expect("another mediator");
    let clerk = server.account("staff").await.expect("staff");
    for path in [&list_path, &file_path] {
        assert_eq!(
            fetch_with(&server, &other, path, &[]).await.0,
            403,
            "{path}, another mediator"
        );
        assert_eq!(
            fetch_with(&server, &clerk, path, &[]).await.0,
            200,
            "{path}, staff"
        );
    }

    for (party, _) in parties {
        party.close().await;
    }
    mediator.close().await;
    server.shutdown().await;
}

/// `path`'s permission bits are `mode`: nobody but the server's user may read it.
fn assert_private(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let actual = std::fs::metadata(path)
        .expect("the file's metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        actual,
        mode,
        "{} is {actual:o}, not {mode:o}",
        path.display()
    );
}
