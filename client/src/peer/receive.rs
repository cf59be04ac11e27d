//! What a received track is counted as: packets, loss, whole frames, freezes, delay.

use std::sync::Arc;
use std::time::Instant as StdInstant;

use tokio::sync::watch;

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::types::{MediaKind, ReceivedMedia};
use super::{FREEZE_THRESHOLD, PLI_INTERVAL};
use crate::media;
use crate::stats::{DelayMatcher, SendLog, SeqTracker};

/// Counts a received track's packets, frames, gaps and delays; does nothing else per packet,
/// except asking for a keyframe (rarely) while a video track has shown none, as a browser's
/// decoder would.
pub(super) async fn read_track(
    track: Arc<dyn TrackRemote>,
    key: (String, MediaKind),
    received: watch::Sender<ReceivedMedia>,
    request_missing_keyframes: bool,
    send_log: Option<Arc<SendLog>>,
) {
    let is_video = key.1 == MediaKind::Video;
    let mut have_keyframe = !is_video || !request_missing_keyframes;
    let mut last_pli: Option<StdInstant> = None;
    let mut seqs = SeqTracker::default();
    let mut frame = FrameAssembly::default();
    let mut last_ts: Option<u32> = None;
    let mut delays = DelayMatcher::default();
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let now = StdInstant::now();
                let header = &packet.header;
                let keyframe = is_video && media::is_vp8_keyframe_start(&packet.payload);
                let keyframe_size = if keyframe {
                    media::vp8_keyframe_size(&packet.payload)
                } else {
                    None
                };
                let len = packet.payload.len() as u64;
                seqs.on_packet(header.sequence_number);
                let frame_done = if is_video {
                    frame.on_packet(
                        header.sequence_number,
                        header.timestamp,
                        header.marker,
                        media::is_vp8_frame_start(&packet.payload),
                    )
                } else {
                    true
                };
                let delay = match (&send_log, last_ts) {
                    (Some(log), last) if last != Some(header.timestamp) => delays
                        .delay(log, &key.0, key.1, header.timestamp, now)
                        .map(|d| d.as_micros() as u32),
                    _ => None,
                };
                last_ts = Some(header.timestamp);
                let lost = seqs.lost();
                received.send_modify(|m| {
                    let c = match m.get_mut(&key) {
                        Some(c) => c,
                        None => m.entry(key.clone()).or_default(),
                    };
                    c.packets += 1;
                    c.bytes += len;
                    c.keyframes += u64::from(keyframe);
                    if keyframe_size.is_some() {
                        c.keyframe_size = keyframe_size;
                    }
                    c.lost = lost;
                    if frame_done {
                        c.frames += 1;
                        if let Some(last) = c.last_frame_at {
                            let gap = now.saturating_duration_since(last);
                            if is_video && gap > FREEZE_THRESHOLD {
                                c.freezes += 1;
                                c.freeze_ms += gap.as_millis() as u64;
                            }
                        }
                        c.last_frame_at = Some(now);
                    }
                    if let Some(d) = delay {
                        c.delay_us.push(d);
                    }
                });
                have_keyframe |= keyframe;
                if !have_keyframe && last_pli.is_none_or(|at| at.elapsed() >= PLI_INTERVAL) {
                    last_pli = Some(StdInstant::now());
                    let pli = PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: packet.header.ssrc,
                    };
                    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                    received.send_modify(|m| m.entry(key.clone()).or_default().plis_sent += 1);
                }
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
    received.send_modify(|m| m.entry(key.clone()).or_default().ended = true);
}

/// Follows one VP8 frame from its first packet (S bit) to its marker.
#[derive(Debug, Default)]
pub(super) struct FrameAssembly {
    /// (timestamp, next expected sequence number) of the frame being received whole so far.
    current: Option<(u32, u16)>,
}

impl FrameAssembly {
    /// Notes a packet; true when it completes a frame received without gaps.
    fn on_packet(&mut self, seq: u16, ts: u32, marker: bool, starts_frame: bool) -> bool {
        if starts_frame {
            self.current = Some((ts, seq.wrapping_add(1)));
        } else {
            self.current = match self.current {
                Some((t, next)) if t == ts && next == seq => Some((t, seq.wrapping_add(1))),
                _ => None,
            };
        }
        marker && self.current.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::FrameAssembly;

    #[test]
    fn frames_complete_only_without_gaps() {
        let mut f = FrameAssembly::default();
        // A three-packet frame, whole.
        assert!(!f.on_packet(10, 3000, false, true));
        assert!(!f.on_packet(11, 3000, false, false));
        assert!(f.on_packet(12, 3000, true, false));
        // A single-packet frame.
        assert!(f.on_packet(13, 6000, true, true));
        // A frame with its middle packet missing.
        assert!(!f.on_packet(14, 9000, false, true));
        assert!(!f.on_packet(16, 9000, true, false));
        // A frame whose first packet is missing.
        assert!(!f.on_packet(18, 12000, true, false));
        // Sequence numbers wrap.
        assert!(!f.on_packet(65535, 15000, false, true));
        assert!(f.on_packet(0, 15000, true, false));
    }
}
