//! One participant's media connection inside a room: its `Rtc`, the tracks it publishes and the
//! tracks it receives from the others, the state of SDP renegotiation, and what the SFU knows of
//! its link (bandwidth estimate, loss, round-trip time) and its wishes (tile sizes, voice only).

use std::cell::OnceCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::ice::StunMessage;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::rtp::{ExtensionValues, RtpWrite, Ssrc, Vp8Descriptor};
use str0m::{Candidate, Rtc};
use tokio::sync::mpsc;

use crate::forwarding::allocation::{Allocator, Strain, WireReading, PADDING_QUEUE_SHOWS_WITHIN};
use crate::forwarding::chance_loss::ChanceLoss;
use crate::forwarding::layer_switch::{LayerPacket, Verdict, Vp8Ids, Vp8Rewrite};
use crate::forwarding::quality::QualityMark;
use crate::forwarding::stuck_estimate::StuckEstimate;
use crate::handle::PeerEvent;
use crate::ids::{screen_stream_id, ParticipantId, PeerKey};
use crate::incoming::{EarlierVoices, IncomingCodec, TrackIn, PACKET_OVERHEAD, VOICE_HISTORY};
use crate::outgoing::{Flow, PayloadTypes, Source, TrackOut, TrackOutState};
use crate::payload::{opus_frame, opus_is_comfort_noise, red_primary, red_with};
use crate::tap::tap_codec;
use crate::SfuError;

/// Loss (a fraction) at which the link is taken to carry no more than what got through.
const HEAVY_LOSS: f32 = 0.1;
/// Loss at which voices go with two earlier frames as redundancy, and with three (kept while
/// RED is): a frame is then lost only with the three packets after it, at 20 % loss one in 125
/// lost packets instead of one in 25 (for a voice it is what decides whether a sentence is heard).
const DEEP_RED_LOSS: f32 = 0.08;
const DEEPER_RED_LOSS: f32 = 0.15;
/// Loss at which voices go with redundancy (RED), and how long a clean link keeps it.
const RED_LOSS: f32 = 0.02;
const RED_DROPPED_AFTER: Duration = Duration::from_secs(8);
/// A raised round trip that has stood flat this long, losing from [`RED_LOSS`] up to
/// `JUDGED_RED_LOSS_BELOW`, gives the voices one frame of redundancy while it is judged (see
/// [`Peer::update_red`]); heavier loss is far more likely a queue overflowing than a path,
/// and redundancy would feed it.
const JUDGED_FLAT_FOR: Duration = Duration::from_secs(2);
const JUDGED_RED_LOSS_BELOW: f32 = 0.25;
/// The share of what a link was seen to carry that voices with redundancy may take: the rest is
/// for what goes with them (receiver reports, resends, the estimator's probes).
const REDUNDANCY_ROOM: f64 = 0.8;
/// How far back a report of loss reaches: what was sent then is what the loss was out of.
const LOSS_REPORT_SPAN: Duration = Duration::from_secs(3);
/// Loss this long after a queue was seen on the link is taken for congestion, not chance.
const CONGESTION_REMEMBERED: Duration = Duration::from_secs(10);
/// A round trip this much above its floor means packets queue somewhere on the way.
const QUEUEING_DELAY: Duration = Duration::from_millis(60);
/// A raised round trip varying less than this is flat: not a queue filling or draining (a
/// busy phone or server adds tens of milliseconds of jitter).
const FLAT_RTT: Duration = Duration::from_millis(60);
/// How long a raised round trip stays flat, while a quarter less is sent or more, before it is
/// taken for the path's own.
const PATH_SETTLED: Duration = Duration::from_secs(5);
/// How long, of that, the sending must have stayed that far under: one report's dip (the
/// pacer's backlog gone, a keyframe's gap) drains a queue standing at a cap by a fraction of
/// a second, too little for its round trip to show within the report after.
const LESS_SENT_FOR: Duration = Duration::from_millis(1_500);
/// A raised round trip flat this long is the path's own even if what is sent was not cut: a
/// lossy new path whose loss keeps the video where it was (a queue holds steady that long only
/// at a full buffer, where its losses cut the estimate anyway).
const PATH_SETTLED_ANYWAY: Duration = Duration::from_secs(15);
/// Loss this heavy in one report is a queue overflowing more likely than a path losing at
/// random: a path losing 20 % read 22-31 % in its reports of a second, a queue overflowing at
/// a sudden cap 45-64 %.
const QUEUE_OVERFLOW_LOSS: f32 = 0.35;
/// Below this loss the loss ceiling is raised, by this factor per report (a second).
const CLEAN_LOSS: f32 = 0.02;
const CEILING_RISE: f64 = 1.1;
/// A link that lost heavily to a queue delivered what it can carry; the estimate falls far
/// below that (its loss and delay signals go on for seconds after the media was cut) and climbs
/// back slowly. The media keeps this share of what it delivered meanwhile, as the estimator
/// itself would back off to most of what was acknowledged. What is delivered is counted in
/// UDP payload while the link carries IP packets: the share leaves a margin of its own.
const DELIVERED_KEPT: f64 = 0.9;
/// How soon the queue a saturation filled should drain.
const DRAIN_WITHIN: Duration = Duration::from_secs(2);
/// Reports of saturation this close together are one spell, whose delivery is counted as one.
const SATURATION_SPELL_GAP: Duration = Duration::from_secs(3);
/// How long that floor holds after the link was last seen saturated, or last seen carrying
/// what it was sent without loss or a queue.
const DELIVERED_REMEMBERED: Duration = Duration::from_secs(15);

/// A browser in a call sends something many times a second (media, transport feedback,
/// reports); this long with nothing from it is a path that went away.
const SILENCE_OF_A_LOST_PATH: Duration = Duration::from_secs(1);

/// After a path comes back (a NAT rebinding, a new network, coverage regained), this long goes
/// by before its loss counts as congestion: the first reports count every packet sent into the
/// gap as lost, and str0m's estimate falls on them, though the link never saw those packets.
const PATH_SETTLES: Duration = Duration::from_millis(2_500);
/// When the estimate fallen on those losses is put back to what it was before the gap: once
/// the feedback covering the gap has arrived (a round trip and a feedback interval).
const PATH_ESTIMATE_RESTORED_AFTER: Duration = Duration::from_millis(1_000);

/// Most remote ICE candidates a participant may give per offer: a browser gathers a handful
/// per network interface; each one is a pair str0m checks, so more are only a cost.
const MAX_REMOTE_CANDIDATES: usize = 32;
/// Most tracks a participant may publish (a camera, a microphone, a shared screen, with room to
/// spare); more are ignored.
const MAX_TRACKS_IN: usize = 8;
/// The share of what a stream sends (over the last second) that may be resends before str0m
/// drops the resends queued. str0m's own 15 % is below what a village link losing a fifth of
/// its packets at random needs (a fifth resent, and a fifth of those again): resends were
/// dropped, and pictures froze until the next keyframe. The SFU's allocation keeps a link that
/// loses this much to a full queue from being sent more than it carries, so the cap is there
/// against storms of NACKs only.
const RESEND_SHARE_CAP: f32 = 0.4;
/// How many packets, and for how long, are kept for resending (str0m's own defaults).
const RESEND_CACHE_VIDEO: usize = 1000;
const RESEND_CACHE_AUDIO: usize = 50;
const RESEND_CACHE_AGE: Duration = Duration::from_secs(3);

/// One publisher packet on its way to the subscribers, read once for all of them.
pub(crate) struct Forwarded {
    /// The simulcast layer it belongs to (0 for a single stream).
    pub layer: u8,
    pub seq_no: u64,
    pub rtp_time: u32,
    pub received: Instant,
    pub marker: bool,
    /// The header extensions worth passing on (levels, orientation, capture time).
    pub extensions: ExtensionValues,
    pub payload: Arc<[u8]>,
    pub codec: IncomingCodec,
    pub starts_keyframe: bool,
    pub vp8: Option<Vp8Ids>,
    /// For a RED payload, its primary block alone, made the first time a subscriber (or a
    /// tap) without RED needs it: one copy per packet, shared by all of them.
    pub unwrapped: OnceCell<Option<Arc<[u8]>>>,
    /// For a voice: the frames before it, oldest first.
    pub earlier_voices: EarlierVoices,
    /// This voice as RED carrying two, and three, earlier frames (with the Opus payload type it
    /// was made for), made the first time a subscriber on a lossy link needs it.
    pub deep_red: [MadeRed; 2],
}

/// A RED payload the SFU wrote, with the Opus payload type it was written for.
pub(crate) type MadeRed = OnceCell<Option<(u8, Arc<[u8]>)>>;

impl Forwarded {
    /// The Opus payload inside a RED payload (`None` if it is malformed).
    pub fn red_primary(&self) -> Option<Arc<[u8]>> {
        self.unwrapped
            .get_or_init(|| red_primary(&self.payload).map(Arc::from))
            .clone()
    }

    /// This voice as RED whose redundancy is the `frames` (2 or 3) frames before it (a RED
    /// payload from the browser carries one), its blocks of Opus payload type `pt`: on a link
    /// losing a fifth of its packets, two lost in a row are common, four rare.
    pub fn deep_red(&self, pt: u8, frames: usize) -> Option<Arc<[u8]>> {
        let frames = frames.clamp(2, VOICE_HISTORY);
        let build = || {
            let primary = opus_frame(&self.payload, self.codec.red)?;
            let mut earlier: [(u32, &[u8]); VOICE_HISTORY] = [(0, &[]); VOICE_HISTORY];
            let mut count = 0;
            for voice in self.earlier_voices[VOICE_HISTORY - frames..]
                .iter()
                .flatten()
            {
                if let Some(data) = opus_frame(&voice.payload, voice.red) {
                    earlier[count] = (voice.rtp_time, data);
                    count += 1;
                }
            }
            let red = red_with(pt, self.rtp_time, primary, &earlier[..count]);
            Some((pt, Arc::from(red)))
        };
        match self.deep_red[frames - 2].get_or_init(build) {
            Some((made_for, red)) if *made_for == pt => Some(red.clone()),
            // Another subscriber numbers Opus differently: rare, made for it alone.
            Some(_) => build().map(|(_, red)| red),
            None => None,
        }
    }

    /// Whether this voice frame is the first comfort noise after speech. A receiver that loses
    /// it conceals the speech that ended until the next comfort noise, 400 ms later (the RED of
    /// that one cannot reach back so far), instead of falling silent.
    pub fn starts_silence(&self) -> bool {
        let comfort_noise =
            |payload: &[u8], red: bool| opus_frame(payload, red).is_some_and(opus_is_comfort_noise);
        self.earlier_voices[VOICE_HISTORY - 1]
            .as_ref()
            .is_some_and(|before| !comfort_noise(&before.payload, before.red))
            && comfort_noise(&self.payload, self.codec.red)
    }

