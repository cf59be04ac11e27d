//! Lifts a send-side estimate that has stopped moving below what the next step needs.
//!
//! str0m's estimate of a link that sends little grows to at most 1.5 times what the receiver
//! acknowledges, and its probes are held back while the last cause it recorded for the
//! estimate was loss; that cause is only recorded again when the estimate changes. After a
//! spell of heavy loss on a link that has since cleared, the estimate can therefore stay flat
//! for good, just above what is sent, and no layer above the lowest is ever given again (the
//! in-memory simulation saw it stay flat for over a minute after a cap was lifted). Padding up
//! to most of the estimate for a few seconds raises what is acknowledged: the estimate moves,
//! its cause is recorded afresh, and the probes that follow can find what the link carries.
//!
//! An estimate below what a calm link has been carrying all along (it fell with a cap's losses
//! and creeps back by a few kbit/s a second) cannot be padded up: padding stays under the
//! estimate. The estimator is restarted from what the link carries instead; it probes afresh
//! from there, as at the start of a call.

use std::time::{Duration, Instant};

/// An estimate unchanged for this long, with a step waiting on it, is taken as stuck.
const FLAT_FOR: Duration = Duration::from_secs(8);
/// How long a nudge pads.
const NUDGE_FOR: Duration = Duration::from_secs(3);
/// How long after a nudge began the next may begin, at first. A nudge that fills a queue
/// doubles it, up to the longest; one that goes through brings it back.
const NUDGE_EVERY: Duration = Duration::from_secs(15);
const NUDGE_EVERY_LONGEST: Duration = Duration::from_secs(120);
/// The share of the estimate (or of what the link last delivered saturated, if less) a nudge
/// pads up to: what the link is said to carry, less a margin for a figure that is right.
const NUDGE_SHARE: f64 = 0.9;
/// What a saturated link delivered bounds a nudge for this long after it was measured. Past
/// that, on a link that has since carried what it is sent calmly, it may be long gone (a cap
/// lifted), and the estimate it holds down never moves: str0m's estimate of a link sending
/// little grows to 1.5 times what is acknowledged, and no further.
const DELIVERED_BOUNDS_FOR: Duration = Duration::from_secs(30);
/// Past that, a nudge pads this share over what is sent: enough for what is acknowledged,
/// and so the estimate, to move, and little enough for a link still capped near what it
/// carries to absorb for the few seconds of a nudge.
const NUDGE_OVER_SENDING: f64 = 1.15;

/// What to do for a stuck estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nudge {
    /// Pad the link up to this level (in all, audio included).
    Pad(u64),
    /// Restart the estimator from this bitrate: what the link carries now.
    Restart(u64),
}

/// An estimate below this share of what a calm link carries is far behind it (a little below
/// is an estimate settling at a cap, with the media kept a step over it by what the link was
/// seen to deliver).
const FAR_BEHIND: f64 = 0.8;

#[derive(Debug)]
pub(crate) struct StuckEstimate {
    /// The estimate and since when it has had that value.
    last: Option<(u64, Instant)>,
    /// When the current or last nudge began.
    nudged: Option<Instant>,
    /// The link strained during the current nudge.
    strained_during: bool,
    /// The wait between nudges.
    every: Duration,
    /// Since when the link has shown no strain.
    calm_since: Option<Instant>,
    /// The current or last nudge padded (rather than restarted the estimator).
    padding: bool,
}

impl Default for StuckEstimate {
    fn default() -> Self {
        StuckEstimate {
            last: None,
            nudged: None,
            strained_during: false,
            every: NUDGE_EVERY,
            calm_since: None,
            padding: false,
        }
    }
}

/// What the link looks like to [`StuckEstimate::padding`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub estimate: u64,
    /// What the media sent costs, audio included.
    pub sending: u64,
    /// What the next step up would add, if there is one.
    pub next_step: Option<u64>,
    /// The link shows loss or a queue now.
    pub strained: bool,
    /// The most that may be sent after a queue filled lately.
    pub ceiling: Option<u64>,
    /// What the link was last measured to deliver while saturated, and when: a nudge soon
    /// after never pads past it, as on a link still capped there it would only fill the queue
    /// at the voices' cost.
    pub delivered: Option<(Instant, u64)>,
}

