//! The open login page under abuse: failed sign-ins are limited per address and per username
//! (429 before any password is hashed), password hashes in flight are bounded (the excess is
//! refused at once with 429 `busy` rather than queued), so a burst of wrong-password logins
//! neither exhausts memory nor keeps the rightful user out for long.

use std::time::Duration;

use concord_tests::{ApiResponse, TestServer};
use serde_json::json;

/// What a burst of logins may add to the process's peak memory (the server runs in the test's
/// process). Unbounded, 300 concurrent argon2 hashes took 5.6 GB.
const BURST_MEMORY_LIMIT_KIB: u64 = 400 * 1024;

async fn login(server: &TestServer, username: &str, password: &str) -> ApiResponse {
    server
        .client()
        .expect("client")
        .post(
            "/api/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
        .expect("a response")
}

/// The peak resident memory of this process so far, in KiB.
fn peak_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_limited_per_username_and_per_address() {
    let server = TestServer::start().await.expect("start the server");
    let mediator = server.mediator().await.expect("a mediator account");
    let me = mediator
        .get("/api/auth/me")
        .await
        .expect("me")
        .ok()
        .expect("me");
    let username = me["user"]["username"]
        .as_str()
        .expect("username")
        .to_owned();

    // Five wrong guesses at one username, then even the right password waits a minute.
    for n in 0..5 {
        let reply = login(&server, &username, &format!("wrong-{n}")).await;
        reply
            .expect_error(401, "unauthenticated")
            .expect("a wrong password is 401");
    }
    let locked = login(&server, &username, concord_tests::server::TEST_PASSWORD).await;
    locked
        .expect_error(429, "rate_limited")
        .expect("the username is locked for the minute");
    // Other usernames from this address still get their answer, until the address has used
    // up its ten failures.
    for n in 0..5 {
        let reply = login(&server, &format!("nobody{n}"), "whatever-password").await;
        reply
            .expect_error(401, "unauthenticated")
            .expect("another username is 401");
    }
    login(&server, "nobody-else", "whatever-password")
        .await
        .expect_error(429, "rate_limited")
        .expect("the address is limited after ten failures");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_is_refused_quickly_and_memory_stays_bounded() {
    // Room for the whole burst from this one address: what is tested is what the logins cost.
    let server =
        TestServer::start_with(|config| config.signaling.max_connections_per_address = 1_000)
            .await
            .expect("start the server");
    let before = peak_memory_kib();
    let burst = (0..300).map(|n| {
        let server = &server;
        async move { login(server, &format!("stranger{n}"), "not-the-password").await }
    });
    let replies = tokio::time::timeout(
        Duration::from_secs(120),
        futures_util::future::join_all(burst),
    )
    .await
    .expect("every login is answered");
    let (mut unauthenticated, mut refused) = (0, 0);
    for reply in &replies {
        match (reply.status, reply.error_code()) {
            (401, Some("unauthenticated")) => unauthenticated += 1,
            (429, Some("busy" | "rate_limited")) => refused += 1,
            other => panic!("unexpected answer {other:?}: {:?}", reply.body),
        }
    }
    let grown = peak_memory_kib().saturating_sub(before);
    println!(
        "300 concurrent wrong logins: {unauthenticated} answered 401 after hashing, {refused} \
         refused with 429; peak memory grew {} MiB",
        grown / 1024
    );
    assert!(
        unauthenticated <= 10 + 4,
        "no more hashed than the limits allow"
    );
    assert!(
        grown < BURST_MEMORY_LIMIT_KIB,
        "peak memory grew {} MiB",
        grown / 1024
    );
    server.shutdown().await;
}
