// The one RTCPeerConnection between this browser and the SFU.
//
// We offer once (our own camera and microphone, sendonly); afterwards the server offers each
// time other people's tracks are added or removed and we answer. The server is ICE-lite and puts
// its candidate in its SDP, so we only trickle ours. Methods are called from the signaling queue,
// one at a time, which is what keeps offers and answers in order.
//
// The camera goes out as simulcast layers where it can (layers.js); `video` is its sender, for
// publish_layers and voice-only mode.
import { cameraEncodings, offerSendsVp8Simulcast, VideoSender } from './layers.js';

// Opus carries speech clearly at 24 kbit/s (browsers default to 32). Every voice goes to every
// party, so on a village link of 300 kbit/s this is what leaves room for two faces.
const VOICE_BITRATE = 24000;
// A shared screen is mostly still (a map, a document): a few frames a second, sharp, and
// little once the picture stops changing.
const SCREEN_BITRATE = 800000;
const SCREEN_FRAME_RATE = 5;

export class Peer {
  // localStream: our MediaStream or null; publish: false for observers; simulcast: false when
  // the server asks for one stream per camera.
  // send(msg): to the signaling socket. onTrack(participantId, stream). onState(connectionState).
  // onLayers({rids, active, sending}): what our video sender is configured to send.
  // iceServers: the TURN servers (with this participant's credentials) the server handed us.
  constructor({ localStream, publish, simulcast = true, iceServers = [], send, onTrack, onState, onLayers }) {
    Object.assign(this, { localStream, publish, iceServers, send, onTrack, onState, onLayers });
    this.offerPending = false; // our offer was sent and its answer has not come yet
    this.closed = false;
    this.build({ simulcast });
  }

  build({ simulcast }) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    this.video = null;
    this.screen = null; // the transceiver of our shared screen, once we have shared

