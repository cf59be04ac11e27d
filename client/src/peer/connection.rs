//! Building the webrtc-rs connection (codecs, interceptors, the local address) and its event
//! handler, which only hands work on: candidates, state, one reader per received track.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use rtc::interceptor::Registry;
use rtc::interceptor::Slot;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};
use webrtc::runtime::TokioRuntime;

use super::keyframes::KeyframeRequestForwarder;
use super::receive::read_track;
use super::types::{MediaKind, ReceivedMedia};
use crate::stats::SendLog;

/// Payload types we offer (the only codec of each kind we register).
pub(super) const OPUS_PT: u8 = 111;
pub(super) const VP8_PT: u8 = 96;

pub(super) async fn build_peer_connection(
    handler: Arc<Handler>,
    local_ip: IpAddr,
) -> Result<Arc<dyn PeerConnection>> {
    let mut media_engine = MediaEngine::default();
    let video_feedback = vec![
        RTCPFeedback {
            typ: "ccm".to_owned(),
            parameter: "fir".to_owned(),
        },
        RTCPFeedback {
            typ: "nack".to_owned(),
            parameter: "".to_owned(),
        },
        RTCPFeedback {
            typ: "nack".to_owned(),
            parameter: "pli".to_owned(),
        },
    ];
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PT,
            },
            RtpCodecKind::Audio,
        )
        .context("register Opus")?;
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    rtcp_feedback: video_feedback,
                    ..vp8_codec()
                },
                payload_type: VP8_PT,
            },
            RtpCodecKind::Video,
        )
        .context("register VP8")?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)
        .context("default interceptors")?;
    // Last in the chain, so every other interceptor has seen the RTCP first.
    let registry = registry.with(Slot::from(14_000), KeyframeRequestForwarder::default());

    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_runtime(Arc::new(TokioRuntime))
        .with_udp_addrs(vec![std::net::SocketAddr::new(local_ip, 0).to_string()])
        .build()
        .await
        .context("build peer connection")?;
    Ok(Arc::new(pc))
}

pub(super) fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

pub(super) fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// Receives the connection's events. Everything it does is quick: it hands work to channels and
/// spawns readers.
pub(super) struct Handler {
    pub(super) request_missing_keyframes: bool,
    pub(super) send_log: Option<Arc<SendLog>>,
    pub(super) candidates: mpsc::UnboundedSender<String>,
    pub(super) received: watch::Sender<ReceivedMedia>,
    pub(super) state: watch::Sender<RTCPeerConnectionState>,
    pub(super) readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init.candidate);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let publisher = track.stream_id().await;
        let Some(kind) = MediaKind::from_codec_kind(track.kind().await) else {
            return;
        };
        let key = (publisher, kind);
        self.received.send_modify(|m| {
            m.entry(key.clone()).or_default().tracks += 1;
        });
        let reader = tokio::spawn(read_track(
            track,
            key,
            self.received.clone(),
            self.request_missing_keyframes,
            self.send_log.clone(),
        ));
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(reader);
        }
    }
}
