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

use std::time::{Duration, Instant};

/// An estimate unchanged for this long, with a step waiting on it, is taken as stuck.
const FLAT_FOR: Duration = Duration::from_secs(8);
/// How long a nudge pads.
const NUDGE_FOR: Duration = Duration::from_secs(3);
/// How long after a nudge began the next may begin.
const NUDGE_EVERY: Duration = Duration::from_secs(15);
/// The share of the estimate a nudge pads up to: what the estimate says the link carries, less
/// a margin for an estimate that is right.
const NUDGE_SHARE: f64 = 0.9;

#[derive(Debug, Default)]
pub(crate) struct StuckEstimate {
    /// The estimate and since when it has had that value.
    last: Option<(u64, Instant)>,
    /// When the current or last nudge began.
    nudged: Option<Instant>,
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
}

impl StuckEstimate {
    /// Takes each estimate str0m reports.
    pub fn note_estimate(&mut self, estimate: u64, now: Instant) {
        if self.last.is_none_or(|(value, _)| value != estimate) {
            self.last = Some((estimate, now));
        }
    }

    /// The level (in all, audio included) to pad the link up to now, if the estimate is stuck.
    pub fn padding(&mut self, link: Link, now: Instant) -> Option<u64> {
        if let Some(began) = self.nudged {
            let since = now.saturating_duration_since(began);
            if since < NUDGE_FOR {
                return self.level(link);
            }
            if since < NUDGE_EVERY {
                return None;
            }
        }
        let (_, since) = self.last?;
        let flat = now.saturating_duration_since(since) >= FLAT_FOR;
        let blocked = link
            .next_step
            .is_some_and(|step| link.sending + step > link.estimate);
        if !flat || !blocked || link.strained {
            return None;
        }
        let level = self.level(link)?;
        self.nudged = Some(now);
        Some(level)
    }

    fn level(&self, link: Link) -> Option<u64> {
        if link.strained {
            return None;
        }
        let level = (link.estimate as f64 * NUDGE_SHARE) as u64;
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
        }
    }

    #[test]
    fn a_flat_estimate_below_the_next_step_is_padded_for_a_while_then_left_alone() {
        let start = Instant::now();
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(332 * KBPS, start);
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
        assert_eq!(stuck.padding(stuck_link(), at(12)), None, "nudged enough");
        assert_eq!(stuck.padding(stuck_link(), at(22)), None, "too soon again");
        assert_eq!(stuck.padding(stuck_link(), at(23)), Some(298_800));
    }

    #[test]
    fn a_moving_estimate_a_strained_link_or_nothing_to_step_to_is_not_nudged() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut stuck = StuckEstimate::default();
        stuck.note_estimate(300 * KBPS, start);
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
}
