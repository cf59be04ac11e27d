//! A webrtc-rs peer's media over ICE-TCP, through a bridge of its own on the loopback.
//!
//! webrtc-rs 0.21 has no ICE-TCP (its issue #781), so a load-generating peer cannot reach the
//! SFU's TCP media port itself. Each peer gets a [`TcpBridge`] instead: a UDP socket on the
//! peer's address, which the peer is told is the SFU (the SFU's candidates in the SDP it
//! receives are replaced by one UDP host candidate of the bridge, [`bridge_candidates`]), and
//! one TCP connection to the SFU's passive TCP candidate. Every datagram from the peer goes to
//! the SFU as an RFC 4571 frame (a two-byte big-endian length, then the datagram), every frame
//! from the SFU back to the peer as a datagram.
//!
//! To the SFU this is what a browser's active ICE-TCP candidate looks like: a connection whose
//! first frame is a STUN binding request, from an address it learns as a peer-reflexive TCP
//! candidate, with the peer (controlling, the SFU being ICE-lite) nominating the pair. The peer
//! knows no other address of the SFU, so its media can only go this way.
//!
//! The bridge runs on the load generator's runtime: its CPU is the generator's, not the
//! server's. Its two buffers are allocated once; nothing is allocated per datagram.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// The largest datagram a UDP socket can hand over, and so the largest frame RFC 4571 carries.
const MAX_DATAGRAM: usize = u16::MAX as usize;
/// Bytes read from the SFU waiting to become datagrams: room for a whole frame of the largest
/// size past any partial one already read.
const FROM_SFU_BUFFER: usize = 2 * (2 + MAX_DATAGRAM);

/// What one bridge carried, shared with whoever checks the path.
#[derive(Debug, Default)]
pub struct BridgeCounters {
    /// Datagrams from the peer written to the SFU's connection, and their bytes.
    pub to_sfu_datagrams: AtomicU64,
    pub to_sfu_bytes: AtomicU64,
    /// Frames from the SFU sent to the peer, and their bytes.
    pub to_peer_datagrams: AtomicU64,
    pub to_peer_bytes: AtomicU64,
    /// Frames from the SFU that arrived before the peer had sent anything (nowhere to go).
    pub undeliverable: AtomicU64,
    /// The connection to the SFU was made.
    pub connected: std::sync::atomic::AtomicBool,
    /// Why the bridge stopped before it was dropped (the SFU closed, a socket failed).
    pub ended: Mutex<Option<String>>,
}

impl BridgeCounters {
    fn add(count: &AtomicU64, value: u64) {
        count.fetch_add(value, Ordering::Relaxed);
    }
}

/// One peer's bridge. Dropping it closes both sockets.
pub struct TcpBridge {
    udp: Arc<UdpSocket>,
    udp_addr: SocketAddr,
    sfu: Option<SocketAddr>,
    counters: Arc<BridgeCounters>,
    task: Option<JoinHandle<()>>,
}

impl TcpBridge {
    /// Opens the bridge's UDP side on `ip` (the peer's own address, so it can reach it).
    pub async fn bind(ip: IpAddr) -> Result<TcpBridge> {
        let udp = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .with_context(|| format!("binding the bridge's UDP socket on {ip}"))?;
        let udp_addr = udp.local_addr().context("the bridge's UDP address")?;
        Ok(TcpBridge {
            udp: Arc::new(udp),
            udp_addr,
            sfu: None,
            counters: Arc::default(),
            task: None,
        })
    }

