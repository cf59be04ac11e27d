//! Reads the shared UDP socket and hands each datagram to the room owning its peer.
//!
//! A peer is first known by the ICE username fragment the SFU gave it; its first STUN binding
//! request names that fragment and reveals the peer's address, from then on datagrams from that
//! address (DTLS, SRTP, more STUN) go straight to its room. A peer that changes network sends a
//! new binding request from its new address and is found again the same way. Media
//! connections over TCP ([`crate::ice_tcp`]) ask the router once which peer a fragment names,
//! then send to its room themselves.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use str0m::ice::StunMessage;
use str0m::net::Protocol;
use tokio::net::UdpSocket;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::ice_tcp::TcpLink;
use crate::ids::PeerKey;

/// HMAC-SHA1 over `parts` under `key`, as STUN's MESSAGE-INTEGRITY is computed (and coturn's
/// REST passwords for TURN).
pub fn sha1_hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length.
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Capacity of the router's command queue (registrations are rare).
const COMMAND_QUEUE: usize = 256;
/// Receive buffers are carved out of arenas of this size so a datagram costs no allocation of
/// its own; a fresh arena is allocated only when the previous one is used up.
const ARENA_BYTES: usize = 256 * 1024;
/// Largest datagram we accept (above any sane MTU).
const MAX_DATAGRAM: usize = 2048;
/// Addresses kept per peer: its current path and a few it may come back from (Wi-Fi and 4G,
/// a NAT rebinding). The oldest goes first, so a peer that hops ports cannot grow the map.
const MAX_ADDRESSES_PER_PEER: usize = 8;

/// One received datagram on its way to a room: from the UDP socket, or a frame of a media
/// connection over TCP ([`crate::ice_tcp`]).
pub(crate) struct Datagram {
    pub peer: PeerKey,
    pub source: SocketAddr,
    pub received: Instant,
    pub payload: Bytes,
    pub proto: Protocol,
    /// With the first frame of a TCP connection: how the room sends back through it.
    pub tcp: Option<TcpLink>,
}

pub(crate) enum RouterCommand {
    Register {
        ufrag: String,
        /// Our ICE password for the peer: only STUN signed with it teaches an address.
        password: String,
        peer: PeerKey,
        inbox: mpsc::Sender<Datagram>,
    },
    Unregister {
        ufrag: String,
    },
    /// Which peer, in which room, a media connection over TCP belongs to, from its first
    /// frame: a STUN binding request signed for that peer.
    Lookup {
        request: Bytes,
        reply: oneshot::Sender<Option<(PeerKey, mpsc::Sender<Datagram>)>>,
    },
}

#[derive(Clone)]
struct Route {
    peer: PeerKey,
    inbox: mpsc::Sender<Datagram>,
    password: String,
}

pub(crate) fn spawn(runtime: &Handle, socket: Arc<UdpSocket>) -> mpsc::Sender<RouterCommand> {
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    runtime.spawn(run(socket, rx));
    tx
}

#[derive(Default)]
struct Routes {
    by_ufrag: HashMap<String, Route>,
    by_addr: HashMap<SocketAddr, (Route, String)>,
    /// The addresses learnt for each ufrag, oldest first.
    learnt: HashMap<String, VecDeque<SocketAddr>>,
    /// Datagrams dropped because their room's queue was full (the room is overloaded) or no
    /// route was known; counted, never logged per packet.
    dropped_full: u64,
    dropped_unrouted: u64,
    /// Binding requests naming a peer but not signed with its password.
    forged: u64,
}

async fn run(socket: Arc<UdpSocket>, mut commands: mpsc::Receiver<RouterCommand>) {
    let mut routes = Routes::default();
    let mut arena = BytesMut::with_capacity(ARENA_BYTES);
    loop {
        if arena.capacity() - arena.len() < MAX_DATAGRAM {
            arena = BytesMut::with_capacity(ARENA_BYTES);
        }
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => routes.apply(command),
                None => break,
            },
            received = socket.recv_buf_from(&mut arena) => match received {
                Ok((_, source)) => {
                    let payload = arena.split().freeze();
                    routes.route(source, payload);
                }
                // ICMP port-unreachable from a vanished peer surfaces here on Linux; it is not
                // fatal for the socket.
                Err(error) => tracing::debug!(%error, "udp receive failed"),
            },
        }
    }
    tracing::debug!(
        dropped_full = routes.dropped_full,
        dropped_unrouted = routes.dropped_unrouted,
        forged = routes.forged,
        "media router stopped"
    );
}

