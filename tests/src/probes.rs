//! What a page's WebRTC statistics say about a weak network, as typed samples: per remote
//! participant the video decoded (size, frames, freezes, loss, NACKs) and the audio heard
//! (concealment, FEC, jitter buffer), per simulcast layer what the page publishes, and the
//! selected candidate pair's estimate and round-trip time.
//!
//! [`StatsSample::read`] evaluates [`STATS_PROBE`] once; take one sample before and one after a
//! window and compare them with [`AudioWindow::between`] / [`VideoWindow::between`] (the
//! browser's counters are cumulative). For "no freeze longer than 2 s", sample every few hundred
//! milliseconds and use [`longest_stall`].

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::chromium::Page;

/// One reading of `window.concord.pc`'s statistics (see [`StatsSample`] for the shape).
///
/// Which participant a remote track belongs to: the participant id on the grid tile whose
/// `<video>` plays the track's stream (grid.js: one tile per participant, `data-participant-id`,
/// `srcObject` = the participant's stream), else the `a=msid` stream id of the receiver's `mid`
/// in the remote description (the protocol: stream id = participant id). inbound-rtp's
/// `trackIdentifier` is the receiver track's id, so both maps are keyed by track id.
pub const STATS_PROBE: &str = r#"(async () => {
    const c = window.concord;
    if (!c || !c.pc) return { ready: false };
    const pc = c.pc;
    const num = x => (typeof x === 'number' && Number.isFinite(x)) ? x : 0;
    const int = x => Math.round(num(x));
    const opt = x => (typeof x === 'number' && Number.isFinite(x)) ? x : null;
    const byMid = {};
    const sdp = (pc.remoteDescription && pc.remoteDescription.sdp) || '';
    for (const section of sdp.split(/\r?\nm=/).slice(1)) {
        const mid = (section.match(/\na=mid:(\S+)/) || [])[1];
        const msid = (section.match(/\na=msid:(\S+)/) || [])[1];
        if (mid && msid && msid !== '-') byMid[mid] = msid;
    }
    const owner = {};
    const midOfTrack = {};
    for (const t of pc.getTransceivers()) {
        const track = t.receiver && t.receiver.track;
        if (!track) continue;
        if (t.mid != null) midOfTrack[track.id] = t.mid;
        if (t.mid != null && byMid[t.mid]) owner[track.id] = byMid[t.mid];
    }
    const element = {};
    for (const tile of document.querySelectorAll('[data-testid=tile]')) {
        const video = tile.querySelector('video');
        const stream = video && video.srcObject;
        const id = tile.dataset.participantId;
        if (!stream || !id || tile.classList.contains('self')) continue;
        for (const track of stream.getTracks()) {
            owner[track.id] = id;
            element[track.id] = {
                width: video.clientWidth, height: video.clientHeight, data: { ...tile.dataset },
            };
        }
    }
    const activeByMidRid = {};
    for (const t of pc.getTransceivers()) {
        if (!t.sender || !t.sender.track || t.mid == null) continue;
        const encodings = (t.sender.getParameters().encodings) || [];
        for (const e of encodings) activeByMidRid[t.mid + '/' + (e.rid || '')] = e.active !== false;
    }
    const stats = await pc.getStats();
    const byId = {};
    stats.forEach(r => { byId[r.id] = r; });
    const codecOf = r => (r.codecId && byId[r.codecId] && byId[r.codecId].mimeType) || null;
    const out = {
        ready: true, me: c.participantId || null, connection: pc.connectionState,
        timestampMs: performance.timeOrigin + performance.now(),
        inboundVideo: [], inboundAudio: [], outboundVideo: [], outboundAudio: [],
        candidatePair: null,
    };
    stats.forEach(r => {
        if (r.type === 'inbound-rtp') {
            const track = r.trackIdentifier || null;
            const mid = r.mid != null ? String(r.mid) : (track && midOfTrack[track]) || null;
            const common = {
                ssrc: int(r.ssrc), mid, trackIdentifier: track,
                participant: (track && owner[track]) || (mid && byMid[mid]) || null,
                codec: codecOf(r),
                packetsReceived: int(r.packetsReceived), packetsLost: int(r.packetsLost),
                nackCount: int(r.nackCount), bytesReceived: int(r.bytesReceived),
                jitter: num(r.jitter),
            };
            if (r.kind === 'video') out.inboundVideo.push({
                ...common,
                frameWidth: opt(r.frameWidth), frameHeight: opt(r.frameHeight),
                framesPerSecond: opt(r.framesPerSecond),
                framesDecoded: int(r.framesDecoded), framesDropped: int(r.framesDropped),
                keyFramesDecoded: int(r.keyFramesDecoded),
                freezeCount: int(r.freezeCount), totalFreezesDuration: num(r.totalFreezesDuration),
                pauseCount: int(r.pauseCount), totalPausesDuration: num(r.totalPausesDuration),
                pliCount: int(r.pliCount), firCount: int(r.firCount),
                retransmittedPacketsReceived: int(r.retransmittedPacketsReceived),
                elementWidth: track && element[track] ? element[track].width : null,
                elementHeight: track && element[track] ? element[track].height : null,
                tileData: track && element[track] ? element[track].data : {},
            });
            else if (r.kind === 'audio') out.inboundAudio.push({
                ...common,
                concealedSamples: int(r.concealedSamples),
                silentConcealedSamples: int(r.silentConcealedSamples),
                totalSamplesReceived: int(r.totalSamplesReceived),
                insertedSamplesForDeceleration: int(r.insertedSamplesForDeceleration),
                removedSamplesForAcceleration: int(r.removedSamplesForAcceleration),
                fecPacketsReceived: int(r.fecPacketsReceived),
                fecPacketsDiscarded: int(r.fecPacketsDiscarded),
                packetsDiscarded: int(r.packetsDiscarded),
                concealmentEvents: int(r.concealmentEvents),
                jitterBufferDelay: num(r.jitterBufferDelay),
                jitterBufferEmittedCount: int(r.jitterBufferEmittedCount),
                totalSamplesDuration: num(r.totalSamplesDuration),
            });
        } else if (r.type === 'outbound-rtp') {
            const mid = r.mid != null ? String(r.mid) : null;
            const fromParams = activeByMidRid[(mid || '') + '/' + (r.rid || '')];
            const common = {
                ssrc: int(r.ssrc), mid, codec: codecOf(r),
                packetsSent: int(r.packetsSent), bytesSent: int(r.bytesSent),
                retransmittedPacketsSent: int(r.retransmittedPacketsSent),
                nackCount: int(r.nackCount),
                targetBitrate: opt(r.targetBitrate),
                active: typeof r.active === 'boolean' ? r.active : (fromParams !== undefined ? fromParams : null),
            };
            if (r.kind === 'video') out.outboundVideo.push({
                ...common,
                rid: r.rid || null,
                frameWidth: opt(r.frameWidth), frameHeight: opt(r.frameHeight),
                framesPerSecond: opt(r.framesPerSecond),
                framesEncoded: int(r.framesEncoded), keyFramesEncoded: int(r.keyFramesEncoded),
                pliCount: int(r.pliCount),
                qualityLimitationReason: r.qualityLimitationReason || null,
                scalabilityMode: r.scalabilityMode || null,
            });
            else if (r.kind === 'audio') out.outboundAudio.push(common);
        } else if (r.type === 'transport' && r.selectedCandidatePairId) {
            const pair = byId[r.selectedCandidatePairId];
            if (!pair) return;
            const local = byId[pair.localCandidateId] || {};
            const remote = byId[pair.remoteCandidateId] || {};
            out.candidatePair = {
                availableOutgoingBitrate: opt(pair.availableOutgoingBitrate),
                availableIncomingBitrate: opt(pair.availableIncomingBitrate),
                currentRoundTripTime: opt(pair.currentRoundTripTime),
                bytesSent: int(pair.bytesSent), bytesReceived: int(pair.bytesReceived),
                local: (local.address || local.ip || '?') + ':' + (local.port || 0),
                remote: (remote.address || remote.ip || '?') + ':' + (remote.port || 0),
            };
        }
    });
    return out;
})()"#;