    /// The address the peer is to send to, in place of the SFU's.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    pub fn counters(&self) -> Arc<BridgeCounters> {
        Arc::clone(&self.counters)
    }

    /// Connects to the SFU's passive TCP candidate at `sfu` and starts carrying datagrams. A
    /// later SDP naming the same address changes nothing; one naming another is refused (one
    /// connection per peer, as the SFU expects).
    pub fn start(&mut self, sfu: SocketAddr) -> Result<()> {
        match self.sfu {
            Some(current) if current == sfu => return Ok(()),
            Some(current) => {
                bail!("the SFU's TCP candidate moved from {current} to {sfu} (no ICE restart here)")
            }
            None => {}
        }
        self.sfu = Some(sfu);
        let udp = Arc::clone(&self.udp);
        let counters = Arc::clone(&self.counters);
        self.task = Some(tokio::spawn(async move {
            let ended = carry(&udp, sfu, &counters).await;
            let reason = match ended {
                Ok(()) => "the SFU closed the connection".to_owned(),
                Err(error) => format!("{error:#}"),
            };
            if let Ok(mut slot) = counters.ended.lock() {
                *slot = Some(reason);
            }
        }));
        Ok(())
    }
}

impl Drop for TcpBridge {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Carries datagrams both ways until the SFU closes the connection or a socket fails.
async fn carry(udp: &UdpSocket, sfu: SocketAddr, counters: &BridgeCounters) -> Result<()> {
    let stream = TcpStream::connect(sfu)
        .await
        .with_context(|| format!("connecting to the SFU's TCP media port {sfu}"))?;
    // Each frame is a datagram the peer is waiting for: no Nagle delay.
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    counters.connected.store(true, Ordering::Relaxed);
    let (mut from_sfu, mut to_sfu) = stream.into_split();

    // A datagram is received past two bytes left for its length, so that prefix and datagram
    // go out in one write.
    let mut outgoing = vec![0u8; 2 + MAX_DATAGRAM];
    let mut incoming = vec![0u8; FROM_SFU_BUFFER];
    let mut incoming_len = 0;
    // Where the peer sends from: its datagrams come before the SFU has anything to say.
    let mut peer: Option<SocketAddr> = None;
    loop {
        tokio::select! {
            received = udp.recv_from(&mut outgoing[2..]) => {
                let (len, from) = received.context("receiving from the peer")?;
                peer = Some(from);
                // The SFU closes a connection at an empty frame; no datagram of WebRTC is empty.
                if len == 0 {
                    continue;
                }
                // `len` fits: the buffer past the prefix holds at most MAX_DATAGRAM bytes.
                let prefix = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
                outgoing[..2].copy_from_slice(&prefix);
                to_sfu
                    .write_all(&outgoing[..2 + len])
                    .await
                    .context("writing to the SFU")?;
                BridgeCounters::add(&counters.to_sfu_datagrams, 1);
                BridgeCounters::add(&counters.to_sfu_bytes, len as u64);
            }
            read = from_sfu.read(&mut incoming[incoming_len..]) => {
                let read = read.context("reading from the SFU")?;
                if read == 0 {
                    return Ok(());
                }
                incoming_len += read;
                let mut start = 0;
                while let Some(frame) = next_frame(&incoming[start..incoming_len]) {
                    start += 2 + frame.len();
                    match peer {
                        Some(peer) => {
                            // Loopback UDP: a failed send is a lost datagram, as on a network.
                            if udp.send_to(frame, peer).await.is_ok() {
                                BridgeCounters::add(&counters.to_peer_datagrams, 1);
                                BridgeCounters::add(&counters.to_peer_bytes, frame.len() as u64);
                            }
                        }
                        None => BridgeCounters::add(&counters.undeliverable, 1),
                    }
                }
                // The partial frame left moves to the front, where the next read continues it.
                incoming.copy_within(start..incoming_len, 0);
                incoming_len -= start;
            }
        }
    }
}

/// The first complete RFC 4571 frame in `buffer` (its contents, without the length), if
/// there is one.
fn next_frame(buffer: &[u8]) -> Option<&[u8]> {
    let header = buffer.get(..2)?;
    let len = usize::from(u16::from_be_bytes([header[0], header[1]]));
    buffer.get(2..2 + len)
}

/// Why an SDP could not be pointed at a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateError {
    /// No passive TCP host candidate: the server has media over TCP off.
    NoTcpCandidate,
    /// A TCP candidate whose address is not an IP address and port.
    BadTcpCandidate(String),
}

