//! A small deterministic mutation fuzzer for the parsers that read what strangers send (RTP
//! payloads, RED, STUN, TCP framing, signaling JSON, recording's codec headers). No nightly
//! toolchain, no corpus files: each target starts from valid seeds and mutates them. The tests
//! run a short pass (`CONCORD_FUZZ_ITERATIONS`, default 20,000 per target); a long run is the same
//! tests with a large count, in release: see the README.

/// Iterations per fuzz target: `CONCORD_FUZZ_ITERATIONS`, or a short pass.
pub fn iterations() -> u64 {
    std::env::var("CONCORD_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// A seeded source of mutations (xorshift64*: fast, and a failure names its seed and iteration
/// so it can be replayed).
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator { state: seed.max(1) }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// One of `seeds`, mutated a few times: bits flipped, bytes set to edge values, runs
    /// inserted, cut or repeated, or the whole thing replaced by random bytes.
    pub fn mutate(&mut self, seeds: &[&[u8]]) -> Vec<u8> {
        let mut data = match seeds.get(self.below(seeds.len())) {
            Some(seed) => seed.to_vec(),
            None => Vec::new(),
        };
        for _ in 0..=self.below(4) {
            self.mutate_once(&mut data);
        }
        data
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>) {
        const EDGES: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
        let at = self.below(data.len() + 1);
        match self.below(8) {
            0 if !data.is_empty() => {
                let i = self.below(data.len());
                data[i] ^= 1 << self.below(8);
            }
            1 if !data.is_empty() => {
                let i = self.below(data.len());
                data[i] = EDGES[self.below(EDGES.len())];
            }
            2 => {
                let run: Vec<u8> = (0..=self.below(16)).map(|_| self.byte()).collect();
                data.splice(at..at, run);
            }
            3 => data.truncate(at),
            4 if !data.is_empty() => {
                let end = (at + 1 + self.below(32)).min(data.len());
                let start = at.min(end);
                data.drain(start..end);
            }
            5 if !data.is_empty() => {
                let start = self.below(data.len());
                let end = (start + 1 + self.below(64)).min(data.len());
                let copy = data[start..end].to_vec();
                data.splice(at..at, copy);
            }
            6 => *data = (0..self.below(256)).map(|_| self.byte()).collect(),
            _ => {
                if let Some(byte) = data.get_mut(at) {
                    *byte = byte.wrapping_add(1 + self.below(3) as u8);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use str0m::ice::{StunMessage, TransId};

    use super::*;
    use crate::assemble::FrameAssembler;
    use crate::incoming::{EarlierVoice, VoiceHistory};
    use crate::payload;
    use crate::tap::{TapCodec, TapKind, TappedPacket};

    /// VP8 payloads: a keyframe's first packet with a long picture id and TL0PICIDX, a plain
    /// one, a continuation.
    const VP8_SEEDS: [&[u8]; 3] = [
        &[
            0x90, 0xe0, 0x80, 0x01, 0x05, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4,
            0x00,
        ],
        &[0x10, 0x31, 0x02, 0x00, 0x9d, 0x01, 0x2a],
        &[0x80, 0x80, 0x05, 0x12, 0x34],
    ];
    /// H.264 payloads: SPS, STAP-A with SPS and PPS, FU-A start of an IDR slice.
    const H264_SEEDS: [&[u8]; 3] = [
        &[0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10],
        &[
            0x78, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x0d, 0x00, 0x02, 0x68, 0xce,
        ],
        &[0x7c, 0x85, 0x88, 0x84, 0x00],
    ];
    /// RED: one redundant block (pt 111, offset 960, 3 bytes) then the primary.
    const RED_SEEDS: [&[u8]; 2] = [
        &[0xef, 0x0f, 0x00, 0x03, 0x6f, 1, 2, 3, 4, 5, 6],
        &[0x6f, 0xfc, 0xff, 0xfe],
    ];

    #[test]
    fn fuzz_rtp_payload_parsers() {
        let mut m = Mutator::new(0x5eed_0001);
        for _ in 0..iterations() {
            let vp8 = m.mutate(&VP8_SEEDS);
            payload::starts_keyframe(TapCodec::Vp8, &vp8);
            payload::vp8_descriptor_len(&vp8);
            payload::vp8_ids(&vp8);
            payload::vp8_keyframe_size(&vp8);
            let h264 = m.mutate(&H264_SEEDS);
            payload::starts_keyframe(TapCodec::H264, &h264);
            let red = m.mutate(&RED_SEEDS);
            payload::red_primary(&red);
            payload::red_primary_pt(&red);
            payload::opus_frame(&red, true);
            payload::opus_is_comfort_noise(&red);
            for block in payload::red_blocks(&red).take(64) {
                let _ = block;
            }
        }
    }

    #[test]
    fn fuzz_red_recovery_of_lost_voices() {
        let mut m = Mutator::new(0x5eed_0002);
        let mut history = VoiceHistory::default();
        for seq in 0..iterations() {
            let red = m.mutate(&RED_SEEDS);
            // Gaps of any size, including none and going backwards.
            let at = seq.wrapping_mul(3).wrapping_sub(m.below(5) as u64);
            let _ = history.lost_frames(at, &red);
            history.push(
                at,
                EarlierVoice {
                    rtp_time: m.next_u64() as u32,
                    payload: Arc::from(red),
                    red: true,
                },
            );
        }
    }

    #[test]
    fn fuzz_the_recorders_frame_assembly() {
        let mut m = Mutator::new(0x5eed_0003);
        let mut assembler = FrameAssembler::new();
        let start = Instant::now();
        for i in 0..iterations() {
            let (codec, seeds, clock_rate): (_, &[&[u8]], _) = match m.below(3) {
                0 => (TapCodec::Vp8, &VP8_SEEDS, 90_000),
                1 => (TapCodec::H264, &H264_SEEDS, 90_000),
                _ => (TapCodec::Opus, &RED_SEEDS, 48_000),
            };
            let packet = TappedPacket {
                participant: "p".into(),
                track: m.below(3) as u32,
                kind: if clock_rate == 48_000 {
                    TapKind::Audio
                } else {
                    TapKind::Video
                },
                codec,
                clock_rate,
                seq_no: (i / 2).wrapping_add(m.below(4) as u64),
                rtp_time: (i / 3) * 3000 + m.below(2) as u64,
                marker: m.below(3) == 0,
                received: start + Duration::from_millis(i),
                sender_report: None,
                payload: Arc::from(m.mutate(seeds)),
            };
            assembler.push(packet);
            if i % 16 == 0 {
                assembler.advance(start + Duration::from_millis(i + 500));
            }
            while assembler.pop_frame().is_some() {}
        }
    }

    #[test]
    fn fuzz_stun_as_the_router_reads_it() {
        let mut m = Mutator::new(0x5eed_0004);
        let request =
            StunMessage::binding_request("ourfrag1:browser", TransId::new(), true, 7, 1, false);
        let mut buffer = [0u8; 512];
        let length = request
            .to_bytes(Some(b"our-password"), &mut buffer, crate::sha1_hmac)
            .expect("a binding request fits");
        let seed = buffer[..length].to_vec();
        for _ in 0..iterations() {
            let datagram = m.mutate(&[&seed]);
            if let Ok(message) = StunMessage::parse(&datagram) {
                let _ = message.split_username();
                let _ = message.verify(b"our-password", crate::sha1_hmac);
            }
        }
    }

    #[test]
    fn fuzz_sdp_offers_and_candidates_into_a_peer() {
        use str0m::IceCreds;
        use tokio::sync::mpsc;

        use crate::ids::{ParticipantId, PeerKey};
        use crate::peer::Peer;
        use crate::room::server_rtc;
        use crate::sim::client::Client;

        let now = Instant::now();
        // A real offer to start from: a simulcast camera and a microphone.
        let mut browser = Client::new(
            "browser",
            "127.0.0.1:40000".parse().expect("an address"),
            now,
        );
        let (offer, _) = browser.offer(true, now);
        let candidate = "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host generation 0";
        let mut m = Mutator::new(0x5eed_0007);
        let (events, _received) = mpsc::channel(1024);
        // Each try builds a whole peer: fewer tries than the cheap parsers get.
        for _ in 0..(iterations() / 50).max(1) {
            let mut peer = Peer::new(
                PeerKey(1),
                ParticipantId("fuzzed".into()),
                server_rtc(IceCreds::new(), now),
                "ufrag".into(),
                events.clone(),
                now,
            );
            let sdp = String::from_utf8_lossy(&m.mutate(&[offer.as_bytes()])).into_owned();
            let _ = peer.accept_offer(&sdp);
            for _ in 0..4 {
                let line = String::from_utf8_lossy(&m.mutate(&[candidate.as_bytes()])).into_owned();
                let _ = peer.add_remote_candidate(&line);
            }
            let _ = peer.renegotiate();
        }
    }
}