/// One reading of [`STATS_PROBE`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatsSample {
    /// False until the page has a peer connection (then every list is empty).
    pub ready: bool,
    /// The page's own participant id.
    pub me: Option<String>,
    /// `RTCPeerConnection.connectionState`.
    pub connection: String,
    /// When the page took the sample (ms since the Unix epoch, sub-millisecond precision).
    pub timestamp_ms: f64,
    pub inbound_video: Vec<InboundVideo>,
    pub inbound_audio: Vec<InboundAudio>,
    pub outbound_video: Vec<OutboundVideo>,
    pub outbound_audio: Vec<OutboundAudio>,
    /// The selected ICE candidate pair, once there is one.
    pub candidate_pair: Option<CandidatePair>,
}

/// One remote video the page receives (an `inbound-rtp` of kind video).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InboundVideo {
    pub ssrc: u32,
    pub mid: Option<String>,
    pub track_identifier: Option<String>,
    /// The remote participant who publishes it (see [`STATS_PROBE`]).
    pub participant: Option<String>,
    /// e.g. `video/VP8`.
    pub codec: Option<String>,
    pub packets_received: u64,
    pub packets_lost: i64,
    pub nack_count: u64,
    pub bytes_received: u64,
    /// Seconds.
    pub jitter: f64,
    /// The last decoded frame's size; `None` before the first frame.
    pub frame_width: Option<u32>,
    pub frame_height: Option<u32>,
    pub frames_per_second: Option<f64>,
    pub frames_decoded: u64,
    pub frames_dropped: u64,
    pub key_frames_decoded: u64,
    pub freeze_count: u64,
    /// Seconds, summed over freezes.
    pub total_freezes_duration: f64,
    pub pause_count: u64,
    pub total_pauses_duration: f64,
    pub pli_count: u64,
    pub fir_count: u64,
    pub retransmitted_packets_received: u64,
    /// The size (CSS pixels) of the `<video>` showing it, when it is on a grid tile.
    pub element_width: Option<u32>,
    pub element_height: Option<u32>,
    /// The tile's `data-*` attributes as the page set them (`participantId`, and whatever the
    /// client marks, e.g. `videoPaused`, `quality`), keyed in camelCase as `dataset` gives them.
    pub tile_data: HashMap<String, String>,
}

