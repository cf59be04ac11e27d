//! What the host can do to the room, done: end the session for everyone, remove a party,
//! withdraw an invitation while its holder is inside; and mute states reach the others.

use concord_tests::{Room, SignalClient, TestServer, SIGNAL_TIMEOUT};
use serde_json::{json, Value};

/// The host and one party, both in the room (lobby off). Returns their clients, the party's
/// participant id and invitation.
async fn host_and_party(
    server: &TestServer,
    room: &Room,
) -> (
    SignalClient,
    SignalClient,
    String,
    concord_tests::Invitation,
) {
    let cookie = room.mediator_cookie().expect("mediator cookie");
    let mut host = SignalClient::connect(&server.ws_url(), Some(&cookie))
        .await
        .expect("the host connects");
    host.join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the host joins");
    let invitation = room.invite("party", "Party").await.expect("invite");
    let mut party = SignalClient::connect(&server.ws_url(), None)
        .await
        .expect("the party connects");
    let joined = party
        .join_with_token(&invitation.token, SIGNAL_TIMEOUT)
        .await
        .expect("the party joins");
    assert_eq!(joined["type"], "joined", "{joined}");
    let party_id = joined["participant_id"]
        .as_str()
        .expect("participant id")
        .to_owned();
    host.inbox()
        .expect_where("participant_joined", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_joined" && m["participant"]["id"] == party_id.as_str()
        })
        .await
        .expect("the host sees the party arrive");
    (host, party, party_id, invitation)
}

async fn left_reason(host: &mut SignalClient, party_id: &str) -> Value {
    let left = host
        .inbox()
        .expect_where("participant_left", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_left" && m["participant_id"] == party_id
        })
        .await
        .expect("the host is told the party left");
    left["reason"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_ends_the_session_for_everyone_and_its_links_stop_working() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let (mut host, mut party, _, invitation) = host_and_party(&server, &room).await;

    host.send(json!({"type": "end_session"})).expect("send");
    for (who, client) in [("party", &mut party), ("host", &mut host)] {
        client
            .expect("session_ended", SIGNAL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("the {who} is told the session ended: {e:#}"));
        client
            .expect_closed(SIGNAL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("the {who}'s socket closes: {e:#}"));
    }

    let record = room
        .mediator
        .get(&format!("/api/sessions/{}", room.session_id))
        .await
        .expect("request")
        .ok()
        .expect("read the session");
    assert_eq!(record["session"]["status"], "ended", "{record}");
    assert!(record["session"]["ended_at"].is_i64(), "{record}");

    room.mediator
        .inspect(&invitation.token)
        .await
        .expect("request")
        .expect_error(410, "session_ended")
        .expect("the link of an ended session says so");
    let mut late = SignalClient::connect(&server.ws_url(), None)
        .await
        .expect("connect");
    let refused = late
        .join_with_token(&invitation.token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply");
    assert_eq!(refused["code"], "session_ended", "{refused}");
    room.mediator
        .post(
            &format!("/api/sessions/{}/invitations", room.session_id),
            json!({"role": "party", "name": "Too late"}),
        )
        .await
        .expect("request")
        .expect_error(410, "session_ended")
        .expect("no new invitations to an ended session");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_removes_a_party_who_is_told_and_disconnected() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let (mut host, mut party, party_id, _) = host_and_party(&server, &room).await;

    host.send(json!({"type": "kick", "participant_id": party_id}))
        .expect("send");
    party
        .expect("kicked", SIGNAL_TIMEOUT)
        .await
        .expect("the party is told");
    party
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("and disconnected");
    assert_eq!(left_reason(&mut host, &party_id).await, "kicked");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_invitation_removes_its_holder_from_the_room() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let (mut host, mut party, party_id, invitation) = host_and_party(&server, &room).await;

    room.mediator
        .revoke(&invitation.id)
        .await
        .expect("the mediator revokes the link");
    party
        .expect_error("invitation_revoked", SIGNAL_TIMEOUT)
        .await
        .expect("the party is told the link was withdrawn");
    party
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("and disconnected");
    assert_eq!(left_reason(&mut host, &party_id).await, "kicked");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muting_is_announced_to_the_others() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let (mut host, party, party_id, _) = host_and_party(&server, &room).await;

    party
        .send(json!({"type": "mute", "audio_muted": true, "video_muted": false}))
        .expect("send");
    let muted = host
        .expect("participant_muted", SIGNAL_TIMEOUT)
        .await
        .expect("the host hears of it");
    assert_eq!(muted["participant_id"], party_id.as_str(), "{muted}");
    assert_eq!(muted["audio_muted"], true, "{muted}");
    assert_eq!(muted["video_muted"], false, "{muted}");
    server.shutdown().await;
}
