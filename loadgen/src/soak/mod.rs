//! `concord-loadgen soak`: a long run of ordinary use against a server process of its own,
//! watching the server for leaks. Rooms churn (see [`ChurnPlan`]: sessions open and end,
//! parties join, leave and come back, connections drop and resume their seats, recordings start
//! and stop) while the server's resident memory, threads and open descriptors are sampled from
//! `/proc`; each series is summarized with its least-squares slope per hour after a warm-up
//! (see [`crate::slope`]). At the end every session is ended, the recordings are given time
//! to be filed, and the files on disk are checked against the database ([`FileAudit`]).
//!
//! The server is either started here ([`SoakServer::Launch`]: `concord serve` with a fresh
//! data directory, stopped gracefully at the end) or one already running
//! ([`SoakServer::External`]).

mod audit;
mod counters;
mod room;
mod seat;
mod server;

pub use audit::FileAudit;
pub use counters::ChurnCounts;
pub use room::ChurnPlan;
pub use server::ServerLaunch;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use concord_client::signal::signaling_url;
use concord_client::{ApiClient, Clip, ClipSpec, MediaSource, PeerOptions};

use crate::prepare_clip;
use crate::procfs::{self, ResourceSample};
use crate::slope::{self, SeriesSummary};
use counters::ChurnCounters;
use room::Churn;
use server::ServerProcess;

/// The server to soak.
#[derive(Debug, Clone)]
pub enum SoakServer {
    /// Start this program (see [`ServerLaunch`]) with a fresh data directory; its data and log
    /// are removed afterwards unless the run failed.
    Launch(ServerLaunch),
    /// A server already running.
    External(ExternalServer),
}

/// A running server to soak.
#[derive(Debug, Clone)]
pub struct ExternalServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Its process, for `/proc`.
    pub pid: u32,
    /// A mediator or admin account.
    pub username: String,
    pub password: String,
    /// Its data directory (SQLite at `concord.db`, recordings under `recordings/`): without
    /// it the files cannot be checked.
    pub data_dir: Option<PathBuf>,
}

/// The part of a run left out of the slopes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Warmup {
    /// This fraction of the run (0.1: the first tenth).
    Fraction(f64),
    Span(Duration),
}

impl Warmup {
    /// The warm-up of a run of `duration`.
    pub fn of(self, duration: Duration) -> Duration {
        match self {
            Warmup::Fraction(fraction) => duration.mul_f64(fraction.clamp(0.0, 1.0)),
            Warmup::Span(span) => span.min(duration),
        }
    }

    /// `10%` or a duration (`5m`, see [`parse_duration`]).
    pub fn parse(text: &str) -> Result<Warmup, String> {
        match text.trim().strip_suffix('%') {
            Some(percent) => {
                let percent: f64 = percent
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad percentage {text:?}"))?;
                if !(0.0..100.0).contains(&percent) {
                    return Err(format!("a warm-up of {text} leaves nothing to measure"));
                }
                Ok(Warmup::Fraction(percent / 100.0))
            }
            None => parse_duration(text).map(Warmup::Span),
        }
    }
}

/// A duration as `90s`, `10m`, `1h`, `1h30m`, `500ms`, or plain seconds (`45`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds, text);
    }
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return Err("an empty duration".to_owned());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?}: a number without its unit (s, m, h)"))?;
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("bad duration {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    seconds_to_duration(total, text)
}

fn seconds_to_duration(seconds: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("bad duration {text:?}"))
}

/// A soak run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// How long the rooms churn (winding the last sessions down comes after).
    pub duration: Duration,
    /// Left out of the slopes.
    pub warmup: Warmup,
    pub sample_every: Duration,
    /// How often `progress` is told how things stand (`None`: never).
    pub progress_every: Option<Duration>,
    pub churn: ChurnPlan,
    pub clip: ClipSpec,
    pub clip_cache: PathBuf,
    /// The address the parties' media sockets bind to.
    pub client_ip: IpAddr,
    /// How long the recordings may take to be filed after the churn (composites and
    /// manifests are made after each recording stops).
    pub filing_timeout: Duration,
    /// Keep the started server's data directory and log even after a run that passed (one
    /// that failed always keeps them).
    pub keep_server_data: bool,
}

/// One reading of the server, `t_s` seconds into the run.
#[derive(Debug, Clone, Serialize)]
pub struct SoakSample {
    pub t_s: f64,
    pub server: ResourceSample,
    /// CPU time of the load generator so far (user + system, seconds).
    pub generator_cpu_s: f64,
}

