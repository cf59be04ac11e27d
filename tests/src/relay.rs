//! A user-space UDP relay between browsers and the SFU that drops and delays chosen packets: the
//! loss and latency a test needs on a machine without netem.
//!
//! The relay binds one client-facing socket on 127.0.0.1 (advertise it as the SFU's media
//! address) and, for each distinct client address, its own upstream socket to the SFU, so the SFU
//! sees one source per client as it would behind a NAT. Datagrams are forwarded both ways.
//! [`Relay::bind_on`] binds it on a veth address of [`crate::netns`] instead, so a browser in a
//! network namespace can use it too.
//!
//! [`Relay::change_source_port`] gives one client a new upstream socket mid-call, as a NAT that
//! rebinds gives a phone a new public port: the SFU then sees the same client come from a new
//! address.
//!
//! Impairments are per client and per [`Direction`], so one participant suffers and the others
//! do not:
//! - a [`LossRule`] drops every `every_nth` RTP packet carrying one of its payload types, up to
//!   `max_drops` (deterministic, narrow);
//! - a [`RandomLoss`] drops RTP packets (all, or of chosen payload types; RTCP too if asked) with
//!   a probability, from a seeded generator, so a run is repeatable;
//! - [`Relay::set_delay`] holds every datagram of the flow for a fixed time (150 ms each way is a
//!   300 ms round trip) in that flow's own queue, drained by its own task: the other flows are
//!   never held up.
//!
//! STUN and DTLS are never dropped (RFC 7983 demultiplexing by first byte; RTP and RTCP told
//! apart by payload type, 64–95 being RTCP, RFC 5761): the connection must come up, the media
//! suffers. SRTP leaves the RTP header in the clear, so every forwarded and dropped packet is
//! counted by SSRC and sequence number.
//!
//! The relay serves at most [`MAX_CLIENTS`] clients, only from 127.0.0.0/8 or the
//! [`crate::netns`] subnet, and stops when dropped, when [`Relay::stop`] is called, or after
//! [`MAX_LIFETIME`] at the latest.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::netns;

/// Distinct client addresses served; datagrams from further addresses are ignored.
pub const MAX_CLIENTS: usize = 16;
/// The relay stops by itself after this long, whatever the test does.
pub const MAX_LIFETIME: Duration = Duration::from_secs(600);
/// SSRCs tracked per client and direction (further ones are counted in the totals only).
const MAX_SSRCS: usize = 32;
/// Sequence numbers of dropped packets remembered per SSRC, for failure messages.
const DROPPED_SEQS_KEPT: usize = 16;
/// Larger than any datagram WebRTC sends (they stay under the path MTU).
const MAX_DATAGRAM: usize = 2048;
/// Datagrams one delayed flow may hold: 150 ms of a 2 Mbit/s flow is about 30; past this many
/// the newest is dropped and counted in [`FlowCounts::delay_overflow`] (a queue that full means
/// the test's delay or rate is not what it thinks).
pub const DELAY_QUEUE: usize = 4096;

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From a client (browser) to the SFU: what it publishes.
    Upstream,
    /// From the SFU to a client: what it receives.
    Downstream,
}

/// What a datagram is, by RFC 7983 demultiplexing of its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    Stun,
    Dtls,
    Rtp {
        payload_type: u8,
        ssrc: u32,
        seq: u16,
    },
    Rtcp,
    Other,
}

impl Packet {
    /// Classifies a datagram without trusting it: anything short or unexpected is `Other`.
    pub fn classify(datagram: &[u8]) -> Packet {
        let Some(&first) = datagram.first() else {
            return Packet::Other;
        };
        match first {
            0..=3 => Packet::Stun,
            20..=63 => Packet::Dtls,
            128..=191 => {
                let Some(&second) = datagram.get(1) else {
                    return Packet::Other;
                };
                let payload_type = second & 0x7f;
                if (64..=95).contains(&payload_type) {
                    return Packet::Rtcp;
                }
                match (datagram.get(2..4), datagram.get(8..12)) {
                    (Some(seq), Some(ssrc)) => Packet::Rtp {
                        payload_type,
                        seq: u16::from_be_bytes([seq[0], seq[1]]),
                        ssrc: u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]),
                    },
                    _ => Packet::Other,
                }
            }
            _ => Packet::Other,
        }
    }
}

/// Drop every `every_nth` RTP packet whose payload type is in `payload_types`, at most
/// `max_drops` packets in all; after that the rule forwards everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossRule {
    pub payload_types: Vec<u8>,
    pub every_nth: u32,
    pub max_drops: u64,
}

