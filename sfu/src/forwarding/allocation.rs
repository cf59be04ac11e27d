//! Splitting one subscriber's bandwidth estimate across the videos it receives.
//!
//! Audio is reserved first: whatever the link carries, voices come before pictures. What is left
//! goes to video in priority order (the host, then the current speaker, then the others): first
//! the lowest layer of each video that fits, pausing the rest, then higher layers, up to the size
//! the subscriber shows each video at. A large shortfall is acted on at once (the link is
//! congested now), a small one after a second (estimates wander); an increase waits until the
//! last decrease is a while past, and that wait doubles each time an increase is soon undone,
//! so a steady cap settles instead of flapping.

use std::time::{Duration, Instant};

/// Layers a video can have (simulcast sends at most three).
pub(crate) const MAX_LAYERS: usize = 3;
/// Share of the estimate new layers may take: the rest absorbs estimate noise, RTCP and resends.
/// What is already sent is cut only when it exceeds the whole estimate.
const HEADROOM: f64 = 0.95;
/// An increase must still fit with the budget divided by this. The estimate it is held against
/// has been probed towards the increase (see [`Allocator::probe_target`]), so a small margin
/// is enough.
const INCREASE_MARGIN: f64 = 1.05;
/// How long after a decrease an increase may be made, at first.
const BASE_HOLD: Duration = Duration::from_secs(2);
/// An increase must fit for this long.
const INCREASE_FITS_FOR: Duration = Duration::from_millis(1_500);
/// On a link that showed strain lately, increases are judged against the lowest estimate of
/// this long: there an estimate jumps for a few seconds after a probe whose packets the queue
/// on the way absorbed, then falls back.
const INCREASE_ESTIMATE_WINDOW: Duration = Duration::from_secs(5);
/// On a link where a queue filled lately, a step that would send more than this many times what
/// the link carried since is first tried with padding: the estimate of a link sending little
/// rises whatever the link can carry (a shaper's bucket lets probes through), so only padding
/// sent at the step's rate for a while shows whether the link carries it, without a picture
/// to lose if it does not.
const WARY_RAISE: f64 = 1.1;
/// How long after a queue such steps are tried first.
const TRIAL_AFTER_QUEUE: Duration = Duration::from_secs(300);
/// How long the padding must go through without a queue filling.
const TRIAL_FOR: Duration = Duration::from_secs(2);
/// A trial counts only while what went out reached this share of its level: str0m's pacer
/// sends padding no faster than its estimate allows, so a trial under a low estimate can pass
/// its time sending far less than the step would, and prove nothing (on a 600 kbit/s link a
/// 664 kbit/s step "held" while 250-450 kbit/s went out, and its first keyframes filled a
/// queue). The share leaves room for the media's own dips.
const TRIAL_REACHED: f64 = 0.85;
/// How long a reading of what went out covers: the room reads its send counters once a
/// second. A reading taken sooner than this after a trial began is partly from before it.
const WIRE_READING_SPANS: Duration = Duration::from_secs(1);
/// A trial that has not passed this long after it began is given up (see
/// [`Allocator::trial_fell_short`]): a link that carries its level lets str0m's estimate, and
/// so the padding, rise to it within a few seconds.
const TRIAL_GIVES_UP: Duration = Duration::from_secs(8);
/// A step under what the link delivered saturated waits this long without strain: the tail
/// of the queue that saturation left.
const STRAIN_PASSED: Duration = Duration::from_millis(500);
/// A new padding trial waits this long without strain: a queue draining after saturation can
/// read clear in one report and raised in the next, and a trial begun in that lull is blamed
/// for the rest of the drain (its level taken for what the link carries, which held both
/// videos paused for 18 s at a 300 kbit/s cap).
const TRIAL_AFTER_STRAIN: Duration = Duration::from_millis(1_500);
/// How long after the last strain that caution lasts.
const STRAIN_REMEMBERED: Duration = Duration::from_secs(30);
/// After a queue filled on the link, nothing is added (and nothing probed) that would send more
/// than this share of what was being sent when it began, or of what the link delivered while
/// it stayed full: that much the link has been seen not to carry, whatever its estimate says
/// (a tbf bucket or a deep buffer lets probes through that the link cannot sustain). The share
/// leaves room for what the media's cost leaves out: reports, and headers below UDP.
const BELOW_QUEUEING: f64 = 0.9;
/// How long that ceiling holds after the queue was last seen, at first. It doubles each time a
/// queue fills again soon after, up to the longest, so a steady cap is tried less and less often.
const QUEUEING_CEILING_FOR: Duration = Duration::from_secs(8);
const QUEUEING_CEILING_LONGEST: Duration = Duration::from_secs(64);
/// How many times longer the ceiling holds once it left no video on the link.
const NO_VIDEO_HOLDS: u32 = 2;
/// A ceiling the link carries more than without strain for this long is no ceiling.
const CEILING_DISPROVED_AFTER: Duration = Duration::from_secs(5);
/// How long the layers restored by undoing an increase that filled a queue are kept against an
/// estimate below them: the estimate falls well under what the link carries while the queue
/// drains, and recovers once what is sent gets through again.
const RESTORED_KEPT: Duration = Duration::from_secs(5);
/// Layers the link has carried for this long, with nothing changed and no strain, are the
/// link's own: a queue that begins then (a probe's burst, passing traffic) takes none of them
/// for [`RESTORED_KEPT`] unless it is congestion beyond doubt, and the last increase is no
/// longer taken for its cause.
const CARRIED_CALMLY: Duration = Duration::from_secs(5);
/// How long a queue that padding filled takes to drain once the padding stops: a round trip
/// and the queue itself, before the receiver's next report shows it gone.
const PADDING_QUEUE_DRAINS: Duration = Duration::from_secs(2);
/// How long after padding a queue may still be the padding's: a queue shows in the round trip
/// a report or two after its cause.
pub(crate) const PADDING_QUEUE_SHOWS_WITHIN: Duration = Duration::from_secs(3);
/// Sending this many times the estimate is congestion: acted on at once.
const SEVERE_OVERSHOOT: f64 = 1.25;
/// Sending this many times the estimate is acted on at once even while a queue that padding,
/// probes or resends filled drains: their queue knocks the estimate down by a third at most,
/// and this is a link that fell (a cap arriving with a probe).
const FELL_OVERSHOOT: f64 = 1.75;
/// A smaller shortfall is acted on when it lasts this long and the link shows signs of
/// congestion (loss, a growing round trip): estimates dip below what is sent without any.
const SHORTFALL_FOR: Duration = Duration::from_secs(1);
/// Without any sign of congestion a shortfall is acted on only when it lasts this long: the
/// estimate may just not have caught up (it starts from a guess, and learns only from what is
/// sent), and on a link that carries what it is sent the estimate rises within seconds.
const UNSTRAINED_SHORTFALL_FOR: Duration = Duration::from_secs(4);
/// The longest that wait grows to after repeated flaps.
const MAX_HOLD: Duration = Duration::from_secs(32);
/// An increase undone within this long counts as a flap.
const FLAP_WINDOW: Duration = Duration::from_secs(12);
/// After this long without a decrease the wait goes back to [`BASE_HOLD`].
const CALM: Duration = Duration::from_secs(60);
/// An estimate learns only from what is sent: sending little (the voices alone), it stays low
/// whatever the link could carry. So when the next step up would overshoot the estimate by no
/// more than this share, it is tried now and then (the media itself probes the link), on a link
/// showing no sign of congestion, no more often than the hold.
const TRIAL_OVERSHOOT: f64 = 0.2;
/// A link that carried more, without strain, since it last showed strain is trusted with steps
/// up to this share of that: an estimate that fell because little was sent (a layer stopped at
/// the publisher) says nothing about the link.
const KNOWN_GOOD_SHARE: f64 = 0.8;
/// A paused video held back only by the ceiling a queue left is tried now and then with padding
/// over that ceiling, first this long after the last such try, twice as long after each that
/// filled a queue, up to the longest: the ceiling otherwise holds for a minute or two after a
/// cap, and a link that came back would go without pictures meanwhile.
const CEILING_PROBE_EVERY: Duration = Duration::from_secs(15);
const CEILING_PROBE_LONGEST: Duration = Duration::from_secs(30);
/// An estimate this many times what it was at the last try is news (a cap lifted): the next try
/// comes as soon as this long after the last.
const CEILING_PROBE_RISE: f64 = 1.5;
const CEILING_PROBE_SOONEST: Duration = Duration::from_secs(5);
/// Such a try pads this much over what the step would send, for this long: long enough for a
/// queue to show in the round trip (receivers report once a second) before a picture is risked.
const CEILING_PROBE_MARGIN: f64 = 1.1;
const CEILING_PROBE_FOR: Duration = Duration::from_secs(4);
/// The queue such a try filled shows in reports for this long after it ended. It says only what
/// the ceiling says already: it neither renews the ceiling nor makes it hold longer, so a link
/// that stays capped is tried no more often, and one that lifted is not held back by the tries.
const PROBE_QUEUE_SHOWS: Duration = Duration::from_secs(3);
/// For this long after a queue began, a cut leaves each video it finds playing at least its
/// lowest layer, unless those layers and the voices would send more than this many times the
/// estimate. The estimate undershoots then: str0m's loss-based estimate falls on the tail the
/// queue dropped (to 170-200 kbit/s on 350 and 450 kbit/s links that two lowest layers and the
/// voices fit with room to spare), the reports after the queue has gone still count that
/// tail's loss, and a video paused then comes back only after a padding trial, seconds later.
const ONSET_KEEPS_LOWEST_FOR: Duration = Duration::from_secs(4);
const ONSET_PAUSE_OVERSHOOT: f64 = 2.0;
/// A queue still there this long after it began is one the lowest layers fill too: the cut
/// drops the pacer's backlog with the layers it cuts, so the queue of a link that carries what
/// is left goes within a report. Before that, a congested cut goes straight to the lowest
/// layers: the estimate falls to what the link carries over a second or more, and a cut to what
/// fits under it on the way (a middle layer at 780 kbit/s on a link capped at 300) keeps the
/// link overfull, and the voices lost, until the next.
const ONSET_QUEUE_OUTLASTS_THE_CUT: Duration = Duration::from_millis(1_500);
/// With this much spare budget an increase (a tile grew, bandwidth came back) is made quickly.
const AMPLE: f64 = 2.0;
const QUICK_HOLD: Duration = Duration::from_millis(500);

/// What the link shows of congestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strain {
    None,
    /// Packets are lost, the round trip is steady: random loss, or the first sign of a queue.
    Loss,
    /// The round trip has grown: a queue on the way is filling, the link carries less than it
    /// is sent.
    Queueing,
}

/// Who a video belongs to, for who keeps video when bandwidth is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Priority {
    Normal,
    Speaker,
    Host,
    /// A shared screen or window: what everyone in the room is looking at.
    Shared,
}

/// One video a subscriber receives, as the allocator sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VideoDemand {
    /// What each layer costs to send now, in bits per second with packet overhead, lowest layer
    /// first; `None` for a layer the publisher does not send (or its uplink cannot carry).
    pub layers: [Option<u64>; MAX_LAYERS],
    /// What each layer cost at its most lately: a step up on a link that queued lately is
    /// judged by it, as a layer's rate swings with the picture.
    pub peaks: [Option<u64>; MAX_LAYERS],
    /// Which layers arrive now: those switched off at the publisher have a cost but take a
    /// round trip to the publisher to come back.
    pub arriving: [bool; MAX_LAYERS],
    /// The highest layer worth sending at the size the subscriber shows the video; `None`: the
    /// video is not shown at all.
    pub max_layer: Option<u8>,
    pub priority: Priority,
    /// Never given a layer yet: its first one comes at once, without the wait for increases,
    /// and at least its lowest layer while the link shows no strain (an estimate learns only
    /// from what is sent; a new video is worth a try, and is paused again if the link suffers).
    pub fresh: bool,
}

