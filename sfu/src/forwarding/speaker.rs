//! Who is speaking, from the audio level every publisher puts in its packets (RFC 6464: 0 is the
//! loudest, 127 silence, in -dBov). The current speaker's video is kept when bandwidth is short.
//!
//! Levels are smoothed per source; the loudest source above the speech threshold becomes the
//! speaker once it has been loudest for a moment, so a cough does not move the spotlight.

use std::time::{Duration, Instant};

use crate::ids::PeerKey;

/// Quieter than this (-dBov) is not speech.
const SPEECH_LEVEL: f32 = 50.0;
/// Weight of one packet (20 ms) in the smoothed level: about a third of a second of memory.
const SMOOTHING: f32 = 0.06;
/// How long a new voice must be the loudest before it takes over.
const TAKE_OVER_AFTER: Duration = Duration::from_millis(800);

struct Voice {
    source: PeerKey,
    /// Smoothed loudness: 127 minus the level, so louder is larger.
    loudness: f32,
}

pub(crate) struct SpeakerDetector {
    voices: Vec<Voice>,
    current: Option<PeerKey>,
    /// The loudest voice that is not the speaker yet, and since when.
    challenger: Option<(PeerKey, Instant)>,
}

impl SpeakerDetector {
    pub fn new() -> SpeakerDetector {
        SpeakerDetector {
            voices: Vec::new(),
            current: None,
            challenger: None,
        }
    }

    pub fn current(&self) -> Option<PeerKey> {
        self.current
    }

    /// One audio packet's level. Called per packet: a short scan, no allocation once the voice
    /// is known.
    pub fn observe(&mut self, source: PeerKey, level: i8) {
        let loudness = 127.0 - f32::from(level.clamp(0, 127));
        match self.voices.iter_mut().find(|v| v.source == source) {
            Some(voice) => voice.loudness += SMOOTHING * (loudness - voice.loudness),
            None => self.voices.push(Voice { source, loudness }),
        }
    }

    pub fn forget(&mut self, source: PeerKey) {
        self.voices.retain(|v| v.source != source);
        if self.current == Some(source) {
            self.current = None;
        }
        if self.challenger.is_some_and(|(c, _)| c == source) {
            self.challenger = None;
        }
    }

    /// Re-decides who is speaking; returns true when that changed.
    pub fn update(&mut self, now: Instant) -> bool {
        let threshold = 127.0 - SPEECH_LEVEL;
        let loudest = self
            .voices
            .iter()
            .filter(|v| v.loudness > threshold)
            .max_by(|a, b| a.loudness.total_cmp(&b.loudness))
            .map(|v| v.source);
        let Some(loudest) = loudest else {
            self.challenger = None;
            return false;
        };
        if self.current == Some(loudest) {
            self.challenger = None;
            return false;
        }
        let since = match self.challenger {
            Some((who, since)) if who == loudest => since,
            _ => {
                self.challenger = Some((loudest, now));
                now
            }
        };
        if self.current.is_none() || now.saturating_duration_since(since) >= TAKE_OVER_AFTER {
            self.current = Some(loudest);
            self.challenger = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loudest_voice_takes_over_after_a_moment() {
        let (a, b) = (PeerKey(1), PeerKey(2));
        let mut speakers = SpeakerDetector::new();
        let start = Instant::now();
        for _ in 0..50 {
            speakers.observe(a, 30);
            speakers.observe(b, 120);
        }
        assert!(speakers.update(start));
        assert_eq!(speakers.current(), Some(a));
        // b starts speaking, a falls silent.
        for _ in 0..100 {
            speakers.observe(a, 127);
            speakers.observe(b, 20);
        }
        assert!(!speakers.update(start + Duration::from_millis(100)));
        assert_eq!(speakers.current(), Some(a));
        assert!(speakers.update(start + Duration::from_millis(1_000)));
        assert_eq!(speakers.current(), Some(b));
        speakers.forget(b);
        assert_eq!(speakers.current(), None);
    }

    #[test]
    fn silence_moves_nobody() {
        let mut speakers = SpeakerDetector::new();
        for _ in 0..50 {
            speakers.observe(PeerKey(1), 127);
        }
        assert!(!speakers.update(Instant::now()));
        assert_eq!(speakers.current(), None);
    }
}
