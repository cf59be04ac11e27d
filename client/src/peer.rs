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

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use rtc::interceptor::{Attribute, Interceptor, Packet as InterceptorPacket, Slot, StreamInfo};
use rtc::interceptor::{Registry, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;
use webrtc::runtime::TokioRuntime;

use crate::clip::Clip;
use crate::media;
use crate::signal::{msg_type, Inbox, Incoming, Outgoing, SignalClient};
use crate::stats::{DelayMatcher, SendLog, SeqTracker};

/// Payload types we offer (the only codec of each kind we register).
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;
/// Default threshold for "is receiving": a few dozen packets.
pub const DEFAULT_MIN_PACKETS: u64 = 30;
/// How often a receiver without a keyframe asks for one.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// No completed video frame for longer than this, while the stream is live, is a freeze.
pub const FREEZE_THRESHOLD: Duration = Duration::from_millis(500);
/// How long one step of negotiation may take inside the negotiation task.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        })
    }
}

impl MediaKind {
    pub const BOTH: [MediaKind; 2] = [MediaKind::Audio, MediaKind::Video];

    fn from_codec_kind(kind: RtpCodecKind) -> Option<Self> {
        match kind {
            RtpCodecKind::Audio => Some(MediaKind::Audio),
            RtpCodecKind::Video => Some(MediaKind::Video),
            _ => None,
        }
    }
}

/// What one peer received from one publisher for one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamCounts {
    /// Number of remote tracks announced for this (publisher, kind).
    pub tracks: u32,
    pub packets: u64,
    pub bytes: u64,
    /// RTP packets that start a VP8 keyframe.
    pub keyframes: u64,
    /// PLIs this peer sent because no keyframe had arrived yet.
    pub plis_sent: u64,
    /// Whether a track of this (publisher, kind) has ended.
    pub ended: bool,
    /// Packets missing from the received sequence numbers (the SFU → peer leg; the SFU renumbers,
    /// so losses before the SFU show as missing frames instead).
    pub lost: u64,
    /// Frames received whole: VP8 frames from the S-bit packet to the marker without a sequence
    /// gap; every Opus packet.
    pub frames: u64,
    /// Gaps of more than [`FREEZE_THRESHOLD`] between two completed video frames.
    pub freezes: u64,
    /// Their total length, milliseconds.
    pub freeze_ms: u64,
    /// When the last frame was completed.
    pub last_frame_at: Option<StdInstant>,
    /// Forwarding delay of each frame, microseconds (only with [`PeerOptions::send_log`]).
    pub delay_us: Vec<u32>,
}

/// Everything received, keyed by (stream id = publishing participant id, kind).
pub type ReceivedMedia = BTreeMap<(String, MediaKind), StreamCounts>;

/// What this peer sent.
#[derive(Debug, Default)]
pub struct PublishCounters {
    pub audio_packets: AtomicU64,
    pub video_packets: AtomicU64,
    pub video_frames: AtomicU64,
    pub keyframes_sent: AtomicU64,
    /// RTP payload bytes written.
    pub audio_bytes: AtomicU64,
    pub video_bytes: AtomicU64,
    /// PLI/FIR received from the server.
    pub keyframe_requests: AtomicU64,
    /// `write_rtp` failures (e.g. before the transport is up).
    pub write_errors: AtomicU64,
}

/// How a peer behaves.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Publish audio and video (observers do not).
    pub publish: bool,
    /// Also send a keyframe this often (by default only at the start and on request).
    pub keyframe_interval: Option<Duration>,
    /// Like a browser's decoder: while a received video track has shown no keyframe, send a
    /// PLI for it (at most every [`PLI_INTERVAL`]).
    pub request_missing_keyframes: bool,
    /// What to publish.
    pub source: MediaSource,
    /// Where publishers note when each frame left and subscribers look it up (forwarding
    /// delay); shared by every peer of a run.
    pub send_log: Option<Arc<SendLog>>,
    /// The address the peer's media socket binds to: a concrete loopback address (a wildcard
    /// would skip loopback interfaces). Janus needs its clients on the address it uses itself
    /// (127.0.0.2 on a veth, see `docs/benchmarks.md`).
    pub local_ip: IpAddr,
}

