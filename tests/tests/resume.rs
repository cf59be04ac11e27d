//! Resume instead of rejoin: a participant whose connection drops keeps their seat for the
//! grace period and takes it back with the single-use token of their last `joined`, with no
//! lobby; the others see "reconnecting", never a leave and a join. A token that is stale,
//! reused, forged, or belongs to someone removed is refused like a bad invitation link.

use std::time::Duration;

use concord_tests::{msg_type, Room, SignalClient, TestServer, SIGNAL_TIMEOUT};
use serde_json::{json, Value};

/// A party, admitted from the lobby by the mediator: its client, id and `joined`.
async fn admitted_party(
    server: &TestServer,
    room: &Room,
    mediator: &mut SignalClient,
    name: &str,
) -> (SignalClient, String, Value) {
    let invitation = room.invite("party", name).await.expect("invite");
    let mut party = server.signal(None).await.expect("connect");
    let lobby = party
        .join_with_token(&invitation.token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to join");
    assert_eq!(msg_type(&lobby), "lobby", "{lobby}");
    let id = lobby["participant_id"]
        .as_str()
        .expect("the lobby names the party")
        .to_owned();
    mediator
        .send(json!({"type": "admit", "participant_id": id}))
        .expect("admit");
    let joined = party
        .expect("joined", SIGNAL_TIMEOUT)
        .await
        .expect("joined");
    (party, id, joined)
}

fn token_of(joined: &Value) -> String {
    joined["resume_token"]
        .as_str()
        .expect("joined carries a resume token")
        .to_owned()
}

/// Whether a message tells of `id` leaving, arriving or waiting: what a resume must not show.
fn tells_of_coming_or_going(message: &Value, id: &str) -> bool {
    match msg_type(message) {
        "participant_left" => message["participant_id"] == id,
        "participant_joined" => message["participant"]["id"] == id,
        "lobby_update" => message["lobby"]
            .as_array()
            .is_some_and(|lobby| lobby.iter().any(|p| p["id"] == id)),
        _ => false,
    }
}

async fn refused(server: &TestServer, token: &str, why: &str) {
    let mut client = server.signal(None).await.expect("connect");
    let reply = client
        .resume(token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to resume");
    assert_eq!(
        (msg_type(&reply), reply["code"].as_str()),
        ("error", Some("resume_refused")),
        "{why}: {reply}"
    );
    client
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("the socket of a refused resume is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_party_takes_its_seat_back_and_the_others_never_see_it_leave() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(true)
        .await
        .expect("a session with the lobby on");
    let mut mediator = server.signal(Some(&room.mediator)).await.expect("connect");
    mediator
        .join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the mediator joins");
    let (party, party_id, joined) = admitted_party(&server, &room, &mut mediator, "Party").await;
    assert_eq!(joined["resumed"], false, "{joined}");
    let first_token = token_of(&joined);
    assert!(
        first_token.starts_with(&format!("{}.", room.session_id)) && first_token.len() > 40,
        "the token names its session and carries enough randomness: {first_token}"
    );

    // The party's network drops: no close frame, no leave.
    drop(party);
    mediator
        .inbox()
        .expect_where("participant_reconnecting", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_reconnecting" && m["participant_id"] == party_id.as_str()
        })
        .await
        .expect("the mediator sees the party reconnecting");

    // It comes back on a new connection: the same seat, straight into the room.
    let mut party = server.signal(None).await.expect("reconnect");
    let resumed = party
        .resume(&first_token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to resume");
    assert_eq!(msg_type(&resumed), "joined", "{resumed}");
    assert_eq!(resumed["resumed"], true, "{resumed}");
    assert_eq!(
        resumed["participant_id"],
        party_id.as_str(),
        "the same seat"
    );
    assert!(
        resumed["participants"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["is_host"] == true)),
        "the roster comes with it: {resumed}"
    );
    let second_token = token_of(&resumed);
    assert_ne!(second_token, first_token, "a new token with each joined");
    mediator
        .inbox()
        .expect_where("participant_reconnected", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_reconnected" && m["participant_id"] == party_id.as_str()
        })
        .await
        .expect("the mediator sees the party back");
    mediator.round_trip(SIGNAL_TIMEOUT).await.expect("settled");
    // Everything the mediator was told since the party's connection dropped.
    let history: Vec<&Value> = mediator
        .inbox()
        .history()
        .iter()
        .skip_while(|m| m["type"] != "participant_reconnecting")
        .collect();
    assert!(
        !history
            .iter()
            .any(|m| tells_of_coming_or_going(m, &party_id)),
        "no leave, join or lobby for a resumed party: {history:?}"
    );
    // The resumed connection works as the first did.
    party
        .send(json!({"type": "mute", "audio_muted": true, "video_muted": false}))
        .expect("mute");
    mediator
        .inbox()
        .expect_where("participant_muted", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_muted" && m["participant_id"] == party_id.as_str()
        })
        .await
        .expect("the resumed party's messages reach the room");

    // Single use: the first token resumes nothing now, nor does a forged one for the session.
    refused(&server, &first_token, "a used token").await;
    let forged = format!("{}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", room.session_id);
    refused(&server, &forged, "a forged token").await;
    refused(
        &server,
        "no-session.at-all",
        "a token naming no live session",
    )
    .await;

    // Resuming while the old connection still thinks it is open moves the seat: the old one is
    // told and closed, and its late goodbye does not take the seat away.
    let mut again = server.signal(None).await.expect("a second device");
    let moved = again
        .resume(&second_token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to resume");
    assert_eq!(moved["resumed"], true, "{moved}");
    party
        .expect_error("joined_elsewhere", SIGNAL_TIMEOUT)
        .await
        .expect("the replaced connection is told");
    party
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("and closed");
    again
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the seat stays with the new connection");
    let told_before = mediator.inbox().history().len();
    mediator.round_trip(SIGNAL_TIMEOUT).await.expect("settled");
    let told = &mediator.inbox().history()[told_before..];
    assert!(
        !told.iter().any(|m| tells_of_coming_or_going(m, &party_id)),
        "moving the seat is not a leave: {told:?}"
    );

    // Removed by the host: its token dies with the seat.
    let third_token = token_of(&moved);
    mediator
        .send(json!({"type": "kick", "participant_id": party_id}))
        .expect("kick");
    again
        .expect("kicked", SIGNAL_TIMEOUT)
        .await
        .expect("the party is told it was removed");
    refused(&server, &third_token, "the token of a removed party").await;

    // The session files the drop and the return: who was away, from when to when.
    let record = room
        .mediator
        .get(&format!("/api/sessions/{}", room.session_id))
        .await
        .and_then(|r| r.ok())
        .expect("the session's record");
    let events = record["events"].as_array().cloned().unwrap_or_default();
    let detail = |kind: &str| -> Value {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .and_then(|e| e["detail"].as_str())
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_else(|| panic!("a {kind} event in {events:?}"))
    };
    let (lost, back) = (detail("connection_lost"), detail("reconnected"));
    assert_eq!(lost["participant_id"], party_id.as_str(), "{lost}");
    assert_eq!(back["participant_id"], party_id.as_str(), "{back}");
    let (from, to) = (back["from_ms"].as_i64(), back["to_ms"].as_i64());
    assert!(
        from == lost["from_ms"].as_i64() && from.is_some() && to >= from,
        "the gap, from and to: {back}"
    );
    detail("moved_connection");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_not_taken_back_within_the_grace_period_is_let_go() {
    let server = TestServer::start_with(|config| config.signaling.resume_grace_secs = 1)
        .await
        .expect("start the server");
    let room = server
        .room(true)
        .await
        .expect("a session with the lobby on");
    let mut mediator = server.signal(Some(&room.mediator)).await.expect("connect");
    mediator
        .join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the mediator joins");
    let (party, party_id, joined) = admitted_party(&server, &room, &mut mediator, "Gone").await;
    let token = token_of(&joined);
    drop(party);
    mediator
        .inbox()
        .expect_where("participant_reconnecting", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_reconnecting" && m["participant_id"] == party_id.as_str()
        })
        .await
        .expect("reconnecting first");
    let left = mediator
        .inbox()
        .expect_where("participant_left", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_left" && m["participant_id"] == party_id.as_str()
        })
        .await
        .expect("then, the grace period over, left");
    assert_eq!(left["reason"], "disconnected", "{left}");
    refused(&server, &token, "a token whose seat expired").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_resumes_count_towards_the_limit_for_bad_links() {
    let server = TestServer::start_with(|config| config.invitations.failures_per_minute = 3)
        .await
        .expect("start the server");
    let room = server.room(false).await.expect("a session");
    let mut mediator = server.signal(Some(&room.mediator)).await.expect("connect");
    mediator
        .join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the mediator joins");
    let guess = |n: u32| format!("{}.guess{n:027}", room.session_id);
    for n in 0..3 {
        refused(&server, &guess(n), "a guessed token").await;
    }
    let mut client = server.signal(None).await.expect("connect");
    let reply = client
        .resume(&guess(3), Duration::from_secs(5))
        .await
        .expect("a reply");
    assert_eq!(reply["code"], "rate_limited", "{reply}");
    server.shutdown().await;
}
