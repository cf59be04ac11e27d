//! `concord-loadgen compare`: the same scenarios, driven by the same load generator, against
//! Concord and Janus's VideoRoom one after the other in one run, each server started fresh for
//! each scenario (so memory figures start from the same point) and sampled through `/proc`
//! over the measured window.
//!
//! Forwarded packets are what the generator's receivers counted in the window (the sum over
//! every receiving seat and stream), so the CPU per forwarded packet is the server's CPU time
//! over the window divided by that. The order of the servers alternates between scenarios, so
//! that drifting load on the machine does not always favour the same one.
//!
//! With [`CompareOptions::record`] each scenario also runs against Concord recording every
//! room over the window ("concord rec", right after the unrecorded Concord run), so what
//! recording costs is measured with the same load in the same run. Janus is never recorded.

mod janus_config;
mod servers;
mod table;

use serde::Serialize;

use crate::{procfs, run, Report, RunOptions, Scenario};
pub use janus_config::JanusConfig;
pub use servers::{Server, ServerKind, ServerSetup};
pub use table::{markdown_summary, recording_summary, scenario_table};

/// The name of Concord's recorded runs in outcomes and tables.
pub const CONCORD_RECORDED: &str = "concord rec";

/// A server in one configuration: one column of a scenario's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contender {
    pub kind: ServerKind,
    /// Every room recorded over the window (Concord only).
    pub record: bool,
}

impl Contender {
    pub fn name(self) -> &'static str {
        match (self.kind, self.record) {
            (ServerKind::Concord, true) => CONCORD_RECORDED,
            (kind, _) => kind.name(),
        }
    }
}

/// A comparison run.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub setup: ServerSetup,
    pub servers: Vec<ServerKind>,
    pub scenarios: Vec<Scenario>,
    /// Also run each scenario against Concord recording every room.
    pub record: bool,
    /// The run settings shared by every scenario (`scenario` and `server_pid` are set per run).
    pub run: RunOptions,
}

/// One server on one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub server: String,
    pub scenario: String,
    pub metrics: Option<Metrics>,
    /// Why there are no metrics.
    pub error: Option<String>,
    pub report: Option<Report>,
}

/// The compared figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub seats: usize,
    pub seconds: f64,
    pub forwarded_packets: u64,
    pub forwarded_packets_per_s: f64,
    pub server_cpu_pct: f64,
    pub cpu_us_per_packet: Option<f64>,
    pub packets_per_cpu_s: Option<f64>,
    /// Resident memory at the end of the window, before any participant joined, its peak, and
    /// (end − idle) per seat.
    pub rss_mb: f64,
    pub rss_idle_mb: f64,
    pub rss_peak_mb: f64,
    pub rss_per_seat_mb: f64,
    pub mbit_per_s: f64,
    pub loss_pct: f64,
    pub frame_delivery_pct: Option<f64>,
    pub freezes: u64,
    pub delay_p50_ms: Option<f64>,
    pub delay_p99_ms: Option<f64>,
    pub generator_cpu_pct: f64,
    /// What the server caused to be written to storage over the window (`write_bytes` of
    /// `/proc/<pid>/io`), MB/s, when it could be read.
    pub storage_write_mb_per_s: Option<f64>,
    /// With recording: the size of the participant files filed, MB (written from the start of
    /// the recording to its end, so somewhat longer than the window).
    pub recorded_mb: Option<f64>,
}