impl Default for PeerOptions {
    fn default() -> Self {
        Self {
            publish: true,
            keyframe_interval: None,
            request_missing_keyframes: true,
            source: MediaSource::Synthetic,
            send_log: None,
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// What a publishing peer sends.
#[derive(Debug, Clone, Default)]
pub enum MediaSource {
    /// Frames that only look right to an SFU (see [`crate::media`]).
    #[default]
    Synthetic,
    /// A real VP8 + Opus clip, looped with continuous timestamps.
    Clip(Arc<Clip>),
}

/// How to join.
#[derive(Debug, Clone, Copy)]
pub enum JoinAs<'a> {
    /// An invitation token (party, expert, observer).
    Token(&'a str),
    /// A signed-in account: the session id and the `Cookie` header value.
    Account {
        session_id: &'a str,
        cookie: &'a str,
    },
}

/// The signaling a [`Peer`] negotiates over, in Concord's message shapes (`docs/protocol.md`):
/// it sends `{"type":"offer"|"answer"|"candidate", …}` on `out` and applies `answer`, `offer`
/// and `candidate` arriving in `inbox`; every other message is passed on to the peer's own inbox.
/// For Concord this is the WebSocket itself; an adapter for another server puts a translating
/// task in between.
pub struct MessageChannel {
    pub out: mpsc::UnboundedSender<Outgoing>,
    pub inbox: Inbox,
    /// The task behind the channel, aborted with the peer.
    pub task: Option<JoinHandle<()>>,
    /// The server makes the first offer and the peer answers (Janus VideoRoom subscribers: only
    /// publishers may offer there). A receive-only peer then adds no transceivers of its own.
    pub server_offers_first: bool,
}

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
        let (signal, reply) = match how {
            JoinAs::Token(token) => {
                let mut signal = SignalClient::connect(ws_url, None).await?;
                let reply = signal.join_with_token(token, timeout).await?;
                (signal, reply)
            }
            JoinAs::Account { session_id, cookie } => {
                let mut signal = SignalClient::connect(ws_url, Some(cookie)).await?;
                let reply = signal.join_session(session_id, timeout).await?;
                (signal, reply)
            }
        };
        if msg_type(&reply) != "joined" {
            signal.close();
            bail!("expected `joined`, the server answered {reply}");
        }
        Peer::start(signal, reply, options).await
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
            let tracks = LocalTracks::add_to(&pc, &participant_id).await?;
            tasks.0.push(tokio::spawn(listen_for_keyframe_requests(
                Arc::clone(&tracks.video),
                Arc::clone(&tracks.keyframe_requested),
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
                    clip,
                    ClipPublisher {
                        stream_id: participant_id.clone(),
                        send_log: options.send_log.clone(),
                        counters: Arc::clone(&published),
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

async fn build_peer_connection(
    handler: Arc<Handler>,
    local_ip: IpAddr,
) -> Result<Arc<dyn PeerConnection>> {
    let mut media_engine = MediaEngine::default();
    let video_feedback = vec![
        RTCPFeedback {
            typ: "ccm".to_owned(),
            parameter: "fir".to_owned(),
        },
        RTCPFeedback {
            typ: "nack".to_owned(),
            parameter: "".to_owned(),
        },
        RTCPFeedback {
            typ: "nack".to_owned(),
            parameter: "pli".to_owned(),
        },
    ];
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PT,
            },
            RtpCodecKind::Audio,
        )
        .context("register Opus")?;
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    rtcp_feedback: video_feedback,
                    ..vp8_codec()
                },
                payload_type: VP8_PT,
            },
            RtpCodecKind::Video,
        )
        .context("register VP8")?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)
        .context("default interceptors")?;
    // Last in the chain, so every other interceptor has seen the RTCP first.
    let registry = registry.with(Slot::from(14_000), KeyframeRequestForwarder::default());

    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_runtime(Arc::new(TokioRuntime))
        .with_udp_addrs(vec![std::net::SocketAddr::new(local_ip, 0).to_string()])
        .build()
        .await
        .context("build peer connection")?;
    Ok(Arc::new(pc))
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// Receives the connection's events. Everything it does is quick: it hands work to channels and
/// spawns readers.
struct Handler {
    request_missing_keyframes: bool,
    send_log: Option<Arc<SendLog>>,
    candidates: mpsc::UnboundedSender<String>,
    received: watch::Sender<ReceivedMedia>,
    state: watch::Sender<RTCPeerConnectionState>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init.candidate);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let publisher = track.stream_id().await;
        let Some(kind) = MediaKind::from_codec_kind(track.kind().await) else {
            return;
        };
        let key = (publisher, kind);
        self.received.send_modify(|m| {
            m.entry(key.clone()).or_default().tracks += 1;
        });
        let reader = tokio::spawn(read_track(
            track,
            key,
            self.received.clone(),
            self.request_missing_keyframes,
            self.send_log.clone(),
        ));
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(reader);
        }
    }
}

