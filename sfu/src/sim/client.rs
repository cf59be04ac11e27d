//! A simulated participant: a str0m peer in RTP mode that publishes an Opus-like audio track
//! and a three-layer VP8 simulcast camera with real payload descriptors (15-bit picture ids,
//! TL0PICIDX, keyframes that announce their size), and records every packet it receives.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::payload::{vp8_ids, vp8_starts_frame};

/// The layers a simulated camera sends: rid, bits per second, frame size.
pub(crate) const LAYERS: [(&str, u64, (u16, u16)); 3] = [
    ("q", 50_000, (320, 180)),
    ("h", 450_000, (640, 360)),
    ("f", 1_100_000, (1280, 720)),
];
const FRAME_INTERVAL: Duration = Duration::from_millis(33);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// An Opus packet of a 32 kbit/s voice.
const AUDIO_PAYLOAD: usize = 80;
const KEYFRAME_EVERY: u32 = 150;
const MTU_PAYLOAD: usize = 1_100;
/// Where the payload after the VP8 keyframe header says which layer it is, for the tests.
pub(crate) const LAYER_MARK_AT: usize = 10;

/// One received RTP packet, as much as the tests look at.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub at: Instant,
    pub mid: Mid,
    pub kind: MediaKind,
    pub seq_no: u64,
    pub rtp_time: u32,
    /// VP8: the picture id and whether this packet starts a frame, and the layer it came from.
    pub picture_id: Option<u16>,
    pub starts_frame: bool,
    pub layer: Option<u8>,
}

struct Camera {
    mid: Mid,
    /// Per layer: next sequence number, RTP time offset, picture id, TL0PICIDX, keyframe asked.
    layers: [LayerState; 3],
    frames: u32,
    next_frame: Instant,
}

struct LayerState {
    seq_no: u64,
    time_offset: u32,
    picture_id: u16,
    tl0: u8,
    keyframe_wanted: bool,
    /// Dynacast wants it sent.
    active: bool,
    /// The publisher's own uplink lets it send it.
    sendable: bool,
}

struct Microphone {
    mid: Mid,
    seq_no: u64,
    next_packet: Instant,
    packets: u32,
}

pub(crate) struct Client {
    pub name: String,
    pub addr: SocketAddr,
    pub rtc: Rtc,
    camera: Option<Camera>,
    microphone: Option<Microphone>,
    pub received: Vec<Received>,
    /// Keyframe requests that reached this publisher, per layer.
    pub keyframe_requests: [u32; 3],
    next_timeout: Instant,
    /// Whose media each of our receiving mids carries (the stream id the SFU set).
    pub sent_packets: u64,
}

impl Client {
    pub fn new(name: &str, addr: SocketAddr, now: Instant) -> Client {
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(now);
        if let Ok(candidate) = Candidate::host(addr, "udp") {
            let _ = rtc.add_local_candidate(candidate);
        }
        Client {
            name: name.to_owned(),
            addr,
            rtc,
            camera: None,
            microphone: None,
            received: Vec::new(),
            keyframe_requests: [0; 3],
            next_timeout: now,
            sent_packets: 0,
        }
    }

    /// The client's first offer: a simulcast camera and a microphone, or (`publish` false)
    /// only the wish to receive.
    pub fn offer(
        &mut self,
        publish: bool,
        now: Instant,
    ) -> (String, str0m::change::SdpPendingOffer) {
        let mut change = self.rtc.sdp_api();
        if publish {
            let mut simulcast = Simulcast::new();
            for (rid, _, _) in LAYERS {
                simulcast.add_send_layer(SimulcastLayer::new(rid));
            }
            let stream = Some(self.name.clone());
            let video = change.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                stream.clone(),
                None,
                Some(simulcast),
            );
            let audio = change.add_media(MediaKind::Audio, Direction::SendOnly, stream, None, None);
            self.camera = Some(Camera {
                mid: video,
                layers: std::array::from_fn(|i| LayerState {
                    seq_no: 1_000 + 20_000 * i as u64,
                    time_offset: 90_000 * 1_000 * (i as u32 + 1),
                    picture_id: 1_000 * (i as u16 + 1),
                    tl0: 17 * i as u8,
                    keyframe_wanted: true,
                    active: true,
                    sendable: true,
                }),
                frames: 0,
                next_frame: now,
            });
            self.microphone = Some(Microphone {
                mid: audio,
                seq_no: 5_000,
                next_packet: now,
                packets: 0,
            });
        } else {
            change.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            change.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = change.apply().expect("the client has something to offer");
        (offer.to_sdp_string(), pending)
    }

