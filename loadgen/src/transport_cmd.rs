//! `concord-loadgen transport`: the command line of [`concord_loadgen::transport`].

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use concord_loadgen::transport::{
    compare_transports, transport_table, TransportOptions, MAX_TCP_PEERS,
};
use concord_loadgen::{RunOptions, Scenario};

use crate::{by_scenario, Measure};

#[derive(Args)]
pub(crate) struct TransportArgs {
    /// Fan-out scenarios: subscriber counts (0: none).
    #[arg(long, value_delimiter = ',', default_value = "20")]
    subscribers: Vec<usize>,
    /// The mediation mix: this many rooms of 4 publishers (0: skip).
    #[arg(long, default_value_t = 0)]
    rooms: usize,
    /// Runs of each scenario over each transport (the order alternates).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// The `concord` binary (default: next to this one).
    #[arg(long)]
    concord_bin: Option<PathBuf>,
    /// The server's media address (UDP and TCP).
    #[arg(long, default_value = "127.0.0.1")]
    media_ip: IpAddr,
    /// Only print the tables, not every run's own report.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    pub(crate) measure: Measure,
}

pub(crate) async fn run(args: TransportArgs) -> Result<()> {
    let concord_bin = match args.concord_bin {
        Some(bin) => bin,
        None => std::env::current_exe()
            .context("locating this executable")?
            .with_file_name("concord"),
    };
    let mut scenarios: Vec<Scenario> = args
        .subscribers
        .iter()
        .filter(|&&n| n > 0)
        .map(|&subscribers| Scenario::Fanout { subscribers })
        .collect();
    if args.rooms > 0 {
        scenarios.push(Scenario::Rooms { rooms: args.rooms });
    }
    // Every bridge connects from the one loopback address, and the SFU takes at most
    // MAX_TCP_PEERS connections from one address.
    let peers = |s: &Scenario| match *s {
        Scenario::Fanout { subscribers } => subscribers + 1,
        Scenario::Rooms { rooms } => rooms * 4,
    };
    if scenarios.is_empty() || scenarios.iter().any(|s| peers(s) > MAX_TCP_PEERS) {
        bail!("give scenarios of 2 to {MAX_TCP_PEERS} participants (--subscribers, --rooms)");
    }
    if !(1..=50).contains(&args.repeats) {
        bail!("--repeats must be between 1 and 50");
    }
    let options = TransportOptions {
        concord_bin,
        media_ip: args.media_ip,
        scenarios,
        repeats: args.repeats,
        run: RunOptions {
            client_ip: args.media_ip,
            ..args
                .measure
                .run_options(Scenario::Fanout { subscribers: 1 })
        },
    };
    let quiet = args.quiet;
    let outcomes = compare_transports(&options, |o| {
        let what = format!(
            "{}, repeat {}, over {}",
            o.scenario,
            o.repeat,
            o.transport.name()
        );
        match (&o.report, &o.error, &o.path) {
            (Some(report), _, Some(path)) if !quiet => println!(
                "{what}\n{}\nbridges {}: {} datagrams to the SFU, {} to the peers; the server's \
                 media TCP connections at most {}\n",
                report.table(),
                path.bridges,
                path.bridged_to_sfu,
                path.bridged_to_peers,
                path.server_tcp_connections
                    .map_or("-".to_owned(), |n| n.to_string()),
            ),
            (_, Some(error), _) => eprintln!("{what} failed: {error}\n"),
            _ => {}
        }
    })
    .await;
    for mine in by_scenario(&outcomes, |o| &o.scenario) {
        println!("{}", transport_table(&mine));
    }
    println!(
        "(server CPU only: the bridges run in the generator's process, whose CPU is the \
         \"gen. CPU\" column)"
    );
    if args.measure.json {
        println!("{}", serde_json::to_string(&outcomes)?);
    }
    if outcomes.iter().any(|o| o.error.is_some()) {
        bail!("some runs failed (see above)");
    }
    Ok(())
}
