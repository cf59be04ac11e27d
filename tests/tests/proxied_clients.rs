//! Who a request is counted as: behind a trusted reverse proxy, the client it names in
//! `X-Forwarded-For` (one village's bad links do not lock out the next); anyone else's header is
//! ignored (a guesser cannot pick a fresh address per guess). Token probes on recording URLs
//! count like bad invitation links.

use std::net::{IpAddr, Ipv4Addr};

use concord_tests::TestServer;
use reqwest::{RequestBuilder, StatusCode};

/// The address the trusted proxy connects from (all of 127.0.0.0/8 is this machine).
const PROXY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Failed look-ups an address may make per minute (the server's default).
const FAILURES_PER_MINUTE: usize = 10;

/// An HTTP client connecting from `local`.
fn client_from(local: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(local))
        .build()
        .expect("an HTTP client")
}

/// The status `request` is answered with.
async fn status_of(request: RequestBuilder) -> StatusCode {
    request.send().await.expect("a response").status()
}

/// Looks up a made-up invitation token, claiming to forward for `forwarded_for`.
async fn probe_invitation(
    server: &TestServer,
    client: &reqwest::Client,
    forwarded_for: Option<&str>,
    n: usize,
) -> StatusCode {
    let url = server.url(&format!(
        "/api/invitations/inspect?token=made-up-token-{n:04}-xxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    ));
    let mut request = client.get(url);
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    status_of(request).await
}

/// A request by `client` for a recording's file (one that does not exist).
fn recording_file(server: &TestServer, client: &reqwest::Client) -> RequestBuilder {
    client.get(server.url("/api/recordings/files/some-file"))
}

/// Makes a caller's whole allowance of failures, `probe(0)` to `probe(FAILURES_PER_MINUTE - 1)`:
/// each must still be answered with `answer` (`"{what} {n} is answered"`, from 1).
async fn use_up_allowance(
    what: &str,
    answer: StatusCode,
    probe: impl AsyncFn(usize) -> StatusCode,
) {
    for n in 0..FAILURES_PER_MINUTE {
        let status = probe(n).await;
        assert_eq!(status, answer, "{what} {} is answered", n + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_is_counted_per_client_and_anyone_else_per_connection() {
    let server = TestServer::start_with(|config| {
        config.signaling.trusted_proxies = vec![IpAddr::V4(PROXY)];
    })
    .await
    .expect("start the server");
    let proxy = client_from(PROXY);

    // One village's client guesses until it is refused...
    let village = Some("203.0.113.5");
    use_up_allowance("failure", StatusCode::NOT_FOUND, async |n| {
        probe_invitation(&server, &proxy, village, n).await
    })
    .await;
    let status = probe_invitation(&server, &proxy, village, FAILURES_PER_MINUTE).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser is refused"
    );
    // ...what it wrote itself left of the proxy's entry does not get it a fresh count...
    let forged = Some("198.51.100.1, 203.0.113.5");
    let status = probe_invitation(&server, &proxy, forged, 100).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged entry changes nothing"
    );
    // ...and the next village, through the same proxy, is not locked out.
    let neighbour = Some("203.0.113.6");
    let status = probe_invitation(&server, &proxy, neighbour, 101).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another client of the proxy is still answered"
    );

    // A client connecting directly names whatever it likes: it is counted as itself.
    let direct = client_from(Ipv4Addr::LOCALHOST);
    use_up_allowance("failure", StatusCode::NOT_FOUND, async |n| {
        let claimed = format!("192.0.2.{n}");
        probe_invitation(&server, &direct, Some(&claimed), 200 + n).await
    })
    .await;
    let status = probe_invitation(&server, &direct, Some("192.0.2.99"), 299).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "rotating X-Forwarded-For does not help a direct client"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessed_tokens_on_recording_urls_count_as_failures() {
    let server = TestServer::start().await.expect("start the server");
    let prober = client_from(Ipv4Addr::LOCALHOST);
    let probe = async |n: usize| {
        let guess = format!("guessed-bearer-token-{n:04}");
        status_of(recording_file(&server, &prober).bearer_auth(guess)).await
    };
    use_up_allowance("probe", StatusCode::UNAUTHORIZED, &probe).await;
    let status = probe(FAILURES_PER_MINUTE).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the prober is refused"
    );
    // The same count guards invitation links: it cannot switch to guessing those.
    let status = probe_invitation(&server, &prober, None, 0).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "and refused at invitations too"
    );
    // Someone else, with a real sign-in, still gets in.
    let mediator = server.mediator().await.expect("a mediator");
    let cookie = mediator.cookie().expect("the mediator's cookie");
    let elsewhere = client_from(Ipv4Addr::new(127, 0, 0, 3));
    let status = status_of(recording_file(&server, &elsewhere).header("Cookie", cookie)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a signed-in mediator is answered"
    );
    server.shutdown().await;
}