/// One remote audio track the page receives (an `inbound-rtp` of kind audio).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InboundAudio {
    pub ssrc: u32,
    pub mid: Option<String>,
    pub track_identifier: Option<String>,
    pub participant: Option<String>,
    pub codec: Option<String>,
    pub packets_received: u64,
    /// Signed, as RTCP's cumulative loss: duplicates can make it negative.
    pub packets_lost: i64,
    pub nack_count: u64,
    pub bytes_received: u64,
    pub jitter: f64,
    /// Samples played out (counted only while an element plays the track).
    pub total_samples_received: u64,
    pub concealed_samples: u64,
    pub silent_concealed_samples: u64,
    pub inserted_samples_for_deceleration: u64,
    pub removed_samples_for_acceleration: u64,
    pub fec_packets_received: u64,
    pub fec_packets_discarded: u64,
    pub packets_discarded: u64,
    pub concealment_events: u64,
    /// Seconds, summed over emitted samples (divide by `jitter_buffer_emitted_count`).
    pub jitter_buffer_delay: f64,
    pub jitter_buffer_emitted_count: u64,
    pub total_samples_duration: f64,
}

/// One encoding the page sends (an `outbound-rtp` of kind video: one per simulcast layer).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OutboundVideo {
    pub ssrc: u32,
    pub mid: Option<String>,
    /// The simulcast rid; `None` without simulcast.
    pub rid: Option<String>,
    pub codec: Option<String>,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub retransmitted_packets_sent: u64,
    pub nack_count: u64,
    /// Bits per second.
    pub target_bitrate: Option<f64>,
    /// Whether the encoding is on (stats' `active`, else `sender.getParameters().encodings`).
    pub active: Option<bool>,
    pub frame_width: Option<u32>,
    pub frame_height: Option<u32>,
    pub frames_per_second: Option<f64>,
    pub frames_encoded: u64,
    pub key_frames_encoded: u64,
    pub pli_count: u64,
    /// `none`, `bandwidth`, `cpu` or `other`.
    pub quality_limitation_reason: Option<String>,
    pub scalability_mode: Option<String>,
}