impl VideoDemand {
    /// The layers that may be chosen, lowest first: those available up to `max_layer`, or the
    /// lowest available one if none of those is.
    fn allowed(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        let max = self.max_layer;
        let available = || {
            self.layers
                .iter()
                .enumerate()
                .filter_map(|(i, cost)| cost.map(|c| (i as u8, c)))
        };
        let lowest = available().next();
        let capped = max.and_then(|m| available().find(|(i, _)| *i <= m));
        let cap = match (max, capped, lowest) {
            (None, _, _) => None,
            (Some(m), Some(_), _) => Some(m),
            (Some(_), None, Some((i, _))) => Some(i),
            (Some(_), None, None) => None,
        };
        available().filter(move |(i, _)| cap.is_some_and(|c| *i <= c))
    }

    /// The highest layer the subscriber's tile wants among those sent; `None` when not shown.
    pub fn view_cap(&self) -> Option<u8> {
        self.allowed().last().map(|(layer, _)| layer)
    }

    /// The highest layer arriving now at or below `layer`.
    fn arriving_up_to(&self, layer: Option<u8>) -> Option<u8> {
        let top = usize::from(layer?);
        (0..=top.min(MAX_LAYERS - 1))
            .rev()
            .find(|&i| self.arriving[i] && self.layers[i].is_some())
            .map(|i| i as u8)
    }

    fn peak_cost(&self, layer: Option<u8>) -> u64 {
        layer
            .and_then(|l| self.peaks.get(usize::from(l)).copied().flatten())
            .unwrap_or(0)
            .max(self.cost(layer))
    }

    fn cost(&self, layer: Option<u8>) -> u64 {
        layer
            .and_then(|l| self.layers.get(usize::from(l)).copied().flatten())
            .unwrap_or(0)
    }
}

/// The lowest layer of each video that has one now (`None` for those paused).
fn lowest_playing(demands: &[VideoDemand], targets: &[Option<u8>]) -> Vec<Option<u8>> {
    targets
        .iter()
        .zip(demands)
        .map(|(target, demand)| target.and(demand.allowed().next().map(|(layer, _)| layer)))
        .collect()
}

/// Each of `floor` raised to at least `to`.
fn raised(floor: Vec<Option<u8>>, to: Vec<Option<u8>>) -> Vec<Option<u8>> {
    floor.into_iter().zip(to).map(|(f, t)| f.max(t)).collect()
}

/// The layers that fit in `budget` bits per second, one per demand (`None`: paused).
pub(crate) fn fit(budget: u64, demands: &[VideoDemand]) -> Vec<Option<u8>> {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    // Stable: equal priorities keep the order the subscriber's videos were added in.
    order.sort_by_key(|&i| std::cmp::Reverse(demands[i].priority));
    let mut chosen = vec![None; demands.len()];
    let mut left = budget;
    // Everyone's lowest layer first, in priority order: a picture for as many as possible.
    for &i in &order {
        if let Some((layer, cost)) = demands[i].allowed().next() {
            if cost <= left {
                left -= cost;
                chosen[i] = Some(layer);
            }
        }
    }
    // Then better pictures, the most important video first, as far as each can go.
    for &i in &order {
        let Some(current) = chosen[i] else { continue };
        let mut spent = demands[i].cost(Some(current));
        for (layer, cost) in demands[i].allowed().filter(|(l, _)| *l > current) {
            let extra = cost.saturating_sub(spent);
            if extra > left {
                break;
            }
            left -= extra;
            spent = cost;
            chosen[i] = Some(layer);
        }
    }
    chosen
}

/// Per subscriber: the layers it is given now, and the hysteresis that keeps them steady.
#[derive(Debug, Clone)]
pub(crate) struct Allocator {
    hold: Duration,
    /// Since when an increase has kept fitting.
    increase_fits_since: Option<Instant>,
    /// Since when what is sent has not fitted the estimate.
    short_since: Option<Instant>,
    last_increase: Option<Instant>,
    last_decrease: Option<Instant>,
    /// When the link last showed strain.
    last_strain: Option<Instant>,
    /// Recent estimates, oldest first, over [`INCREASE_ESTIMATE_WINDOW`].
    recent: std::collections::VecDeque<(Instant, u64)>,
    /// The most that was sent without strain since the link last showed strain.
    known_good: u64,
    /// What was being sent when a queue last began to fill on the link, while that is
    /// remembered.
    queue_level: Option<u64>,
    /// What the link was measured to deliver while it was saturated, as long as
    /// [`Self::queue_level`] is remembered: a queue that never drained began at a level far
    /// above what the link carries, and only this shows how far.
    carried: Option<u64>,
    /// When the last queue began to fill.
    queue_began: Option<Instant>,
    /// Since when more than the ceiling has gone out without strain.
    above_ceiling_since: Option<Instant>,
    /// When the link last showed a filling queue.
    last_queue: Option<Instant>,
    /// How long [`Self::queue_level`] holds after that.
    ceiling_for: Duration,
    was_queueing: bool,
    /// The layers before the last increase, to go back to if it is undone.
    before_increase: Vec<Option<u8>>,
    /// The layers an undone increase went back to, and until when they are kept.
    restored: Option<(Instant, Vec<Option<u8>>)>,
    /// When padding (a trial's, a nudge's) last filled a queue: the queue is the padding's, and the
    /// layers sent with it are kept (see [`Self::decrease_floor`]).
    trial_filled: Option<Instant>,
    /// When a queue last began on a link that had carried its layers calmly (see
    /// [`CARRIED_CALMLY`]).
    calm_queue: Option<Instant>,
    /// A step being tried with padding.
    trial: Option<Trial>,
    /// When more than the media last went out for another reason than a trial (a stuck
    /// estimate's nudge, probes, resends): a queue that begins then is that excess's, as a
    /// trial's is its padding's, and costs none of the layers sent with it.
    excess_sent: Option<Instant>,
    /// That trial pads over the ceiling a queue left (see [`CEILING_PROBE_EVERY`]).
    probing_ceiling: bool,
    /// When the last try over the ceiling began, with the estimate then, and the wait before
    /// the next.
    last_ceiling_probe: Option<(Instant, u64)>,
    ceiling_probe_every: Duration,
    /// Until when a queue is the last try's over the ceiling.
    probe_queue_until: Option<Instant>,
    /// What the link was measured to carry (0: nothing measured lately): the estimates of the
    /// last seconds are not held below it.
    floor: u64,
    /// What the subscriber's send counters say of a trial's padding.
    wire: WireReading,
    /// Which videos were playing when the last queue began (see [`Self::path_is_slower`]).
    playing_when_queue_began: Vec<bool>,
    /// Those to bring back at the next decision: that queue was a slower path.
    bring_back: Option<Vec<bool>>,
    /// The trial that padded the link at the last decision that had one without strain: one
    /// dropped without strain (its step no longer fitting the estimate) stopped its padding,
    /// but the queue that padding filled shows after (see [`Self::padded_lately`]).
    padded: Option<(Instant, Trial)>,
}

/// The last reading of what went out to a subscriber in all (media, resends, padding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum WireReading {
    /// Nothing read yet.
    #[default]
    Unread,
    /// Bits per second, read at that moment.
    Read(Instant, u64),
    /// The link loses packets at random: str0m's loss-based estimate, and with it the pacer's
    /// padding, sinks far below what such a link carries, so what went out says nothing of
    /// the link. Trials count by their time alone, as a link that holds is all they need
    /// to show there.
    Uninformative,
}

/// A step being tried with padding.
#[derive(Debug, Clone, Copy)]
struct Trial {
    /// When the padding began.
    began: Instant,
    /// Since when it has gone out at its level (see [`TRIAL_REACHED`]).
    counts_from: Instant,
    /// What the step would send in all, audio included: the level padded up to.
    level: u64,
    /// Which video, to which layer.
    step: (usize, Option<u8>),
}

impl Trial {
    fn new(now: Instant, level: u64, step: (usize, Option<u8>)) -> Trial {
        Trial {
            began: now,
            counts_from: now,
            level,
            step,
        }
    }
}

/// Why a video is not sent to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PauseReason {
    /// The link cannot carry it next to the audio.
    Bandwidth,
    /// The subscriber does not show it.
    Hidden,
}

impl Allocator {
    pub fn new() -> Allocator {
        Allocator {
            hold: BASE_HOLD,
            increase_fits_since: None,
            short_since: None,
            last_increase: None,
            last_decrease: None,
            known_good: 0,
            recent: std::collections::VecDeque::new(),
            last_strain: None,
            queue_level: None,
            carried: None,
            queue_began: None,
            above_ceiling_since: None,
            last_queue: None,
            ceiling_for: QUEUEING_CEILING_FOR,
            was_queueing: false,
            before_increase: Vec::new(),
            restored: None,
            trial_filled: None,
            calm_queue: None,
            trial: None,
            excess_sent: None,
            probing_ceiling: false,
            last_ceiling_probe: None,
            ceiling_probe_every: CEILING_PROBE_EVERY,
            probe_queue_until: None,
            floor: 0,
            wire: WireReading::Unread,
            playing_when_queue_began: Vec::new(),
            padded: None,
            bring_back: None,
        }
    }

    /// Takes the latest reading of what went out to the subscriber in all: a padding trial
    /// counts only while it reaches its level.
    pub fn measured_wire(&mut self, reading: WireReading) {
        self.wire = reading;
    }

    /// `trial`, counted again from now if a reading taken over it fell short of its level:
    /// the link has not yet been shown that much.
    fn counted(&self, trial: Trial, now: Instant) -> Trial {
        match self.wire {
            WireReading::Read(at, wire)
                if at >= trial.counts_from + WIRE_READING_SPANS
                    && (wire as f64) < trial.level as f64 * TRIAL_REACHED =>
            {
                Trial {
                    counts_from: now,
                    ..trial
                }
            }
            _ => trial,
        }
    }

    /// Whether the last reading was taken wholly over what counts of `trial`, and reached its
    /// level: a trial passes only on the link's own word that the level went out.
    fn reached(&self, trial: &Trial) -> bool {
        match self.wire {
            WireReading::Read(at, wire) => {
                at >= trial.counts_from + WIRE_READING_SPANS
                    && wire as f64 >= trial.level as f64 * TRIAL_REACHED
            }
            WireReading::Unread => false,
            WireReading::Uninformative => true,
        }
    }

    /// Ends a trial whose padding never went out at `level` for long enough: str0m's estimate,
    /// probed towards it all the while, did not let it, so the link is taken not to carry it.
    /// That holds as a queue's ceiling would (and as long, growing the same way when it
    /// happens again), so the step is not padded for again at once: padding a link that
    /// cannot take it costs a village phone its data and the voices their room.
    fn trial_fell_short(&mut self, now: Instant, level: u64) {
        if std::mem::take(&mut self.probing_ceiling) {
            self.ceiling_probe_every = (self.ceiling_probe_every * 2).min(CEILING_PROBE_LONGEST);
            return;
        }
        if self
            .last_queue
            .is_some_and(|at| now.saturating_duration_since(at) < CALM)
        {
            self.ceiling_for = (self.ceiling_for * 2).min(QUEUEING_CEILING_LONGEST);
        }
        self.queue_level = Some(self.queue_level.map_or(level, |l| l.min(level)));
        self.last_queue = Some(now);
    }

