//! Accounts can be taken back: an administrator disables one, its owner changes the password or
//! signs out everywhere, and every sign-in that ends takes the sockets it opened with it (a
//! mediator's tab left open elsewhere stops hosting).

use concord_tests::{msg_type, ApiClient, SignalClient, TestServer, SIGNAL_TIMEOUT};
use serde_json::json;

const NEW_PASSWORD: &str = "another-long-password-5678";

/// The signed-in account's id and username.
async fn whoami(client: &ApiClient) -> (String, String) {
    let me = client
        .get("/api/auth/me")
        .await
        .and_then(|r| r.ok())
        .expect("me");
    let user = &me["user"];
    (
        user["id"].as_str().expect("id").to_owned(),
        user["username"].as_str().expect("username").to_owned(),
    )
}

async fn signed_in(client: &ApiClient) -> bool {
    client.get("/api/auth/me").await.expect("me").status == 200
}

/// A socket opened with `client`'s sign-in, hosting `session_id`.
async fn hosting(server: &TestServer, client: &ApiClient, session_id: &str) -> SignalClient {
    let mut socket = server.signal(Some(client)).await.expect("connect");
    let joined = socket
        .join_session(session_id, SIGNAL_TIMEOUT)
        .await
        .expect("a reply to join");
    assert_eq!(msg_type(&joined), "joined", "{joined}");
    socket
}

async fn assert_closed_signed_out(socket: &mut SignalClient, why: &str) {
    socket
        .expect_error("signed_out", SIGNAL_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{why}: the socket is told its sign-in ended: {e:#}"));
    socket
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{why}: then closed: {e:#}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_cannot_sign_in_and_its_open_sockets_close() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("a session");
    let (id, username) = whoami(&room.mediator).await;
    let mut socket = hosting(&server, &room.mediator, &room.session_id).await;
    let admin = server.admin().await.expect("the administrator");

    // Only an administrator may, and not to their own account.
    room.mediator
        .patch(&format!("/api/users/{id}"), json!({"disabled": true}))
        .await
        .expect("a reply")
        .expect_error(403, "forbidden")
        .expect("a mediator cannot disable accounts");
    let (admin_id, _) = whoami(&admin).await;
    admin
        .patch(&format!("/api/users/{admin_id}"), json!({"disabled": true}))
        .await
        .expect("a reply")
        .expect_error(409, "conflict")
        .expect("nor can an administrator disable their own");

    let disabled = admin
        .patch(&format!("/api/users/{id}"), json!({"disabled": true}))
        .await
        .and_then(|r| r.ok())
        .expect("the administrator disables the mediator");
    assert_eq!(disabled["user"]["disabled"], true, "{disabled}");
    assert_closed_signed_out(&mut socket, "disabled").await;
    assert!(
        !signed_in(&room.mediator).await,
        "the cookie no longer works"
    );
    let again = server.client().expect("client");
    again
        .post(
            "/api/auth/login",
            json!({"username": username, "password": concord_tests::server::TEST_PASSWORD}),
        )
        .await
        .expect("a reply")
        .expect_error(403, "account_disabled")
        .expect("the right password is told the account is disabled");
    again
        .post(
            "/api/auth/login",
            json!({"username": username, "password": "not-the-password-at-all"}),
        )
        .await
        .expect("a reply")
        .expect_error(401, "unauthenticated")
        .expect("a wrong one learns nothing");

    admin
        .patch(&format!("/api/users/{id}"), json!({"disabled": false}))
        .await
        .and_then(|r| r.ok())
        .expect("enabled again");
    again
        .login(&username, concord_tests::server::TEST_PASSWORD)
        .await
        .expect("signs in again");
    assert!(signed_in(&again).await);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_every_other_sign_in_and_signing_out_everywhere_ends_all() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("a session");
    let (_, username) = whoami(&room.mediator).await;
    let laptop = &room.mediator;
    let phone = server.client().expect("client");
    phone
        .login(&username, concord_tests::server::TEST_PASSWORD)
        .await
        .expect("a second sign-in");
    let mut on_phone = hosting(&server, &phone, &room.session_id).await;

    laptop
        .post(
            "/api/auth/password",
            json!({"current_password": "a-wrong-guess-at-it", "new_password": NEW_PASSWORD}),
        )
        .await
        .expect("a reply")
        .expect_error(400, "validation_failed")
        .expect("the current password must be right");
    laptop
        .post(
            "/api/auth/password",
            json!({
                "current_password": concord_tests::server::TEST_PASSWORD,
                "new_password": NEW_PASSWORD,
            }),
        )
        .await
        .and_then(|r| r.ok())
        .expect("the password is changed");
    assert_closed_signed_out(&mut on_phone, "password changed elsewhere").await;
    assert!(!signed_in(&phone).await, "the other sign-in ended");
    assert!(signed_in(laptop).await, "the one that changed it goes on");
    let check = server.client().expect("client");
    check
        .post(
            "/api/auth/login",
            json!({"username": username, "password": concord_tests::server::TEST_PASSWORD}),
        )
        .await
        .expect("a reply")
        .expect_error(401, "unauthenticated")
        .expect("the old password no longer works");
    check
        .login(&username, NEW_PASSWORD)
        .await
        .expect("the new one does");

    // Signing out everywhere ends them all, the caller's own included.
    let mut on_laptop = hosting(&server, laptop, &room.session_id).await;
    laptop
        .post("/api/auth/logout-everywhere", json!({}))
        .await
        .and_then(|r| r.ok())
        .expect("signed out everywhere");
    assert_closed_signed_out(&mut on_laptop, "signed out everywhere").await;
    assert!(!signed_in(laptop).await);
    assert!(!signed_in(&check).await);

    // A plain sign-out closes that sign-in's sockets only.
    let first = server.client().expect("client");
    first.login(&username, NEW_PASSWORD).await.expect("sign in");
    let second = server.client().expect("client");
    second
        .login(&username, NEW_PASSWORD)
        .await
        .expect("sign in");
    let mut first_socket = hosting(&server, &first, &room.session_id).await;
    let mut second_socket = server.signal(Some(&second)).await.expect("connect");
    first
        .post("/api/auth/logout", json!({}))
        .await
        .and_then(|r| r.ok())
        .expect("signed out");
    assert_closed_signed_out(&mut first_socket, "signed out").await;
    second_socket
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the other sign-in's socket stays open");
    assert!(signed_in(&second).await);
    server.shutdown().await;
}