impl std::fmt::Display for CandidateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CandidateError::NoTcpCandidate => f.write_str(
                "the SFU offered no passive TCP candidate (is media over TCP off on the server?)",
            ),
            CandidateError::BadTcpCandidate(line) => {
                write!(f, "the SFU's TCP candidate has no usable address: {line}")
            }
        }
    }
}

impl std::error::Error for CandidateError {}

/// What one ICE candidate of the SFU's says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SfuCandidate {
    Udp,
    PassiveTcp(SocketAddr),
    /// Another TCP candidate (active, simultaneous-open) or transport: of no use to the bridge.
    Other,
}

/// Reads a candidate attribute's value (`candidate:1 1 tcp 1518280447 127.0.0.1 9 typ host
/// tcptype passive`, with or without the `candidate:` prefix).
fn classify(candidate: &str) -> Result<SfuCandidate, CandidateError> {
    let value = candidate.strip_prefix("candidate:").unwrap_or(candidate);
    let fields: Vec<&str> = value.split_whitespace().collect();
    let Some(transport) = fields.get(2) else {
        return Ok(SfuCandidate::Other);
    };
    if transport.eq_ignore_ascii_case("udp") {
        return Ok(SfuCandidate::Udp);
    }
    if !transport.eq_ignore_ascii_case("tcp") {
        return Ok(SfuCandidate::Other);
    }
    let passive = fields
        .windows(2)
        .any(|pair| pair[0] == "tcptype" && pair[1] == "passive");
    if !passive {
        return Ok(SfuCandidate::Other);
    }
    let bad = || CandidateError::BadTcpCandidate(candidate.to_owned());
    let ip: IpAddr = fields.get(4).ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let port: u16 = fields.get(5).ok_or_else(bad)?.parse().map_err(|_| bad())?;
    Ok(SfuCandidate::PassiveTcp(SocketAddr::new(ip, port)))
}

/// The value of a UDP host candidate for `bridge`, in place of the SFU's TCP one (its
/// foundation, component and priority kept).
fn bridge_candidate(tcp_candidate: &str, bridge: SocketAddr) -> String {
    let value = tcp_candidate
        .strip_prefix("candidate:")
        .unwrap_or(tcp_candidate);
    let mut fields = value.split_whitespace();
    let foundation = fields.next().unwrap_or("1");
    let component = fields.next().unwrap_or("1");
    let priority = fields.nth(1).unwrap_or("1");
    format!(
        "candidate:{foundation} {component} udp {priority} {} {} typ host",
        bridge.ip(),
        bridge.port()
    )
}

/// The SFU's passive TCP candidate in `sdp`, if it has one.
pub fn sfu_tcp_candidate(sdp: &str) -> Result<Option<SocketAddr>, CandidateError> {
    for line in sdp.lines() {
        if let Some(candidate) = line.trim_end().strip_prefix("a=") {
            if let SfuCandidate::PassiveTcp(addr) = classify(candidate)? {
                return Ok(Some(addr));
            }
        }
    }
    Ok(None)
}

/// Points an SDP of the SFU's at `bridge`: its UDP candidates are removed (the peer must not
/// reach the SFU over UDP), each passive TCP candidate becomes a UDP host candidate of the
/// bridge. Returns the new SDP and the SFU's TCP address for the bridge to connect to.
pub fn bridge_candidates(
    sdp: &str,
    bridge: SocketAddr,
) -> Result<(String, SocketAddr), CandidateError> {
    let mut out = String::with_capacity(sdp.len());
    let mut sfu = None;
    for line in sdp.split_inclusive('\n') {
        let content = line.trim_end_matches(['\r', '\n']);
        let ending = &line[content.len()..];
        let Some(candidate) = content.strip_prefix("a=") else {
            out.push_str(line);
            continue;
        };
        if !candidate.starts_with("candidate:") {
            out.push_str(line);
            continue;
        }
        match classify(candidate)? {
            SfuCandidate::Udp | SfuCandidate::Other => {}
            SfuCandidate::PassiveTcp(addr) => {
                sfu = Some(addr);
                out.push_str("a=");
                out.push_str(&bridge_candidate(candidate, bridge));
                out.push_str(ending);
            }
        }
    }
    let sfu = sfu.ok_or(CandidateError::NoTcpCandidate)?;
    Ok((out, sfu))
}

