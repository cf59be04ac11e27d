//! What a participant publishes: its tracks, each with one layer or up to three simulcast
//! layers, what each layer costs to forward (measured), and whether it is flowing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::PayloadParams;
use str0m::media::{MediaKind, Mid, Pt, Rid};
use str0m::rtp::Ssrc;

use crate::forwarding::allocation::MAX_LAYERS;
use crate::payload::{opus_frame, opus_is_comfort_noise, red_blocks, red_primary_pt, red_with};
use crate::tap::TapCodec;

/// IP, UDP, SRTP and RTP header (with extensions) bytes around each payload: what a packet
/// costs on the wire beyond its payload, for the bandwidth a layer needs.
pub(crate) const PACKET_OVERHEAD: u64 = 60;
/// A layer with no packet for this long has stopped (the publisher's uplink dropped it, or it
/// was switched off).
const LAYER_GONE_AFTER: Duration = Duration::from_millis(1_000);
/// A layer has stopped sooner when a lower layer of the same track went on this long after its
/// last packet: every layer carries the same pictures, so only a slow frame rate leaves one
/// silent that long while another is not (a publisher's browser drops its top layer when its
/// uplink estimate falls, and a subscriber on it sees nothing until it is switched down).
const LAYER_DROPPED_AFTER: Duration = Duration::from_millis(400);
/// Shortest window a layer's rate is measured over.
const METER_WINDOW: Duration = Duration::from_millis(500);
/// How much of its peak a meter keeps from one window to the next: halved in about 3 s.
const PEAK_DECAY: f64 = 0.9;
/// What a layer is assumed to cost before it has been measured: the rates the web client asks
/// its encoder for (docs/protocol.md), by rank among the track's layers.
const NOMINAL_COST: [u64; MAX_LAYERS] = [100_000, 500_000, 1_200_000];
const NOMINAL_SINGLE: u64 = 600_000;
/// A publisher is asked for a keyframe on a layer at most this often; subscribers' PLIs and
/// new subscriptions inside the window share the keyframe already on its way.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);

/// What a publisher's payload type stands for, in its own negotiated numbering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncomingCodec {
    pub pt: Pt,
    pub params: PayloadParams,
    pub codec: TapCodec,
    pub clock_rate: u32,
    /// The payload is RFC 2198 RED wrapping `params`' codec (Opus with its previous packets).
    pub red: bool,
}

/// Bits per second of one stream, packet overhead included, measured over short windows.
#[derive(Debug, Clone)]
pub(crate) struct BitrateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    packets: u64,
    rate: Option<u64>,
    /// The highest window's rate, decaying.
    peak: Option<u64>,
}

impl BitrateMeter {
    pub fn new() -> BitrateMeter {
        BitrateMeter {
            window_start: None,
            bytes: 0,
            packets: 0,
            rate: None,
            peak: None,
        }
    }

    /// One packet of `payload` bytes. Per packet: two additions.
    pub fn add(&mut self, payload: usize, now: Instant) {
        self.window_start.get_or_insert(now);
        self.bytes += payload as u64;
        self.packets += 1;
    }

    /// Closes the window if it is long enough; the rate is smoothed across windows (video is
    /// bursty: a keyframe is many times a delta frame).
    pub fn roll(&mut self, now: Instant) {
        let Some(start) = self.window_start else {
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < METER_WINDOW {
            return;
        }
        if self.packets == 0 {
            // Nothing came (the layer stopped): it still costs what it did when it flowed.
            self.window_start = None;
            return;
        }
        let bits = (self.bytes + self.packets * PACKET_OVERHEAD) * 8;
        let measured = (bits as f64 / elapsed.as_secs_f64()) as u64;
        self.peak = Some(self.peak.map_or(measured, |peak| {
            ((peak as f64 * PEAK_DECAY) as u64).max(measured)
        }));
        self.rate = Some(match self.rate {
            Some(rate) => (rate as f64 * 0.6 + measured as f64 * 0.4) as u64,
            None => measured,
        });
        self.bytes = 0;
        self.packets = 0;
        self.window_start = Some(now);
    }

    /// The smoothed rate, once a window has been measured.
    pub fn rate(&self) -> Option<u64> {
        self.rate
    }

    /// The rate at its highest lately (a layer's rate swings with the picture and its
    /// keyframes), once a window has been measured.
    pub fn peak(&self) -> Option<u64> {
        self.peak
    }
}

/// One encoding of a published track.
pub(crate) struct LayerIn {
    /// The simulcast rid; `None` for a track sent as a single stream.
    pub rid: Option<Rid>,
    pub ssrc: Option<Ssrc>,
    pub meter: BitrateMeter,
    pub last_packet: Option<Instant>,
    /// Dynacast switched it off at the publisher: nobody receives it.
    pub suspended: bool,
    /// Since when nobody has received it (for switching it off after a while).
    pub unwanted_since: Option<Instant>,
    /// When dynacast last switched it back on (until it flows again).
    pub resumed_at: Option<Instant>,
    /// Switched back on, it never came: the publisher's uplink cannot carry it. Not offered to
    /// subscribers until then.
    pub unavailable_until: Option<Instant>,
    /// The picture size its last keyframe announced.
    pub width: Option<u32>,
    pub height: Option<u32>,
    last_keyframe_request: Option<Instant>,
}

impl LayerIn {
    fn new(rid: Option<Rid>) -> LayerIn {
        LayerIn {
            rid,
            ssrc: None,
            meter: BitrateMeter::new(),
            last_packet: None,
            suspended: false,
            unwanted_since: None,
            resumed_at: None,
            unavailable_until: None,
            width: None,
            height: None,
            last_keyframe_request: None,
        }
    }

