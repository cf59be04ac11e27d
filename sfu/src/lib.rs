//! The selective forwarding unit.
//!
//! Every participant sends its audio and video once; the SFU forwards it to everyone else in the
//! room. All peers share one UDP port: [`router`] reads the socket and hands each datagram to the
//! room that owns the peer, found by the ICE username of its STUN checks; where UDP is blocked,
//! a peer's media comes over TCP instead ([`ice_tcp`]). A room's state lives in
//! one task ([`room`]) that owns every peer's `str0m::Rtc`; the rest of the server talks to it
//! through a [`RoomHandle`]. This crate knows nothing of HTTP, accounts or the database.

mod assemble;
mod error;
mod forwarding;
pub mod fuzzing;
mod handle;
mod ice_tcp;
mod ids;
mod incoming;
mod media_thread;
mod outgoing;
#[doc(hidden)]
pub mod packetize;
mod payload;
mod peer;
mod room;
mod router;
mod sequence;
#[cfg(test)]
mod sim;
mod skipped;
mod stats;
mod tap;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use assemble::{AssemblerStats, FrameAssembler, TappedFrame};
pub use error::SfuError;
pub use forwarding::quality::QualityLevel;
pub use handle::{Caucus, JoinOptions, PeerEvent, QualityReport, RoomHandle, TileView, VideoPause};
pub use ids::{screen_stream_id, ParticipantId, SCREEN_SUFFIX};
pub use router::sha1_hmac;
pub use stats::RoomStats;
pub use tap::{SenderReport, TapCodec, TapEvent, TapKind, TappedPacket};

/// Where the SFU listens and what address it tells browsers to send media to.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP address to bind (port 0 picks a free port).
    pub bind: SocketAddr,
    /// The address put in the ICE candidate. Behind a 1:1 NAT this is the public address;
    /// `None` advertises the bound address.
    pub advertised: Option<SocketAddr>,
    /// Threads forwarding media; rooms are spread over them. 0: one per CPU core.
    pub media_threads: usize,
    /// Media over TCP (ICE-TCP) for networks that block UDP: the TCP port to listen on, on
    /// the UDP address's IP, and to advertise; `Some(0)`: the same number as the UDP port;
    /// `None`: off.
    pub tcp_port: Option<u16>,
}

/// A running SFU: one UDP socket and its router task. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<SfuInner>,
}

struct SfuInner {
    media: media_thread::MediaThreads,
    socket: Arc<UdpSocket>,
    local_addr: SocketAddr,
    candidate_addr: SocketAddr,
    tcp_local_addr: Option<SocketAddr>,
    tcp_candidate_addr: Option<SocketAddr>,
    router: mpsc::Sender<router::RouterCommand>,
    next_peer_key: AtomicU64,
    /// Every room started, weakly: for [`Sfu::stats`] only, never on the forwarding path.
    rooms: Mutex<Vec<mpsc::WeakSender<handle::Command>>>,
}

impl Sfu {
    /// Binds the UDP socket and starts the router. The router stops when the last `Sfu` clone
    /// and every room are dropped.
    pub async fn bind(config: SfuConfig) -> Result<Sfu, SfuError> {
        let threads = match config.media_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let media = media_thread::MediaThreads::start(threads).map_err(SfuError::Bind)?;
        let socket = std::net::UdpSocket::bind(config.bind).map_err(SfuError::Bind)?;
        socket.set_nonblocking(true).map_err(SfuError::Bind)?;
        // Registered with the media thread's reactor: its readiness wakes that thread only.
        let socket = {
            let _entered = media.router().enter();
            UdpSocket::from_std(socket).map_err(SfuError::Bind)?
        };
        let local_addr = socket.local_addr().map_err(SfuError::Bind)?;
        let candidate_addr = match config.advertised {
            Some(addr) if addr.port() == 0 => SocketAddr::new(addr.ip(), local_addr.port()),
            Some(addr) => addr,
            None => local_addr,
        };
        let socket = Arc::new(socket);
        let router = router::spawn(media.router(), socket.clone());
        tracing::info!(%local_addr, %candidate_addr, "media socket bound");
        let (tcp_local_addr, tcp_candidate_addr) = match config.tcp_port {
            None => (None, None),
            Some(port) => {
                let listener = if port == 0 {
                    // The UDP port's number if it is free for TCP too, else any.
                    std::net::TcpListener::bind(local_addr).or_else(|error| {
                        tracing::warn!(%error, "media tcp port taken: listening on another");
                        std::net::TcpListener::bind(SocketAddr::new(local_addr.ip(), 0))
                    })
                } else {
                    std::net::TcpListener::bind(SocketAddr::new(local_addr.ip(), port))
                }
                .map_err(SfuError::Bind)?;
                listener.set_nonblocking(true).map_err(SfuError::Bind)?;
                let listener = {
                    let _entered = media.router().enter();
                    tokio::net::TcpListener::from_std(listener).map_err(SfuError::Bind)?
                };
                let tcp_local = listener.local_addr().map_err(SfuError::Bind)?;
                let advertised = SocketAddr::new(candidate_addr.ip(), tcp_local.port());
                ice_tcp::spawn(media.router(), listener, router.clone());
                tracing::info!(%tcp_local, %advertised, "media over tcp listening");
                (Some(tcp_local), Some(advertised))
            }
        };
        Ok(Sfu {
            inner: Arc::new(SfuInner {
                media,
                socket,
                local_addr,
                candidate_addr,
                tcp_local_addr,
                tcp_candidate_addr,
                router,
                next_peer_key: AtomicU64::new(1),
                rooms: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The address advertised in ICE candidates.
    pub fn candidate_addr(&self) -> SocketAddr {
        self.inner.candidate_addr
    }

    /// The bound TCP address for media over TCP, if it is on.
    pub fn tcp_local_addr(&self) -> Option<SocketAddr> {
        self.inner.tcp_local_addr
    }

    /// Starts a room task. It runs until every handle to it is dropped or it is closed.
    pub fn create_room(&self, name: &str) -> RoomHandle {
        let room = room::task::spawn(
            self.inner.media.for_room(),
            room::task::RoomContext {
                name: name.to_owned(),
                socket: self.inner.socket.clone(),
                candidate_addr: self.inner.candidate_addr,
                tcp_candidate_addr: self.inner.tcp_candidate_addr,
                router: self.inner.router.clone(),
                sfu: Arc::downgrade(&self.inner),
            },
        );
        let mut rooms = self.inner.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.retain(|weak| weak.strong_count() > 0);
        rooms.push(room.downgrade());
        room
    }

    /// The counters of every running room; `reset` starts them again.
    pub async fn stats(&self, reset: bool) -> Vec<RoomStats> {
        let rooms: Vec<RoomHandle> = {
            let rooms = self.inner.rooms.lock().unwrap_or_else(|e| e.into_inner());
            rooms.iter().filter_map(RoomHandle::upgrade).collect()
        };
        let mut stats = Vec::with_capacity(rooms.len());
        for room in rooms {
            // A room that closed meanwhile has nothing to report.
            if let Ok(room_stats) = room.stats(reset).await {
                stats.push(room_stats);
            }
        }
        stats
    }
}

impl SfuInner {
    fn allocate_peer_key(&self) -> ids::PeerKey {
        ids::PeerKey(self.next_peer_key.fetch_add(1, Ordering::Relaxed))
    }
}
