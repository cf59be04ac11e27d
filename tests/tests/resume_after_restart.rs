//! Seats outlast the server: after a restart (an operator's, or a crash's `kill -9`) within the
//! grace period, each member takes their seat back with the last token the stopped run gave
//! them: the same participant id and role, no lobby, the host still host. The seat comes back
//! without its media (the SFU is new), and `joined` says so. A token that was used already,
//! forged, or whose holder lost the right to the seat meanwhile (the invitation revoked, the
//! session ended) is refused as before, and a seat nobody takes back is let go after the grace.

use std::time::Duration;

use concord_tests::server::{serve_in_child_process, ServerProcess};
use concord_tests::{msg_type, ApiClient, Room, SignalClient, TestServer, SIGNAL_TIMEOUT};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the server process of a_crashed_server_gives_the_seats_back"]
async fn child_server() {
    serve_in_child_process(|_| {}).await;
}

fn token_of(joined: &Value) -> String {
    joined["resume_token"]
        .as_str()
        .unwrap_or_else(|| panic!("joined carries a resume token: {joined}"))
        .to_owned()
}

/// `host` admits the party waiting on `party`'s connection: its `joined`.
async fn admit(host: &SignalClient, party: &mut SignalClient, lobby: &Value) -> Value {
    let id = lobby["participant_id"]
        .as_str()
        .expect("the lobby names the party");
    host.send(json!({"type": "admit", "participant_id": id}))
        .expect("admit");
    party
        .expect("joined", SIGNAL_TIMEOUT)
        .await
        .expect("joined")
}

