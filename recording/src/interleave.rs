//! A short reorder buffer that merges audio and video into one non-decreasing
//! timestamp order. libwebm rejects a frame older than the last one written on
//! *any* track, while audio and video reach the writer through separate jitter
//! buffers and drift by tens of milliseconds. Frames wait here until no earlier
//! frame is expected, then leave in timestamp order.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

/// How long a frame waits for earlier frames of the other track. Field notes found
/// 200–500 ms enough for browser peers; this is also the most a crash can lose
/// from this buffer.
pub const REORDER_WINDOW: Duration = Duration::from_millis(300);

/// Overload policy: at most this many frames wait (300 ms of 30 fps video and 50/s
/// audio is about 25). Past it the oldest frame leaves at once, so memory stays
/// bounded when one track's timestamps run far ahead; the price is that frames of
/// the other track arriving later than that are dropped as late.
pub const MAX_QUEUED: usize = 512;

struct Entry<T> {
    at: Duration,
    /// Arrival order breaks timestamp ties, so equal timestamps keep their order.
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub struct Interleaver<T> {
    window: Duration,
    heap: BinaryHeap<Reverse<Entry<T>>>,
    seq: u64,
    /// The latest time known: the newest timestamp pushed, or a later `advance`.
    horizon: Option<Duration>,
    /// Timestamp of the last frame released; anything older is late for good.
    released: Option<Duration>,
}

impl<T> Interleaver<T> {
    pub fn new(window: Duration) -> Self {
        Interleaver {
            window,
            heap: BinaryHeap::new(),
            seq: 0,
            horizon: None,
            released: None,
        }
    }

    /// Queues a frame, or hands it back when a later frame has already left (its
    /// slot in the file is gone).
    pub fn push(&mut self, at: Duration, item: T) -> Result<(), T> {
        if self.released.is_some_and(|r| at < r) {
            return Err(item);
        }
        self.advance(at);
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            item,
        }));
        Ok(())
    }

    /// Tells the buffer that time has reached `now` even if no frame came, so frames
    /// do not sit in memory while a participant is silent.
    pub fn advance(&mut self, now: Duration) {
        self.horizon = Some(self.horizon.map_or(now, |h| h.max(now)));
    }

    /// The next frame whose wait is over (or that overload pushes out).
    pub fn pop_due(&mut self) -> Option<(Duration, T)> {
        let Reverse(head) = self.heap.peek()?;
        let horizon = self.horizon?;
        let due = head.at + self.window <= horizon || self.heap.len() > MAX_QUEUED;
        if due {
            self.pop_any()
        } else {
            None
        }
    }

    /// The next frame regardless of its wait: for draining at the end.
    pub fn pop_any(&mut self) -> Option<(Duration, T)> {
        let Reverse(e) = self.heap.pop()?;
        self.released = Some(e.at);
        Some((e.at, e.item))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn frames_leave_in_timestamp_order_after_the_window() {
        let mut il = Interleaver::new(ms(300));
        for (t, name) in [(0, "v0"), (20, "a20"), (10, "a10"), (33, "v33")] {
            assert!(il.push(ms(t), name).is_ok());
        }
        assert!(il.pop_due().is_none(), "nothing is 300 ms old yet");
        il.advance(ms(320));
        let out: Vec<_> = std::iter::from_fn(|| il.pop_due())
            .map(|(_, n)| n)
            .collect();
        assert_eq!(out, ["v0", "a10", "a20"]);
        assert_eq!(il.len(), 1);
    }

    #[test]
    fn a_frame_older_than_what_left_is_late() {
        let mut il = Interleaver::new(ms(300));
        assert!(il.push(ms(100), 1).is_ok());
        il.advance(ms(400));
        assert_eq!(il.pop_due(), Some((ms(100), 1)));
        assert_eq!(il.push(ms(99), 2), Err(2));
        assert!(il.push(ms(100), 3).is_ok(), "equal timestamps are fine");
    }

    #[test]
    fn overload_releases_the_oldest() {
        let mut il = Interleaver::new(ms(300));
        for i in 0..=MAX_QUEUED as u64 {
            assert!(il.push(ms(0), i).is_ok());
        }
        assert_eq!(il.pop_due(), Some((ms(0), 0)));
        assert!(il.pop_due().is_none());
    }
}