/// The page's published audio (an `outbound-rtp` of kind audio).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OutboundAudio {
    pub ssrc: u32,
    pub mid: Option<String>,
    pub codec: Option<String>,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub retransmitted_packets_sent: u64,
    pub nack_count: u64,
    pub target_bitrate: Option<f64>,
    pub active: Option<bool>,
}

/// The selected ICE candidate pair.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CandidatePair {
    /// The browser's send-side estimate, bits per second.
    pub available_outgoing_bitrate: Option<f64>,
    /// Rarely reported by Chromium.
    pub available_incoming_bitrate: Option<f64>,
    /// Seconds.
    pub current_round_trip_time: Option<f64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// `address:port` of each end.
    pub local: String,
    pub remote: String,
}

impl StatsSample {
    /// Evaluates [`STATS_PROBE`] on `page`.
    pub async fn read(page: &Page) -> Result<StatsSample> {
        let value = page
            .evaluate(STATS_PROBE)
            .await
            .context("reading the page's WebRTC statistics")?;
        let sample: StatsSample = serde_json::from_value(value.clone())
            .with_context(|| format!("unexpected statistics shape: {value}"))?;
        Ok(sample)
    }

    /// Like [`StatsSample::read`], failing unless the page has a peer connection.
    pub async fn read_ready(page: &Page) -> Result<StatsSample> {
        let sample = Self::read(page).await?;
        if !sample.ready {
            bail!("the page has no peer connection yet");
        }
        Ok(sample)
    }

    /// The video this page receives from `participant` (the one with most packets if several,
    /// e.g. an old receiver left after renegotiation).
    pub fn video_from(&self, participant: &str) -> Option<&InboundVideo> {
        self.inbound_video
            .iter()
            .filter(|v| v.participant.as_deref() == Some(participant))
            .max_by_key(|v| v.packets_received)
    }

    /// Frames the page has decoded of `participant`'s video (0 before any).
    pub fn frames_decoded_from(&self, participant: &str) -> u64 {
        self.video_from(participant).map_or(0, |v| v.frames_decoded)
    }

    /// The audio this page receives from `participant` (as [`StatsSample::video_from`]).
    pub fn audio_from(&self, participant: &str) -> Option<&InboundAudio> {
        self.inbound_audio
            .iter()
            .filter(|a| a.participant.as_deref() == Some(participant))
            .max_by_key(|a| a.packets_received)
    }

    /// The outbound video encoding with `rid` (`None`: the one without a rid).
    pub fn layer(&self, rid: Option<&str>) -> Option<&OutboundVideo> {
        self.outbound_video.iter().find(|v| v.rid.as_deref() == rid)
    }

    /// Time between two samples of the same page.
    pub fn elapsed_since(&self, earlier: &StatsSample) -> Duration {
        Duration::from_secs_f64(((self.timestamp_ms - earlier.timestamp_ms) / 1000.0).max(0.0))
    }
}

/// What happened to one remote audio track between two samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudioWindow {
    pub seconds: f64,
    pub packets_received: u64,
    pub packets_lost: i64,
    pub samples_received: u64,
    pub concealed_samples: u64,
    pub silent_concealed_samples: u64,
    pub concealment_events: u64,
    pub inserted_samples: u64,
    pub removed_samples: u64,
    pub fec_packets_received: u64,
    pub nacks: u64,
    /// Average jitter-buffer delay of the samples emitted in the window, seconds.
    pub jitter_buffer_delay: Option<f64>,
}