    /// Packets arrived lately.
    pub fn flowing(&self, now: Instant) -> bool {
        self.last_packet
            .is_some_and(|at| now.saturating_duration_since(at) < LAYER_GONE_AFTER)
    }
}

/// A track a participant publishes.
pub(crate) struct TrackIn {
    pub mid: Mid,
    pub kind: MediaKind,
    /// Numbered from 0 in order of appearance: how taps name the track.
    pub number: u32,
    /// Lowest first; one layer (without a rid) for a track sent as a single stream.
    pub layers: Vec<LayerIn>,
    /// The codec of the last packet, looked up once per payload type.
    pub codec: Option<IncomingCodec>,
    /// For a voice: its last frames, for the RED the SFU writes to a lossy subscriber.
    pub voice_history: VoiceHistory,
    /// For a shared screen: the stream id subscribers and taps know it by (see
    /// [`crate::screen_stream_id`]); `None` for a camera or microphone.
    pub shared_screen: Option<Arc<str>>,
}

/// A voice frame as it came (a RED payload or plain Opus), for the redundancy of later ones.
#[derive(Debug, Clone)]
pub(crate) struct EarlierVoice {
    pub rtp_time: u32,
    pub payload: Arc<[u8]>,
    pub red: bool,
}

/// How long a speaking voice may go without a packet before the comfort noise that should have
/// ended its speech counts as lost: two frames and more than a village path's usual jitter.
const QUIET_AFTER: Duration = Duration::from_millis(100);

/// Samples in a 20 ms Opus frame (RTP clock 48 kHz).
const OPUS_FRAME_TICKS: u32 = 960;

/// How many earlier frames of a voice are kept, for the deepest RED the SFU writes.
pub(crate) const VOICE_HISTORY: usize = 3;

/// The frames before a voice frame, oldest first.
pub(crate) type EarlierVoices = [Option<EarlierVoice>; VOICE_HISTORY];

/// The last frames of a voice, oldest first, and the newest sequence number seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct VoiceHistory {
    frames: EarlierVoices,
    newest_seq: Option<u64>,
    /// When the voice, speaking at its last packet, counts as gone quiet without its comfort
    /// noise arriving.
    pub quiet_due: Option<Instant>,
}

/// A voice frame lost on the publisher's uplink, rebuilt from the RED of the packet after it.
#[derive(Debug, Clone)]
pub(crate) struct RebuiltVoice {
    pub seq_no: u64,
    /// RTP ticks before the packet it came in.
    pub offset: u32,
    /// A RED payload of the frame alone, so the stream keeps one payload type.
    pub payload: Arc<[u8]>,
}

impl VoiceHistory {
    /// Takes frame `seq` and returns the ones before it (oldest first). No allocation: the
    /// payloads are shared.
    pub fn push(&mut self, seq: u64, frame: EarlierVoice) -> EarlierVoices {
        let before = self.frames.clone();
        self.frames.rotate_left(1);
        self.frames[VOICE_HISTORY - 1] = Some(frame);
        self.newest_seq = Some(self.newest_seq.map_or(seq, |newest| newest.max(seq)));
        before
    }

