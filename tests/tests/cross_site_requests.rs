//! Another site's page cannot change anything with a signed-in mediator's cookie, even where
//! the browser would send it; and a server with a real certificate tells browsers to come back
//! over HTTPS only.

use std::process::Command;

use concord_signaling::config::TlsMode;
use concord_tests::{ApiClient, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

/// Ends the session with the mediator's cookie, as a page would, with extra `headers`.
async fn end_session(
    server: &TestServer,
    cookie: &str,
    session_id: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(server.url(&format!("/api/sessions/{session_id}/end")))
        .header("Cookie", cookie);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn session_status(mediator: &ApiClient, session_id: &str) -> String {
    let session = mediator
        .get(&format!("/api/sessions/{session_id}"))
        .await
        .and_then(|r| r.ok())
        .expect("the session");
    session["session"]["status"]
        .as_str()
        .or_else(|| session["status"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_changing_call_from_another_origin_is_refused() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("a session");
    let cookie = room.mediator.cookie().expect("the mediator's cookie");
    let host = server.http_addr().to_string();
    let ours = format!("http://{host}");

    let (status, body) = end_session(
        &server,
        &cookie,
        &room.session_id,
        &[("Origin", "http://evil.example")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "cross_origin", "{body}");
    // A browser that sends no Origin still says where the request comes from.
    let (status, body) = end_session(
        &server,
        &cookie,
        &room.session_id,
        &[("Sec-Fetch-Site", "cross-site")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_ne!(
        session_status(&room.mediator, &room.session_id).await,
        "ended"
    );

    // Our own page, and a client that is no browser page at all, are heard.
    let (status, body) = end_session(
        &server,
        &cookie,
        &room.session_id,
        &[("Origin", ours.as_str()), ("Sec-Fetch-Site", "same-origin")],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "our own page ends the session: {body}"
    );
    assert_eq!(
        session_status(&room.mediator, &room.session_id).await,
        "ended"
    );
    server.shutdown().await;
}

/// The `Strict-Transport-Security` header of `server`'s health check over HTTPS (curl, which
/// is told to accept the certificate: this checks the header, not the certificate).
fn hsts_of(server: &TestServer) -> Option<String> {
    let url = format!("https://{}/api/health", server.http_addr());
    let out = Command::new("curl")
        .args(["-ksS", "-o", "/dev/null", "-D", "-", url.as_str()])
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl reaches the server over HTTPS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("strict-transport-security")
                .then(|| value.trim().to_owned())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_with_a_real_certificate_and_not_with_a_self_signed_one() {
    let self_signed = TestServer::start_with(|config| config.tls.mode = TlsMode::SelfSigned)
        .await
        .expect("start with a self-signed certificate");
    assert_eq!(
        hsts_of(&self_signed),
        None,
        "HSTS would turn a self-signed certificate's warning into a wall"
    );
    // The same certificate, configured as the deployment's own files.
    let tls_dir = self_signed.data_dir().join("tls");
    let (cert, key) = (
        tls_dir.join("self-signed.crt"),
        tls_dir.join("self-signed.key"),
    );
    let files = TestServer::start_with(|config| {
        config.tls.mode = TlsMode::Files;
        config.tls.cert = cert;
        config.tls.key = key;
    })
    .await
    .expect("start with certificate files");
    assert_eq!(hsts_of(&files).as_deref(), Some("max-age=31536000"));
    files.shutdown().await;
    self_signed.shutdown().await;
}
