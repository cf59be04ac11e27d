//! Media over TCP (ICE-TCP, RFC 6544), for networks that let no UDP through: some office and
//! hotel networks, some mobile carriers' APNs. The SFU listens on a TCP port beside its UDP one
//! and offers a passive TCP host candidate; a browser that cannot reach the UDP port connects
//! to it instead, with no setting changed. Each datagram travels as an RFC 4571 frame: a
//! two-byte length, then the datagram.
//!
//! A connection is one peer's: its first frame must be a STUN binding request naming a peer
//! the router knows (by our ICE username fragment) and signed with our password for it, within
//! a few seconds, or it is closed. From
//! then on its frames go to that peer's room like datagrams from the UDP socket, and the room
//! sends through the connection's [`TcpLink`]. The connection ends when the peer leaves (the
//! room drops its link), when it is idle too long, when it sends a frame no datagram could be,
//! or when writes to it stall; it affects no other peer. Connections are capped in all and per
//! address, so half-open connections cannot exhaust the server.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use str0m::ice::StunMessage;
use str0m::net::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::router::{Datagram, RouterCommand};

/// Most media connections open at once, and from one address (a whole village behind one
/// carrier-grade NAT shares an address, hence not one).
const MAX_CONNECTIONS: usize = 2_048;
const MAX_PER_ADDRESS: usize = 64;
/// How long a new connection has to send its first STUN request.
const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(5);
/// A connection with nothing received for this long is dead: browsers check consent every few
/// seconds.
const IDLE_FOR: Duration = Duration::from_secs(30);
/// Largest frame accepted: above any datagram WebRTC sends (str0m and browsers keep to about
/// 1,200 bytes), far below the 64 KiB RFC 4571 allows.
const MAX_FRAME: usize = 4_096;
/// Frames waiting to be written to one connection. Past this they are dropped, as a full
/// UDP socket buffer would: the peer's congestion control sees the loss.
const FRAMES_QUEUED: usize = 512;
/// A write that cannot finish in this long means the peer stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffers are carved from arenas of this size (as the UDP router's are).
const ARENA_BYTES: usize = 64 * 1024;

/// The room's way to send to a peer connected over TCP. Dropping every clone closes the
/// connection.
#[derive(Clone, Debug)]
pub(crate) struct TcpLink {
    frames: mpsc::Sender<Bytes>,
}