/// Counts a received track's packets, frames, gaps and delays; does nothing else per packet,
/// except asking for a keyframe (rarely) while a video track has shown none, as a browser's
/// decoder would.
async fn read_track(
    track: Arc<dyn TrackRemote>,
    key: (String, MediaKind),
    received: watch::Sender<ReceivedMedia>,
    request_missing_keyframes: bool,
    send_log: Option<Arc<SendLog>>,
) {
    let is_video = key.1 == MediaKind::Video;
    let mut have_keyframe = !is_video || !request_missing_keyframes;
    let mut last_pli: Option<StdInstant> = None;
    let mut seqs = SeqTracker::default();
    let mut frame = FrameAssembly::default();
    let mut last_ts: Option<u32> = None;
    let mut delays = DelayMatcher::default();
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let now = StdInstant::now();
                let header = &packet.header;
                let keyframe = is_video && media::is_vp8_keyframe_start(&packet.payload);
                let len = packet.payload.len() as u64;
                seqs.on_packet(header.sequence_number);
                let frame_done = if is_video {
                    frame.on_packet(
                        header.sequence_number,
                        header.timestamp,
                        header.marker,
                        media::is_vp8_frame_start(&packet.payload),
                    )
                } else {
                    true
                };
                let delay = match (&send_log, last_ts) {
                    (Some(log), last) if last != Some(header.timestamp) => delays
                        .delay(log, &key.0, key.1, header.timestamp, now)
                        .map(|d| d.as_micros() as u32),
                    _ => None,
                };
                last_ts = Some(header.timestamp);
                let lost = seqs.lost();
                received.send_modify(|m| {
                    let c = match m.get_mut(&key) {
                        Some(c) => c,
                        None => m.entry(key.clone()).or_default(),
                    };
                    c.packets += 1;
                    c.bytes += len;
                    c.keyframes += u64::from(keyframe);
                    c.lost = lost;
                    if frame_done {
                        c.frames += 1;
                        if let Some(last) = c.last_frame_at {
                            let gap = now.saturating_duration_since(last);
                            if is_video && gap > FREEZE_THRESHOLD {
                                c.freezes += 1;
                                c.freeze_ms += gap.as_millis() as u64;
                            }
                        }
                        c.last_frame_at = Some(now);
                    }
                    if let Some(d) = delay {
                        c.delay_us.push(d);
                    }
                });
                have_keyframe |= keyframe;
                if !have_keyframe && last_pli.is_none_or(|at| at.elapsed() >= PLI_INTERVAL) {
                    last_pli = Some(StdInstant::now());
                    let pli = PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: packet.header.ssrc,
                    };
                    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                    received.send_modify(|m| m.entry(key.clone()).or_default().plis_sent += 1);
                }
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
    received.send_modify(|m| m.entry(key.clone()).or_default().ended = true);
}

/// Follows one VP8 frame from its first packet (S bit) to its marker.
#[derive(Debug, Default)]
struct FrameAssembly {
    /// (timestamp, next expected sequence number) of the frame being received whole so far.
    current: Option<(u32, u16)>,
}

impl FrameAssembly {
    /// Notes a packet; true when it completes a frame received without gaps.
    fn on_packet(&mut self, seq: u16, ts: u32, marker: bool, starts_frame: bool) -> bool {
        if starts_frame {
            self.current = Some((ts, seq.wrapping_add(1)));
        } else {
            self.current = match self.current {
                Some((t, next)) if t == ts && next == seq => Some((t, seq.wrapping_add(1))),
                _ => None,
            };
        }
        marker && self.current.take().is_some()
    }
}

