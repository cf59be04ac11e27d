//! What a participant receives: one outgoing track per track someone else publishes, with its
//! negotiation state and how its packets are numbered.

use str0m::media::{MediaKind, Mid, Pt};

use crate::forwarding::layer_switch::LayerSwitch;
use crate::handle::VideoPause;
use crate::ids::PeerKey;
use crate::sequence::SequenceRewriter;
use crate::skipped::SkippedNumbers;

/// Where a forwarded track comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    pub peer: PeerKey,
    pub mid: Mid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackOutState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

/// A subscriber's copy of one video: the layer it gets and what it was last told.
pub(crate) struct VideoOut {
    pub switch: LayerSwitch,
    /// Never given a layer by the allocator yet.
    pub fresh: bool,
    /// The pause last reported to the subscriber (`None`: it gets the video).
    pub reported_pause: Option<VideoPause>,
    /// It gets a lower layer than its tile wants, for lack of bandwidth.
    pub reduced: bool,
    /// The highest layer its tile wants (`None`: not shown).
    pub max_layer: Option<u8>,
}

/// How the packets of an outgoing track are chosen and numbered.
pub(crate) enum Flow {
    /// Audio: every packet, from the first, in the subscriber's own sequence numbers.
    Audio(SequenceRewriter),
    /// Video: one layer at a time, starting and switching at keyframes.
    Video(VideoOut),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PayloadTypes {
    pub from: Pt,
    pub plain: Pt,
    pub red: Option<Pt>,
}

/// A track this peer receives from another participant.
pub(crate) struct TrackOut {
    pub source: Source,
    pub kind: MediaKind,
    /// Stream id in the SDP: the publishing participant's id, so clients can label tiles.
    pub stream_id: String,
    pub state: TrackOutState,
    pub flow: Flow,
    /// The publisher's payload type, ours for the same codec (they may number differently), and
    /// ours for RED around it when the publisher sends RED and the subscriber negotiated it.
    pub payload_types: Option<PayloadTypes>,
    /// Numbers skipped for packets the publisher's uplink lost.
    pub skipped: SkippedNumbers,
    /// A caucus parts its publisher from the subscriber: its m-line is made inactive, so str0m
    /// sends nothing on it, not even the padding it keeps on some video stream.
    pub parted: bool,
    /// What the last offer said of it: inactive (parted) or sending.
    pub offered_parted: bool,
}

impl TrackOut {
    pub fn new(source: Source, kind: MediaKind, stream_id: &str) -> TrackOut {
        let flow = match kind {
            MediaKind::Video => Flow::Video(VideoOut {
                switch: LayerSwitch::new(None),
                fresh: true,
                reported_pause: None,
                reduced: false,
                max_layer: None,
            }),
            _ => Flow::Audio(SequenceRewriter::new()),
        };
        TrackOut {
            source,
            kind,
            stream_id: stream_id.to_owned(),
            state: TrackOutState::ToOpen,
            parted: false,
            offered_parted: false,
            flow,
            payload_types: None,
            skipped: SkippedNumbers::default(),
        }
    }

    /// The negotiated mid, once the subscriber has accepted the track.
    pub fn open_mid(&self) -> Option<Mid> {
        match self.state {
            TrackOutState::Open(mid) => Some(mid),
            _ => None,
        }
    }

    pub fn video(&self) -> Option<&VideoOut> {
        match &self.flow {
            Flow::Video(video) => Some(video),
            Flow::Audio(_) => None,
        }
    }

    pub fn video_mut(&mut self) -> Option<&mut VideoOut> {
        match &mut self.flow {
            Flow::Video(video) => Some(video),
            Flow::Audio(_) => None,
        }
    }
}