    const kinds = new Set();
    const stream = this.localStream;
    if (this.publish && stream) {
      for (const track of stream.getTracks()) {
        if (track.kind === 'video') this.video = this.addCamera(track, simulcast);
        else pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], sendEncodings: [{ maxBitrate: VOICE_BITRATE }] });
        kinds.add(track.kind);
      }
    }
    // Without something to send, an offer would have no m-lines at all and nothing to bundle
    // the server's tracks onto: ask to receive each missing kind instead.
    for (const kind of ['audio', 'video']) {
      if (!kinds.has(kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
    }

    pc.onicecandidate = (ev) => {
      if (ev.candidate && ev.candidate.candidate) {
        this.send({ type: 'candidate', candidate: ev.candidate.candidate });
      }
    };
    pc.ontrack = (ev) => {
      // The server sets each track's stream id to the publishing participant's id.
      const remote = ev.streams && ev.streams[0];
      if (remote) this.onTrack(remote.id, remote);
      else console.warn('peer: a track arrived without a stream id; cannot tell whose it is');
    };
    pc.onconnectionstatechange = () => !this.closed && this.onState(pc.connectionState);
  }

  addCamera(track, simulcast) {
    const init = { direction: 'sendonly', streams: [this.localStream] };
    const encodings = simulcast ? cameraEncodings(track) : null;
    if (encodings) {
      try {
        const transceiver = this.pc.addTransceiver(track, { ...init, sendEncodings: encodings });
        return new VideoSender(transceiver, track, encodings, this.onLayers);
      } catch (e) {
        console.warn('peer: this browser refused simulcast; sending one encoding', e);
      }
    }
    return new VideoSender(this.pc.addTransceiver(track, init), track, null, this.onLayers);
  }

  // Before our first offer is out: a camera transceiver that will not carry VP8 (H.264 only) is
  // rebuilt with one plain encoding. A fresh connection rather than a stopped transceiver, which
  // Chromium can leave tangled with its replacement's m-line.
  async firstOffer() {
    const offer = await this.pc.createOffer();
    const sending = this.video && this.video.sending;
    const untouched = !this.closed && !this.pc.remoteDescription && this.video && !this.video.mid;
    if (!untouched || this.video.asked < 2 || offerSendsVp8Simulcast(offer.sdp)) return offer;
    console.info('peer: the camera will not be sent as VP8; sending one H.264 layer');
    this.detach();
    this.pc.close();
    this.build({ simulcast: false });
    if (this.video && !sending) this.video.setSending(false);
    return this.pc.createOffer();
  }

  async offer() {
    const offer = await this.firstOffer();
    await this.pc.setLocalDescription(offer);
    this.offerPending = true;
    const screenMid = this.screen && this.screen.mid;
    this.send({ type: 'offer', sdp: this.pc.localDescription.sdp, ...(screenMid ? { screen_mid: screenMid } : {}) });
  }

  // Shares `track` (from getDisplayMedia). The first share adds a video and offers it, naming
  // it as the screen; later ones reuse it, with no renegotiation.
  async shareScreen(track) {
    if (this.closed) return;
    if (this.screen) {
      await this.screen.sender.replaceTrack(track);
      return;
    }
    this.screen = this.pc.addTransceiver(track, {
      direction: 'sendonly',
      sendEncodings: [{ maxBitrate: SCREEN_BITRATE, maxFramerate: SCREEN_FRAME_RATE }],
    });
    await this.offer();
  }

  // Stops sending the screen; its place stays for the next share.
  async stopScreen() {
    if (this.screen && !this.closed) await this.screen.sender.replaceTrack(null);
  }

  async acceptAnswer(sdp) {
    if (this.pc.signalingState !== 'have-local-offer') {
      console.warn(`peer: ignoring an answer in state ${this.pc.signalingState}`);
      return;
    }
    await this.pc.setRemoteDescription({ type: 'answer', sdp: withOpusDtx(sdp) });
    this.offerPending = false;
    if (this.video) this.video.negotiated();
  }

  // A server offer. We are the polite side: if our own offer is still out, drop it, answer the
  // server, then offer again, so our tracks still get negotiated.
  async acceptOffer(sdp) {
    let reoffer = false;
    if (this.pc.signalingState === 'have-local-offer') {
      await this.pc.setLocalDescription({ type: 'rollback' });
      reoffer = this.offerPending;
      this.offerPending = false;
    }
    await this.pc.setRemoteDescription({ type: 'offer', sdp: withOpusDtx(sdp) });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.send({ type: 'answer', sdp: this.pc.localDescription.sdp });
    if (this.video) this.video.negotiated();
    if (reoffer) await this.offer();
  }

  // An ICE restart on this same connection: new credentials, the same tracks, so the server
  // keeps forwarding and nobody sees us leave. What a phone that changed networks, or lost its
  // path for a while, needs. False when it cannot be tried now (an exchange is under way).
  async restartIce() {
    if (this.closed || this.pc.signalingState !== 'stable') return false;
    this.pc.restartIce();
    await this.offer();
    return true;
  }

  // Candidates from the server are not expected (ICE-lite), but harmless to accept.
  async addCandidate(candidate) {
    if (!candidate) return;
    const line = candidate.startsWith('candidate:') ? candidate : `candidate:${candidate}`;
    try {
      await this.pc.addIceCandidate({ candidate: line, sdpMid: '0', sdpMLineIndex: 0 });
    } catch (e) {
      console.warn('peer: could not add a server candidate', e);
    }
  }

  // publish_layers from the SFU. Never throws: a refused change is logged, not fatal.
  publishLayers(mid, active) {
    const video = this.video;
    if (!video || this.closed || video.mid == null || video.mid !== mid) {
      console.warn(`peer: publish_layers for mid ${mid}, which is not our camera`);
      return;
    }
    video.setActive(active);
  }

  // Voice-only mode: stop or restart sending our camera, keeping the device open.
  setVideoSending(on) {
    if (this.video && !this.closed) this.video.setSending(on);
  }

  detach() {
    this.pc.onicecandidate = null;
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
  }

  close() {
    this.closed = true;
    this.detach();
    this.pc.close();
  }
}

// Asks our browser for Opus with discontinuous transmission: while a participant is silent (or
// muted) it sends a comfort-noise frame every 400 ms instead of 50 packets a second. In a
// mediation most people listen most of the time, so on a village link the voices cost a
// fraction. The browser reads this from the other side's description, and the SFU's does not
// ask for it, so it is added to what we apply (the SFU forwards the packets as they come).
export function withOpusDtx(sdp) {
  const opus = new Set([...sdp.matchAll(/^a=rtpmap:(\d+) opus\/48000/gim)].map((m) => m[1]));
  return sdp
    .split('\r\n')
    .map((line) => {
      const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
      return fmtp && opus.has(fmtp[1]) && !/usedtx=/.test(fmtp[2]) ? `${line};usedtx=1` : line;
    })
    .join('\r\n');
}
