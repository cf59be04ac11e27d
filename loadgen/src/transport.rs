//! Media over ICE-TCP against UDP: the same scenario run over each, against one fresh Concord
//! server process per run, comparing the server's CPU per forwarded packet (`concord-loadgen
//! transport`).
//!
//! Over UDP the peers join Concord as in every other run. Over TCP each peer gets a
//! [`TcpBridge`] (see [`crate::tcp_bridge`]): the SFU's candidates in every SDP the peer receives
//! are replaced by the bridge's UDP address, and the bridge carries the peer's datagrams to the
//! SFU's TCP media port as RFC 4571 frames. In both, [`ConcordOver`] sits between the peer and
//! its signaling socket (a task passing every message on, rewriting the SFU's SDP for TCP) and
//! notes the SFU's TCP media address, so that the run can count the server's own connections on
//! that port ([`ServerConnectionWatch`]).
//!
//! Each run is checked ([`check_path`]) and fails unless its media went the way asked: over TCP,
//! one bridge per peer, each connected and carrying datagrams both ways, the bridges having
//! delivered at least as many datagrams to the peers as the receivers counted packets in the
//! window, and the server holding one established connection on its media TCP port per peer;
//! over UDP, no such connection at all.
//!
//! The bridges run in the generator's process: their CPU is the generator's. The figure compared
//! is the server process's CPU time over the window (from `/proc`, as [`crate::compare`] takes
//! it) divided by the packets the receivers counted.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use concord_client::adapter::RoomRecording;
use concord_client::signal::{signaling_url, Inbox, Incoming, Outgoing};
use concord_client::{
    msg_type, JoinAs, MessageChannel, Peer, PeerOptions, Role, SfuAdapter, SignalClient, Ticket,
};

use crate::compare::{scenario_name, Metrics, Server};
use crate::tcp_bridge::{
    bridge_candidates, bridge_trickled_candidate, sfu_tcp_candidate, BridgeCounters, TcpBridge,
};
use crate::{procfs, run, Report, RunOptions, Scenario};

/// How long joining a session over signaling may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the server's connections on its media TCP port are counted during a run.
const CONNECTION_SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// Connections the SFU accepts from one address (`MAX_PER_ADDRESS` in `sfu/src/ice_tcp.rs`):
/// every bridge connects from the generator's one address.
pub const MAX_TCP_PEERS: usize = 64;

/// How the peers' media reaches the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Straight to the SFU's UDP port, as in every other run.
    Udp,
    /// Through a bridge per peer to the SFU's TCP media port (ICE-TCP, RFC 4571 framing).
    Tcp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// What the peers of one run learnt of the SFU and carried through bridges.
#[derive(Debug, Default)]
pub struct MediaPaths {
    /// The SFU's passive TCP candidate, from its first SDP.
    sfu_tcp: Mutex<Option<SocketAddr>>,
    bridges: Mutex<Vec<Arc<BridgeCounters>>>,
    /// What went wrong pointing a peer at its bridge.
    failures: Mutex<Vec<String>>,
}

impl MediaPaths {
    /// The SFU's media TCP address, once a peer has seen it.
    pub fn sfu_tcp(&self) -> Option<SocketAddr> {
        self.sfu_tcp.lock().ok().and_then(|addr| *addr)
    }

