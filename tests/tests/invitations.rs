//! Invitation links: unknown, expired and revoked tokens get nowhere (neither at `join` nor at
//! inspect), guessing is rate-limited, and tokens are long, random and never stored in clear.

use std::collections::BTreeSet;
use std::time::Duration;

use concord_tests::{msg_type, ApiClient, TestServer, SIGNAL_TIMEOUT};
use serde_json::{json, Value};

/// A token of the right shape that was never issued.
fn made_up_token(i: u32) -> String {
    format!("{:0>32}", format!("NotARealToken{i}"))
}

/// Joins with `token` and checks the refusal: an `error` with `code`, then the socket closes,
/// and nothing was admitted or negotiated.
async fn assert_join_refused(server: &TestServer, token: &str, code: &str) {
    let mut client = server.signal(None).await.expect("connect");
    let reply = client
        .join_with_token(token, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to join");
    assert_eq!(msg_type(&reply), "error", "join is refused: {reply}");
    assert_eq!(reply["code"], code, "refusal code: {reply}");
    let rest = client
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("the server closes the socket after a refused join");
    let seen: Vec<&Value> = client.inbox().history().iter().chain(rest.iter()).collect();
    assert!(
        !seen
            .iter()
            .any(|m| matches!(msg_type(m), "joined" | "lobby" | "answer" | "offer")),
        "nothing is admitted or negotiated with a refused token: {seen:?}"
    );
    // An offer on the closed socket goes nowhere.
    let _ = client.send(json!({"type": "offer", "sdp": "v=0\r\n"}));
}

/// Polls inspect until it stops answering 200 (the invitation expires), within `timeout`.
async fn inspect_until_gone(client: &ApiClient, token: &str, timeout: Duration) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let resp = client.inspect(token).await.expect("inspect");
        if resp.status != 200 {
            return (resp.status, resp.body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the invitation did not expire within {timeout:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_token_is_refused_at_join_and_inspect() {
    let server = TestServer::start().await.expect("start the server");
    let anyone = server.client().expect("client");
    let token = made_up_token(1);

    // protocol.md lists 404 as `not_found`; the join code for the same case is
    // `invitation_unknown`. Either is a stable code; the status is what the link page needs.
    let resp = anyone.inspect(&token).await.expect("inspect");
    assert_eq!(resp.status, 404, "inspect of an unknown token: {resp:?}");
    assert!(
        matches!(resp.error_code(), Some("not_found" | "invitation_unknown")),
        "inspect of an unknown token is a JSON 404 with a stable code: {resp:?}"
    );
    assert_join_refused(&server, &token, "invitation_unknown").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refused_at_join_and_inspect() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let invitation = room
        .mediator
        .invite_with(
            &room.session_id,
            json!({"role": "party", "name": "Short Lived", "expires_in_seconds": 1}),
        )
        .await
        .expect("an invitation valid for one second");
    let anyone = server.client().expect("client");

    let (status, body) =
        inspect_until_gone(&anyone, &invitation.token, Duration::from_secs(15)).await;
    assert_eq!(status, 410, "an expired invitation is gone: {body}");
    assert_eq!(body["error"]["code"], "invitation_expired", "{body}");
    assert_join_refused(&server, &invitation.token, "invitation_expired").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_is_refused_at_join_and_inspect() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let invitation = room.invite("party", "Party One").await.expect("invite");
    let anyone = server.client().expect("client");

    let valid = anyone
        .inspect(&invitation.token)
        .await
        .expect("inspect")
        .ok()
        .expect("a valid token can be inspected by anyone");
    assert_eq!(valid["role"], "party", "{valid}");
    assert_eq!(valid["name"], "Party One", "{valid}");
    assert_eq!(valid["session"]["id"], room.session_id.as_str(), "{valid}");
    assert!(valid["dispute"]["case_number"].is_string(), "{valid}");

    let revoked = room
        .mediator
        .revoke(&invitation.id)
        .await
        .expect("the mediator revokes the invitation");
    assert!(
        revoked["invitation"]["revoked_at"].is_i64(),
        "revoked_at is set: {revoked}"
    );

    anyone
        .inspect(&invitation.token)
        .await
        .expect("inspect")
        .expect_error(410, "invitation_revoked")
        .expect("inspect of a revoked token is a JSON 410");
    assert_join_refused(&server, &invitation.token, "invitation_revoked").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_bad_tokens_from_one_address_are_rate_limited() {
    let server = TestServer::start().await.expect("start the server");
    let anyone = server.client().expect("client");

    for i in 0..10 {
        let resp = anyone.inspect(&made_up_token(i)).await.expect("inspect");
        assert_eq!(
            resp.status,
            404,
            "failure {} is still answered: {:?}",
            i + 1,
            resp
        );
    }
    anyone
        .inspect(&made_up_token(10))
        .await
        .expect("inspect")
        .expect_error(429, "rate_limited")
        .expect("after 10 failures in a minute the address is rate-limited");

    // The same address is limited at `join` too.
    let mut client = server.signal(None).await.expect("connect");
    let reply = client
        .join_with_token(&made_up_token(11), SIGNAL_TIMEOUT)
        .await
        .expect("reply");
    assert_eq!(msg_type(&reply), "error", "{reply}");
    assert_eq!(reply["code"], "rate_limited", "{reply}");

    // Rate limiting is not an outage.
    let health = anyone.get("/api/health").await.expect("health");
    assert_eq!(health.status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_tokens_are_long_random_and_never_listed() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let mut tokens = BTreeSet::new();
    for i in 0..12 {
        let invitation = room
            .invite(
                if i % 2 == 0 { "party" } else { "expert" },
                &format!("Person {i}"),
            )
            .await
            .expect("invite");
        let token = invitation.token.clone();
        assert!(
            token.len() >= 22,
            "at least 128 bits of base64url ({} chars): {token}",
            token.len()
        );
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "base64url alphabet only: {token}"
        );
        assert!(
            invitation.url.ends_with(&format!("/j/{token}")),
            "the link is /j/{{token}}: {}",
            invitation.url
        );
        assert!(
            !invitation.body["invitation"].to_string().contains(&token),
            "the invitation record does not carry the token: {}",
            invitation.body
        );
        assert!(tokens.insert(token), "tokens are distinct");
    }

    // The session's records never show a token again.
    let session = room
        .mediator
        .get(&format!("/api/sessions/{}", room.session_id))
        .await
        .expect("get session")
        .ok()
        .expect("the mediator reads the session");
    let listed = session["invitations"].as_array().expect("invitations list");
    assert_eq!(listed.len(), tokens.len(), "every invitation is listed");
    let text = session.to_string();
    for token in &tokens {
        assert!(
            !text.contains(token.as_str()),
            "token {token} is not listed"
        );
    }

    // Tokens share no long prefix (they are random, not sequential).
    let tokens: Vec<&String> = tokens.iter().collect();
    for pair in tokens.windows(2) {
        let common = pair[0]
            .chars()
            .zip(pair[1].chars())
            .take_while(|(a, b)| a == b)
            .count();
        assert!(common < 8, "{} and {} look related", pair[0], pair[1]);
    }

    server.shutdown().await;
}
