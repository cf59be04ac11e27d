//! `concord-loadgen soak`: the command line of [`concord_loadgen::soak`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use concord_client::{Clip, ClipSpec};
use concord_loadgen::soak::{
    self, parse_duration, ChurnPlan, ExternalServer, ServerLaunch, SoakOptions, SoakServer, Warmup,
};

use crate::parse_bitrate;

/// A progress line this often on standard error.
const PROGRESS_EVERY: Duration = Duration::from_secs(60);

#[derive(Args)]
pub(crate) struct SoakArgs {
    /// How long the rooms churn: 90s, 10m, 1h, 1h30m.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    duration: Duration,
    /// Rooms churning at once.
    #[arg(long, default_value_t = 3)]
    rooms: usize,
    /// Parties per session, each publishing the clip and receiving the others.
    #[arg(long, default_value_t = 4)]
    participants: usize,
    /// How long a session lasts before it is ended and the next one opens (±20 %).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    session_length: Duration,
    /// How often something happens in each room (±50 %): in turn, recording starts or stops,
    /// a party's connection drops and resumes, a party leaves and comes back.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    churn_every: Duration,
    /// How often the server's RSS, open descriptors and threads are read.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    sample_every: Duration,
    /// Left out of the slopes: a share of the run (10%) or a duration (5m).
    #[arg(long, default_value = "10%", value_parser = Warmup::parse)]
    warmup: Warmup,
    /// Video bitrate of the clip (e.g. 300k, 500k).
    #[arg(long, default_value = "500k", value_parser = parse_bitrate)]
    bitrate: u32,
    /// The `concord` binary to start (default: next to this one).
    #[arg(long, conflicts_with = "server")]
    concord_bin: Option<PathBuf>,
    /// Soak a server already running at this URL (e.g. http://127.0.0.1:8080) instead.
    #[arg(long, requires = "server_pid")]
    server: Option<String>,
    /// With --server: its process id, for /proc.
    #[arg(long, requires = "server")]
    server_pid: Option<u32>,
    /// With --server: its data directory, for the file check (SQLite `concord.db` and
    /// `recordings/` in it). Without it the files are not checked.
    #[arg(long, requires = "server")]
    data_dir: Option<PathBuf>,
    /// With --server: a mediator or admin account.
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long, env = "CONCORD_LOADGEN_PASSWORD")]
    password: Option<String>,
    /// How long the recordings may take to be filed after the churn.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    filing_timeout: Duration,
    /// Where the encoded clip is cached.
    #[arg(long)]
    clip_cache: Option<PathBuf>,
    /// The address the parties' media sockets bind to.
    #[arg(long, default_value = "127.0.0.1")]
    client_ip: IpAddr,
    /// Also print the report as one JSON line (every sample included).
    #[arg(long)]
    json: bool,
    /// Keep the started server's data directory and log afterwards (they are kept anyway when
    /// the soak fails).
    #[arg(long, conflicts_with = "server")]
    keep_data: bool,
}

pub(crate) async fn run(args: SoakArgs) -> Result<()> {
    if !(1..=50).contains(&args.rooms) || !(2..=20).contains(&args.participants) {
        bail!("--rooms must be between 1 and 50, --participants between 2 and 20");
    }
    if args.sample_every.is_zero() || args.churn_every.is_zero() {
        bail!("--sample-every and --churn-every must be more than zero");
    }
    if !args.client_ip.is_loopback() {
        bail!("the soak stays on loopback: --client-ip must be in 127.0.0.0/8");
    }
    let server = match (&args.server, args.server_pid) {
        (Some(url), Some(pid)) => {
            let Some(password) = args.password.clone() else {
                bail!(
                    "give --password (or CONCORD_LOADGEN_PASSWORD) for {}",
                    args.username
                );
            };
            SoakServer::External(ExternalServer {
                url: url.trim_end_matches('/').to_owned(),
                pid,
                username: args.username.clone(),
                password,
                data_dir: args.data_dir.clone(),
            })
        }
        _ => {
            let concord = match &args.concord_bin {
                Some(bin) => bin.clone(),
                None => std::env::current_exe()
                    .context("locating this executable")?
                    .with_file_name("concord"),
            };
            if !concord.is_file() {
                bail!(
                    "no server binary at {} (build it: cargo build --release -p \
                     concord-signaling --bin concord, or give --concord-bin)",
                    concord.display()
                );
            }
            SoakServer::Launch(ServerLaunch::concord_serve(concord))
        }
    };
    let options = SoakOptions {
        duration: args.duration,
        warmup: args.warmup,
        sample_every: args.sample_every,
        progress_every: Some(PROGRESS_EVERY),
        churn: ChurnPlan {
            rooms: args.rooms,
            participants: args.participants,
            session_length: args.session_length,
            churn_every: args.churn_every,
        },
        clip: ClipSpec {
            video_bitrate: args.bitrate,
            ..ClipSpec::default()
        },
        clip_cache: args
            .clip_cache
            .clone()
            .unwrap_or_else(Clip::default_cache_dir),
        client_ip: args.client_ip,
        filing_timeout: args.filing_timeout,
        keep_server_data: args.keep_data,
    };
    let started = Instant::now();
    let progress = move |line: &str| {
        let t = started.elapsed().as_secs();
        eprintln!("soak {:02}:{:02}: {line}", t / 60, t % 60);
    };
    let report = soak::soak(server, &options, &progress).await?;
    println!("{}", report.table());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    if !report.passed() {
        bail!("the soak failed (see above)");
    }
    Ok(())
}
