//! How long a call takes to show video again after it was interrupted, with real headless
//! Chromium: from the moment the path (or the server) is back to the first new decoded frame
//! of each video that crosses it. Prints the recovery table of `docs/benchmarks.md`; asserts
//! no timing.
//!
//! `cargo bench -p concord-tests --bench recovery [-- --runs N] [--scenarios cut5,cut30,cut55,port,restart]`
//!
//! Each scenario runs N times (5 by default), each time in a fresh call; the runs go round the
//! scenarios in turn, so a bench stopped early has as many runs of each. The scenarios:
//!
//! - `cut5`, `cut30`, `cut55`: the party's (the third page's) whole path, media and signaling,
//!   cut for 5, 30 or 55 s (just within the 60 s the seat is held; not run unless named) as out
//!   of coverage (its namespace reaches neither the media ports nor the HTTP
//!   port; open sockets are reset), then given back. Timed: the party decoding the mediator
//!   and the other party, and both of them decoding the party.
//! - `port`: the party's source port changes (all media goes through the user-space relay,
//!   which gives the party a new upstream socket, as a NAT that rebinds). Timed as above, from
//!   the change.
//! - `restart`: the server process is killed (`kill -9`) and started again on the same ports
//!   and data; the pages come back by themselves. Timed: every page decoding every other,
//!   from the moment the server serves again.
//!
//! Needs root, iproute2, nftables and Debian's `chromium`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use concord_tests::call::{Call, CallSetup, Ids};
use concord_tests::recovery::{epoch_ms, Direction, FrameWatch, ProcessCall, SAMPLE_RECOVERY};
use concord_tests::server::serve_in_child_process;

/// Runs of each scenario unless `--runs` says otherwise.
const DEFAULT_RUNS: usize = 5;
/// A video that shows no new frame this long after the path is back has not recovered.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long a fresh call may take until every video flows steadily (a publisher's estimate
/// starts low); a call that is not steady by then is disrupted all the same, and said so.
const WARM_UP: Duration = Duration::from_secs(30);
/// The name under which this binary serves as the killed server's process (see
/// `ServerProcess`: it runs this binary again with `--ignored --exact CHILD_SERVER`).
const CHILD_SERVER: &str = "child_server";

const TO_THE_PARTY: &str = "the others → the party";
const FROM_THE_PARTY: &str = "the party → the others";
const EVERY_PAGE: &str = "every page → every other";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    /// The party's whole path cut for this many seconds.
    WholePathCut(u64),
    SourcePortChange,
    ServerRestart,
}

impl Scenario {
    fn parse(name: &str) -> Option<Scenario> {
        match name {
            "cut5" => Some(Scenario::WholePathCut(5)),
            "cut30" => Some(Scenario::WholePathCut(30)),
            "cut55" => Some(Scenario::WholePathCut(55)),
            "port" => Some(Scenario::SourcePortChange),
            "restart" => Some(Scenario::ServerRestart),
            _ => None,
        }
    }

    fn title(self) -> String {
        match self {
            Scenario::WholePathCut(secs) => format!("whole path cut {secs} s"),
            Scenario::SourcePortChange => "source port change".to_owned(),
            Scenario::ServerRestart => "server killed and restarted".to_owned(),
        }
    }
}

struct Options {
    runs: usize,
    scenarios: Vec<Scenario>,
}

/// Reads `--runs N` and `--scenarios a,b`; ignores what cargo adds (`--bench`).
fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        runs: DEFAULT_RUNS,
        scenarios: ["cut5", "cut30", "port", "restart"]
            .iter()
            .filter_map(|name| Scenario::parse(name))
            .collect(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                let value = args.next().ok_or("--runs needs a number")?;
                options.runs = value
                    .parse()
                    .ok()
                    .filter(|runs| *runs > 0)
                    .ok_or_else(|| format!("--runs {value}: a number of runs, at least 1"))?;
            }
            "--scenarios" => {
                let value = args.next().ok_or("--scenarios needs a list")?;
                options.scenarios = value
                    .split(',')
                    .map(|name| {
                        Scenario::parse(name).ok_or_else(|| {
                            format!(
                                "--scenarios: {name} is none of cut5, cut30, cut55, port, restart"
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => {}
        }
    }
    Ok(options)
}

/// What one run measured: each direction's time to recover (`None`: not within
/// [`DEADLINE`]), and what else is worth knowing of it.
struct RunResult {
    directions: Vec<(Direction, Option<Duration>)>,
    note: String,
}

/// A run that could not be measured (its call did not start, a step failed): why.
type RunOutcome = Result<RunResult, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if args
        .windows(2)
        .any(|pair| pair[0] == "--exact" && pair[1] == CHILD_SERVER)
    {
        runtime.block_on(serve_in_child_process(|_| {}));
        return;
    }
    let options = match options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    runtime.block_on(bench(options));
}

async fn bench(options: Options) {
    let started = Instant::now();
    let mut results: BTreeMap<Scenario, Vec<RunOutcome>> = BTreeMap::new();
    for round in 1..=options.runs {
        for &scenario in &options.scenarios {
            let run_started = Instant::now();
            // Each run in a task of its own: a run whose call fails to start panics there,
            // and the bench goes on with the next.
            let outcome = match tokio::spawn(run(scenario)).await {
                Ok(outcome) => outcome,
                Err(failed) => Err(panic_message(failed)),
            };
            println!(
                "{} run {round}/{}: {} ({:.0} s)",
                scenario.title(),
                options.runs,
                describe(&outcome),
                run_started.elapsed().as_secs_f64()
            );
            results.entry(scenario).or_default().push(outcome);
        }
        println!(
            "\nAfter {round} of {} runs ({:.1} min):\n{}",
            options.runs,
            started.elapsed().as_secs_f64() / 60.0,
            table(&results)
        );
    }
}

fn panic_message(failed: tokio::task::JoinError) -> String {
    match failed.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "the run panicked".to_owned()),
        Err(failed) => format!("the run did not finish: {failed}"),
    }
}

