//! Each subscriber's copy of a stream gets sequence numbers of its own: forwarding starts at a
//! keyframe, not at the publisher's first packet, and whatever was skipped before it must not
//! look like loss to the subscriber (it would ask for resends of packets it never needed).

/// Maps a publisher's extended sequence numbers onto one subscriber's outgoing stream.
#[derive(Debug, Clone)]
pub(crate) struct SequenceRewriter {
    /// Outgoing = incoming + shift, while forwarding.
    shift: Option<i64>,
    /// The incoming number forwarding (re)started at: anything older arrived late for a part
    /// of the stream this subscriber never got.
    resumed_at: u64,
    /// One past the highest number sent; `None` before the first packet.
    next_out: Option<u64>,
}

impl SequenceRewriter {
    pub fn new() -> SequenceRewriter {
        SequenceRewriter {
            shift: None,
            resumed_at: 0,
            next_out: None,
        }
    }

    pub fn is_forwarding(&self) -> bool {
        self.shift.is_some()
    }

    /// Starts (or restarts) forwarding at incoming `seq`, which follows the last number sent
    /// without a gap.
    pub fn start_at(&mut self, seq: u64) {
        // A new stream starts below 2^16: its SRTP rollover counter is then 0, which is what
        // the receiver assumes without being told otherwise.
        let next_out = self.next_out.unwrap_or(seq & 0x7fff);
        self.shift = Some(next_out as i64 - seq as i64);
        self.resumed_at = seq;
    }

    /// The publisher's stream restarted (a new SSRC): wait for the next start.
    pub fn pause(&mut self) {
        self.shift = None;
    }

    /// The outgoing number for incoming `seq`, or `None` when it is not forwarded.
    pub fn map(&mut self, seq: u64) -> Option<u64> {
        let shift = self.shift?;
        if seq < self.resumed_at {
            return None;
        }
        let out = u64::try_from(seq as i64 + shift).ok()?;
        if self.next_out.is_none_or(|next| out >= next) {
            self.next_out = Some(out + 1);
        }
        Some(out)
    }

    /// A number for one more copy of the packet just sent as `out`, right after it, if that was
    /// the newest: every later packet moves up by one, so the copy is not a duplicate to the
    /// receiver (and does not hide real loss from its reports). Packets older than the copied
    /// one that still arrive are late for this subscriber and not forwarded.
    pub fn insert_after(&mut self, out: u64, seq: u64) -> Option<u64> {
        let shift = self.shift?;
        if self.next_out != Some(out + 1) {
            return None;
        }
        self.shift = Some(shift + 1);
        self.next_out = Some(out + 2);
        self.resumed_at = seq + 1;
        Some(out + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_low_and_keeps_gaps_of_real_loss() {
        let mut rewriter = SequenceRewriter::new();
        assert_eq!(rewriter.map(70_000), None, "nothing before the start");
        rewriter.start_at(70_010);
        let first = rewriter.map(70_010).expect("forwarded");
        assert!(first < 1 << 15);
        assert_eq!(rewriter.map(70_011), Some(first + 1));
        // Loss on the publisher's side stays visible: the subscriber's NACK reaches us.
        assert_eq!(rewriter.map(70_014), Some(first + 4));
        // A late packet from before the start is not forwarded; one after it is.
        assert_eq!(rewriter.map(70_009), None);
        assert_eq!(rewriter.map(70_012), Some(first + 2));
    }

    #[test]
    fn a_restart_continues_where_the_last_stream_ended() {
        let mut rewriter = SequenceRewriter::new();
        rewriter.start_at(100);
        assert_eq!(rewriter.map(100), Some(100));
        assert_eq!(rewriter.map(101), Some(101));
        rewriter.pause();
        assert_eq!(rewriter.map(102), None);
        // The publisher's new stream numbers from somewhere else entirely.
        rewriter.start_at(40_000);
        assert_eq!(rewriter.map(40_000), Some(102));
        assert_eq!(rewriter.map(40_001), Some(103));
        assert_eq!(rewriter.map(39_999), None);
    }

    #[test]
    fn a_copy_gets_the_next_number_and_later_packets_move_up() {
        let mut rewriter = SequenceRewriter::new();
        rewriter.start_at(500);
        assert_eq!(rewriter.map(500), Some(500));
        assert_eq!(rewriter.map(502), Some(502));
        assert_eq!(rewriter.insert_after(502, 502), Some(503));
        assert_eq!(rewriter.map(503), Some(504));
        // A packet from before the copy that turns up late is not forwarded: the numbers after
        // the copy have moved.
        assert_eq!(rewriter.map(501), None);
        // Only the newest packet can be copied in place.
        assert_eq!(rewriter.insert_after(502, 502), None);
        assert_eq!(rewriter.insert_after(504, 503), Some(505));
        assert_eq!(rewriter.map(504), Some(506));
    }
}
