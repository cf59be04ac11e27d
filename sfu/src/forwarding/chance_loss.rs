//! What a link losing packets at random has been seen to carry.
//!
//! str0m's estimator, like libwebrtc's, also backs off on loss. On a village radio link that
//! loses a fifth of its packets whatever is sent, with a round trip that does not grow, that
//! estimate sinks to a few kbit/s within half a minute, and the video that the link was carrying
//! (repaired by resends) would be paused for good. Loss there is chance, not a full link: a full
//! link shows a queue in the round trip first. So while the round trip stays flat and the link
//! goes on losing, the videos keep what they were sent lately, with the voices (and the
//! redundancy that loss calls for) on top; the first queue ends that, and the estimate leads
//! again. Nothing is raised on the strength of it: it only keeps video from being cut.
//! (A policer that drops without queueing would look the same; the media would then keep its
//! rate into that loss, which the voices' redundancy, sized for such loss, rides out.)

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long the link must carry what it is sent, losing at random with no queue, before that
/// counts: long enough for a queue to show in the round trip.
const FLAT_FOR: Duration = Duration::from_secs(5);
/// What was sent over this last while is what the link has carried.
const CARRIED_WINDOW: Duration = Duration::from_secs(5);
/// Loss this long ago still makes the link a lossy one (reports come once a second, and a few
/// of them may happen to be clean).
const LOSS_REMEMBERED: Duration = Duration::from_secs(10);
/// Loss reported this soon after the round trip came down may be the drained queue's, reported
/// late: it does not make the link a lossy one.
const QUEUE_LOSS_REPORTED_WITHIN: Duration = Duration::from_secs(3);
/// Loss, smoothed over a few reports, at or above which the link counts as lossy. A capped
/// link loses now and then too (a shaper's queue overflowing before the round trip shows it),
/// a percent or two; holding video against the estimate there would keep it over the cap.
/// Random loss this low does not sink the estimate anyway.
const LOSSY: f32 = 0.05;
/// Above this loss, smoothed over a few reports, a link is not carrying what it is sent, chance
/// or not: the media is no longer held up against the estimate. (A second's report at 20 %
/// loss reads up to about 45 %.)
const TOO_LOSSY: f32 = 0.4;
/// The weight of each new report in the smoothed loss.
const LOSS_SMOOTHING: f32 = 0.3;
/// What video costs varies from one moment to the next (frame sizes); the most sent lately is
/// kept, but no more than this much over what is sent now, so a cut made for other reasons (a
/// tile shrank, a publisher left) is not undone.
const ABOVE_NOW: f64 = 1.2;
/// Samples of what is sent are taken four times a second; this bounds them in any case.
const MOST_SAMPLES: usize = 64;

/// Tracks one subscriber's link: whether it is losing at random, and what it carried meanwhile.
#[derive(Debug, Default)]
pub(crate) struct ChanceLoss {
    /// Since when the link has had no queue (and not lost too much).
    flat_since: Option<Instant>,
    last_loss: Option<Instant>,
    smoothed_loss: f32,
    /// What video was sent lately, queue or not: only what was sent since the round trip has
    /// been flat counts.
    sent: VecDeque<(Instant, u64)>,
}

impl ChanceLoss {
    /// Takes a report of the link: its loss, and whether a queue shows on it now. (Loss
    /// reported just after a queue drained is the queue's; it falls in the first seconds of a
    /// flat spell, which do not count yet.)
    pub fn take_report(&mut self, loss: f32, queueing: bool, now: Instant) {
        self.smoothed_loss += (loss - self.smoothed_loss) * LOSS_SMOOTHING;
        if queueing || self.smoothed_loss >= TOO_LOSSY {
            self.flat_since = None;
            return;
        }
        let since = *self.flat_since.get_or_insert(now);
        let lossy = self.smoothed_loss >= LOSSY && loss > 0.0;
        if lossy && now.saturating_duration_since(since) >= QUEUE_LOSS_REPORTED_WITHIN {
            self.last_loss = Some(now);
        }
    }

    /// The round trip rose and has stayed flat, which is now taken for the path's own: it has
    /// been flat long enough already (its loss is no queue's), and what is sent from now on is
    /// carried by that path.
    pub fn path_settled(&mut self, now: Instant) {
        self.flat_since = Some(now.checked_sub(FLAT_FOR).unwrap_or(now));
        if self.smoothed_loss >= LOSSY {
            self.last_loss = Some(now);
        }
    }

    /// Whether the link has lost at random lately, with no queue in its round trip.
    pub fn lossy_lately(&self, now: Instant) -> bool {
        self.last_loss
            .is_some_and(|at| now.saturating_duration_since(at) < LOSS_REMEMBERED)
    }