    /// Every bridge's counters, one per peer that joined over TCP.
    pub fn bridges(&self) -> Vec<Arc<BridgeCounters>> {
        self.bridges.lock().map(|b| b.clone()).unwrap_or_default()
    }

    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    fn fail(&self, failure: String) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(failure);
        }
    }

    fn note_sfu_tcp(&self, addr: SocketAddr) {
        if let Ok(mut slot) = self.sfu_tcp.lock() {
            slot.get_or_insert(addr);
        }
    }

    /// Notes (and over TCP, rewrites) the SFU's candidates in one message for the peer.
    fn route(&self, msg: &mut Value, bridge: Option<&mut TcpBridge>) {
        match msg_type(msg) {
            "answer" | "offer" => {
                let Some(sdp) = msg.get("sdp").and_then(Value::as_str) else {
                    return;
                };
                let Some(bridge) = bridge else {
                    match sfu_tcp_candidate(sdp) {
                        Ok(Some(addr)) => self.note_sfu_tcp(addr),
                        Ok(None) => {}
                        Err(error) => self.fail(error.to_string()),
                    }
                    return;
                };
                match bridge_candidates(sdp, bridge.udp_addr()) {
                    Ok((rewritten, sfu)) => {
                        msg["sdp"] = Value::String(rewritten);
                        self.note_sfu_tcp(sfu);
                        if let Err(error) = bridge.start(sfu) {
                            self.fail(format!("{error:#}"));
                        }
                    }
                    Err(error) => {
                        // Whatever else, the peer must not be handed the SFU's UDP address.
                        self.fail(error.to_string());
                        msg["sdp"] = Value::String(without_candidates(sdp));
                    }
                }
            }
            "candidate" => {
                let Some(bridge) = bridge else { return };
                let Some(candidate) = msg.get("candidate").and_then(Value::as_str) else {
                    return;
                };
                match bridge_trickled_candidate(candidate, bridge.udp_addr()) {
                    Ok(Some((rewritten, sfu))) => {
                        msg["candidate"] = Value::String(rewritten);
                        if let Err(error) = bridge.start(sfu) {
                            self.fail(format!("{error:#}"));
                        }
                    }
                    // Renamed, so that the peer's negotiation passes it by.
                    Ok(None) => msg["type"] = Value::from("candidate_withheld_by_bridge"),
                    Err(error) => {
                        self.fail(error.to_string());
                        msg["type"] = Value::from("candidate_withheld_by_bridge");
                    }
                }
            }
            _ => {}
        }
    }
}

/// `sdp` without any candidate line.
fn without_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|line| !line.starts_with("a=candidate:"))
        .collect()
}

/// Concord, its peers' media over `transport`. Rooms and recordings are the wrapped adapter's;
/// joining is done here, so that the signaling passes through [`MediaPaths::route`].
pub struct ConcordOver {
    inner: Box<dyn SfuAdapter>,
    ws_url: String,
    transport: Transport,
    paths: Arc<MediaPaths>,
}

impl ConcordOver {
    /// `inner` is signed in to the Concord server at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(inner: Box<dyn SfuAdapter>, base_url: &str, transport: Transport) -> Self {
        ConcordOver {
            inner,
            ws_url: signaling_url(base_url),
            transport,
            paths: Arc::default(),
        }
    }

    pub fn paths(&self) -> Arc<MediaPaths> {
        Arc::clone(&self.paths)
    }
}

#[async_trait]
impl SfuAdapter for ConcordOver {
    fn name(&self) -> &str {
        match self.transport {
            Transport::Udp => "concord over udp",
            Transport::Tcp => "concord over tcp",
        }
    }

    async fn create_room(&self, roles: &[Role]) -> Result<Vec<Ticket>> {
        self.inner.create_room(roles).await
    }

    async fn join(&self, ticket: &Ticket, mut options: PeerOptions) -> Result<Peer> {
        options.publish = ticket.role == Role::Publisher;
        let (signal, joined) = SignalClient::connect_and_join(
            &self.ws_url,
            JoinAs::Token(&ticket.credential),
            JOIN_TIMEOUT,
        )
        .await?;
        let bridge = match self.transport {
            Transport::Udp => None,
            Transport::Tcp => {
                let bridge = TcpBridge::bind(options.local_ip).await?;
                if let Ok(mut bridges) = self.paths.bridges.lock() {
                    bridges.push(bridge.counters());
                }
                Some(bridge)
            }
        };
        let (out, from_peer) = mpsc::unbounded_channel();
        let (to_peer, inbox) = mpsc::unbounded_channel();
        let relay = tokio::spawn(relay(
            signal,
            from_peer,
            to_peer,
            bridge,
            Arc::clone(&self.paths),
        ));
        let channel = MessageChannel {
            out,
            inbox: Inbox::new(inbox),
            // Aborted with the peer: the signaling socket and the bridge close with it.
            task: Some(relay),
            server_offers_first: false,
        };
        Peer::start_on(channel, joined, options).await
    }