/// What a soak found.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub server_url: String,
    pub server_pid: u32,
    pub rooms: usize,
    pub participants: usize,
    pub clip_video_kbit_s: f64,
    /// How long the rooms churned, and the warm-up left out of the slopes and CPU figures.
    pub churn_s: f64,
    pub warmup_s: f64,
    pub sample_every_s: f64,
    /// CPU cores of the machine, and its load average (1 minute) at the start and the end.
    pub cores: usize,
    pub load_average_start: Option<f64>,
    pub load_average_end: Option<f64>,
    /// CPU over the measured part, percent of one core: the server's and the generator's.
    pub server_cpu_pct: Option<f64>,
    /// The server's children (ffmpeg making the composites, each counted when it ends) over
    /// the whole run, the wait for the last ones included, percent of one core.
    pub server_children_cpu_pct: Option<f64>,
    pub generator_cpu_pct: Option<f64>,
    pub churn: ChurnCounts,
    /// RSS (MB), open descriptors and threads over the measured part.
    pub series: Vec<SeriesSummary>,
    /// The server before the first join, and at rest after every session ended and was filed.
    pub before: ResourceSample,
    pub at_rest: Option<ResourceSample>,
    pub files: Option<FileAudit>,
    /// Why the files were not checked.
    pub files_not_checked: Option<String>,
    /// The server died, could not be sampled, or did not stop cleanly.
    pub server_trouble: Option<String>,
    /// Where the started server's data and log were kept (after a failed run).
    pub kept: Option<PathBuf>,
    pub samples: Vec<SoakSample>,
}

impl SoakReport {
    /// The server kept running, and (where they were checked) no file was lost or unfiled.
    pub fn passed(&self) -> bool {
        self.server_trouble.is_none() && self.files.as_ref().is_none_or(FileAudit::clean)
    }

    /// The report as text: the run, the churn, CPU, the series table, before and after, files.
    pub fn table(&self) -> String {
        let minutes = |s: f64| s / 60.0;
        let mut out = format!(
            "soak of {} (pid {}): {} rooms × {} parties, clip video {:.0} kbit/s; churned \
             {:.1} min, the first {:.1} min left out; {} samples every {:.0} s\n",
            self.server_url,
            self.server_pid,
            self.rooms,
            self.participants,
            self.clip_video_kbit_s,
            minutes(self.churn_s),
            minutes(self.warmup_s),
            self.samples.len(),
            self.sample_every_s
        );
        out += &format!("churn: {}\n", self.churn.line());
        let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} %"));
        let together = [
            self.server_cpu_pct,
            self.server_children_cpu_pct,
            self.generator_cpu_pct,
        ]
        .into_iter()
        .sum::<Option<f64>>()
        .map(|sum| sum / self.cores.max(1) as f64);
        let load = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        out += &format!(
            "CPU (% of one core): server {}, generator {}, the server's ffmpeg children {} (over \
             the whole run); together {} of the machine's {} cores; load average {} at the \
             start, {} at the end\n",
            pct(self.server_cpu_pct),
            pct(self.generator_cpu_pct),
            pct(self.server_children_cpu_pct),
            pct(together),
            self.cores,
            load(self.load_average_start),
            load(self.load_average_end)
        );
        out += &slope::table(&self.series);
        let describe = |s: &ResourceSample| {
            format!(
                "RSS {:.1} MB, {} fds, {} threads",
                s.rss_kb as f64 / 1024.0,
                s.open_fds,
                s.threads
            )
        };
        out += &format!("server before the first join: {}", describe(&self.before));
        if let Some(rest) = &self.at_rest {
            out += &format!("; at rest after the run: {}", describe(rest));
        }
        out.push('\n');
        match (&self.files, &self.files_not_checked) {
            (Some(files), _) => out += &files.lines(),
            (None, Some(why)) => out += &format!("files not checked: {why}"),
            (None, None) => out += "files not checked",
        }
        if let Some(trouble) = &self.server_trouble {
            out += &format!("\nserver trouble: {trouble}");
        }
        if let Some(kept) = &self.kept {
            out += &format!("\nthe server's data and log are kept in {}", kept.display());
        }
        for failure in &self.churn.first_failures {
            out += &format!("\nfailed: {failure}");
        }
        out
    }
}