    pub fn accept_answer(&mut self, pending: str0m::change::SdpPendingOffer, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("the SFU's answer parses");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("the SFU's answer is accepted");
    }

    /// Answers a server offer (others' tracks added or removed).
    pub fn answer(&mut self, offer: &str) -> String {
        let offer = SdpOffer::from_sdp_string(offer).expect("the SFU's offer parses");
        self.rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("the SFU's offer is accepted")
            .to_sdp_string()
    }

    /// Dynacast: keep only these rids.
    pub fn set_active_layers(&mut self, active: &[String]) {
        if let Some(camera) = &mut self.camera {
            for (i, (rid, _, _)) in LAYERS.iter().enumerate() {
                let on = active.iter().any(|a| a == rid);
                if on && !camera.layers[i].active {
                    // A re-enabled encoding starts with a keyframe, as a browser's does.
                    camera.layers[i].keyframe_wanted = true;
                }
                camera.layers[i].active = on;
            }
        }
    }

    /// Stops or starts sending one layer whatever dynacast says (the browser's own decision
    /// when its uplink cannot carry it).
    pub fn set_layer_sending(&mut self, layer: usize, on: bool) {
        if let Some(camera) = &mut self.camera {
            if on && !camera.layers[layer].sendable {
                camera.layers[layer].keyframe_wanted = true;
            }
            camera.layers[layer].sendable = on;
        }
    }

    pub fn active_layers(&self) -> Vec<bool> {
        self.camera
            .as_ref()
            .map(|c| c.layers.iter().map(|l| l.active).collect())
            .unwrap_or_default()
    }

    /// The earliest time the client needs to run again.
    pub fn next_due(&self) -> Instant {
        let mut next = self.next_timeout;
        if let Some(camera) = &self.camera {
            next = next.min(camera.next_frame);
        }
        if let Some(mic) = &self.microphone {
            next = next.min(mic.next_packet);
        }
        next
    }

    pub fn receive(&mut self, now: Instant, source: SocketAddr, contents: &[u8]) {
        let Ok(receive) =
            str0m::net::Receive::new(str0m::net::Protocol::Udp, source, self.addr, contents)
        else {
            return;
        };
        let _ = self.rtc.handle_input(Input::Receive(now, receive));
    }

    /// Produces media that is due, feeds the clock, and returns what to send.
    pub fn run(&mut self, now: Instant, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
        if self.rtc.is_connected() {
            self.produce(now);
        }
        if now >= self.next_timeout {
            let _ = self.rtc.handle_input(Input::Timeout(now));
        }
        self.poll(now, out);
    }

