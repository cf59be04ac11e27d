//! Recording when things go wrong: an unwritable recordings directory stops the recording with
//! an error the mediator sees; a party cannot start a recording; a participant who vanishes
//! mid-recording gets a cleanly finished file while the others go on being recorded.

use std::time::Duration;

use concord_tests::recordings::expect_recording_state;
use concord_tests::{JoinAs, MediaKind, Peer, TestServer, MEDIA_TIMEOUT, SIGNAL_TIMEOUT};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_recordings_directory_stops_recording_with_a_visible_error() {
    let blocker = tempfile::NamedTempFile::new().expect("a file");
    let impossible = blocker.path().join("recordings");
    let server = TestServer::start_with(move |config| {
        config.recording.notice_secs = 0;
        // A directory inside a regular file cannot be created, even by root.
        config.recording.dir = impossible;
    })
    .await
    .expect("start the server");
    let room = server.room(false).await.expect("room");
    let ws = server.ws_url();
    let mut host = room.mediator_peer(&ws).await.expect("the mediator joins");
    let invitation = room.invite("party", "Party").await.expect("invite");
    let mut party = Peer::join(&ws, JoinAs::Token(&invitation.token), SIGNAL_TIMEOUT)
        .await
        .expect("the party joins");
    let party_id = party.participant_id().to_owned();
    host.wait_until_receiving_from(&[&party_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("media flows");

    // A party may not start a recording.
    party
        .send(json!({"type": "start_recording"}))
        .expect("send");
    party
        .inbox()
        .expect_where("error", SIGNAL_TIMEOUT, |m| {
            m["type"] == "error" && m["code"] == "forbidden"
        })
        .await
        .expect("a party's recording request is refused");

    host.send(json!({"type": "start_recording"})).expect("send");
    let failed = expect_recording_state(&mut host, "failed").await;
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("recordings") || message.contains("directory"),
        "the mediator is told why: {failed}"
    );
    expect_recording_state(&mut party, "failed").await;

    let listing = room
        .mediator
        .get(&format!("/api/disputes/{}/recordings", room.dispute_id))
        .await
        .expect("request")
        .ok()
        .expect("list");
    assert_eq!(listing["recordings"][0]["status"], "failed", "{listing}");
    assert!(listing["recordings"][0]["error"].is_string(), "{listing}");

    // The call itself goes on.
    host.wait_until_receiving_from(&[&party_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("media still flows");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participant_who_vanishes_mid_recording_gets_a_finished_file() {
    let server = TestServer::start_with(|config| {
        config.recording.notice_secs = 0;
        // Its seat is held this long for a resume that never comes.
        config.signaling.resume_grace_secs = 2;
    })
    .await
    .expect("start the server");
    let room = server.room(false).await.expect("room");
    let ws = server.ws_url();
    let mut host = room.mediator_peer(&ws).await.expect("the mediator joins");
    let invitation = room.invite("party", "Leaver").await.expect("invite");
    let party = Peer::join(&ws, JoinAs::Token(&invitation.token), SIGNAL_TIMEOUT)
        .await
        .expect("the party joins");
    let party_id = party.participant_id().to_owned();
    host.wait_until_receiving_from(&[&party_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("media flows");

    host.send(json!({"type": "start_recording"})).expect("send");
    expect_recording_state(&mut host, "on").await;
    // Let some of the party's media be recorded: the length, not a synchronisation.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(party); // vanishes: no leave message
    host.inbox()
        .expect_where("participant_left", Duration::from_secs(60), |m| {
            m["type"] == "participant_left" && m["participant_id"] == party_id.as_str()
        })
        .await
        .expect("the room notices the party is gone");
    // The mediator goes on being recorded a while after the party is gone.
    tokio::time::sleep(Duration::from_secs(1)).await;
    host.send(json!({"type": "stop_recording"})).expect("send");
    expect_recording_state(&mut host, "off").await;

    let listing = room
        .mediator
        .get(&format!("/api/disputes/{}/recordings", room.dispute_id))
        .await
        .expect("request")
        .ok()
        .expect("list");
    let files = listing["recordings"][0]["files"].as_array().expect("files");
    let leaver = files
        .iter()
        .find(|f| f["participant_name"] == "Leaver")
        .expect("the leaver's file is filed");
    assert_eq!(leaver["status"], "complete", "{leaver}");
    assert!(leaver["sha256"].is_string() && leaver["duration_ms"].as_i64() > Some(1500));
    let host_file = files
        .iter()
        .find(|f| f["kind"] == "participant" && f["participant_name"] != "Leaver")
        .expect("the mediator's file");
    assert!(
        host_file["ended_at"].as_i64() > leaver["ended_at"].as_i64(),
        "the leaver's file was finished when they left, the mediator's at the stop: {files:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_recorded_by_default_starts_recording_when_the_host_arrives() {
    let server = TestServer::start_with(|config| config.recording.notice_secs = 0)
        .await
        .expect("start the server");
    let room = server.room(false).await.expect("room");
    room.mediator
        .patch(
            &format!("/api/disputes/{}", room.dispute_id),
            json!({"record_by_default": true}),
        )
        .await
        .expect("request")
        .ok()
        .expect("the mediator sets the dispute to record every session");
    let mut host = room
        .mediator_peer(&server.ws_url())
        .await
        .expect("the mediator joins");
    let notice = expect_recording_state(&mut host, "notice").await;
    assert_eq!(notice["starts_in_ms"], 0, "{notice}");
    expect_recording_state(&mut host, "on").await;
    host.send(json!({"type": "stop_recording"})).expect("send");
    expect_recording_state(&mut host, "off").await;
    let listing = room
        .mediator
        .get(&format!("/api/disputes/{}/recordings", room.dispute_id))
        .await
        .expect("request")
        .ok()
        .expect("list");
    assert_eq!(listing["recordings"][0]["status"], "finished", "{listing}");
    server.shutdown().await;
}
