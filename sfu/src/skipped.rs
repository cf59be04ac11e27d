//! The sequence numbers a subscriber's stream skipped because the publisher's packets never
//! reached us. The subscriber's receiver reports count them as lost, yet its own link lost
//! nothing: a party on a lossy uplink would otherwise make everyone else's link look lossy
//! (their quality marks poor, their video cut, redundancy sent where none helps).

use std::collections::VecDeque;

/// Skipped numbers kept one by one: a resend may still fill them in. Older ones are only
/// counted.
const KEPT: usize = 512;

#[derive(Debug, Clone, Default)]
pub(crate) struct SkippedNumbers {
    highest: Option<u64>,
    /// Skipped and not filled in since, oldest first.
    recent: VecDeque<u64>,
    /// Skipped numbers too old to keep, all below those in `recent`.
    counted: u64,
}

impl SkippedNumbers {
    /// Takes the number of a packet just sent.
    pub fn sent(&mut self, seq: u64) {
        match self.highest {
            None => self.highest = Some(seq),
            Some(highest) if seq > highest => {
                let kept_from = (highest + 1).max(seq.saturating_sub(KEPT as u64));
                self.counted += kept_from - (highest + 1);
                for skipped in kept_from..seq {
                    self.keep(skipped);
                }
                self.highest = Some(seq);
            }
            Some(_) => {
                // A late packet (a resend from the publisher) fills in its number.
                if let Ok(at) = self.recent.binary_search(&seq) {
                    self.recent.remove(at);
                }
            }
        }
    }

    /// The last `count` packets sent never went out after all (dropped from the pacer's queue
    /// before they were sent): their numbers count as skipped.
    pub fn unsent_last(&mut self, count: usize) {
        let Some(highest) = self.highest else {
            return;
        };
        let mut unsent = Vec::with_capacity(count.min(KEPT));
        let mut seq = highest;
        while unsent.len() < count.min(KEPT) {
            if self.recent.binary_search(&seq).is_err() {
                unsent.push(seq);
            }
            let Some(below) = seq.checked_sub(1) else {
                break;
            };
            seq = below;
        }
        let mut merged: Vec<u64> = self.recent.drain(..).collect();
        merged.extend(unsent);
        merged.sort_unstable();
        for skipped in merged {
            self.keep(skipped);
        }
    }

    fn keep(&mut self, skipped: u64) {
        if self.recent.len() == KEPT {
            self.recent.pop_front();
            self.counted += 1;
        }
        self.recent.push_back(skipped);
    }

    /// How many numbers up to `highest` (as the subscriber last reported it) were skipped.
    pub fn up_to(&self, highest: u64) -> u64 {
        let recent = self.recent.partition_point(|&seq| seq <= highest) as u64;
        self.counted + recent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_until_a_resend_fills_them() {
        let mut skipped = SkippedNumbers::default();
        for seq in [100, 101, 104, 105, 107] {
            skipped.sent(seq);
        }
        assert_eq!(skipped.up_to(101), 0);
        assert_eq!(skipped.up_to(105), 2);
        assert_eq!(skipped.up_to(200), 3);
        skipped.sent(103);
        assert_eq!(skipped.up_to(105), 1);
        // A duplicate or a number never skipped changes nothing.
        skipped.sent(103);
        skipped.sent(101);
        assert_eq!(skipped.up_to(200), 2);
    }

    #[test]
    fn packets_dropped_before_they_went_out_count_as_skipped() {
        let mut skipped = SkippedNumbers::default();
        for seq in [100, 101, 103, 104, 105] {
            skipped.sent(seq);
        }
        // 104 and 105 were dropped from the queue, and 103 with them; 102 was skipped already.
        skipped.unsent_last(3);
        assert_eq!(skipped.up_to(101), 0);
        assert_eq!(skipped.up_to(105), 4);
        // Sending goes on after them.
        skipped.sent(106);
        assert_eq!(skipped.up_to(106), 4);
    }

    #[test]
    fn a_long_gap_is_counted_without_keeping_every_number() {
        let mut skipped = SkippedNumbers::default();
        skipped.sent(0);
        skipped.sent(10_001);
        assert_eq!(skipped.recent.len(), KEPT);
        assert_eq!(skipped.up_to(10_001), 10_000);
    }
}