async fn run(scenario: Scenario) -> RunOutcome {
    match scenario {
        Scenario::WholePathCut(secs) => whole_path_cut(Duration::from_secs(secs)).await,
        Scenario::SourcePortChange => source_port_change().await,
        Scenario::ServerRestart => server_restart().await,
    }
}

/// The four videos across the party's (the third page's) path; the pages are the mediator's,
/// the other party's and the party's, in that order.
fn party_directions(ids: &Ids) -> Vec<Direction> {
    let direction = |name: &str, group, viewer, publisher: &str| Direction {
        name: name.to_owned(),
        group,
        viewer,
        publisher: publisher.to_owned(),
    };
    vec![
        direction("the mediator → the party", TO_THE_PARTY, 2, &ids.mediator),
        direction("the other party → the party", TO_THE_PARTY, 2, &ids.party),
        direction("the party → the mediator", FROM_THE_PARTY, 0, &ids.third),
        direction("the party → the other party", FROM_THE_PARTY, 1, &ids.third),
    ]
}

fn warm_up_note(steady: bool) -> &'static str {
    match steady {
        true => "",
        false => "; not steady before the disruption",
    }
}

/// The party out of coverage for `outage`: its namespace reaches neither the media ports nor
/// the HTTP port (open sockets reset), as the out-of-coverage test cuts it.
async fn whole_path_cut(outage: Duration) -> RunOutcome {
    let call = Call::start(CallSetup {
        third_in_netns: true,
        ..CallSetup::default()
    })
    .await;
    let measured = async {
        let ns = call.ns.as_ref().ok_or("the party has no namespace")?;
        let SocketAddr::V4(http) = call.server.http_addr() else {
            return Err("test servers bind IPv4".to_owned());
        };
        let mut watch = FrameWatch::new(
            vec![&call.mediator, &call.party, &call.third],
            party_directions(&call.ids),
        );
        let steady = watch.until_steady(WARM_UP).await;
        call.cut_third_off_from_media()
            .map_err(|e| format!("cutting the media path: {e:#}"))?;
        ns.reset_tcp_to(*http.ip(), http.port())
            .map_err(|e| format!("cutting signaling: {e:#}"))?;
        watch.read_for(outage).await;
        ns.unblock()
            .map_err(|e| format!("giving the path back: {e:#}"))?;
        watch.back(epoch_ms());
        let directions = watch.until_recovered(DEADLINE).await;
        let state = call
            .third
            .evaluate(
                "JSON.stringify({resumes: window.concord.resumes, \
                 iceRestarts: window.concord.iceRestarts, media: window.concord.mediaState})",
            )
            .await
            .unwrap_or_default();
        Ok(RunResult {
            directions,
            note: format!("the party's page after: {state}{}", warm_up_note(steady)),
        })
    }
    .await;
    call.finish().await;
    measured
}

/// The party's NAT rebinds: the relay gives it a new upstream socket, the old one closes.
async fn source_port_change() -> RunOutcome {
    let call = Call::start(CallSetup {
        through_relay: true,
        ..CallSetup::default()
    })
    .await;
    let measured = async {
        let relay = call.relay.as_ref().ok_or("the call has no relay")?;
        let client = call.relay_client(&call.third).await;
        let mut watch = FrameWatch::new(
            vec![&call.mediator, &call.party, &call.third],
            party_directions(&call.ids),
        );
        let steady = watch.until_steady(WARM_UP).await;
        // The new path exists from the change on: that is when it is "back".
        watch.back(epoch_ms());
        let (old, new) = relay
            .change_source_port(client)
            .await
            .map_err(|e| format!("changing the source port: {e:#}"))?;
        let directions = watch.until_recovered(DEADLINE).await;
        Ok(RunResult {
            directions,
            note: format!("{old} → {new}{}", warm_up_note(steady)),
        })
    }
    .await;
    call.finish().await;
    measured
}