    async fn start_recording(&self, room: &[Ticket]) -> Result<Box<dyn RoomRecording>> {
        self.inner.start_recording(room).await
    }
}

/// Passes messages between a peer and its signaling socket, pointing the SFU's SDP at the
/// peer's bridge on the way in (when it has one). Owns the socket and the bridge.
async fn relay(
    mut signal: SignalClient,
    mut from_peer: mpsc::UnboundedReceiver<Outgoing>,
    to_peer: mpsc::UnboundedSender<Incoming>,
    mut bridge: Option<TcpBridge>,
    paths: Arc<MediaPaths>,
) {
    loop {
        tokio::select! {
            msg = signal.inbox().recv() => {
                let Some(mut msg) = msg else {
                    let reason = signal.inbox().closed_reason().unwrap_or("closed").to_owned();
                    let _ = to_peer.send(Incoming::Closed(reason));
                    return;
                };
                paths.route(&mut msg, bridge.as_mut());
                if to_peer.send(Incoming::Message(msg)).is_err() {
                    return;
                }
            }
            out = from_peer.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    // A closed socket shows on the way in, as `Closed`.
                    let _ = signal.send_raw(text);
                }
                Some(Outgoing::Close) => signal.close(),
                None => return,
            },
        }
    }
}

/// Counts the server's established connections on its media TCP port every
/// [`CONNECTION_SAMPLE_EVERY`] while a run goes on, keeping the most seen at once.
pub struct ServerConnectionWatch {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<Option<usize>>>,
}

impl ServerConnectionWatch {
    /// Watches `server_pid`'s connections on the port `paths` learns from the SFU's SDP.
    pub fn start(server_pid: u32, paths: Arc<MediaPaths>) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut most: Option<usize> = None;
            let mut ticks = tokio::time::interval(CONNECTION_SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopped.changed() => break,
                }
                if let Some(sfu) = paths.sfu_tcp() {
                    let now = procfs::established_tcp_connections(server_pid, sfu.port())?;
                    most = Some(most.unwrap_or(0).max(now));
                }
            }
            Ok(most)
        });
        ServerConnectionWatch { stop, task }
    }

    /// The most connections seen at once; `None` if the SFU's TCP port never became known.
    pub async fn stop(self) -> Result<Option<usize>> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| anyhow!("the connection watch ended: {e}"))?
    }
}

/// How a run's media went, as checked.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PathSummary {
    /// The most established connections the server held on its media TCP port at once
    /// (`None`: its TCP port was never seen in an SDP).
    pub server_tcp_connections: Option<usize>,
    /// Bridges (peers over TCP), and the datagrams they carried each way over the whole run.
    pub bridges: usize,
    pub bridged_to_sfu: u64,
    pub bridged_to_peers: u64,
    /// Bytes the bridges carried each way.
    pub bridged_to_sfu_bytes: u64,
    pub bridged_to_peers_bytes: u64,
}

