//! Our published tracks and the payload types negotiated for them.

use std::sync::atomic::AtomicBool;
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

/// Our two published tracks.
pub(super) struct LocalTracks {
    pub(super) audio: Arc<TrackLocalStaticRTP>,
    pub(super) video: Arc<TrackLocalStaticRTP>,
    pub(super) audio_sender: Arc<dyn RtpSender>,
    pub(super) video_sender: Arc<dyn RtpSender>,
    pub(super) audio_ssrc: u32,
    pub(super) video_ssrc: u32,
    pub(super) keyframe_requested: Arc<AtomicBool>,
}

impl LocalTracks {
    pub(super) async fn add_to(pc: &Arc<dyn PeerConnection>, stream_id: &str) -> Result<Self> {
        let audio_ssrc = rand::random::<u32>();
        let video_ssrc = rand::random::<u32>();
        let track = |kind: RtpCodecKind, ssrc: u32, codec: RTCRtpCodec, name: &str| {
            Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                stream_id.to_owned(),
                format!("{stream_id}-{name}"),
                name.to_owned(),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            )))
        };
        let audio = track(RtpCodecKind::Audio, audio_ssrc, opus_codec(), "audio");
        let video = track(RtpCodecKind::Video, video_ssrc, vp8_codec(), "video");
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
            video_ssrc,
            keyframe_requested: Arc::new(AtomicBool::new(true)),
        })
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