impl Metrics {
    /// The figures of `report`, whose server was at `idle_rss_kb` before anyone joined.
    pub fn from_report(report: &Report, idle_rss_kb: u64) -> Option<Metrics> {
        let server = report.server_process.as_ref()?;
        let received = report.received.as_ref()?;
        let forwarded: u64 = report.streams.iter().map(|s| s.packets).sum();
        let per_packet = (forwarded > 0).then(|| server.cpu_seconds * 1e6 / forwarded as f64);
        let per_cpu_s = (server.cpu_seconds > 0.0).then(|| forwarded as f64 / server.cpu_seconds);
        let mb = |kb: u64| kb as f64 / 1024.0;
        Some(Metrics {
            seats: report.seats,
            seconds: report.seconds,
            forwarded_packets: forwarded,
            forwarded_packets_per_s: forwarded as f64 / report.seconds,
            server_cpu_pct: server.cpu_seconds / report.seconds * 100.0,
            cpu_us_per_packet: per_packet,
            packets_per_cpu_s: per_cpu_s,
            rss_mb: mb(server.rss_end_kb),
            rss_idle_mb: mb(idle_rss_kb),
            rss_peak_mb: mb(server.rss_peak_kb),
            rss_per_seat_mb: mb(server.rss_end_kb.saturating_sub(idle_rss_kb))
                / report.seats.max(1) as f64,
            mbit_per_s: received.mbit_per_s,
            loss_pct: received.loss_pct,
            frame_delivery_pct: received.frame_delivery_pct,
            freezes: received.freezes,
            delay_p50_ms: received.delay_p50_ms,
            delay_p99_ms: received.delay_p99_ms,
            generator_cpu_pct: report.cpu_pct,
            storage_write_mb_per_s: server
                .write_bytes
                .map(|bytes| bytes as f64 / report.seconds / 1e6),
            recorded_mb: report.recording.as_ref().map(|r| r.bytes as f64 / 1e6),
        })
    }
}

/// A short name for a scenario.
pub fn scenario_name(scenario: Scenario) -> String {
    match scenario {
        Scenario::Fanout { subscribers } => format!("fanout, 1 → {subscribers}"),
        Scenario::Rooms { rooms } => format!("rooms, {rooms} × 4"),
    }
}

/// Runs every scenario against every server; `progress` sees each outcome as it comes. A
/// server that fails a scenario gets an outcome with the error, and the run goes on.
pub async fn compare(options: &CompareOptions, mut progress: impl FnMut(&Outcome)) -> Vec<Outcome> {
    // A recorded run comes right after (or before) its unrecorded twin.
    let mut contenders = Vec::new();
    for &kind in &options.servers {
        contenders.push(Contender {
            kind,
            record: false,
        });
        if options.record && kind == ServerKind::Concord {
            contenders.push(Contender { kind, record: true });
        }
    }
    let mut outcomes = Vec::new();
    for (i, scenario) in options.scenarios.iter().enumerate() {
        let mut order = contenders.clone();
        if i % 2 == 1 {
            order.reverse();
        }
        let mut these = Vec::new();
        for contender in order {
            let outcome = match run_one(contender, *scenario, options).await {
                Ok((report, idle_rss_kb)) => Outcome {
                    server: contender.name().to_owned(),
                    scenario: scenario_name(*scenario),
                    metrics: Metrics::from_report(&report, idle_rss_kb),
                    error: None,
                    report: Some(report),
                },
                Err(err) => Outcome {
                    server: contender.name().to_owned(),
                    scenario: scenario_name(*scenario),
                    metrics: None,
                    error: Some(format!("{err:#}")),
                    report: None,
                },
            };
            progress(&outcome);
            these.push(outcome);
        }
        // Reported in the order asked for, whatever order they ran in.
        for contender in &contenders {
            if let Some(i) = these.iter().position(|o| o.server == contender.name()) {
                outcomes.push(these.remove(i));
            }
        }
    }
    outcomes
}

/// Starts the contender's server, runs `scenario` against it, stops it. Returns the report
/// and the server's resident memory before anyone joined.
async fn run_one(
    contender: Contender,
    scenario: Scenario,
    options: &CompareOptions,
) -> anyhow::Result<(Report, u64)> {
    let kind = contender.kind;
    let (server, adapter) = Server::start(kind, &options.setup).await?;
    let idle = procfs::sample(server.pid)?;
    let run_options = RunOptions {
        scenario,
        server_pid: Some(server.pid),
        record: contender.record,
        ..options.run.clone()
    };
    let result = run(adapter.as_ref(), &run_options).await;
    drop(adapter);
    let log = server.log_tail();
    let stopped = server.stop().await;
    let report =
        result.map_err(|err| anyhow::anyhow!("{err:#}\n{} log ends with:\n{log}", kind.name()))?;
    stopped?;
    Ok((report, idle.rss_kb))
}