    /// What looked like a queue was a slower path (its round trip stayed up, flat, while less
    /// was sent): the ceiling it left, and what was measured through it, say nothing of what
    /// the link carries. Losing at random on a slow path, the link would otherwise hold that
    /// ceiling for good, and with it the voices' redundancy, cut to fit under it.
    ///
    /// Nor is what its cut paused: a round trip that jumps to 300 ms looks like a queue for
    /// the seconds it takes to judge, long enough for the cut to pause the videos, and the
    /// estimate, sinking on the path's loss, would never bring them back (CI: a party on a
    /// path losing a fifth saw no video for its last 30 s). Each video playing when the queue
    /// began gets its lowest layer back at the next decision.
    pub fn path_is_slower(&mut self) {
        self.queue_level = None;
        self.carried = None;
        self.bring_back = Some(std::mem::take(&mut self.playing_when_queue_began));
    }

    /// Takes what the link was measured to carry lately, for the next [`Self::decide`].
    pub fn measured_floor(&mut self, floor: u64) {
        self.floor = floor;
    }

    /// The link goes on losing heavily: the ceiling a queue left holds, even once the round
    /// trip is taken for the path's own (a queue kept full by what still goes out looks the
    /// same as a slower path, and only its losses tell it is still there).
    pub fn hold_ceiling(&mut self, now: Instant) {
        if self.queue_level.is_some() {
            self.last_queue = Some(now);
        }
    }

    /// Takes what the link delivered while it was last saturated, and when that was measured:
    /// the ceiling of a queue that began before comes down to it, for as long as that ceiling
    /// holds.
    pub fn measured_delivery(&mut self, delivered: Option<(Instant, u64)>) {
        if let (Some((measured_at, delivered)), Some(began)) = (delivered, self.queue_began) {
            if measured_at >= began && self.queue_level.is_some() {
                self.carried = Some(delivered);
            }
        }
    }

    /// Notes that well over what the media costs went out, for another reason than a trial.
    pub fn note_excess_sent(&mut self, now: Instant) {
        self.excess_sent = Some(now);
    }

    /// What to pad the link up to (in all, audio included) while a step is tried.
    pub fn padding_trial(&self) -> Option<u64> {
        self.trial.map(|trial| trial.level)
    }

    /// The current wait before an increase.
    #[cfg(test)]
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// Updates `targets` (the layers given so far, one per demand) for an estimate of
    /// `estimate` bits per second of which `audio` go to audio; `strained` when the link shows
    /// signs of congestion. Returns true when the link is congested: decreases should take
    /// effect at once, not at the next keyframe.
    pub fn decide(
        &mut self,
        now: Instant,
        estimate: u64,
        audio: u64,
        strain: Strain,
        demands: &[VideoDemand],
        targets: &mut [Option<u8>],
    ) -> bool {
        debug_assert_eq!(demands.len(), targets.len());
        let strained = strain != Strain::None;
        // A trial goes on only while the step it tries is still the next one and the link holds.
        let tried = self.trial.take();
        let padded = self.padded_lately(now, tried, strain);
        let mut trial = tried.filter(|_| !strained);
        let gives_up = |t: &Trial| {
            self.wire != WireReading::Uninformative
                && now.saturating_duration_since(t.began) >= TRIAL_GIVES_UP
        };
        if let Some(fell_short) = trial.filter(gives_up) {
            trial = None;
            self.trial_fell_short(now, fell_short.level);
        }
        let excess_sent = self
            .excess_sent
            .is_some_and(|at| now.saturating_duration_since(at) < PADDING_QUEUE_DRAINS);
        if strain == Strain::Queueing && (padded.is_some() || excess_sent) {
            // The padding stops now, and the queue it filled drains: what went out with it had
            // gone through calmly, whatever the estimate says while that queue shows.
            self.trial_filled = Some(now);
            self.restored = Some((now + RESTORED_KEPT, targets.to_vec()));
        }
        if strained && tried.is_some() && self.probing_ceiling {
            // The ceiling held: the next try waits longer.
            self.probing_ceiling = false;
            self.ceiling_probe_every = (self.ceiling_probe_every * 2).min(CEILING_PROBE_LONGEST);
            self.probe_queue_until = Some(now + PROBE_QUEUE_SHOWS);
        }
        let probe_queue = self.probe_queue_until.is_some_and(|until| now < until);
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > INCREASE_ESTIMATE_WINDOW)
        {
            self.recent.pop_front();
        }
        self.recent.push_back((now, estimate));
        let calm = |at: Option<Instant>| {
            at.is_none_or(|at| now.saturating_duration_since(at) >= CARRIED_CALMLY)
        };
        let steady = calm(self.last_strain) && calm(self.last_increase) && calm(self.last_decrease);
        if strain == Strain::Queueing && steady && padded.is_none() && !excess_sent {
            self.calm_queue = Some(now);
            self.restored = Some((now + RESTORED_KEPT, targets.to_vec()));
        }
        if strained {
            self.last_strain = Some(now);
        }
        let wary = self
            .last_strain
            .is_some_and(|at| now.saturating_duration_since(at) < STRAIN_REMEMBERED);
        let lowest = if wary {
            self.recent
                .iter()
                .map(|(_, e)| *e)
                .min()
                .unwrap_or(estimate)
                .max(self.floor.min(estimate))
        } else {
            estimate
        };
        let budget = ((lowest as f64 * HEADROOM) as u64).saturating_sub(audio);
        let video_budget = estimate.saturating_sub(audio);
        let fits = fit(video_budget, demands);
        for ((target, fits), demand) in targets.iter_mut().zip(&fits).zip(demands) {
            // What the subscriber shows, or what the publisher sends, changed: follow it at once.
            // Not a sign of congestion.
            let view_cap = demand.view_cap();
            if *target > view_cap {
                *target = view_cap.min(*fits);
            }
            if target.is_some_and(|layer| demand.layers[usize::from(layer)].is_none()) {
                // The layer it was on stopped: to the best that fits among those arriving, so
                // the picture is back at their next keyframe; a higher one switched off at the
                // publisher comes later, as an increase. Where none fits: a lower one arriving
                // (it costs less than what was sent) or, with none, the stopped layer itself,
                // waited for. A layer stopping at the publisher says nothing of this link, and
                // a video paused for it comes back only by way of the allocation's increases
                // (on a path losing 10 %, with the voices on deep RED, not at all: one run).
                let unpublished = demand.layers.iter().all(Option::is_none);
                let waited_for = if unpublished { None } else { *target };
                *target = demand
                    .arriving_up_to(*fits)
                    .or(*fits)
                    .or_else(|| demand.arriving_up_to(*target))
                    .or(waited_for);
            }
        }
        let short = targets.iter().zip(&fits).any(|(t, f)| t > f);
        let sending = audio
            + targets
                .iter()
                .zip(demands)
                .map(|(t, d)| d.cost(*t))
                .sum::<u64>();
        // What the link carried without strain is what it is trusted with; estimates can
        // spike after a probe that a queue on the way absorbed.
        self.known_good = if strained {
            0
        } else {
            self.known_good.max(sending)
        };
        // A queue the voices alone filled (a probe's, or another flow's) says nothing of what
        // video the link carries: the voices go whatever it says. One that the padding of a
        // trial filled was filled at the trial's level, not by the media.
        let filled_at = padded.map_or(sending, |trial| trial.level.max(sending));
        let video_left = sending > audio;
        let queue_began = self.note_queueing(
            now,
            strain == Strain::Queueing && (video_left || padded.is_some()) && !probe_queue,
            filled_at,
            video_left,
        );
        if queue_began {
            self.playing_when_queue_began = targets.iter().map(Option::is_some).collect();
        }
        self.test_ceiling(now, strained, sending);
        let congested = short && strained && sending as f64 > estimate as f64 * SEVERE_OVERSHOOT;
        let mut decreased = false;
        if short {
            let since = *self.short_since.get_or_insert(now);
            let lasted = now.saturating_duration_since(since);
            let lasting = if strained {
                lasted >= SHORTFALL_FOR
            } else {
                lasted >= UNSTRAINED_SHORTFALL_FOR
            };
            if congested || lasting {
                let fell = sending as f64 > estimate as f64 * FELL_OVERSHOOT;
                let floor = self.decrease_floor(now, (congested, fell), demands, targets.len());
                let kept_by_a_passing_queue = floor.iter().any(Option::is_some);
                let lowest = lowest_playing(demands, targets);
                let floor =
                    self.onset_floor(now, (estimate, audio, strain), demands, targets, floor);
                // Only strain pauses a video: the voices suffer only through loss or a queue,
                // and an estimate under a link that shows neither is one still climbing back
                // (after a cap's losses, str0m's creeps up by a few kbit/s a second).
                let floor = match strained {
                    true => floor,
                    false => raised(floor, lowest.clone()),
                };
                let onset = self.queue_began.is_some_and(|at| {
                    now.saturating_duration_since(at) < ONSET_QUEUE_OUTLASTS_THE_CUT
                });
                let cut_to_lowest =
                    congested && strain == Strain::Queueing && onset && !kept_by_a_passing_queue;
                for (((target, fits), floor), lowest) in
                    targets.iter_mut().zip(&fits).zip(floor).zip(lowest)
                {
                    let mut to = (*fits).max(floor.min(*target));
                    if cut_to_lowest {
                        to = to.min(lowest);
                    }
                    if *target > to {
                        *target = to;
                        decreased = true;
                    }
                }
                if cut_to_lowest {
                    // The link fell: what was sent when the queue began says little of what it
                    // carries now, and probes towards a middle layer under that would fill the
                    // queue again (a lowest layer's loss to them paused both videos for 14 s at
                    // 300 kbit/s). The estimate, on its way down, is the nearer bound, though
                    // never one under what the cut leaves (which the link would soon disprove).
                    let left = audio
                        + targets
                            .iter()
                            .zip(demands)
                            .map(|(t, d)| d.cost(*t))
                            .sum::<u64>();
                    let bound = estimate.max((left as f64 / BELOW_QUEUEING).ceil() as u64);
                    self.queue_level = self.queue_level.map(|level| level.min(bound));
                }
                self.short_since = None;
            }
        } else {
            self.short_since = None;
        }
        let budget = match self.ceiling() {
            Some(ceiling) => budget.min(ceiling.saturating_sub(audio)),
            None => budget,
        };
        let cautious = fit((budget as f64 / INCREASE_MARGIN) as u64, demands);
        for ((target, cautious), demand) in targets.iter_mut().zip(&cautious).zip(demands) {
            if demand.fresh && target.is_none() {
                *target = match cautious {
                    Some(layer) => Some(*layer),
                    None if !strained && self.queue_level.is_none() => {
                        demand.allowed().next().map(|(layer, _)| layer)
                    }
                    None => None,
                };
            }
        }
        if let Some(playing) = self
            .bring_back
            .take()
            .filter(|playing| playing.len() == targets.len())
        {
            for ((target, was_playing), demand) in targets.iter_mut().zip(playing).zip(demands) {
                if was_playing && target.is_none() {
                    *target = demand.allowed().next().map(|(layer, _)| layer);
                }
            }
        }
        if decreased {
            // The first decrease after an increase undoes it: a flap. Further decreases of the
            // same spell are the link going down, not the allocator's mistake.
            let undone = self.last_increase.is_some_and(|at| {
                now.saturating_duration_since(at) < FLAP_WINDOW
                    && self.last_decrease.is_none_or(|d| d < at)
            });
            if undone {
                self.hold = (self.hold * 2).min(MAX_HOLD);
            }
            self.last_decrease = Some(now);
            self.increase_fits_since = None;
            return congested;
        }
        if self
            .last_decrease
            .is_none_or(|at| now.saturating_duration_since(at) >= CALM)
        {
            self.hold = BASE_HOLD;
        }