    /// What a layer switch needs of this packet.
    pub fn layer_packet(&self) -> LayerPacket {
        LayerPacket {
            layer: self.layer,
            seq_no: self.seq_no,
            rtp_time: self.rtp_time,
            arrival: self.received,
            starts_keyframe: self.starts_keyframe,
            vp8: self.vp8,
        }
    }

    /// The descriptor patch that writes rewritten VP8 ids into this payload as it is sent,
    /// without copying it per subscriber.
    fn vp8_patch(&self, rewrite: Vp8Rewrite) -> Option<str0m::rtp::Vp8Patch> {
        let mut patch = Vp8Descriptor::parse(&self.payload).ok()?.patch();
        if let Some(picture_id) = rewrite.picture_id {
            patch = patch.picture_id(picture_id);
        }
        if let Some(tl0) = rewrite.tl0_pic_idx {
            patch = patch.tl0_pic_idx(tl0);
        }
        patch.build().ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Sent,
    /// The subscriber wants this packet's layer and waits for a keyframe of it.
    WaitingForKeyframe,
    /// The subscriber gets another layer of this video (or none right now).
    Skipped,
    NotSubscribed,
}

/// What the voices a participant receives cost plain, and what each earlier frame sent along as
/// redundancy adds (nothing for voices that came without RED: they go plain).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VoiceCosts {
    pub plain: u64,
    pub per_frame: u64,
}

impl VoiceCosts {
    /// With `frames` earlier frames in each packet.
    pub fn with_redundancy(&self, frames: usize) -> u64 {
        self.plain + self.per_frame * frames as u64
    }
}

/// The most earlier frames, up to `frames`, the voices can carry and still fit under `room`.
fn redundancy_that_fits(frames: usize, voices: VoiceCosts, room: Option<u64>) -> usize {
    let Some(room) = room else {
        return frames;
    };
    let room = (room as f64 * REDUNDANCY_ROOM) as u64;
    (0..=frames)
        .rev()
        .find(|&frames| voices.with_redundancy(frames) <= room)
        .unwrap_or(0)
}

/// What the participant's receiver reports tell of its link, from str0m's stats.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LinkStats {
    pub loss_down: Option<f32>,
    pub loss_up: Option<f32>,
    pub rtt: Option<Duration>,
    /// What went out to the participant since the stats before, in bits per second: media,
    /// resends, padding and RTCP, as the link had to carry it.
    pub wire: Option<u64>,
    /// Bytes sent in all, and when, for the next [`Self::wire`].
    pub sent_total: Option<(Instant, u64)>,
}

impl LinkStats {
    /// The last reading of [`Self::wire`], with when it was taken.
    fn wire_reading(&self) -> Option<(Instant, u64)> {
        Some((self.sent_total?.0, self.wire?))
    }

    /// The stats of a new round, given the total bytes sent so far at `at`.
    pub fn next(
        &self,
        loss_down: Option<f32>,
        loss_up: Option<f32>,
        rtt: Option<Duration>,
        sent: u64,
        at: Instant,
    ) -> LinkStats {
        let wire = self.sent_total.and_then(|(before, bytes)| {
            let secs = at.saturating_duration_since(before).as_secs_f64();
            (secs > 0.0).then(|| (sent.saturating_sub(bytes) as f64 * 8.0 / secs) as u64)
        });
        LinkStats {
            loss_down,
            loss_up,
            rtt,
            wire,
            sent_total: Some((at, sent)),
        }
    }
}

/// The lowest round trip seen lately: the path without queues. Kept over windows so a path that
/// changed (a new route) is learnt within two windows, or sooner: a round trip that rose and
/// then stayed flat while less was sent is the path, not a queue (a queue would have
/// drained).
#[derive(Debug, Clone, Default)]
pub(crate) struct RttFloor {
    previous: Option<Duration>,
    current: Option<Duration>,
    window_start: Option<Instant>,
    raised: Option<RaisedRtt>,
}

/// A round trip above the floor: since when, how far it has varied, what was sent then.
#[derive(Debug, Clone, Copy)]
struct RaisedRtt {
    since: Instant,
    low: Duration,
    high: Duration,
    sending: u64,
    /// The most that got through meanwhile (what went out less what was lost).
    through: u64,
    /// What got through by the report that first showed the rise, if it showed no loss, until
    /// the next report confirms it: a queue filling at a new cap drops nothing while its
    /// buffer fills, so that report reads all that went out as through, and only the next
    /// one's loss shows the overflow (a sudden 170 kbit/s cap read 1.2 Mbit/s through at the
    /// rise, and 53 % lost in the report after).
    unconfirmed: Option<u64>,
    /// Since when far less has been sent than when it rose (see [`PATH_SETTLED`]).
    less_sent_since: Option<Instant>,
}

impl RttFloor {
    const WINDOW: Duration = Duration::from_secs(30);

    /// The lowest round trip seen lately.
    pub fn floor(&self) -> Option<Duration> {
        match (self.previous, self.current) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How long the round trip has stood flat above the floor (`None`: it is at the floor, or
    /// still moving).
    pub fn raised_flat_for(&self, now: Instant) -> Option<Duration> {
        self.raised
            .map(|raised| now.saturating_duration_since(raised.since))
    }

    /// Takes a round trip; returns the floor.
    pub fn update(&mut self, rtt: Duration, now: Instant) -> Option<Duration> {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) >= Self::WINDOW {
            self.previous = self.current.take();
            self.window_start = Some(now);
        }
        self.current = Some(self.current.map_or(rtt, |c| c.min(rtt)));
        self.floor()
    }

    /// Whether `sending` is less than when the round trip rose, and well under what the link
    /// was seen to let through: a link capped below what goes out keeps a queue standing as
    /// long as it is sent more than it carries, however much less that is than before (its
    /// round trip stays flat at the buffer's depth, and only sending under its rate drains it).
    fn sends_less(sending: u64, raised: &RaisedRtt) -> bool {
        sending <= raised.sending / 4 * 3 && sending <= raised.through / 2
    }

    /// What `rtt` shows of the path, `sending` being what is sent now and `loss` the share of
    /// it the receiver reports lost.
    pub fn judge(&mut self, rtt: Duration, sending: u64, loss: f32, now: Instant) -> RoundTrip {
        let Some(floor) = self.update(rtt, now) else {
            return RoundTrip::Clear;
        };
        // A long path wanders more: a quarter of it counts as the path's own jitter.
        if rtt <= floor + QUEUEING_DELAY.max(floor / 4) {
            self.raised = None;
            return RoundTrip::Clear;
        }
        let through = got_through(sending, loss);
        let confirmed = |r: &RaisedRtt| {
            let rise_through = r.unconfirmed.filter(|_| loss < QUEUE_OVERFLOW_LOSS);
            r.through.max(through).max(rise_through.unwrap_or(0))
        };
        let raised = match self.raised {
            Some(r) if rtt.abs_diff(r.low).max(rtt.abs_diff(r.high)) <= FLAT_RTT => RaisedRtt {
                low: r.low.min(rtt),
                high: r.high.max(rtt),
                through: confirmed(&r),
                unconfirmed: None,
                ..r
            },
            // Still moving: a queue filling or draining. What was sent when the round trip
            // first rose stays the reference.
            Some(r) => RaisedRtt {
                since: now,
                low: rtt,
                high: rtt,
                sending: r.sending.max(sending),
                through: confirmed(&r),
                unconfirmed: None,
                less_sent_since: None,
            },
            // A rise that came with loss (a slower, lossy path) has shown what gets through;
            // one without may be a buffer filling that has not dropped yet.
            None => {
                let lossless = loss < CLEAN_LOSS;
                RaisedRtt {
                    since: now,
                    low: rtt,
                    high: rtt,
                    sending,
                    through: if lossless { 0 } else { through },
                    unconfirmed: lossless.then_some(through),
                    less_sent_since: None,
                }
            }
        };
        let raised = RaisedRtt {
            less_sent_since: Self::sends_less(sending, &raised)
                .then(|| raised.less_sent_since.unwrap_or(now)),
            ..raised
        };
        self.raised = Some(raised);
        let flat_for = now.saturating_duration_since(raised.since);
        let less_sent_for = raised
            .less_sent_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        if (flat_for >= PATH_SETTLED && less_sent_for >= LESS_SENT_FOR)
            || flat_for >= PATH_SETTLED_ANYWAY
        {
            self.previous = None;
            self.current = Some(raised.low);
            self.window_start = Some(now);
            self.raised = None;
            return RoundTrip::NewPath;
        }
        RoundTrip::Queueing
    }
}

/// What a round trip shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoundTrip {
    /// Near the floor.
    Clear,
    /// Above it: a queue on the way.
    Queueing,
    /// Above it, but flat for a while though less is sent: the path itself is slower now
    /// (it is the new floor).
    NewPath,
}

/// The loss the participant's receiver reports per stream (RTCP receiver reports), over all the
/// streams of one round of str0m's stats, and what its link delivered. Unlike the loss str0m
/// derives from transport feedback, it does not miss packets a saturated queue drops at its
/// tail. Numbers we skipped because the publisher's uplink lost those packets are not the
/// subscriber's loss and are left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReportedLoss {
    streams: Vec<StreamReports>,
    lost: u64,
    expected: u64,
    /// Since when (the reports of that moment) what is delivered is counted, for a rate over
    /// more than one report: one report's packets may span more or less time than between
    /// the moments we read them.
    counting_since: Option<Instant>,
    /// A round of stats has ended since the loss was last taken.
    pub fresh: bool,
}

/// A path that came back after a gap.
#[derive(Debug, Clone, Copy)]
struct PathBack {
    at: Instant,
    estimate_before: Option<u64>,
    /// The estimate was put back (or found not to need it).
    restored: bool,
}

/// The reports of one outgoing stream.
#[derive(Debug, Clone)]
struct StreamReports {
    mid: Mid,
    rid: Option<Rid>,
    last: StreamReport,
    /// Bits received in all, by the receiver's reports, and how many of them by the time
    /// counting began.
    received: u64,
    received_before_counting: u64,
}

/// What a receiver report said of one stream, and what we had skipped up to its highest number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamReport {
    pub highest: u64,
    pub lost: u64,
    pub skipped: u64,
    /// Bytes and packets sent on the stream so far (RTP payload and headers).
    pub sent_bytes: u64,
    pub sent_packets: u64,
    /// When the report was read.
    pub at: Instant,
}

/// What a packet of the stream has cost on the wire lately, in bits: the packets sent since the
/// last report, not since the stream began. A video switched down to its lowest layer sends
/// packets a fraction of the size its higher layers did, and the stream's lifetime average
/// would count what a saturated link delivers a quarter or more over what it carries.
fn recent_packet_bits(before: &StreamReport, now: &StreamReport) -> u64 {
    let (bytes, packets) = match now.sent_packets.checked_sub(before.sent_packets) {
        Some(packets) if packets > 0 => (now.sent_bytes.saturating_sub(before.sent_bytes), packets),
        _ => (now.sent_bytes, now.sent_packets),
    };
    bytes
        .checked_div(packets)
        .map_or(0, |bytes| (bytes + PACKET_OVERHEAD) * 8)
}

