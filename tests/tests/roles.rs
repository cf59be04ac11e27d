//! Who may do what: a party cannot use the host's powers over signaling, an invitee has no
//! access to the REST API, staff only read, and a mediator only manages their own disputes.

use concord_tests::{admit, msg_type, TestServer, SIGNAL_TIMEOUT};
use serde_json::{json, Value};

/// Asserts that none of `messages` has one of `types`.
fn assert_none_of(messages: &[Value], types: &[&str], what: &str) {
    let found: Vec<&Value> = messages
        .iter()
        .filter(|m| types.contains(&msg_type(m)))
        .collect();
    assert!(found.is_empty(), "{what}: {found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn party_cannot_admit_kick_or_end_the_session() {
    let server = TestServer::start().await.expect("start the server");
    let (room, mut host, host_id) = server
        .hosted_room(true)
        .await
        .expect("a session with the lobby on, the host in");

    // Party one is admitted; party two waits in the lobby.
    let one_inv = room.invite("party", "Party One").await.expect("invite");
    let two_inv = room.invite("party", "Party Two").await.expect("invite");
    let (mut one, one_id) = server
        .wait_in_lobby(&one_inv.token)
        .await
        .expect("party one waits in the lobby");
    admit(&host, &mut one, &one_id)
        .await
        .expect("party one is admitted by the host");

    let (mut two, two_id) = server
        .wait_in_lobby(&two_inv.token)
        .await
        .expect("party two waits in the lobby");

    // admit
    one.send(json!({"type": "admit", "participant_id": two_id}))
        .expect("send");
    one.expect_error("forbidden", SIGNAL_TIMEOUT)
        .await
        .expect("a party's admit is forbidden");
    let seen = two.round_trip(SIGNAL_TIMEOUT).await.expect("ping/pong");
    assert_none_of(&seen, &["joined"], "party two is still waiting");

    // kick
    one.send(json!({"type": "kick", "participant_id": host_id}))
        .expect("send");
    one.expect_error("forbidden", SIGNAL_TIMEOUT)
        .await
        .expect("a party's kick is forbidden");
    let seen = host.round_trip(SIGNAL_TIMEOUT).await.expect("ping/pong");
    assert_none_of(&seen, &["kicked", "session_ended"], "the host is still in");

    // refuse
    one.send(json!({"type": "refuse", "participant_id": two_id}))
        .expect("send");
    one.expect_error("forbidden", SIGNAL_TIMEOUT)
        .await
        .expect("a party's refuse is forbidden");
    let seen = two.round_trip(SIGNAL_TIMEOUT).await.expect("ping/pong");
    assert_none_of(&seen, &["refused"], "party two was not refused");

    // end_session
    one.send(json!({"type": "end_session"})).expect("send");
    one.expect_error("forbidden", SIGNAL_TIMEOUT)
        .await
        .expect("a party's end_session is forbidden");
    let seen = host.round_trip(SIGNAL_TIMEOUT).await.expect("ping/pong");
    assert_none_of(&seen, &["session_ended"], "the session goes on");
    let session = room
        .mediator
        .get(&format!("/api/sessions/{}", room.session_id))
        .await
        .expect("get session")
        .ok()
        .expect("the mediator reads the session");
    assert_ne!(session["session"]["status"], "ended", "{session}");

    // The party's connection survives its refused requests, and the host's powers still work.
    one.round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the party's connection stays open");
    let joined = admit(&host, &mut two, &two_id)
        .await
        .expect("the host admits party two");
    assert_eq!(joined["participant_id"], two_id.as_str());

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitee_without_an_account_cannot_use_the_mediator_api() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let invitation = room.invite("party", "Party One").await.expect("invite");

    // The invitee joins over signaling, which gives them no REST credentials.
    let mut party = server.signal(None).await.expect("connect");
    let reply = party
        .join_with_token(&invitation.token, SIGNAL_TIMEOUT)
        .await
        .expect("reply");
    assert!(
        matches!(msg_type(&reply), "joined" | "lobby"),
        "the invitee is in: {reply}"
    );

    let invitee = server.client().expect("client");
    let s = &room.session_id;
    let d = &room.dispute_id;
    let attempts = [
        ("GET", "/api/auth/me".to_owned(), None),
        ("GET", "/api/disputes".to_owned(), None),
        ("GET", format!("/api/disputes/{d}"), None),
        ("GET", format!("/api/sessions/{s}"), None),
        (
            "POST",
            "/api/disputes".to_owned(),
            Some(json!({
                "case_number": "X-1",
                "title": "Not allowed",
                "category": "land",
                "parties": [{"name": "A"}],
            })),
        ),
        (
            "POST",
            format!("/api/sessions/{s}/invitations"),
            Some(json!({"role": "party", "name": "Gatecrasher"})),
        ),
        ("POST", format!("/api/sessions/{s}/end"), Some(json!({}))),
        (
            "POST",
            format!("/api/invitations/{}/revoke", invitation.id),
            Some(json!({})),
        ),
        ("GET", "/api/users".to_owned(), None),
    ];
    for (method, path, body) in attempts {
        let resp = match method {
            "GET" => invitee.get(&path).await,
            _ => invitee.post(&path, body.unwrap_or(Value::Null)).await,
        }
        .expect("request");
        resp.expect_error(401, "unauthenticated")
            .unwrap_or_else(|e| panic!("{method} {path} without an account: {e:#}"));
    }

    // Nothing changed: the invitation still works for inspect, and the session is live.
    invitee
        .inspect(&invitation.token)
        .await
        .expect("inspect")
        .ok()
        .expect("the invitation was not revoked");
    let session = room
        .mediator
        .get(&format!("/api/sessions/{s}"))
        .await
        .expect("get")
        .ok()
        .expect("mediator reads the session");
    assert_ne!(session["session"]["status"], "ended", "{session}");
    assert_eq!(
        session["invitations"].as_array().map(Vec::len),
        Some(1),
        "no invitation was added: {session}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_can_read_but_cannot_create_disputes_or_manage_sessions() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let staff = server.account("staff").await.expect("a staff account");

    let list = staff
        .get("/api/disputes")
        .await
        .expect("request")
        .ok()
        .expect("staff read the dispute list");
    assert!(list["disputes"].is_array(), "{list}");

    staff
        .post(
            "/api/disputes",
            json!({
                "case_number": "S-1",
                "title": "Staff should not create this",
                "category": "land",
                "parties": [{"name": "A"}],
            }),
        )
        .await
        .expect("request")
        .expect_error(403, "forbidden")
        .expect("staff cannot create disputes");
    staff
        .post(
            &format!("/api/disputes/{}/sessions", room.dispute_id),
            json!({"lobby_enabled": false}),
        )
        .await
        .expect("request")
        .expect_error(403, "forbidden")
        .expect("staff cannot open sessions");
    staff
        .invite_raw(
            &room.session_id,
            json!({"role": "party", "name": "Via Staff"}),
        )
        .await
        .expect("request")
        .expect_error(403, "forbidden")
        .expect("staff cannot invite");
    staff
        .post(&format!("/api/sessions/{}/end", room.session_id), json!({}))
        .await
        .expect("request")
        .expect_error(403, "forbidden")
        .expect("staff cannot end a session");
    staff
        .post(
            "/api/users",
            json!({"username": "sneaky", "display_name": "S", "password": "a-long-password-123", "role": "admin"}),
        )
        .await
        .expect("request")
        .expect_error(403, "forbidden")
        .expect("staff cannot create accounts");

    let list = staff
        .get("/api/disputes")
        .await
        .expect("request")
        .ok()
        .expect("list again");
    assert_eq!(
        list["disputes"].as_array().map(Vec::len),
        Some(1),
        "still only the mediator's dispute: {list}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediator_cannot_manage_another_mediators_session() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let other = server.mediator().await.expect("a second mediator");

    other
        .invite_raw(
            &room.session_id,
            json!({"role": "party", "name": "Not Yours"}),
        )
        .await
        .expect("request")
        .expect_error(403, "forbidden")
        .expect("another mediator cannot invite into this session");
    other
        .post(&format!("/api/sessions/{}/end", room.session_id), json!({}))
        .await
        .expect("request")
        .expect_error(403, "forbidden")
        .expect("another mediator cannot end this session");

    let session = room
        .mediator
        .get(&format!("/api/sessions/{}", room.session_id))
        .await
        .expect("get")
        .ok()
        .expect("the owner reads the session");
    assert_ne!(session["session"]["status"], "ended", "{session}");
    server.shutdown().await;
}