/// Drop packets of one client's flow at random: each matching packet independently with
/// `probability`, from a generator seeded with `seed` (the same packets in the same order are
/// dropped the same way every run). Matching: RTP packets whose payload type is in
/// `payload_types` (every RTP packet when empty), and RTCP packets when `rtcp` is set. STUN and
/// DTLS are never dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomLoss {
    pub probability: f64,
    pub payload_types: Vec<u8>,
    pub rtcp: bool,
    pub seed: u64,
}

impl RandomLoss {
    /// Every RTP packet (audio, video, retransmissions) with `probability`; RTCP kept.
    pub fn rtp(probability: f64, seed: u64) -> RandomLoss {
        RandomLoss {
            probability,
            payload_types: Vec::new(),
            rtcp: false,
            seed,
        }
    }

    fn matches(&self, packet: Packet) -> bool {
        match packet {
            Packet::Rtp { payload_type, .. } => {
                self.payload_types.is_empty() || self.payload_types.contains(&payload_type)
            }
            Packet::Rtcp => self.rtcp,
            Packet::Stun | Packet::Dtls | Packet::Other => false,
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator written out here so the
/// drop pattern for a seed never changes with a dependency's version.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1): the top 53 bits as a double's mantissa.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Counts for one SSRC in one direction of one client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsrcCounts {
    pub payload_type: u8,
    pub forwarded: u64,
    pub dropped: u64,
    /// The first few dropped sequence numbers.
    pub dropped_seqs: Vec<u16>,
}

/// What the relay did with one client's datagrams in one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub rtp_forwarded: u64,
    pub rtp_dropped: u64,
    pub rtcp_forwarded: u64,
    /// RTCP dropped by a [`RandomLoss`] with `rtcp` set.
    pub rtcp_dropped: u64,
    pub stun_forwarded: u64,
    pub dtls_forwarded: u64,
    pub other_forwarded: u64,
    /// Datagrams the relay could not send on (socket errors); they were counted as forwarded.
    pub send_failures: u64,
    /// Datagrams lost because the flow's delay queue held [`DELAY_QUEUE`] already; they were
    /// counted as forwarded.
    pub delay_overflow: u64,
    pub by_ssrc: HashMap<u32, SsrcCounts>,
}

impl FlowCounts {
    /// RTP packets forwarded and dropped carrying `payload_type`.
    pub fn rtp_of_type(&self, payload_type: u8) -> (u64, u64) {
        self.by_ssrc
            .values()
            .filter(|c| c.payload_type == payload_type)
            .fold((0, 0), |(f, d), c| (f + c.forwarded, d + c.dropped))
    }
}

struct ActiveRule {
    rule: LossRule,
    matched: u64,
    dropped: u64,
}

struct ActiveRandom {
    rule: RandomLoss,
    rng: SplitMix64,
}

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Drop,
    /// Send now.
    Forward,
    /// Hand to the flow's delay queue, to go out after this long.
    Delay(Duration),
}

/// What the SFU sent to one upstream socket (one source address of a client, as the SFU sees
/// it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCounts {
    pub stun: u64,
    pub dtls: u64,
    pub rtp: u64,
    pub rtcp: u64,
    pub other: u64,
    /// When its first RTP packet arrived.
    pub first_rtp: Option<std::time::Instant>,
}

impl SourceCounts {
    fn count(&mut self, packet: Packet) {
        match packet {
            Packet::Stun => self.stun += 1,
            Packet::Dtls => self.dtls += 1,
            Packet::Rtp { .. } => {
                self.rtp += 1;
                self.first_rtp.get_or_insert_with(std::time::Instant::now);
            }
            Packet::Rtcp => self.rtcp += 1,
            Packet::Other => self.other += 1,
        }
    }
}

/// One client's current way to the SFU.
struct Upstream {
    client: SocketAddr,
    socket: Arc<UdpSocket>,
    /// Bumped by [`Relay::change_source_port`], so the client side sends what comes next from
    /// the new socket rather than through a delay queue that holds the old one.
    generation: u64,
    /// Dropped when the socket is replaced: that stops the socket's reader, so the socket
    /// closes and whatever the SFU still sends to the old port goes nowhere, as after a NAT
    /// rebinding.
    _stop_reader: oneshot::Sender<()>,
}

/// An upstream socket whose reader (SFU → client) is still to be started.
struct NewUpstream {
    client: SocketAddr,
    socket: Arc<UdpSocket>,
    /// Resolves when the socket is replaced.
    stop: oneshot::Receiver<()>,
}