/// A stream whose receiver has reported nothing new for this long adds nothing to what the
/// link delivers (receivers report voices less often than video).
const REPORT_STALE: Duration = Duration::from_secs(6);
/// A video whose last report with news is older than this was paused (receivers report video
/// every second): the first report after it spans the pause, and the loss it shows is the tail
/// a queue dropped as the video was paused, counted only now that later packets arrive. Not
/// news of the link, which may carry the resumed video well.
const VIDEO_REPORT_SPANS_A_PAUSE: Duration = Duration::from_millis(2_500);
/// A count of what was delivered over less than this is no rate yet.
const COUNTED_AT_LEAST: Duration = Duration::from_millis(1_500);

impl ReportedLoss {
    pub fn add(&mut self, mid: Mid, rid: Option<Rid>, video: bool, report: StreamReport) {
        let Some(stream) = self
            .streams
            .iter_mut()
            .find(|s| s.mid == mid && s.rid == rid)
        else {
            self.streams.push(StreamReports {
                mid,
                rid,
                last: report,
                received: 0,
                received_before_counting: 0,
            });
            return;
        };
        let before = stream.last;
        if report.highest <= before.highest {
            return;
        }
        let skipped = report.skipped.saturating_sub(before.skipped);
        let expected = (report.highest - before.highest).saturating_sub(skipped);
        let lost = report
            .lost
            .saturating_sub(before.lost)
            .saturating_sub(skipped)
            .min(expected);
        stream.received += (expected - lost) * recent_packet_bits(&before, &report);
        stream.last = report;
        let spans_a_pause =
            video && report.at.saturating_duration_since(before.at) >= VIDEO_REPORT_SPANS_A_PAUSE;
        if !spans_a_pause {
            self.expected += expected;
            self.lost += lost;
        }
    }

    /// The weighted loss of the round, and starts a new one.
    pub fn take(&mut self) -> Option<f32> {
        self.fresh = false;
        let loss = (self.expected > 0).then(|| self.lost as f32 / self.expected as f32);
        self.lost = 0;
        self.expected = 0;
        loss
    }

    /// Starts counting what is delivered from now (see [`Self::delivered`]).
    pub fn count_from(&mut self, now: Instant) {
        self.counting_since = Some(now);
        for stream in &mut self.streams {
            stream.received_before_counting = stream.received;
        }
    }

    /// What the participant received since counting began, in bits per second with packet
    /// overhead, by its own count: on a saturated link, what the link carries. None until
    /// counting has gone on long enough for a rate (the report that began it spans the
    /// moment the link changed, and a burst a shaper's bucket let through).
    pub fn delivered(&self, now: Instant) -> Option<u64> {
        let since = self.counting_since?;
        let counted = now.saturating_duration_since(since);
        if counted < COUNTED_AT_LEAST {
            return None;
        }
        let bits: u64 = self
            .streams
            .iter()
            .filter(|s| now.saturating_duration_since(s.last.at) < REPORT_STALE)
            .map(|s| s.received - s.received_before_counting)
            .sum();
        Some((bits as f64 / counted.as_secs_f64()) as u64)
    }
}

/// What got through of everything sent (media, resends, padding, the pacer's backlog) over a
/// spell of saturation, one sample per round of stats: the share the reports say arrived of
/// what went out. A link saturated just after a cap carries mostly the old queue and its
/// resends, while the media is already cut to the voices: what the media streams' reports
/// count as delivered then is the voices, not what the link carries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WireThrough {
    sum: u64,
    samples: u32,
}

impl WireThrough {
    pub fn take(&mut self, wire: u64, loss: f32) {
        self.sum += got_through(wire, loss);
        self.samples += 1;
    }

    /// The mean over the spell, once there are two samples (the report that began the spell
    /// spans the moment the link changed, and the burst a shaper's bucket let through).
    pub fn rate(&self) -> Option<u64> {
        (self.samples >= 2).then(|| self.sum / u64::from(self.samples))
    }
}

/// What got through of `sent` (bits per second) when the receiver reports `loss` of it lost.
fn got_through(sent: u64, loss: f32) -> u64 {
    (sent as f64 * f64::from(1.0 - loss.clamp(0.0, 1.0))) as u64
}

/// A subscriber's wishes about the videos it receives.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wishes {
    /// Tile sizes (width, height in device pixels) by publisher; `None` until the client says:
    /// then every video may get the best layer that fits.
    pub views: Option<Vec<(PeerKey, u32, u32)>>,
    pub audio_only: bool,
}

pub(crate) struct Peer {
    pub key: PeerKey,
    pub participant: ParticipantId,
    /// The participant id, shared with tapped frames without copying.
    pub label: Arc<str>,
    pub rtc: Rtc,
    pub ufrag: String,
    pub events: mpsc::Sender<PeerEvent>,
    /// When str0m next wants `Input::Timeout`.
    pub deadline: Instant,
    /// The client's first offer has been answered: from then on the server may offer.
    pub negotiated: bool,
    /// Remote candidates given since the participant's last offer.
    remote_candidates: usize,
    pub pending: Option<SdpPendingOffer>,
    /// The SDP of [`Self::pending`], to offer again to a resumed signaling connection.
    pub pending_offer: Option<String>,
    pub tracks_in: Vec<TrackIn>,
    /// The mid the client said carries its shared screen (with the offer that added it).
    pub screen_mid: Option<Mid>,
    pub tracks_out: Vec<TrackOut>,
    pub connected: bool,
    /// Since when its ICE path has been lost (no checks get through): the client is given a
    /// while to restart ICE before the peer is dropped.
    pub path_lost_since: Option<Instant>,
    /// Observers receive only: whatever they offer is not forwarded.
    pub may_publish: bool,
    /// The source of the peer's last nominating check (STUN with USE-CANDIDATE) over UDP:
    /// where the browser, the controlling agent, has chosen to be reached.
    nominated: Option<SocketAddr>,
    /// When anything last arrived from the peer.
    last_heard: Option<Instant>,
    /// When its path last came back, and the estimate before the gap.
    path_back: Option<PathBack>,
    /// In the room's caucus: media flows only between it and others in it.
    pub in_caucus: bool,
    /// Its media reaches the hosts only (an expert advising the mediator).
    pub hosts_only: bool,
    /// The host's video is kept longest when others' bandwidth is short.
    pub host: bool,
    /// Something was fed to `rtc` (input, a write, an SDP change) since it was last drained.
    /// Only such peers are polled: polling the idle ones on every packet cost more than the
    /// forwarding itself in large rooms.
    pub needs_poll: bool,
    pub wishes: Wishes,
    /// The send-side bandwidth estimate towards this participant, bits per second.
    pub estimate: Option<u64>,
    /// What the media sent to this participant costs now (the last allocation).
    pub sending: u64,
    /// The most allocated over the last [`LOSS_REPORT_SPAN`], and since when.
    sending_peak: (Instant, u64),
    /// What str0m's estimator was last asked to probe towards, when that was raised, and how
    /// many raises in a row the estimate did not follow.
    pub probe_desired: u64,
    pub probe_raised: Option<Instant>,
    pub probe_misses: u32,
    /// A ceiling from the loss the participant reports, below the estimate, which lags a link
    /// that just got worse: cut to what got through on each report of heavy loss, raised
    /// gently while the link is clean, gone once the estimate is lower.
    pub loss_ceiling: Option<u64>,
    /// What the link delivered when it was last seen saturated (heavy loss to a queue), and
    /// when: a floor for the estimate while that is recent.
    pub delivered: Option<(Instant, u64)>,
    /// When [`Self::delivered`] was last measured (it is kept fresh meanwhile while the link
    /// carries what it is sent).
    delivered_measured: Option<Instant>,
    /// What got through of all that went out during the current spell of saturation.
    wire_through: WireThrough,
    /// What got through in the report that began the last spell of saturation, and when: too
    /// rough to hold the estimate up (the report spans the moment the link changed), but a
    /// bound on what the link carries when the spell is too short to measure. It is short
    /// when the SFU's cut drops the pacer's backlog with the layers it cut (see
    /// [`Self::drop_queued`]).
    saturation_onset: Option<(Instant, u64)>,
    /// When the link was last seen saturated.
    last_saturated: Option<Instant>,
    /// When padding last tried a step up (more sent than the media).
    last_padded: Option<Instant>,
    pub link: LinkStats,
    pub rtt_floor: RttFloor,
    /// The last round trip was well above its floor.
    pub queueing: bool,
    /// When a queue was last seen filling on the link.
    last_queueing: Option<Instant>,
    /// When the last queue began (the first report showing it after one without).
    pub queue_began_at: Option<Instant>,
    /// Voices go to this participant as RED (each packet carrying the one before): its link
    /// loses packets, or has not been clean for long.
    pub wants_red: bool,
    /// Its link loses so much that the voices go as RED with this many earlier frames (2 or
    /// 3; 0 for the browser's RED as it came).
    pub deep_red_frames: usize,
    /// Since when its link has been clean (for dropping the redundancy).
    clean_since: Option<Instant>,
    pub reported_loss: ReportedLoss,
    pub allocator: Allocator,
    /// Watches the estimate for a flat spell that only padding lifts.
    pub stuck_estimate: StuckEstimate,
    /// What the link carried while losing packets at random.
    chance_loss: ChanceLoss,
    pub quality: QualityMark,
    /// How long at least one video to this participant was paused for bandwidth.
    pub paused_for: Duration,
    /// Layer switches of outgoing tracks already removed.
    pub past_switches: u32,
}

impl Peer {
    pub fn new(
        key: PeerKey,
        participant: ParticipantId,
        rtc: Rtc,
        ufrag: String,
        events: mpsc::Sender<PeerEvent>,
        now: Instant,
    ) -> Peer {
        Peer {
            key,
            label: Arc::from(participant.0.as_str()),
            participant,
            rtc,
            ufrag,
            events,
            deadline: now,
            negotiated: false,
            remote_candidates: 0,
            pending: None,
            pending_offer: None,
            screen_mid: None,
            tracks_in: Vec::new(),
            tracks_out: Vec::new(),
            connected: false,
            path_lost_since: None,
            path_back: None,
            may_publish: true,
            host: false,
            needs_poll: true,
            wishes: Wishes::default(),
            estimate: None,
            sending: 0,
            sending_peak: (Instant::now(), 0),
            probe_desired: 0,
            probe_raised: None,
            probe_misses: 0,
            loss_ceiling: None,
            delivered: None,
            delivered_measured: None,
            saturation_onset: None,
            wire_through: WireThrough::default(),
            last_saturated: None,
            last_padded: None,
            link: LinkStats::default(),
            rtt_floor: RttFloor::default(),
            queueing: false,
            last_queueing: None,
            queue_began_at: None,
            wants_red: true,
            deep_red_frames: 0,
            clean_since: None,
            reported_loss: ReportedLoss::default(),
            allocator: Allocator::new(),
            stuck_estimate: StuckEstimate::default(),
            chance_loss: ChanceLoss::default(),
            quality: QualityMark::new(),
            paused_for: Duration::ZERO,
            past_switches: 0,
            nominated: None,
            last_heard: None,
            in_caucus: false,
            hosts_only: false,
        }
    }

