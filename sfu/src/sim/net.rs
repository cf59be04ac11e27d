//! A simulated network for in-memory room tests: one link per direction per client, each with a
//! bandwidth cap (a drop-tail queue in front of a serializer, like `tc tbf`), a fixed delay and
//! seeded random loss.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A small deterministic random number generator (xorshift64*).
pub(crate) struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed.max(1))
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One direction of one client's path.
pub(crate) struct Link {
    /// Bits per second; `None`: unlimited.
    pub rate: Option<u64>,
    /// How long a datagram may wait in the queue before the link drops it (tbf's `latency`).
    pub queue_limit: Duration,
    pub delay: Duration,
    /// Probability of losing each datagram.
    pub loss: f64,
    busy_until: Option<Instant>,
    random: Random,
    pub sent: u64,
    pub dropped_queue: u64,
    pub dropped_loss: u64,
    pub bytes_delivered: u64,
}

impl Link {
    pub fn new(seed: u64) -> Link {
        Link {
            rate: None,
            queue_limit: Duration::from_millis(100),
            delay: Duration::from_millis(10),
            loss: 0.0,
            busy_until: None,
            random: Random::new(seed),
            sent: 0,
            dropped_queue: 0,
            dropped_loss: 0,
            bytes_delivered: 0,
        }
    }

    /// When a datagram of `bytes` handed to the link at `now` arrives, or `None` if it is lost.
    pub fn carry(&mut self, now: Instant, bytes: usize) -> Option<Instant> {
        self.sent += 1;
        if self.loss > 0.0 && self.random.next_f64() < self.loss {
            self.dropped_loss += 1;
            return None;
        }
        let departs = match self.rate {
            None => now,
            Some(rate) => {
                let start = self.busy_until.filter(|b| *b > now).unwrap_or(now);
                if start.saturating_duration_since(now) > self.queue_limit {
                    self.dropped_queue += 1;
                    return None;
                }
                let wire = Duration::from_secs_f64((bytes as f64 + 28.0) * 8.0 / rate as f64);
                self.busy_until = Some(start + wire);
                start + wire
            }
        };
        self.bytes_delivered += bytes as u64;
        Some(departs + self.delay)
    }
}

/// A datagram on its way.
pub(crate) struct InFlight {
    pub arrives: Instant,
    /// Keeps datagrams that arrive at the same time in the order they were sent.
    pub order: u64,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.arrives, self.order) == (other.arrives, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.arrives, self.order).cmp(&(other.arrives, other.order))
    }
}

/// Everything in flight, earliest arrival first.
#[derive(Default)]
pub(crate) struct Wire {
    queue: BinaryHeap<Reverse<InFlight>>,
    next_order: u64,
}

impl Wire {
    pub fn push(
        &mut self,
        arrives: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    ) {
        self.next_order += 1;
        self.queue.push(Reverse(InFlight {
            arrives,
            order: self.next_order,
            source,
            destination,
            contents,
        }));
    }

    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(d)| d.arrives)
    }

    pub fn pop_due(&mut self, now: Instant) -> Option<InFlight> {
        if self.next_arrival()? <= now {
            self.queue.pop().map(|Reverse(d)| d)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_link_carries_its_rate_and_drops_the_excess() {
        let start = Instant::now();
        let mut link = Link::new(3);
        link.rate = Some(300_000);
        link.delay = Duration::ZERO;
        // 1 Mbit/s offered for 10 s in 1,000-byte datagrams.
        let mut delivered = 0u64;
        for i in 0..1_250u64 {
            let now = start + Duration::from_millis(i * 8);
            if link.carry(now, 972).is_some() {
                delivered += 1_000 * 8;
            }
        }
        let rate = delivered as f64 / 10.0;
        assert!((280_000.0..=320_000.0).contains(&rate), "{rate} bit/s");
        assert!(link.dropped_queue > 800);
    }

    #[test]
    fn random_loss_drops_about_the_share_asked() {
        let mut link = Link::new(9);
        link.loss = 0.2;
        let now = Instant::now();
        let kept = (0..10_000)
            .filter(|_| link.carry(now, 100).is_some())
            .count();
        assert!((7_800..=8_200).contains(&kept), "{kept} of 10,000 kept");
    }
}