impl AudioWindow {
    /// The window from `before` to `after` (same track; counters that went backwards, as after
    /// a new receiver, count from zero).
    pub fn between(before: &InboundAudio, after: &InboundAudio, seconds: f64) -> AudioWindow {
        let emitted = after
            .jitter_buffer_emitted_count
            .saturating_sub(before.jitter_buffer_emitted_count);
        AudioWindow {
            seconds,
            packets_received: delta(before.packets_received, after.packets_received),
            packets_lost: after.packets_lost - before.packets_lost,
            samples_received: delta(before.total_samples_received, after.total_samples_received),
            concealed_samples: delta(before.concealed_samples, after.concealed_samples),
            silent_concealed_samples: delta(
                before.silent_concealed_samples,
                after.silent_concealed_samples,
            ),
            concealment_events: delta(before.concealment_events, after.concealment_events),
            inserted_samples: delta(
                before.inserted_samples_for_deceleration,
                after.inserted_samples_for_deceleration,
            ),
            removed_samples: delta(
                before.removed_samples_for_acceleration,
                after.removed_samples_for_acceleration,
            ),
            fec_packets_received: delta(before.fec_packets_received, after.fec_packets_received),
            nacks: delta(before.nack_count, after.nack_count),
            jitter_buffer_delay: (emitted > 0)
                .then(|| (after.jitter_buffer_delay - before.jitter_buffer_delay) / emitted as f64),
        }
    }

    /// Concealed samples as a percentage of samples received in the window (`None` when no
    /// sample was received: nothing played, so nothing to judge).
    pub fn concealed_percent(&self) -> Option<f64> {
        (self.samples_received > 0)
            .then(|| 100.0 * self.concealed_samples as f64 / self.samples_received as f64)
    }

    /// Packets lost (after retransmission) as a percentage of packets expected in the window.
    pub fn lost_percent(&self) -> Option<f64> {
        let expected = self.packets_received as i64 + self.packets_lost;
        (expected > 0).then(|| 100.0 * self.packets_lost.max(0) as f64 / expected as f64)
    }
}

/// What happened to one remote video between two samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoWindow {
    pub seconds: f64,
    pub frames_decoded: u64,
    pub freezes: u64,
    /// Seconds frozen in the window (Chromium's freeze: a frame later than
    /// max(3 × the average frame interval, average + 150 ms)).
    pub freeze_seconds: f64,
    pub packets_received: u64,
    pub packets_lost: i64,
    pub nacks: u64,
    pub plis: u64,
    pub key_frames: u64,
    /// The size at the end of the window.
    pub frame_width: Option<u32>,
    pub frame_height: Option<u32>,
}

impl VideoWindow {
    /// The window from `before` to `after` (same track).
    pub fn between(before: &InboundVideo, after: &InboundVideo, seconds: f64) -> VideoWindow {
        VideoWindow {
            seconds,
            frames_decoded: delta(before.frames_decoded, after.frames_decoded),
            freezes: delta(before.freeze_count, after.freeze_count),
            freeze_seconds: (after.total_freezes_duration - before.total_freezes_duration).max(0.0),
            packets_received: delta(before.packets_received, after.packets_received),
            packets_lost: after.packets_lost - before.packets_lost,
            nacks: delta(before.nack_count, after.nack_count),
            plis: delta(before.pli_count, after.pli_count),
            key_frames: delta(before.key_frames_decoded, after.key_frames_decoded),
            frame_width: after.frame_width,
            frame_height: after.frame_height,
        }
    }

    /// Frames decoded per second over the window.
    pub fn fps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.frames_decoded as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Fraction of the window spent frozen, in percent.
    pub fn frozen_percent(&self) -> f64 {
        if self.seconds > 0.0 {
            (100.0 * self.freeze_seconds / self.seconds).min(100.0)
        } else {
            0.0
        }
    }
}

