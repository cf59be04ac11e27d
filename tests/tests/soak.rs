//! A short soak: the load generator's churn (sessions opened and ended, parties joining,
//! leaving and resuming dropped connections, recordings started and stopped) against a server
//! in a process of its own, sampled from `/proc`, and at the end every recording file on disk
//! filed and every filed file on disk. What an hour's soak does, bounded to under a minute of
//! churn; the slopes are printed, not judged (a minute's are noise).
//!
//! The server process is this test binary started again with only the ignored
//! `soak_child_server` entry point, which runs Concord from the `CONCORD_*` variables the soak
//! gives it, as `concord serve` would.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::time::Duration;

use concord_client::{Clip, ClipSpec};
use concord_loadgen::soak::{self, ChurnPlan, ServerLaunch, SoakOptions, SoakServer, Warmup};
use concord_signaling::config::Overrides;
use concord_signaling::Config;

/// Set by the soak for its server; without it the child entry point has nothing to serve.
const DATA_DIR_VARIABLE: &str = "CONCORD_DATA_DIR";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the server process of a_short_soak_churns_and_loses_no_recording_file"]
async fn soak_child_server() {
    if std::env::var_os(DATA_DIR_VARIABLE).is_none() {
        return;
    }
    let config = Config::load(None, &Overrides::default()).expect("the soak's configuration");
    let server = concord_signaling::start(config)
        .await
        .expect("start the server");
    // The line `concord serve` writes, which the soak waits for.
    eprintln!("Concord is serving at {}", server.base_url());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    terminate.recv().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_short_soak_churns_and_loses_no_recording_file() {
    let this_binary = std::env::current_exe().expect("the test binary");
    let launch = ServerLaunch {
        program: this_binary,
        args: ["--ignored", "--exact", "soak_child_server", "--nocapture"]
            .into_iter()
            .map(OsString::from)
            .collect(),
    };
    let options = SoakOptions {
        duration: Duration::from_secs(45),
        warmup: Warmup::Fraction(0.1),
        sample_every: Duration::from_secs(1),
        progress_every: Some(Duration::from_secs(15)),
        // Sessions short enough that several open and end, events often enough that each kind
        // happens several times.
        churn: ChurnPlan {
            rooms: 2,
            participants: 3,
            session_length: Duration::from_secs(20),
            churn_every: Duration::from_secs(3),
        },
        clip: ClipSpec {
            video_bitrate: 300_000,
            ..ClipSpec::default()
        },
        clip_cache: Clip::default_cache_dir(),
        client_ip: Ipv4Addr::LOCALHOST.into(),
        filing_timeout: Duration::from_secs(300),
        keep_server_data: false,
    };
    let report = soak::soak(SoakServer::Launch(launch), &options, &|line: &str| {
        println!("soak: {line}")
    })
    .await
    .expect("the soak runs");
    println!("{}", report.table());

    assert!(
        report.server_trouble.is_none(),
        "{:?}",
        report.server_trouble
    );
    let churn = &report.churn;
    assert!(
        churn.sessions_opened > 0 && churn.sessions_ended > 0,
        "{churn:?}"
    );
    assert!(churn.joins > 0 && churn.leaves > 0, "{churn:?}");
    assert!(
        churn.reconnects > 0,
        "no dropped connection was resumed: {churn:?}"
    );
    assert!(
        churn.recordings_started > 0 && churn.recordings_stopped > 0,
        "{churn:?}"
    );
    assert!(churn.media_bytes_received > 0, "{churn:?}");

    let files = report.files.as_ref().expect("the files were checked");
    assert!(files.recordings > 0 && files.files_on_disk > 0, "{files:?}");
    assert!(
        files.lost.is_empty() && files.unfiled.is_empty() && files.size_differs.is_empty(),
        "{}",
        files.lines()
    );
    assert_eq!(files.filed, files.files_on_disk, "{}", files.lines());
    assert!(report.passed());

    assert!(!report.samples.is_empty(), "the server was never sampled");
    let series: Vec<&str> = report.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(series, ["RSS", "open fds", "threads"]);
    assert!(report
        .samples
        .iter()
        .all(|s| s.server.rss_kb > 0 && s.server.threads > 0));
}
