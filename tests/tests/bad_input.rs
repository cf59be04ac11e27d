//! Malformed input is answered with a clean error and never takes the server down: garbage over
//! the WebSocket, oversized frames, bad SDP, and malformed JSON over REST.

use concord_tests::{msg_type, TestServer, SIGNAL_TIMEOUT};
use reqwest::Method;
use serde_json::json;

/// The server still answers REST and accepts new signaling connections.
async fn assert_server_up(server: &TestServer) {
    let health = server
        .client()
        .expect("client")
        .get("/api/health")
        .await
        .expect("health request");
    assert_eq!(health.status, 200, "{:?}", health);
    assert_eq!(health.body["status"], "ok");
    let mut fresh = server.signal(None).await.expect("a new connection");
    fresh
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("a new connection gets pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_unknown_and_oversized_messages_get_errors_and_the_connection_stays_open() {
    let server = TestServer::start().await.expect("start the server");
    let mut ws = server.signal(None).await.expect("connect");

    ws.send_raw("this is not JSON {".to_owned()).expect("send");
    ws.expect_error("bad_message", SIGNAL_TIMEOUT)
        .await
        .expect("not-JSON gets bad_message");
    ws.round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the connection stays open after not-JSON");

    ws.send(json!({"type": "teleport", "where": "moon"}))
        .expect("send");
    ws.expect_error("bad_message", SIGNAL_TIMEOUT)
        .await
        .expect("an unknown type gets bad_message");

    ws.send(json!(["an", "array", "not", "an", "object"]))
        .expect("send");
    ws.expect_error("bad_message", SIGNAL_TIMEOUT)
        .await
        .expect("a JSON value that is not an object gets bad_message");

    // An oversized `leave`: were it acted on, the server would close the socket.
    let big = json!({"type": "leave", "padding": "x".repeat(70 * 1024)}).to_string();
    assert!(big.len() > 64 * 1024);
    ws.send_raw(big).expect("send");
    ws.expect_error("message_too_large", SIGNAL_TIMEOUT)
        .await
        .expect("a frame over 64 KiB gets message_too_large");
    ws.round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the connection stays open after an oversized frame, which was not acted on");

    // Before join, nothing but join/ping/leave is accepted.
    ws.send(json!({"type": "offer", "sdp": "v=0\r\n"}))
        .expect("send");
    ws.expect_error("not_joined", SIGNAL_TIMEOUT)
        .await
        .expect("an offer before join gets not_joined");

    // A join with neither a token nor a session id is malformed (whether the socket then
    // stays open, like other bad messages, or closes, like a refused join, is not pinned).
    let mut other = server.signal(None).await.expect("connect");
    other.send(json!({"type": "join"})).expect("send");
    other
        .expect_error("bad_message", SIGNAL_TIMEOUT)
        .await
        .expect("join with neither token nor session_id gets bad_message");

    assert_server_up(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_keeps_sending_garbage_is_disconnected() {
    let server = TestServer::start().await.expect("start the server");
    let mut ws = server.signal(None).await.expect("connect");
    for i in 0..30 {
        // Sending may fail once the server has closed the socket.
        if ws.send_raw(format!("garbage {i}")).is_err() {
            break;
        }
    }
    ws.expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("the server disconnects a client that keeps sending garbage");
    let errors = ws
        .inbox()
        .history()
        .iter()
        .filter(|m| msg_type(m) == "error")
        .count();
    // Each refused message is answered; after the 20th the server may add a farewell error.
    assert!(
        (20..=21).contains(&errors),
        "20 refusals are answered, then the client is cut off ({errors} errors for 30 messages)"
    );
    assert_server_up(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_sdp_gets_bad_sdp() {
    let server = TestServer::start().await.expect("start the server");
    let (_room, mut ws, _) = server.hosted_room(false).await.expect("room, its host in");

    for sdp in [
        "this is not SDP at all",
        "v=0\r\nm=audio banana RTP/AVP 0\r\n",
    ] {
        ws.send(json!({"type": "offer", "sdp": sdp})).expect("send");
        ws.expect_error("bad_sdp", SIGNAL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("offer {sdp:?} gets bad_sdp: {e:#}"));
    }
    ws.send(json!({"type": "offer"})).expect("send");
    ws.expect_error("bad_message", SIGNAL_TIMEOUT)
        .await
        .expect("an offer without sdp gets bad_message");

    let seen = ws
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the connection stays open after bad SDP");
    assert!(
        !seen.iter().any(|m| msg_type(m) == "answer"),
        "bad SDP is never answered: {seen:?}"
    );
    assert_server_up(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_rejects_malformed_json_with_a_json_400() {
    let server = TestServer::start().await.expect("start the server");
    let anyone = server.client().expect("client");
    let mediator = server.mediator().await.expect("mediator");

    anyone
        .send_raw(
            Method::POST,
            "/api/auth/login",
            "application/json",
            "{\"username\": \"admin\", ",
        )
        .await
        .expect("request")
        .expect_error(400, "bad_request")
        .expect("truncated JSON at login is a JSON 400");

    mediator
        .send_raw(
            Method::POST,
            "/api/disputes",
            "application/json",
            "not json at all",
        )
        .await
        .expect("request")
        .expect_error(400, "bad_request")
        .expect("malformed JSON when creating a dispute is a JSON 400");

    let wrong_shape = mediator
        .post("/api/disputes", json!({"title": 42, "parties": "none"}))
        .await
        .expect("request");
    assert_eq!(wrong_shape.status, 400, "{:?}", wrong_shape);
    assert!(
        matches!(
            wrong_shape.error_code(),
            Some("bad_request" | "validation_failed")
        ),
        "a body of the wrong shape is a JSON 400 with a stable code: {:?}",
        wrong_shape
    );

    let empty_fields = mediator
        .post(
            "/api/disputes",
            json!({"case_number": "", "title": "", "category": "", "parties": []}),
        )
        .await
        .expect("request");
    empty_fields
        .expect_error(400, "validation_failed")
        .expect("empty required fields fail validation");

    assert_server_up(&server).await;
    server.shutdown().await;
}

/// A sign-in link whose `next` a browser would read as another site (a tab it drops, a
/// backslash it reads as `/`) signs in and goes home, never off-site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_link_never_redirects_off_site() {
    let server = TestServer::start().await.expect("start the server");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    for next in [
        "%09/evil.example",
        "%5Cevil.example",
        "/evil.example",
        "%0A/evil.example",
    ] {
        // Each link signs in once; a fresh demo gives fresh links.
        let links = server.seed_demo().await.expect("the demo's links");
        let mediator = concord_tests::server::demo_link(&links, "mediator", 0);
        let base = mediator.split('?').next().expect("the link's path");
        let url = format!("{base}?next=/{next}");
        let response = client.get(&url).send().await.expect("follow the link");
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(response.status(), 303, "{url}");
        assert_eq!(location, "/", "{url} must stay on this site");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_candidates_is_capped_and_a_flood_of_messages_is_paced() {
    let server = TestServer::start().await.expect("start the server");
    let (_room, mut ws, _) = server.hosted_room(false).await.expect("room, its host in");
    // Each candidate is a pair the SFU would check: 32 per offer are taken, the rest refused.
    for port in 0..40 {
        let candidate = format!(
            "candidate:{port} 1 udp 2122260223 192.0.2.1 {} typ host",
            40000 + port
        );
        ws.send(json!({"type": "candidate", "candidate": candidate}))
            .expect("send");
    }
    let seen = ws.round_trip(SIGNAL_TIMEOUT).await.expect("still open");
    let refused = seen
        .iter()
        .filter(|m| msg_type(m) == "error" && m["code"] == "too_many_candidates")
        .count();
    assert_eq!(refused, 8, "candidates past 32 are refused: {seen:?}");

    // Far more messages for the room than a page sends: taken up to the burst, then refused
    // as too many, and a client that keeps on is cut off. (Pings are not counted: they stay
    // with the connection.)
    let sent = 400;
    for n in 0..sent {
        let mute = json!({"type": "mute", "audio_muted": n % 2 == 0, "video_muted": false});
        if ws.send(mute).is_err() {
            break;
        }
    }
    ws.expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("a client that floods is disconnected");
    let history = ws.inbox().history();
    let errors = |code: &str| {
        history
            .iter()
            .filter(|m| msg_type(m) == "error" && m["code"] == code)
            .count()
    };
    let paced = errors("rate_limited");
    // The 20 refusals that cut a client off count the candidates refused above too.
    assert!(
        paced > 0 && (20..=21).contains(&(paced + refused)),
        "{paced} rate_limited errors for {sent} mutes after {refused} refused candidates"
    );
    assert_server_up(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_candidates_go_no_further_than_the_cap_and_cut_their_sender_off() {
    let server = TestServer::start().await.expect("start the server");
    let (room, mut host, _) = server.hosted_room(false).await.expect("room, its host in");
    let invitation = room.invite("party", "Neighbour").await.expect("invite");
    let mut party = server.signal(None).await.expect("connect");
    let joined = party
        .join_with_token(&invitation.token, SIGNAL_TIMEOUT)
        .await
        .expect("reply");
    assert_eq!(msg_type(&joined), "joined", "{joined}");

    // The host's page floods candidates, as fast as its socket takes them.
    let mut sent = 0;
    for n in 0..50_000u32 {
        let candidate = format!(
            "candidate:{n} 1 udp 2122260223 192.0.2.1 {} typ host",
            1 + n % 60_000
        );
        if host
            .send(json!({"type": "candidate", "candidate": candidate}))
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    host.expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("a client that floods is disconnected");
    let history = host.inbox().history();
    let errors = |code: &str| {
        history
            .iter()
            .filter(|m| msg_type(m) == "error" && m["code"] == code)
            .count()
    };
    // 32 are taken; each one past them is refused, and 20 refusals cut the sender off before
    // the message budget is spent.
    assert_eq!(
        (errors("too_many_candidates"), errors("rate_limited")),
        (20, 0),
        "after {sent} candidates sent: {history:?}"
    );
    // The room goes on for the others.
    party
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the party's signaling still answers");
    assert_server_up(&server).await;
    server.shutdown().await;
}