    /// Takes the arrival of the newest frame: speech, or the comfort noise of a pause.
    pub fn arrived(&mut self, at: Instant) {
        let speaking = self.frames[VOICE_HISTORY - 1]
            .as_ref()
            .and_then(|frame| opus_frame(&frame.payload, frame.red))
            .is_some_and(|opus| !opus_is_comfort_noise(opus));
        self.quiet_due = speaking.then_some(at + QUIET_AFTER);
    }

    /// The comfort noise that should have followed the last frame, for a voice gone quiet: its
    /// first comfort-noise frame was lost on the uplink (the RED of the next, 400 ms later,
    /// cannot reach back to it), and without it every subscriber conceals the speech that ended
    /// until then. Taken into the history as if it had arrived.
    pub fn comfort_noise(&mut self) -> Option<(u64, EarlierVoice, EarlierVoices)> {
        self.quiet_due = None;
        let last = self.frames[VOICE_HISTORY - 1].as_ref()?;
        // The last frame's configuration, one frame, no data: what an Opus encoder sends.
        let toc = opus_frame(&last.payload, last.red)?.first()? & 0xfc;
        let payload: Arc<[u8]> = if last.red {
            Arc::from(red_with(red_primary_pt(&last.payload)?, 0, &[toc], &[]))
        } else {
            Arc::from([toc])
        };
        let frame = EarlierVoice {
            rtp_time: last.rtp_time.wrapping_add(OPUS_FRAME_TICKS),
            payload,
            red: last.red,
        };
        let seq = self.newest_seq? + 1;
        let earlier = self.push(seq, frame.clone());
        Some((seq, frame, earlier))
    }

    /// The frames lost just before RED packet `seq` that its redundancy carries. A browser's RED
    /// repeats the frames of the packets just before (packets, not 20 ms steps: a silent voice
    /// sends none), so the last block is `seq - 1`, the one before it `seq - 2`. Empty, without
    /// allocating, unless packets are missing.
    pub fn lost_frames(&self, seq: u64, red_payload: &[u8]) -> Vec<RebuiltVoice> {
        let Some(newest) = self.newest_seq else {
            return Vec::new();
        };
        if seq <= newest + 1 {
            return Vec::new();
        }
        let blocks = red_blocks(red_payload);
        let count = blocks.clone().count() as u64;
        blocks
            .enumerate()
            .filter_map(|(index, block)| {
                let lost = (seq + index as u64).checked_sub(count)?;
                (lost > newest).then(|| RebuiltVoice {
                    seq_no: lost,
                    offset: block.offset,
                    payload: Arc::from(red_with(block.pt, 0, block.data, &[])),
                })
            })
            .collect()
    }
}

impl TrackIn {
    /// A track with the simulcast rids the publisher offered (in offer order), or a single
    /// stream when there are none.
    pub fn new(mid: Mid, kind: MediaKind, number: u32, rids: &[Rid]) -> TrackIn {
        let layers = if rids.is_empty() || kind == MediaKind::Audio {
            vec![LayerIn::new(None)]
        } else {
            rank_rids(rids)
                .into_iter()
                .take(MAX_LAYERS)
                .map(|rid| LayerIn::new(Some(rid)))
                .collect()
        };
        TrackIn {
            mid,
            kind,
            number,
            layers,
            codec: None,
            voice_history: VoiceHistory::default(),
            shared_screen: None,
        }
    }

    pub fn is_simulcast(&self) -> bool {
        self.layers.len() > 1
    }

    /// The rids of the layers the publisher is to send: those dynacast has not switched off.
    pub fn active_rids(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter(|l| !l.suspended)
            .filter_map(|l| l.rid.map(|rid| rid.to_string()))
            .collect()
    }

    /// The layer an SSRC belongs to, by the rid str0m learnt for it.
    pub fn layer_of(&self, rid: Option<Rid>) -> Option<usize> {
        match rid {
            Some(rid) => self.layers.iter().position(|l| l.rid == Some(rid)),
            // A track without rids has one layer; a simulcast track's packets all carry one.
            None => (!self.is_simulcast()).then_some(0),
        }
    }

    /// What each layer costs to forward now, as the allocator needs it: measured (or nominal
    /// before measured) for layers flowing or switched off by dynacast (they come back on
    /// request), `None` for layers the publisher does not send.
    pub fn layer_costs(&self, now: Instant) -> [Option<u64>; MAX_LAYERS] {
        self.layer_rates(now, BitrateMeter::rate)
    }

    /// What each layer cost at its most lately, as [`Self::layer_costs`].
    pub fn layer_peaks(&self, now: Instant) -> [Option<u64>; MAX_LAYERS] {
        self.layer_rates(now, BitrateMeter::peak)
    }

