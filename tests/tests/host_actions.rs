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

/// Pings a client that stops reading sends to fill the socket buffers both ways with pongs.
const FLOOD_PINGS: usize = 400_000;
/// How long the server waits on a write to a client before it gives the connection up
/// (`WRITE_TIMEOUT` in the signaling's connection).
const SERVER_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

type StuckStream =
    futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>>;

/// A party whose socket takes in little, who joins with `invitation` and then stops reading,
/// and asks for pongs it never reads until the server's writes to it block: its unread stream
/// and its participant id.
async fn stuck_party(server: &TestServer, invitation: &str) -> (StuckStream, String) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a small receive buffer");
    let stream = socket.connect(server.http_addr()).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(server.ws_url(), stream)
        .await
        .expect("the WebSocket handshake");
    let (mut sink, mut stream) = ws.split();
    let join = json!({"type": "join", "token": invitation}).to_string();
    sink.send(Message::text(join)).await.expect("join");
    let party_id = loop {
        let Some(Ok(Message::Text(text))) = stream.next().await else {
            panic!("joined");
        };
        let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
        if message["type"] == "joined" {
            break message["participant_id"].as_str().expect("id").to_owned();
        }
    };
    let ping = json!({"type": "ping"}).to_string();
    let flood = async {
        for _ in 0..FLOOD_PINGS {
            if sink.feed(Message::text(ping.clone())).await.is_err() {
                break;
            }
        }
        let _ = sink.flush().await;
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), flood).await;
    (stream, party_id)
}

/// Whether the server closes `stream` (it is read to its end, for at most 10 s).
async fn closed_by_the_server(mut stream: StuckStream) -> bool {
    use futures_util::StreamExt;
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await
    .is_ok()
}

async fn host_of(server: &TestServer, room: &Room) -> SignalClient {
    let cookie = room.mediator_cookie().expect("mediator cookie");
    let mut host = SignalClient::connect(&server.ws_url(), Some(&cookie))
        .await
        .expect("the host connects");
    host.join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the host joins");
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_party_that_stopped_reading_is_disconnected_all_the_same() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let mut host = host_of(&server, &room).await;
    let invitation = room.invite("party", "Stuck").await.expect("invite");
    let (stream, party_id) = stuck_party(&server, &invitation.token).await;

    // The host removes it: the room lets it go at once, and its connection is closed although
    // it reads nothing.
    host.send(json!({"type": "kick", "participant_id": party_id}))
        .expect("kick");
    assert_eq!(left_reason(&mut host, &party_id).await, "kicked");
    tokio::time::sleep(SERVER_WRITE_TIMEOUT + std::time::Duration::from_secs(2)).await;
    assert!(
        closed_by_the_server(stream).await,
        "the server closed the stuck party's connection"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_that_stops_reading_is_let_go_when_a_write_to_it_times_out() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let mut host = host_of(&server, &room).await;
    let invitation = room.invite("party", "Stuck").await.expect("invite");
    let (stream, party_id) = stuck_party(&server, &invitation.token).await;

    // Nobody removes it. The server's write to it times out: the connection is given up, and
    // the others see the party reconnecting (its seat is held for a resume).
    let given_up = host
        .inbox()
        .expect_where(
            "participant_reconnecting",
            SERVER_WRITE_TIMEOUT + SIGNAL_TIMEOUT,
            |m| m["type"] == "participant_reconnecting" && m["participant_id"] == party_id,
        )
        .await;
    assert!(
        given_up.is_ok(),
        "the host sees the stuck party's connection given up: {given_up:?}"
    );
    assert!(
        closed_by_the_server(stream).await,
        "the server closed the stuck party's connection"
    );
    server.shutdown().await;
}