/// The longest stretch, across consecutive `samples` of one page, in which the video from
/// `participant` decoded no new frame (as precise as the sampling interval). A participant
/// missing from a sample counts as not decoding.
pub fn longest_stall(samples: &[StatsSample], participant: &str) -> Duration {
    let mut longest = 0.0f64;
    let mut since: Option<(f64, u64)> = None; // (time of the last new frame, frames then)
    for sample in samples {
        let frames = sample
            .video_from(participant)
            .map(|v| v.frames_decoded)
            .unwrap_or(0);
        match since {
            Some((at, seen)) if frames <= seen => {
                longest = longest.max(sample.timestamp_ms - at);
            }
            _ => since = Some((sample.timestamp_ms, frames)),
        }
    }
    Duration::from_secs_f64(longest.max(0.0) / 1000.0)
}

fn delta(before: u64, after: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(frames: u64) -> InboundVideo {
        InboundVideo {
            participant: Some("p1".into()),
            frames_decoded: frames,
            ..InboundVideo::default()
        }
    }

    fn at(ms: f64, frames: u64) -> StatsSample {
        StatsSample {
            ready: true,
            timestamp_ms: ms,
            inbound_video: vec![video(frames)],
            ..StatsSample::default()
        }
    }

    #[test]
    fn deserialises_the_probe_shape() {
        let json = serde_json::json!({
            "ready": true, "me": "p0", "connection": "connected", "timestampMs": 1000.5,
            "inboundVideo": [{"ssrc": 1, "mid": "1", "participant": "p1", "frameWidth": 320,
                "frameHeight": 180, "framesDecoded": 40, "packetsLost": -1,
                "totalFreezesDuration": 0.5, "elementWidth": null}],
            "inboundAudio": [{"ssrc": 2, "participant": "p1", "totalSamplesReceived": 48000,
                "concealedSamples": 480, "jitterBufferDelay": 2.5}],
            "outboundVideo": [{"rid": "q", "active": true, "qualityLimitationReason": "none"}],
            "outboundAudio": [],
            "candidatePair": {"availableOutgoingBitrate": 300000.0, "currentRoundTripTime": 0.3,
                "local": "10.213.0.2:5000", "remote": "10.213.0.1:6000"},
            "somethingNew": 1
        });
        let s: StatsSample = serde_json::from_value(json).expect("the probe's shape");
        assert_eq!(s.video_from("p1").and_then(|v| v.frame_width), Some(320));
        assert_eq!(s.layer(Some("q")).and_then(|l| l.active), Some(true));
        assert_eq!(
            s.candidate_pair.and_then(|c| c.current_round_trip_time),
            Some(0.3)
        );
    }

    #[test]
    fn audio_window_concealment() {
        let before = InboundAudio {
            total_samples_received: 48_000,
            concealed_samples: 1_000,
            packets_received: 50,
            packets_lost: 2,
            ..InboundAudio::default()
        };
        let after = InboundAudio {
            total_samples_received: 96_000,
            concealed_samples: 3_400,
            packets_received: 95,
            packets_lost: 7,
            ..InboundAudio::default()
        };
        let w = AudioWindow::between(&before, &after, 1.0);
        assert_eq!(w.concealed_percent(), Some(5.0));
        assert_eq!(w.lost_percent(), Some(10.0));
        assert_eq!(
            AudioWindow::between(&after, &after, 1.0).concealed_percent(),
            None
        );
    }

    #[test]
    fn video_window_and_longest_stall() {
        let mut before = video(100);
        before.total_freezes_duration = 1.0;
        let mut after = video(160);
        after.total_freezes_duration = 3.5;
        after.freeze_count = 2;
        let w = VideoWindow::between(&before, &after, 10.0);
        assert_eq!((w.frames_decoded, w.freezes), (60, 2));
        assert!((w.frozen_percent() - 25.0).abs() < 1e-9);
        let samples = [
            at(0.0, 10),
            at(250.0, 15),
            at(500.0, 15),
            at(1750.0, 15),
            at(2000.0, 20),
            at(2250.0, 20),
        ];
        assert_eq!(longest_stall(&samples, "p1"), Duration::from_millis(1500));
        assert_eq!(
            longest_stall(&samples, "nobody"),
            Duration::from_millis(2250)
        );
    }
}