/// The server process killed and started again on the same ports and data.
async fn server_restart() -> RunOutcome {
    let mut call = ProcessCall::start(CHILD_SERVER).await;
    let directions = call.every_direction(EVERY_PAGE);
    let measured = async {
        let [mediator, party, other] = &call.pages;
        let mut watch = FrameWatch::new(vec![mediator, party, other], directions);
        let steady = watch.until_steady(WARM_UP).await;
        let killed = Instant::now();
        call.server
            .kill()
            .await
            .map_err(|e| format!("killing the server: {e:#}"))?;
        call.server
            .start_again()
            .await
            .map_err(|e| format!("starting the server again: {e:#}"))?;
        watch.back(epoch_ms());
        let down = killed.elapsed();
        let directions = watch.until_recovered(DEADLINE).await;
        Ok(RunResult {
            directions,
            note: format!(
                "killed and serving again in {:.1} s{}",
                down.as_secs_f64(),
                warm_up_note(steady)
            ),
        })
    }
    .await;
    call.finish().await;
    measured
}

fn seconds(took: Option<Duration>) -> String {
    took.map_or_else(|| "none".to_owned(), |d| format!("{:.1}", d.as_secs_f64()))
}

/// One run, as printed when it ends.
fn describe(outcome: &RunOutcome) -> String {
    match outcome {
        Ok(run) => {
            let each: Vec<String> = run
                .directions
                .iter()
                .map(|(direction, took)| format!("{} {} s", direction.name, seconds(*took)))
                .collect();
            format!("{}; {}", each.join(", "), run.note)
        }
        Err(why) => format!("not measured: {why}"),
    }
}

/// The slowest of a run's directions in `group`: `None` if any did not recover.
fn slowest(run: &RunResult, group: &str) -> Option<Duration> {
    run.directions
        .iter()
        .filter(|(direction, _)| direction.group == group)
        .map(|(_, took)| *took)
        .try_fold(Duration::ZERO, |slowest, took| Some(slowest.max(took?)))
}

/// The median of runs' times, a run that did not recover counting as slower than any that
/// did: `None` when the median itself did not recover.
fn median(values: &[Option<Duration>]) -> Option<Duration> {
    let mut sorted: Vec<Option<Duration>> = values.to_vec();
    // `None` last: not recovered is slower than any time.
    sorted.sort_by_key(|took| (took.is_none(), *took));
    let middle = sorted.len() / 2;
    match sorted.len() % 2 {
        1 => sorted[middle],
        _ => Some((sorted[middle - 1]? + sorted[middle]?) / 2),
    }
}

fn summary_row(out: &mut String, title: &str, what: &str, values: &[Option<Duration>]) {
    let recovered = values.iter().filter(|took| took.is_some()).count();
    let max = values
        .iter()
        .try_fold(Duration::ZERO, |max, took| Some(max.max((*took)?)));
    let shown = |took: Option<Duration>| match took {
        Some(took) => format!("{:.1}", took.as_secs_f64()),
        None => format!("> {}", DEADLINE.as_secs()),
    };
    let runs: Vec<String> = values.iter().map(|took| shown(*took)).collect();
    let _ = writeln!(
        out,
        "| {title} | {what} | {recovered}/{} | {} | {} | {} |",
        values.len(),
        shown(median(values)),
        shown(max),
        runs.join(", ")
    );
}

/// The table: per scenario, each group of directions (the slowest of the group in each run)
/// and then each direction.
fn table(results: &BTreeMap<Scenario, Vec<RunOutcome>>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Seconds from the path (or the server) back to the first new decoded frame; sampled \
         every {} ms; a run that did not recover within {} s shows as > {}.\n",
        SAMPLE_RECOVERY.as_millis(),
        DEADLINE.as_secs(),
        DEADLINE.as_secs()
    );
    let _ = writeln!(
        out,
        "| scenario | video | recovered | median s | max s | runs s |\n| --- | --- | --- | --- | --- | --- |"
    );
    let mut details = String::new();
    for (scenario, outcomes) in results {
        let measured: Vec<&RunResult> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        let failed = outcomes.len() - measured.len();
        let title = match failed {
            0 => scenario.title(),
            _ => format!("{} ({failed} run(s) not measured)", scenario.title()),
        };
        let Some(first) = measured.first() else {
            let _ = writeln!(out, "| {title} | | 0/0 | | | |");
            continue;
        };
        let mut groups: Vec<&str> = first.directions.iter().map(|(d, _)| d.group).collect();
        groups.dedup();
        for group in groups {
            let values: Vec<Option<Duration>> =
                measured.iter().map(|run| slowest(run, group)).collect();
            summary_row(&mut out, &title, &format!("{group} (slowest)"), &values);
        }
        for (nth, (direction, _)) in first.directions.iter().enumerate() {
            let values: Vec<Option<Duration>> = measured
                .iter()
                .map(|run| run.directions.get(nth).and_then(|(_, took)| *took))
                .collect();
            summary_row(&mut details, &scenario.title(), &direction.name, &values);
        }
        for (nth, outcome) in outcomes.iter().enumerate() {
            if let Err(why) = outcome {
                let _ = writeln!(
                    details,
                    "{} run {}: not measured: {why}",
                    scenario.title(),
                    nth + 1
                );
            }
        }
    }
    let _ = write!(
        out,
        "\nEach direction:\n\n| scenario | video | recovered | median s | max s | runs s |\n\
         | --- | --- | --- | --- | --- | --- |\n{details}"
    );
    out
}