impl Routes {
    fn apply(&mut self, command: RouterCommand) {
        match command {
            RouterCommand::Register {
                ufrag,
                password,
                peer,
                inbox,
            } => {
                let route = Route {
                    peer,
                    inbox,
                    password,
                };
                self.by_ufrag.insert(ufrag, route);
            }
            RouterCommand::Unregister { ufrag } => {
                self.by_ufrag.remove(&ufrag);
                for address in self.learnt.remove(&ufrag).unwrap_or_default() {
                    self.by_addr.remove(&address);
                }
            }
            RouterCommand::Lookup { request, reply } => {
                let route = self
                    .signed_ufrag(&request)
                    .and_then(|ufrag| self.by_ufrag.get(&ufrag))
                    .map(|route| (route.peer, route.inbox.clone()));
                let _ = reply.send(route);
            }
        }
    }

    fn route(&mut self, source: SocketAddr, payload: Bytes) {
        self.learn_from_stun(source, &payload);
        let Some((route, _)) = self.by_addr.get(&source) else {
            self.dropped_unrouted += 1;
            return;
        };
        let datagram = Datagram {
            peer: route.peer,
            source,
            received: Instant::now(),
            payload,
            proto: Protocol::Udp,
            tcp: None,
        };
        if route.inbox.try_send(datagram).is_err() {
            // Overload policy: UDP semantics. The room is behind; dropping is what the network
            // would do, and NACK/PLI recover what matters.
            self.dropped_full += 1;
        }
    }

    /// A STUN binding request names the peer by our ufrag and is signed with our password for
    /// it: learn (or re-learn) its address. An unsigned or forged one teaches nothing, so
    /// nobody can divert a peer's media to an address of their choosing.
    fn learn_from_stun(&mut self, source: SocketAddr, payload: &[u8]) {
        // STUN messages start with two zero bits (RFC 7983 demultiplexing).
        if payload.first().is_none_or(|b| *b > 3) {
            return;
        }
        let Some(local_ufrag) = self.signed_ufrag(payload) else {
            return;
        };
        let Some(route) = self.by_ufrag.get(&local_ufrag) else {
            return;
        };
        let known = self
            .by_addr
            .get(&source)
            .is_some_and(|(known, _)| known.peer == route.peer);
        if known {
            return;
        }
        let entry = (route.clone(), local_ufrag.clone());
        if let Some((_, previous_owner)) = self.by_addr.insert(source, entry) {
            // The address moved from another peer (a NAT reused it).
            if let Some(theirs) = self.learnt.get_mut(&previous_owner) {
                theirs.retain(|a| *a != source);
            }
        }
        let learnt = self.learnt.entry(local_ufrag).or_default();
        learnt.push_back(source);
        while learnt.len() > MAX_ADDRESSES_PER_PEER {
            if let Some(oldest) = learnt.pop_front() {
                self.by_addr.remove(&oldest);
            }
        }
    }

