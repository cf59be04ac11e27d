//! The publishers: synthetic frames, or a real clip looped at its own pace (one per simulcast
//! encoding).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use bytes::Bytes;
use tokio::sync::watch;

use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use super::connection::{OPUS_PT, VP8_PT};
use super::tracks::{negotiated_pt, LocalTracks, SimulcastIds};
use super::types::{MediaKind, PeerOptions, PublishCounters};
use crate::clip::Clip;
use crate::media;
use crate::stats::SendLog;

/// Waits until the first negotiation is done and the transport is up: like a browser's
/// encoder, publishing starts then, so the first keyframe is not lost before DTLS completes.
/// False when the peer went away first.
async fn transport_up(
    negotiated: &mut watch::Receiver<u64>,
    connection: &mut watch::Receiver<RTCPeerConnectionState>,
) -> bool {
    negotiated.wait_for(|n| *n >= 1).await.is_ok()
        && connection
            .wait_for(|s| *s == RTCPeerConnectionState::Connected)
            .await
            .is_ok()
}

/// Sends audio every 20 ms and video at ~30 fps once the first negotiation is done and the
/// connection is up.
pub(super) async fn publish(
    tracks: LocalTracks,
    options: PeerOptions,
    mut negotiated: watch::Receiver<u64>,
    mut connection: watch::Receiver<RTCPeerConnectionState>,
    counters: Arc<PublishCounters>,
) {
    if !transport_up(&mut negotiated, &mut connection).await {
        return;
    }
    let audio_pt = negotiated_pt(&tracks.audio_sender, MIME_TYPE_OPUS, OPUS_PT).await;
    let video_pt = negotiated_pt(&tracks.video_sender, MIME_TYPE_VP8, VP8_PT).await;

    let mut audio_seq: u16 = rand::random();
    let mut audio_ts: u32 = rand::random();
    let mut video_seq: u16 = rand::random();
    let mut video_ts: u32 = rand::random();
    let mut picture_id: u16 = rand::random::<u16>() & 0x7fff;
    let mut first_audio = true;
    let mut last_keyframe = StdInstant::now();

    let mut audio_tick = tokio::time::interval(Duration::from_millis(20));
    let mut video_tick = tokio::time::interval(Duration::from_micros(33_333));
    audio_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    video_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            _ = audio_tick.tick() => {
                let packet = rtp::Packet {
                    header: rtp::Header {
                        version: 2,
                        marker: first_audio,
                        payload_type: audio_pt,
                        sequence_number: audio_seq,
                        timestamp: audio_ts,
                        ssrc: tracks.audio_ssrc,
                        ..Default::default()
                    },
                    payload: media::opus_packet(),
                };
                first_audio = false;
                audio_seq = audio_seq.wrapping_add(1);
                audio_ts = audio_ts.wrapping_add(media::OPUS_SAMPLES_PER_PACKET);
                match tracks.audio.write_rtp(packet).await {
                    Ok(()) => counters.audio_packets.fetch_add(1, Ordering::Relaxed),
                    Err(_) => counters.write_errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            _ = video_tick.tick() => {
                let periodic = options
                    .keyframe_interval
                    .is_some_and(|every| last_keyframe.elapsed() >= every);
                let keyframe = tracks.keyframes.take(0) || periodic;
                if keyframe {
                    last_keyframe = StdInstant::now();
                }
                let frame_len = if keyframe { 3000 } else { 800 };
                let payloads = media::vp8_frame_payloads(picture_id, keyframe, frame_len);
                let last = payloads.len() - 1;
                let mut ok = true;
                for (i, payload) in payloads.into_iter().enumerate() {
                    let packet = rtp::Packet {
                        header: rtp::Header {
                            version: 2,
                            marker: i == last,
                            payload_type: video_pt,
                            sequence_number: video_seq,
                            timestamp: video_ts,
                            ssrc: tracks.video_ssrcs[0],
                            ..Default::default()
                        },
                        payload,
                    };
                    video_seq = video_seq.wrapping_add(1);
                    match tracks.video.write_rtp(packet).await {
                        Ok(()) => counters.video_packets.fetch_add(1, Ordering::Relaxed),
                        Err(_) => {
                            ok = false;
                            counters.write_errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
                if keyframe && !ok {
                    // Not on the wire yet (transport still coming up): try again next frame.
                    tracks.keyframes.set(0);
                } else if keyframe {
                    counters.keyframes_sent.fetch_add(1, Ordering::Relaxed);
                }
                counters.video_frames.fetch_add(1, Ordering::Relaxed);
                picture_id = (picture_id + 1) & 0x7fff;
                video_ts = video_ts.wrapping_add(media::VP8_TICKS_PER_FRAME);
            }
        }
    }
}

/// Who a clip publisher is and where it reports.
pub(super) struct ClipPublisher {
    /// Our participant id: the stream id subscribers see.
    pub(super) stream_id: String,
    pub(super) send_log: Option<Arc<SendLog>>,
    pub(super) counters: Arc<PublishCounters>,
    /// Only for simulcast: to look up our video's mid once negotiated.
    pub(super) pc: Option<Arc<dyn PeerConnection>>,
}

/// One video encoding being sent: its clip and where it stands in it.
struct LayerState {
    clip: Arc<Clip>,
    ssrc: u32,
    /// The rid header extension's value (simulcast only).
    rid: Option<Bytes>,
    seq: u16,
    picture_id: u16,
    index: usize,
}

/// Sends a real clip: each Opus packet and VP8 frame at its own pace, looping with continuous
/// RTP timestamps and sequence numbers. On PLI/FIR it skips ahead to the clip's next keyframe
/// (a looping clip cannot encode one on demand); the clip also has one every `-g` frames.
///
/// With several `layers` (simulcast, lowest first, one per encoding of `tracks`), each frame
/// tick sends the frame of every layer's own clip on its own SSRC, sequence numbers and picture
/// ids, with one RTP timestamp for all (as a browser's encoders share the capture time), and
/// every video packet carries the mid and rid header extensions. The audio is the first
/// layer's; every layer must have the same frame rate.
pub(super) async fn publish_clip(
    tracks: LocalTracks,
    layers: Vec<Arc<Clip>>,
    me: ClipPublisher,
    mut negotiated: watch::Receiver<u64>,
    mut connection: watch::Receiver<RTCPeerConnectionState>,
) {
    if !transport_up(&mut negotiated, &mut connection).await {
        return;
    }
    let Some(first) = layers.first().cloned() else {
        return;
    };
    let counters = &me.counters;
    let audio_pt = negotiated_pt(&tracks.audio_sender, MIME_TYPE_OPUS, OPUS_PT).await;
    let video_pt = negotiated_pt(&tracks.video_sender, MIME_TYPE_VP8, VP8_PT).await;
    let simulcast = match (&me.pc, tracks.rids.is_empty()) {
        (Some(pc), false) => {
            let ids = SimulcastIds::negotiated(pc, &tracks.video_sender).await;
            if ids.is_none() {
                // Without them the server cannot tell the encodings apart: say so where the
                // counters show it, and send nothing that would be misread.
                counters.write_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
            ids
        }
        _ => None,
    };
    let fps = first.spec.fps.max(1);
    let ticks_per_frame = 90_000 / fps;
    let mut video: Vec<LayerState> = layers
        .iter()
        .zip(&tracks.video_ssrcs)
        .enumerate()
        .map(|(i, (clip, &ssrc))| LayerState {
            clip: Arc::clone(clip),
            ssrc,
            rid: tracks.rids.get(i).map(|r| Bytes::from(r.clone())),
            seq: rand::random(),
            picture_id: rand::random::<u16>() & 0x7fff,
            index: 0,
        })
        .collect();

    let mut audio_seq: u16 = rand::random();
    let mut audio_ts: u32 = rand::random();
    let mut video_ts: u32 = rand::random();
    let mut audio_index = 0usize;
    // Every clip starts at a keyframe: no request pending.
    tracks.keyframes.clear();

    let start = tokio::time::Instant::now();
    let mut next_audio = start;
    let mut next_video = start;
    let mut audio_elapsed_samples: u64 = 0;
    let mut video_frames_sent: u64 = 0;

    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_audio) => {
                let packet = &first.audio[audio_index];
                let rtp_packet = rtp::Packet {
                    header: rtp::Header {
                        version: 2,
                        marker: audio_elapsed_samples == 0,
                        payload_type: audio_pt,
                        sequence_number: audio_seq,
                        timestamp: audio_ts,
                        ssrc: tracks.audio_ssrc,
                        ..Default::default()
                    },
                    payload: packet.data.clone(),
                };
                if let Some(log) = &me.send_log {
                    log.record(&me.stream_id, MediaKind::Audio, audio_ts, StdInstant::now());
                }
                match tracks.audio.write_rtp(rtp_packet).await {
                    Ok(()) => {
                        counters.audio_packets.fetch_add(1, Ordering::Relaxed);
                        counters.audio_bytes.fetch_add(packet.data.len() as u64, Ordering::Relaxed);
                    }
                    Err(_) => {
                        counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                audio_seq = audio_seq.wrapping_add(1);
                audio_ts = audio_ts.wrapping_add(packet.samples);
                audio_elapsed_samples += u64::from(packet.samples);
                audio_index = (audio_index + 1) % first.audio.len();
                // Paced from the start, so timer lateness does not accumulate.
                next_audio = start + Duration::from_micros(audio_elapsed_samples * 1_000_000 / 48_000);
            }
            _ = tokio::time::sleep_until(next_video) => {
                if let Some(log) = &me.send_log {
                    log.record(&me.stream_id, MediaKind::Video, video_ts, StdInstant::now());
                }
                for (i, layer) in video.iter_mut().enumerate() {
                    send_frame(&tracks, i, layer, video_pt, video_ts, simulcast.as_ref(), counters).await;
                }
                counters.video_frames.fetch_add(1, Ordering::Relaxed);
                video_ts = video_ts.wrapping_add(ticks_per_frame);
                video_frames_sent += 1;
                next_video = start + Duration::from_micros(video_frames_sent * 1_000_000 / u64::from(fps));
            }
        }
    }
}

/// Sends the next frame of one video encoding (a keyframe skipped ahead to if one was asked
/// for) and moves the encoding on.
async fn send_frame(
    tracks: &LocalTracks,
    layer_index: usize,
    layer: &mut LayerState,
    video_pt: u8,
    video_ts: u32,
    simulcast: Option<&SimulcastIds>,
    counters: &PublishCounters,
) {
    if tracks.keyframes.take(layer_index) {
        layer.index = layer.clip.next_keyframe(layer.index);
    }
    let frame = &layer.clip.video[layer.index];
    let payloads = media::vp8_payloads(layer.picture_id, &frame.data);
    let last = payloads.len().saturating_sub(1);
    let mut ok = true;
    for (i, payload) in payloads.into_iter().enumerate() {
        let len = payload.len() as u64;
        let mut packet = rtp::Packet {
            header: rtp::Header {
                version: 2,
                marker: i == last,
                payload_type: video_pt,
                sequence_number: layer.seq,
                timestamp: video_ts,
                ssrc: layer.ssrc,
                ..Default::default()
            },
            payload,
        };
        if let (Some(ids), Some(rid)) = (simulcast, &layer.rid) {
            // Both fit the one-byte form (ids 1..=14, at most 16 bytes): a failure would be
            // ours, and shows as a write error.
            if packet
                .header
                .set_extension(ids.mid_ext, ids.mid.clone())
                .is_err()
                || packet
                    .header
                    .set_extension(ids.rid_ext, rid.clone())
                    .is_err()
            {
                counters.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        layer.seq = layer.seq.wrapping_add(1);
        match tracks.video.write_rtp(packet).await {
            Ok(()) => {
                counters.video_packets.fetch_add(1, Ordering::Relaxed);
                counters.video_bytes.fetch_add(len, Ordering::Relaxed);
            }
            Err(_) => {
                ok = false;
                counters.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if frame.keyframe && ok {
        counters.keyframes_sent.fetch_add(1, Ordering::Relaxed);
    } else if frame.keyframe {
        tracks.keyframes.set(layer_index);
    }
    layer.picture_id = (layer.picture_id + 1) & 0x7fff;
    layer.index = (layer.index + 1) % layer.clip.video.len();
}
