//! Forwarding-delay bookkeeping and small statistics helpers.
//!
//! How delay is measured: the SFU forwards the publisher's RTP packets as they are (str0m's RTP
//! mode) with the publisher's RTP timestamp, but with sequence numbers and transport header
//! extensions of its own (abs-send-time describes the SFU's hop, not the publisher's send).
//! Publishers and subscribers of a load run live in one process, so one monotonic clock serves
//! both: the publisher records, per stream, the instant it handed each frame's first packet to
//! webrtc-rs, keyed by RTP timestamp, in a shared [`SendLog`]; a subscriber looks up the timestamp
//! of each frame's first packet on arrival. The delay is publisher write → subscriber read, i.e.
//! both webrtc-rs stacks (SRTP, interceptors, sockets), loopback UDP twice and the SFU.
//!
//! Not every server keeps the timestamp: Janus's VideoRoom rewrites each subscriber stream to
//! start near 0 (`janus_rtp_header_update`: out = in − first in), a constant shift per received
//! stream. [`DelayMatcher`] learns that shift, so both servers are measured the same way (for
//! Concord it comes out as 0).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::peer::MediaKind;

/// How many recent frames per stream are remembered (about 8 s of video at 30 fps).
const FRAMES_REMEMBERED: usize = 256;

/// Send instants of recent frames, per (publishing participant id, kind). Shared by every peer of
/// a run (one lock per frame, not per packet).
#[derive(Debug, Default)]
pub struct SendLog {
    streams: Mutex<HashMap<(String, MediaKind), Ring>>,
}

#[derive(Debug)]
struct Ring {
    slots: Vec<(u32, Instant)>,
    next: usize,
}

impl SendLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// The frame with RTP timestamp `rtp_ts` of `publisher`'s `kind` stream was sent at `at`.
    pub fn record(&self, publisher: &str, kind: MediaKind, rtp_ts: u32, at: Instant) {
        let Ok(mut streams) = self.streams.lock() else {
            return;
        };
        let key = (publisher.to_owned(), kind);
        let ring = streams.entry(key).or_insert_with(|| Ring {
            slots: Vec::with_capacity(FRAMES_REMEMBERED),
            next: 0,
        });
        if ring.slots.len() < FRAMES_REMEMBERED {
            ring.slots.push((rtp_ts, at));
        } else {
            ring.slots[ring.next] = (rtp_ts, at);
        }
        ring.next = (ring.next + 1) % FRAMES_REMEMBERED;
    }

    /// When the frame with `rtp_ts` was sent, if it is still remembered.
    pub fn sent_at(&self, publisher: &str, kind: MediaKind, rtp_ts: u32) -> Option<Instant> {
        let streams = self.streams.lock().ok()?;
        let ring = streams.get(&(publisher.to_owned(), kind))?;
        ring.slots
            .iter()
            .rev()
            .find(|(ts, _)| *ts == rtp_ts)
            .map(|(_, at)| *at)
    }

    /// The newest frame of `publisher`'s `kind` stream sent at or before `at`, as (RTP timestamp,
    /// send instant).
    pub fn latest_sent_before(
        &self,
        publisher: &str,
        kind: MediaKind,
        at: Instant,
    ) -> Option<(u32, Instant)> {
        let streams = self.streams.lock().ok()?;
        let ring = streams.get(&(publisher.to_owned(), kind))?;
        let len = ring.slots.len();
        // Newest first: the answer is almost always one of the last two frames.
        (1..=len)
            .map(|back| ring.slots[(ring.next + len - back) % len])
            .find(|(_, sent)| *sent <= at)
    }
}

/// Finds the send instant of each frame of one received stream when the server shifted its RTP
/// timestamps by a constant (see the module comment).
///
/// For every frame, the newest frame its publisher had sent by the time it arrived gives a
/// candidate shift. The real frame was sent no later than that one, so every candidate is the
/// real shift or later, and equal to it whenever a frame took less than one frame interval
/// (20 ms of audio, 33 ms of video) to arrive: the earliest candidate seen is the shift. A shift
/// that stops matching any remembered frame (the server restarted its numbering) is learnt anew.
#[derive(Debug, Default)]
pub struct DelayMatcher {
    /// Added to a received timestamp to get the publisher's.
    shift: Option<u32>,
}