impl StuckEstimate {
    /// Takes each estimate str0m reports.
    pub fn note_estimate(&mut self, estimate: u64, now: Instant) {
        if self.last.is_none_or(|(value, _)| value != estimate) {
            self.last = Some((estimate, now));
        }
    }

    /// The level (in all, audio included) to pad the link up to now, if the estimate is stuck.
    #[cfg(test)]
    pub fn padding(&mut self, link: Link, now: Instant) -> Option<u64> {
        match self.nudge(link, now)? {
            Nudge::Pad(level) => Some(level),
            Nudge::Restart(_) => None,
        }
    }

    /// What to do now for the estimate, if it is stuck.
    pub fn nudge(&mut self, link: Link, now: Instant) -> Option<Nudge> {
        if link.strained {
            self.calm_since = None;
        } else if self.calm_since.is_none() {
            self.calm_since = Some(now);
        }
        if let Some(began) = self.nudged {
            let since = now.saturating_duration_since(began);
            if since < NUDGE_FOR {
                if link.strained && !self.strained_during {
                    self.strained_during = true;
                    self.every = (self.every * 2).min(NUDGE_EVERY_LONGEST);
                }
                return if self.strained_during || !self.padding {
                    None
                } else {
                    Self::level(link, now).map(Nudge::Pad)
                };
            }
            let padded_in_vain = std::mem::take(&mut self.padding)
                && !self.strained_during
                && self.last.is_some_and(|(_, changed)| changed <= began);
            if padded_in_vain && self.stuck(link, now) {
                // The padding went through and the estimate did not move: str0m is holding
                // it (its probes wait for a cause it records only when the estimate changes).
                // A fresh estimator from what the link carries probes again, as at the start.
                self.nudged = Some(now);
                return Some(Nudge::Restart(link.sending));
            }
            if since < self.every {
                return None;
            }
        }
        let (_, since) = self.last?;
        if !self.stuck(link, now) {
            return None;
        }
        let nudge = if (link.estimate as f64) < link.sending as f64 * FAR_BEHIND {
            Nudge::Restart(link.sending)
        } else if now.saturating_duration_since(since) >= FLAT_FOR {
            Nudge::Pad(Self::level(link, now)?)
        } else {
            return None;
        };
        if !self.strained_during {
            self.every = NUDGE_EVERY;
        }
        self.nudged = Some(now);
        self.strained_during = false;
        self.padding = matches!(nudge, Nudge::Pad(_));
        Some(nudge)
    }

    /// Whether the link is calm and the next step waits on the estimate: a link that keeps
    /// showing a queue (a narrow one the voices alone fill) is not padded into.
    fn stuck(&self, link: Link, now: Instant) -> bool {
        let calm = self
            .calm_since
            .is_some_and(|calm| now.saturating_duration_since(calm) >= FLAT_FOR);
        let blocked = link
            .next_step
            .is_some_and(|step| link.sending + step > link.estimate);
        calm && blocked && !link.strained
    }

