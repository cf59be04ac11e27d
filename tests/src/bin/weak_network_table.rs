//! The weak-network table of `docs/benchmarks.md`: three Chromium pages in a call (as in
//! `tests/tests/weak_network.rs`), the third page's link capped (150, 300, 600 kbit/s, `tbf` in
//! a network namespace) or made lossy (5, 10, 20 % random loss each way with a 300 ms round
//! trip, through the relay), each with simulcast on and off (the server's `media.simulcast`).
//! For each: how long the party's videos took to settle, their freezes per minute, how long
//! they were paused, how much of the voices it heard was concealed, and how many of the voice
//! packets lost on its downlink were recovered (RED, FEC, resends).
//!
//! Needs root, iproute2 and Debian's `chromium`. Prints a row as each run ends, then the table:
//!
//! ```text
//! cargo run -p concord-tests --bin weak_network_table [-- [--window SECS] [--simulcast-only] [SCENARIO ...]]
//! ```
//!
//! `--simulcast-only` leaves out the runs without simulcast (for repeating one scenario).
//!
//! Scenarios: `cap150 cap300 cap600 loss5 loss10 loss20` (all by default).

use std::time::{Duration, Instant};

use concord_tests::call::{height_from, sample, Call, CallSetup, SAMPLE_EVERY};
use concord_tests::probes::{AudioWindow, StatsSample};
use concord_tests::relay::{Direction, FlowCounts, RandomLoss};

/// Before the link changes: every page decodes both others at the layers a fast link gets.
const WARM_UP: Duration = Duration::from_secs(15);
/// The lossy paths' one-way delay (a 300 ms round trip).
const ONE_WAY_DELAY: Duration = Duration::from_millis(150);
/// Samples of a 20 ms Opus packet at 48 kHz: what one unrepaired loss conceals.
const SAMPLES_PER_PACKET: f64 = 960.0;
/// A run counts as settled only if nothing changed over this last part of its window.
const STILL_AT_THE_END: Duration = Duration::from_secs(10);
/// Freezes, pauses and the voices are measured from this long after the link changed: the SFU
/// has to see the change first (a lossy path's first seconds look like a queue).
const ADAPTING: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
enum Link {
    Cap(u32),
    Loss(u32),
}

impl Link {
    fn parse(name: &str) -> Option<Link> {
        if let Some(kbit) = name.strip_prefix("cap") {
            return kbit.parse().ok().map(Link::Cap);
        }
        name.strip_prefix("loss")?.parse().ok().map(Link::Loss)
    }

    fn describe(self) -> String {
        match self {
            Link::Cap(kbit) => format!("{kbit} kbit/s cap"),
            Link::Loss(percent) => format!("{percent} % loss, 300 ms RTT"),
        }
    }
}

/// What one run measured at the party.
struct Row {
    link: Link,
    simulcast: bool,
    /// From the change of link to the last change of what the party's videos play.
    settled_after: Option<Duration>,
    freezes_per_minute: f64,
    paused_share: f64,
    concealed_percent: f64,
    /// Of the voice packets lost on the way (the relay's count on a lossy path, the
    /// browser's under a cap), with how many there were.
    recovered_percent: Option<(f64, u64)>,
}

impl Row {
    fn markdown(&self) -> String {
        let settled = match self.settled_after {
            Some(after) => format!("{:.1} s", after.as_secs_f64()),
            None => "not settled".to_owned(),
        };
        let recovered = match self.recovered_percent {
            // Under a cap a handful are lost and the voices' concealment comes from lateness
            // (a queue) as much as from loss: the count says how much the share weighs.
            Some((percent, lost)) => format!("{percent:.1} % of {lost}"),
            None => "none lost".to_owned(),
        };
        format!(
            "| {} | {} | {settled} | {:.1} | {:.0} % | {:.2} % | {recovered} |",
            self.link.describe(),
            if self.simulcast { "on" } else { "off" },
            self.freezes_per_minute,
            self.paused_share * 100.0,
            self.concealed_percent,
        )
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut window = Duration::from_secs(45);
    let mut links = Vec::new();
    let mut simulcast_runs = vec![true, false];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--window" {
            let secs = args.next().and_then(|s| s.parse().ok()).unwrap_or(45);
            window = Duration::from_secs(secs);
        } else if arg == "--simulcast-only" {
            simulcast_runs = vec![true];
        } else if let Some(link) = Link::parse(&arg) {
            links.push(link);
        } else {
            eprintln!(
                "unknown argument {arg:?}; scenarios are cap150 cap300 cap600 loss5 loss10 loss20"
            );
            std::process::exit(2);
        }
    }
    if links.is_empty() {
        links = [150, 300, 600]
            .map(Link::Cap)
            .into_iter()
            .chain([5, 10, 20].map(Link::Loss))
            .collect();
    }
    println!("| the party's link | simulcast | settled after | freezes per minute | video paused | voices concealed | lost voice packets recovered |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut rows = Vec::new();
    for link in links {
        for &simulcast in &simulcast_runs {
            let row = run(link, simulcast, window).await;
            println!("{}", row.markdown());
            rows.push(row);
        }
    }
    println!(
        "\nsettled: from the change of link; the rest over {} s from {} s after it; sampled every {:?}",
        window.saturating_sub(ADAPTING).as_secs(),
        ADAPTING.as_secs(),
        SAMPLE_EVERY
    );
    for row in &rows {
        println!("{}", row.markdown());
    }
}

