//! Short fan-out runs against an in-process server with the peers' media over ICE-TCP through
//! the load generator's bridges, and over UDP as the control: over TCP every peer's media goes
//! through its bridge and the server's TCP media port (one established connection per peer),
//! over UDP the server holds none. Delivery and path only, not speed.

use std::sync::Arc;
use std::time::Duration;

use concord_client::{Clip, ClipSpec, ConcordAdapter};
use concord_loadgen::transport::{
    check_path, ConcordOver, PathSummary, ServerConnectionWatch, Transport,
};
use concord_loadgen::{run, Report, RunOptions, Scenario};

/// A 3 s fan-out to two subscribers over `transport`, against a server in this process (whose
/// connections are then this process's): the report and how its media went.
async fn fanout_over(transport: Transport) -> (Report, PathSummary) {
    let dir = tempfile::tempdir().expect("data directory");
    let config = concord_signaling::Config::for_tests(dir.path());
    let password = config.admin_password.clone();
    let server = concord_signaling::start(config)
        .await
        .expect("start the server");
    let media_tcp = server
        .media_tcp_addr()
        .expect("media over TCP is on by default");
    let base_url = server.base_url().trim_end_matches('/').to_owned();
    let signed_in = ConcordAdapter::sign_in(&base_url, "admin", &password)
        .await
        .expect("sign in");
    let adapter = ConcordOver::new(Box::new(signed_in), &base_url, transport);
    let paths = adapter.paths();
    let watch = ServerConnectionWatch::start(std::process::id(), Arc::clone(&paths));
    let options = RunOptions {
        scenario: Scenario::Fanout { subscribers: 2 },
        seconds: 3.0,
        clip: ClipSpec {
            video_bitrate: 300_000,
            ..ClipSpec::default()
        },
        clip_cache: Clip::default_cache_dir(),
        warmup_timeout: Duration::from_secs(30),
        settle: Duration::ZERO,
        server_pid: None,
        client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        record: false,
        simulcast: None,
    };
    let result = run(&adapter, &options).await;
    let connections = watch.stop().await;
    drop(adapter);
    server.shutdown().await;
    let report = result.expect("load run");
    println!("{}", report.table());
    report
        .check_delivery(2.0)
        .expect("delivery with under 2 % loss");
    assert_eq!(
        paths.sfu_tcp().map(|addr| addr.port()),
        Some(media_tcp.port()),
        "the SFU's TCP candidate names its media TCP port"
    );
    let connections = connections.expect("the server's connections counted");
    let path = check_path(transport, &report, &paths, connections)
        .unwrap_or_else(|e| panic!("media over {}: {e:#}", transport.name()));
    println!("{path:?}");
    (report, path)
}

#[tokio::test(flavor = "current_thread")]
async fn over_tcp_every_peer_s_media_goes_through_its_bridge_and_the_sfu_s_tcp_port() {
    let (report, path) = fanout_over(Transport::Tcp).await;
    assert_eq!(report.streams.len(), 4, "2 subscribers × audio and video");
    assert_eq!(path.bridges, 3, "the publisher and two subscribers");
    assert_eq!(path.server_tcp_connections, Some(3));
    let forwarded: u64 = report.streams.iter().map(|s| s.packets).sum();
    assert!(
        path.bridged_to_peers >= forwarded && path.bridged_to_sfu > 0,
        "{path:?}, {forwarded} packets forwarded in the window"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn over_udp_the_server_holds_no_media_tcp_connection() {
    let (_, path) = fanout_over(Transport::Udp).await;
    assert_eq!(path.bridges, 0);
    assert_eq!(path.server_tcp_connections, Some(0));
}
