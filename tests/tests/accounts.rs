//! Accounts can be taken back: an administrator disables one, its owner changes the password or
//! signs out everywhere, and every sign-in that ends takes the sockets it opened with it (a
//! mediator's tab left open elsewhere stops hosting).

use concord_tests::server::TEST_PASSWORD;
use concord_tests::{whoami, ApiClient, ApiResponse, SignalClient, TestServer, SIGNAL_TIMEOUT};
use serde_json::json;

const NEW_PASSWORD: &str = "another-long-password-5678";

async fn signed_in(client: &ApiClient) -> bool {
    client.get("/api/auth/me").await.expect("me").status == 200
}

/// A new client signed in as `username` with `password`.
async fn sign_in(server: &TestServer, username: &str, password: &str) -> ApiClient {
    let client = server.client().expect("client");
    client
        .login(username, password)
        .await
        .unwrap_or_else(|e| panic!("{username} signs in: {e:#}"));
    client
}

/// A sign-in attempt by `client`, whatever its answer.
async fn try_sign_in(client: &ApiClient, username: &str, password: &str) -> ApiResponse {
    client
        .post(
            "/api/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
        .expect("a reply")
}

/// `by` disables (or enables) account `id`, whatever the answer.
async fn set_disabled(by: &ApiClient, id: &str, disabled: bool) -> ApiResponse {
    by.patch(&format!("/api/users/{id}"), json!({"disabled": disabled}))
        .await
        .expect("a reply")
}

/// A socket opened with `client`'s sign-in, hosting `session_id`.
async fn hosting(server: &TestServer, client: &ApiClient, session_id: &str) -> SignalClient {
    let (socket, _) = server
        .join_as_host(client, session_id)
        .await
        .expect("the sign-in joins as the host");
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
    let (id, username) = whoami(&room.mediator).await.expect("me");
    let mut socket = hosting(&server, &room.mediator, &room.session_id).await;
    let admin = server.admin().await.expect("the administrator");

    // Only an administrator may, and not to their own account.
    set_disabled(&room.mediator, &id, true)
        .await
        .expect_error(403, "forbidden")
        .expect("a mediator cannot disable accounts");
    let (admin_id, _) = whoami(&admin).await.expect("me");
    set_disabled(&admin, &admin_id, true)
        .await
        .expect_error(409, "conflict")
        .expect("nor can an administrator disable their own");

    let disabled = set_disabled(&admin, &id, true)
        .await
        .ok()
        .expect("the administrator disables the mediator");
    assert_eq!(disabled["user"]["disabled"], true, "{disabled}");
    assert_closed_signed_out(&mut socket, "disabled").await;
    assert!(
        !signed_in(&room.mediator).await,
        "the cookie no longer works"
    );
    let again = server.client().expect("client");
    try_sign_in(&again, &username, TEST_PASSWORD)
        .await
        .expect_error(403, "account_disabled")
        .expect("the right password is told the account is disabled");
    try_sign_in(&again, &username, "not-the-password-at-all")
        .await
        .expect_error(401, "unauthenticated")
        .expect("a wrong one learns nothing");

    set_disabled(&admin, &id, false)
        .await
        .ok()
        .expect("enabled again");
    again
        .login(&username, TEST_PASSWORD)
        .await
        .expect("signs in again");
    assert!(signed_in(&again).await);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_every_other_sign_in_and_signing_out_everywhere_ends_all() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("a session");
    let (_, username) = whoami(&room.mediator).await.expect("me");
    let laptop = &room.mediator;
    let phone = sign_in(&server, &username, TEST_PASSWORD).await;
    let mut on_phone = hosting(&server, &phone, &room.session_id).await;

    laptop
        .post(
            "/api/auth/password",
            json!({"current_password": "a-wrong-guess-at-it", "new_password": NEW_PASSWORD}),
        )
        .await
        .expect("a reply")
        .expect_error(400, "wrong_password")
        .expect("the current password must be right");
    laptop
        .post(
            "/api/auth/password",
            json!({
                "current_password": TEST_PASSWORD,
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
    try_sign_in(&check, &username, TEST_PASSWORD)
        .await
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
    let first = sign_in(&server, &username, NEW_PASSWORD).await;
    let second = sign_in(&server, &username, NEW_PASSWORD).await;
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
