// The one RTCPeerConnection between this browser and the SFU.
//
// We offer once (our own camera and microphone, sendonly); afterwards the server offers each
// time other people's tracks are added or removed and we answer. The server is ICE-lite and puts
// its candidate in its SDP, so we only trickle ours. Methods are called from the signaling queue,
// one at a time, which is what keeps offers and answers in order.

export class Peer {
  // localStream: our MediaStream or null; publish: false for observers.
  // send(msg): to the signaling socket. onTrack(participantId, stream). onState(connectionState).
  constructor({ localStream, publish, send, onTrack, onState }) {
    this.send = send;
    this.onState = onState;
    this.offerPending = false; // our offer was sent and its answer has not come yet
    this.closed = false;
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
    this.pc = pc;

    const kinds = new Set();
    if (publish && localStream) {
      for (const track of localStream.getTracks()) {
        pc.addTransceiver(track, { direction: 'sendonly', streams: [localStream] });
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
      const stream = ev.streams && ev.streams[0];
      if (stream) onTrack(stream.id, stream);
      else console.warn('peer: a track arrived without a stream id; cannot tell whose it is');
    };
    pc.onconnectionstatechange = () => !this.closed && this.onState(pc.connectionState);
  }

  async offer() {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.offerPending = true;
    this.send({ type: 'offer', sdp: this.pc.localDescription.sdp });
  }

  async acceptAnswer(sdp) {
    if (this.pc.signalingState !== 'have-local-offer') {
      console.warn(`peer: ignoring an answer in state ${this.pc.signalingState}`);
      return;
    }
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    this.offerPending = false;
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
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.send({ type: 'answer', sdp: this.pc.localDescription.sdp });
    if (reoffer) await this.offer();
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

  close() {
    this.closed = true;
    this.pc.onicecandidate = null;
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
    this.pc.close();
  }
}