/// Fails unless `report`'s media went over `transport` (see the module's documentation).
pub fn check_path(
    transport: Transport,
    report: &Report,
    paths: &MediaPaths,
    server_tcp_connections: Option<usize>,
) -> Result<PathSummary> {
    let failures = paths.failures();
    if !failures.is_empty() {
        bail!("pointing the peers at their bridges failed: {failures:?}");
    }
    let bridges = paths.bridges();
    let total = |count: fn(&BridgeCounters) -> &std::sync::atomic::AtomicU64| -> u64 {
        bridges
            .iter()
            .map(|b| count(b).load(Ordering::Relaxed))
            .sum()
    };
    let summary = PathSummary {
        server_tcp_connections,
        bridges: bridges.len(),
        bridged_to_sfu: total(|b| &b.to_sfu_datagrams),
        bridged_to_peers: total(|b| &b.to_peer_datagrams),
        bridged_to_sfu_bytes: total(|b| &b.to_sfu_bytes),
        bridged_to_peers_bytes: total(|b| &b.to_peer_bytes),
    };
    let forwarded: u64 = report.streams.iter().map(|s| s.packets).sum();
    match transport {
        Transport::Udp => {
            if summary.bridges > 0 {
                bail!("a UDP run had {} bridges", summary.bridges);
            }
            if let Some(n) = server_tcp_connections.filter(|n| *n > 0) {
                bail!("over UDP the server held {n} connections on its media TCP port");
            }
        }
        Transport::Tcp => {
            if summary.bridges != report.seats {
                bail!(
                    "{} bridges for {} peers: some peer joined without one",
                    summary.bridges,
                    report.seats
                );
            }
            for (i, bridge) in bridges.iter().enumerate() {
                let to_sfu = bridge.to_sfu_datagrams.load(Ordering::Relaxed);
                let to_peer = bridge.to_peer_datagrams.load(Ordering::Relaxed);
                if !bridge.connected.load(Ordering::Relaxed) || to_sfu == 0 || to_peer == 0 {
                    let ended = bridge.ended.lock().ok().and_then(|e| e.clone());
                    bail!(
                        "bridge {i} carried {to_sfu} datagrams to the SFU and {to_peer} back \
                         (ended: {ended:?}): its peer's media did not go over TCP"
                    );
                }
            }
            // Every packet a receiver counted came as a datagram, and over TCP all of them
            // came through a bridge: fewer bridged datagrams than packets means media came
            // another way.
            if summary.bridged_to_peers < forwarded {
                bail!(
                    "the bridges delivered {} datagrams over the whole run, the receivers \
                     counted {forwarded} packets in the window alone: media went around them",
                    summary.bridged_to_peers
                );
            }
            match server_tcp_connections {
                Some(n) if n == summary.bridges => {}
                Some(n) => bail!(
                    "the server held at most {n} connections on its media TCP port at once, \
                     for {} bridges",
                    summary.bridges
                ),
                None => bail!("the SFU's TCP media port never showed in an SDP"),
            }
        }
    }
    Ok(summary)
}

/// A transport comparison.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    pub concord_bin: std::path::PathBuf,
    /// The server's media address (UDP and TCP); the peers and bridges bind
    /// [`RunOptions::client_ip`].
    pub media_ip: std::net::IpAddr,
    pub scenarios: Vec<Scenario>,
    /// Runs of each scenario over each transport; the order alternates from one to the next.
    pub repeats: usize,
    /// The settings shared by every run (`scenario` and `server_pid` are set per run).
    pub run: RunOptions,
}

/// One run: a scenario over a transport against a fresh server.
#[derive(Debug, Clone, Serialize)]
pub struct TransportOutcome {
    pub scenario: String,
    /// Which repeat (from 1), and whether it ran first in its pair.
    pub repeat: usize,
    pub first: bool,
    pub transport: Transport,
    pub metrics: Option<Metrics>,
    pub path: Option<PathSummary>,
    pub error: Option<String>,
    pub report: Option<Report>,
}

