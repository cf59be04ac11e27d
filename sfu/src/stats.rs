//! What a room did, for operators and benchmarks: RTP packets in and out, datagrams sent, and
//! how long the SFU held each packet.
//!
//! The hold time of a packet runs from its arrival (or from the arrival of the earliest datagram
//! of the batch the room task woke up with, if later) to the end of the drain that handed it to
//! every subscriber's socket. It is what the SFU adds to
//! the path, its own queueing included, without the network or the clients. Recorded into a
//! fixed histogram: no allocation while forwarding.

use std::time::Duration;

use serde::Serialize;

/// Histogram resolution and range: 10 µs buckets up to 20 ms, beyond that one overflow count.
const BUCKET: Duration = Duration::from_micros(10);
const BUCKETS: usize = 2000;

/// A snapshot of one room's counters since it started (or since the last reset).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoomStats {
    /// The room's name (the session it serves).
    pub room: String,
    pub peers: usize,
    /// RTP packets received from publishers.
    pub packets_in: u64,
    /// RTP packets handed to subscribers (one per subscriber).
    pub packets_out: u64,
    /// Datagrams sent (media, RTCP, STUN, DTLS).
    pub datagrams_out: u64,
    /// Hold times, in microseconds; `None` without packets.
    pub hold_p50_us: Option<u64>,
    pub hold_p99_us: Option<u64>,
    pub hold_max_us: Option<u64>,
}

pub(crate) struct Counters {
    pub packets_in: u64,
    pub packets_out: u64,
    pub datagrams_out: u64,
    hold: Box<[u32; BUCKETS]>,
    hold_overflow: u64,
    hold_max: Duration,
    hold_count: u64,
}

impl Counters {
    pub fn new() -> Counters {
        Counters {
            packets_in: 0,
            packets_out: 0,
            datagrams_out: 0,
            hold: Box::new([0; BUCKETS]),
            hold_overflow: 0,
            hold_max: Duration::ZERO,
            hold_count: 0,
        }
    }

    pub fn record_hold(&mut self, held: Duration) {
        let index = (held.as_nanos() / BUCKET.as_nanos()) as usize;
        match self.hold.get_mut(index) {
            Some(count) => *count = count.saturating_add(1),
            None => self.hold_overflow += 1,
        }
        self.hold_max = self.hold_max.max(held);
        self.hold_count += 1;
    }

    /// The hold time below which `q` (0..=1) of the packets stayed, rounded up to a bucket;
    /// packets past the histogram count as the longest one seen.
    fn hold_quantile(&self, q: f64) -> Option<u64> {
        if self.hold_count == 0 {
            return None;
        }
        let rank = ((q * self.hold_count as f64).ceil() as u64).clamp(1, self.hold_count);
        let mut seen = 0u64;
        for (index, count) in self.hold.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= rank {
                let upper = BUCKET * (index as u32 + 1);
                return Some(upper.min(self.hold_max).as_micros() as u64);
            }
        }
        Some(self.hold_max.as_micros() as u64)
    }

    pub fn snapshot(&self, room: &str, peers: usize) -> RoomStats {
        RoomStats {
            room: room.to_owned(),
            peers,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            datagrams_out: self.datagrams_out,
            hold_p50_us: self.hold_quantile(0.50),
            hold_p99_us: self.hold_quantile(0.99),
            hold_max_us: (self.hold_count > 0).then_some(self.hold_max.as_micros() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_histogram() {
        let mut counters = Counters::new();
        assert_eq!(counters.snapshot("r", 0).hold_p50_us, None);
        for micros in 1..=100u64 {
            counters.record_hold(Duration::from_micros(micros * 10 - 5));
        }
        let stats = counters.snapshot("r", 2);
        // 100 packets at 5, 15, … 995 µs: the median is in the 50th bucket (490–500 µs).
        assert_eq!(stats.hold_p50_us, Some(500));
        assert_eq!(stats.hold_p99_us, Some(990));
        assert_eq!(stats.hold_max_us, Some(995));
    }

    #[test]
    fn holds_past_the_histogram_count_as_the_longest() {
        let mut counters = Counters::new();
        counters.record_hold(Duration::from_micros(95));
        counters.record_hold(Duration::from_millis(50));
        let stats = counters.snapshot("r", 1);
        assert_eq!(stats.hold_p50_us, Some(100));
        assert_eq!(stats.hold_p99_us, Some(50_000));
        assert_eq!(stats.hold_max_us, Some(50_000));
    }
}