        let wanted = cautious.iter().zip(targets.iter()).any(|(c, t)| c > t);
        if !wanted {
            self.increase_fits_since = None;
            if strained {
                return false;
            }
            return self.try_a_step(now, trial, lowest, sending, wary, demands, targets);
        }
        let since = *self.increase_fits_since.get_or_insert(now);
        let ample = fit((budget as f64 / AMPLE) as u64, demands);
        let quick = ample.iter().zip(targets.iter()).any(|(a, t)| a > t);
        // Quick only on a link that has not been flapping.
        let hold = if quick && self.hold == BASE_HOLD {
            QUICK_HOLD
        } else {
            self.hold
        };
        let settled = self
            .last_decrease
            .is_none_or(|at| now.saturating_duration_since(at) >= hold);
        let required = if quick && !wary {
            QUICK_HOLD
        } else {
            INCREASE_FITS_FOR
        };
        let fits_long_enough = now.saturating_duration_since(since) >= required;
        if short || !settled {
            return false;
        }
        // One step at a time, each proven before the next: two made together overshoot twice
        // as far when the estimate is wrong. Paused videos get their lowest layer first. The
        // padding trial (where one is needed) runs while the step is waited for, not after.
        if let Some(i) = Self::first_step(demands, targets, &cautious) {
            let next = Self::step_up(&demands[i], targets[i]);
            let after =
                sending.saturating_sub(demands[i].cost(targets[i])) + demands[i].peak_cost(next);
            let proven = self.proven(now, trial, (i, next), after, sending);
            if !proven || !fits_long_enough {
                return false;
            }
            self.note_increase(now, targets);
            targets[i] = next;
        }
        self.increase_fits_since = None;
        false
    }

    /// Whether the step `(video, layer)`, after which `after` would be sent in all, may be
    /// taken now. On a link where a queue filled lately, a step well above what the link has
    /// carried is first tried with padding at its level: this starts or goes on with that
    /// trial until it has lasted [`TRIAL_FOR`]. That holds for a paused video's first layer
    /// too: a picture resumed and paused again within seconds costs the voices a keyframe's
    /// queue and the subscriber a flicker, where padding shows the same about the link and is
    /// dropped at the first sign of strain.
    fn proven(
        &mut self,
        now: Instant,
        trial: Option<Trial>,
        step: (usize, Option<u8>),
        after: u64,
        sending: u64,
    ) -> bool {
        let carried = self.known_good.max(sending) as f64;
        let queued_lately = self
            .last_queue
            .is_some_and(|at| now.saturating_duration_since(at) < TRIAL_AFTER_QUEUE);
        if !queued_lately || after as f64 <= carried * WARY_RAISE {
            return true;
        }
        // What the link delivered while a queue kept it saturated is what it carries: a step
        // under that, once the queue has gone, has had its trial.
        if self.calm_for(now, STRAIN_PASSED) && after <= self.floor {
            return true;
        }
        // The same step goes on being tried while its measured cost wanders.
        let trial = match trial {
            Some(trial) if trial.step == step => Trial {
                level: trial.level.max(after),
                ..trial
            },
            _ if !self.calm_for(now, TRIAL_AFTER_STRAIN) => return false,
            _ => Trial::new(now, after, step),
        };
        let trial = self.counted(trial, now);
        if now.saturating_duration_since(trial.counts_from) < TRIAL_FOR || !self.reached(&trial) {
            self.trial = Some(trial);
            return false;
        }
        true
    }

    /// The trial whose padding a queue showing now is the doing of: the one going on (`tried`),
    /// or, at the first queue after it, one dropped without strain within
    /// [`PADDING_QUEUE_SHOWS_WITHIN`]. A trial at a 165 kbit/s cap, dropped as the estimate
    /// dipped, filled a queue that showed two seconds later; taken for the media's, it paused
    /// the video the link had carried calmly before the trial.
    fn padded_lately(
        &mut self,
        now: Instant,
        tried: Option<Trial>,
        strain: Strain,
    ) -> Option<Trial> {
        if let Some(trial) = tried {
            // Strain now is accounted to it at once.
            self.padded = (strain == Strain::None).then_some((now, trial));
            return Some(trial);
        }
        if strain != Strain::Queueing {
            return None;
        }
        self.padded
            .take()
            .filter(|(at, _)| now.saturating_duration_since(*at) < PADDING_QUEUE_SHOWS_WITHIN)
            .map(|(_, trial)| trial)
    }

    /// No strain for `calm` since the last decide that saw one.
    fn calm_for(&self, now: Instant, calm: Duration) -> bool {
        self.last_strain
            .is_none_or(|at| now.saturating_duration_since(at) >= calm)
    }

    fn note_increase(&mut self, now: Instant, targets: &[Option<u8>]) {
        // A queue after the step is the step's, to be undone, not the padding's that proved it.
        self.padded = None;
        self.before_increase.clear();
        self.before_increase.extend_from_slice(targets);
        self.last_increase = Some(now);
    }

    /// The layers a decrease goes no lower than, one per video (`None`: down to what fits).
    /// The first decrease soon after an increase undoes that increase and no more: what was
    /// sent before it went through without strain, and the estimate, knocked down by the queue
    /// the increase filled, says less about the link for a few seconds. Only congestion beyond
    /// doubt (sending far over the estimate) cuts below that meanwhile. The same holds for the
    /// layers sent while padding (or probes, or resends) filled a queue, and there even
    /// congestion cuts nothing while that queue drains, unless the link fell
    /// ([`FELL_OVERSHOOT`]): the media had gone through without it. And for layers the link
    /// had carried calmly when a queue began ([`CARRIED_CALMLY`]).
    fn decrease_floor(
        &mut self,
        now: Instant,
        (congested, fell): (bool, bool),
        demands: &[VideoDemand],
        videos: usize,
    ) -> Vec<Option<u8>> {
        let kept_since = |at: Option<Instant>| {
            at.is_some_and(|at| now.saturating_duration_since(at) < RESTORED_KEPT)
        };
        let passing_queue = kept_since(self.trial_filled) || kept_since(self.calm_queue);
        let undoing = !passing_queue
            && self.last_increase.is_some_and(|at| {
                now.saturating_duration_since(at) < FLAP_WINDOW
                    && self.last_decrease.is_none_or(|d| d < at)
            });
        if undoing && self.before_increase.len() == videos {
            let until = now + RESTORED_KEPT;
            self.restored = Some((until, self.before_increase.clone()));
        }
        let floor = match &self.restored {
            Some((until, layers)) if now < *until && layers.len() == videos => {
                let draining = !fell
                    && self
                        .trial_filled
                        .is_some_and(|at| now.saturating_duration_since(at) < PADDING_QUEUE_DRAINS);
                if congested && !undoing && !draining {
                    self.restored = None;
                    return vec![None; videos];
                }
                layers.clone()
            }
            _ => return vec![None; videos],
        };
        // A layer the publisher no longer sends is no floor.
        floor
            .into_iter()
            .zip(demands)
            .map(|(layer, demand)| layer.filter(|l| demand.layers[usize::from(*l)].is_some()))
            .collect()
    }

    /// `floor` raised, at a queue's onset, to the lowest layer of each video playing (see
    /// [`ONSET_KEEPS_LOWEST_FOR`]).
    fn onset_floor(
        &self,
        now: Instant,
        (estimate, audio, strain): (u64, u64, Strain),
        demands: &[VideoDemand],
        targets: &[Option<u8>],
        floor: Vec<Option<u8>>,
    ) -> Vec<Option<u8>> {
        let Some(since) = self
            .queue_began
            .map(|at| now.saturating_duration_since(at))
            .filter(|since| *since < ONSET_KEEPS_LOWEST_FOR)
        else {
            return floor;
        };
        if strain == Strain::Queueing && since >= ONSET_QUEUE_OUTLASTS_THE_CUT {
            return floor;
        }
        let lowest = lowest_playing(demands, targets);
        let lowest_cost = audio
            + lowest
                .iter()
                .zip(demands)
                .map(|(layer, demand)| demand.cost(*layer))
                .sum::<u64>();
        if lowest_cost as f64 > estimate as f64 * ONSET_PAUSE_OVERSHOOT {
            return floor;
        }
        raised(floor, lowest)
    }

    /// Keeps [`Self::queue_level`]: the level a queue began to fill at, held for a while after
    /// the queue was last seen. Whether a queue began now.
    fn note_queueing(
        &mut self,
        now: Instant,
        queueing: bool,
        sending: u64,
        video_left: bool,
    ) -> bool {
        let began = queueing && !self.was_queueing;
        let since_last = self.last_queue.map(|at| now.saturating_duration_since(at));
        if queueing {
            if began {
                if since_last.is_some_and(|since| since < CALM) {
                    self.ceiling_for = (self.ceiling_for * 2).min(QUEUEING_CEILING_LONGEST);
                }
                // A queue shows a while after its cause; a lower level that filled one lately
                // is the better guess of what the link carries.
                self.queue_level = Some(self.queue_level.map_or(sending, |l| l.min(sending)));
                self.queue_began = Some(now);
            }
            self.last_queue = Some(now);
        } else if since_last.is_some_and(|since| {
            // With no video left the link is far below what video needs: a picture tried
            // again soon would only take the voices' room for a few seconds.
            since >= self.ceiling_for * if video_left { 1 } else { NO_VIDEO_HOLDS }
        }) {
            self.queue_level = None;
            self.carried = None;
        }
        if since_last.is_some_and(|since| since >= CALM) {
            self.ceiling_for = QUEUEING_CEILING_FOR;
        }
        self.was_queueing = queueing;
        began
    }

    /// Forgets a ceiling the link has carried more than, calmly, for a while: the queue it came
    /// from was a passing one (a burst of keyframes, a busy receiver), not the link's limit.
    fn test_ceiling(&mut self, now: Instant, strained: bool, sending: u64) {
        let above = !strained && self.ceiling().is_some_and(|ceiling| sending > ceiling);
        if !above {
            self.above_ceiling_since = None;
            return;
        }
        let since = *self.above_ceiling_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= CEILING_DISPROVED_AFTER {
            self.forget_ceiling();
            self.above_ceiling_since = None;
        }
    }

    /// The most that may be sent while a queue filled lately, if one did.
    pub fn ceiling(&self) -> Option<u64> {
        let level = self.queue_level?;
        let seen = self.carried.map_or(level, |carried| carried.min(level));
        Some((seen as f64 * BELOW_QUEUEING) as u64)
    }

    /// The next step up for the most important video, on a link showing no strain now, if it
    /// would overshoot the estimate only a little and nothing changed for a hold: the estimate
    /// of a link carrying little cannot show more until more is sent.
    #[allow(clippy::too_many_arguments)]
    fn try_a_step(
        &mut self,
        now: Instant,
        trial: Option<Trial>,
        estimate: u64,
        sending: u64,
        wary: bool,
        demands: &[VideoDemand],
        targets: &mut [Option<u8>],
    ) -> bool {
        let quiet = |at: Option<Instant>| {
            at.is_none_or(|at| now.saturating_duration_since(at) >= self.hold)
        };
        if !quiet(self.last_decrease) || !quiet(self.last_increase) {
            return false;
        }
        let Some(step) = Self::next_step(demands, targets) else {
            return false;
        };
        let trusted = (estimate as f64 * (1.0 + TRIAL_OVERSHOOT))
            .max(self.known_good as f64 * KNOWN_GOOD_SHARE);
        // A trial under way goes on while the link holds, whatever the estimate's wander: its
        // padding is the better test.
        if trial.is_none() && (sending + step) as f64 > trusted {
            return false;
        }
        let over_ceiling = self
            .ceiling()
            .is_some_and(|ceiling| sending + step > ceiling);
        let wanted: Vec<Option<u8>> = demands.iter().map(VideoDemand::view_cap).collect();
        if let Some(i) = Self::first_step(demands, targets, &wanted) {
            if wary && targets[i].is_some() {
                // The estimate was put to the test lately: it is guessed past only to give a
                // paused video a picture again, not for a better one.
                return false;
            }
            let next = Self::step_up(&demands[i], targets[i]);
            let after =
                sending.saturating_sub(demands[i].cost(targets[i])) + demands[i].peak_cost(next);
            if over_ceiling {
                // Past the ceiling only to give a paused video its picture back, and only
                // once padding over it went through.
                let step = (i, next);
                if targets[i].is_some() || !self.probed_ceiling(now, estimate, trial, step, after) {
                    return false;
                }
                self.forget_ceiling();
            } else if !self.proven(now, trial, (i, next), after, sending) {
                return false;
            }
            self.note_increase(now, targets);
            targets[i] = next;
        }
        false
    }

    /// Whether padding over the ceiling, at a little more than `after`, has gone through for
    /// [`CEILING_PROBE_FOR`]; starts such a try when one is due, or goes on with it.
    fn probed_ceiling(
        &mut self,
        now: Instant,
        estimate: u64,
        trial: Option<Trial>,
        step: (usize, Option<u8>),
        after: u64,
    ) -> bool {
        let trial = match trial {
            Some(trial) if trial.step == step && self.probing_ceiling => trial,
            _ if !self.calm_for(now, TRIAL_AFTER_STRAIN) => return false,
            _ => {
                let due = self.last_ceiling_probe.is_none_or(|(at, then)| {
                    let since = now.saturating_duration_since(at);
                    let risen = estimate as f64 >= then as f64 * CEILING_PROBE_RISE;
                    since >= self.ceiling_probe_every || (risen && since >= CEILING_PROBE_SOONEST)
                });
                if !due {
                    return false;
                }
                self.last_ceiling_probe = Some((now, estimate));
                Trial::new(now, (after as f64 * CEILING_PROBE_MARGIN) as u64, step)
            }
        };
        let trial = self.counted(trial, now);
        if now.saturating_duration_since(trial.counts_from) < CEILING_PROBE_FOR
            || !self.reached(&trial)
        {
            self.trial = Some(trial);
            self.probing_ceiling = true;
            return false;
        }
        self.probing_ceiling = false;
        self.ceiling_probe_every = CEILING_PROBE_EVERY;
        true
    }

    /// The link carried more than the ceiling a queue left: that queue was a passing one (a cap
    /// lifted), and the waits that flapping under it built up go too.
    fn forget_ceiling(&mut self) {
        self.queue_level = None;
        self.carried = None;
        self.ceiling_for = QUEUEING_CEILING_FOR;
        self.hold = BASE_HOLD;
    }

    /// Which video to raise one step towards `wanted`: the most important paused one, else the
    /// most important one below what it could have.
    fn first_step(
        demands: &[VideoDemand],
        targets: &[Option<u8>],
        wanted: &[Option<u8>],
    ) -> Option<usize> {
        let mut order: Vec<usize> = (0..demands.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(demands[i].priority));
        let below = |i: &usize| wanted[*i] > targets[*i];
        order
            .iter()
            .copied()
            .find(|i| below(i) && targets[*i].is_none())
            .or_else(|| order.iter().copied().find(below))
    }

    /// What to probe the link towards so that the next increase can be made: the total it needs
    /// with the margins an increase is held to, and a little more for the estimate to show it.
    pub fn probe_target(sending: u64, audio: u64, next_step: Option<u64>) -> u64 {
        let Some(step) = next_step else {
            return sending;
        };
        let video = sending.saturating_sub(audio) + step;
        ((video as f64 * INCREASE_MARGIN + audio as f64) / HEADROOM * 1.05) as u64
    }

    /// The layer one step above `current` (the lowest for a paused video).
    fn step_up(demand: &VideoDemand, current: Option<u8>) -> Option<u8> {
        demand
            .allowed()
            .map(|(layer, _)| layer)
            .find(|&layer| Some(layer) > current)
            .or(current)
    }

    /// The extra bits per second the next increase would take (the step [`Self::first_step`]
    /// would choose towards what each tile shows), for probing the link towards it.
    pub fn next_step(demands: &[VideoDemand], targets: &[Option<u8>]) -> Option<u64> {
        let wanted: Vec<Option<u8>> = demands.iter().map(VideoDemand::view_cap).collect();
        let i = Self::first_step(demands, targets, &wanted)?;
        let demand = &demands[i];
        let next = Self::step_up(demand, targets[i]);
        Some(demand.cost(next).saturating_sub(demand.cost(targets[i])))
    }

    /// Why `target` leaves a video unsent (`None` when it is sent).
    pub fn pause_reason(demand: &VideoDemand, target: Option<u8>) -> Option<PauseReason> {
        match (target, demand.max_layer) {
            (Some(_), _) => None,
            (None, None) => Some(PauseReason::Hidden),
            (None, Some(_)) if demand.layers.iter().all(Option::is_none) => None,
            (None, Some(_)) => Some(PauseReason::Bandwidth),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KBPS: u64 = 1_000;

    /// A camera sending all three layers at their usual rates.
    fn camera(priority: Priority) -> VideoDemand {
        VideoDemand {
            layers: [Some(150 * KBPS), Some(500 * KBPS), Some(1_200 * KBPS)],
            peaks: [None; MAX_LAYERS],
            arriving: [true; MAX_LAYERS],
            max_layer: Some(2),
            priority,
            fresh: false,
        }
    }

    /// One subscriber's allocator deciding for the same videos, a decision every `every`: a
    /// test plays the estimate and the strain its link shows.
    struct Subscriber<const N: usize> {
        allocator: Allocator,
        demands: [VideoDemand; N],
        targets: [Option<u8>; N],
        /// What the voices cost.
        audio: u64,
        every: Duration,
        /// When the last decision was made.
        at: Instant,
        /// What a trial's padding reaches, as a share of its level: str0m's pacer may hold it
        /// back.
        padding_reaches: f64,
        /// When the link's send counters were last read.
        read_at: Instant,
        /// The link loses at random: what went out says nothing of it.
        losing_at_random: bool,
    }

    impl<const N: usize> Subscriber<N> {
        fn new(
            demands: [VideoDemand; N],
            targets: [Option<u8>; N],
            audio: u64,
            every: Duration,
        ) -> Self {
            Subscriber {
                allocator: Allocator::new(),
                demands,
                targets,
                audio,
                every,
                at: Instant::now(),
                padding_reaches: 1.0,
                read_at: Instant::now(),
                losing_at_random: false,
            }
        }

        /// Once a second, as the room does, a reading of what went out: the media, or the
        /// level a trial pads to as far as the padding reaches it.
        fn read_the_wire(&mut self) {
            if self.at.duration_since(self.read_at) < WIRE_READING_SPANS {
                return;
            }
            self.read_at = self.at;
            if self.losing_at_random {
                self.allocator.measured_wire(WireReading::Uninformative);
                return;
            }
            let media = self.audio
                + self
                    .targets
                    .iter()
                    .zip(&self.demands)
                    .map(|(t, d)| d.cost(*t))
                    .sum::<u64>();
            let padded = self
                .allocator
                .padding_trial()
                .map_or(0, |level| (level as f64 * self.padding_reaches) as u64);
            self.allocator
                .measured_wire(WireReading::Read(self.at, media.max(padded)));
        }

        /// A decision at the time of the last one, under an estimate of `estimate` kbit/s;
        /// the targets it leaves.
        fn decide(&mut self, estimate: u64, strain: Strain) -> [Option<u8>; N] {
            self.read_the_wire();
            self.allocator.decide(
                self.at,
                estimate * KBPS,
                self.audio,
                strain,
                &self.demands,
                &mut self.targets,
            );
            self.targets
        }

        /// The next decision, `every` after the last.
        fn tick(&mut self, estimate: u64, strain: Strain) -> [Option<u8>; N] {
            self.at += self.every;
            self.decide(estimate, strain)
        }
    }

    impl Subscriber<2> {
        /// Two cameras and 100 kbit/s of voices, decided on every 250 ms as the room's policy
        /// does, starting from `targets`.
        fn two_cameras(targets: [Option<u8>; 2]) -> Subscriber<2> {
            Subscriber::new(
                [camera(Priority::Normal), camera(Priority::Normal)],
                targets,
                100 * KBPS,
                Duration::from_millis(250),
            )
        }
    }

    /// The estimate (kbit/s) on a capped link behind a shaper: sunk while a queue shows, and
    /// once probes the shaper's bucket let through have lifted it far above what the link
    /// carries.
    const SHAPED_SUNK: u64 = 120;
    const SHAPED_PROBED: u64 = 400;

    /// Decides without strain under `estimate` until a step is tried with padding, the
    /// targets staying `held` until then (`held_because` says why); when the trial began.
    fn until_a_padding_trial<const N: usize>(
        subscriber: &mut Subscriber<N>,
        estimate: u64,
        held: [Option<u8>; N],
        held_because: &str,
    ) -> Instant {
        for _ in 0..400 {
            assert_eq!(
                subscriber.tick(estimate, Strain::None),
                held,
                "{held_because}"
            );
            if subscriber.allocator.padding_trial().is_some() {
                return subscriber.at;
            }
        }
        panic!("no trial");
    }

    /// The estimate (kbit/s) while a queue shows, and once probes a bucket let through have made
    /// it run away.
    const QUEUEING: u64 = 200;
    const RUNAWAY: u64 = 3_000;

    /// `camera` on its lowest layer, with no voices, just after a queue showed on the link.
    fn one_camera_after_a_queue(camera: VideoDemand) -> Subscriber<1> {
        let mut subscriber = Subscriber::new([camera], [Some(0)], 0, Duration::from_millis(250));
        subscriber.tick(QUEUEING, Strain::Queueing);
        subscriber
    }

    /// Ticks with no strain under `estimate` until the video is on `layer` or above (for at
    /// most ten seconds); when that happened.
    fn until_at_least(subscriber: &mut Subscriber<1>, estimate: u64, layer: Option<u8>) -> Instant {
        for _ in 0..40 {
            subscriber.tick(estimate, Strain::None);
            if subscriber.targets[0] >= layer {
                break;
            }
        }
        subscriber.at
    }

    #[test]
    fn everyone_gets_the_lowest_layer_before_anyone_gets_more() {
        let demands = [camera(Priority::Normal), camera(Priority::Normal)];
        assert_eq!(fit(300 * KBPS, &demands), vec![Some(0), Some(0)]);
        assert_eq!(fit(700 * KBPS, &demands), vec![Some(1), Some(0)]);
        assert_eq!(fit(1_000 * KBPS, &demands), vec![Some(1), Some(1)]);
        assert_eq!(fit(5_000 * KBPS, &demands), vec![Some(2), Some(2)]);
    }

    #[test]
    fn when_short_the_host_and_the_speaker_keep_video_first() {
        let demands = [
            camera(Priority::Normal),
            camera(Priority::Speaker),
            camera(Priority::Host),
        ];
        assert_eq!(fit(100 * KBPS, &demands), vec![None, None, None]);
        assert_eq!(fit(150 * KBPS, &demands), vec![None, None, Some(0)]);
        assert_eq!(fit(300 * KBPS, &demands), vec![None, Some(0), Some(0)]);
        assert_eq!(fit(850 * KBPS, &demands), vec![Some(0), Some(0), Some(1)]);
    }

    #[test]
    fn a_small_tile_never_gets_more_than_it_shows_and_a_hidden_one_nothing() {
        let mut small = camera(Priority::Host);
        small.max_layer = Some(0);
        let mut hidden = camera(Priority::Normal);
        hidden.max_layer = None;
        let demands = [small, hidden, camera(Priority::Normal)];
        assert_eq!(fit(10_000 * KBPS, &demands), vec![Some(0), None, Some(2)]);
    }

    #[test]
    fn missing_layers_are_skipped_and_a_cap_below_them_takes_the_lowest_sent() {
        let mut uplink_limited = camera(Priority::Normal);
        uplink_limited.layers[2] = None;
        assert_eq!(fit(10_000 * KBPS, &[uplink_limited]), vec![Some(1)]);
        let mut top_only = camera(Priority::Normal);
        top_only.layers = [None, None, Some(900 * KBPS)];
        top_only.max_layer = Some(0);
        assert_eq!(fit(1_000 * KBPS, &[top_only]), vec![Some(2)]);
        assert_eq!(fit(800 * KBPS, &[top_only]), vec![None]);
    }

    #[test]
    fn decreases_are_immediate_and_increases_wait_for_the_hold() {
        let mut subscriber = Subscriber::new(
            [camera(Priority::Normal)],
            [Some(2)],
            50 * KBPS,
            Duration::from_millis(100),
        );
        assert_eq!(
            subscriber.decide(400, Strain::Loss),
            [Some(0)],
            "the estimate fell: down at once"
        );
        // Bandwidth comes back: nothing for the hold, then one layer at a time.
        let mut steps = Vec::new();
        for _ in 0..100 {
            let [target] = subscriber.tick(2_000, Strain::Loss);
            if steps.last() != Some(&target) {
                steps.push(target);
            }
        }
        assert_eq!(steps, vec![Some(0), Some(1), Some(2)]);
        assert!(subscriber.allocator.hold() >= BASE_HOLD);
    }

    #[test]
    fn a_fresh_video_starts_at_once_at_what_fits() {
        let mut demand = camera(Priority::Normal);
        demand.fresh = true;
        let mut targets = [None];
        Allocator::new().decide(
            Instant::now(),
            1_000 * KBPS,
            0,
            Strain::Loss,
            &[demand],
            &mut targets,
        );
        assert_eq!(targets, [Some(1)]);
    }

    /// Runs a minute of 100 ms decisions for two cameras and two voices under an estimate that
    /// wanders (a random walk, as a real estimate does, not white noise) between `low` and
    /// `high` kbit/s; returns the final targets and how many times they changed after the
    /// first two seconds.
    fn wander(low: u64, high: u64) -> ([Option<u8>; 2], usize) {
        let demands = [camera(Priority::Normal), camera(Priority::Normal)];
        let mut allocator = Allocator::new();
        let mut targets = [Some(1), Some(1)];
        let start = Instant::now();
        let mut changes = 0;
        let mut state = 7u64;
        let mut estimate = (low + high) / 2 * KBPS;
        for tick in 0..600 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let step = ((state >> 33) % 21) as i64 - 10;
            estimate = (estimate as i64 + step * KBPS as i64)
                .clamp((low * KBPS) as i64, (high * KBPS) as i64) as u64;
            let before = targets;
            let now = start + Duration::from_millis(tick * 100);
            allocator.decide(
                now,
                estimate,
                2 * 50 * KBPS,
                Strain::Loss,
                &demands,
                &mut targets,
            );
            if targets != before && tick > 20 {
                changes += 1;
            }
        }
        (targets, changes)
    }

    #[test]
    fn a_new_video_gets_its_lowest_layer_unless_the_link_is_strained() {
        let now = Instant::now();
        let mut heavy = camera(Priority::Normal);
        heavy.layers = [Some(1_500 * KBPS), None, None];
        heavy.fresh = true;
        let mut targets = [None];
        Allocator::new().decide(
            now,
            700 * KBPS,
            100 * KBPS,
            Strain::None,
            &[heavy],
            &mut targets,
        );
        assert_eq!(targets, [Some(0)]);
        let mut targets = [None];
        Allocator::new().decide(
            now,
            700 * KBPS,
            100 * KBPS,
            Strain::Loss,
            &[heavy],
            &mut targets,
        );
        assert_eq!(targets, [None]);
    }

    #[test]
    fn a_steady_cap_settles_instead_of_flapping() {
        // Two low layers and the voices fit anywhere in the wander; nothing more ever does.
        let (targets, changes) = wander(495, 605);
        assert_eq!(targets, [Some(0), Some(0)]);
        assert_eq!(changes, 0);
        // Here the wander crosses the line where the second low layer fits: a few changes at
        // most, not one every few seconds.
        let (_, changes) = wander(425, 575);
        assert!(changes <= 3, "{changes} changes in a minute");
    }

    #[test]
    fn increases_undone_quickly_make_the_next_wait_longer() {
        let mut subscriber = Subscriber::new(
            [camera(Priority::Normal)],
            [Some(0)],
            0,
            Duration::from_millis(100),
        );
        for _ in 0..25 {
            subscriber.tick(800, Strain::Loss);
        }
        assert_eq!(subscriber.targets, [Some(1)]);
        assert_eq!(subscriber.tick(350, Strain::Loss), [Some(0)]);
        assert_eq!(subscriber.allocator.hold(), BASE_HOLD * 2);
    }

    #[test]
    fn increases_come_one_step_at_a_time_paused_videos_first() {
        let mut subscriber = Subscriber::new(
            [camera(Priority::Host), camera(Priority::Normal)],
            [Some(0), None],
            0,
            Duration::from_millis(100),
        );
        let mut seen = vec![subscriber.targets];
        for _ in 0..200 {
            let targets = subscriber.tick(5_000, Strain::None);
            if seen.last() != Some(&targets) {
                seen.push(targets);
            }
        }
        assert_eq!(
            seen,
            [
                [Some(0), None],
                [Some(0), Some(0)],
                [Some(1), Some(0)],
                [Some(2), Some(0)],
                [Some(2), Some(1)],
                [Some(2), Some(2)],
            ]
        );
    }

    #[test]
    fn an_increase_that_fills_a_queue_is_undone_and_no_more() {
        let mut subscriber = Subscriber::new(
            [camera(Priority::Host), camera(Priority::Normal)],
            [Some(0), Some(0)],
            0,
            Duration::from_millis(100),
        );
        while subscriber.targets == [Some(0), Some(0)] {
            subscriber.tick(1_000, Strain::None);
        }
        assert_eq!(subscriber.targets, [Some(1), Some(0)]);
        // The step filled a queue: the estimate collapses below what the two low layers need.
        assert_eq!(
            subscriber.tick(200, Strain::Queueing),
            [Some(0), Some(0)],
            "back to where it was, not lower"
        );
        // The queue drains; the estimate, knocked down, is slow to come back.
        for _ in 0..10 {
            subscriber.tick(260, Strain::Queueing);
        }
        for _ in 0..15 {
            assert_eq!(subscriber.tick(260, Strain::None), [Some(0), Some(0)]);
        }
        // Congestion beyond doubt cuts further.
        assert_eq!(subscriber.tick(100, Strain::Queueing), [None, None]);
    }

    #[test]
    fn after_a_queue_a_big_step_is_tried_with_padding_before_the_picture_changes() {
        let mut demand = camera(Priority::Normal);
        // The middle layer measures 500 kbit/s now, but peaked at 900 lately.
        demand.peaks = [Some(150 * KBPS), Some(900 * KBPS), Some(1_200 * KBPS)];
        let mut subscriber = one_camera_after_a_queue(demand);
        // The estimate, fed by probes a bucket let through, runs away.
        let no_better = "no better picture before a trial";
        until_a_padding_trial(&mut subscriber, RUNAWAY, [Some(0)], no_better);
        assert!(
            subscriber.allocator.padding_trial() >= Some(900 * KBPS),
            "padding at the step's peak"
        );
        // The padding fills a queue: the picture stays, the trial ends.
        subscriber.tick(QUEUEING, Strain::Queueing);
        assert_eq!(
            (subscriber.targets, subscriber.allocator.padding_trial()),
            ([Some(0)], None)
        );
        // A later trial that the link carries for its whole length lets the step be made.
        let began = until_a_padding_trial(&mut subscriber, RUNAWAY, [Some(0)], no_better);
        let raised_at = until_at_least(&mut subscriber, RUNAWAY, Some(1));
        assert!(
            subscriber.targets[0] >= Some(1),
            "raised after a trial that held: {:?}",
            subscriber.targets
        );
        assert!(raised_at.duration_since(began) >= TRIAL_FOR);
    }

    #[test]
    fn a_trial_whose_padding_falls_short_of_its_level_proves_nothing_and_is_given_up() {
        let mut subscriber = one_camera_after_a_queue(camera(Priority::Normal));
        // The pacer lets the padding reach only half the step's level.
        subscriber.padding_reaches = 0.5;
        let began = until_a_padding_trial(&mut subscriber, RUNAWAY, [Some(0)], "no step untried");
        while subscriber.allocator.padding_trial().is_some() {
            assert_eq!(
                subscriber.tick(RUNAWAY, Strain::None),
                [Some(0)],
                "padding at half the level takes no step"
            );
        }
        let given_up = subscriber.at;
        assert!(
            given_up.duration_since(began) >= TRIAL_GIVES_UP
                && given_up.duration_since(began) <= TRIAL_GIVES_UP + subscriber.every,
            "given up after {:?}",
            given_up.duration_since(began)
        );
        // The step is held as a queue's ceiling would hold it, then tried again; this time the
        // padding reaches its level, and after the trial's length the step is made.
        subscriber.padding_reaches = 1.0;
        let again = until_a_padding_trial(&mut subscriber, RUNAWAY, [Some(0)], "held a while");
        assert!(
            again.duration_since(given_up) >= QUEUEING_CEILING_FOR,
            "tried again {:?} after giving up",
            again.duration_since(given_up)
        );
        let raised_at = until_at_least(&mut subscriber, RUNAWAY, Some(1));
        assert_eq!(
            subscriber.targets,
            [Some(1)],
            "raised once the padding went out"
        );
        assert!(raised_at.duration_since(again) >= TRIAL_FOR);
    }

    #[test]
    fn no_trial_begins_in_a_lull_of_a_draining_queue() {
        let audio = 100 * KBPS;
        let mut subscriber = Subscriber::new(
            [camera(Priority::Normal)],
            [Some(0)],
            audio,
            Duration::from_millis(250),
        );
        // A queue fills while the video still goes (the queue's level becomes a ceiling), and
        // the estimate sinks: the video is paused.
        subscriber.tick(SHAPED_PROBED, Strain::Queueing);
        assert!(subscriber.allocator.ceiling().is_some());
        assert_eq!(subscriber.tick(SHAPED_SUNK, Strain::Queueing), [None]);
        // The drain reads clear for a report, then raised again, over and over (the estimate
        // back up meanwhile).
        for _ in 0..6 {
            for _ in 0..4 {
                subscriber.tick(SHAPED_PROBED, Strain::None);
                assert_eq!(subscriber.allocator.padding_trial(), None, "in a lull");
            }
            subscriber.tick(SHAPED_PROBED, Strain::Queueing);
        }
        let last_strain = subscriber.at;
        let began = until_a_padding_trial(&mut subscriber, SHAPED_PROBED, [None], "paused");
        assert!(
            began.duration_since(last_strain) >= TRIAL_AFTER_STRAIN,
            "began {:?} after the last strain",
            began.duration_since(last_strain)
        );
    }

    #[test]
    fn on_a_link_losing_at_random_a_trial_counts_by_its_time_whatever_went_out() {
        let mut subscriber = one_camera_after_a_queue(camera(Priority::Normal));
        // str0m's loss-based estimate holds the padding to a fraction of the step's level.
        subscriber.losing_at_random = true;
        subscriber.padding_reaches = 0.2;
        let began = until_a_padding_trial(&mut subscriber, RUNAWAY, [Some(0)], "no step untried");
        let raised_at = until_at_least(&mut subscriber, RUNAWAY, Some(1));
        assert_eq!(
            subscriber.targets,
            [Some(1)],
            "raised after the trial's time"
        );
        let took = raised_at.duration_since(began);
        assert!(
            took >= TRIAL_FOR && took < TRIAL_GIVES_UP,
            "raised {took:?} after the trial began"
        );
    }

    #[test]
    fn after_a_queue_a_paused_video_is_resumed_only_once_padding_at_its_rate_goes_through() {
        let audio = 100 * KBPS;
        let mut subscriber = Subscriber::new(
            [camera(Priority::Normal)],
            [Some(0)],
            audio,
            Duration::from_millis(250),
        );
        assert_eq!(
            subscriber.tick(SHAPED_SUNK, Strain::Queueing),
            [None],
            "paused: the voices and the low layer fill a queue"
        );
        let paused = subscriber.at;
        let no_picture = "no picture before a trial";
        let first = until_a_padding_trial(&mut subscriber, SHAPED_PROBED, [None], no_picture);
        assert!(
            subscriber.allocator.padding_trial() >= Some(audio + 150 * KBPS),
            "padding up to the voices and the low layer: {:?}",
            subscriber.allocator.padding_trial()
        );
        // The padding fills the queue again: the video stays paused, and what filled it is not
        // tried again soon.
        subscriber.tick(SHAPED_SUNK, Strain::Queueing);
        let failed = subscriber.at;
        assert_eq!(
            (subscriber.targets, subscriber.allocator.padding_trial()),
            ([None], None)
        );
        let second = until_a_padding_trial(&mut subscriber, SHAPED_PROBED, [None], no_picture);
        assert!(
            second.duration_since(failed) > first.duration_since(paused),
            "the next trial waits longer: {:?} after the first, {:?} after the pause",
            second.duration_since(failed),
            first.duration_since(paused)
        );
        // A trial the link carries for its whole length brings the picture back.
        let resumed_at = until_at_least(&mut subscriber, SHAPED_PROBED, Some(0));
        assert_eq!(
            subscriber.targets,
            [Some(0)],
            "resumed after a trial that held"
        );
        assert!(resumed_at.duration_since(second) >= TRIAL_FOR);
    }

    #[test]
    fn padding_that_fills_a_queue_costs_none_of_the_layers_sent_with_it() {
        let mut subscriber = Subscriber::two_cameras([Some(0), Some(0)]);
        // A queue lately (the cap that brought both to the low layer), then the estimate
        // rises, as a shaper's bucket lets probes through: the next step is tried with padding.
        assert_eq!(subscriber.tick(450, Strain::Queueing), [Some(0), Some(0)]);
        let mut tried = false;
        for _ in 0..200 {
            assert_eq!(subscriber.tick(2_000, Strain::None), [Some(0), Some(0)]);
            if subscriber.allocator.padding_trial().is_some() {
                tried = true;
                break;
            }
        }
        assert!(tried, "a step up is tried with padding first");
        // The padding fills a queue, and the estimate falls below what the media sends:
        // the media went through before the padding, and keeps its layers while that drains.
        for _ in 0..8 {
            assert_eq!(
                subscriber.tick(300, Strain::Queueing),
                [Some(0), Some(0)],
                "the padding's queue drains"
            );
        }
        assert_eq!(
            subscriber.allocator.padding_trial(),
            None,
            "the padding stopped"
        );
        for _ in 0..8 {
            assert_eq!(subscriber.tick(450, Strain::None), [Some(0), Some(0)]);
        }
        // A queue that stays once the padding has long stopped is the media's: it is cut.
        let mut cut = false;
        for _ in 0..40 {
            if subscriber.tick(300, Strain::Queueing) != [Some(0), Some(0)] {
                cut = true;
                break;
            }
        }
        assert!(cut, "a queue the media fills still cuts it");
    }

    #[test]
    fn a_queue_the_padding_of_a_dropped_trial_filled_costs_none_of_the_layers_sent_with_it() {
        let mut subscriber = Subscriber::two_cameras([Some(0), Some(0)]);
        assert_eq!(subscriber.tick(450, Strain::Queueing), [Some(0), Some(0)]);
        let both_low = [Some(0), Some(0)];
        until_a_padding_trial(&mut subscriber, 2_000, both_low, "tried with padding first");
        // The estimate dips under what is sent, with no strain yet: the step no longer fits,
        // and the trial is dropped.
        subscriber.tick(380, Strain::None);
        assert_eq!(subscriber.allocator.padding_trial(), None);
        // The queue its padding filled shows a moment later, the estimate below the media.
        for _ in 0..8 {
            assert_eq!(
                subscriber.tick(300, Strain::Queueing),
                [Some(0), Some(0)],
                "the padding's queue drains"
            );
        }
    }

    #[test]
    fn a_queue_on_a_link_that_carried_its_layers_calmly_takes_none_of_them_at_once() {
        let mut subscriber = Subscriber::two_cameras([Some(0), Some(0)]);
        // Both low layers and the voices (400 kbit/s) have gone through calmly for a while.
        for _ in 0..40 {
            assert_eq!(subscriber.tick(450, Strain::None), [Some(0), Some(0)]);
        }
        // A probe's burst fills a queue for a moment and knocks the estimate a little under
        // what is sent: nothing is taken.
        for _ in 0..8 {
            assert_eq!(
                subscriber.tick(350, Strain::Queueing),
                [Some(0), Some(0)],
                "a passing queue"
            );
        }
        for _ in 0..8 {
            assert_eq!(subscriber.tick(450, Strain::None), [Some(0), Some(0)]);
        }
        // Congestion beyond doubt is acted on at once all the same.
        assert_eq!(
            subscriber.tick(180, Strain::Queueing),
            [None, None],
            "sending far over the estimate"
        );
    }

    #[test]
    fn a_queues_first_cut_keeps_the_lowest_layers_and_one_that_lasts_pauses() {
        let capped = || {
            let mut subscriber = Subscriber::two_cameras([Some(1), Some(1)]);
            for _ in 0..40 {
                assert_eq!(subscriber.tick(1_200, Strain::None), [Some(1), Some(1)]);
            }
            subscriber
        };
        // A cap: the queue's first report comes with the estimate knocked under what both
        // lowest layers and the voices send (400 kbit/s), though not to half of it.
        let mut subscriber = capped();
        assert_eq!(
            subscriber.tick(250, Strain::Queueing),
            [Some(0), Some(0)],
            "the first cut keeps both lowest layers"
        );
        // The link carries them: the queue goes and the estimate recovers.
        for _ in 0..40 {
            assert_eq!(subscriber.tick(480, Strain::None), [Some(0), Some(0)]);
        }

        // A link that does not carry them goes on queueing: a video is paused.
        let mut subscriber = capped();
        assert_eq!(subscriber.tick(250, Strain::Queueing), [Some(0), Some(0)]);
        let paused = (0..8).find_map(|_| {
            let targets = subscriber.tick(250, Strain::Queueing);
            (targets != [Some(0), Some(0)]).then_some(subscriber.at)
        });
        assert_eq!(
            paused.map(|_| subscriber.targets),
            Some([Some(0), None]),
            "a lasting queue pauses a video"
        );

        // An estimate under half of what the lowest layers would send pauses at once.
        let mut subscriber = capped();
        assert_eq!(subscriber.tick(150, Strain::Queueing), [None, None]);

        // One still falling, over what a middle layer needs, is no measure of the link: the
        // first cut goes to the lowest layers all the same, and no probe or step reaches for
        // the middle ones while the queue's ceiling holds.
        let mut subscriber = capped();
        assert_eq!(
            subscriber.tick(800, Strain::Queueing),
            [Some(0), Some(0)],
            "straight to the lowest layers"
        );
        assert_eq!(subscriber.allocator.ceiling(), Some(720 * KBPS));
        for _ in 0..20 {
            assert_eq!(subscriber.tick(1_200, Strain::None), [Some(0), Some(0)]);
        }
    }

    #[test]
    fn a_layer_that_stops_at_the_publisher_for_a_moment_pauses_no_video() {
        let mut subscriber = Subscriber::two_cameras([Some(0), Some(0)]);
        for _ in 0..20 {
            assert_eq!(subscriber.tick(480, Strain::Loss), [Some(0), Some(0)]);
        }
        // The second camera's lowest layer goes missing while its middle one goes on, which
        // does not fit: the video waits for its layer rather than being paused for bandwidth.
        let lowest = subscriber.demands[1].layers[0].take();
        for _ in 0..4 {
            assert_eq!(subscriber.tick(480, Strain::Loss), [Some(0), Some(0)]);
        }
        subscriber.demands[1].layers[0] = lowest;
        assert_eq!(subscriber.tick(480, Strain::Loss), [Some(0), Some(0)]);
        // A camera that stops altogether is no longer sent.
        subscriber.demands[1].layers = [None; MAX_LAYERS];
        assert_eq!(subscriber.tick(480, Strain::Loss), [Some(0), None]);
    }

    #[test]
    fn a_queue_that_was_a_slower_path_leaves_no_ceiling() {
        let mut subscriber = Subscriber::two_cameras([Some(1), Some(1)]);
        for _ in 0..4 {
            subscriber.tick(500, Strain::Queueing);
        }
        assert!(subscriber.allocator.ceiling().is_some());
        subscriber.allocator.path_is_slower();
        assert_eq!(subscriber.allocator.ceiling(), None);
    }

    #[test]
    fn videos_a_slower_path_paused_while_it_looked_like_a_queue_come_back() {
        let mut subscriber = Subscriber::two_cameras([Some(1), Some(1)]);
        for _ in 0..20 {
            subscriber.tick(1_200, Strain::None);
        }
        // The round trip jumps and stays up: judged a queue for some seconds, with the
        // estimate sinking on the path's loss, the videos are paused.
        let mut paused = false;
        for _ in 0..12 {
            paused |= subscriber.tick(150, Strain::Queueing) == [None, None];
        }
        assert!(paused, "{:?}", subscriber.targets);
        // Judged a slower path: both come back on their lowest layer though the estimate goes
        // on sinking (what the link then carries holds them: see `ChanceLoss`).
        subscriber.allocator.path_is_slower();
        assert_eq!(subscriber.tick(100, Strain::Loss), [Some(0), Some(0)]);
        // Only once: a later queue's cut is not undone by the same judgement.
        let again = (0..12).any(|_| subscriber.tick(100, Strain::Queueing) == [None, None]);
        assert!(again, "{:?}", subscriber.targets);
        assert_eq!(subscriber.tick(100, Strain::Loss), [None, None]);
    }

    #[test]
    fn an_estimate_under_what_a_calm_link_carries_takes_layers_down_but_pauses_nothing() {
        let mut subscriber = Subscriber::two_cameras([Some(1), Some(0)]);
        for _ in 0..20 {
            assert_eq!(subscriber.tick(900, Strain::None), [Some(1), Some(0)]);
        }
        // The estimate sinks under even the lowest layers and the voices (400 kbit/s), and the
        // link shows neither loss nor a queue: the middle layer goes, no video is paused.
        for tick in 0..40 {
            let targets = subscriber.tick(250, Strain::None);
            assert!(
                targets.iter().all(Option::is_some),
                "tick {tick}: {targets:?}"
            );
        }
        assert_eq!(subscriber.targets, [Some(0), Some(0)]);
        // Strain that lasts does pause one.
        let paused = (0..20).any(|_| subscriber.tick(250, Strain::Loss) == [Some(0), None]);
        assert!(paused, "{:?}", subscriber.targets);
    }

    #[test]
    fn a_queue_a_nudge_filled_costs_none_of_the_layers_sent_with_it() {
        let mut subscriber = Subscriber::two_cameras([Some(0), Some(0)]);
        for _ in 0..40 {
            subscriber.tick(450, Strain::None);
        }
        // A stuck estimate is nudged: padding up to 500 kbit/s goes out, a queue fills, and
        // the estimate falls far under what the media sends.
        subscriber.tick(450, Strain::None);
        subscriber.allocator.note_excess_sent(subscriber.at);
        for _ in 0..7 {
            assert_eq!(
                subscriber.tick(250, Strain::Queueing),
                [Some(0), Some(0)],
                "the nudge's queue drains"
            );
        }
        for _ in 0..40 {
            subscriber.tick(450, Strain::None);
        }
        assert_eq!(
            subscriber.tick(180, Strain::Queueing),
            [None, None],
            "without padding, congestion beyond doubt is acted on at once"
        );
        let back = (0..200).any(|_| subscriber.tick(450, Strain::None) == [Some(0), Some(0)]);
        assert!(back, "both videos back once the link carries them");
        for _ in 0..40 {
            assert_eq!(subscriber.tick(450, Strain::None), [Some(0), Some(0)]);
        }
        // A cap arrives with a nudge: sending twice the estimate is a link that fell, cut at
        // once to what fits beside the voices.
        subscriber.tick(450, Strain::None);
        subscriber.allocator.note_excess_sent(subscriber.at);
        assert_eq!(
            subscriber.tick(150, Strain::Queueing),
            [None, None],
            "a link that fell is acted on at once"
        );
    }

    #[test]
    fn under_a_steady_cap_tries_over_the_ceiling_are_rare_and_once_it_lifts_one_brings_video_back()
    {
        let audio = 100 * KBPS;
        let mut subscriber = Subscriber::new(
            [camera(Priority::Normal)],
            [Some(0)],
            audio,
            Duration::from_millis(250),
        );
        assert_eq!(subscriber.tick(SHAPED_SUNK, Strain::Queueing), [None]);
        let paused = subscriber.at;
        // Capped for two minutes: every try fills the queue at once.
        let mut tries = 0;
        let mut over_the_ceiling = 0;
        let mut last = paused;
        while last.duration_since(paused) < Duration::from_secs(120) {
            let targets = subscriber.tick(SHAPED_PROBED, Strain::None);
            let now = subscriber.at;
            assert_eq!(targets, [None], "no picture while capped");
            if let Some(level) = subscriber.allocator.padding_trial() {
                tries += 1;
                let ceiling = subscriber.allocator.ceiling();
                if ceiling.is_some_and(|ceiling| level > ceiling) {
                    over_the_ceiling += 1;
                    assert!(level >= (audio + 150 * KBPS) * 11 / 10, "{level}");
                }
                subscriber.tick(SHAPED_SUNK, Strain::Queueing);
            }
            last = now;
        }
        assert!(over_the_ceiling >= 1, "tried over the ceiling");
        assert!(
            tries <= 120 / CEILING_PROBE_EVERY.as_secs(),
            "{tries} tries in two minutes"
        );
        // The cap lifts: the video is back within a try or two.
        let lifted = last;
        let resumed = loop {
            let targets = subscriber.tick(SHAPED_PROBED, Strain::None);
            let now = subscriber.at;
            if targets[0].is_some() {
                break now;
            }
            assert!(
                now.duration_since(lifted) < Duration::from_secs(120),
                "never back"
            );
        };
        let back_after = resumed.duration_since(lifted);
        assert!(
            back_after <= CEILING_PROBE_LONGEST + CEILING_PROBE_FOR + Duration::from_secs(1),
            "back {back_after:?} after the cap lifted"
        );
        assert_eq!(subscriber.allocator.ceiling(), None, "the ceiling is gone");
    }

    #[test]
    fn the_next_step_resumes_a_paused_video_before_raising_the_most_important_one() {
        let mut small = camera(Priority::Normal);
        small.max_layer = Some(0);
        let demands = [small, camera(Priority::Host)];
        assert_eq!(
            Allocator::next_step(&demands, &[None, Some(0)]),
            Some(150 * KBPS)
        );
        assert_eq!(
            Allocator::next_step(&demands, &[Some(0), Some(0)]),
            Some(350 * KBPS)
        );
        assert_eq!(
            Allocator::next_step(&demands, &[None, Some(2)]),
            Some(150 * KBPS)
        );
        assert_eq!(Allocator::next_step(&demands, &[Some(0), Some(2)]), None);
    }

    #[test]
    fn after_strain_a_short_spike_of_the_estimate_does_not_raise_the_layers() {
        let mut subscriber = Subscriber::new(
            [camera(Priority::Normal)],
            [Some(1)],
            50 * KBPS,
            Duration::from_millis(100),
        );
        // Congestion: down to the lowest layer.
        assert_eq!(subscriber.decide(200, Strain::Loss), [Some(0)]);
        // A probe the queue absorbed makes the estimate jump for four seconds, then fall back.
        for tick in 0..80 {
            let estimate = if (20..60).contains(&tick) { 2_000 } else { 250 };
            assert_eq!(
                subscriber.tick(estimate, Strain::None),
                [Some(0)],
                "tick {tick}"
            );
        }
    }

    #[test]
    fn what_filled_a_queue_is_not_tried_again_for_a_while_and_less_often_each_time() {
        /// Once the queue drains and the estimate, fed by probes a bucket let through, says
        /// 2 Mbit/s: how long until both videos are back on what filled it (within a minute).
        fn back_on_the_middle_layers_after(subscriber: &mut Subscriber<2>) -> Option<Duration> {
            subscriber.tick(2_000, Strain::None);
            let drained = subscriber.at;
            loop {
                let targets = subscriber.tick(2_000, Strain::None);
                let since = subscriber.at.duration_since(drained);
                if targets.iter().filter(|t| **t >= Some(1)).count() == 2 {
                    return Some(since);
                }
                if since > Duration::from_secs(60) {
                    return None;
                }
            }
        }
        // Both on their middle layers, 2x500 + 100 of audio: a queue fills.
        let mut subscriber = Subscriber::two_cameras([Some(1), Some(1)]);
        for _ in 0..8 {
            subscriber.tick(400, Strain::Queueing);
        }
        assert_eq!(
            subscriber.allocator.ceiling(),
            Some(400 * KBPS),
            "what the queue's first cut left (2x150 + 100; 2x500 + 100 were sent)"
        );
        let targets = subscriber.targets;
        assert!(targets.iter().all(|t| *t < Some(1)), "{targets:?}");
        // For the ceiling's time nothing goes back to what filled the queue.
        let first_try = back_on_the_middle_layers_after(&mut subscriber)
            .expect("tried again once the ceiling expired");
        assert!(first_try >= QUEUEING_CEILING_FOR, "{first_try:?}");
        // It fills the queue again: the next try waits twice as long.
        for _ in 0..8 {
            subscriber.tick(400, Strain::Queueing);
        }
        let second_try = back_on_the_middle_layers_after(&mut subscriber)
            .expect("tried again once the longer ceiling expired");
        assert!(second_try >= QUEUEING_CEILING_FOR * 2, "{second_try:?}");
    }

    #[test]
    fn a_queue_that_never_drains_brings_the_ceiling_down_to_what_the_link_delivered() {
        let mut subscriber = Subscriber::two_cameras([Some(1), Some(1)]);
        let start = subscriber.at;
        // A delivery measured before this queue began is another link's (or another cap's).
        subscriber
            .allocator
            .measured_delivery(Some((start, 900 * KBPS)));
        for _ in 0..4 {
            subscriber
                .allocator
                .measured_delivery(Some((start, 900 * KBPS)));
            subscriber.tick(400, Strain::Queueing);
        }
        assert_eq!(
            subscriber.allocator.ceiling(),
            Some(400 * KBPS),
            "what the queue's first cut left (2x150 + 100; 2x500 + 100 were sent)"
        );
        // The queue stays full and the link was counted delivering 130 kbit/s meanwhile.
        let at = subscriber.at;
        subscriber
            .allocator
            .measured_delivery(Some((at, 130 * KBPS)));
        assert_eq!(
            subscriber.allocator.ceiling(),
            Some(117 * KBPS),
            "0.9 of it"
        );
        // The queue drains: the ceiling, and what the link carried with it, go in time.
        for _ in 0..(QUEUEING_CEILING_FOR.as_millis() / 250 + 1) {
            subscriber.tick(400, Strain::None);
        }
        assert_eq!(subscriber.allocator.ceiling(), None);
        let at = subscriber.at;
        subscriber
            .allocator
            .measured_delivery(Some((at, 130 * KBPS)));
        assert_eq!(subscriber.allocator.ceiling(), None, "no queue, no ceiling");
    }

    #[test]
    fn a_ceiling_the_link_carries_more_than_calmly_is_forgotten() {
        // Both on their lowest layers (2x150 + 100): a passing queue (keyframes) shows.
        let mut subscriber = Subscriber::two_cameras([Some(0), Some(0)]);
        subscriber.tick(400, Strain::Queueing);
        assert_eq!(
            subscriber.allocator.ceiling(),
            Some(360 * KBPS),
            "0.9 of 400"
        );
        assert_eq!(subscriber.targets, [Some(0), Some(0)]);
        // It drains, and the same 400 kbit/s go through without strain.
        for _ in 0..(CEILING_DISPROVED_AFTER.as_millis() / 250) {
            subscriber.tick(400, Strain::None);
        }
        assert_eq!(subscriber.allocator.ceiling(), Some(360 * KBPS), "not yet");
        subscriber.tick(400, Strain::None);
        assert_eq!(
            subscriber.allocator.ceiling(),
            None,
            "carried more than it, calmly, for 5 s"
        );
    }

    #[test]
    fn pause_reasons_tell_weak_links_from_hidden_tiles() {
        let shown = camera(Priority::Normal);
        let mut hidden = camera(Priority::Normal);
        hidden.max_layer = None;
        let mut silent = camera(Priority::Normal);
        silent.layers = [None; MAX_LAYERS];
        assert_eq!(
            Allocator::pause_reason(&shown, None),
            Some(PauseReason::Bandwidth)
        );
        assert_eq!(Allocator::pause_reason(&shown, Some(0)), None);
        assert_eq!(
            Allocator::pause_reason(&hidden, None),
            Some(PauseReason::Hidden)
        );
        assert_eq!(Allocator::pause_reason(&silent, None), None);
    }
}
