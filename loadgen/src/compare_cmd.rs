//! `concord-loadgen compare`: the command line of [`concord_loadgen::compare`].

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use concord_loadgen::compare::{self, CompareOptions, ServerKind, ServerSetup};
use concord_loadgen::{RunOptions, Scenario};

use crate::{by_scenario, Measure};

#[derive(Args)]
pub(crate) struct CompareArgs {
    /// Fan-out scenarios: subscriber counts.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10,20")]
    subscribers: Vec<usize>,
    /// The mediation mix: this many rooms of 4 publishers (0: skip).
    #[arg(long, default_value_t = 3)]
    rooms: usize,
    /// Servers to run, in this order (alternating per scenario).
    #[arg(long, value_delimiter = ',', default_value = "concord,janus", value_parser = parse_server)]
    servers: Vec<ServerKind>,
    /// The `concord` binary (default: next to this one).
    #[arg(long)]
    concord_bin: Option<PathBuf>,
    #[arg(long, default_value = "/usr/bin/janus")]
    janus_bin: PathBuf,
    /// Where Janus's plugins/ and transports/ are.
    #[arg(long, default_value = "/usr/lib/x86_64-linux-gnu/janus")]
    janus_lib_dir: PathBuf,
    /// The media address of both servers (on --ice-interface).
    #[arg(long, default_value = "127.0.0.2")]
    media_ip: IpAddr,
    /// The interface carrying --media-ip, the only one Janus's ICE may use.
    #[arg(long)]
    ice_interface: Option<String>,
    /// Also run each scenario against Concord recording every room over the window (a
    /// "concord rec" column next to "concord", and the ratio recorded/unrecorded). Janus is
    /// never recorded.
    #[arg(long)]
    record: bool,
    /// Only print the comparison, not every run's own report.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    pub(crate) measure: Measure,
}

fn parse_server(s: &str) -> Result<ServerKind, String> {
    match s {
        "concord" => Ok(ServerKind::Concord),
        "janus" => Ok(ServerKind::Janus),
        _ => Err(format!("unknown server {s:?} (concord, janus)")),
    }
}

pub(crate) async fn run(args: CompareArgs) -> Result<()> {
    let concord_bin = match args.concord_bin {
        Some(bin) => bin,
        None => std::env::current_exe()
            .context("locating this executable")?
            .with_file_name("concord"),
    };
    if args.servers.contains(&ServerKind::Janus) && args.ice_interface.is_none() {
        bail!(
            "Janus needs --ice-interface (a non-loopback interface carrying --media-ip): run \
             loadgen/bench/compare.sh, which sets one up in a network namespace"
        );
    }
    if args.subscribers.iter().any(|n| !(1..=200).contains(n)) || args.rooms > 50 {
        bail!("--subscribers must be between 1 and 200, --rooms at most 50");
    }
    let mut scenarios: Vec<Scenario> = args
        .subscribers
        .iter()
        .map(|&subscribers| Scenario::Fanout { subscribers })
        .collect();
    if args.rooms > 0 {
        scenarios.push(Scenario::Rooms { rooms: args.rooms });
    }
    let options = CompareOptions {
        setup: ServerSetup {
            concord_bin,
            janus_bin: args.janus_bin,
            janus_lib_dir: args.janus_lib_dir,
            media_ip: args.media_ip,
            ice_interface: args.ice_interface.unwrap_or_default(),
        },
        servers: args.servers,
        scenarios,
        record: args.record,
        // Janus only answers clients on its own media address: both servers get the same.
        run: RunOptions {
            client_ip: args.media_ip,
            ..args
                .measure
                .run_options(Scenario::Fanout { subscribers: 1 })
        },
    };
    if let Some(layer) = options.run.simulcast {
        println!(
            "simulcast: publishers send rids q, h, f; every receiver asks for layer {} ({})\n",
            layer,
            concord_client::clip::SIMULCAST_RIDS
                .get(layer)
                .unwrap_or(&"?")
        );
    }
    let quiet = args.quiet;
    let outcomes = compare::compare(&options, |o| match (&o.report, &o.error) {
        (Some(report), _) if !quiet => println!("{}\n", report.table()),
        (_, Some(err)) => eprintln!("{} on {} failed: {err}\n", o.server, o.scenario),
        _ => {}
    })
    .await;
    for mine in by_scenario(&outcomes, |o| &o.scenario) {
        println!("{}", compare::scenario_table(&mine));
    }
    println!("{}", compare::markdown_summary(&outcomes));
    let recording = compare::recording_summary(&outcomes);
    if !recording.is_empty() {
        println!("What recording cost:\n{recording}");
    }
    if args.measure.json {
        println!("{}", serde_json::to_string(&outcomes)?);
    }
    if outcomes.iter().any(|o| o.metrics.is_none()) {
        bail!("some runs failed (see above)");
    }
    Ok(())
}
