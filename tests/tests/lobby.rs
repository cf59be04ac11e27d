//! With the lobby on, an invitee waits until the host admits them: nothing is negotiated before
//! that, and a refused invitee is told and disconnected.

use concord_tests::server::participant_id;
use concord_tests::{
    admit, msg_type, MediaKind, Peer, PeerOptions, TestServer, MEDIA_TIMEOUT, SIGNAL_TIMEOUT,
};
use serde_json::{json, Value};

/// Whether a `lobby_update` lists `id`.
fn lobby_lists(msg: &Value, id: &str) -> bool {
    msg["lobby"]
        .as_array()
        .is_some_and(|lobby| lobby.iter().any(|p| p["id"] == id))
}

/// A syntactically plausible offer; it must be refused before it is even parsed.
const EARLY_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn party_waits_in_lobby_and_receives_no_media_before_admission() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(true)
        .await
        .expect("a session with the lobby on");
    let ws = server.ws_url();
    let mut mediator = room
        .mediator_peer(&ws)
        .await
        .expect("the host is admitted directly");
    assert_eq!(mediator.joined()["is_host"], true);

    let invitation = room.invite("party", "Party One").await.expect("invite");
    let (mut party, party_id) = server
        .wait_in_lobby(&invitation.token)
        .await
        .expect("the party waits in the lobby");

    // Media before admission is refused.
    party
        .send(json!({"type": "offer", "sdp": EARLY_OFFER}))
        .expect("send");
    party
        .expect_error("not_admitted", SIGNAL_TIMEOUT)
        .await
        .expect("an offer from the lobby is refused with not_admitted");
    party
        .send(json!({"type": "candidate", "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"}))
        .expect("send");
    party
        .expect_error("not_admitted", SIGNAL_TIMEOUT)
        .await
        .expect("a candidate from the lobby is refused with not_admitted");

    mediator
        .inbox()
        .expect_where("a lobby_update listing the party", SIGNAL_TIMEOUT, |m| {
            m["type"] == "lobby_update" && lobby_lists(m, &party_id)
        })
        .await
        .expect("the host sees the party waiting");

    let before_admission = party.round_trip(SIGNAL_TIMEOUT).await.expect("ping/pong");
    assert!(
        !before_admission
            .iter()
            .any(|m| matches!(msg_type(m), "joined" | "answer" | "offer")),
        "nothing is negotiated before admission: {before_admission:?}"
    );
    assert_eq!(
        mediator.packets_from(&party_id, MediaKind::Audio)
            + mediator.packets_from(&party_id, MediaKind::Video),
        0,
        "the host has received no media from the waiting party"
    );

    mediator
        .send(json!({"type": "admit", "participant_id": party_id}))
        .expect("send admit");
    let joined = party
        .expect("joined", SIGNAL_TIMEOUT)
        .await
        .expect("the admitted party gets joined");
    assert_eq!(joined["participant_id"], party_id.as_str());
    assert_eq!(joined["role"], "party");
    assert!(
        joined["participants"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["id"] == mediator.participant_id())),
        "joined lists the host: {joined}"
    );
    mediator
        .inbox()
        .expect_where("participant_joined", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_joined" && m["participant"]["id"] == party_id.as_str()
        })
        .await
        .expect("the host hears participant_joined");

    let party = Peer::start(party, joined, PeerOptions::default())
        .await
        .expect("the party starts WebRTC after admission");
    let mediator_id = mediator.participant_id().to_owned();
    party
        .wait_until_receiving_from(&[&mediator_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the admitted party receives the host");
    mediator
        .wait_until_receiving_from(&[&party_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the host receives the admitted party");

    party.close().await;
    mediator.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_party_is_told_and_disconnected() {
    let server = TestServer::start().await.expect("start the server");
    let (room, mut host, _) = server
        .hosted_room(true)
        .await
        .expect("a session with the lobby on, the host in");

    let invitation = room.invite("party", "Party One").await.expect("invite");
    let (mut party, party_id) = server
        .wait_in_lobby(&invitation.token)
        .await
        .expect("the party waits in the lobby");

    host.inbox()
        .expect_where("a lobby_update listing the party", SIGNAL_TIMEOUT, |m| {
            m["type"] == "lobby_update" && lobby_lists(m, &party_id)
        })
        .await
        .expect("the host sees the party waiting");
    host.send(json!({"type": "refuse", "participant_id": party_id}))
        .expect("send refuse");

    party
        .expect("refused", SIGNAL_TIMEOUT)
        .await
        .expect("the party is told it was refused");
    let after = party
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("the server closes the refused party's socket");
    assert!(
        !after.iter().any(|m| msg_type(m) == "joined"),
        "a refused party is never admitted: {after:?}"
    );

    host.inbox()
        .expect_where("a lobby_update without the party", SIGNAL_TIMEOUT, |m| {
            m["type"] == "lobby_update" && !lobby_lists(m, &party_id)
        })
        .await
        .expect("the refused party leaves the host's lobby list");
    host.round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the host's connection is unaffected");

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_attending_wait_for_the_host_like_anyone_else() {
    let server = TestServer::start().await.expect("start the server");
    let (room, mut host, _) = server
        .hosted_room(true)
        .await
        .expect("a session with the lobby on, the host in without waiting");

    let clerk = server.account("staff").await.expect("a staff account");
    let mut staff = server
        .signal(Some(&clerk))
        .await
        .expect("the clerk connects");
    let waiting = staff
        .join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the clerk's join is answered");
    let staff_id = participant_id(&waiting, "lobby").expect("staff wait in the lobby");

    host.inbox()
        .expect_where("lobby_update", SIGNAL_TIMEOUT, |m| {
            m["type"] == "lobby_update" && lobby_lists(m, &staff_id)
        })
        .await
        .expect("the host sees the clerk waiting");
    let admitted = admit(&host, &mut staff, &staff_id)
        .await
        .expect("the clerk is admitted");
    assert_eq!(admitted["role"], "staff", "{admitted}");
    assert_eq!(admitted["is_host"], false, "staff do not host: {admitted}");
    server.shutdown().await;
}
