//! A headless participant: real signaling, a real WebRTC connection (webrtc-rs 0.21), Opus and
//! VP8 published as RTP (synthetic payloads, or a real encoded clip looped, see
//! [`crate::clip`]), and counters for everything received (packets, loss, frames, freezes,
//! forwarding delay; see [`crate::stats`]).
//!
//! Tasks, all owned by [`Peer`] and aborted when it is dropped:
//! - the signaling pump (see [`crate::signal`]);
//! - the negotiation task: applies the server's `answer`/`offer`/`candidate`, trickles our
//!   candidates, and passes every message on to the peer's [`Inbox`];
//! - the publisher: audio every 20 ms, video at ~30 fps, keyframes at the start and on request
//!   (a looping clip cannot encode a keyframe on demand: it skips ahead to the clip's next one);
//! - the keyframe-request listener (PLI/FIR from the SFU, delivered by a small interceptor);
//! - one reader per received track, which only counts (FIELD-NOTES: keep readers fast).
//!
//! One module per job: `types` (the public vocabulary), `connection` (building the webrtc-rs
//! connection, its event handler), `negotiation` (the negotiation task), `tracks` (what we
//! publish), `publish` (the publishers), `keyframes` (PLI/FIR in), `receive` (counting what
//! arrives); this file is the [`Peer`] handle that owns them.

mod connection;
mod keyframes;
mod negotiation;
mod publish;
mod receive;
mod tracks;
mod types;

pub use types::{
    JoinAs, MediaKind, MediaSource, MessageChannel, PeerOptions, PublishCounters, ReceivedMedia,
    StreamCounts,
};

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use crate::signal::{Inbox, Outgoing, SignalClient};
use connection::{build_peer_connection, Handler};
use keyframes::listen_for_keyframe_requests;
use negotiation::Negotiation;
use publish::{publish, publish_clip, ClipPublisher};
use tracks::LocalTracks;

/// Default threshold for "is receiving": a few dozen packets.
pub const DEFAULT_MIN_PACKETS: u64 = 30;
/// How often a receiver without a keyframe asks for one.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// No completed video frame for longer than this, while the stream is live, is a freeze.
pub const FREEZE_THRESHOLD: Duration = Duration::from_millis(500);

/// A participant in a session with a live WebRTC connection to the SFU.
pub struct Peer {
    participant_id: String,
    joined: Value,
    inbox: Inbox,
    out: mpsc::UnboundedSender<Outgoing>,
    pc: Arc<dyn PeerConnection>,
    received: watch::Receiver<ReceivedMedia>,
    connection: watch::Receiver<RTCPeerConnectionState>,
    negotiated: watch::Receiver<u64>,
    published: Arc<PublishCounters>,
    errors: Arc<Mutex<Vec<String>>>,
    tasks: Tasks,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Tasks aborted when dropped (also when [`Peer::start`] fails half-way).
struct Tasks(Vec<JoinHandle<()>>);

impl Tasks {
    fn abort_all(&mut self) {
        for task in self.0.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("participant_id", &self.participant_id)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Connects to `ws_url`, joins, and once `joined` arrives starts WebRTC. Fails if the server
    /// answers `lobby` or `error` instead (use [`SignalClient`] and [`Peer::start`] for those flows).
    pub async fn join(ws_url: &str, how: JoinAs<'_>, timeout: Duration) -> Result<Peer> {
        Self::join_with(ws_url, how, PeerOptions::default(), timeout).await
    }

    pub async fn join_with(
        ws_url: &str,
        how: JoinAs<'_>,
        options: PeerOptions,
        timeout: Duration,
    ) -> Result<Peer> {
        let (signal, joined) = SignalClient::connect_and_join(ws_url, how, timeout).await?;
        Peer::start(signal, joined, options).await
    }

    /// Takes over a signaling connection that has just received `joined`: builds the peer
    /// connection, sends our offer, and starts negotiating and publishing.
    pub async fn start(signal: SignalClient, joined: Value, options: PeerOptions) -> Result<Peer> {
        let (out, inbox, pump) = signal.into_parts()?;
        Self::start_on(
            MessageChannel {
                out,
                inbox,
                task: Some(pump),
                server_offers_first: false,
            },
            joined,
            options,
        )
        .await
    }

    /// Like [`Peer::start`], over any [`MessageChannel`] speaking Concord's message shapes: the
    /// seam for other servers' signaling (an adapter task translates, see
    /// [`crate::adapter`]). `joined` needs a `participant_id` (it names our published stream).
    pub async fn start_on(
        channel: MessageChannel,
        joined: Value,
        options: PeerOptions,
    ) -> Result<Peer> {
        let participant_id = joined
            .get("participant_id")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("`joined` has no participant_id: {joined}"))?
            .to_owned();

        let MessageChannel {
            out,
            inbox: pump_inbox,
            task,
            server_offers_first,
        } = channel;
        let (peer_tx, peer_rx) = mpsc::unbounded_channel();
        let (cand_tx, cand_rx) = mpsc::unbounded_channel();
        let (received_tx, received_rx) = watch::channel(ReceivedMedia::new());
        let (state_tx, state_rx) = watch::channel(RTCPeerConnectionState::New);
        let (negotiated_tx, negotiated_rx) = watch::channel(0u64);
        let readers = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));

