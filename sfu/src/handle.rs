//! How the rest of the server talks to a room: a cheap handle that sends commands to the room's
//! task, and the events the room sends back about each participant's media.

use tokio::sync::{mpsc, oneshot};

use crate::forwarding::quality::QualityLevel;
use crate::ids::ParticipantId;
use crate::stats::RoomStats;
use crate::tap::TapEvent;
use crate::SfuError;

/// How a participant takes part in the room's media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinOptions {
    /// Observers receive only: whatever they offer is never forwarded.
    pub may_publish: bool,
    /// The host's video is the last to be paused when a subscriber's bandwidth is short.
    pub host: bool,
    /// Its media reaches the hosts only: an expert advising the mediator, whom the parties
    /// neither see nor hear.
    pub hosts_only: bool,
}

/// How large a subscriber shows one publisher's video, in device pixels. 0×0: not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileView {
    pub publisher: ParticipantId,
    pub width: u32,
    pub height: u32,
}

/// A private talk (背对背, a caucus) in the room: its members and the host see and hear only
/// each other, everyone else only those outside it. Nothing of it is recorded unless
/// `recorded` (everyone in it agreed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caucus {
    pub members: Vec<ParticipantId>,
    pub recorded: bool,
}

/// Why the SFU does not send a subscriber someone's video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoPause {
    /// The subscriber's link cannot carry it next to the audio.
    Bandwidth,
    /// The subscriber does not show it.
    Hidden,
    /// The subscriber chose voice only.
    AudioOnly,
    /// One of the two is in a caucus the other is not in.
    Caucus,
    /// The publisher advises the hosts only.
    HostsOnly,
}

impl VideoPause {
    pub fn as_str(self) -> &'static str {
        match self {
            VideoPause::Bandwidth => "bandwidth",
            VideoPause::Hidden => "hidden",
            VideoPause::AudioOnly => "audio_only",
            VideoPause::Caucus => "caucus",
            VideoPause::HostsOnly => "hosts_only",
        }
    }
}

/// One participant's link as the SFU sees it, every couple of seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityReport {
    pub level: QualityLevel,
    /// Worst of up- and downlink loss over the last interval, percent.
    pub loss_pct: f32,
    pub rtt_ms: Option<u32>,
    /// The SFU's estimate of the participant's downlink.
    pub downlink_kbps: Option<u32>,
    /// Videos not sent to this participant because its link cannot carry them.
    pub videos_paused: u32,
    /// Layer switches of the videos it received, since it joined.
    pub layer_switches: u32,
    /// How long, since it joined, at least one video was paused for bandwidth.
    pub paused_ms: u64,
}

/// What the SFU tells signaling about one participant's media connection.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// The server adds or removes tracks: send this offer to the client, return its answer.
    Offer(String),
    /// ICE and DTLS are up; media flows.
    Connected,
    /// The media connection is gone (ICE consent lost, DTLS failure, or the peer misbehaved).
    /// The participant has been removed from the room's media.
    Failed,
    /// Dynacast: the publisher should keep sending only these simulcast encodings (rids) of the
    /// video on `mid`; the others nobody receives.
    PublishLayers {
        mid: String,
        active: Vec<String>,
    },
    /// The SFU stopped (`Some`) or resumed (`None`) sending this participant someone's video.
    VideoPaused {
        publisher: ParticipantId,
        pause: Option<VideoPause>,
    },
    Quality(QualityReport),
}