    fn level(link: Link, now: Instant) -> Option<u64> {
        let said = (link.estimate as f64 * NUDGE_SHARE) as u64;
        let level = match link.delivered {
            None => said,
            Some((measured_at, delivered))
                if now.saturating_duration_since(measured_at) < DELIVERED_BOUNDS_FOR =>
            {
                said.min((delivered as f64 * NUDGE_SHARE) as u64)
            }
            Some((_, delivered)) => {
                let past_it = (link.sending as f64 * NUDGE_OVER_SENDING).round();
                said.min((delivered as f64 * NUDGE_SHARE).max(past_it) as u64)
            }
        };
        let level = link.ceiling.map_or(level, |ceiling| level.min(ceiling));
        (level > link.sending).then_some(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KBPS: u64 = 1_000;

    fn stuck_link() -> Link {
        Link {
            estimate: 332 * KBPS,
            sending: 230 * KBPS,
            next_step: Some(400 * KBPS),
            strained: false,
            ceiling: None,
            delivered: None,
        }
    }

    #[test]
    fn a_flat_estimate_below_the_next_step_is_padded_for_a_while_then_left_alone() {
        let start = Instant::now();
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(332 * KBPS, start);
        stuck.padding(stuck_link(), start);
        let at = |secs: u64| start + Duration::from_secs(secs);
        assert_eq!(
            stuck.padding(stuck_link(), at(5)),
            None,
            "not flat long enough"
        );
        assert_eq!(stuck.padding(stuck_link(), at(8)), Some(298_800));
        assert_eq!(
            stuck.padding(stuck_link(), at(10)),
            Some(298_800),
            "still nudging"
        );
        // The padding moves the estimate, which goes flat again.
        stuck.note_estimate(340 * KBPS, at(10));
        assert_eq!(stuck.padding(stuck_link(), at(12)), None, "nudged enough");
        assert_eq!(stuck.padding(stuck_link(), at(22)), None, "too soon again");
        assert_eq!(stuck.padding(stuck_link(), at(23)), Some(298_800));
    }

    #[test]
    fn padding_that_goes_through_and_leaves_the_estimate_where_it_was_restarts_the_estimator() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(332 * KBPS, start);
        stuck.nudge(stuck_link(), start);
        assert_eq!(stuck.nudge(stuck_link(), at(8)), Some(Nudge::Pad(298_800)));
        assert_eq!(
            stuck.nudge(stuck_link(), at(11)),
            Some(Nudge::Restart(230 * KBPS)),
            "padded for 3 s, calmly, and the estimate never moved"
        );
        assert_eq!(stuck.nudge(stuck_link(), at(12)), None, "once");
        // Padding that filled a queue says the estimate is right: no restart.
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(332 * KBPS, start);
        stuck.nudge(stuck_link(), start);
        assert!(stuck.nudge(stuck_link(), at(8)).is_some());
        let strained = Link {
            strained: true,
            ..stuck_link()
        };
        assert_eq!(stuck.nudge(strained, at(9)), None);
        for secs in 10..30 {
            assert_eq!(stuck.nudge(stuck_link(), at(secs)), None, "{secs} s");
        }
    }

    #[test]
    fn a_moving_estimate_a_strained_link_or_nothing_to_step_to_is_not_nudged() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(300 * KBPS, start);
        stuck.padding(stuck_link(), start);
        stuck.note_estimate(332 * KBPS, at(4));
        assert_eq!(stuck.padding(stuck_link(), at(10)), None, "moved 6 s ago");
        let strained = Link {
            strained: true,
            ..stuck_link()
        };
        assert_eq!(stuck.padding(strained, at(20)), None);
        let fits = Link {
            next_step: Some(50 * KBPS),
            ..stuck_link()
        };
        assert_eq!(
            stuck.padding(fits, at(20)),
            None,
            "the step fits the estimate"
        );
        let top = Link {
            next_step: None,
            ..stuck_link()
        };
        assert_eq!(stuck.padding(top, at(20)), None, "nothing to step to");
    }