/// Applies the server's SDP and candidates, sends ours, forwards every message to the test.
struct Negotiation {
    pc: Arc<dyn PeerConnection>,
    out: mpsc::UnboundedSender<Outgoing>,
    to_test: mpsc::UnboundedSender<Incoming>,
    negotiated: watch::Sender<u64>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Our offer is out and its answer has not arrived: server offers wait (no glare handling
    /// in the protocol; the server is expected not to offer before answering).
    awaiting_answer: bool,
    stashed_offers: Vec<String>,
}

impl Negotiation {
    async fn run(
        mut self,
        mut from_server: Inbox,
        mut candidates: mpsc::UnboundedReceiver<String>,
    ) {
        let mut candidates_open = true;
        loop {
            tokio::select! {
                msg = from_server.recv() => {
                    let Some(msg) = msg else {
                        let reason = from_server.closed_reason().unwrap_or("closed").to_owned();
                        let _ = self.to_test.send(Incoming::Closed(reason));
                        return;
                    };
                    self.handle(&msg).await;
                    let _ = self.to_test.send(Incoming::Message(msg));
                }
                cand = candidates.recv(), if candidates_open => match cand {
                    Some(candidate) => {
                        let msg = json!({"type": "candidate", "candidate": candidate});
                        let _ = self.out.send(Outgoing::Text(msg.to_string()));
                    }
                    None => candidates_open = false,
                },
            }
        }
    }

    async fn handle(&mut self, msg: &Value) {
        let sdp = || msg.get("sdp").and_then(Value::as_str).map(str::to_owned);
        match msg_type(msg) {
            "answer" => {
                let Some(sdp) = sdp() else {
                    return self.fail("`answer` without sdp".to_owned());
                };
                let result = async {
                    let desc = RTCSessionDescription::answer(sdp)?;
                    self.pc.set_remote_description(desc).await
                };
                match tokio::time::timeout(STEP_TIMEOUT, result).await {
                    Ok(Ok(())) => {
                        self.awaiting_answer = false;
                        self.negotiated.send_modify(|n| *n += 1);
                    }
                    Ok(Err(err)) => return self.fail(format!("applying answer: {err}")),
                    Err(_) => return self.fail("applying answer timed out".to_owned()),
                }
                for offer in std::mem::take(&mut self.stashed_offers) {
                    self.answer_offer(offer).await;
                }
            }
            "offer" => {
                let Some(sdp) = sdp() else {
                    return self.fail("`offer` without sdp".to_owned());
                };
                if self.awaiting_answer {
                    self.stashed_offers.push(sdp);
                } else {
                    self.answer_offer(sdp).await;
                }
            }
            "candidate" => {
                let Some(candidate) = msg.get("candidate").and_then(Value::as_str) else {
                    return self.fail("`candidate` without candidate".to_owned());
                };
                let init = RTCIceCandidateInit {
                    candidate: candidate.to_owned(),
                    ..Default::default()
                };
                if let Err(err) = self.pc.add_ice_candidate(init).await {
                    self.fail(format!("adding candidate {candidate}: {err}"));
                }
            }
            _ => {}
        }
    }

    async fn answer_offer(&mut self, sdp: String) {
        let pc = Arc::clone(&self.pc);
        let result = async move {
            pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
                .await?;
            let answer = pc.create_answer(None).await?;
            pc.set_local_description(answer).await?;
            pc.local_description()
                .await
                .map(|d| d.sdp)
                .ok_or(webrtc::error::Error::Other(
                    "no local description".to_owned(),
                ))
        };
        match tokio::time::timeout(STEP_TIMEOUT, result).await {
            Ok(Ok(answer)) => {
                let msg = json!({"type": "answer", "sdp": answer});
                let _ = self.out.send(Outgoing::Text(msg.to_string()));
                self.negotiated.send_modify(|n| *n += 1);
            }
            Ok(Err(err)) => self.fail(format!("answering the server's offer: {err}")),
            Err(_) => self.fail("answering the server's offer timed out".to_owned()),
        }
    }

