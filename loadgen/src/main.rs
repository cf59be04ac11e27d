//! `concord-loadgen`: see `docs/benchmarks.md`.

mod compare_cmd;
mod soak_cmd;
mod transport_cmd;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use concord_client::{Clip, ClipSpec, ConcordAdapter, JanusAdapter, SfuAdapter};
use concord_loadgen::{run, RunOptions, Scenario};

/// The recording notice of a server started with `--serve-inline` (the default is 5 s).
const INLINE_NOTICE_SECS: u64 = 1;

/// Load generator for Concord: webrtc-rs participants joining through the REST API and the
/// signaling with invitation tokens, publishing a real VP8 + Opus clip.
#[derive(Parser)]
// A later flag overrides an earlier one, so that a wrapper script's defaults can be overridden.
#[command(name = "concord-loadgen", version, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One publisher, N subscribers in one room.
    Fanout {
        /// Receivers (observers).
        #[arg(long, default_value_t = 5)]
        subscribers: usize,
        #[command(flatten)]
        common: Common,
    },
    /// R rooms of 4 participants, each publishing audio and video (a mediation mix).
    Rooms {
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Concord against Janus's VideoRoom, same scenarios, same generator, one run: starts each
    /// server fresh per scenario and samples its CPU and memory from /proc (see
    /// loadgen/bench/compare.sh, which sets up the network namespace Janus needs).
    Compare(compare_cmd::CompareArgs),
    /// A long run at a steady load (an hour by default) against a server process of its own:
    /// rooms churn (sessions open and end, parties join, leave and resume dropped connections,
    /// recordings start and stop) while the server's RSS, open descriptors and threads are
    /// sampled; prints each one's slope per hour and checks that no recording file was lost
    /// or left unfiled.
    Soak(soak_cmd::SoakArgs),
    /// The same scenario over UDP and over ICE-TCP, each run against a fresh server process:
    /// over TCP every peer reaches the SFU's TCP media port through a bridge of its own on the
    /// loopback (webrtc-rs has no ICE-TCP); prints the server's CPU per forwarded packet over
    /// each, their medians and the ratio TCP/UDP, and fails a run whose media did not go the
    /// way asked.
    Transport(transport_cmd::TransportArgs),
}

#[derive(Args)]
struct Common {
    /// The server, e.g. http://127.0.0.1:8080 (not needed with --serve-inline).
    #[arg(long)]
    server: Option<String>,
    /// Drive a Janus VideoRoom at this WebSocket URL (e.g. ws://127.0.0.1:8188) instead.
    #[arg(long, conflicts_with_all = ["server", "serve_inline"])]
    janus: Option<String>,
    /// Start a server in this process on 127.0.0.1:0 (its CPU then counts as the generator's).
    #[arg(long)]
    serve_inline: bool,
    /// A mediator or admin account (default with --serve-inline: the test admin).
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long, env = "CONCORD_LOADGEN_PASSWORD")]
    password: Option<String>,
    /// Record every room over the measured window: the signed-in account joins each session as
    /// host (without media), starts recording after the warm-up, waits until it is on (after
    /// the server's notice period: `recording.notice_secs`, 1 s with --serve-inline), and stops
    /// it after the window, waiting until the files are filed.
    #[arg(long, conflicts_with = "janus")]
    record: bool,
    #[command(flatten)]
    measure: Measure,
}

#[derive(Args)]
pub(crate) struct Measure {
    /// Measured seconds, after warm-up.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Video bitrate of the clip (e.g. 500k, 1.5M, 800000).
    #[arg(long, default_value = "500k", value_parser = parse_bitrate)]
    bitrate: u32,
    /// Where the encoded clip is cached.
    #[arg(long)]
    clip_cache: Option<PathBuf>,
    /// How long joining and the first frames may take, seconds.
    #[arg(long, default_value_t = 60)]
    warmup_timeout: u64,
    /// Seconds between warm-up and the measured window.
    #[arg(long, default_value_t = 0.0)]
    settle_seconds: f64,
    /// The address the participants' media sockets bind to (Janus: its own media address;
    /// `compare` uses --media-ip).
    #[arg(long, default_value = "127.0.0.1")]
    client_ip: IpAddr,
    /// Also print the report as one JSON line.
    #[arg(long)]
    json: bool,
    /// Worker threads (0: a single-threaded runtime, cheapest per packet with webrtc-rs).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Publishers send VP8 simulcast like the web client (rids q, h, f: 320x180 at 150 kbit/s,
    /// 640x360 at --bitrate, 1280x720 at 1.2 Mbit/s), each layer a clip of its own.
    #[arg(long)]
    simulcast: bool,
    /// With --simulcast: the layer every receiver asks for (q, h, f). Concord gets a `view`
    /// with tiles of that layer's size; Janus a `configure` with its substream.
    #[arg(long, default_value = "h", value_parser = parse_layer, requires = "simulcast")]
    layer: usize,
}

fn parse_layer(s: &str) -> Result<usize, String> {
    concord_client::clip::SIMULCAST_RIDS
        .iter()
        .position(|rid| *rid == s)
        .ok_or_else(|| format!("unknown layer {s:?} (q, h, f)"))
}