/// A trickled candidate of the SFU's (the server sends none today, `docs/protocol.md`), for a
/// peer behind a bridge: its passive TCP candidate pointed at the bridge, anything else
/// withheld (`None`).
pub fn bridge_trickled_candidate(
    candidate: &str,
    bridge: SocketAddr,
) -> Result<Option<(String, SocketAddr)>, CandidateError> {
    Ok(match classify(candidate)? {
        SfuCandidate::PassiveTcp(addr) => Some((bridge_candidate(candidate, bridge), addr)),
        SfuCandidate::Udp | SfuCandidate::Other => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ANSWER: &str = "v=0\r\n\
        o=str0m-1 1 2 IN IP4 0.0.0.0\r\n\
        s=-\r\n\
        t=0 0\r\n\
        a=group:BUNDLE 0 1\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=mid:0\r\n\
        a=candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host\r\n\
        a=candidate:2 1 tcp 1518280447 127.0.0.1 40001 typ host tcptype passive\r\n\
        a=end-of-candidates\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
        a=mid:1\r\n\
        a=candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host\r\n\
        a=candidate:2 1 tcp 1518280447 127.0.0.1 40001 typ host tcptype passive\r\n";

    fn bridge_addr() -> SocketAddr {
        "127.0.0.1:50123".parse().expect("address")
    }

    #[test]
    fn the_peer_sees_only_the_bridge_as_a_udp_candidate() {
        let (sdp, sfu) = bridge_candidates(ANSWER, bridge_addr()).expect("rewritten");
        assert_eq!(
            sfu,
            "127.0.0.1:40001".parse::<SocketAddr>().expect("address")
        );
        let candidates: Vec<&str> = sdp
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .collect();
        assert_eq!(
            candidates,
            vec!["a=candidate:2 1 udp 1518280447 127.0.0.1 50123 typ host"; 2]
        );
        assert!(!sdp.contains("40000") && !sdp.contains("40001"), "{sdp}");
        // Everything else as it was, line endings included.
        assert!(sdp.contains("a=end-of-candidates\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
        assert_eq!(sdp.matches("\r\n").count(), sdp.lines().count());
        assert_eq!(sfu_tcp_candidate(ANSWER), Ok(Some(sfu)));
    }

    #[test]
    fn an_sdp_without_a_tcp_candidate_is_refused() {
        let udp_only: String = ANSWER
            .split_inclusive('\n')
            .filter(|l| !l.contains(" tcp "))
            .collect();
        assert_eq!(
            bridge_candidates(&udp_only, bridge_addr()),
            Err(CandidateError::NoTcpCandidate)
        );
        assert_eq!(sfu_tcp_candidate(&udp_only), Ok(None));
        // An active TCP candidate is no use: the bridge must connect to a listening port.
        let active = udp_only + "a=candidate:3 1 tcp 1 127.0.0.1 9 typ host tcptype active\r\n";
        assert_eq!(
            bridge_candidates(&active, bridge_addr()),
            Err(CandidateError::NoTcpCandidate)
        );
        let nameless = "a=candidate:2 1 tcp 1 host.local 40001 typ host tcptype passive\r\n";
        assert!(matches!(
            bridge_candidates(nameless, bridge_addr()),
            Err(CandidateError::BadTcpCandidate(_))
        ));
    }

    #[test]
    fn trickled_candidates_are_pointed_at_the_bridge_or_withheld() {
        let tcp = "candidate:2 1 TCP 1518280447 127.0.0.1 40001 typ host tcptype passive";
        let (line, sfu) = bridge_trickled_candidate(tcp, bridge_addr())
            .expect("parsed")
            .expect("kept");
        assert_eq!(
            line,
            "candidate:2 1 udp 1518280447 127.0.0.1 50123 typ host"
        );
        assert_eq!(sfu.port(), 40001);
        let udp = "1 1 udp 2130706175 127.0.0.1 40000 typ host";
        assert_eq!(bridge_trickled_candidate(udp, bridge_addr()), Ok(None));
        assert_eq!(
            bridge_trickled_candidate("garbage", bridge_addr()),
            Ok(None)
        );
    }

    #[test]
    fn frames_are_taken_whole_or_not_at_all() {
        assert_eq!(next_frame(&[]), None);
        assert_eq!(next_frame(&[0]), None);
        assert_eq!(next_frame(&[0, 3, 1, 2]), None);
        assert_eq!(next_frame(&[0, 3, 1, 2, 3, 9]), Some(&[1, 2, 3][..]));
        assert_eq!(next_frame(&[0, 0, 7]), Some(&[][..]));
    }

    /// A bridge between a UDP "peer" and a TCP "SFU" in this test: datagrams arrive framed, and
    /// frames (split across writes, several in one write) arrive as datagrams.
    #[tokio::test(flavor = "current_thread")]
    async fn datagrams_and_frames_cross_the_bridge_both_ways() {
        let localhost: IpAddr = std::net::Ipv4Addr::LOCALHOST.into();
        let sfu = tokio::net::TcpListener::bind((localhost, 0))
            .await
            .expect("listen");
        let sfu_addr = sfu.local_addr().expect("address");
        let mut bridge = TcpBridge::bind(localhost).await.expect("bridge");
        bridge.start(sfu_addr).expect("started");
        assert!(bridge.start(sfu_addr).is_ok(), "the same address again");
        assert!(bridge.start(bridge.udp_addr()).is_err(), "another address");
        let peer = UdpSocket::bind((localhost, 0)).await.expect("peer socket");
        let (mut connection, _) = tokio::time::timeout(Duration::from_secs(5), sfu.accept())
            .await
            .expect("the bridge connects at once")
            .expect("accepted");

        let within = Duration::from_secs(5);
        peer.send_to(b"stun request", bridge.udp_addr())
            .await
            .expect("send");
        let mut framed = [0u8; 14];
        tokio::time::timeout(within, connection.read_exact(&mut framed))
            .await
            .expect("a frame in time")
            .expect("read");
        assert_eq!(&framed[..2], &[0, 12]);
        assert_eq!(&framed[2..], b"stun request");

        // Two frames, the second split across writes.
        connection
            .write_all(b"\x00\x05first\x00\x06sec")
            .await
            .expect("write");
        connection.flush().await.expect("flush");
        let mut datagram = [0u8; 64];
        let (len, from) = tokio::time::timeout(within, peer.recv_from(&mut datagram))
            .await
            .expect("a datagram in time")
            .expect("received");
        assert_eq!((&datagram[..len], from), (&b"first"[..], bridge.udp_addr()));
        connection.write_all(b"ond").await.expect("write");
        let (len, _) = tokio::time::timeout(within, peer.recv_from(&mut datagram))
            .await
            .expect("a datagram in time")
            .expect("received");
        assert_eq!(&datagram[..len], b"second");

        let counters = bridge.counters();
        assert_eq!(counters.to_sfu_datagrams.load(Ordering::Relaxed), 1);
        assert_eq!(counters.to_peer_datagrams.load(Ordering::Relaxed), 2);
        assert_eq!(counters.to_peer_bytes.load(Ordering::Relaxed), 11);
        assert!(counters.connected.load(Ordering::Relaxed));
    }
}