pub(crate) enum Command {
    Join {
        participant: ParticipantId,
        options: JoinOptions,
        events: mpsc::Sender<PeerEvent>,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Offer {
        participant: ParticipantId,
        sdp: String,
        screen_mid: Option<String>,
        reply: oneshot::Sender<Result<String, SfuError>>,
    },
    Answer {
        participant: ParticipantId,
        sdp: String,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Candidate {
        participant: ParticipantId,
        candidate: String,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    View {
        participant: ParticipantId,
        tiles: Vec<TileView>,
    },
    AudioOnly {
        participant: ParticipantId,
        enabled: bool,
    },
    Caucus {
        caucus: Option<Caucus>,
    },
    HostsOnly {
        participant: ParticipantId,
        hosts_only: bool,
    },
    Leave {
        participant: ParticipantId,
    },
    Rebind {
        participant: ParticipantId,
        events: mpsc::Sender<PeerEvent>,
        reply: oneshot::Sender<bool>,
    },
    Tap {
        events: mpsc::Sender<TapEvent>,
        reply: oneshot::Sender<()>,
    },
    RequestKeyframe {
        participant: ParticipantId,
    },
    Stats {
        reset: bool,
        reply: oneshot::Sender<RoomStats>,
    },
}

/// Signaling's handle to a room task. Cloneable; the room stops when every handle is dropped.
#[derive(Clone)]
pub struct RoomHandle {
    pub(crate) commands: mpsc::Sender<Command>,
}

impl RoomHandle {
    /// Adds a participant's media connection. Nothing is negotiated until its offer arrives.
    pub async fn join(
        &self,
        participant: ParticipantId,
        options: JoinOptions,
        events: mpsc::Sender<PeerEvent>,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::Join {
            participant,
            options,
            events,
            reply,
        })
        .await?
    }

    /// Applies the client's offer and returns the answer SDP.
    pub async fn offer(&self, participant: ParticipantId, sdp: String) -> Result<String, SfuError> {
        self.offer_sharing(participant, sdp, None).await
    }

    /// Applies the client's offer, whose video on `screen_mid` is a shared screen: everyone
    /// else receives it as its own stream ([`crate::screen_stream_id`]), first of all videos
    /// when bandwidth is short, and taps record it apart from the camera.
    pub async fn offer_sharing(
        &self,
        participant: ParticipantId,
        sdp: String,
        screen_mid: Option<String>,
    ) -> Result<String, SfuError> {
        self.request(|reply| Command::Offer {
            participant,
            sdp,
            screen_mid,
            reply,
        })
        .await?
    }

    /// Applies the client's answer to the server's last offer.
    pub async fn answer(&self, participant: ParticipantId, sdp: String) -> Result<(), SfuError> {
        self.request(|reply| Command::Answer {
            participant,
            sdp,
            reply,
        })
        .await?
    }

    /// Adds a trickled remote ICE candidate.
    pub async fn candidate(
        &self,
        participant: ParticipantId,
        candidate: String,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::Candidate {
            participant,
            candidate,
            reply,
        })
        .await?
    }

    /// The sizes at which `participant` shows the others' videos; publishers left out are not
    /// shown. Replaces the previous view.
    pub async fn set_view(&self, participant: ParticipantId, tiles: Vec<TileView>) {
        let _ = self
            .commands
            .send(Command::View { participant, tiles })
            .await;
    }

    /// Voice only for `participant`: it receives no video while enabled.
    pub async fn set_audio_only(&self, participant: ParticipantId, enabled: bool) {
        let _ = self
            .commands
            .send(Command::AudioOnly {
                participant,
                enabled,
            })
            .await;
    }

    /// Starts a caucus, changes it (who is in it, whether it may be recorded) or, with `None`,
    /// ends it: media flows between its members only, and between the others only.
    pub async fn set_caucus(&self, caucus: Option<Caucus>) {
        let _ = self.commands.send(Command::Caucus { caucus }).await;
    }

    /// Whether `participant`'s media reaches the hosts only (an expert advising the mediator)
    /// or everyone (the expert brought into the whole room).
    pub async fn set_hosts_only(&self, participant: ParticipantId, hosts_only: bool) {
        let _ = self
            .commands
            .send(Command::HostsOnly {
                participant,
                hosts_only,
            })
            .await;
    }

    /// Starts copying every packet the room forwards (and publishers leaving) into `events`,
    /// until its receiver is dropped. Video publishers are asked for a keyframe so the copy
    /// starts with a picture.
    pub async fn tap(&self, events: mpsc::Sender<TapEvent>) -> Result<(), SfuError> {
        self.request(|reply| Command::Tap { events, reply }).await
    }

    /// Asks a participant for a keyframe on its video (a tap lost frames).
    pub async fn request_keyframe(&self, participant: ParticipantId) {
        let _ = self
            .commands
            .send(Command::RequestKeyframe { participant })
            .await;
    }

    /// The room's counters so far; `reset` starts them again (for a measured window).
    pub async fn stats(&self, reset: bool) -> Result<RoomStats, SfuError> {
        self.request(|reply| Command::Stats { reset, reply }).await
    }

    /// Sends `participant`'s media events to `events` from now on (its signaling connection
    /// was replaced by a resumed one); false if it has no media peer any more.
    pub async fn rebind(
        &self,
        participant: ParticipantId,
        events: mpsc::Sender<PeerEvent>,
    ) -> Result<bool, SfuError> {
        self.request(|reply| Command::Rebind {
            participant,
            events,
            reply,
        })
        .await
    }

    /// Removes a participant; the others stop receiving its tracks.
    pub async fn leave(&self, participant: ParticipantId) {
        let _ = self.commands.send(Command::Leave { participant }).await;
    }

    pub(crate) fn downgrade(&self) -> mpsc::WeakSender<Command> {
        self.commands.downgrade()
    }

    pub(crate) fn upgrade(weak: &mpsc::WeakSender<Command>) -> Option<RoomHandle> {
        weak.upgrade().map(|commands| RoomHandle { commands })
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SfuError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| SfuError::RoomClosed)?;
        response.await.map_err(|_| SfuError::RoomClosed)
    }
}