/// A fresh upstream socket for `client`: its entry in the state and what its reader needs.
fn new_upstream(
    client: SocketAddr,
    socket: Arc<UdpSocket>,
    generation: u64,
) -> (Upstream, NewUpstream) {
    let (stop_reader, stop) = oneshot::channel();
    let entry = Upstream {
        client,
        socket: Arc::clone(&socket),
        generation,
        _stop_reader: stop_reader,
    };
    (
        entry,
        NewUpstream {
            client,
            socket,
            stop,
        },
    )
}

/// A socket towards `upstream` (the SFU), bound from the SFU's side of things: loopback to a
/// loopback SFU, else the veth address the SFU is bound on (one of ours), never an outside
/// interface.
async fn bind_upstream(upstream: SocketAddr) -> std::io::Result<UdpSocket> {
    let local = if upstream.ip().is_loopback() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        upstream.ip()
    };
    let sock = UdpSocket::bind((local, 0)).await?;
    sock.connect(upstream).await?;
    Ok(sock)
}

#[derive(Default)]
struct State {
    /// Each client's upstream socket, in order of the client's first datagram.
    clients: Vec<Upstream>,
    /// What the SFU sent to each upstream socket, by the socket's address.
    from_sfu: HashMap<SocketAddr, SourceCounts>,
    counts: HashMap<(SocketAddr, Direction), FlowCounts>,
    rules: HashMap<(SocketAddr, Direction), ActiveRule>,
    random: HashMap<(SocketAddr, Direction), ActiveRandom>,
    /// Once a flow has a delay (even one set back to zero) all its datagrams go through its
    /// queue, so lowering the delay never reorders what is already queued.
    delays: HashMap<(SocketAddr, Direction), Duration>,
    ignored_clients: u64,
}

impl State {
    /// Counts `packet` and says whether to forward it, now or later.
    fn verdict(&mut self, client: SocketAddr, direction: Direction, packet: Packet) -> Verdict {
        if !self.admit(client, direction, packet) {
            return Verdict::Drop;
        }
        match self.delays.get(&(client, direction)) {
            Some(delay) => Verdict::Delay(*delay),
            None => Verdict::Forward,
        }
    }

    /// Counts `packet` and says whether to forward it.
    fn admit(&mut self, client: SocketAddr, direction: Direction, packet: Packet) -> bool {
        let nth = match packet {
            Packet::Rtp { payload_type, .. } => match self.rules.get_mut(&(client, direction)) {
                Some(active)
                    if active.dropped < active.rule.max_drops
                        && active.rule.payload_types.contains(&payload_type) =>
                {
                    active.matched += 1;
                    let every = u64::from(active.rule.every_nth.max(1));
                    let hit = active.matched % every == 0;
                    if hit {
                        active.dropped += 1;
                    }
                    hit
                }
                _ => false,
            },
            _ => false,
        };
        // The random generator advances only on matching packets, so the pattern depends on
        // the seed and the flow alone.
        let drop = nth
            || match self.random.get_mut(&(client, direction)) {
                Some(active) if active.rule.matches(packet) => {
                    active.rng.next_f64() < active.rule.probability
                }
                _ => false,
            };
        let counts = self.counts.entry((client, direction)).or_default();
        match packet {
            Packet::Stun => counts.stun_forwarded += 1,
            Packet::Dtls => counts.dtls_forwarded += 1,
            Packet::Rtcp if drop => counts.rtcp_dropped += 1,
            Packet::Rtcp => counts.rtcp_forwarded += 1,
            Packet::Other => counts.other_forwarded += 1,
            Packet::Rtp {
                payload_type,
                ssrc,
                seq,
            } => {
                if drop {
                    counts.rtp_dropped += 1;
                } else {
                    counts.rtp_forwarded += 1;
                }
                let tracked =
                    counts.by_ssrc.len() < MAX_SSRCS || counts.by_ssrc.contains_key(&ssrc);
                if tracked {
                    let per = counts.by_ssrc.entry(ssrc).or_default();
                    per.payload_type = payload_type;
                    if drop {
                        per.dropped += 1;
                        if per.dropped_seqs.len() < DROPPED_SEQS_KEPT {
                            per.dropped_seqs.push(seq);
                        }
                    } else {
                        per.forwarded += 1;
                    }
                }
            }
        }
        !drop
    }

    fn send_failed(&mut self, client: SocketAddr, direction: Direction) {
        self.counts
            .entry((client, direction))
            .or_default()
            .send_failures += 1;
    }

    fn delay_overflowed(&mut self, client: SocketAddr, direction: Direction) {
        self.counts
            .entry((client, direction))
            .or_default()
            .delay_overflow += 1;
    }
}