    #[test]
    fn a_nudge_stays_under_the_ceiling_a_queue_left_and_stops_when_the_link_strains() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(332 * KBPS, start);
        stuck.padding(stuck_link(), start);
        let low_ceiling = Link {
            ceiling: Some(250 * KBPS),
            ..stuck_link()
        };
        assert_eq!(stuck.padding(low_ceiling, at(9)), Some(250 * KBPS));
        let strained = Link {
            strained: true,
            ..stuck_link()
        };
        assert_eq!(stuck.padding(strained, at(10)), None);
        let under_sending = Link {
            ceiling: Some(200 * KBPS),
            ..stuck_link()
        };
        assert_eq!(stuck.padding(under_sending, at(30)), None, "nothing to pad");
    }

    #[test]
    fn a_nudge_never_pads_past_what_a_saturated_link_last_delivered() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(332 * KBPS, start);
        stuck.padding(stuck_link(), start);
        let delivered = Link {
            delivered: Some((start, 280 * KBPS)),
            ..stuck_link()
        };
        assert_eq!(stuck.padding(delivered, at(9)), Some(252 * KBPS));
        // Capped at 120 kbit/s with only the voices (112 kbit/s) going: nothing to pad.
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(160 * KBPS, start);
        stuck.padding(stuck_link(), start);
        let capped = Link {
            estimate: 160 * KBPS,
            sending: 112 * KBPS,
            next_step: Some(60 * KBPS),
            delivered: Some((start, 115 * KBPS)),
            ..stuck_link()
        };
        assert_eq!(stuck.padding(capped, at(9)), None);
    }

    #[test]
    fn a_delivery_measured_long_ago_lets_a_nudge_pad_a_little_past_what_is_sent() {
        // Capped at 300 kbit/s a minute ago, the link delivered 199 kbit/s; the cap is gone and
        // it carries 200 calmly. The estimate stays at 356, held there by what is acknowledged.
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let lifted = |measured_at: Instant| Link {
            estimate: 356 * KBPS,
            sending: 200 * KBPS,
            next_step: Some(450 * KBPS),
            delivered: Some((measured_at, 199 * KBPS)),
            ..stuck_link()
        };
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(356 * KBPS, start);
        stuck.padding(lifted(start), start);
        assert_eq!(
            stuck.padding(lifted(start), at(9)),
            None,
            "measured 9 s ago: the link may still be capped there"
        );
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(356 * KBPS, at(22));
        stuck.padding(lifted(start), at(22));
        assert_eq!(stuck.padding(lifted(start), at(31)), Some(230 * KBPS));
    }

    #[test]
    fn a_nudge_that_fills_a_queue_stops_and_the_next_waits_longer() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(332 * KBPS, start);
        stuck.padding(stuck_link(), start);
        let strained = Link {
            strained: true,
            ..stuck_link()
        };
        assert!(stuck.padding(stuck_link(), at(8)).is_some());
        assert_eq!(stuck.padding(strained, at(9)), None, "stops at the queue");
        assert_eq!(
            stuck.padding(stuck_link(), at(10)),
            None,
            "and stays stopped"
        );
        assert_eq!(
            stuck.padding(stuck_link(), at(30)),
            None,
            "waits 30 s, not 15"
        );
        assert!(stuck.padding(stuck_link(), at(38)).is_some());
        // That one went through, and moved the estimate: the wait is back to 15 s.
        stuck.note_estimate(340 * KBPS, at(40));
        assert!(
            stuck.padding(stuck_link(), at(53)).is_none(),
            "30 s after a strained one"
        );
        assert!(stuck.padding(stuck_link(), at(68)).is_some());
        stuck.note_estimate(332 * KBPS, at(70));
        assert!(
            stuck.padding(stuck_link(), at(83)).is_some(),
            "15 s after a clean one"
        );
    }

    #[test]
    fn an_estimate_below_what_a_calm_link_carries_restarts_the_estimator_from_there() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut stuck = StuckEstimate::default();
        // A cap was lifted: the voices (85 kbit/s) go through cleanly, the estimate creeps.
        let behind = |estimate: u64| Link {
            estimate: estimate * KBPS,
            sending: 85 * KBPS,
            next_step: Some(57 * KBPS),
            ..stuck_link()
        };
        for secs in 0..8 {
            stuck.note_estimate((42 + secs * 3) * KBPS, at(secs));
            assert_eq!(
                stuck.nudge(behind(42 + secs * 3), at(secs)),
                None,
                "{secs} s"
            );
        }
        assert_eq!(stuck.nudge(behind(80), at(8)), None, "a little behind");
        assert_eq!(
            stuck.nudge(behind(66), at(8)),
            Some(Nudge::Restart(85 * KBPS)),
            "calm for 8 s, far behind"
        );
        assert_eq!(stuck.nudge(behind(60), at(9)), None, "once");
        assert_eq!(
            stuck.nudge(behind(60), at(23)),
            Some(Nudge::Restart(85 * KBPS))
        );
        // Under a queue the estimate is right to be low.
        let mut stuck = StuckEstimate::default();
        let queueing = Link {
            strained: true,
            ..behind(50)
        };
        for secs in 0..30 {
            assert_eq!(stuck.nudge(queueing, at(secs)), None);
        }
    }

    #[test]
    fn a_link_that_keeps_showing_a_queue_is_never_nudged() {
        let start = Instant::now();
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(150 * KBPS, start);
        let strained = Link {
            strained: true,
            ..stuck_link()
        };
        for tick in 0..240u64 {
            let link = if tick % 20 < 12 {
                stuck_link()
            } else {
                strained
            };
            let at = start + Duration::from_millis(250 * tick);
            assert_eq!(stuck.padding(link, at), None, "at {tick}");
        }
    }
}
