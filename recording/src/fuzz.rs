//! The codec headers the recorder reads from a publisher's frames, fuzzed (see
//! `concord_sfu::fuzzing`): whatever a phone sends, the recorder neither panics nor believes
//! an impossible size.

use concord_sfu::fuzzing::{iterations, Mutator};

use crate::{h264, vp8};

/// A VP8 keyframe header (320x180) and an interframe's.
const VP8_SEEDS: [&[u8]; 2] = [
    &[
        0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00, 0x00, 0x00,
    ],
    &[0x31, 0x02, 0x00, 0x00],
];
/// Annex B access units: SPS (320x240), PPS and an IDR slice; a lone slice.
const H264_SEEDS: [&[u8]; 2] = [
    &[
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80, 0, 0, 0, 1, 0x68, 0xce,
        0x3c, 0x80, 0, 0, 1, 0x65, 0x88, 0x84, 0x00,
    ],
    &[0, 0, 1, 0x41, 0x9a, 0x02],
];

#[test]
fn fuzz_codec_headers() {
    let mut m = Mutator::new(0x5eed_0101);
    for _ in 0..iterations() {
        let frame = m.mutate(&VP8_SEEDS);
        if let Some(header) = vp8::parse(&frame) {
            let _ = header;
        }
        let unit = m.mutate(&H264_SEEDS);
        let _ = h264::parse(&unit);
        let _ = h264::nal_units(&unit).count();
        if let Ok(prefixed) = h264::to_length_prefixed(&unit) {
            assert!(prefixed.len() <= unit.len() + 4 * h264::nal_units(&unit).count() + 4);
        }
        if let Some(sets) = h264::ParameterSets::from_access_unit(&unit) {
            let _ = sets.size();
        }
    }
}

#[test]
fn fuzz_the_writer_fed_arbitrary_frames() {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::config::WriterConfig;
    use crate::frame::{Codec, Frame};
    use crate::writer::ParticipantWriter;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut m = Mutator::new(0x5eed_0102);
    let opus: [&[u8]; 2] = [&[0xfc, 0xff, 0xfe], &[0x78, 0x01, 0x02, 0x03]];
    for file in 0..(iterations() / 2_000).max(1) {
        let path = dir.path().join(format!("fuzz-{file}.webm"));
        let Ok(mut writer) = ParticipantWriter::create(WriterConfig::vp8_opus(&path)) else {
            continue;
        };
        let mut at = Duration::ZERO;
        for _ in 0..200 {
            // Mostly forwards, now and then back or far ahead.
            at = match m.below(20) {
                0 => at.saturating_sub(Duration::from_millis(m.below(500) as u64)),
                1 => at + Duration::from_secs(m.below(100_000) as u64),
                _ => at + Duration::from_millis(m.below(40) as u64),
            };
            let frame = if m.below(2) == 0 {
                Frame::audio(Codec::Opus, at, Arc::from(m.mutate(&opus)))
            } else {
                let keyframe = m.below(4) == 0;
                Frame::video(Codec::Vp8, at, keyframe, Arc::from(m.mutate(&VP8_SEEDS)))
            };
            if writer.push(frame).is_err() {
                break;
            }
            if m.below(8) == 0 && writer.advance(at).is_err() {
                break;
            }
        }
        let _ = writer.finish();
    }
}