impl DelayMatcher {
    /// The forwarding delay of the frame with received timestamp `rtp_ts`, arriving `now`.
    pub fn delay(
        &mut self,
        log: &SendLog,
        publisher: &str,
        kind: MediaKind,
        rtp_ts: u32,
        now: Instant,
    ) -> Option<Duration> {
        let candidate = log
            .latest_sent_before(publisher, kind, now)
            .map(|(ts, _)| ts.wrapping_sub(rtp_ts));
        let earlier = |c: u32, s: u32| (c.wrapping_sub(s) as i32) < 0;
        self.shift = match (self.shift, candidate) {
            (Some(s), Some(c)) if earlier(c, s) => Some(c),
            (None, c) => c,
            (s, _) => s,
        };
        let lookup = |shift: u32| log.sent_at(publisher, kind, rtp_ts.wrapping_add(shift));
        let sent = match self.shift.and_then(lookup) {
            Some(at) => at,
            None => {
                self.shift = candidate;
                candidate.and_then(lookup)?
            }
        };
        Some(now.saturating_duration_since(sent))
    }
}

/// The `q`-quantile (0..=1) of `samples` (sorted in place), nearest rank; `None` if empty.
pub fn quantile(samples: &mut [u32], q: f64) -> Option<u32> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    Some(samples[rank - 1])
}

/// Sequence-number tracking for loss: extends 16-bit numbers and counts gaps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeqTracker {
    highest: Option<u64>,
    first: u64,
    received: u64,
}

impl SeqTracker {
    /// Notes one packet.
    pub fn on_packet(&mut self, seq: u16) {
        self.received += 1;
        match self.highest {
            None => {
                self.first = u64::from(seq) + (1 << 16);
                self.highest = Some(self.first);
            }
            Some(highest) => {
                let delta = seq.wrapping_sub(highest as u16) as i16;
                let ext = (highest as i64 + i64::from(delta)).max(0) as u64;
                if ext > highest {
                    self.highest = Some(ext);
                }
            }
        }
    }

    /// Packets expected (highest − first + 1).
    pub fn expected(&self) -> u64 {
        self.highest.map_or(0, |h| h - self.first + 1)
    }

    /// Packets missing (expected − received, never negative: duplicates are not gains).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_as_loss_across_wraparound() {
        let mut t = SeqTracker::default();
        for seq in [65533u16, 65534, 65535, 1, 2, 5] {
            t.on_packet(seq);
        }
        // 65533..=5 is 9 numbers; 6 arrived.
        assert_eq!(t.expected(), 9);
        assert_eq!(t.lost(), 3);
        // A late packet fills a gap.
        t.on_packet(0);
        assert_eq!(t.lost(), 2);
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(quantile(&mut v, 0.5), Some(50));
        assert_eq!(quantile(&mut v, 0.99), Some(99));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn send_log_finds_recent_frames_only() {
        let log = SendLog::new();
        let t0 = Instant::now();
        for i in 0..300u32 {
            log.record("p1", MediaKind::Video, i * 3000, t0);
        }
        assert!(log.sent_at("p1", MediaKind::Video, 299 * 3000).is_some());
        assert!(log.sent_at("p1", MediaKind::Video, 0).is_none());
        assert!(log.sent_at("p1", MediaKind::Audio, 299 * 3000).is_none());
    }

    /// Frames every 33 ms; `arrivals` are (frame index, delay in ms).
    fn matched_delays(shift: u32, arrivals: &[(u32, u64)]) -> Vec<Option<u64>> {
        let log = SendLog::new();
        let t0 = Instant::now();
        let sent = |i: u32| t0 + Duration::from_millis(u64::from(i) * 33);
        let start_ts = 4_294_960_000u32; // wraps after a few frames
        for i in 0..40 {
            log.record(
                "p",
                MediaKind::Video,
                start_ts.wrapping_add(i * 3000),
                sent(i),
            );
        }
        let mut m = DelayMatcher::default();
        arrivals
            .iter()
            .map(|&(i, ms)| {
                let received_ts = start_ts.wrapping_add(i * 3000).wrapping_sub(shift);
                let now = sent(i) + Duration::from_millis(ms);
                m.delay(&log, "p", MediaKind::Video, received_ts, now)
                    .map(|d| d.as_millis() as u64)
            })
            .collect()
    }

    #[test]
    fn delay_matcher_finds_unshifted_timestamps() {
        let got = matched_delays(0, &[(0, 2), (1, 5), (2, 1)]);
        assert_eq!(got, vec![Some(2), Some(5), Some(1)]);
    }

    #[test]
    fn delay_matcher_learns_a_constant_shift() {
        // Janus-like: received timestamps start at 0.
        let shift = 4_294_960_000u32.wrapping_add(5 * 3000);
        let got = matched_delays(shift, &[(5, 3), (6, 4), (7, 2)]);
        assert_eq!(got, vec![Some(3), Some(4), Some(2)]);
    }

    #[test]
    fn delay_matcher_corrects_a_slow_first_frame() {
        // The first frame took 40 ms (more than a frame interval): it is first matched to the
        // next frame; the next quick frame moves the shift back, and it stays there.
        let got = matched_delays(777, &[(3, 40), (4, 2), (5, 45), (6, 3)]);
        assert_eq!(got[1..], [Some(2), Some(45), Some(3)]);
    }
}