async fn run(link: Link, simulcast: bool, window: Duration) -> Row {
    let call = Call::start(CallSetup {
        third_in_netns: matches!(link, Link::Cap(_)),
        through_relay: matches!(link, Link::Loss(_)),
        simulcast,
        ..CallSetup::default()
    })
    .await;
    tokio::time::sleep(WARM_UP).await;
    let relay_client = match link {
        Link::Cap(kbit) => {
            let ns = call.ns.as_ref().expect("the capped party's namespace");
            ns.cap_downlink(Some(kbit))
                .expect("cap the party's downlink");
            None
        }
        Link::Loss(percent) => {
            let client = call.relay_client(&call.third).await;
            let relay = call.relay.as_ref().expect("the relay");
            for direction in [Direction::Upstream, Direction::Downstream] {
                let loss = RandomLoss::rtp(f64::from(percent) / 100.0, 2026);
                relay.set_random_loss(client, direction, Some(loss));
                relay.set_delay(client, direction, ONE_WAY_DELAY);
            }
            Some(client)
        }
    };
    let changed_at = Instant::now();
    let down_before = relay_counts(&call, relay_client);
    let mut samples = vec![sample(&call.third).await];
    let lead = changed_at.elapsed();
    while changed_at.elapsed() < window {
        tokio::time::sleep(SAMPLE_EVERY).await;
        samples.push(sample(&call.third).await);
    }
    let down_after = relay_counts(&call, relay_client);
    let others = [call.ids.mediator.clone(), call.ids.party.clone()];
    let relay_counts = (down_before, down_after);
    let row = measure(link, simulcast, &samples, &others, lead, relay_counts);
    call.finish().await;
    row
}

fn relay_counts(call: &Call, client: Option<std::net::SocketAddr>) -> Option<FlowCounts> {
    Some(call.relay.as_ref()?.counts(client?, Direction::Downstream))
}

fn measure(
    link: Link,
    simulcast: bool,
    samples: &[StatsSample],
    others: &[String; 2],
    lead: Duration,
    (down_before, down_after): (Option<FlowCounts>, Option<FlowCounts>),
) -> Row {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        panic!("no samples");
    };
    // What the party's videos play: each other's height, or paused.
    let state = |s: &StatsSample| {
        others
            .iter()
            .map(|who| {
                if paused(s, who) {
                    None
                } else {
                    height_from(s, who)
                }
            })
            .collect::<Vec<_>>()
    };
    let sampled_at =
        |i: usize| Duration::from_secs_f64(samples[i].elapsed_since(first).as_secs_f64());
    let last_change = (1..samples.len())
        .rev()
        .find(|&i| state(&samples[i]) != state(&samples[i - 1]));
    let window = sampled_at(samples.len() - 1);
    let settled_after = match last_change {
        None => Some(lead),
        Some(i) if window.saturating_sub(sampled_at(i)) >= STILL_AT_THE_END => {
            Some(lead + sampled_at(i))
        }
        Some(_) => None,
    };
    // The rest is measured once the SFU has seen the change.
    let adapted = samples
        .iter()
        .position(|s| {
            lead + Duration::from_secs_f64(s.elapsed_since(first).as_secs_f64()) >= ADAPTING
        })
        .unwrap_or(0);
    let samples = &samples[adapted..];
    let first = &samples[0];
    let seconds = last.elapsed_since(first).as_secs_f64();
    let freezes: u64 = others
        .iter()
        .filter_map(|who| {
            Some(
                last.video_from(who)?
                    .freeze_count
                    .saturating_sub(first.video_from(who)?.freeze_count),
            )
        })
        .sum();
    let paused_samples = samples
        .iter()
        .map(|s| others.iter().filter(|who| paused(s, who)).count())
        .sum::<usize>();
    let paused_share = paused_samples as f64 / (samples.len() * others.len()) as f64;
    let mut concealed = Vec::new();
    let (mut lost, mut unrepaired) = (0.0, 0.0);
    for who in others {
        let (Some(before), Some(after)) = (first.audio_from(who), last.audio_from(who)) else {
            continue;
        };
        let voice = AudioWindow::between(before, after, seconds);
        concealed.push(voice.concealed_percent().unwrap_or(100.0));
        unrepaired += voice.concealed_samples as f64 / SAMPLES_PER_PACKET;
        // On the relay's path its own count of what it dropped; under a cap, the browser's.
        lost += match (&down_before, &down_after) {
            (Some(b), Some(a)) => {
                let dropped = |c: &FlowCounts| c.by_ssrc.get(&after.ssrc).map_or(0, |c| c.dropped);
                dropped(a).saturating_sub(dropped(b)) as f64
            }
            _ => voice.packets_lost.max(0) as f64,
        };
    }
    let concealed_percent = concealed.iter().sum::<f64>() / concealed.len().max(1) as f64;
    Row {
        link,
        simulcast,
        settled_after,
        freezes_per_minute: freezes as f64 * 60.0 / seconds.max(1.0),
        paused_share,
        concealed_percent,
        recovered_percent: (lost > 0.0)
            .then(|| (100.0 * (1.0 - (unrepaired / lost).min(1.0)), lost as u64)),
    }
}

/// Whether `who`'s tile on the party's page says its video is paused.
fn paused(sample: &StatsSample, who: &str) -> bool {
    sample
        .video_from(who)
        .and_then(|v| v.tile_data.get("videoPaused"))
        .is_some_and(|reason| !reason.is_empty())
}