fn parse_bitrate(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("bad bitrate {s:?}"))?;
    let bps = v * mult;
    if !(10_000.0..=20_000_000.0).contains(&bps) {
        return Err(format!("bitrate {s} out of range (10k..20M)"));
    }
    Ok(bps as u32)
}

fn main() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let cli = Cli::parse();
    let (scenario, common) = match cli.command {
        Command::Compare(args) => {
            let runtime = runtime(args.measure.threads)?;
            return runtime.block_on(compare_cmd::run(args));
        }
        // One thread, as for the other commands: webrtc-rs is cheapest per packet on one.
        Command::Soak(args) => return runtime(0)?.block_on(soak_cmd::run(args)),
        Command::Transport(args) => {
            let runtime = runtime(args.measure.threads)?;
            return runtime.block_on(transport_cmd::run(args));
        }
        Command::Fanout {
            subscribers,
            common,
        } => {
            if !(1..=200).contains(&subscribers) {
                bail!("--subscribers must be between 1 and 200");
            }
            (Scenario::Fanout { subscribers }, common)
        }
        Command::Rooms { rooms, common } => {
            if !(1..=50).contains(&rooms) {
                bail!("--rooms must be between 1 and 50");
            }
            (Scenario::Rooms { rooms }, common)
        }
    };
    runtime(common.measure.threads)?.block_on(run_cli(scenario, common))
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    let runtime = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    Ok(runtime)
}

impl Measure {
    pub(crate) fn run_options(&self, scenario: Scenario) -> RunOptions {
        RunOptions {
            scenario,
            seconds: self.seconds,
            clip: ClipSpec {
                video_bitrate: self.bitrate,
                ..ClipSpec::default()
            },
            clip_cache: self
                .clip_cache
                .clone()
                .unwrap_or_else(Clip::default_cache_dir),
            warmup_timeout: Duration::from_secs(self.warmup_timeout),
            settle: Duration::from_secs_f64(self.settle_seconds.max(0.0)),
            server_pid: None,
            client_ip: self.client_ip,
            record: false,
            simulcast: self.simulcast.then_some(self.layer),
        }
    }
}

async fn run_cli(scenario: Scenario, common: Common) -> Result<()> {
    let options = RunOptions {
        record: common.record,
        ..common.measure.run_options(scenario)
    };
    if let Some(url) = &common.janus {
        let adapter = JanusAdapter::connect(url).await?;
        return report(run(&adapter, &options).await?, &common);
    }
    let mut inline = None;
    let (base_url, password) = if common.serve_inline {
        let dir = tempfile::Builder::new()
            .prefix("concord-loadgen-")
            .tempdir()
            .context("data directory for the inline server")?;
        let mut config = concord_signaling::Config::for_tests(dir.path());
        config.recording.notice_secs = INLINE_NOTICE_SECS;
        // Every simulated participant comes from this one address.
        config.signaling.max_connections_per_address = config.signaling.max_connections;
        let password = config.admin_password.clone();
        let server = concord_signaling::start(config)
            .await
            .context("starting the inline server")?;
        let url = server.base_url().trim_end_matches('/').to_owned();
        inline = Some((server, dir));
        (url, common.password.clone().unwrap_or(password))
    } else {
        let Some(url) = common.server.clone() else {
            bail!("give --server URL or --serve-inline");
        };
        let Some(password) = common.password.clone() else {
            bail!(
                "give --password (or CONCORD_LOADGEN_PASSWORD) for {}",
                common.username
            );
        };
        (url, password)
    };

    let adapter = ConcordAdapter::sign_in(&base_url, &common.username, &password).await?;
    let result = run(&adapter as &dyn SfuAdapter, &options).await;
    if let Some((server, _dir)) = inline {
        server.shutdown().await;
    }
    report(result?, &common)
}

fn report(report: concord_loadgen::Report, common: &Common) -> Result<()> {
    println!("{}", report.table());
    if common.serve_inline {
        println!("(--serve-inline: the CPU figure includes the server)");
    }
    if common.measure.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// `outcomes` grouped by scenario, each group in the order it ran and the scenarios in the order
/// they first ran: one table each.
fn by_scenario<T>(outcomes: &[T], scenario: impl Fn(&T) -> &str) -> Vec<Vec<&T>> {
    let mut groups: Vec<(&str, Vec<&T>)> = Vec::new();
    for outcome in outcomes {
        let name = scenario(outcome);
        match groups.iter_mut().find(|(seen, _)| *seen == name) {
            Some((_, group)) => group.push(outcome),
            None => groups.push((name, vec![outcome])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

#[cfg(test)]
mod tests {
    use super::by_scenario;

    #[test]
    fn outcomes_are_grouped_by_scenario_in_the_order_they_ran() {
        let outcomes = [("fanout", 1), ("rooms", 2), ("fanout", 3)];
        let groups = by_scenario(&outcomes, |o| o.0);
        assert_eq!(
            groups,
            vec![vec![&outcomes[0], &outcomes[2]], vec![&outcomes[1]]]
        );
    }
}
