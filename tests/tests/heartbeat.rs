//! The heartbeat: the server pings a silent client and drops it when it stays silent, telling
//! the others; a client that answers stays, however long it is idle. A socket that never joins
//! is closed after the join deadline, whatever it sends meanwhile.

use concord_tests::{SignalClient, TestServer, SIGNAL_TIMEOUT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_pinged_then_dropped_and_the_room_is_told() {
    let server = TestServer::start_with(|config| {
        config.signaling.ping_after_secs = 1;
        config.signaling.drop_after_secs = 3;
        config.signaling.resume_grace_secs = 1;
    })
    .await
    .expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("mediator, dispute, session");
    let cookie = room.mediator_cookie().expect("mediator cookie");
    let mut mediator = SignalClient::connect(&server.ws_url(), Some(&cookie))
        .await
        .expect("the mediator connects");
    mediator
        .join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("the mediator joins");

    // A party whose phone goes quiet: it joins, then never sends another message.
    let invitation = room.invite("party", "Quiet").await.expect("invite");
    let (mut socket, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .expect("the party connects");
    let join = json!({"type": "join", "token": invitation.token}).to_string();
    socket.send(Message::text(join)).await.expect("send join");

    let mut party_id = None;
    let mut pinged = false;
    let closed = tokio::time::timeout(SIGNAL_TIMEOUT, async {
        while let Some(Ok(frame)) = socket.next().await {
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(text.as_str()).expect("server sends JSON");
            match message["type"].as_str() {
                Some("joined") => party_id = message["participant_id"].as_str().map(str::to_owned),
                Some("ping") => pinged = true,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closes a silent client's socket");
    assert!(
        pinged,
        "the server pinged the silent client before dropping it"
    );
    let party_id = party_id.expect("the party was admitted (lobby off)");

    // Its seat is held for a resume first (see resume.rs), then let go.
    mediator
        .inbox()
        .expect_where("participant_reconnecting", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_reconnecting" && m["participant_id"] == party_id.as_str()
        })
        .await
        .expect("the mediator is told the silent party's connection dropped");
    let left = mediator
        .inbox()
        .expect_where("participant_left", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_left" && m["participant_id"] == party_id.as_str()
        })
        .await
        .expect("the mediator is told the silent party left");
    assert_eq!(left["reason"], "disconnected", "{left}");

    // The mediator, idle all this time but answering pings, is still connected.
    mediator
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("a client that answers pings is kept");
    assert!(!mediator.inbox().is_closed());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_joins_is_closed_after_the_join_deadline() {
    let server = TestServer::start_with(|config| config.signaling.join_within_secs = 1)
        .await
        .expect("start the server");
    let (mut socket, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .expect("connect");
    // Frames that keep an idle connection alive do not stand in for a join.
    let mut error = None;
    let closed = tokio::time::timeout(SIGNAL_TIMEOUT, async {
        loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let message: Value =
                            serde_json::from_str(text.as_str()).expect("server sends JSON");
                        if message["type"] == "error" {
                            error = Some(message);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                    if socket.send(Message::Ping(vec![1].into())).await.is_err() {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server closes a socket that never joins"
    );
    let error = error.expect("the server says why");
    assert_eq!(error["code"], "join_timeout", "{error}");
    server.shutdown().await;
}