type Shared = Arc<Mutex<State>>;

/// Where one flow's datagrams go: the SFU over a client's connected upstream socket, or a
/// client over the client-facing socket.
#[derive(Clone)]
struct Outlet {
    socket: Arc<UdpSocket>,
    /// `None`: the socket is connected.
    to: Option<SocketAddr>,
    client: SocketAddr,
    direction: Direction,
}

impl Outlet {
    async fn send(&self, state: &Shared, datagram: &[u8]) {
        let sent = match self.to {
            Some(to) => self.socket.send_to(datagram, to).await.map(|_| ()),
            None => self.socket.send(datagram).await.map(|_| ()),
        };
        if sent.is_err() {
            lock(state).send_failed(self.client, self.direction);
        }
    }

    /// Forwards, drops or queues one datagram per `verdict`; `line` is the flow's delay queue,
    /// started on first use (its task joins `tasks`).
    async fn dispatch(
        &self,
        state: &Shared,
        verdict: Verdict,
        datagram: &[u8],
        line: &mut Option<mpsc::Sender<(Instant, Vec<u8>)>>,
        tasks: &mut JoinSet<()>,
    ) {
        match verdict {
            Verdict::Drop => {}
            Verdict::Forward => self.send(state, datagram).await,
            Verdict::Delay(delay) => {
                let tx = line.get_or_insert_with(|| self.start_delay_line(state, tasks));
                if tx
                    .try_send((Instant::now() + delay, datagram.to_vec()))
                    .is_err()
                {
                    lock(state).delay_overflowed(self.client, self.direction);
                }
            }
        }
    }

    /// A FIFO drained by its own task: each datagram waits until its due time, then goes out.
    /// Due times only grow while the delay is fixed, so FIFO order is due order (after a lower
    /// delay is set, new datagrams wait behind the ones already queued: no reordering).
    fn start_delay_line(
        &self,
        state: &Shared,
        tasks: &mut JoinSet<()>,
    ) -> mpsc::Sender<(Instant, Vec<u8>)> {
        let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(DELAY_QUEUE);
        let outlet = self.clone();
        let state = Arc::clone(state);
        tasks.spawn(async move {
            while let Some((due, datagram)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                outlet.send(&state, &datagram).await;
            }
        });
        tx
    }
}

/// Addresses the relay serves and forwards to: loopback, or a veth made by [`crate::netns`].
fn allowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || netns::in_subnet(v4),
        IpAddr::V6(_) => false,
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state is plain counters: a panic elsewhere leaves nothing inconsistent.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The relay. Bind it first (to learn the address to advertise), then [`Relay::start`] it
/// towards the SFU once the server runs.
pub struct Relay {
    socket: Option<UdpSocket>,
    addr: SocketAddr,
    state: Shared,
    tasks: JoinSet<()>,
    started: Option<Started>,
}

/// What [`Relay::change_source_port`] needs of a started relay.
struct Started {
    upstream: SocketAddr,
    /// Where new upstream sockets go to get their reader. Weak, so that the readers still stop
    /// when the client side does.
    new_readers: mpsc::WeakSender<NewUpstream>,
}

impl Relay {
    /// Binds the client-facing socket on 127.0.0.1, port 0.
    pub async fn bind() -> Result<Relay> {
        Self::bind_on(Ipv4Addr::LOCALHOST).await
    }

    /// Binds the client-facing socket on `ip`, port 0: 127.0.0.1, or a root-side veth address
    /// of a [`crate::netns::Netns`] so that a browser inside the namespace reaches the relay
    /// (root-namespace browsers reach that address too).
    pub async fn bind_on(ip: Ipv4Addr) -> Result<Relay> {
        if !allowed(IpAddr::V4(ip)) {
            bail!(
                "the relay binds only on 127.0.0.0/8 or the test veth subnet {}/{}, not {ip}",
                netns::SUBNET.0,
                netns::SUBNET.1
            );
        }
        let socket = UdpSocket::bind((ip, 0))
            .await
            .with_context(|| format!("binding the relay's client-facing socket on {ip}"))?;
        let addr = socket.local_addr().context("the relay's address")?;
        Ok(Relay {
            socket: Some(socket),
            addr,
            state: Shared::default(),
            tasks: JoinSet::new(),
            started: None,
        })
    }

