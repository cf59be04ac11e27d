//! Forwarding-delay bookkeeping and small statistics helpers.
//!
//! How delay is measured: the SFU forwards whole frames through str0m's frame API
//! (`writer.write(pt, network_time, rtp_time, data)`), which re-packetizes and writes its own
//! header extensions (the publisher's abs-send-time / abs-capture-time are not carried over), but
//! keeps the publisher's RTP timestamp (str0m `streams/send.rs`: the outgoing timestamp is the
//! frame's `rtp_time`). Publishers and subscribers of a load run live in one process, so one
//! monotonic clock serves both: the publisher records, per stream, the instant it handed each
//! frame's first packet to webrtc-rs, keyed by RTP timestamp, in a shared [`SendLog`]; a
//! subscriber looks up the timestamp of each frame's first packet on arrival. The delay is
//! publisher write → subscriber read, i.e. both webrtc-rs stacks (SRTP, interceptors, sockets),
//! loopback UDP twice and the SFU.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

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
}