        let handler = Arc::new(Handler {
            request_missing_keyframes: options.request_missing_keyframes,
            send_log: options.send_log.clone(),
            candidates: cand_tx,
            received: received_tx,
            state: state_tx,
            readers: Arc::clone(&readers),
        });
        let pc = build_peer_connection(handler, options.local_ip).await?;

        let published = Arc::new(PublishCounters::default());
        let mut tasks = Tasks(task.into_iter().collect());
        let mut publisher = None;
        if !options.publish && !server_offers_first {
            // Observers only receive; the offer still needs media sections to bundle.
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                let init = RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    ..Default::default()
                };
                pc.add_transceiver_from_kind(kind, Some(init))
                    .await
                    .context("add a receive-only transceiver")?;
            }
        } else if options.publish {
            let rids = match &options.source {
                MediaSource::Simulcast(clips) => clips.rids(),
                _ => Vec::new(),
            };
            let tracks = LocalTracks::add_to(&pc, &participant_id, &rids).await?;
            tasks.0.push(tokio::spawn(listen_for_keyframe_requests(
                Arc::clone(&tracks.video),
                Arc::clone(&tracks.keyframes),
                Arc::clone(&published),
            )));
            publisher = Some(tracks);
        }

        // Our offer goes out before any candidate: candidates wait in `cand_rx` until the
        // negotiation task starts.
        if !server_offers_first {
            let offer = pc.create_offer(None).await.context("create_offer")?;
            pc.set_local_description(offer)
                .await
                .context("set_local_description(offer)")?;
            let sdp = pc
                .local_description()
                .await
                .ok_or_else(|| anyhow!("no local description after set_local_description"))?
                .sdp;
            out.send(Outgoing::Text(
                json!({"type": "offer", "sdp": sdp}).to_string(),
            ))
            .map_err(|_| anyhow!("signaling socket closed before our offer"))?;
        }

        let negotiation = Negotiation {
            pc: Arc::clone(&pc),
            out: out.clone(),
            to_test: peer_tx,
            negotiated: negotiated_tx,
            errors: Arc::clone(&errors),
            awaiting_answer: !server_offers_first,
            stashed_offers: Vec::new(),
        };
        tasks
            .0
            .push(tokio::spawn(negotiation.run(pump_inbox, cand_rx)));

        if let Some(tracks) = publisher {
            let task = match options.source.clone() {
                MediaSource::Synthetic => tokio::spawn(publish(
                    tracks,
                    options,
                    negotiated_rx.clone(),
                    state_rx.clone(),
                    Arc::clone(&published),
                )),
                MediaSource::Clip(clip) => tokio::spawn(publish_clip(
                    tracks,
                    vec![clip],
                    ClipPublisher {
                        stream_id: participant_id.clone(),
                        send_log: options.send_log.clone(),
                        counters: Arc::clone(&published),
                        pc: None,
                    },
                    negotiated_rx.clone(),
                    state_rx.clone(),
                )),
                MediaSource::Simulcast(clips) => tokio::spawn(publish_clip(
                    tracks,
                    clips.layers.iter().map(|l| Arc::clone(&l.clip)).collect(),
                    ClipPublisher {
                        stream_id: participant_id.clone(),
                        send_log: options.send_log.clone(),
                        counters: Arc::clone(&published),
                        pc: Some(Arc::clone(&pc)),
                    },
                    negotiated_rx.clone(),
                    state_rx.clone(),
                )),
            };
            tasks.0.push(task);
        }

        Ok(Peer {
            participant_id,
            joined,
            inbox: Inbox::new(peer_rx),
            out,
            pc,
            received: received_rx,
            connection: state_rx,
            negotiated: negotiated_rx,
            published,
            errors,
            tasks,
            readers,
        })
    }

    pub fn participant_id(&self) -> &str {
        &self.participant_id
    }

    /// The `joined` message this peer started from.
    pub fn joined(&self) -> &Value {
        &self.joined
    }

    /// Sends one signaling message.
    pub fn send(&self, msg: Value) -> Result<()> {
        self.out
            .send(Outgoing::Text(msg.to_string()))
            .map_err(|_| anyhow!("signaling socket is closed"))
    }

    /// Signaling messages received (all of them, including the SDP ones the peer handled).
    pub fn inbox(&mut self) -> &mut Inbox {
        &mut self.inbox
    }

    pub async fn expect(&mut self, ty: &str, timeout: Duration) -> Result<Value> {
        self.inbox.expect(ty, timeout).await
    }

    pub async fn expect_error(&mut self, code: &str, timeout: Duration) -> Result<Value> {
        self.inbox.expect_error(code, timeout).await
    }

    pub async fn expect_closed(&mut self, timeout: Duration) -> Result<Vec<Value>> {
        self.inbox.expect_closed(timeout).await
    }

    /// Sends `ping`, waits for `pong`, returns the messages that arrived before it.
    pub async fn round_trip(&mut self, timeout: Duration) -> Result<Vec<Value>> {
        self.send(json!({"type": "ping"}))?;
        self.inbox.messages_until("pong", timeout).await
    }

    /// A snapshot of what was received so far.
    pub fn received(&self) -> ReceivedMedia {
        self.received.borrow().clone()
    }

    /// Packets received from `publisher` of `kind`.
    pub fn packets_from(&self, publisher: &str, kind: MediaKind) -> u64 {
        self.received
            .borrow()
            .get(&(publisher.to_owned(), kind))
            .map_or(0, |c| c.packets)
    }

    /// What this peer published.
    pub fn published(&self) -> &PublishCounters {
        &self.published
    }

    /// Negotiation errors seen by the peer (failed SDP application and the like).
    pub fn negotiation_errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// How many offer/answer exchanges have completed.
    pub fn negotiations(&self) -> u64 {
        *self.negotiated.borrow()
    }

    /// Waits until at least [`DEFAULT_MIN_PACKETS`] packets of every kind in `kinds` arrived
    /// from every participant in `publishers`.
    pub async fn wait_until_receiving_from(
        &self,
        publishers: &[&str],
        kinds: &[MediaKind],
        timeout: Duration,
    ) -> Result<ReceivedMedia> {
        self.wait_until_received(publishers, kinds, DEFAULT_MIN_PACKETS, timeout)
            .await
    }

    /// Waits until at least `min_packets` of every kind in `kinds` arrived from every
    /// participant in `publishers`. Event-driven: woken by every counted packet.
    pub async fn wait_until_received(
        &self,
        publishers: &[&str],
        kinds: &[MediaKind],
        min_packets: u64,
        timeout: Duration,
    ) -> Result<ReceivedMedia> {
        let what = format!("{min_packets} packets of {kinds:?} from each of {publishers:?}");
        self.wait_until(&what, timeout, |m| {
            publishers.iter().all(|p| {
                kinds.iter().all(|k| {
                    m.get(&((*p).to_owned(), *k))
                        .is_some_and(|c| c.packets >= min_packets)
                })
            })
        })
        .await
    }

    /// Waits until a VP8 keyframe arrived from every participant in `publishers` (so a decoder
    /// could start on each of their videos).
    pub async fn wait_until_keyframe_from(
        &self,
        publishers: &[&str],
        timeout: Duration,
    ) -> Result<ReceivedMedia> {
        let what = format!("a video keyframe from each of {publishers:?}");
        self.wait_until(&what, timeout, |m| {
            publishers.iter().all(|p| {
                m.get(&((*p).to_owned(), MediaKind::Video))
                    .is_some_and(|c| c.keyframes >= 1)
            })
        })
        .await
    }

    /// Waits until `done` holds for what was received, re-checking on every counted packet.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&ReceivedMedia) -> bool,
    ) -> Result<ReceivedMedia> {
        let mut rx = self.received.clone();
        let outcome = tokio::time::timeout(timeout, async {
            rx.wait_for(|m| done(m)).await.map(|m| m.clone())
        })
        .await;
        match outcome {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(_)) => bail!("{}: peer connection gone", self.participant_id),
            Err(_) => bail!(
                "{} did not receive {what} within {timeout:?}; received {:?}; connection {:?}; \
                 published audio {} video {} (write errors {}), keyframes sent {} on {} requests; \
                 negotiations {}; errors {:?}",
                self.participant_id,
                self.received(),
                *self.connection.borrow(),
                self.published.audio_packets.load(Ordering::Relaxed),
                self.published.video_packets.load(Ordering::Relaxed),
                self.published.write_errors.load(Ordering::Relaxed),
                self.published.keyframes_sent.load(Ordering::Relaxed),
                self.published.keyframe_requests.load(Ordering::Relaxed),
                self.negotiations(),
                self.negotiation_errors(),
            ),
        }
    }

    /// Waits until the WebRTC connection state is `Connected`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.connection.clone();
        let outcome = tokio::time::timeout(timeout, async {
            rx.wait_for(|s| *s == RTCPeerConnectionState::Connected)
                .await
                .map(|_| ())
        })
        .await;
        match outcome {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => bail!("{}: peer connection gone", self.participant_id),
            Err(_) => bail!(
                "{}: not connected within {timeout:?} (state {:?})",
                self.participant_id,
                *self.connection.borrow()
            ),
        }
    }

    /// Sends `leave` and waits for the server to close the socket.
    pub async fn leave(&mut self, timeout: Duration) -> Result<Vec<Value>> {
        self.send(json!({"type": "leave"}))?;
        self.inbox.expect_closed(timeout).await
    }

    /// Closes the WebRTC connection and stops every task.
    pub async fn close(mut self) {
        let _ = self.pc.close().await;
        self.stop_tasks();
    }

    fn stop_tasks(&mut self) {
        self.tasks.abort_all();
        if let Ok(mut readers) = self.readers.lock() {
            for task in readers.drain(..) {
                task.abort();
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop_tasks();
    }
}