    /// The client-facing address: what the SFU should advertise.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts forwarding between clients and `upstream` (the SFU's real media address, on
    /// 127.0.0.0/8 or a test veth).
    pub fn start(&mut self, upstream: SocketAddr) -> Result<()> {
        if !allowed(upstream.ip()) {
            bail!("the relay only forwards to 127.0.0.0/8 or a test veth, not {upstream}");
        }
        let Some(socket) = self.socket.take() else {
            bail!("the relay is already started");
        };
        let socket = Arc::new(socket);
        let state = Arc::clone(&self.state);
        let (spawn_tx, mut spawn_rx) = mpsc::channel::<NewUpstream>(MAX_CLIENTS);
        self.started = Some(Started {
            upstream,
            new_readers: spawn_tx.downgrade(),
        });
        // Client → SFU, and the creation of each client's upstream socket.
        let client_side = {
            let socket = Arc::clone(&socket);
            let state = Arc::clone(&state);
            async move {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                // Each client's upstream delay queue, once it has one; their tasks end with
                // this loop (a JoinSet aborts its tasks when dropped).
                let mut lines = HashMap::new();
                let mut line_tasks = JoinSet::new();
                loop {
                    let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                        // ICMP errors from a vanished client surface here; keep going.
                        continue;
                    };
                    if !allowed(from.ip()) {
                        continue;
                    }
                    let datagram = &buf[..len];
                    let Some((upstream_socket, generation, new)) =
                        Self::upstream_for(&state, from, upstream).await
                    else {
                        continue;
                    };
                    if let Some(new) = new {
                        if spawn_tx.send(new).await.is_err() {
                            return;
                        }
                    }
                    let packet = Packet::classify(datagram);
                    let verdict = lock(&state).verdict(from, Direction::Upstream, packet);
                    let outlet = Outlet {
                        socket: upstream_socket,
                        to: None,
                        client: from,
                        direction: Direction::Upstream,
                    };
                    let (line_generation, line) = lines.entry(from).or_insert((generation, None));
                    if *line_generation != generation {
                        // A new source port: what the old queue holds still leaves from the
                        // old one (it was in flight), what comes now from the new one.
                        *line_generation = generation;
                        *line = None;
                    }
                    outlet
                        .dispatch(&state, verdict, datagram, line, &mut line_tasks)
                        .await;
                }
            }
        };
        // SFU → each client: one reader per upstream socket.
        let sfu_side = {
            let socket = Arc::clone(&socket);
            let state = Arc::clone(&state);
            async move {
                let mut readers = JoinSet::new();
                while let Some(NewUpstream {
                    client,
                    socket: upstream_socket,
                    mut stop,
                }) = spawn_rx.recv().await
                {
                    // Readers of replaced sockets have ended: forget them.
                    while readers.try_join_next().is_some() {}
                    let source = upstream_socket.local_addr().ok();
                    let outlet = Outlet {
                        socket: Arc::clone(&socket),
                        to: Some(client),
                        client,
                        direction: Direction::Downstream,
                    };
                    let state = Arc::clone(&state);
                    readers.spawn(async move {
                        let mut buf = vec![0u8; MAX_DATAGRAM];
                        let mut line = None;
                        let mut line_task = JoinSet::new();
                        loop {
                            let received = tokio::select! {
                                // The client has a new source port (or the relay is gone).
                                _ = &mut stop => break,
                                received = upstream_socket.recv(&mut buf) => received,
                            };
                            let Ok(len) = received else {
                                continue;
                            };
                            let datagram = &buf[..len];
                            let packet = Packet::classify(datagram);
                            let verdict = {
                                let mut st = lock(&state);
                                if let Some(source) = source {
                                    st.from_sfu.entry(source).or_default().count(packet);
                                }
                                st.verdict(client, Direction::Downstream, packet)
                            };
                            outlet
                                .dispatch(&state, verdict, datagram, &mut line, &mut line_task)
                                .await;
                        }
                        // The old port closes now; what the SFU sent to it before still
                        // reaches the client after its delay, as packets in flight would.
                        drop(upstream_socket);
                        drop(line);
                        while line_task.join_next().await.is_some() {}
                    });
                }
                // The client side stopped: stop the readers too.
                readers.shutdown().await;
            }
        };
        self.tasks.spawn(async move {
            let both = async {
                tokio::join!(client_side, sfu_side);
            };
            // Bounded: the relay never outlives MAX_LIFETIME.
            let _ = tokio::time::timeout(MAX_LIFETIME, both).await;
        });
        Ok(())
    }

    /// The upstream socket for `client` and its generation, creating it (connected to
    /// `upstream`) for a new client, with what its reader needs. `None` past [`MAX_CLIENTS`] or
    /// if binding failed.
    async fn upstream_for(
        state: &Shared,
        client: SocketAddr,
        upstream: SocketAddr,
    ) -> Option<(Arc<UdpSocket>, u64, Option<NewUpstream>)> {
        {
            let mut st = lock(state);
            if let Some(known) = st.clients.iter().find(|known| known.client == client) {
                return Some((Arc::clone(&known.socket), known.generation, None));
            }
            if st.clients.len() >= MAX_CLIENTS {
                st.ignored_clients += 1;
                return None;
            }
        }
        let sock = Arc::new(bind_upstream(upstream).await.ok()?);
        let (entry, new) = new_upstream(client, Arc::clone(&sock), 0);
        lock(state).clients.push(entry);
        Some((sock, 0, Some(new)))
    }

    /// Gives `client` a new upstream socket, as a NAT that rebinds gives a phone a new public
    /// port: the old socket closes at once (whatever the SFU sends to its port goes nowhere),
    /// the client's next datagrams reach the SFU from the new one, and the SFU's replies to the
    /// new one reach the client. Returns the old and the new source address the SFU sees.
    /// Impairments and counts stay with the client.
    pub async fn change_source_port(&self, client: SocketAddr) -> Result<(SocketAddr, SocketAddr)> {
        let Some(started) = &self.started else {
            bail!("the relay is not started");
        };
        let readers = started
            .new_readers
            .upgrade()
            .context("the relay has stopped")?;
        let old = self
            .clients()
            .into_iter()
            .find(|(known, _)| *known == client)
            .map(|(_, source)| source);
        let Some(old) = old else {
            bail!(
                "{client} is no client of the relay; its clients (client, source) are {:?}",
                self.clients()
            );
        };
        // Bound while the old socket still is, so the kernel cannot hand out the same port.
        let socket = Arc::new(
            bind_upstream(started.upstream)
                .await
                .with_context(|| format!("a new upstream socket for {client}"))?,
        );
        let new = socket
            .local_addr()
            .context("the new upstream socket's address")?;
        let reader = {
            let mut st = lock(&self.state);
            let Some(known) = st.clients.iter_mut().find(|known| known.client == client) else {
                bail!("{client} is no longer a client of the relay");
            };
            let (entry, reader) = new_upstream(client, socket, known.generation + 1);
            // Replacing the entry drops the old socket's stop sender: its reader ends.
            *known = entry;
            reader
        };
        readers
            .send(reader)
            .await
            .map_err(|_| anyhow::anyhow!("the relay has stopped"))?;
        Ok((old, new))
    }

    /// What the SFU has sent to the upstream socket whose address is `source` (a client's
    /// source address as the SFU sees it, from [`Relay::clients`] or
    /// [`Relay::change_source_port`]).
    pub fn from_sfu(&self, source: SocketAddr) -> SourceCounts {
        lock(&self.state)
            .from_sfu
            .get(&source)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets (or with `None` clears) the loss rule for `client`'s datagrams going `direction`.
    /// A rule may be set before the client's first datagram.
    pub fn set_loss(&self, client: SocketAddr, direction: Direction, rule: Option<LossRule>) {
        let mut st = lock(&self.state);
        match rule {
            Some(rule) => {
                st.rules.insert(
                    (client, direction),
                    ActiveRule {
                        rule,
                        matched: 0,
                        dropped: 0,
                    },
                );
            }
            None => {
                st.rules.remove(&(client, direction));
            }
        }
    }

    /// Sets (or with `None` clears) random loss for `client`'s datagrams going `direction`;
    /// it applies after any [`LossRule`] of the same flow, and restarts its generator from the
    /// seed. May be set before the client's first datagram.
    pub fn set_random_loss(
        &self,
        client: SocketAddr,
        direction: Direction,
        loss: Option<RandomLoss>,
    ) {
        let mut st = lock(&self.state);
        match loss {
            Some(rule) => {
                let rng = SplitMix64(rule.seed);
                st.random
                    .insert((client, direction), ActiveRandom { rule, rng });
            }
            None => {
                st.random.remove(&(client, direction));
            }
        }
    }

    /// Holds every datagram of `client` going `direction` for `delay` before sending it on
    /// (one way: 150 ms both ways is a 300 ms round trip). Other flows are not held up. Setting
    /// it back to zero keeps the flow on its queue, so nothing already queued is overtaken.
    pub fn set_delay(&self, client: SocketAddr, direction: Direction, delay: Duration) {
        lock(&self.state).delays.insert((client, direction), delay);
    }

    /// Clients seen, in order of their first datagram: each client's address and the address
    /// of its current upstream socket (what the SFU sees as the client's source, and tells the
    /// client back in STUN responses: a browser lists it as its peer-reflexive local
    /// candidate).
    pub fn clients(&self) -> Vec<(SocketAddr, SocketAddr)> {
        lock(&self.state)
            .clients
            .iter()
            .filter_map(|known| known.socket.local_addr().ok().map(|up| (known.client, up)))
            .collect()
    }

    /// The client known by `addr`: its own address or its upstream socket's address.
    pub fn client_for(&self, addr: SocketAddr) -> Option<SocketAddr> {
        self.clients()
            .into_iter()
            .find(|(client, upstream)| *client == addr || *upstream == addr)
            .map(|(client, _)| client)
    }

    /// What was forwarded and dropped for `client` going `direction` so far.
    pub fn counts(&self, client: SocketAddr, direction: Direction) -> FlowCounts {
        lock(&self.state)
            .counts
            .get(&(client, direction))
            .cloned()
            .unwrap_or_default()
    }

    /// Datagrams ignored because they came from a client past [`MAX_CLIENTS`].
    pub fn ignored_clients(&self) -> u64 {
        lock(&self.state).ignored_clients
    }

    /// Stops forwarding and waits for the relay's tasks to end.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram from `socket` within a second, with its source.
    async fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 64];
        let (len, from) = tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf))
            .await
            .expect("a datagram within a second")
            .expect("receive");
        (buf[..len].to_vec(), from)
    }

    #[tokio::test]
    async fn a_new_source_port_carries_the_client_both_ways_and_closes_the_old_one() {
        let sfu = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("the SFU's socket");
        let mut relay = Relay::bind().await.expect("bind the relay");
        relay
            .start(sfu.local_addr().expect("the SFU's address"))
            .expect("start the relay");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("the client");
        client.connect(relay.addr()).await.expect("connect");
        let me = client.local_addr().expect("the client's address");
        // STUN-looking datagrams: the relay forwards them whatever the rules.
        client.send(b"\x00\x01first").await.expect("send");
        let (_, first_source) = receive(&sfu).await;

        let (old, new) = relay.change_source_port(me).await.expect("a new port");
        assert_eq!(old, first_source, "the old port is the one the SFU saw");
        assert_ne!(new, old);
        assert_eq!(relay.clients(), vec![(me, new)]);
        client.send(b"\x00\x01second").await.expect("send");
        let (datagram, second_source) = receive(&sfu).await;
        assert_eq!(
            (datagram.as_slice(), second_source),
            (&b"\x00\x01second"[..], new)
        );
        sfu.send_to(b"\x01\x01reply", new).await.expect("reply");
        assert_eq!(
            receive(&client).await,
            (b"\x01\x01reply".to_vec(), relay.addr())
        );
        assert_eq!(relay.from_sfu(new).stun, 1);
        assert_eq!(relay.counts(me, Direction::Upstream).stun_forwarded, 2);

        // The old port is closed: it can be bound again (once its reader has let go of it).
        let deadline = Instant::now() + Duration::from_secs(2);
        while UdpSocket::bind(old).await.is_err() {
            assert!(Instant::now() < deadline, "the old port {old} is closed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            relay
                .change_source_port(sfu.local_addr().expect("an address"))
                .await
                .is_err(),
            "only a client gets a new port"
        );
    }

    #[test]
    fn classifies_by_first_byte_and_payload_type() {
        assert_eq!(Packet::classify(&[]), Packet::Other);
        assert_eq!(Packet::classify(&[0x00, 0x01, 0, 0]), Packet::Stun);
        assert_eq!(Packet::classify(&[22, 0xfe, 0xfd]), Packet::Dtls);
        // RTCP receiver report (PT 201 = 0xc9 → 0x49 = 73 after the marker bit).
        assert_eq!(Packet::classify(&[0x81, 0xc9, 0, 7]), Packet::Rtcp);
        let mut rtp = [0u8; 12];
        rtp[0] = 0x80;
        rtp[1] = 0x80 | 96; // marker set, PT 96
        rtp[2..4].copy_from_slice(&513u16.to_be_bytes());
        rtp[8..12].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        assert_eq!(
            Packet::classify(&rtp),
            Packet::Rtp {
                payload_type: 96,
                ssrc: 0xdead_beef,
                seq: 513
            }
        );
        assert_eq!(Packet::classify(&rtp[..6]), Packet::Other);
    }

    #[test]
    fn drops_every_nth_matching_rtp_packet_up_to_the_budget() {
        let client: SocketAddr = "127.0.0.1:4000".parse().expect("address");
        let mut st = State::default();
        st.rules.insert(
            (client, Direction::Downstream),
            ActiveRule {
                rule: LossRule {
                    payload_types: vec![96],
                    every_nth: 3,
                    max_drops: 2,
                },
                matched: 0,
                dropped: 0,
            },
        );
        let video = |seq| Packet::Rtp {
            payload_type: 96,
            ssrc: 1,
            seq,
        };
        let audio = Packet::Rtp {
            payload_type: 111,
            ssrc: 2,
            seq: 0,
        };
        let kept: Vec<bool> = (0..9)
            .map(|seq| st.admit(client, Direction::Downstream, video(seq)))
            .collect();
        assert_eq!(
            kept,
            [true, true, false, true, true, false, true, true, true]
        );
        assert!(st.admit(client, Direction::Downstream, audio));
        assert!(st.admit(client, Direction::Downstream, Packet::Rtcp));
        assert!(st.admit(client, Direction::Upstream, video(0)));
        let counts = &st.counts[&(client, Direction::Downstream)];
        assert_eq!(counts.rtp_dropped, 2);
        assert_eq!(counts.rtp_of_type(96), (7, 2));
        assert_eq!(counts.by_ssrc[&1].dropped_seqs, [2, 5]);
    }

    #[test]
    fn random_loss_is_seeded_and_spares_stun_dtls_and_rtcp() {
        let client: SocketAddr = "127.0.0.1:4000".parse().expect("address");
        let run = |seed| {
            let mut st = State::default();
            st.random.insert(
                (client, Direction::Downstream),
                ActiveRandom {
                    rule: RandomLoss::rtp(0.2, seed),
                    rng: SplitMix64(seed),
                },
            );
            let kept: Vec<bool> = (0..10_000u16)
                .map(|seq| {
                    let packet = Packet::Rtp {
                        payload_type: if seq % 3 == 0 { 111 } else { 96 },
                        ssrc: u32::from(seq % 3 == 0),
                        seq,
                    };
                    st.admit(client, Direction::Downstream, packet)
                })
                .collect();
            for other in [Packet::Stun, Packet::Dtls, Packet::Rtcp, Packet::Other] {
                assert!(
                    st.admit(client, Direction::Downstream, other),
                    "{other:?} kept"
                );
            }
            let counts = st.counts[&(client, Direction::Downstream)].clone();
            (kept, counts)
        };
        let (a, counts) = run(7);
        let (b, _) = run(7);
        let (c, _) = run(8);
        assert_eq!(a, b, "the same seed drops the same packets");
        assert_ne!(a, c, "another seed drops others");
        let dropped = a.iter().filter(|k| !**k).count();
        assert!((1800..=2200).contains(&dropped), "about 20 %: {dropped}");
        assert_eq!(counts.rtp_dropped, dropped as u64);
        assert_eq!(counts.rtcp_dropped, 0);
        let per_ssrc: u64 = counts.by_ssrc.values().map(|s| s.dropped).sum();
        assert_eq!(per_ssrc, dropped as u64, "drops are counted per SSRC");
    }

    #[test]
    fn random_loss_of_chosen_payload_types_and_rtcp() {
        let client: SocketAddr = "127.0.0.1:4000".parse().expect("address");
        let mut st = State::default();
        let rule = RandomLoss {
            probability: 1.0,
            payload_types: vec![111],
            rtcp: true,
            seed: 1,
        };
        st.random.insert(
            (client, Direction::Upstream),
            ActiveRandom {
                rule,
                rng: SplitMix64(1),
            },
        );
        let rtp = |payload_type| Packet::Rtp {
            payload_type,
            ssrc: 5,
            seq: 1,
        };
        assert!(!st.admit(client, Direction::Upstream, rtp(111)));
        assert!(st.admit(client, Direction::Upstream, rtp(96)));
        assert!(!st.admit(client, Direction::Upstream, Packet::Rtcp));
        assert!(st.admit(client, Direction::Upstream, Packet::Stun));
        assert!(
            st.admit(client, Direction::Downstream, rtp(111)),
            "other direction"
        );
        assert_eq!(st.counts[&(client, Direction::Upstream)].rtcp_dropped, 1);
        st.delays
            .insert((client, Direction::Upstream), Duration::from_millis(150));
        assert_eq!(
            st.verdict(client, Direction::Upstream, rtp(96)),
            Verdict::Delay(Duration::from_millis(150))
        );
        assert_eq!(
            st.verdict(client, Direction::Downstream, rtp(96)),
            Verdict::Forward
        );
        assert_eq!(
            st.verdict(client, Direction::Upstream, rtp(111)),
            Verdict::Drop
        );
    }
}