    /// Takes what the allocation sends of video now.
    pub fn note_sent(&mut self, video: u64, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > CARRIED_WINDOW)
            || self.sent.len() >= MOST_SAMPLES
        {
            self.sent.pop_front();
        }
        self.sent.push_back((now, video));
    }

    /// What the media may go on sending whatever the estimate says, `audio` being what the
    /// voices cost now: while the link loses at random with a flat round trip, the voices and
    /// the most video sent over the last few seconds; otherwise nothing.
    pub fn floor(&self, audio: u64, now: Instant) -> u64 {
        let Some(flat_since) = self
            .flat_since
            .filter(|since| now.saturating_duration_since(*since) >= FLAT_FOR)
        else {
            return 0;
        };
        if !self.lossy_lately(now) {
            return 0;
        }
        let Some(&(_, latest)) = self.sent.back() else {
            return 0;
        };
        let most = self
            .sent
            .iter()
            .filter(|(at, _)| {
                *at >= flat_since && now.saturating_duration_since(*at) <= CARRIED_WINDOW
            })
            .map(|(_, sent)| *sent)
            .max()
            .unwrap_or(0);
        audio + most.min((latest as f64 * ABOVE_NOW) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    /// What the voices cost, added to what the video keeps.
    const AUDIO: u64 = 100_000;

    /// Reports each second and samples four times a second from `from` for `seconds`.
    fn run(
        link: &mut ChanceLoss,
        from: Instant,
        seconds: u32,
        (loss, queueing, sending): (f32, bool, u64),
    ) -> Instant {
        let mut now = from;
        for _ in 0..seconds {
            link.take_report(loss, queueing, now);
            for _ in 0..4 {
                link.note_sent(sending, now);
                now += SECOND / 4;
            }
        }
        now
    }

    #[test]
    fn a_link_losing_at_random_with_a_flat_round_trip_keeps_the_video_it_carried() {
        let mut link = ChanceLoss::default();
        let start = Instant::now();
        let now = run(&mut link, start, 3, (0.2, false, 300_000));
        assert_eq!(link.floor(AUDIO, now), 0, "not flat for long enough yet");
        let now = run(&mut link, now, 4, (0.2, false, 300_000));
        assert_eq!(link.floor(AUDIO, now), AUDIO + 300_000);
        // The voices' redundancy goes on top.
        assert_eq!(link.floor(3 * AUDIO, now), 3 * AUDIO + 300_000);
        // What was sent lately counts, not what was sent long ago.
        let now = run(&mut link, now, 6, (0.2, false, 200_000));
        assert_eq!(link.floor(AUDIO, now), AUDIO + 200_000);
        // A moment's dip keeps most of it; a cut does not bring back what was cut.
        link.note_sent(180_000, now);
        assert_eq!(link.floor(AUDIO, now), AUDIO + 200_000);
        link.note_sent(100_000, now);
        assert_eq!(link.floor(AUDIO, now), AUDIO + 120_000);
        let now = run(&mut link, now, 6, (0.2, false, 200_000));
        // A few clean reports do not end it.
        let now = run(&mut link, now, 3, (0.0, false, 200_000));
        assert_eq!(link.floor(AUDIO, now), AUDIO + 200_000);
    }

    #[test]
    fn a_queue_or_a_clean_link_or_a_link_losing_most_of_what_it_is_sent_gets_no_floor() {
        let start = Instant::now();
        let mut link = ChanceLoss::default();
        let now = run(&mut link, start, 8, (0.2, false, 300_000));
        assert!(link.floor(AUDIO, now) > 0);
        let now = run(&mut link, now, 1, (0.2, true, 300_000));
        assert_eq!(link.floor(AUDIO, now), 0, "a queue: the estimate leads");
        let now = run(&mut link, now, 3, (0.2, false, 300_000));
        assert_eq!(
            link.floor(AUDIO, now),
            0,
            "flat again, but not for long enough"
        );

        let mut clean = ChanceLoss::default();
        let now = run(&mut clean, start, 12, (0.0, false, 300_000));
        assert_eq!(
            clean.floor(AUDIO, now),
            0,
            "no loss: nothing to hold up against"
        );

        // One report of heavy loss is a second's chance; several are a link losing most of
        // what it is sent.
        let mut heavy = ChanceLoss::default();
        let now = run(&mut heavy, start, 8, (0.2, false, 300_000));
        let now = run(&mut heavy, now, 1, (0.6, false, 300_000));
        assert!(heavy.floor(AUDIO, now) > 0);
        let now = run(&mut heavy, now, 3, (0.6, false, 300_000));
        assert_eq!(heavy.floor(AUDIO, now), 0);
    }

    #[test]
    fn a_percent_or_two_of_loss_is_not_taken_for_a_lossy_link() {
        let mut link = ChanceLoss::default();
        let now = run(&mut link, Instant::now(), 20, (0.02, false, 300_000));
        assert_eq!(link.floor(AUDIO, now), 0);
    }

    #[test]
    fn loss_reported_just_after_a_queue_drained_is_the_queues() {
        let mut link = ChanceLoss::default();
        let start = Instant::now();
        let now = run(&mut link, start, 2, (0.2, true, 300_000));
        // The round trip is down; the next reports still count what the queue dropped.
        let now = run(&mut link, now, 3, (0.3, false, 200_000));
        let now = run(&mut link, now, 5, (0.0, false, 200_000));
        assert_eq!(link.floor(AUDIO, now), 0);
    }

    #[test]
    fn a_round_trip_taken_for_the_new_path_counts_as_flat_at_once() {
        let mut link = ChanceLoss::default();
        let start = Instant::now();
        let now = run(&mut link, start, 8, (0.2, true, 300_000));
        link.path_settled(now);
        // What was sent while the round trip was flat counts, from the first moment.
        assert_eq!(link.floor(AUDIO, now), AUDIO + 300_000);
        let now = run(&mut link, now, 6, (0.2, false, 250_000));
        assert_eq!(link.floor(AUDIO, now), AUDIO + 250_000);
    }

    #[test]
    fn loss_long_past_no_longer_holds_the_media_up() {
        let mut link = ChanceLoss::default();
        let start = Instant::now();
        let now = run(&mut link, start, 8, (0.2, false, 300_000));
        let now = run(&mut link, now, 11, (0.0, false, 300_000));
        assert_eq!(link.floor(AUDIO, now), 0);
    }
}