    fn layer_rates(
        &self,
        now: Instant,
        measured: fn(&BitrateMeter) -> Option<u64>,
    ) -> [Option<u64>; MAX_LAYERS] {
        let mut costs = [None; MAX_LAYERS];
        for (i, layer) in self.layers.iter().enumerate() {
            let usable = layer.unavailable_until.is_none_or(|until| now >= until);
            if self.layer_flowing(i, now) || (layer.suspended && usable) {
                let nominal = if self.is_simulcast() {
                    NOMINAL_COST[i]
                } else {
                    NOMINAL_SINGLE
                };
                costs[i] = Some(measured(&layer.meter).unwrap_or(nominal).max(1));
            }
        }
        costs
    }

    /// Which layers arrive now (switched-off ones do not).
    pub fn layers_arriving(&self, now: Instant) -> [bool; MAX_LAYERS] {
        std::array::from_fn(|i| self.layer_flowing(i, now))
    }

    /// The highest layer flowing now: what a recording takes.
    pub fn top_flowing(&self, now: Instant) -> Option<u8> {
        (0..self.layers.len())
            .rposition(|i| self.layer_flowing(i, now))
            .map(|i| i as u8)
    }

    /// Whether layer `index` is flowing now: packets arrived lately, and no lower layer went
    /// on for [`LAYER_DROPPED_AFTER`] past its last one.
    fn layer_flowing(&self, index: usize, now: Instant) -> bool {
        let Some(layer) = self.layers.get(index) else {
            return false;
        };
        let Some(last) = layer.last_packet.filter(|_| layer.flowing(now)) else {
            return false;
        };
        let dropped = last + LAYER_DROPPED_AFTER;
        !self.layers[..index]
            .iter()
            .any(|lower| lower.last_packet.is_some_and(|at| at >= dropped))
    }

    /// Whether a keyframe may be asked for on `layer` now (and notes that it is).
    pub fn keyframe_request_due(&mut self, layer: usize, now: Instant) -> bool {
        let Some(layer) = self.layers.get_mut(layer) else {
            return false;
        };
        if layer
            .last_keyframe_request
            .is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_REQUEST_INTERVAL)
        {
            return false;
        }
        layer.last_keyframe_request = Some(now);
        true
    }
}

