//! Keyframe requests (PLI/FIR) from the server: an interceptor that lets them reach the
//! application, and the listener that turns them into "send a keyframe next".

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant as StdInstant;

use anyhow::Result;

use rtc::interceptor::TaggedPacket;
use rtc::interceptor::{Attribute, Interceptor, Packet as InterceptorPacket, StreamInfo};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

use super::tracks::KeyframeRequests;
use super::types::PublishCounters;

/// Turns PLI/FIR from the SFU into "send a keyframe next" for the encoding they name.
pub(super) async fn listen_for_keyframe_requests(
    video: Arc<TrackLocalStaticRTP>,
    requests: Arc<KeyframeRequests>,
    counters: Arc<PublishCounters>,
) {
    while let Some(event) = video.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(packets) = event {
            let mut any = false;
            for packet in &packets {
                for ssrc in requested_ssrcs(packet.as_ref()) {
                    requests.request(ssrc);
                    any = true;
                }
            }
            if any {
                counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The SSRCs a PLI or FIR asks a keyframe of (none for other RTCP).
fn requested_ssrcs(packet: &dyn rtc::rtcp::packet::Packet) -> Vec<u32> {
    let any = packet.as_any();
    if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
        vec![pli.media_ssrc]
    } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
        fir.fir.iter().map(|e| e.ssrc).collect()
    } else {
        Vec::new()
    }
}

pub(super) fn is_keyframe_request(packet: &dyn rtc::rtcp::packet::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// Marks inbound PLI/FIR for delivery to the application (inbound RTCP otherwise stops at the end
/// of the interceptor chain), drops other inbound RTCP at this point, passes everything else.
#[derive(Default)]
pub(super) struct KeyframeRequestForwarder {
    read: std::collections::VecDeque<TaggedPacket>,
    write: std::collections::VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = StdInstant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let InterceptorPacket::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::packet::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = InterceptorPacket::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