/// Runs a soak against `server`; `progress` is told how things stand every
/// [`SoakOptions::progress_every`].
pub async fn soak(
    server: SoakServer,
    options: &SoakOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<SoakReport> {
    let clip = prepare_clip(&options.clip, &options.clip_cache).await?;
    let launch = match server {
        SoakServer::External(target) => return drive(&target, options, clip, progress).await,
        SoakServer::Launch(launch) => launch,
    };
    let mut process = ServerProcess::start(&launch).await?;
    progress(&format!(
        "server pid {} at {}, its data and log in {}",
        process.pid,
        process.url,
        process.scratch().display()
    ));
    let target = ExternalServer {
        url: process.url.clone(),
        pid: process.pid,
        username: "admin".to_owned(),
        password: process.password.clone(),
        data_dir: Some(process.data_dir.clone()),
    };
    let driven = drive(&target, options, clip, progress).await;
    let stopped = process.stop().await;
    match driven {
        Ok(mut report) => {
            if let Err(err) = stopped {
                report.server_trouble.get_or_insert(format!("{err:#}"));
            }
            if options.keep_server_data || !report.passed() {
                report.kept = Some(process.keep_scratch());
            }
            Ok(report)
        }
        Err(err) => {
            let tail = process.log_tail();
            let kept = process.keep_scratch();
            Err(err.context(format!(
                "the server's data and log are kept in {}; its log ends with:\n{tail}",
                kept.display()
            )))
        }
    }
}

/// The churn, the sampling and the checks against a running server.
async fn drive(
    target: &ExternalServer,
    options: &SoakOptions,
    clip: Arc<Clip>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<SoakReport> {
    let api = ApiClient::new(&target.url)?;
    api.login(&target.username, &target.password).await?;
    let cookie = api
        .cookie()
        .ok_or_else(|| anyhow!("signed in without a cookie"))?;
    let ws_url = signaling_url(&target.url);
    let peer_options = PeerOptions {
        source: MediaSource::Clip(Arc::clone(&clip)),
        local_ip: options.client_ip,
        // No send log: it keeps every frame sent, which an hour would make large, and the
        // forwarding delay is not what a soak measures.
        send_log: None,
        ..PeerOptions::default()
    };
    let load_average_start = load_average();
    let before = procfs::resources(target.pid).context("sampling the server")?;
    let counters = ChurnCounters::default();
    let disputes = Mutex::new(Vec::new());
    let churn = Churn {
        api: &api,
        ws_url: &ws_url,
        cookie: &cookie,
        peer_options: &peer_options,
        plan: &options.churn,
        counters: &counters,
        disputes: &disputes,
    };

    // `stop`: the rooms end their sessions (at the deadline, or when the server cannot be
    // sampled any more); `done`: every room has, and sampling ends.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(false);
    let started = Instant::now();
    let rooms = async {
        let rooms = (0..options.churn.rooms).map(|room| churn.run_room(room, stop_rx.clone()));
        futures_util::future::join_all(rooms).await;
        let _ = done_tx.send(true);
    };
    let mut done = done_rx.clone();
    let deadline = async {
        tokio::select! {
            _ = tokio::time::sleep(options.duration) => {}
            _ = done.wait_for(|done| *done) => {}
        }
        let _ = stop_tx.send(true);
    };
    let sampler = Sampler {
        pid: target.pid,
        started,
        options,
        counters: &counters,
        progress,
    };
    let ((), (), (samples, sampling_failed)) =
        tokio::join!(rooms, deadline, sampler.run(&stop_tx, done_rx));
    let churn_s = started
        .elapsed()
        .as_secs_f64()
        .min(options.duration.as_secs_f64());

    let mut server_trouble = sampling_failed;
    let disputes = disputes
        .lock()
        .map_err(|_| anyhow!("the dispute list's lock is poisoned"))?
        .clone();
    let (mut files, mut files_not_checked, mut at_rest) = (None, None, None);
    let mut at_rest_t_s = 0.0;
    if server_trouble.is_none() {
        progress("churn over; waiting for the recordings to be filed");
        let (recordings, unfinished) =
            audit::wait_until_filed(&api, &disputes, options.filing_timeout).await?;
        at_rest = procfs::resources(target.pid).ok();
        at_rest_t_s = started.elapsed().as_secs_f64();
        match &target.data_dir {
            Some(data_dir) => {
                let mut audit =
                    audit::audit_files(&data_dir.join("recordings"), &data_dir.join("concord.db"))
                        .await?;
                audit.recordings = recordings;
                audit.recordings_unfinished = unfinished;
                files = Some(audit);
            }
            None => files_not_checked = Some("no data directory given".to_owned()),
        }
    } else {
        files_not_checked = Some("the server could not be sampled".to_owned());
    }
    if at_rest.is_none() && server_trouble.is_none() {
        server_trouble = Some("the server could not be sampled at the end".to_owned());
    }

    let warmup = options.warmup.of(options.duration).as_secs_f64();
    let measured: Vec<&SoakSample> = samples.iter().filter(|s| s.t_s <= churn_s).collect();
    let series_of = |name: &str, unit: &str, value: &dyn Fn(&ResourceSample) -> f64| {
        let points: Vec<(f64, f64)> = measured.iter().map(|s| (s.t_s, value(&s.server))).collect();
        slope::summarize(name, unit, &points, warmup)
    };
    let series: Vec<SeriesSummary> = [
        series_of("RSS", "MB", &|s| s.rss_kb as f64 / 1024.0),
        series_of("open fds", "count", &|s| s.open_fds as f64),
        series_of("threads", "count", &|s| s.threads as f64),
    ]
    .into_iter()
    .flatten()
    .collect();
    let window: Vec<&&SoakSample> = measured.iter().filter(|s| s.t_s >= warmup).collect();
    let cpu_pct = |cpu: &dyn Fn(&SoakSample) -> f64| {
        let (first, last) = (window.first()?, window.last()?);
        let span = last.t_s - first.t_s;
        (span > 0.0).then(|| (cpu(last) - cpu(first)) / span * 100.0)
    };
    Ok(SoakReport {
        server_url: target.url.clone(),
        server_pid: target.pid,
        rooms: options.churn.rooms,
        participants: options.churn.participants,
        clip_video_kbit_s: clip.video_bitrate() / 1000.0,
        churn_s,
        warmup_s: warmup,
        sample_every_s: options.sample_every.as_secs_f64(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        load_average_start,
        load_average_end: load_average(),
        server_cpu_pct: cpu_pct(&|s| s.server.cpu_seconds()),
        server_children_cpu_pct: at_rest.filter(|_| at_rest_t_s > 0.0).map(|rest| {
            (rest.children_cpu_seconds() - before.children_cpu_seconds()) / at_rest_t_s * 100.0
        }),
        generator_cpu_pct: cpu_pct(&|s| s.generator_cpu_s),
        churn: counters.snapshot(),
        series,
        before,
        at_rest,
        files,
        files_not_checked,
        server_trouble,
        kept: None,
        samples,
    })
}

/// Samples the server every [`SoakOptions::sample_every`] until `done`.
struct Sampler<'a> {
    pid: u32,
    started: Instant,
    options: &'a SoakOptions,
    counters: &'a ChurnCounters,
    progress: &'a (dyn Fn(&str) + Sync),
}

impl Sampler<'_> {
    /// The samples, and why sampling stopped early if it did (the run is then stopped too).
    async fn run(
        self,
        stop: &watch::Sender<bool>,
        mut done: watch::Receiver<bool>,
    ) -> (Vec<SoakSample>, Option<String>) {
        let mut samples = Vec::new();
        let mut ticks = tokio::time::interval(self.options.sample_every);
        // A sample late behind a busy moment is taken late, not twice.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_progress = self
            .options
            .progress_every
            .map(|every| self.started + every);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = done.wait_for(|done| *done) => return (samples, None),
            }
            let server = match procfs::resources(self.pid) {
                Ok(server) => server,
                Err(err) => {
                    let _ = stop.send(true);
                    return (samples, Some(format!("sampling the server: {err:#}")));
                }
            };
            let now = Instant::now();
            let sample = SoakSample {
                t_s: now.duration_since(self.started).as_secs_f64(),
                server,
                generator_cpu_s: crate::cpu_seconds(),
            };
            if let (Some(at), Some(every)) = (next_progress, self.options.progress_every) {
                if now >= at {
                    (self.progress)(&self.progress_line(&sample));
                    next_progress = Some(at + every);
                }
            }
            samples.push(sample);
        }
    }

    fn progress_line(&self, sample: &SoakSample) -> String {
        format!(
            "server RSS {:.1} MB, {} fds, {} threads; {}",
            sample.server.rss_kb as f64 / 1024.0,
            sample.server.open_fds,
            sample.server.threads,
            self.counters.snapshot().line()
        )
    }
}

/// The 1-minute load average of the machine, if `/proc/loadavg` can be read.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_combinations() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(secs("90s"), Ok(90.0));
        assert_eq!(secs("10m"), Ok(600.0));
        assert_eq!(secs("1h"), Ok(3600.0));
        assert_eq!(secs("1h30m"), Ok(5400.0));
        assert_eq!(secs("500ms"), Ok(0.5));
        assert_eq!(secs("45"), Ok(45.0));
        assert_eq!(secs("1.5m"), Ok(90.0));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("-5").is_err());
    }

    #[test]
    fn a_warm_up_is_a_share_of_the_run_or_a_span() {
        let hour = Duration::from_secs(3600);
        assert_eq!(Warmup::parse("10%"), Ok(Warmup::Fraction(0.1)));
        assert_eq!(Warmup::Fraction(0.1).of(hour), Duration::from_secs(360));
        assert_eq!(
            Warmup::parse("5m").map(|w| w.of(hour)),
            Ok(Duration::from_secs(300))
        );
        // Never longer than the run.
        assert_eq!(Warmup::Span(hour * 2).of(hour), hour);
        assert!(Warmup::parse("100%").is_err());
        assert!(Warmup::parse("x%").is_err());
    }
}