    /// Accepts the client's offer. Any server offer still waiting for its answer is abandoned
    /// (the client's offer wins the glare) and redone after.
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, SfuError> {
        // Candidates in the offer count too: each is a pair for str0m to keep.
        let candidates = sdp
            .lines()
            .filter(|line| line.trim_start().starts_with("a=candidate"))
            .count();
        if candidates > MAX_REMOTE_CANDIDATES {
            return Err(SfuError::TooManyCandidates);
        }
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|_| SfuError::BadSdp)?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::SdpRefused(e.to_string()))?;
        self.pending = None;
        self.pending_offer = None;
        // A new offer may restart ICE, with candidates of its own.
        self.remote_candidates = candidates;
        for track in &mut self.tracks_out {
            track.state = match track.state {
                TrackOutState::Negotiating(_) => TrackOutState::ToOpen,
                TrackOutState::NegotiatingStop(mid) => TrackOutState::ToStop(mid),
                other => other,
            };
        }
        self.negotiated = true;
        Ok(answer.to_sdp_string())
    }

    /// Applies the client's answer to our pending offer; returns the tracks that just opened.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<Vec<Source>, SfuError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|_| SfuError::BadSdp)?;
        let pending = self.pending.take().ok_or(SfuError::NoPendingOffer)?;
        self.pending_offer = None;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| SfuError::SdpRefused(e.to_string()))?;
        let mut opened = Vec::new();
        for track in &mut self.tracks_out {
            if let TrackOutState::Negotiating(mid) = track.state {
                track.state = TrackOutState::Open(mid);
                let cache = if track.kind == MediaKind::Video {
                    opened.push(track.source);
                    RESEND_CACHE_VIDEO
                } else {
                    RESEND_CACHE_AUDIO
                };
                if let Some(stream) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    stream.set_rtx_cache(cache, RESEND_CACHE_AGE, Some(RESEND_SHARE_CAP));
                }
            }
        }
        let removed: u32 = self
            .tracks_out
            .iter()
            .filter(|t| matches!(t.state, TrackOutState::NegotiatingStop(_)))
            .filter_map(|t| t.video().map(|v| v.switch.switches()))
            .sum();
        self.past_switches += removed;
        self.tracks_out
            .retain(|t| !matches!(t.state, TrackOutState::NegotiatingStop(_)));
        Ok(opened)
    }

    /// Drops what str0m's pacer still holds of outgoing track `slot`, and the packets kept for
    /// resending it: after a video is cut back on a link that has just narrowed, the pacer
    /// would go on draining the old layer into it for seconds, crowding out the voices, and
    /// the subscriber decodes from the new layer's keyframe anyway.
    pub fn drop_queued(&mut self, slot: usize) {
        let Some(mid) = self.tracks_out.get(slot).and_then(|t| t.open_mid()) else {
            return;
        };
        let Some(direction) = self.rtc.media(mid).map(|m| m.direction()) else {
            return;
        };
        if !direction.is_sending() {
            return;
        }
        let queued = self
            .rtc
            .direct_api()
            .stream_tx_by_mid(mid, None)
            .and_then(|s| s.queue_info().map(|q| q.packet_count()))
            .unwrap_or(0);
        // The subscriber's reports will count their numbers lost: its link lost nothing.
        self.tracks_out[slot].skipped.unsent_last(queued);
        // str0m 0.25 empties a stream's queues only when its media stops sending. The change
        // is undone at once and never applied, so nothing is negotiated and the subscriber
        // never sees it (`a_sudden_cap_costs_the_voices_only_its_first_second_and_pauses_no_video`
        // fails if str0m stops emptying it).
        let mut change = self.rtc.sdp_api();
        change.set_direction(mid, Direction::Inactive);
        change.set_direction(mid, direction);
    }

    /// What str0m's pacer holds for this participant, not sent yet, in bytes (for the logs).
    pub fn queued_bytes(&mut self) -> usize {
        let mids: Vec<Mid> = self
            .tracks_out
            .iter()
            .filter_map(|t| t.open_mid())
            .collect();
        let mut api = self.rtc.direct_api();
        let mut queued = 0;
        for mid in mids {
            if let Some(info) = api.stream_tx_by_mid(mid, None).and_then(|s| s.queue_info()) {
                queued += info.byte_size();
            }
        }
        queued
    }

    /// Notes a datagram from `source` over UDP that the router let through (a source it learnt
    /// from a signed check): a nominating check moves where the peer is reached. Whether it
    /// moved the peer from an address it was reached at before (what went there meanwhile is
    /// lost).
    pub fn note_nomination(&mut self, source: SocketAddr, datagram: &[u8]) -> bool {
        // STUN starts with two zero bits (RFC 7983); media is never parsed here.
        if datagram.first().is_none_or(|b| *b > 3) || self.nominated == Some(source) {
            return false;
        }
        let nominating = StunMessage::parse(datagram)
            .is_ok_and(|message| message.is_binding_request() && message.use_candidate());
        if !nominating {
            return false;
        }
        self.nominated.replace(source).is_some()
    }

    /// Notes that a datagram arrived from the peer at `now`. Whether it ends a silence long
    /// enough that what was sent either way meanwhile is lost: a path that went away and came
    /// back on the same address, which neither ICE nor a new address tells.
    pub fn heard(&mut self, now: Instant) -> bool {
        let back = self
            .last_heard
            .is_some_and(|last| now.saturating_duration_since(last) >= SILENCE_OF_A_LOST_PATH);
        self.last_heard = Some(now);
        back
    }

    /// Starts str0m's estimator again from `bps`, which is also the estimate until str0m's
    /// next says otherwise.
    pub fn restart_estimate(&mut self, bps: u64) {
        self.rtc.bwe().reset(str0m::bwe::Bitrate::bps(bps));
        self.estimate = Some(bps);
    }

    /// Its path came back after a gap: what was sent into the gap will be reported lost, which
    /// says nothing of congestion on the path now.
    pub fn note_path_back(&mut self, now: Instant) {
        let settling = self.path_settling(now);
        if let Some(back) = self.path_back.as_mut().filter(|_| settling) {
            // Still settling from the last: the estimate before that gap is the one to keep.
            back.at = now;
            back.restored = false;
            return;
        }
        self.path_back = Some(PathBack {
            at: now,
            estimate_before: self.estimate,
            restored: false,
        });
    }

    /// Whether a path that came back is still too fresh for its loss to count.
    pub fn path_settling(&self, now: Instant) -> bool {
        self.path_back
            .is_some_and(|back| now.saturating_duration_since(back.at) < PATH_SETTLES)
    }

    /// The estimate to put str0m's estimator back to, once, after a gap's losses knocked it
    /// down: what it was before the gap.
    pub fn estimate_before_gap(&mut self, now: Instant) -> Option<u64> {
        let back = self.path_back.as_mut()?;
        let since = now.saturating_duration_since(back.at);
        if back.restored || since < PATH_ESTIMATE_RESTORED_AFTER || since >= PATH_SETTLES {
            return None;
        }
        back.restored = true;
        let before = back.estimate_before?;
        let fell = self
            .estimate
            .is_some_and(|now| (now as f64) < before as f64 * 0.7);
        fell.then_some(before)
    }

    /// Where a UDP datagram str0m addressed to `destination` goes. Media, DTLS and RTCP go to
    /// the address the browser last nominated: str0m keeps its selected pair when a new
    /// nomination has the same priority, which a NAT rebinding's always has, and would send to
    /// the dead address until that pair expires (15 s). STUN answers go where str0m says.
    pub fn udp_destination(&self, destination: SocketAddr, datagram: &[u8]) -> SocketAddr {
        let stun = datagram.first().is_some_and(|b| *b <= 3);
        match self.nominated {
            Some(nominated) if !stun => nominated,
            _ => destination,
        }
    }

    pub fn add_remote_candidate(&mut self, candidate: &str) -> Result<(), SfuError> {
        let line = candidate.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        if line.is_empty() {
            // End-of-candidates: nothing to do for an ICE-lite server.
            return Ok(());
        }
        let candidate = Candidate::from_sdp_string(line).map_err(|_| SfuError::BadCandidate)?;
        if self.remote_candidates >= MAX_REMOTE_CANDIDATES {
            return Err(SfuError::TooManyCandidates);
        }
        self.remote_candidates += 1;
        self.rtc.add_remote_candidate(candidate);
        Ok(())
    }

    /// If tracks need adding or removing and no offer is outstanding, makes the server's offer.
    pub fn renegotiate(&mut self) -> Option<String> {
        if !self.negotiated || self.pending.is_some() {
            return None;
        }
        let changed = self.tracks_out.iter().any(|t| {
            matches!(t.state, TrackOutState::ToOpen | TrackOutState::ToStop(_))
                || (matches!(t.state, TrackOutState::Open(_)) && t.parted != t.offered_parted)
        });
        if !changed {
            return None;
        }
        self.needs_poll = true;
        let mut change = self.rtc.sdp_api();
        for track in &mut self.tracks_out {
            match track.state {
                TrackOutState::ToOpen => {
                    let mid = change.add_media(
                        track.kind,
                        Direction::SendOnly,
                        Some(track.stream_id.clone()),
                        None,
                        None,
                    );
                    track.state = TrackOutState::Negotiating(mid);
                }
                TrackOutState::ToStop(mid) => {
                    change.stop_media(mid);
                    track.state = TrackOutState::NegotiatingStop(mid);
                }
                TrackOutState::Open(mid) if track.parted != track.offered_parted => {
                    let direction = match track.parted {
                        true => Direction::Inactive,
                        false => Direction::SendOnly,
                    };
                    change.set_direction(mid, direction);
                    track.offered_parted = track.parted;
                }
                _ => {}
            }
        }
        if !change.has_changes() {
            return None;
        }
        let (offer, pending) = change.apply()?;
        self.pending = Some(pending);
        let offer = offer.to_sdp_string();
        self.pending_offer = Some(offer.clone());
        Some(offer)
    }

    pub fn subscribe(&mut self, source: Source, kind: MediaKind, stream_id: &str) {
        if self.tracks_out.iter().any(|t| t.source == source) {
            return;
        }
        self.tracks_out.push(TrackOut::new(source, kind, stream_id));
    }

    /// The publisher of `source` is gone: stop forwarding it.
    pub fn unsubscribe_from(&mut self, publisher: PeerKey) {
        let mut switches = 0;
        self.tracks_out.retain_mut(|track| {
            if track.source.peer != publisher {
                return true;
            }
            match track.state {
                // Never offered: forget it.
                TrackOutState::ToOpen => {
                    switches += track.video().map_or(0, |v| v.switch.switches());
                    false
                }
                TrackOutState::Negotiating(mid) | TrackOutState::Open(mid) => {
                    track.state = TrackOutState::ToStop(mid);
                    true
                }
                TrackOutState::ToStop(_) | TrackOutState::NegotiatingStop(_) => true,
            }
        });
        self.past_switches += switches;
        if let Some(views) = &mut self.wishes.views {
            views.retain(|(key, _, _)| *key != publisher);
        }
    }

    /// Hands one of `source`'s packets to this subscriber, if it receives `source` (and, for
    /// video, the packet's layer).
    pub fn forward(&mut self, source: Source, packet: &Forwarded) -> Delivery {
        let copies = if packet.starts_silence() {
            self.silence_copies()
        } else {
            0
        };
        let Some(track) = self.tracks_out.iter_mut().find(|t| t.source == source) else {
            return Delivery::NotSubscribed;
        };
        let Some(mid) = track.open_mid() else {
            return Delivery::NotSubscribed;
        };
        let (mut seq_no, rtp_time, rewrite) = match &mut track.flow {
            Flow::Audio(sequence) => {
                if !sequence.is_forwarding() {
                    sequence.start_at(packet.seq_no);
                }
                let Some(seq_no) = sequence.map(packet.seq_no) else {
                    return Delivery::Skipped;
                };
                (seq_no, packet.rtp_time, None)
            }
            Flow::Video(video) => match video.switch.decide(&packet.layer_packet()) {
                Verdict::Forward(out) => (out.seq_no, out.rtp_time, out.vp8),
                Verdict::WaitingForKeyframe => return Delivery::WaitingForKeyframe,
                Verdict::Skip => return Delivery::Skipped,
            },
        };
        let types = match track.payload_types {
            Some(types) if types.from == packet.codec.pt => types,
            _ => {
                // A subscriber that cannot take the codec gets nothing of this track.
                let Some(ours) = self.rtc.codec_config().match_params(packet.codec.params) else {
                    return Delivery::NotSubscribed;
                };
                let types = PayloadTypes {
                    from: packet.codec.pt,
                    plain: ours.pt(),
                    red: ours.red().filter(|_| packet.codec.red),
                };
                track.payload_types = Some(types);
                types
            }
        };
        // RED goes as it is to a subscriber that negotiated it and whose link loses packets;
        // otherwise as its plain Opus (the redundancy would only take bandwidth).
        // A link losing much gets RED with two earlier frames, written here.
        let deep = match types.red {
            Some(red) if self.deep_red_frames > 0 => packet
                .deep_red(*types.plain, self.deep_red_frames)
                .map(|p| (red, p)),
            _ => None,
        };
        let (pt, payload) = match (deep, types.red) {
            (Some(deep), _) => deep,
            (None, Some(red)) if self.wants_red => (red, packet.payload.clone()),
            _ if packet.codec.red => {
                let Some(primary) = packet.red_primary() else {
                    return Delivery::Skipped;
                };
                (types.plain, primary)
            }
            _ => (types.plain, packet.payload.clone()),
        };
        let mut direct = self.rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(mid, None) else {
            return Delivery::NotSubscribed;
        };
        let copy = (copies > 0).then(|| payload.clone());
        let mut write = RtpWrite::new(pt, seq_no.into(), rtp_time, packet.received, payload)
            .marker(packet.marker)
            .ext_vals(packet.extensions.clone())
            .nackable(true);
        if let Some(patch) = rewrite.and_then(|r| packet.vp8_patch(r)) {
            write = write.vp8_patch(patch);
        }
        stream.write_rtp(write);
        track.skipped.sent(seq_no);
        if let (Flow::Audio(sequence), Some(payload)) = (&mut track.flow, copy) {
            for _ in 0..copies {
                let Some(copy_no) = sequence.insert_after(seq_no, packet.seq_no) else {
                    break;
                };
                let write = RtpWrite::new(
                    pt,
                    copy_no.into(),
                    rtp_time,
                    packet.received,
                    payload.clone(),
                )
                .marker(packet.marker)
                .ext_vals(packet.extensions.clone());
                stream.write_rtp(write);
                track.skipped.sent(copy_no);
                seq_no = copy_no;
            }
        }
        self.needs_poll = true;
        Delivery::Sent
    }

    /// Extra copies of a voice's first comfort noise for this subscriber: its link loses
    /// packets, and a lost one costs 400 ms of concealment. A byte or two each, once per pause.
    fn silence_copies(&self) -> usize {
        if self.deep_red_frames > 0 {
            self.deep_red_frames
        } else if self.wants_red {
            1
        } else {
            0
        }
    }

    /// Stops forwarding `source` to this peer at once (a caucus parted them): when it flows
    /// again, audio carries on its numbering and video starts at a keyframe, so neither
    /// decoder sees a break.
    pub fn hold_back(&mut self, source: Source) {
        for track in self.tracks_out.iter_mut().filter(|t| t.source == source) {
            match &mut track.flow {
                Flow::Audio(sequence) => sequence.pause(),
                Flow::Video(video) => video.switch.stop(),
            }
        }
        self.needs_poll = true;
    }

    /// The publisher restarted the stream of `layer` on `source`: every subscriber getting it
    /// starts again at a keyframe of the new one.
    pub fn restart_forwarding(&mut self, source: Source, layer: u8) {
        for track in self.tracks_out.iter_mut().filter(|t| t.source == source) {
            match &mut track.flow {
                Flow::Audio(sequence) => sequence.pause(),
                Flow::Video(video) => video.switch.restart(layer),
            }
        }
    }

    /// The source forwarded on one of our outgoing mids, and the layer of it this peer gets
    /// (or waits for); `None` for audio or a video not started yet.
    pub fn source_of(&self, mid: Mid) -> Option<(Source, Option<u8>)> {
        let track = self.tracks_out.iter().find(|t| match t.state {
            TrackOutState::Open(m) | TrackOutState::Negotiating(m) => m == mid,
            _ => false,
        })?;
        let layer = track
            .video()
            .and_then(|v| v.switch.current().or(v.switch.target()));
        Some((track.source, layer))
    }

    /// A track the participant offered to publish; false if it is known or one too many.
    pub fn add_track_in(&mut self, mid: Mid, kind: MediaKind, rids: &[Rid]) -> bool {
        if self.tracks_in.iter().any(|t| t.mid == mid) || self.tracks_in.len() >= MAX_TRACKS_IN {
            return false;
        }
        let number = u32::try_from(self.tracks_in.len()).unwrap_or(u32::MAX);
        let mut track = TrackIn::new(mid, kind, number, rids);
        if kind == MediaKind::Video && self.screen_mid == Some(mid) {
            track.shared_screen = Some(Arc::from(screen_stream_id(&self.participant.0)));
        }
        self.tracks_in.push(track);
        true
    }

    /// The published track and layer an incoming packet belongs to, and whether its SSRC is
    /// new for the layer (the publisher restarted that stream). Looked up in str0m once per
    /// SSRC; a packet of a rid the SDP did not declare belongs nowhere.
    pub fn track_in_for(&mut self, ssrc: Ssrc) -> Option<(usize, u8, bool)> {
        for (index, track) in self.tracks_in.iter().enumerate() {
            if let Some(layer) = track.layers.iter().position(|l| l.ssrc == Some(ssrc)) {
                return Some((index, layer as u8, false));
            }
        }
        let (mid, rid) = {
            let mut direct = self.rtc.direct_api();
            let stream = direct.stream_rx(&ssrc)?;
            (stream.mid(), stream.rid())
        };
        let index = self.tracks_in.iter().position(|t| t.mid == mid)?;
        let layer = self.tracks_in[index].layer_of(rid)?;
        let restarted = self.tracks_in[index].layers[layer]
            .ssrc
            .replace(ssrc)
            .is_some();
        Some((index, layer as u8, restarted))
    }

    /// The codec behind payload type `pt` on published track `index` (a RED payload type
    /// stands for the codec it wraps).
    pub fn incoming_codec(&mut self, index: usize, pt: Pt) -> Option<IncomingCodec> {
        if let Some(known) = self.tracks_in[index].codec.filter(|c| c.pt == pt) {
            return Some(known);
        }
        let config = self.rtc.codec_config();
        let (params, red) = match config.find(|p| p.pt() == pt) {
            Some(params) => (*params, false),
            None => (*config.find(|p| p.red() == Some(pt))?, true),
        };
        let spec = params.spec();
        let codec = IncomingCodec {
            pt,
            params,
            codec: tap_codec(spec.codec),
            clock_rate: spec.clock_rate.get(),
            red,
        };
        tracing::debug!(participant = %self.participant, pt = *pt, red, "incoming codec");
        self.tracks_in[index].codec = Some(codec);
        Some(codec)
    }

    /// Asks this publisher for a keyframe on `mid`: on one layer, or on every layer when
    /// `layer` is `None`. At most once per interval per layer.
    pub fn request_keyframe(&mut self, mid: Mid, layer: Option<u8>, now: Instant) {
        let Some(track) = self.tracks_in.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        if track.kind != MediaKind::Video {
            return;
        }
        let layers = match layer {
            Some(layer) => usize::from(layer)..usize::from(layer) + 1,
            None => 0..track.layers.len(),
        };
        for layer in layers {
            if !track.keyframe_request_due(layer, now) {
                continue;
            }
            let rid = track.layers[layer].rid;
            let mut direct = self.rtc.direct_api();
            let Some(stream) = direct.stream_rx_by_mid(mid, rid) else {
                continue;
            };
            stream.request_keyframe(KeyframeRequestKind::Pli);
            self.needs_poll = true;
        }
    }

    /// Hands an event to this participant's signaling connection without waiting: a connection
    /// that does not keep up is treated as gone.
    pub fn notify(&self, event: PeerEvent) -> bool {
        self.events.try_send(event).is_ok()
    }

    /// What the link delivered when it was last saturated, and when that was measured; what
    /// got through as its last saturation began, if that was too short to measure.
    pub fn last_delivery(&self) -> Option<(Instant, u64)> {
        let measured = self
            .delivered_measured
            .zip(self.delivered.map(|(_, delivered)| delivered));
        match (measured, self.saturation_onset) {
            (Some(measured), Some(onset)) if onset.0 > measured.0 => Some(onset),
            (Some(measured), _) => Some(measured),
            (None, onset) => onset,
        }
    }

    /// Most of what the link delivered when it was last saturated, while that is recent (0
    /// otherwise): the estimate, which falls far below it and climbs back slowly, is not
    /// believed below this. While the queue the saturation filled is still there, less: what
    /// leaves room for the queue to drain within [`DRAIN_WITHIN`] (a deep buffer drains slowly
    /// at nearly what the link carries; a short one, like a village router's, at once).
    pub fn delivered_floor(&self, now: Instant) -> u64 {
        let Some((_, delivered)) = self
            .delivered
            .filter(|(at, _)| now.saturating_duration_since(*at) < DELIVERED_REMEMBERED)
        else {
            return 0;
        };
        let kept = delivered as f64 * DELIVERED_KEPT;
        if !self.queueing {
            return kept as u64;
        }
        let queued = match (self.link.rtt, self.rtt_floor.floor()) {
            (Some(rtt), Some(floor)) => rtt.saturating_sub(floor),
            _ => DRAIN_WITHIN,
        };
        let room = 1.0 - (queued.as_secs_f64() / DRAIN_WITHIN.as_secs_f64()).min(1.0);
        (kept * room) as u64
    }

    /// The bandwidth to allocate: the estimate, under the loss ceiling while there is one, no
    /// lower than [`Self::delivered_floor`], nor than what a link losing at random has carried
    /// of video with the voices, `audio`, on top ([`ChanceLoss::floor`]).
    pub fn usable_bandwidth(&self, initial: u64, audio: u64, now: Instant) -> u64 {
        let estimate = self.estimate.unwrap_or(initial);
        self.loss_ceiling
            .map_or(estimate, |ceiling| estimate.min(ceiling))
            .max(self.delivered_floor(now))
            .max(self.chance_loss.floor(audio, now))
    }

    /// Padding tried a step up so lately that a queue showing now may be its doing (a queue
    /// shows in the round trip a report or two after its cause).
    fn padded_lately(&self, now: Instant) -> bool {
        self.last_padded
            .is_some_and(|at| now.saturating_duration_since(at) < PADDING_QUEUE_SHOWS_WITHIN)
    }

    /// Notes that padding is trying a step up now.
    pub fn note_padding(&mut self, now: Instant) {
        self.last_padded = Some(now);
    }

    /// What went out to the participant lately, as a padding trial may count it.
    pub fn wire_reading(&self, now: Instant) -> WireReading {
        if self.chance_loss.lossy_lately(now) {
            return WireReading::Uninformative;
        }
        self.link
            .wire_reading()
            .map_or(WireReading::Unread, |(at, wire)| {
                WireReading::Read(at, wire)
            })
    }

    /// The video a link losing at random is held to now (for the logs).
    pub fn chance_video(&self, now: Instant) -> u64 {
        self.chance_loss.floor(0, now)
    }

    /// Takes what the allocation sends now, `audio` of it to the voices.
    pub fn note_sending(&mut self, sending: u64, audio: u64, now: Instant) {
        self.sending = sending;
        self.chance_loss
            .note_sent(sending.saturating_sub(audio), now);
        let (since, peak) = self.sending_peak;
        if sending >= peak || now.saturating_duration_since(since) > LOSS_REPORT_SPAN {
            self.sending_peak = (now, sending);
        }
    }

    /// Whether the round trip stands raised and flat while it is judged (a queue, or a path).
    fn judging_a_flat_round_trip(&self, now: Instant) -> bool {
        self.queueing
            && self
                .rtt_floor
                .raised_flat_for(now)
                .is_some_and(|flat| flat >= JUDGED_FLAT_FOR)
    }

    /// Whether a queue was seen on the link lately: loss then is congestion, not chance.
    fn congested_lately(&self, now: Instant) -> bool {
        self.last_queueing
            .is_some_and(|at| now.saturating_duration_since(at) < CONGESTION_REMEMBERED)
    }

    /// Takes the downlink loss of the last second: redundancy for the voices while the link
    /// loses packets at random, none once it has been clean for a while or when it is
    /// congested.
    pub fn update_red(&mut self, loss: f32, now: Instant) {
        if self.judging_a_flat_round_trip(now) && (RED_LOSS..JUDGED_RED_LOSS_BELOW).contains(&loss)
        {
            // A round trip that rose and stands flat is a slower path losing at random as
            // likely as a queue standing at a cap, and telling them apart can take seconds:
            // meanwhile the voices get one earlier frame, which the allocation makes room for
            // before any video (and cuts to what fits under a queue's ceiling).
            self.wants_red = true;
            self.deep_red_frames = 0;
            self.clean_since = None;
            return;
        }
        // Loss from a filling queue is congestion: redundancy would only add to it. Loss is
        // reported after the queue that caused it has drained, so a queue seen lately counts.
        let congested = self.congested_lately(now);
        if loss >= RED_LOSS && !congested {
            self.wants_red = true;
            // Loss this heavy is a queue overflowing more likely than chance: keep what the
            // voices have, but add nothing that would feed it.
            let frames = if loss >= QUEUE_OVERFLOW_LOSS {
                0
            } else if loss >= DEEPER_RED_LOSS {
                3
            } else if loss >= DEEP_RED_LOSS {
                2
            } else {
                0
            };
            self.deep_red_frames = self.deep_red_frames.max(frames);
            self.clean_since = None;
        } else if congested {
            self.wants_red = false;
            self.clean_since = None;
        } else if loss < CLEAN_LOSS {
            let since = *self.clean_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= RED_DROPPED_AFTER {
                self.wants_red = false;
            }
        } else {
            self.clean_since = None;
        }
        if !self.wants_red {
            self.deep_red_frames = 0;
        }
    }

    /// How many earlier frames each voice packet carries to this participant (0: none).
    pub fn redundancy(&self) -> usize {
        match (self.wants_red, self.deep_red_frames) {
            (false, _) => 0,
            (true, frames) => frames.max(1),
        }
    }

    /// Cuts the redundancy to what fits, with the voices, under `room` (what the link may be
    /// sent, when a queue showed what it carries): redundancy sent into a full queue is lost
    /// with the voices it was to repair, and takes others with it.
    pub fn fit_redundancy(&mut self, voices: VoiceCosts, room: Option<u64>) {
        let fits = redundancy_that_fits(self.redundancy(), voices, room);
        if fits < self.redundancy() {
            self.wants_red = fits > 0;
            self.deep_red_frames = if fits > 1 { fits } else { 0 };
        }
    }

    /// What the link shows of congestion: a round trip grown above its floor (a queue filling
    /// on the way), or loss.
    pub fn strain(&self) -> Strain {
        if self.queueing {
            Strain::Queueing
        } else if self.link.loss_down.is_some_and(|loss| loss >= CLEAN_LOSS) {
            Strain::Loss
        } else {
            Strain::None
        }
    }

    /// Takes the loss the participant reported over the last second. Loss counts as congestion
    /// only while the round trip has grown (a queue is filling): a link that just loses packets
    /// at random, on a slow round trip, still carries video, repaired by resends.
    pub fn update_loss_ceiling(&mut self, loss: f32, now: Instant) {
        let estimate = self.estimate.unwrap_or(u64::MAX);
        // A queue is kept full by all that goes out (resends and padding too), not by the
        // media alone: a round trip that stays up while the media was cut but resends were not
        // is still the queue.
        let put_out = self
            .link
            .wire
            .map_or(self.sending, |wire| wire.max(self.sending));
        let round_trip = self.link.rtt.map_or(RoundTrip::Clear, |rtt| {
            self.rtt_floor.judge(rtt, put_out, loss, now)
        });
        if loss >= HEAVY_LOSS {
            self.allocator.hold_ceiling(now);
        }
        let queueing = round_trip == RoundTrip::Queueing;
        let queue_began = queueing && !self.queueing;
        if queue_began {
            self.queue_began_at = Some(now);
        }
        self.queueing = queueing;
        if queueing {
            self.last_queueing = Some(now);
        }
        if round_trip == RoundTrip::NewPath {
            // What looked like a queue was the path: its loss is chance, not congestion.
            self.last_queueing = None;
            self.loss_ceiling = None;
            self.delivered = None;
            self.saturation_onset = None;
            self.allocator.path_is_slower();
        }
        self.chance_loss.take_report(loss, queueing, now);
        if round_trip == RoundTrip::NewPath {
            self.chance_loss.path_settled(now);
            return;
        }
        let saturated = loss >= HEAVY_LOSS && queueing;
        if saturated {
            // Counted over the whole spell of saturation: each report alone is a rough rate.
            let spell_goes_on = self
                .last_saturated
                .is_some_and(|at| now.saturating_duration_since(at) < SATURATION_SPELL_GAP);
            if spell_goes_on {
                if let Some(wire) = self.link.wire {
                    self.wire_through.take(wire, loss);
                }
                let media = self.reported_loss.delivered(now);
                if let Some(delivered) = media.max(self.wire_through.rate()) {
                    self.delivered = Some((now, delivered));
                    self.delivered_measured = Some(now);
                }
            } else {
                self.reported_loss.count_from(now);
                self.wire_through = WireThrough::default();
                self.saturation_onset = self.link.wire.map(|wire| (now, got_through(wire, loss)));
            }
            self.last_saturated = Some(now);
        } else if queue_began && !self.padded_lately(now) {
            // A new queue without heavy loss, and not one the padding of a trial filled: the
            // floor itself is more than the link carries.
            self.delivered = None;
        } else if loss < CLEAN_LOSS && !queueing {
            // The link goes on carrying what it is sent: the measure holds as long as it does
            // (the estimate can stay low for a minute after heavy loss).
            if let Some((at, _)) = &mut self.delivered {
                *at = now;
            }
        }
        self.loss_ceiling = if saturated {
            // While the queue drains the media is cut deeper: what got through of what was
            // allocated when the loss happened (the report lags, and the allocation has often
            // been cut since, so the most allocated lately), or of the ceiling, if that was
            // less and still lost as much.
            let sent = self
                .loss_ceiling
                .unwrap_or(u64::MAX)
                .min(self.sending_peak.1);
            Some(got_through(sent, loss))
        } else if loss < CLEAN_LOSS && !queueing {
            // The queue has drained and nothing is lost: the estimate leads again.
            None
        } else if loss < CLEAN_LOSS {
            self.loss_ceiling
                .map(|ceiling| (ceiling as f64 * CEILING_RISE) as u64)
                .filter(|ceiling| *ceiling < estimate)
        } else {
            self.loss_ceiling
        };
    }

    /// How many numbers up to `highest` the stream this participant receives on `mid` skipped.
    pub fn skipped_up_to(&self, mid: Mid, highest: u64) -> u64 {
        self.tracks_out
            .iter()
            .find(|t| t.open_mid() == Some(mid))
            .map_or(0, |t| t.skipped.up_to(highest))
    }

    /// Layer switches of every video this participant received.
    pub fn layer_switches(&self) -> u32 {
        self.past_switches
            + self
                .tracks_out
                .iter()
                .filter_map(|t| t.video().map(|v| v.switch.switches()))
                .sum::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer as the room makes one, fed a real offer (a simulcast camera and a microphone,
    /// with the browser's own candidate) with `candidates` host candidates more.
    fn peer_offered(candidates: usize, now: Instant) -> (Peer, Result<String, SfuError>) {
        let mut browser =
            crate::sim::client::Client::new("browser", "127.0.0.1:40000".parse().expect("ip"), now);
        let (offer, _) = browser.offer(true, now);
        let lines: String = (0..candidates)
            .map(|n| {
                format!(
                    "a=candidate:{n} 1 udp 2122260223 192.0.2.1 {} typ host\r\n",
                    10_000 + n % 50_000
                )
            })
            .collect();
        // In the first media section, where a browser puts them.
        let offer = offer.replacen("a=mid:", &format!("{lines}a=mid:"), 1);
        let (events, _) = tokio::sync::mpsc::channel(8);
        let mut peer = Peer::new(
            PeerKey(1),
            ParticipantId("offerer".into()),
            crate::room::server_rtc(str0m::IceCreds::new(), now),
            "ufrag".into(),
            events,
            now,
        );
        let answer = peer.accept_offer(&offer);
        (peer, answer)
    }

    #[test]
    fn a_path_back_from_a_gap_keeps_its_estimate_and_its_first_losses_are_no_congestion() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let (mut peer, _) = peer_offered(0, start);
        peer.estimate = Some(1_500_000);
        peer.note_path_back(at(0));
        assert!(peer.path_settling(at(100)));
        // The reports covering the gap knock the estimate down.
        peer.estimate = Some(220_000);
        assert_eq!(
            peer.estimate_before_gap(at(500)),
            None,
            "not before the feedback is in"
        );
        assert_eq!(peer.estimate_before_gap(at(1_000)), Some(1_500_000));
        assert_eq!(peer.estimate_before_gap(at(1_250)), None, "once");
        // Another gap while settling keeps the estimate from before the first.
        peer.note_path_back(at(1_500));
        assert_eq!(peer.estimate_before_gap(at(2_500)), Some(1_500_000));
        assert!(peer.path_settling(at(3_900)));
        assert!(!peer.path_settling(at(4_000)), "its loss counts again");
        // A later gap with an estimate that held needs nothing put back.
        peer.estimate = Some(900_000);
        peer.note_path_back(at(10_000));
        peer.estimate = Some(800_000);
        assert_eq!(peer.estimate_before_gap(at(11_000)), None);
    }

    /// Feeds `peer` one second of link reports: round trip, loss, and what went out.
    fn report_link(peer: &mut Peer, at: Instant, rtt_ms: u64, loss: f32) {
        peer.link.rtt = Some(Duration::from_millis(rtt_ms));
        peer.update_loss_ceiling(loss, at);
        peer.update_red(loss, at);
    }

    #[test]
    fn loss_too_heavy_for_chance_deepens_no_redundancy() {
        let start = Instant::now();
        let second = |s: u64| start + Duration::from_secs(s);
        let (mut peer, _) = peer_offered(0, start);
        peer.sending = 200_000;
        for s in 0..5 {
            report_link(&mut peer, second(s), 10, 0.0);
        }
        report_link(&mut peer, second(5), 10, 0.05);
        assert_eq!(peer.redundancy(), 1);
        report_link(&mut peer, second(6), 10, 0.45);
        assert_eq!(
            peer.redundancy(),
            1,
            "a queue overflowing, more likely: more would feed it"
        );
        report_link(&mut peer, second(7), 10, 0.2);
        assert_eq!(peer.redundancy(), 3, "a fifth lost at random: three frames");
    }

    #[test]
    fn voices_get_one_frame_of_redundancy_while_a_flat_raised_round_trip_is_judged() {
        let start = Instant::now();
        let second = |s: u64| start + Duration::from_secs(s);
        let (mut peer, _) = peer_offered(0, start);
        peer.sending = 700_000;
        for s in 0..5 {
            report_link(&mut peer, second(s), 10, 0.0);
        }
        peer.wants_red = false;
        // 300 ms more at once, and 8 % lost: a queue or a slower path, nobody knows yet.
        report_link(&mut peer, second(5), 310, 0.08);
        report_link(&mut peer, second(6), 312, 0.08);
        assert!(peer.queueing);
        assert_eq!(
            peer.redundancy(),
            0,
            "not while the round trip may still be moving"
        );
        report_link(&mut peer, second(7), 305, 0.08);
        assert!(peer.queueing, "still judged");
        assert_eq!(
            peer.redundancy(),
            1,
            "flat for two seconds: one earlier frame"
        );

        // A queue still filling, losing as much, gets none: redundancy would feed it.
        let (mut filling, _) = peer_offered(0, start);
        filling.sending = 700_000;
        for s in 0..5 {
            report_link(&mut filling, second(s), 10, 0.0);
        }
        filling.wants_red = false;
        for (s, rtt) in (5..12).zip([100, 180, 260, 340, 420, 500, 580]) {
            report_link(&mut filling, second(s), rtt, 0.08);
            assert_eq!(filling.redundancy(), 0, "at {rtt} ms");
        }

        // Nor a flat one losing heavily: far more likely a queue overflowing.
        let (mut overflowing, _) = peer_offered(0, start);
        overflowing.sending = 700_000;
        for s in 0..5 {
            report_link(&mut overflowing, second(s), 10, 0.0);
        }
        overflowing.wants_red = false;
        for s in 5..10 {
            report_link(&mut overflowing, second(s), 340, 0.45);
            assert_eq!(overflowing.redundancy(), 0);
        }
    }

    #[test]
    fn media_follows_the_browsers_latest_nomination_and_stun_answers_stay_put() {
        let now = Instant::now();
        let (mut peer, _) = peer_offered(0, now);
        let check = |nominating: bool| {
            let message = StunMessage::binding_request(
                "ufrag:browser",
                str0m::ice::TransId::new(),
                true,
                7,
                100,
                nominating,
            );
            let mut buffer = [0u8; 512];
            let length = message
                .to_bytes(Some(b"password"), &mut buffer, crate::router::sha1_hmac)
                .expect("a binding request fits");
            buffer[..length].to_vec()
        };
        let selected: SocketAddr = "192.0.2.1:40000".parse().expect("address");
        let rebound: SocketAddr = "192.0.2.1:40017".parse().expect("address");
        let rtp = [0x80, 96, 0, 1];
        assert_eq!(
            peer.udp_destination(selected, &rtp),
            selected,
            "nothing nominated"
        );
        assert!(!peer.note_nomination(selected, &check(true)), "the first");
        assert!(!peer.note_nomination(rebound, &check(false)));
        assert_eq!(
            peer.udp_destination(selected, &rtp),
            selected,
            "a check alone"
        );
        assert!(!peer.note_nomination(rebound, &rtp));
        assert_eq!(
            peer.udp_destination(selected, &rtp),
            selected,
            "media alone"
        );
        // The NAT rebound the browser's port: its next nominating check comes from the new one.
        assert!(peer.note_nomination(rebound, &check(true)), "moved");
        assert_eq!(peer.udp_destination(selected, &rtp), rebound);
        assert!(
            !peer.note_nomination(rebound, &check(true)),
            "already there"
        );
        let answer = check(false);
        assert_eq!(
            peer.udp_destination(selected, &answer),
            selected,
            "STUN goes where str0m sends it"
        );
    }

    #[test]
    fn fifty_thousand_candidates_are_refused_past_the_cap_in_an_offer_or_trickled() {
        let now = Instant::now();
        let (_, answer) = peer_offered(50_000, now);
        assert!(
            matches!(answer, Err(SfuError::TooManyCandidates)),
            "an offer carrying 50,000 candidates: {answer:?}"
        );
        let (mut peer, answer) = peer_offered(20, now);
        assert!(answer.is_ok(), "20 in an offer are taken: {answer:?}");
        let trickled: Vec<bool> = (0..50_000)
            .map(|n| {
                let line = format!(
                    "candidate:{n} 1 udp 2122260223 192.0.2.2 {} typ host",
                    1 + n % 60_000
                );
                peer.add_remote_candidate(&line).is_ok()
            })
            .collect();
        let taken = trickled.iter().filter(|taken| **taken).count();
        assert_eq!(
            taken,
            MAX_REMOTE_CANDIDATES - 21,
            "the offer's 21 candidates count towards the cap"
        );
        assert!(
            trickled[taken..].iter().all(|taken| !taken),
            "none taken past it"
        );
    }

    #[test]
    fn redundancy_is_cut_to_what_fits_with_the_voices_under_the_room_a_queue_left() {
        let voices = VoiceCosts {
            plain: 100_000,
            per_frame: 50_000,
        };
        assert_eq!(voices.with_redundancy(0), 100_000);
        assert_eq!(voices.with_redundancy(3), 250_000);
        let fitted = |frames: usize, room: Option<u64>| redundancy_that_fits(frames, voices, room);
        // Voices with redundancy take at most 0.8 of the room.
        assert_eq!(fitted(3, None), 3, "no queue seen: the loss is chance");
        assert_eq!(fitted(3, Some(320_000)), 3);
        assert_eq!(fitted(3, Some(260_000)), 2);
        assert_eq!(fitted(3, Some(200_000)), 1, "the browser's RED");
        assert_eq!(fitted(3, Some(180_000)), 0, "the voices alone");
        assert_eq!(fitted(1, Some(180_000)), 0);
        assert_eq!(fitted(0, Some(1_000_000)), 0, "none is added");
    }

    #[test]
    fn numbers_skipped_for_the_publishers_losses_are_not_the_subscribers_loss() {
        let mut loss = ReportedLoss::default();
        let (audio, video) = (Mid::from("a"), Mid::from("v"));
        let start = Instant::now();
        let report = |highest, lost, skipped| StreamReport {
            highest,
            lost,
            skipped,
            sent_bytes: highest * 940,
            sent_packets: highest,
            at: start,
        };
        loss.add(audio, None, false, report(1_000, 0, 0));
        loss.add(video, None, true, report(5_000, 10, 10));
        assert_eq!(
            loss.take(),
            None,
            "a first report only sets where counting starts"
        );
        // Audio: 50 more, 10 lost, 8 of them skipped by us. Video: 150 more, 40 lost, all skipped.
        loss.add(audio, None, false, report(1_050, 10, 8));
        loss.add(video, None, true, report(5_150, 50, 50));
        let taken = loss.take().expect("a loss");
        assert!((taken - 2.0 / 152.0).abs() < 1e-6, "{taken}");
        // A report that repeats the last says nothing new.
        loss.add(audio, None, false, report(1_050, 10, 8));
        assert_eq!(loss.take(), None);
    }

    #[test]
    fn the_loss_a_paused_video_shows_when_it_resumes_is_not_news_of_the_link() {
        let mut loss = ReportedLoss::default();
        let (audio, video) = (Mid::from("a"), Mid::from("v"));
        let start = Instant::now();
        let report = |highest, lost, secs| StreamReport {
            highest,
            lost,
            skipped: 0,
            sent_bytes: highest * 940,
            sent_packets: highest,
            at: start + Duration::from_secs(secs),
        };
        loss.add(audio, None, false, report(1_000, 0, 0));
        loss.add(video, None, true, report(5_000, 0, 0));
        loss.take();
        // The video was paused for 4 s; the 30 packets the queue dropped as it paused count as
        // lost once the resumed video's packets arrive.
        loss.add(audio, None, false, report(1_200, 0, 4));
        loss.add(video, None, true, report(5_100, 30, 4));
        assert_eq!(loss.take(), Some(0.0));
        // From then on the video's loss counts again.
        loss.add(audio, None, false, report(1_250, 0, 5));
        loss.add(video, None, true, report(5_150, 40, 5));
        let taken = loss.take().expect("a loss");
        assert!((taken - 10.0 / 100.0).abs() < 1e-6, "{taken}");
        // A voice reported on seldom still counts: its loss is the link's.
        loss.add(audio, None, false, report(1_450, 20, 9));
        assert_eq!(loss.take(), Some(0.1));
    }

    #[test]
    fn what_the_link_delivered_is_what_the_receiver_counted_since_counting_began() {
        let mut loss = ReportedLoss::default();
        let (audio, video) = (Mid::from("a"), Mid::from("v"));
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        // Voice packets cost 1,000 bits on the wire; video ones 9,000 now, after 17,000 for the
        // first 5,000 (a higher layer's).
        let report = |highest: u64, lost, packet_bytes: u64, secs| {
            let (earlier, bytes) = if packet_bytes > 100 {
                (5_000, 2_065)
            } else {
                (0, 0)
            };
            StreamReport {
                highest,
                lost,
                skipped: 0,
                sent_bytes: earlier * bytes + (highest - earlier) * packet_bytes,
                sent_packets: highest,
                at: at(secs),
            }
        };
        loss.add(audio, None, false, report(1_000, 0, 65, 0));
        loss.add(video, None, true, report(5_000, 0, 1_065, 0));
        assert_eq!(loss.delivered(at(0)), None, "nothing counted yet");
        loss.count_from(at(0));
        // Over one second: the report that began counting is no rate yet.
        loss.add(audio, None, false, report(1_050, 0, 65, 1));
        loss.add(video, None, true, report(5_100, 75, 1_065, 1));
        assert_eq!(loss.delivered(at(1)), None, "a second is too short a count");
        // Over two: 100 voice packets, none lost; 200 video packets, 150 of them lost.
        loss.add(audio, None, false, report(1_100, 0, 65, 2));
        loss.add(video, None, true, report(5_200, 150, 1_065, 2));
        assert_eq!(loss.delivered(at(2)), Some(50_000 + 225_000));
        // A stream its receiver stopped reporting on adds nothing after a while.
        loss.add(audio, None, false, report(1_500, 0, 65, 8));
        assert_eq!(loss.delivered(at(8)), Some(500_000 / 8));
    }

    /// An [`RttFloor`] judging one report a second.
    struct Reports {
        floor: RttFloor,
        at: Instant,
    }

    impl Default for Reports {
        fn default() -> Self {
            Reports {
                floor: RttFloor::default(),
                at: Instant::now(),
            }
        }
    }

    impl Reports {
        /// The next report: its round trip in milliseconds, what went out and what of it got
        /// through, in bits per second.
        fn judge(&mut self, rtt_ms: u64, sending: u64, through: u64) -> RoundTrip {
            self.at += Duration::from_secs(1);
            let rtt = Duration::from_millis(rtt_ms);
            let loss = 1.0 - through as f32 / sending.max(1) as f32;
            self.floor.judge(rtt, sending, loss, self.at)
        }
    }

    #[test]
    fn a_round_trip_that_rises_and_stays_flat_while_little_is_sent_is_the_new_path() {
        let mut reports = Reports::default();
        let mut judge = |rtt, sending| reports.judge(rtt, sending, sending);
        for _ in 0..5 {
            assert_eq!(judge(10, 400_000), RoundTrip::Clear);
        }
        // 300 ms more, at once: a queue, as far as anyone can tell yet.
        assert_eq!(judge(310, 400_000), RoundTrip::Queueing);
        // Video is cut; a queue would drain, this stays.
        let verdicts: Vec<_> = [300, 320, 305, 315, 310, 308]
            .iter()
            .map(|&rtt| judge(rtt, 60_000))
            .collect();
        assert_eq!(
            verdicts,
            [
                RoundTrip::Queueing,
                RoundTrip::Queueing,
                RoundTrip::Queueing,
                RoundTrip::Queueing,
                RoundTrip::NewPath,
                RoundTrip::Clear
            ],
            "five seconds flat, then the new floor"
        );
        assert_eq!(judge(312, 60_000), RoundTrip::Clear);
        // From that floor a queue still shows.
        assert_eq!(judge(450, 400_000), RoundTrip::Queueing);
    }

    #[test]
    fn a_round_trip_flat_for_long_is_the_path_even_if_as_much_is_sent() {
        let mut reports = Reports::default();
        let mut judge = |rtt| reports.judge(rtt, 400_000, 400_000);
        judge(10);
        let verdicts: Vec<_> = (0..17).map(|i| judge(300 + i % 3 * 10)).collect();
        assert!(
            verdicts[..15].iter().all(|v| *v == RoundTrip::Queueing),
            "{verdicts:?}"
        );
        assert_eq!(verdicts[15], RoundTrip::NewPath);
        assert_eq!(verdicts[16], RoundTrip::Clear);
    }

    #[test]
    fn a_new_path_is_learnt_through_jitter_once_the_sending_was_cut() {
        let mut reports = Reports::default();
        let mut judge = |rtt, sending| reports.judge(rtt, sending, sending);
        judge(10, 300_000);
        // It rises while 300 kbit/s go out, wanders, and the sending is cut meanwhile: the
        // reference stays what went out when it first rose.
        assert_eq!(judge(200, 300_000), RoundTrip::Queueing);
        assert_eq!(judge(320, 200_000), RoundTrip::Queueing);
        let verdicts: Vec<_> = [350, 310, 345, 330, 360, 320, 340]
            .iter()
            .map(|&rtt| judge(rtt, 120_000))
            .collect();
        assert!(verdicts.contains(&RoundTrip::NewPath), "{verdicts:?}");
    }

    #[test]
    fn a_queue_standing_at_a_cap_stays_a_queue_though_far_less_is_sent_than_before() {
        let mut reports = Reports::default();
        let mut judge = |rtt, sending, through| reports.judge(rtt, sending, through);
        judge(10, 1_100_000, 1_100_000);
        // Capped at 300 kbit/s: the buffer fills, the video is cut to a third, but what goes
        // out (media, resends, the pacer's backlog) is still over what gets through.
        assert_eq!(judge(320, 1_100_000, 400_000), RoundTrip::Queueing);
        for _ in 0..10 {
            assert_eq!(judge(340, 330_000, 280_000), RoundTrip::Queueing);
        }
        // Sent well under what got through, a queue would drain: this one stays, the path.
        let verdicts: Vec<_> = (0..6).map(|_| judge(340, 150_000, 150_000)).collect();
        assert!(verdicts.contains(&RoundTrip::NewPath), "{verdicts:?}");
    }

    #[test]
    fn a_queue_standing_at_a_cap_stays_a_queue_through_one_report_of_less_sent() {
        let mut reports = Reports::default();
        let mut judge = |rtt, sending, through| reports.judge(rtt, sending, through);
        judge(10, 1_100_000, 1_100_000);
        // The first report after the cap: its loss lags what went out, so "through" reads
        // far over the cap.
        assert_eq!(judge(350, 830_000, 490_000), RoundTrip::Queueing);
        for _ in 0..4 {
            assert_eq!(judge(350, 390_000, 290_000), RoundTrip::Queueing);
        }
        // One report under half of that (the pacer's backlog gone), then over the cap again:
        // the queue stands.
        for sending in [
            200_000, 330_000, 200_000, 320_000, 330_000, 200_000, 330_000,
        ] {
            assert_eq!(judge(350, sending, 280_000), RoundTrip::Queueing);
        }
    }

    #[test]
    fn a_queue_at_a_sudden_cap_is_not_taken_for_a_path_from_the_report_that_showed_it() {
        let mut reports = Reports::default();
        let mut judge = |rtt, sending, through| reports.judge(rtt, sending, through);
        judge(5, 1_200_000, 1_200_000);
        // Capped at 170 kbit/s: the buffer fills and drops nothing yet, so the report that
        // shows the rise reads all that went out as through.
        assert_eq!(judge(540, 1_200_000, 1_200_000), RoundTrip::Queueing);
        // The next shows the overflow; the video is paused, and the voices, their reports and
        // probes keep the queue standing at about the cap.
        assert_eq!(judge(525, 175_000, 82_000), RoundTrip::Queueing);
        let verdicts: Vec<_> = [515, 530, 520, 535, 510, 525, 530, 520, 515]
            .iter()
            .map(|&rtt| judge(rtt, 170_000, 150_000))
            .collect();
        assert!(
            verdicts.iter().all(|v| *v == RoundTrip::Queueing),
            "{verdicts:?}"
        );
    }

    #[test]
    fn a_lossy_path_is_learnt_though_a_report_after_the_rise_loses_heavily() {
        let mut reports = Reports::default();
        let mut judge = |rtt, sending, through| reports.judge(rtt, sending, through);
        judge(5, 1_100_000, 1_100_000);
        // The rise comes with the path's loss, a fifth: what got through is known at once.
        assert_eq!(judge(305, 1_100_000, 880_000), RoundTrip::Queueing);
        // The video is cut; the next report loses 38 % by chance.
        assert_eq!(judge(310, 180_000, 111_600), RoundTrip::Queueing);
        let verdicts: Vec<_> = (0..6).map(|_| judge(300, 180_000, 144_000)).collect();
        assert!(verdicts.contains(&RoundTrip::NewPath), "{verdicts:?}");
    }

    #[test]
    fn a_queue_that_keeps_filling_or_is_still_fed_stays_a_queue() {
        let mut reports = Reports::default();
        let mut judge = |rtt, sending| reports.judge(rtt, sending, sending);
        judge(10, 400_000);
        // Growing: never flat.
        for rtt in [100, 180, 260, 340, 420, 500, 580] {
            assert_eq!(judge(rtt, 100_000), RoundTrip::Queueing);
        }
        // Flat at the queue's limit, but as much is sent as when it rose: still a queue.
        for _ in 0..10 {
            assert_eq!(judge(600, 400_000), RoundTrip::Queueing);
        }
    }
}