    pub fn poll(&mut self, now: Instant, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.next_timeout = at.max(now + Duration::from_micros(100));
                    return;
                }
                Ok(Output::Transmit(transmit)) => {
                    out.push((transmit.destination, transmit.contents.to_vec()));
                }
                Ok(Output::Event(event)) => self.on_event(now, event),
                Err(_) => return,
            }
        }
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::RtpPacket(packet) => {
                let mid = self
                    .rtc
                    .direct_api()
                    .stream_rx(&packet.header.ssrc)
                    .map(|s| s.mid());
                let Some(mid) = mid else { return };
                let kind = self.rtc.media(mid).map_or(MediaKind::Audio, |m| m.kind());
                let video = kind == MediaKind::Video;
                let payload = &packet.payload;
                let ids = if video { vp8_ids(payload) } else { None };
                let starts_frame = video && vp8_starts_frame(payload);
                let descriptor = crate::payload::vp8_descriptor_len(payload).unwrap_or(0);
                let frame = payload.get(descriptor..).unwrap_or(&[]);
                let layer = if starts_frame {
                    frame.get(LAYER_MARK_AT).copied()
                } else {
                    None
                };
                self.received.push(Received {
                    at: now,
                    mid,
                    kind,
                    seq_no: *packet.seq_no,
                    rtp_time: packet.header.timestamp,
                    picture_id: ids.and_then(|i| i.picture_id).map(|(p, _)| p),
                    starts_frame,
                    layer,
                });
            }
            Event::KeyframeRequest(request) => {
                if let Some(camera) = &mut self.camera {
                    let layer = request
                        .rid
                        .and_then(|rid| LAYERS.iter().position(|(r, _, _)| Rid::from(*r) == rid))
                        .unwrap_or(0);
                    camera.layers[layer].keyframe_wanted = true;
                    self.keyframe_requests[layer] += 1;
                }
            }
            _ => {}
        }
    }

    fn produce(&mut self, now: Instant) {
        let opus_pt = self
            .rtc
            .codec_config()
            .find(|p| p.spec().codec == Codec::Opus)
            .map(|p| p.pt());
        let vp8_pt = self
            .rtc
            .codec_config()
            .find(|p| p.spec().codec == Codec::Vp8)
            .map(|p| p.pt());
        if let (Some(mic), Some(pt)) = (&mut self.microphone, opus_pt) {
            while mic.next_packet <= now {
                mic.packets += 1;
                let time = mic.packets.wrapping_mul(960);
                let ext = ExtensionValues {
                    audio_level: Some(30),
                    voice_activity: Some(true),
                    ..ExtensionValues::default()
                };
                let mut direct = self.rtc.direct_api();
                if let Some(stream) = direct.stream_tx_by_mid(mic.mid, None) {
                    let write = RtpWrite::new(
                        pt,
                        mic.seq_no.into(),
                        time,
                        mic.next_packet,
                        vec![0xf8; AUDIO_PAYLOAD],
                    )
                    .ext_vals(ext)
                    .marker(false);
                    stream.write_rtp(write);
                    self.sent_packets += 1;
                }
                mic.seq_no += 1;
                mic.next_packet += AUDIO_INTERVAL;
            }
        }
        let (Some(camera), Some(pt)) = (&mut self.camera, vp8_pt) else {
            return;
        };
        while camera.next_frame <= now {
            camera.frames += 1;
            let frame_time = camera.frames.wrapping_mul(3_000);
            for (index, (rid, bitrate, (width, height))) in LAYERS.iter().enumerate() {
                let state = &mut camera.layers[index];
                // The lowest layer runs at half the frame rate, as browsers are asked to.
                if !state.active || !state.sendable || (index == 0 && camera.frames % 2 == 0) {
                    continue;
                }
                let keyframe = state.keyframe_wanted || camera.frames % KEYFRAME_EVERY == 1;
                state.keyframe_wanted = false;
                let fps = if index == 0 { 15 } else { 30 };
                let size = (*bitrate as usize / 8 / fps) * if keyframe { 3 } else { 1 };
                let mut frame = vec![0u8; size.max(LAYER_MARK_AT + 1)];
                frame[0] = if keyframe { 0x00 } else { 0x01 };
                if keyframe {
                    frame[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
                    frame[6..8].copy_from_slice(&width.to_le_bytes());
                    frame[8..10].copy_from_slice(&height.to_le_bytes());
                }
                frame[LAYER_MARK_AT] = index as u8;
                state.picture_id = (state.picture_id + 1) % 32_768;
                state.tl0 = state.tl0.wrapping_add(1);
                let chunks: Vec<&[u8]> = frame.chunks(MTU_PAYLOAD).collect();
                let last = chunks.len() - 1;
                let mut direct = self.rtc.direct_api();
                let Some(stream) = direct.stream_tx_by_mid(camera.mid, Some(Rid::from(*rid)))
                else {
                    continue;
                };
                for (i, chunk) in chunks.iter().enumerate() {
                    let first = i == 0;
                    let mut payload = vec![
                        if first { 0x90 } else { 0x80 },
                        0xe0,
                        0x80 | (state.picture_id >> 8) as u8,
                        state.picture_id as u8,
                        state.tl0,
                        0x00,
                    ];
                    payload.extend_from_slice(chunk);
                    let write = RtpWrite::new(
                        pt,
                        state.seq_no.into(),
                        frame_time.wrapping_add(state.time_offset),
                        camera.next_frame,
                        payload,
                    )
                    .marker(i == last)
                    .nackable(true);
                    stream.write_rtp(write);
                    state.seq_no += 1;
                    self.sent_packets += 1;
                }
            }
            camera.next_frame += FRAME_INTERVAL;
        }
    }
}