/// Runs every scenario `repeats` times over UDP and over TCP, one fresh server per run, UDP
/// first in odd repeats and TCP first in even ones; `progress` sees each outcome as it comes.
/// A failed run is an outcome with its error, and the comparison goes on.
pub async fn compare_transports(
    options: &TransportOptions,
    mut progress: impl FnMut(&TransportOutcome),
) -> Vec<TransportOutcome> {
    let mut outcomes = Vec::new();
    for scenario in &options.scenarios {
        for repeat in 1..=options.repeats {
            let order = if repeat % 2 == 1 {
                [Transport::Udp, Transport::Tcp]
            } else {
                [Transport::Tcp, Transport::Udp]
            };
            for (i, transport) in order.into_iter().enumerate() {
                let mut outcome = TransportOutcome {
                    scenario: scenario_name(*scenario),
                    repeat,
                    first: i == 0,
                    transport,
                    metrics: None,
                    path: None,
                    error: None,
                    report: None,
                };
                match run_over(transport, *scenario, options).await {
                    Ok((report, idle_rss_kb, path)) => {
                        outcome.metrics = Metrics::from_report(&report, idle_rss_kb);
                        outcome.path = Some(path);
                        outcome.report = Some(report);
                    }
                    Err(error) => outcome.error = Some(format!("{error:#}")),
                }
                progress(&outcome);
                outcomes.push(outcome);
            }
        }
    }
    outcomes
}

/// Starts a server, runs `scenario` over `transport` against it, checks the media's path,
/// stops the server. Returns the report, the server's memory before anyone joined, the path.
async fn run_over(
    transport: Transport,
    scenario: Scenario,
    options: &TransportOptions,
) -> Result<(Report, u64, PathSummary)> {
    let (server, adapter) = Server::start_concord(&options.concord_bin, options.media_ip).await?;
    let idle = procfs::sample(server.pid)?;
    let adapter = ConcordOver::new(adapter, &server.url, transport);
    let paths = adapter.paths();
    let watch = ServerConnectionWatch::start(server.pid, Arc::clone(&paths));
    let run_options = RunOptions {
        scenario,
        server_pid: Some(server.pid),
        ..options.run.clone()
    };
    let result = run(&adapter, &run_options).await;
    let connections = watch.stop().await;
    drop(adapter);
    let log = server.log_tail();
    let stopped = server.stop().await;
    let report = result.map_err(|e| anyhow!("{e:#}\nconcord's log ends with:\n{log}"))?;
    stopped?;
    let connections = connections.context("counting the server's media TCP connections")?;
    let path = check_path(transport, &report, &paths, connections)?;
    Ok((report, idle.rss_kb, path))
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    })
}

