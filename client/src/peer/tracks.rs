//! Our published tracks (audio, and video as one stream or as simulcast encodings with rids),
//! the payload types and header extensions negotiated for them, and which encodings were asked
//! for a keyframe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use super::connection::{opus_codec, vp8_codec};

/// The SDES header extensions that name a simulcast packet's media section and encoding
/// (RFC 8852), which a receiver needs when the SDP lists no SSRCs for the encodings.
const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// Our two published tracks.
pub(super) struct LocalTracks {
    pub(super) audio: Arc<TrackLocalStaticRTP>,
    pub(super) video: Arc<TrackLocalStaticRTP>,
    pub(super) audio_sender: Arc<dyn RtpSender>,
    pub(super) video_sender: Arc<dyn RtpSender>,
    pub(super) audio_ssrc: u32,
    /// One SSRC per video encoding, in the order of `rids` (one, without a rid, when the video
    /// is not simulcast).
    pub(super) video_ssrcs: Vec<u32>,
    /// The simulcast rids, lowest layer first; empty for a single stream.
    pub(super) rids: Vec<String>,
    pub(super) keyframes: Arc<KeyframeRequests>,
}

impl LocalTracks {
    /// Adds an audio and a video track to `pc`; the video gets one encoding per rid in `rids`
    /// (simulcast, `a=rid`/`a=simulcast` in the offer) or a single one if `rids` is empty.
    pub(super) async fn add_to(
        pc: &Arc<dyn PeerConnection>,
        stream_id: &str,
        rids: &[String],
    ) -> Result<Self> {
        let audio_ssrc = rand::random::<u32>();
        let video_ssrcs: Vec<u32> = (0..rids.len().max(1))
            .map(|_| rand::random::<u32>())
            .collect();
        let coding = |ssrc: u32, rid: &str, codec: RTCRtpCodec| RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                rid: rid.to_owned(),
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        };
        let track = |kind: RtpCodecKind, name: &str, codings: Vec<RTCRtpEncodingParameters>| {
            Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                stream_id.to_owned(),
                format!("{stream_id}-{name}"),
                name.to_owned(),
                kind,
                codings,
            )))
        };
        let audio = track(
            RtpCodecKind::Audio,
            "audio",
            vec![coding(audio_ssrc, "", opus_codec())],
        );
        let video_codings = video_ssrcs
            .iter()
            .enumerate()
            .map(|(i, &ssrc)| coding(ssrc, rids.get(i).map_or("", |r| r), vp8_codec()))
            .collect();
        let video = track(RtpCodecKind::Video, "video", video_codings);
        let audio_sender = pc
            .add_track(Arc::clone(&audio) as Arc<dyn TrackLocal>)
            .await
            .context("add audio track")?;
        let video_sender = pc
            .add_track(Arc::clone(&video) as Arc<dyn TrackLocal>)
            .await
            .context("add video track")?;
        Ok(Self {
            audio,
            video,
            audio_sender,
            video_sender,
            audio_ssrc,
            keyframes: Arc::new(KeyframeRequests::new(&video_ssrcs)),
            video_ssrcs,
            rids: rids.to_vec(),
        })
    }
}

/// Per video encoding: whether its next frame should be a keyframe. All start requested.
#[derive(Debug)]
pub(super) struct KeyframeRequests {
    ssrcs: Vec<u32>,
    requested: Vec<AtomicBool>,
}

impl KeyframeRequests {
    fn new(ssrcs: &[u32]) -> Self {
        Self {
            ssrcs: ssrcs.to_vec(),
            requested: ssrcs.iter().map(|_| AtomicBool::new(true)).collect(),
        }
    }

    /// A request for the encoding sent with `ssrc`; an SSRC that is none of ours (0, say)
    /// asks every encoding.
    pub(super) fn request(&self, ssrc: u32) {
        match self.ssrcs.iter().position(|&s| s == ssrc) {
            Some(i) => self.set(i),
            None => (0..self.requested.len()).for_each(|i| self.set(i)),
        }
    }

    /// Marks encoding `layer` as needing a keyframe (e.g. the last one did not go out).
    pub(super) fn set(&self, layer: usize) {
        if let Some(flag) = self.requested.get(layer) {
            flag.store(true, Ordering::Release);
        }
    }

    /// Whether encoding `layer` needs a keyframe, clearing the request.
    pub(super) fn take(&self, layer: usize) -> bool {
        self.requested
            .get(layer)
            .is_some_and(|flag| flag.swap(false, Ordering::AcqRel))
    }

    /// Clears every request (a clip starts at a keyframe anyway).
    pub(super) fn clear(&self) {
        for flag in &self.requested {
            flag.store(false, Ordering::Release);
        }
    }
}

/// The payload type negotiated for `mime` on `sender`, or `fallback`.
pub(super) async fn negotiated_pt(sender: &Arc<dyn RtpSender>, mime: &str, fallback: u8) -> u8 {
    match sender.get_parameters().await {
        Ok(params) => params
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            .map_or(fallback, |c| c.payload_type),
        Err(_) => fallback,
    }
}

/// How simulcast packets name their media section and encoding: the negotiated ids of the mid
/// and rid header extensions, and our video's mid.
#[derive(Debug, Clone)]
pub(super) struct SimulcastIds {
    pub(super) mid_ext: u8,
    pub(super) rid_ext: u8,
    pub(super) mid: bytes::Bytes,
}

impl SimulcastIds {
    /// Read once the first negotiation is done; `None` if the answer dropped either extension
    /// (the receiver then cannot tell the encodings apart).
    pub(super) async fn negotiated(
        pc: &Arc<dyn PeerConnection>,
        sender: &Arc<dyn RtpSender>,
    ) -> Option<SimulcastIds> {
        let params = sender.get_parameters().await.ok()?;
        let ext = |uri: &str| {
            params
                .rtp_parameters
                .header_extensions
                .iter()
                .find(|e| e.uri == uri)
                .and_then(|e| u8::try_from(e.id).ok())
        };
        let (mid_ext, rid_ext) = (ext(MID_URI)?, ext(RID_URI)?);
        for transceiver in pc.get_transceivers().await {
            let Ok(Some(s)) = transceiver.sender().await else {
                continue;
            };
            if s.id() == sender.id() {
                let mid = transceiver.mid().await.ok()??;
                return Some(SimulcastIds {
                    mid_ext,
                    rid_ext,
                    mid: bytes::Bytes::from(mid),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::KeyframeRequests;

    #[test]
    fn a_request_names_one_encoding_or_all_of_them() {
        let k = KeyframeRequests::new(&[10, 20, 30]);
        k.clear();
        k.request(20);
        assert_eq!((k.take(0), k.take(1), k.take(2)), (false, true, false));
        assert!(!k.take(1), "taking clears");
        k.request(0);
        assert_eq!((k.take(0), k.take(1), k.take(2)), (true, true, true));
    }
}