/// Orders simulcast rids lowest quality first. Browsers use their application's names; ours
/// (`q`, `h`, `f`) and the common `l`/`m`/`h`, `low`/`mid`/`high` and numeric ones are ranked by
/// meaning, anything else by the order offered.
fn rank_rids(rids: &[Rid]) -> Vec<Rid> {
    const SCHEMES: [&[&str]; 4] = [
        &["q", "h", "f"],
        &["l", "m", "h"],
        &["low", "mid", "high"],
        &["0", "1", "2"],
    ];
    for scheme in SCHEMES {
        if rids.iter().all(|r| scheme.contains(&&**r)) {
            let mut ranked = rids.to_vec();
            ranked.sort_by_key(|r| scheme.iter().position(|s| *s == &**r));
            return ranked;
        }
    }
    rids.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rids(names: &[&str]) -> Vec<Rid> {
        names.iter().map(|n| Rid::from(*n)).collect()
    }

    fn voice(history: &mut VoiceHistory, seq: u64, rtp_time: u32) {
        history.push(
            seq,
            EarlierVoice {
                rtp_time,
                payload: Arc::from(vec![111, 9]),
                red: true,
            },
        );
    }

    #[test]
    fn a_voice_that_goes_quiet_after_speech_gets_its_comfort_noise() {
        let mut history = VoiceHistory::default();
        let at = Instant::now();
        let speech = red_with(111, 9600, &[0x7b, 1, 2, 3], &[]);
        history.push(
            10,
            EarlierVoice {
                rtp_time: 9600,
                payload: Arc::from(speech),
                red: true,
            },
        );
        history.arrived(at);
        assert_eq!(history.quiet_due, Some(at + QUIET_AFTER));
        let (seq, frame, earlier) = history.comfort_noise().expect("comfort noise");
        assert_eq!((seq, frame.rtp_time), (11, 10_560));
        assert_eq!(&*frame.payload, &[111, 0x78]);
        assert_eq!(earlier[2].as_ref().map(|e| e.rtp_time), Some(9600));
        // Comfort noise arrived: nothing is due.
        history.arrived(at);
        assert_eq!(history.quiet_due, None);
    }

    #[test]
    fn frames_lost_on_the_uplink_come_back_out_of_the_next_red() {
        let mut history = VoiceHistory::default();
        voice(&mut history, 10, 9600);
        // The next packet carries 10 and 11 as redundancy (oldest first): 11 was lost.
        let red = red_with(111, 11_520, &[3, 3], &[(9600, &[1]), (10_560, &[2, 2])]);
        let rebuilt = history.lost_frames(12, &red);
        assert_eq!(rebuilt.len(), 1);
        assert_eq!((rebuilt[0].seq_no, rebuilt[0].offset), (11, 960));
        assert_eq!(
            crate::payload::red_primary(&rebuilt[0].payload),
            Some(&[2u8, 2][..])
        );
        // Nothing missing, nothing rebuilt; a gap longer than the redundancy keeps the rest lost.
        assert!(history.lost_frames(11, &red).is_empty());
        let rebuilt = history.lost_frames(14, &red);
        assert_eq!(
            rebuilt.iter().map(|r| r.seq_no).collect::<Vec<_>>(),
            [12, 13]
        );
        // A late packet rebuilds nothing.
        voice(&mut history, 14, 13_440);
        assert!(history.lost_frames(13, &red).is_empty());
    }

    #[test]
    fn rids_are_ranked_by_meaning_then_by_offer_order() {
        assert_eq!(rank_rids(&rids(&["f", "q", "h"])), rids(&["q", "h", "f"]));
        assert_eq!(rank_rids(&rids(&["h", "m", "l"])), rids(&["l", "m", "h"]));
        assert_eq!(rank_rids(&rids(&["h", "q"])), rids(&["q", "h"]));
        assert_eq!(rank_rids(&rids(&["b", "a"])), rids(&["b", "a"]));
    }

    #[test]
    fn a_meter_measures_bits_with_packet_overhead() {
        let start = Instant::now();
        let mut meter = BitrateMeter::new();
        // 50 packets of 940 bytes in one second: (940 + 60) × 8 × 50 = 400 kbit/s.
        for i in 0..50 {
            meter.add(940, start + Duration::from_millis(i * 20));
        }
        meter.roll(start + Duration::from_millis(400));
        assert_eq!(
            meter.rate(),
            None,
            "a window shorter than 500 ms is not closed"
        );
        meter.roll(start + Duration::from_secs(1));
        assert_eq!(meter.rate(), Some(400_000));
        // A stream that stops keeps its last rate: switched back on, it will cost that again.
        meter.roll(start + Duration::from_secs(5));
        assert_eq!(meter.rate(), Some(400_000));
    }

    #[test]
    fn layers_that_stopped_cost_nothing_and_switched_off_ones_their_last_rate() {
        let now = Instant::now();
        let mut track = TrackIn::new(Mid::from("1"), MediaKind::Video, 0, &rids(&["q", "h", "f"]));
        assert_eq!(track.layer_costs(now), [None, None, None]);
        track.layers[0].last_packet = Some(now);
        track.layers[2].suspended = true;
        assert_eq!(
            track.layer_costs(now),
            [Some(100_000), None, Some(1_200_000)]
        );
        assert_eq!(track.top_flowing(now), Some(0));
        let later = now + LAYER_GONE_AFTER;
        assert_eq!(track.layer_costs(later)[0], None);
        assert_eq!(track.layer_of(Some(Rid::from("h"))), Some(1));
        assert_eq!(track.layer_of(None), None, "simulcast packets carry a rid");
        assert_eq!(track.layer_of(Some(Rid::from("x"))), None);
    }

    #[test]
    fn a_layer_silent_while_a_lower_one_goes_on_has_stopped_before_a_second_is_out() {
        let start = Instant::now();
        let mut track = TrackIn::new(Mid::from("1"), MediaKind::Video, 0, &rids(&["q", "h"]));
        track.layers[0].last_packet = Some(start);
        track.layers[1].last_packet = Some(start);
        assert_eq!(track.top_flowing(start), Some(1));
        // A slow frame rate: both quiet for a while, both still there.
        let quiet = start + Duration::from_millis(600);
        assert_eq!(track.top_flowing(quiet), Some(1));
        // The low layer goes on; the top one does not.
        let later = start + LAYER_DROPPED_AFTER;
        track.layers[0].last_packet = Some(later);
        assert_eq!(track.top_flowing(later), Some(0));
        assert_eq!(track.layer_costs(later)[1], None);
    }
}