    fn fail(&self, message: String) {
        if let Ok(mut errors) = self.errors.lock() {
            errors.push(message.clone());
        }
        let _ = self.to_test.send(Incoming::Message(
            json!({"type": "__peer_error", "message": message}),
        ));
    }
}

/// Our two published tracks.
struct LocalTracks {
    audio: Arc<TrackLocalStaticRTP>,
    video: Arc<TrackLocalStaticRTP>,
    audio_sender: Arc<dyn RtpSender>,
    video_sender: Arc<dyn RtpSender>,
    audio_ssrc: u32,
    video_ssrc: u32,
    keyframe_requested: Arc<AtomicBool>,
}

impl LocalTracks {
    async fn add_to(pc: &Arc<dyn PeerConnection>, stream_id: &str) -> Result<Self> {
        let audio_ssrc = rand::random::<u32>();
        let video_ssrc = rand::random::<u32>();
        let track = |kind: RtpCodecKind, ssrc: u32, codec: RTCRtpCodec, name: &str| {
            Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                stream_id.to_owned(),
                format!("{stream_id}-{name}"),
                name.to_owned(),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            )))
        };
        let audio = track(RtpCodecKind::Audio, audio_ssrc, opus_codec(), "audio");
        let video = track(RtpCodecKind::Video, video_ssrc, vp8_codec(), "video");
        let audio_sender = pc
            .add_track(Arc::clone(&audio) as Arc<dyn TrackLocal>)
            .await
            .context("add audio track")?;
        let video_sender = pc
            .add_track(Arc::clone(&video) as Arc<dyn TrackLocal>)
            .await
            .context("add video track")?;
        Ok(Self {
            audio,
            video,
            audio_sender,
            video_sender,
            audio_ssrc,
            video_ssrc,
            keyframe_requested: Arc::new(AtomicBool::new(true)),
        })
    }
}

/// The payload type negotiated for `mime` on `sender`, or `fallback`.
async fn negotiated_pt(sender: &Arc<dyn RtpSender>, mime: &str, fallback: u8) -> u8 {
    match sender.get_parameters().await {
        Ok(params) => params
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            .map_or(fallback, |c| c.payload_type),
        Err(_) => fallback,
    }
}