/// Resumes `token` on a new connection to `ws_url`: the reply and the connection.
async fn resume(ws_url: &str, token: &str) -> (Value, SignalClient) {
    let mut client = SignalClient::connect(ws_url, None).await.expect("connect");
    let reply = client
        .resume(token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to resume");
    (reply, client)
}

/// Resumes `token` with `cookie`'s sign-in on the socket, as a host's page does.
async fn resume_signed_in(ws_url: &str, cookie: &str, token: &str) -> (Value, SignalClient) {
    let mut client = SignalClient::connect(ws_url, Some(cookie))
        .await
        .expect("connect");
    let reply = client
        .resume(token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to resume");
    (reply, client)
}

async fn refused(ws_url: &str, token: &str, why: &str) {
    let (reply, mut client) = resume(ws_url, token).await;
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

/// The seat a resume gave back: the same id, straight into the room, without its media.
fn assert_seat_back(reply: &Value, id: &str, role: &str, is_host: bool) {
    assert_eq!(msg_type(reply), "joined", "{reply}");
    assert_eq!(reply["resumed"], true, "{reply}");
    assert_eq!(reply["participant_id"], id, "the same seat: {reply}");
    assert_eq!(reply["role"], role, "{reply}");
    assert_eq!(reply["is_host"], is_host, "{reply}");
    assert_eq!(
        reply["media_lost"], true,
        "a new SFU holds no media peer: {reply}"
    );
}

/// A host and a party admitted from the lobby: the room, both connections, ids and tokens.
struct Seated {
    room: Room,
    host: SignalClient,
    host_id: String,
    host_token: String,
    party: SignalClient,
    party_id: String,
    party_token: String,
    party_invitation: String,
    party_link_token: String,
}

async fn seated(server: &TestServer) -> Seated {
    let room = server
        .room(true)
        .await
        .expect("a session with the lobby on");
    let mut host = server.signal(Some(&room.mediator)).await.expect("connect");
    let joined = host
        .join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the mediator joins");
    let host_id = joined["participant_id"].as_str().expect("an id").to_owned();
    let invitation = room.invite("party", "Party").await.expect("invite");
    let mut party = server.signal(None).await.expect("connect");
    let lobby = party
        .join_with_token(&invitation.token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to join");
    assert_eq!(msg_type(&lobby), "lobby", "{lobby}");
    let party_joined = admit(&host, &mut party, &lobby).await;
    Seated {
        room,
        host_id,
        host_token: token_of(&joined),
        host,
        party_id: party_joined["participant_id"]
            .as_str()
            .expect("an id")
            .to_owned(),
        party_token: token_of(&party_joined),
        party,
        party_invitation: invitation.id,
        party_link_token: invitation.token,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_seats_come_back_by_their_last_token_only() {
    let mut server = TestServer::start().await.expect("start the server");
    let seated = seated(&server).await;
    let ws_url = server.ws_url();
    // The party drops and resumes once before the restart: its first token is used up.
    drop(seated.party);
    let (reply, party) = resume(&ws_url, &seated.party_token).await;
    assert_eq!(reply["resumed"], true, "{reply}");
    assert_eq!(
        reply["media_lost"], false,
        "the SFU still had its peer: {reply}"
    );
    let used_token = seated.party_token.clone();
    let party_token = token_of(&reply);

    server.restart().await.expect("restart the server");
    drop((party, seated.host));

    refused(&ws_url, &used_token, "a token used before the restart").await;
    let forged = format!(
        "{}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        seated.room.session_id
    );
    refused(&ws_url, &forged, "a forged token for the session").await;
    refused(&ws_url, "no-session.at-all", "a token naming no session").await;

    // The host comes back as host, with its sign-in on the socket as a page has it.
    let cookie = seated
        .room
        .mediator_cookie()
        .expect("the mediator's cookie");
    let (host_back, mut host) = resume_signed_in(&ws_url, &cookie, &seated.host_token).await;
    assert_seat_back(&host_back, &seated.host_id, "mediator", true);
    host.expect_error("media_failed", SIGNAL_TIMEOUT)
        .await
        .expect("media_failed follows, as for a peer the SFU let go");
    let others = host_back["participants"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        others.iter().any(|p| p["id"] == seated.party_id.as_str()),
        "the party's seat is held for it: {host_back}"
    );

    // The party takes its seat back: no lobby, and the host sees it reconnect, not arrive.
    let (party_back, party) = resume(&ws_url, &party_token).await;
    assert_seat_back(&party_back, &seated.party_id, "party", false);
    host.inbox()
        .expect_where("participant_reconnected", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_reconnected"
                && m["participant_id"] == seated.party_id.as_str()
        })
        .await
        .expect("the host sees the party back");
    refused(&ws_url, &party_token, "a token reused after the restart").await;

    // The new token of the restored seat resumes it as any other.
    drop(party);
    let (again, _party) = resume(&ws_url, &token_of(&party_back)).await;
    assert_eq!(again["participant_id"], seated.party_id.as_str(), "{again}");

    // Still the host: a newcomer waits in the lobby and is let in by it.
    let newcomer = seated
        .room
        .invite("party", "Newcomer")
        .await
        .expect("invite");
    let mut late = server.signal(None).await.expect("connect");
    let lobby = late
        .join_with_token(&newcomer.token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to join");
    assert_eq!(msg_type(&lobby), "lobby", "{lobby}");
    admit(&host, &mut late, &lobby).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_whose_right_ended_while_the_server_was_down_is_not_given_back() {
    let mut server = TestServer::start().await.expect("start the server");
    let seated = seated(&server).await;
    let ws_url = server.ws_url();
    server.restart().await.expect("restart the server");
    drop((seated.party, seated.host));

    // Revoked before anyone came back: the room is not even opened for it.
    let revoked = seated
        .room
        .mediator
        .post(
            &format!("/api/invitations/{}/revoke", seated.party_invitation),
            json!({}),
        )
        .await
        .expect("request");
    revoked
        .ok()
        .expect("the mediator revokes the party's invitation");
    refused(
        &ws_url,
        &seated.party_token,
        "the token of a revoked invitation",
    )
    .await;

    // Ended: the host's seat goes with the session.
    seated
        .room
        .mediator
        .post(
            &format!("/api/sessions/{}/end", seated.room.session_id),
            json!({}),
        )
        .await
        .expect("request")
        .ok()
        .expect("the mediator ends the session");
    refused(&ws_url, &seated.host_token, "the token of an ended session").await;
    server.shutdown().await;
}

/// A grace short enough to wait out in a test, long enough for the host to resume in it after
/// the restart: shutting down, starting again and resuming took over 2 s, and once over 5 s,
/// on CI's two busy cores (the host's own seat had expired: `resume_refused`).
const SHORT_GRACE: Duration = Duration::from_secs(12);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_nobody_takes_back_after_a_restart_is_let_go_after_the_grace() {
    let mut server =
        TestServer::start_with(|config| config.signaling.resume_grace_secs = SHORT_GRACE.as_secs())
            .await
            .expect("start the server");
    let seated = seated(&server).await;
    let ws_url = server.ws_url();
    server.restart().await.expect("restart the server");
    drop((seated.party, seated.host));
    let cookie = seated
        .room
        .mediator_cookie()
        .expect("the mediator's cookie");
    let (host_back, mut host) = resume_signed_in(&ws_url, &cookie, &seated.host_token).await;
    assert_seat_back(&host_back, &seated.host_id, "mediator", true);
    let left = host
        .inbox()
        .expect_where("participant_left", SHORT_GRACE + SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_left" && m["participant_id"] == seated.party_id.as_str()
        })
        .await
        .expect("the party, not back within the grace, has left");
    assert_eq!(left["reason"], "disconnected", "{left}");
    refused(&ws_url, &seated.party_token, "a token whose seat expired").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_someone_let_in_who_joins_afresh_from_the_link_skips_the_lobby() {
    let mut server = TestServer::start().await.expect("start the server");
    let seated = seated(&server).await;
    server.restart().await.expect("restart the server");
    drop((seated.party, seated.host));
    // The party's page lost its token (a reload): it joins with its link again.
    let mut party = server.signal(None).await.expect("connect");
    let reply = party
        .join_with_token(&seated.party_link_token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to join");
    assert_eq!(
        msg_type(&reply),
        "joined",
        "no lobby for someone let in: {reply}"
    );
    assert_eq!(reply["resumed"], false, "{reply}");
    // Its held seat was replaced: its token resumes nothing now.
    refused(
        &server.ws_url(),
        &seated.party_token,
        "the token of a replaced seat",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_gives_the_seats_back() {
    let mut server = ServerProcess::start("child_server")
        .await
        .expect("start the server process");
    let (mediator, _) = server.account("mediator").await.expect("a mediator");
    let dispute = mediator.create_dispute().await.expect("a dispute");
    let dispute_id = concord_tests::api::id_of(&dispute).expect("its id");
    let session = mediator
        .create_session(&dispute_id, true)
        .await
        .expect("a session with the lobby on");
    let session_id = concord_tests::api::id_of(&session).expect("its id");
    let cookie = mediator.cookie().expect("the mediator's cookie");
    let ws_url = server.ws_url();
    let mut host = SignalClient::connect(&ws_url, Some(&cookie))
        .await
        .expect("connect");
    let host_joined = host
        .join_session(&session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the mediator joins");
    let invitation = mediator
        .invite(&session_id, "expert", "Expert")
        .await
        .expect("invite");
    let mut expert = SignalClient::connect(&ws_url, None).await.expect("connect");
    let lobby = expert
        .join_with_token(&invitation.token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to join");
    let expert_joined = admit(&host, &mut expert, &lobby).await;

    server.kill().await.expect("kill the server");
    expert
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("the expert's socket dies with the server");
    server.start_again().await.expect("start the server again");

    let (expert_back, _expert) = resume(&ws_url, &token_of(&expert_joined)).await;
    let expert_id = expert_joined["participant_id"].as_str().expect("an id");
    assert_seat_back(&expert_back, expert_id, "expert", false);
    let host_id = host_joined["participant_id"].as_str().expect("an id");
    let (host_back, _host) = resume_signed_in(&ws_url, &cookie, &token_of(&host_joined)).await;
    assert_seat_back(&host_back, host_id, "mediator", true);

    // Records written before the kill are all there.
    let admin: ApiClient = server.admin().await.expect("the admin signs in");
    let record = admin
        .get(&format!("/api/sessions/{session_id}"))
        .await
        .and_then(|r| r.ok())
        .expect("the session's record");
    assert_eq!(record["session"]["status"], "live", "{record}");
}
