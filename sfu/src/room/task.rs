//! The task a room runs in: reads commands from signaling and datagrams from the router (and
//! frames from media connections over TCP), tells the room the time, and sends what it produces
//! on the shared UDP socket (or through those connections).

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use str0m::net::Protocol;
use tokio::net::UdpSocket;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{Room, Transmit};
use crate::handle::{Command, RoomHandle};
use crate::router::{Datagram, RouterCommand};
use crate::{SfuError, SfuInner};

/// Commands from signaling are few; a full queue means the room task is stuck.
const COMMAND_QUEUE: usize = 64;
/// Datagrams waiting for the room task. Past this the router drops (UDP semantics).
const DATAGRAM_QUEUE: usize = 4096;
/// Datagrams handled in one go before outputs are drained, to amortise the drain.
const DATAGRAM_BATCH: usize = 64;
/// Upper bound on how long the task sleeps when no peer asks for a timeout.
const IDLE_TICK: Duration = Duration::from_millis(500);

pub(crate) struct RoomContext {
    pub name: String,
    pub socket: Arc<UdpSocket>,
    pub candidate_addr: SocketAddr,
    pub tcp_candidate_addr: Option<SocketAddr>,
    pub router: mpsc::Sender<RouterCommand>,
    pub sfu: Weak<SfuInner>,
}

/// The shared socket, as the room's way out. A full socket buffer drops the datagram (UDP).
struct Socket<'a>(&'a UdpSocket);

impl Transmit for Socket<'_> {
    fn send(&mut self, destination: SocketAddr, contents: &[u8]) -> bool {
        self.0.try_send_to(contents, destination).is_ok()
    }
}

pub(crate) fn spawn(runtime: &Handle, context: RoomContext) -> RoomHandle {
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (datagram_tx, datagram_rx) = mpsc::channel(DATAGRAM_QUEUE);
    let span = tracing::info_span!("room", room = %context.name);
    let room = Room::new(
        context.name.clone(),
        context.candidate_addr,
        context.tcp_candidate_addr,
        Instant::now(),
    );
    let task = RoomTask {
        context,
        room,
        inbox: datagram_tx,
    };
    runtime.spawn(task.run(command_rx, datagram_rx).instrument(span));
    RoomHandle {
        commands: command_tx,
    }
}

struct RoomTask {
    context: RoomContext,
    room: Room,
    inbox: mpsc::Sender<Datagram>,
}

impl RoomTask {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut datagrams: mpsc::Receiver<Datagram>,
    ) {
        let mut batch = Vec::with_capacity(DATAGRAM_BATCH);
        let socket = self.context.socket.clone();
        loop {
            let deadline = self.room.next_deadline().min(Instant::now() + IDLE_TICK);
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(command) => {
                        self.handle_command(command, Instant::now());
                        self.room.mark_all_for_poll();
                    }
                    None => break,
                },
                received = datagrams.recv_many(&mut batch, DATAGRAM_BATCH) => {
                    if received == 0 {
                        break;
                    }
                    self.room.start_batch(batch.first().map(|d| d.received));
                    for datagram in batch.drain(..) {
                        if datagram.proto == Protocol::Udp {
                            self.room.receive(
                                datagram.peer,
                                datagram.source,
                                datagram.received,
                                &datagram.payload,
                                &mut Socket(&socket),
                            );
                        } else {
                            self.room.receive_tcp(
                                datagram.peer,
                                datagram.source,
                                datagram.received,
                                &datagram.payload,
                                datagram.tcp,
                                &mut Socket(&socket),
                            );
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.room.handle_timeouts(Instant::now());
                }
            }
            self.room.drain(Instant::now(), &mut Socket(&socket));
            self.room.record_holds(Instant::now());
            self.register_restarted();
            self.unregister_departed();
        }
        for ufrag in self.room.close() {
            self.unregister(ufrag);
        }
    }

    fn handle_command(&mut self, command: Command, now: Instant) {
        let room = &mut self.room;
        match command {
            Command::Join {
                participant,
                options,
                events,
                reply,
            } => {
                let _ = reply.send(self.join(participant, options, events, now));
            }
            Command::Offer {
                participant,
                sdp,
                screen_mid,
                reply,
            } => {
                let _ = reply.send(room.offer(&participant, &sdp, screen_mid.as_deref(), now));
            }
            Command::Answer {
                participant,
                sdp,
                reply,
            } => {
                let _ = reply.send(room.answer(&participant, &sdp, now));
            }
            Command::Candidate {
                participant,
                candidate,
                reply,
            } => {
                let _ = reply.send(room.candidate(&participant, &candidate));
            }
            Command::View { participant, tiles } => room.set_view(&participant, &tiles, now),
            Command::AudioOnly {
                participant,
                enabled,
            } => room.set_audio_only(&participant, enabled, now),
            Command::Caucus { caucus } => room.set_caucus(caucus, now),
            Command::HostsOnly {
                participant,
                hosts_only,
            } => room.set_hosts_only(&participant, hosts_only, now),
            Command::Tap { events, reply } => {
                room.tap(events, now);
                let _ = reply.send(());
            }
            Command::RequestKeyframe { participant } => room.request_keyframe(&participant, now),
            Command::Stats { reset, reply } => {
                let _ = reply.send(room.stats(reset));
            }
            Command::Leave { participant } => room.leave(&participant),
            Command::Rebind {
                participant,
                events,
                reply,
            } => {
                let _ = reply.send(room.rebind(&participant, events));
            }
        }
    }

    fn join(
        &mut self,
        participant: crate::ParticipantId,
        options: crate::JoinOptions,
        events: mpsc::Sender<crate::PeerEvent>,
        now: Instant,
    ) -> Result<(), SfuError> {
        let sfu = self.context.sfu.upgrade().ok_or(SfuError::RoomClosed)?;
        let key = sfu.allocate_peer_key();
        let credentials = self
            .room
            .join(key, participant.clone(), options, events, now)?;
        let registration = RouterCommand::Register {
            ufrag: credentials.ufrag,
            password: credentials.pass,
            peer: key,
            inbox: self.inbox.clone(),
        };
        if self.context.router.try_send(registration).is_err() {
            self.room.leave(&participant);
            self.unregister_departed();
            return Err(SfuError::RoomClosed);
        }
        Ok(())
    }

    /// Peers that restarted ICE are found by their new credentials from now on.
    fn register_restarted(&mut self) {
        let restarted: Vec<(crate::ids::PeerKey, str0m::IceCreds)> =
            self.room.take_registrations().collect();
        for (peer, credentials) in restarted {
            let registration = RouterCommand::Register {
                ufrag: credentials.ufrag,
                password: credentials.pass,
                peer,
                inbox: self.inbox.clone(),
            };
            // A full router queue is a router that is stuck: the peer's restart then fails and
            // the client falls back to a new connection.
            let _ = self.context.router.try_send(registration);
        }
    }

    fn unregister_departed(&mut self) {
        let departed: Vec<String> = self.room.take_departed().collect();
        for ufrag in departed {
            self.unregister(ufrag);
        }
    }

    fn unregister(&self, ufrag: String) {
        // If the router's queue is full the route lingers until the ufrag is reused, which
        // never happens (random ufrags); the datagrams it routes find no peer and are dropped.
        let _ = self
            .context
            .router
            .try_send(RouterCommand::Unregister { ufrag });
    }
}