impl TcpLink {
    /// Queues one datagram for the connection; false if it is closed (full: dropped, true).
    pub fn send(&self, contents: &[u8]) -> bool {
        match self.frames.try_send(Bytes::copy_from_slice(contents)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Accepts media connections on `listener` until the router stops.
pub(crate) fn spawn(runtime: &Handle, listener: TcpListener, router: mpsc::Sender<RouterCommand>) {
    runtime.spawn(accept(listener, router));
}

async fn accept(listener: TcpListener, router: mpsc::Sender<RouterCommand>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_address: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut refused: u64 = 0;
    loop {
        let (stream, source) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: the listener itself is fine; wait a little.
            Err(error) => {
                tracing::debug!(%error, "media tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if router.is_closed() {
            break;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused += 1;
            continue;
        };
        let Some(address) = AddressSlot::take(&per_address, source.ip()) else {
            refused += 1;
            continue;
        };
        tokio::spawn(serve(stream, source, router.clone(), (slot, address)));
        if refused > 0 && refused.is_power_of_two() {
            tracing::info!(refused, "media tcp connections refused over the caps");
        }
    }
}

/// One connection's share of its address's cap, given back when the connection ends.
struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl AddressSlot {
    fn take(counts: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr) -> Option<AddressSlot> {
        let mut map = counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(ip).or_insert(0);
        if *count >= MAX_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Why a connection ended, for the logs.
#[derive(Debug)]
enum Ended {
    NoStunFirst,
    UnknownPeer,
    BadFrame,
    Idle,
    Closed,
    WriteStalled,
    PeerGone,
}

async fn serve(
    stream: TcpStream,
    source: SocketAddr,
    router: mpsc::Sender<RouterCommand>,
    _slots: (OwnedSemaphorePermit, AddressSlot),
) {
    let _ = stream.set_nodelay(true);
    let ended = run_connection(stream, source, router).await;
    tracing::debug!(%source, ?ended, "media tcp connection ended");
}

async fn run_connection(
    stream: TcpStream,
    source: SocketAddr,
    router: mpsc::Sender<RouterCommand>,
) -> Ended {
    let (mut reader, writer) = stream.into_split();
    let mut writer = BufWriter::new(writer);
    let mut frames = Frames::default();

    // The first frame names the peer.
    let first = tokio::time::timeout(FIRST_FRAME_WITHIN, async {
        loop {
            match frames.next() {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(()) => return Err(Ended::BadFrame),
            }
            match reader.read_buf(frames.buffer()).await {
                Ok(0) | Err(_) => return Err(Ended::Closed),
                Ok(_) => {}
            }
        }
    })
    .await;
    let first = match first {
        Ok(Ok(frame)) => frame,
        Ok(Err(ended)) => return ended,
        Err(_) => return Ended::NoStunFirst,
    };
    if binding_request_ufrag(&first).is_none() {
        return Ended::NoStunFirst;
    }
    let (reply, found) = oneshot::channel();
    let lookup = RouterCommand::Lookup {
        request: first.clone(),
        reply,
    };
    if router.send(lookup).await.is_err() {
        return Ended::UnknownPeer;
    }
    let Ok(Some((peer, inbox))) = found.await else {
        return Ended::UnknownPeer;
    };

    let (link, mut outgoing) = mpsc::channel::<Bytes>(FRAMES_QUEUED);
    let first = Datagram {
        peer,
        source,
        received: Instant::now(),
        payload: first,
        proto: Protocol::Tcp,
        tcp: Some(TcpLink { frames: link }),
    };
    if inbox.send(first).await.is_err() {
        return Ended::PeerGone;
    }

    let mut idle_until = tokio::time::Instant::now() + IDLE_FOR;
    loop {
        // Every complete frame read so far goes to the room.
        loop {
            match frames.next() {
                Ok(Some(payload)) => {
                    let datagram = Datagram {
                        peer,
                        source,
                        received: Instant::now(),
                        payload,
                        proto: Protocol::Tcp,
                        tcp: None,
                    };
                    match inbox.try_send(datagram) {
                        // A room that is behind drops, as for UDP.
                        Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                        Err(mpsc::error::TrySendError::Closed(_)) => return Ended::PeerGone,
                    }
                }
                Ok(None) => break,
                Err(()) => return Ended::BadFrame,
            }
        }
        tokio::select! {
            read = reader.read_buf(frames.buffer()) => match read {
                Ok(0) | Err(_) => return Ended::Closed,
                Ok(_) => idle_until = tokio::time::Instant::now() + IDLE_FOR,
            },
            frame = outgoing.recv() => {
                // The room dropped the link: the peer left.
                let Some(frame) = frame else { return Ended::PeerGone };
                let written = tokio::time::timeout(WRITE_TIMEOUT, async {
                    write_frame(&mut writer, &frame).await?;
                    // Whatever else is queued goes in the same write.
                    while let Ok(frame) = outgoing.try_recv() {
                        write_frame(&mut writer, &frame).await?;
                    }
                    writer.flush().await
                })
                .await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Ended::Closed,
                    Err(_) => return Ended::WriteStalled,
                }
            }
            _ = tokio::time::sleep_until(idle_until) => return Ended::Idle,
        }
    }
}

async fn write_frame(
    writer: &mut BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    frame: &[u8],
) -> std::io::Result<()> {
    // Frames are at most MAX_FRAME long (str0m's datagrams), so the length always fits.
    let length = u16::try_from(frame.len()).unwrap_or(u16::MAX);
    writer.write_all(&length.to_be_bytes()).await?;
    writer.write_all(&frame[..usize::from(length)]).await
}

/// The ICE username fragment of ours that a STUN binding request names.
fn binding_request_ufrag(frame: &[u8]) -> Option<String> {
    let message = StunMessage::parse(frame).ok()?;
    if !message.is_binding_request() {
        return None;
    }
    message.split_username().map(|(local, _)| local.to_owned())
}

/// RFC 4571 framing of what a connection has read: complete frames come out, each as its own
/// `Bytes` sharing the read arena.
#[derive(Default)]
struct Frames {
    buffer: BytesMut,
}

impl Frames {
    /// Where the next read goes.
    fn buffer(&mut self) -> &mut BytesMut {
        if self.buffer.capacity() - self.buffer.len() < MAX_FRAME + 2 {
            let mut fresh = BytesMut::with_capacity(ARENA_BYTES);
            fresh.extend_from_slice(&self.buffer);
            self.buffer = fresh;
        }
        &mut self.buffer
    }

    /// The next complete frame, `None` until one is; an error for a frame no datagram could be
    /// (empty, or longer than [`MAX_FRAME`]).
    fn next(&mut self) -> Result<Option<Bytes>, ()> {
        let Some(header) = self.buffer.get(..2) else {
            return Ok(None);
        };
        let length = usize::from(u16::from_be_bytes([header[0], header[1]]));
        if length == 0 || length > MAX_FRAME {
            return Err(());
        }
        if self.buffer.len() < 2 + length {
            return Ok(None);
        }
        self.buffer.advance(2);
        Ok(Some(self.buffer.split_to(length).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            out.extend_from_slice(payload);
        }
        out
    }

    #[test]
    fn frames_come_out_whole_however_the_reads_split_them() {
        let stream = framed(&[b"first", b"second frame", &[7; 1200]]);
        for chunk in [1, 2, 3, 7, 100, stream.len()] {
            let mut frames = Frames::default();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                frames.buffer().extend_from_slice(piece);
                while let Ok(Some(frame)) = frames.next() {
                    out.push(frame);
                }
            }
            assert_eq!(out.len(), 3, "reads of {chunk} bytes");
            assert_eq!(&out[0][..], b"first");
            assert_eq!(&out[1][..], b"second frame");
            assert_eq!(&out[2][..], &[7; 1200][..]);
        }
    }

    #[test]
    fn fuzz_framing_never_panics_and_never_yields_an_impossible_frame() {
        let mut m = crate::fuzzing::Mutator::new(0x5eed_0005);
        let seed = framed(&[b"\x00\x01 a stun request", b"\x80\x60 rtp"]);
        for _ in 0..crate::fuzzing::iterations() / 10 {
            let stream = m.mutate(&[&seed]);
            let mut frames = Frames::default();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let take = (1 + m.below(rest.len())).min(rest.len());
                frames.buffer().extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                loop {
                    match frames.next() {
                        Ok(Some(frame)) => {
                            assert!(!frame.is_empty() && frame.len() <= MAX_FRAME);
                            let _ = binding_request_ufrag(&frame);
                        }
                        Ok(None) => break,
                        // The connection is closed at the first bad frame.
                        Err(()) => {
                            rest = &[];
                            break;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_empty_or_oversized_frame_is_refused() {
        let mut frames = Frames::default();
        frames.buffer().extend_from_slice(&[0, 0]);
        assert!(frames.next().is_err());

        let mut frames = Frames::default();
        frames
            .buffer()
            .extend_from_slice(&((MAX_FRAME + 1) as u16).to_be_bytes());
        assert!(frames.next().is_err(), "refused before its bytes arrive");
    }

    #[test]
    fn only_a_binding_request_names_a_peer() {
        assert_eq!(binding_request_ufrag(b"\x16\xfe\xfd not stun"), None);
        assert_eq!(binding_request_ufrag(&[0; 20]), None);
    }

    #[test]
    fn the_per_address_cap_counts_open_connections() {
        let counts: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
        let ip = IpAddr::from([10, 0, 0, 1]);
        let held: Vec<AddressSlot> = (0..MAX_PER_ADDRESS)
            .map(|_| AddressSlot::take(&counts, ip).expect("under the cap"))
            .collect();
        assert!(AddressSlot::take(&counts, ip).is_none());
        assert!(AddressSlot::take(&counts, IpAddr::from([10, 0, 0, 2])).is_some());
        drop(held);
        let again = AddressSlot::take(&counts, ip);
        assert!(again.is_some(), "closed connections give their slots back");
        drop(again);
        let map = counts.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            map.is_empty(),
            "no entry is kept for an address with nothing open"
        );
    }
}
