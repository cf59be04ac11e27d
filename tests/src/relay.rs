//! A user-space UDP relay between browsers and the SFU that drops chosen RTP packets: the packet
//! loss a test needs on a machine without netem.
//!
//! The relay binds one client-facing socket on 127.0.0.1 (advertise it as the SFU's media
//! address) and, for each distinct client address, its own upstream socket to the SFU, so the SFU
//! sees one source per client as it would behind a NAT. Datagrams are forwarded both ways.
//!
//! Loss is deterministic and narrow: a [`LossRule`] for one client and one [`Direction`] drops
//! every `every_nth` RTP packet carrying one of the rule's payload types, up to `max_drops`.
//! STUN, DTLS and RTCP are never dropped (RFC 7983 demultiplexing by first byte; RTP and RTCP
//! told apart by payload type, 64–95 being RTCP, RFC 5761). SRTP leaves the RTP header in the
//! clear, so every forwarded and dropped packet is counted by SSRC and sequence number.
//!
//! The relay serves at most [`MAX_CLIENTS`] clients, only on 127.0.0.1, and stops when dropped,
//! when [`Relay::stop`] is called, or after [`MAX_LIFETIME`] at the latest.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

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
    pub stun_forwarded: u64,
    pub dtls_forwarded: u64,
    pub other_forwarded: u64,
    /// Datagrams the relay could not send on (socket errors), not counted as forwarded.
    pub send_failures: u64,
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

#[derive(Default)]
struct State {
    /// Client address → its upstream socket, in order of first appearance.
    clients: Vec<(SocketAddr, Arc<UdpSocket>)>,
    counts: HashMap<(SocketAddr, Direction), FlowCounts>,
    rules: HashMap<(SocketAddr, Direction), ActiveRule>,
    ignored_clients: u64,
}

impl State {
    /// Counts `packet` and says whether to forward it.
    fn admit(&mut self, client: SocketAddr, direction: Direction, packet: Packet) -> bool {
        let drop = match packet {
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
        let counts = self.counts.entry((client, direction)).or_default();
        match packet {
            Packet::Stun => counts.stun_forwarded += 1,
            Packet::Dtls => counts.dtls_forwarded += 1,
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
}

type Shared = Arc<Mutex<State>>;

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
}

impl Relay {
    /// Binds the client-facing socket on 127.0.0.1, port 0.
    pub async fn bind() -> Result<Relay> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the relay's client-facing socket")?;
        let addr = socket.local_addr().context("the relay's address")?;
        Ok(Relay {
            socket: Some(socket),
            addr,
            state: Shared::default(),
            tasks: JoinSet::new(),
        })
    }

    /// The client-facing address: what the SFU should advertise.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts forwarding between clients and `upstream` (the SFU's real media address, which
    /// must be on 127.0.0.1).
    pub fn start(&mut self, upstream: SocketAddr) -> Result<()> {
        if upstream.ip() != Ipv4Addr::LOCALHOST {
            bail!("the relay only forwards to 127.0.0.1, not {upstream}");
        }
        let Some(socket) = self.socket.take() else {
            bail!("the relay is already started");
        };
        let socket = Arc::new(socket);
        let state = Arc::clone(&self.state);
        let (spawn_tx, mut spawn_rx) =
            tokio::sync::mpsc::channel::<(SocketAddr, Arc<UdpSocket>)>(MAX_CLIENTS);
        // Client → SFU, and the creation of each client's upstream socket.
        let client_side = {
            let socket = Arc::clone(&socket);
            let state = Arc::clone(&state);
            async move {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                loop {
                    let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                        // ICMP errors from a vanished client surface here; keep going.
                        continue;
                    };
                    if from.ip() != Ipv4Addr::LOCALHOST {
                        continue;
                    }
                    let datagram = &buf[..len];
                    let upstream_socket = match Self::upstream_for(&state, from, upstream).await {
                        Some((sock, true)) => {
                            if spawn_tx.send((from, Arc::clone(&sock))).await.is_err() {
                                return;
                            }
                            sock
                        }
                        Some((sock, false)) => sock,
                        None => continue,
                    };
                    let packet = Packet::classify(datagram);
                    if !lock(&state).admit(from, Direction::Upstream, packet) {
                        continue;
                    }
                    if upstream_socket.send(datagram).await.is_err() {
                        lock(&state).send_failed(from, Direction::Upstream);
                    }
                }
            }
        };
        // SFU → each client: one reader per upstream socket.
        let sfu_side = {
            let socket = Arc::clone(&socket);
            let state = Arc::clone(&state);
            async move {
                let mut readers = JoinSet::new();
                while let Some((client, upstream_socket)) = spawn_rx.recv().await {
                    let socket = Arc::clone(&socket);
                    let state = Arc::clone(&state);
                    readers.spawn(async move {
                        let mut buf = vec![0u8; MAX_DATAGRAM];
                        loop {
                            let Ok(len) = upstream_socket.recv(&mut buf).await else {
                                continue;
                            };
                            let datagram = &buf[..len];
                            let packet = Packet::classify(datagram);
                            if !lock(&state).admit(client, Direction::Downstream, packet) {
                                continue;
                            }
                            if socket.send_to(datagram, client).await.is_err() {
                                lock(&state).send_failed(client, Direction::Downstream);
                            }
                        }
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

    /// The upstream socket for `client`, creating it (connected to `upstream`) for a new client;
    /// `true` when it was just created. `None` past [`MAX_CLIENTS`] or if binding failed.
    async fn upstream_for(
        state: &Shared,
        client: SocketAddr,
        upstream: SocketAddr,
    ) -> Option<(Arc<UdpSocket>, bool)> {
        {
            let mut st = lock(state);
            if let Some((_, sock)) = st.clients.iter().find(|(addr, _)| *addr == client) {
                return Some((Arc::clone(sock), false));
            }
            if st.clients.len() >= MAX_CLIENTS {
                st.ignored_clients += 1;
                return None;
            }
        }
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.ok()?;
        sock.connect(upstream).await.ok()?;
        let sock = Arc::new(sock);
        lock(state).clients.push((client, Arc::clone(&sock)));
        Some((sock, true))
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

    /// Clients seen, in order of their first datagram: each client's address and the address
    /// of its upstream socket (what the SFU sees as the client's source, and tells the client
    /// back in STUN responses: a browser lists it as its peer-reflexive local candidate).
    pub fn clients(&self) -> Vec<(SocketAddr, SocketAddr)> {
        lock(&self.state)
            .clients
            .iter()
            .filter_map(|(addr, sock)| sock.local_addr().ok().map(|up| (*addr, up)))
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
}
