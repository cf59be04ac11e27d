// Our camera as simulcast layers, and turning them on and off: the SFU's `publish_layers`
// (dynacast: a layer nobody receives is not worth the village uplink) and voice-only mode.
//
// rids go from low to high (q, h, f), the order docs/protocol.md ("Simulcast and weak networks")
// ranks them by. H.264 is sent as one plain encoding: the SFU forwards it as a single layer.

// The lowest layer is what a party on a weak village link sees: two of them and two voices must
// fit in 300 kbit/s with room for the estimate to wander, so it is lean (10 frames a second
// suffice for a face that is talking). Measured with a noisy camera picture: 50 kbit/s costs
// about 57 with packet headers; at 70 the two layers and two voices filled 85 % of the link.
const LAYERS = [
  { rid: 'q', maxBitrate: 50000, maxFramerate: 10 },
  { rid: 'h', maxBitrate: 500000 },
  { rid: 'f', maxBitrate: 1200000 },
];

// The sendEncodings for a camera track, or null for one plain encoding. Counted from what the
// camera really gives, not what we asked for: cheap phones deliver less, and a layer scaled up
// from a small picture only wastes the uplink. The short side decides, so a phone held upright
// (720x1280) counts as 720p.
export function cameraEncodings(track) {
  const s = (track && track.getSettings && track.getSettings()) || {};
  const short = s.width && s.height ? Math.min(s.width, s.height) : s.height || 0;
  const count = short >= 720 ? 3 : short >= 360 ? 2 : 1;
  if (count < 2 || !canSendVp8()) return null;
  return LAYERS.slice(0, count).map((layer, i) => ({ ...layer, scaleResolutionDownBy: 2 ** (count - 1 - i) }));
}

// A device whose browser cannot encode VP8 (some phones have only a hardware H.264 encoder)
// sends one layer, as before simulcast.
function canSendVp8() {
  const caps = window.RTCRtpSender && RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities('video');
  return !caps || caps.codecs.some((c) => /^video\/vp8$/i.test(c.mimeType));
}

// True if the offer's simulcast section can carry VP8. Codec preferences set on a transceiver
// (an H.264-only device, or the tests that pose as one) cannot be read back, only seen here.
export function offerSendsVp8Simulcast(sdp) {
  const section = sdp.split(/\r?\nm=/).find((s) => s.startsWith('video') && /\na=simulcast:send/.test(s));
  return !section || /\na=rtpmap:\d+ VP8\/90000/i.test(section);
}

// The sending side of our video transceiver. Every change to the sender goes through one chain:
// getParameters/setParameters is a transaction that a second change in flight would break.
// `active` is the product of two wishes, voice-only mode and publish_layers, kept apart so that
// leaving voice-only brings back just the layers the SFU still wants.
export class VideoSender {
  // encodings: what we asked for (null: one plain encoding). onChange({rids, active, sending})
  // reports what is really configured, for window.concord.
  constructor(transceiver, track, encodings, onChange) {
    this.transceiver = transceiver;
    this.track = track;
    this.asked = encodings ? encodings.length : 1;
    this.onChange = onChange || (() => {});
    this.sending = true; // the camera track is on the sender (false in voice-only mode)
    this.wanted = null; // rids the SFU last asked for (publish_layers); null: all of them
    this.chain = Promise.resolve();
    this.report();
  }

  get sender() {
    return this.transceiver.sender;
  }

  get mid() {
    return this.transceiver.mid;
  }

  encodings() {
    try {
      return this.sender.getParameters().encodings || [];
    } catch {
      return [];
    }
  }

  // Runs fn after every earlier change; never rejects, so callers (the signaling queue among
  // them) cannot be broken by a browser that refuses a change.
  run(what, fn) {
    this.chain = this.chain.then(fn).catch((e) => console.warn(`layers: ${what} failed`, e)).then(() => this.report());
    return this.chain;
  }

  // After each negotiation. An SFU that did not accept simulcast leaves only the first, smallest
  // encoding: send that one at full size instead of a thumbnail. And Chromium sets every
  // encoding active again when the answer arrives, so what was switched off before (voice-only
  // from the start, after a rejoin) is switched off again.
  negotiated() {
    return this.run('settling the encodings after negotiation', async () => {
      const params = this.sender.getParameters();
      const enc = params.encodings && params.encodings.length === 1 ? params.encodings[0] : null;
      if (this.asked > 1 && enc && (enc.scaleResolutionDownBy !== 1 || enc.maxBitrate !== LAYERS[2].maxBitrate)) {
        enc.scaleResolutionDownBy = 1;
        enc.maxBitrate = LAYERS[2].maxBitrate;
        delete enc.maxFramerate;
        console.info('layers: the answer refused simulcast; sending one full-size encoding');
        await this.sender.setParameters(params);
      }
      await this.applyActive();
    });
  }

  // publish_layers: keep exactly the encodings whose rid is listed. Unknown rids are ignored; a
  // plain encoding (no rid) stays on unless the list is empty, which pauses the video at source.
  setActive(rids) {
    if (!Array.isArray(rids)) {
      console.warn('layers: publish_layers without a list of rids; ignored');
      return this.chain;
    }
    this.wanted = new Set(rids.filter((r) => typeof r === 'string'));
    return this.run('publish_layers', () => this.applyActive());
  }

  // Voice-only mode: the track leaves the sender and every encoding is switched off (with only
  // the track gone, Chromium was seen still sending 1.2 Mbit/s on the top layer); the camera
  // stays open, so coming back is instant and needs no renegotiation.
  setSending(on) {
    if (this.sending === on) return this.chain;
    this.sending = on;
    return this.run('switching the camera on the sender', async () => {
      if (on) await this.sender.replaceTrack(this.track);
      await this.applyActive();
      if (!on) await this.sender.replaceTrack(null);
    });
  }

  // Sets each encoding's `active` from voice-only mode and the SFU's last publish_layers.
  // getParameters and setParameters back to back: nothing may run in between.
  async applyActive() {
    const wanted = this.wanted;
    const params = this.sender.getParameters();
    let changed = false;
    for (const enc of params.encodings || []) {
      const asked = !wanted || (enc.rid ? wanted.has(enc.rid) : wanted.size > 0);
      const on = this.sending && asked;
      if (enc.active !== on) {
        enc.active = on;
        changed = true;
      }
    }
    if (changed) await this.sender.setParameters(params);
  }

  report() {
    const encodings = this.encodings();
    this.onChange({
      rids: encodings.map((e) => e.rid).filter(Boolean),
      active: encodings.filter((e) => e.active !== false).map((e) => e.rid).filter(Boolean),
      sending: this.sending && encodings.some((e) => e.active !== false),
    });
  }
}
