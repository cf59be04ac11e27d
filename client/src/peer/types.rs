//! The peer's public vocabulary: media kinds, what was received and sent, options, how to
//! join, and the signaling channel a peer negotiates over.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;

use crate::clip::{Clip, SimulcastClip};
use crate::signal::{Inbox, Outgoing};
use crate::stats::SendLog;

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

    pub(super) fn from_codec_kind(kind: RtpCodecKind) -> Option<Self> {
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
    /// The picture size (width, height) the last video keyframe announced: which simulcast
    /// layer is arriving.
    pub keyframe_size: Option<(u16, u16)>,
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
    /// VP8 simulcast: one real clip per encoding (rids in the offer, lowest layer first), each
    /// packet naming its encoding by the mid and rid header extensions; the audio is the first
    /// layer's clip's.
    Simulcast(Arc<SimulcastClip>),
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