    /// Our ufrag a STUN binding request names, if it is signed with our password for that
    /// peer.
    fn signed_ufrag(&mut self, payload: &[u8]) -> Option<String> {
        let message = StunMessage::parse(payload).ok()?;
        if !message.is_binding_request() {
            return None;
        }
        let (local_ufrag, _) = message.split_username()?;
        let route = self.by_ufrag.get(local_ufrag)?;
        if !message.verify(route.password.as_bytes(), sha1_hmac) {
            self.forged += 1;
            return None;
        }
        Some(local_ufrag.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use str0m::ice::TransId;

    use super::*;

    /// A binding request from a browser to the peer `ufrag`, signed with `password`.
    fn binding_request(ufrag: &str, password: &str) -> Bytes {
        let username = format!("{ufrag}:browser");
        let message = StunMessage::binding_request(&username, TransId::new(), true, 7, 100, false);
        let mut buffer = [0u8; 512];
        let length = message
            .to_bytes(Some(password.as_bytes()), &mut buffer, sha1_hmac)
            .expect("a binding request fits");
        Bytes::copy_from_slice(&buffer[..length])
    }

    fn routes_with_peer() -> (Routes, mpsc::Receiver<Datagram>) {
        let (inbox, received) = mpsc::channel(8);
        let mut routes = Routes::default();
        routes.apply(RouterCommand::Register {
            ufrag: "ourfrag1".into(),
            password: "our-password-for-the-peer".into(),
            peer: PeerKey(1),
            inbox,
        });
        (routes, received)
    }

    #[test]
    fn a_signed_binding_request_teaches_the_peers_address() {
        let (mut routes, mut received) = routes_with_peer();
        let source = SocketAddr::from(([10, 0, 0, 2], 40000));
        routes.route(
            source,
            binding_request("ourfrag1", "our-password-for-the-peer"),
        );
        let datagram = received.try_recv().expect("routed to the peer's room");
        assert_eq!(datagram.peer, PeerKey(1));
        // From then on, anything from that address goes to the peer.
        routes.route(source, Bytes::from_static(b"\x80\x60 rtp"));
        assert!(received.try_recv().is_ok());
    }

    #[test]
    fn a_forged_binding_request_teaches_nothing() {
        let (mut routes, mut received) = routes_with_peer();
        let attacker = SocketAddr::from(([10, 0, 0, 66], 40000));
        routes.route(attacker, binding_request("ourfrag1", "a-guessed-password"));
        routes.route(attacker, Bytes::from_static(b"\x80\x60 rtp"));
        assert!(
            received.try_recv().is_err(),
            "nothing from the forger reaches the room"
        );
        assert_eq!(routes.forged, 1);
        assert!(routes.by_addr.is_empty());
    }

    #[test]
    fn fuzz_datagrams_from_anywhere_route_nowhere_unless_signed() {
        let (mut routes, mut received) = routes_with_peer();
        let seed = binding_request("ourfrag1", "a-guessed-password");
        let mut m = crate::fuzzing::Mutator::new(0x5eed_0006);
        for _ in 0..crate::fuzzing::iterations() {
            let datagram = Bytes::from(m.mutate(&[&seed, b"\x80\x60 rtp", b"\x16\xfe\xfd"]));
            let port = 1024 + m.below(60_000) as u16;
            routes.route(SocketAddr::from(([10, 0, 0, 9], port)), datagram);
        }
        assert!(
            received.try_recv().is_err(),
            "nothing unsigned reached the room"
        );
        assert!(routes.by_addr.is_empty());
    }

    #[test]
    fn a_peer_hopping_addresses_keeps_only_its_latest_few() {
        let (mut routes, mut received) = routes_with_peer();
        let request = binding_request("ourfrag1", "our-password-for-the-peer");
        for port in 0..100u16 {
            routes.route(
                SocketAddr::from(([10, 0, 0, 2], 40000 + port)),
                request.clone(),
            );
        }
        assert_eq!(routes.by_addr.len(), MAX_ADDRESSES_PER_PEER);
        // The latest still routes; the first no longer does.
        while received.try_recv().is_ok() {}
        routes.route(
            SocketAddr::from(([10, 0, 0, 2], 40099)),
            Bytes::from_static(b"\x80\x60 rtp"),
        );
        assert!(received.try_recv().is_ok());
        routes.route(
            SocketAddr::from(([10, 0, 0, 2], 40000)),
            Bytes::from_static(b"\x80\x60 rtp"),
        );
        assert!(received.try_recv().is_err());
        routes.apply(RouterCommand::Unregister {
            ufrag: "ourfrag1".into(),
        });
        assert!(routes.by_addr.is_empty() && routes.learnt.is_empty());
    }
}
