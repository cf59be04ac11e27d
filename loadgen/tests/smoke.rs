//! A short fan-out load run against an in-process server: every subscriber receives the
//! publisher's real VP8 and Opus frames with little loss. Delivery only, not speed.

use std::time::Duration;

use concord_client::{Clip, ClipSpec, ConcordAdapter};
use concord_loadgen::{run, RunOptions, Scenario};

#[tokio::test(flavor = "current_thread")]
async fn fanout_to_three_subscribers_delivers_video_and_audio_frames() {
    let dir = tempfile::tempdir().expect("data directory");
    let config = concord_signaling::Config::for_tests(dir.path());
    let password = config.admin_password.clone();
    let server = concord_signaling::start(config)
        .await
        .expect("start the server");
    let base_url = server.base_url().trim_end_matches('/').to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");

    let adapter = ConcordAdapter::sign_in(&base_url, "admin", &password)
        .await
        .expect("sign in");
    let options = RunOptions {
        scenario: Scenario::Fanout { subscribers: 3 },
        seconds: 5.0,
        clip: ClipSpec {
            video_bitrate: 300_000,
            ..ClipSpec::default()
        },
        clip_cache: Clip::default_cache_dir(),
        warmup_timeout: Duration::from_secs(60),
        settle: Duration::ZERO,
        server_pid: None,
        client_ip: "127.0.0.1".parse().expect("an IP"),
    };
    let result = run(&adapter, &options).await;
    server.shutdown().await;
    let report = result.expect("load run");
    println!("{}", report.table());

    assert_eq!(report.streams.len(), 6, "3 subscribers × audio and video");
    for s in &report.streams {
        // 5 s at 30 fps / 50 packets per second: far more than a handful.
        assert!(s.frames >= 30, "too few frames: {s:?}");
    }
    report
        .check_delivery(2.0)
        .expect("delivery with under 2 % loss");
    let subscribers = report
        .roles
        .iter()
        .find(|r| r.role.starts_with("subscriber"))
        .expect("a subscriber row");
    assert!(subscribers.delay_samples > 0, "no forwarding-delay samples");
}
