//! Connection quality as a person would judge it: good, fair or poor, from what the SFU sees of
//! one participant's link (loss both ways, round-trip time, and whether the downlink carries what
//! they want to see). A level gets worse at once and better only when it has held for a while,
//! so the mark does not blink.

use std::time::{Duration, Instant};

/// Loss at or above this (a fraction) makes the link poor; audio breaks up.
const POOR_LOSS: f32 = 0.10;
/// Loss at or above this makes it fair; resends and FEC still cover it.
const FAIR_LOSS: f32 = 0.03;
const POOR_RTT: Duration = Duration::from_millis(800);
const FAIR_RTT: Duration = Duration::from_millis(350);
/// An estimate below this carries voices only.
const POOR_ESTIMATE: u64 = 150_000;
/// How long a better level must hold before it is shown.
const IMPROVE_AFTER: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QualityLevel {
    Poor,
    Fair,
    Good,
}

impl QualityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityLevel::Poor => "poor",
            QualityLevel::Fair => "fair",
            QualityLevel::Good => "good",
        }
    }
}

/// One reading of a participant's link.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LinkSample {
    /// Fraction of what the SFU sent that was lost on the way, as the participant reports it.
    pub loss_down: Option<f32>,
    /// Fraction of what the participant sent that did not reach the SFU.
    pub loss_up: Option<f32>,
    pub rtt: Option<Duration>,
    /// The SFU's estimate of the participant's downlink, bits per second.
    pub estimate: Option<u64>,
    /// Videos held back (paused, or below the size they are shown at) because the link cannot
    /// carry them.
    pub videos_paused: u32,
    pub videos_reduced: u32,
    /// The participant receives anything at all (the estimate says nothing otherwise).
    pub receives: bool,
}

impl LinkSample {
    pub fn worst_loss(&self) -> f32 {
        self.loss_down
            .unwrap_or(0.0)
            .max(self.loss_up.unwrap_or(0.0))
    }

    /// The level this sample shows on its own.
    pub fn level(&self) -> QualityLevel {
        let loss = self.worst_loss();
        let rtt = self.rtt.unwrap_or_default();
        let starved = self.receives && self.estimate.is_some_and(|e| e < POOR_ESTIMATE);
        if loss >= POOR_LOSS || rtt >= POOR_RTT || self.videos_paused > 0 || starved {
            QualityLevel::Poor
        } else if loss >= FAIR_LOSS || rtt >= FAIR_RTT || self.videos_reduced > 0 {
            QualityLevel::Fair
        } else {
            QualityLevel::Good
        }
    }
}

/// The level shown for one participant, with the delay on improvements. Loss is judged over
/// the last few readings: one second's count of random losses swings widely.
#[derive(Debug, Clone)]
pub(crate) struct QualityMark {
    shown: QualityLevel,
    better_since: Option<Instant>,
    recent_loss: [f32; LOSS_READINGS],
    readings: usize,
}

/// Readings the loss is averaged over.
const LOSS_READINGS: usize = 3;

impl QualityMark {
    pub fn new() -> QualityMark {
        QualityMark {
            shown: QualityLevel::Good,
            better_since: None,
            recent_loss: [0.0; LOSS_READINGS],
            readings: 0,
        }
    }

    /// Takes a new reading; returns the level to show now.
    pub fn update(&mut self, now: Instant, sample: &LinkSample) -> QualityLevel {
        self.recent_loss[self.readings % LOSS_READINGS] = sample.worst_loss();
        self.readings += 1;
        let count = self.readings.min(LOSS_READINGS);
        let loss = self.recent_loss[..count].iter().sum::<f32>() / count as f32;
        let level = LinkSample {
            loss_down: Some(loss),
            loss_up: None,
            ..*sample
        }
        .level();
        if level < self.shown {
            self.shown = level;
            self.better_since = None;
        } else if level > self.shown {
            let since = *self.better_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= IMPROVE_AFTER {
                self.shown = level;
                self.better_since = None;
            }
        } else {
            self.better_since = None;
        }
        self.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(loss: f32, rtt_ms: u64) -> LinkSample {
        LinkSample {
            loss_down: Some(loss),
            loss_up: Some(0.0),
            rtt: Some(Duration::from_millis(rtt_ms)),
            estimate: Some(2_000_000),
            receives: true,
            ..LinkSample::default()
        }
    }

    #[test]
    fn loss_round_trip_and_bandwidth_make_the_level() {
        assert_eq!(sample(0.0, 40).level(), QualityLevel::Good);
        assert_eq!(sample(0.05, 40).level(), QualityLevel::Fair);
        assert_eq!(sample(0.0, 400).level(), QualityLevel::Fair);
        assert_eq!(sample(0.2, 40).level(), QualityLevel::Poor);
        assert_eq!(sample(0.0, 900).level(), QualityLevel::Poor);
        let mut paused = sample(0.0, 40);
        paused.videos_paused = 1;
        assert_eq!(paused.level(), QualityLevel::Poor);
        let mut reduced = sample(0.0, 40);
        reduced.videos_reduced = 2;
        assert_eq!(reduced.level(), QualityLevel::Fair);
        let mut starved = sample(0.0, 40);
        starved.estimate = Some(90_000);
        assert_eq!(starved.level(), QualityLevel::Poor);
        starved.receives = false;
        assert_eq!(starved.level(), QualityLevel::Good, "alone in the room");
    }

    #[test]
    fn loss_is_judged_over_the_last_readings() {
        let start = Instant::now();
        let mut mark = QualityMark::new();
        let at = |s| start + Duration::from_secs(s);
        // A link losing about a fifth, some seconds more, some less.
        for (i, loss) in [0.2, 0.05, 0.3, 0.06, 0.25, 0.04, 0.2]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                mark.update(at(i as u64 * 2), &sample(loss, 40)),
                QualityLevel::Poor,
                "reading {i}"
            );
        }
    }

    #[test]
    fn the_mark_drops_at_once_and_recovers_after_holding() {
        let start = Instant::now();
        let mut mark = QualityMark::new();
        assert_eq!(mark.update(start, &sample(0.2, 40)), QualityLevel::Poor);
        let at = |s| start + Duration::from_secs(s);
        // Clean readings: the average falls below the poor line after two, and the better
        // level shows once it has held for the wait.
        assert_eq!(mark.update(at(2), &sample(0.0, 40)), QualityLevel::Poor);
        assert_eq!(mark.update(at(4), &sample(0.0, 40)), QualityLevel::Poor);
        assert_eq!(mark.update(at(6), &sample(0.0, 40)), QualityLevel::Poor);
        assert_eq!(mark.update(at(8), &sample(0.0, 40)), QualityLevel::Good);
        // A bad reading inside a clean spell shows at once.
        assert_eq!(mark.update(at(10), &sample(0.4, 40)), QualityLevel::Poor);
        assert_eq!(mark.update(at(12), &sample(0.0, 40)), QualityLevel::Poor);
        // A round trip that grows shows at once too.
        assert_eq!(mark.update(at(14), &sample(0.0, 900)), QualityLevel::Poor);
    }
}