/// One scenario's table: a row per repeat (server CPU per forwarded packet over UDP and over
/// TCP, their ratio, the server's media TCP connections, the generator's CPU with the
/// bridges), then the medians and the ratio of the medians.
pub fn transport_table(outcomes: &[&TransportOutcome]) -> String {
    let Some(first) = outcomes.first() else {
        return String::new();
    };
    let mut out = format!(
        "{}: server CPU µs per forwarded packet (from /proc), over UDP and over ICE-TCP\n",
        first.scenario
    );
    out += &format!(
        "{:<7} {:<9} {:>8} {:>8} {:>8} {:>12} {:>12} {:>14} {:>14}\n",
        "repeat",
        "order",
        "UDP",
        "TCP",
        "TCP/UDP",
        "server UDP %",
        "server TCP %",
        "TCP conns u/t",
        "gen. CPU u/t %"
    );
    let figure = |o: Option<&&TransportOutcome>, f: fn(&Metrics) -> Option<f64>| {
        o.and_then(|o| o.metrics.as_ref()).and_then(f)
    };
    let text =
        |v: Option<f64>, decimals: usize| v.map_or("-".to_owned(), |v| format!("{v:.decimals$}"));
    let (mut udp_all, mut tcp_all, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let repeats = outcomes.iter().map(|o| o.repeat).max().unwrap_or(0);
    for repeat in 1..=repeats {
        let of = |t: Transport| {
            outcomes
                .iter()
                .find(|o| o.repeat == repeat && o.transport == t)
        };
        let (udp, tcp) = (of(Transport::Udp), of(Transport::Tcp));
        let per_packet = |m: &Metrics| m.cpu_us_per_packet;
        let (u, t) = (figure(udp, per_packet), figure(tcp, per_packet));
        let ratio = u.zip(t).map(|(u, t)| t / u);
        udp_all.extend(u);
        tcp_all.extend(t);
        ratios.extend(ratio);
        let order = if udp.is_some_and(|o| o.first) {
            "udp,tcp"
        } else {
            "tcp,udp"
        };
        let connections = |o: Option<&&TransportOutcome>| {
            o.and_then(|o| o.path.as_ref())
                .and_then(|p| p.server_tcp_connections)
                .map_or("-".to_owned(), |n| n.to_string())
        };
        out += &format!(
            "{:<7} {:<9} {:>8} {:>8} {:>8} {:>12} {:>12} {:>14} {:>14}\n",
            repeat,
            order,
            text(u, 1),
            text(t, 1),
            text(ratio, 2),
            text(figure(udp, |m| Some(m.server_cpu_pct)), 1),
            text(figure(tcp, |m| Some(m.server_cpu_pct)), 1),
            format!("{} / {}", connections(udp), connections(tcp)),
            format!(
                "{} / {}",
                text(figure(udp, |m| Some(m.generator_cpu_pct)), 1),
                text(figure(tcp, |m| Some(m.generator_cpu_pct)), 1)
            ),
        );
    }
    let (mu, mt) = (median(&udp_all), median(&tcp_all));
    out += &format!(
        "median  {:<9} {:>8} {:>8} {:>8}   (ratio of the medians {}; median of the ratios {})\n",
        "",
        text(mu, 1),
        text(mt, 1),
        "",
        text(mu.zip(mt).map(|(u, t)| t / u), 2),
        text(median(&ratios), 2),
    );
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.error
                .as_ref()
                .map(|e| format!("repeat {} over {}: {e}", o.repeat, o.transport.name()))
        })
        .collect();
    if !failed.is_empty() {
        out += &format!("failed runs:\n  {}\n", failed.join("\n  "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn over_tcp_the_peer_gets_the_bridge_and_over_udp_the_sdp_as_it_was() {
        let sdp = "v=0\r\n\
            a=candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host\r\n\
            a=candidate:2 1 tcp 1518280447 127.0.0.1 40001 typ host tcptype passive\r\n";
        let paths = MediaPaths::default();
        let mut answer = serde_json::json!({"type": "answer", "sdp": sdp});
        paths.route(&mut answer, None);
        assert_eq!(answer["sdp"], sdp);
        assert_eq!(paths.sfu_tcp().map(|a| a.port()), Some(40001));

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut bridge = TcpBridge::bind(std::net::Ipv4Addr::LOCALHOST.into())
                .await
                .expect("bridge");
            let paths = MediaPaths::default();
            let mut answer = serde_json::json!({"type": "answer", "sdp": sdp});
            paths.route(&mut answer, Some(&mut bridge));
            let rewritten = answer["sdp"].as_str().expect("sdp");
            assert!(!rewritten.contains("40000") && !rewritten.contains(" tcp "));
            assert!(rewritten.contains(&format!(" {} typ host", bridge.udp_addr().port())));
            // Started towards the SFU's TCP port: nothing listens there, which the bridge
            // finds out on its own task.
            assert!(paths.failures().is_empty());

            let mut udp_candidate = serde_json::json!({
                "type": "candidate",
                "candidate": "candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host",
            });
            paths.route(&mut udp_candidate, Some(&mut bridge));
            assert_eq!(msg_type(&udp_candidate), "candidate_withheld_by_bridge");

            let mut udp_only = serde_json::json!({
                "type": "offer",
                "sdp": "v=0\r\na=candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host\r\n",
            });
            paths.route(&mut udp_only, Some(&mut bridge));
            assert_eq!(udp_only["sdp"], "v=0\r\n", "no UDP address for the peer");
            assert_eq!(paths.failures().len(), 1);
        });
    }
}