/// Sends audio every 20 ms and video at ~30 fps once the first negotiation is done and the
/// connection is up.
async fn publish(
    tracks: LocalTracks,
    options: PeerOptions,
    mut negotiated: watch::Receiver<u64>,
    mut connection: watch::Receiver<RTCPeerConnectionState>,
    counters: Arc<PublishCounters>,
) {
    // Like a browser's encoder, start once the transport is up, so the first keyframe is not
    // lost before DTLS completes.
    if negotiated.wait_for(|n| *n >= 1).await.is_err()
        || connection
            .wait_for(|s| *s == RTCPeerConnectionState::Connected)
            .await
            .is_err()
    {
        return;
    }
    let audio_pt = negotiated_pt(&tracks.audio_sender, MIME_TYPE_OPUS, OPUS_PT).await;
    let video_pt = negotiated_pt(&tracks.video_sender, MIME_TYPE_VP8, VP8_PT).await;

    let mut audio_seq: u16 = rand::random();
    let mut audio_ts: u32 = rand::random();
    let mut video_seq: u16 = rand::random();
    let mut video_ts: u32 = rand::random();
    let mut picture_id: u16 = rand::random::<u16>() & 0x7fff;
    let mut first_audio = true;
    let mut last_keyframe = StdInstant::now();

    let mut audio_tick = tokio::time::interval(Duration::from_millis(20));
    let mut video_tick = tokio::time::interval(Duration::from_micros(33_333));
    audio_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    video_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            _ = audio_tick.tick() => {
                let packet = rtp::Packet {
                    header: rtp::Header {
                        version: 2,
                        marker: first_audio,
                        payload_type: audio_pt,
                        sequence_number: audio_seq,
                        timestamp: audio_ts,
                        ssrc: tracks.audio_ssrc,
                        ..Default::default()
                    },
                    payload: media::opus_packet(),
                };
                first_audio = false;
                audio_seq = audio_seq.wrapping_add(1);
                audio_ts = audio_ts.wrapping_add(media::OPUS_SAMPLES_PER_PACKET);
                match tracks.audio.write_rtp(packet).await {
                    Ok(()) => counters.audio_packets.fetch_add(1, Ordering::Relaxed),
                    Err(_) => counters.write_errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            _ = video_tick.tick() => {
                let periodic = options
                    .keyframe_interval
                    .is_some_and(|every| last_keyframe.elapsed() >= every);
                let keyframe = tracks.keyframe_requested.swap(false, Ordering::AcqRel) || periodic;
                if keyframe {
                    last_keyframe = StdInstant::now();
                }
                let frame_len = if keyframe { 3000 } else { 800 };
                let payloads = media::vp8_frame_payloads(picture_id, keyframe, frame_len);
                let last = payloads.len() - 1;
                let mut ok = true;
                for (i, payload) in payloads.into_iter().enumerate() {
                    let packet = rtp::Packet {
                        header: rtp::Header {
                            version: 2,
                            marker: i == last,
                            payload_type: video_pt,
                            sequence_number: video_seq,
                            timestamp: video_ts,
                            ssrc: tracks.video_ssrc,
                            ..Default::default()
                        },
                        payload,
                    };
                    video_seq = video_seq.wrapping_add(1);
                    match tracks.video.write_rtp(packet).await {
                        Ok(()) => counters.video_packets.fetch_add(1, Ordering::Relaxed),
                        Err(_) => {
                            ok = false;
                            counters.write_errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
                if keyframe && !ok {
                    // Not on the wire yet (transport still coming up): try again next frame.
                    tracks.keyframe_requested.store(true, Ordering::Release);
                } else if keyframe {
                    counters.keyframes_sent.fetch_add(1, Ordering::Relaxed);
                }
                counters.video_frames.fetch_add(1, Ordering::Relaxed);
                picture_id = (picture_id + 1) & 0x7fff;
                video_ts = video_ts.wrapping_add(media::VP8_TICKS_PER_FRAME);
            }
        }
    }
}

/// Who a clip publisher is and where it reports.
struct ClipPublisher {
    /// Our participant id: the stream id subscribers see.
    stream_id: String,
    send_log: Option<Arc<SendLog>>,
    counters: Arc<PublishCounters>,
}

/// Sends a real clip: each Opus packet and VP8 frame at its own pace, looping with continuous
/// RTP timestamps and sequence numbers. On PLI/FIR it skips ahead to the clip's next keyframe
/// (a looping clip cannot encode one on demand); the clip also has one every `-g` frames.
async fn publish_clip(
    tracks: LocalTracks,
    clip: Arc<Clip>,
    me: ClipPublisher,
    mut negotiated: watch::Receiver<u64>,
    mut connection: watch::Receiver<RTCPeerConnectionState>,
) {
    if negotiated.wait_for(|n| *n >= 1).await.is_err()
        || connection
            .wait_for(|s| *s == RTCPeerConnectionState::Connected)
            .await
            .is_err()
    {
        return;
    }
    let counters = &me.counters;
    let audio_pt = negotiated_pt(&tracks.audio_sender, MIME_TYPE_OPUS, OPUS_PT).await;
    let video_pt = negotiated_pt(&tracks.video_sender, MIME_TYPE_VP8, VP8_PT).await;
    let fps = clip.spec.fps.max(1);
    let ticks_per_frame = 90_000 / fps;

    let mut audio_seq: u16 = rand::random();
    let mut audio_ts: u32 = rand::random();
    let mut video_seq: u16 = rand::random();
    let mut video_ts: u32 = rand::random();
    let mut picture_id: u16 = rand::random::<u16>() & 0x7fff;
    let mut audio_index = 0usize;
    let mut video_index = 0usize;
    // The first frame is the clip's first keyframe: no request pending.
    tracks.keyframe_requested.store(false, Ordering::Release);

    let start = tokio::time::Instant::now();
    let mut next_audio = start;
    let mut next_video = start;
    let mut audio_elapsed_samples: u64 = 0;
    let mut video_frames_sent: u64 = 0;

    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_audio) => {
                let packet = &clip.audio[audio_index];
                let rtp_packet = rtp::Packet {
                    header: rtp::Header {
                        version: 2,
                        marker: audio_elapsed_samples == 0,
                        payload_type: audio_pt,
                        sequence_number: audio_seq,
                        timestamp: audio_ts,
                        ssrc: tracks.audio_ssrc,
                        ..Default::default()
                    },
                    payload: packet.data.clone(),
                };
                if let Some(log) = &me.send_log {
                    log.record(&me.stream_id, MediaKind::Audio, audio_ts, StdInstant::now());
                }
                match tracks.audio.write_rtp(rtp_packet).await {
                    Ok(()) => {
                        counters.audio_packets.fetch_add(1, Ordering::Relaxed);
                        counters.audio_bytes.fetch_add(packet.data.len() as u64, Ordering::Relaxed);
                    }
                    Err(_) => {
                        counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                audio_seq = audio_seq.wrapping_add(1);
                audio_ts = audio_ts.wrapping_add(packet.samples);
                audio_elapsed_samples += u64::from(packet.samples);
                audio_index = (audio_index + 1) % clip.audio.len();
                // Paced from the start, so timer lateness does not accumulate.
                next_audio = start + Duration::from_micros(audio_elapsed_samples * 1_000_000 / 48_000);
            }
            _ = tokio::time::sleep_until(next_video) => {
                if tracks.keyframe_requested.swap(false, Ordering::AcqRel) {
                    video_index = clip.next_keyframe(video_index);
                }
                let frame = &clip.video[video_index];
                let payloads = media::vp8_payloads(picture_id, &frame.data);
                let last = payloads.len().saturating_sub(1);
                if let Some(log) = &me.send_log {
                    log.record(&me.stream_id, MediaKind::Video, video_ts, StdInstant::now());
                }
                let mut ok = true;
                for (i, payload) in payloads.into_iter().enumerate() {
                    let len = payload.len() as u64;
                    let packet = rtp::Packet {
                        header: rtp::Header {
                            version: 2,
                            marker: i == last,
                            payload_type: video_pt,
                            sequence_number: video_seq,
                            timestamp: video_ts,
                            ssrc: tracks.video_ssrc,
                            ..Default::default()
                        },
                        payload,
                    };
                    video_seq = video_seq.wrapping_add(1);
                    match tracks.video.write_rtp(packet).await {
                        Ok(()) => {
                            counters.video_packets.fetch_add(1, Ordering::Relaxed);
                            counters.video_bytes.fetch_add(len, Ordering::Relaxed);
                        }
                        Err(_) => {
                            ok = false;
                            counters.write_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if frame.keyframe && ok {
                    counters.keyframes_sent.fetch_add(1, Ordering::Relaxed);
                } else if frame.keyframe {
                    tracks.keyframe_requested.store(true, Ordering::Release);
                }
                counters.video_frames.fetch_add(1, Ordering::Relaxed);
                picture_id = (picture_id + 1) & 0x7fff;
                video_ts = video_ts.wrapping_add(ticks_per_frame);
                video_index = (video_index + 1) % clip.video.len();
                video_frames_sent += 1;
                next_video = start + Duration::from_micros(video_frames_sent * 1_000_000 / u64::from(fps));
            }
        }
    }
}

/// Turns PLI/FIR from the SFU into "send a keyframe next".
async fn listen_for_keyframe_requests(
    video: Arc<TrackLocalStaticRTP>,
    requested: Arc<AtomicBool>,
    counters: Arc<PublishCounters>,
) {
    while let Some(event) = video.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(packets) = event {
            if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                requested.store(true, Ordering::Release);
            }
        }
    }
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::packet::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// Marks inbound PLI/FIR for delivery to the application (inbound RTCP otherwise stops at the end
/// of the interceptor chain), drops other inbound RTCP at this point, passes everything else.
#[derive(Default)]
struct KeyframeRequestForwarder {
    read: std::collections::VecDeque<TaggedPacket>,
    write: std::collections::VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = StdInstant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let InterceptorPacket::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::packet::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = InterceptorPacket::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::FrameAssembly;

    #[test]
    fn frames_complete_only_without_gaps() {
        let mut f = FrameAssembly::default();
        // A three-packet frame, whole.
        assert!(!f.on_packet(10, 3000, false, true));
        assert!(!f.on_packet(11, 3000, false, false));
        assert!(f.on_packet(12, 3000, true, false));
        // A single-packet frame.
        assert!(f.on_packet(13, 6000, true, true));
        // A frame with its middle packet missing.
        assert!(!f.on_packet(14, 9000, false, true));
        assert!(!f.on_packet(16, 9000, true, false));
        // A frame whose first packet is missing.
        assert!(!f.on_packet(18, 12000, true, false));
        // Sequence numbers wrap.
        assert!(!f.on_packet(65535, 15000, false, true));
        assert!(f.on_packet(0, 15000, true, false));
    }
}
