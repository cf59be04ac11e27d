// Showing one's screen or a window (a cadastral map, a certificate on a computer): the
// mediator, a clerk or an expert shares it, and everyone sees it large above the cameras,
// which shrink to a strip. It goes out as one more video of ours (peer.js); the server sends it
// to the others as the stream `{sharer}.screen`, records it as its own file, and tells everyone
// who shares with `screen_share`. One screen at a time: a new share replaces the one before.
import { h, icon, setText } from './dom.js';
import { say } from './elder.js';
import { setStatus } from './state.js';

const SHARING_ROLES = ['mediator', 'staff', 'expert'];
const SCREEN_SUFFIX = '.screen';

// The participant whose screen a remote stream is, or null for a camera and voice.
export function screenOwner(streamId) {
  return streamId.endsWith(SCREEN_SUFFIX) ? streamId.slice(0, -SCREEN_SUFFIX.length) : null;
}

export class ScreenShareUI {
  // send(message); run(task): runs on the signaling queue (offers stay in order);
  // peer(): the current Peer; nameOf(id): a participant's name; onChange(): layout changed.
  constructor({ send, run, peer, nameOf, onChange }) {
    Object.assign(this, { send, run, peer, nameOf, onChange });
    this.selfId = null;
    this.sharer = null; // who shares now, by the server's word
    this.local = null; // our own screen track while we share
    this.streams = new Map(); // sharer id -> MediaStream of their screen

    this.video = h('video', { autoplay: true, playsinline: true, testid: 'screen-video' });
    this.video.muted = true; // sound comes with the sharer's camera stream
    this.caption = h('p', { class: 'stage-caption', testid: 'screen-caption', role: 'status' });
    this.stopButton = h('button', {
      type: 'button', class: 'btn btn-quiet', testid: 'screen-stop', i18n: 'screen.stop', hidden: true,
      on: { click: () => this.stop() },
    });
    this.stage = h('section', { class: 'stage', testid: 'screen-stage', hidden: true },
      this.video, h('div', { class: 'stage-bar' }, this.caption, this.stopButton));
    this.button = h('button', {
      type: 'button', class: 'ctl', testid: 'share-screen', hidden: true,
      on: { click: () => (this.local ? this.stop() : this.start()) },
    }, icon('share'), h('span', { class: 'ctl-text', i18n: 'screen.share' }));
  }

  // Our `joined`: whether we may share (on a device that can), and who shares now.
  arrive({ selfId, role, sharer }) {
    this.selfId = selfId;
    const canCapture = !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    this.button.hidden = !(SHARING_ROLES.includes(role) && canCapture);
    this.update(sharer || null);
  }

  addStream(owner, stream) {
    this.streams.set(owner, stream);
    this.render();
  }

  // `screen_share`: who shares now.
  update(sharer) {
    const before = this.sharer;
    this.sharer = sharer;
    // Someone else took over the screen: ours stops, as the server no longer shows it.
    if (this.local && sharer !== this.selfId) this.endLocal();
    if (sharer && sharer !== before && sharer !== this.selfId) say('screen.started_spoken');
    this.render();
  }

  async start() {
    let media;
    try {
      media = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 5 }, audio: false });
    } catch (e) {
      console.warn('screen: not shared', e);
      return; // the person cancelled the browser's picker, or it is not allowed
    }
    const track = media.getVideoTracks()[0];
    if (!track) return;
    // A map or a document: keep it sharp and let the frame rate give way.
    track.contentHint = 'detail';
    track.onended = () => this.stop(); // "stop sharing" in the browser's own bar
    this.local = track;
    this.run(async () => {
      const peer = this.peer();
      if (!peer || this.local !== track) return;
      await peer.shareScreen(track);
      this.send({ type: 'share_screen', sharing: true });
    });
    setStatus({ screenSharing: true });
    this.render();
  }

  stop() {
    if (!this.local) return;
    this.endLocal();
    this.send({ type: 'share_screen', sharing: false });
    this.render();
  }

  endLocal() {
    const track = this.local;
    this.local = null;
    if (track) {
      track.onended = null;
      track.stop();
    }
    this.run(async () => { const peer = this.peer(); if (peer) await peer.stopScreen(); });
    setStatus({ screenSharing: false });
  }

  // The peer connection was replaced: a share does not carry over to it.
  peerReplaced() {
    if (this.local) this.stop();
    this.streams.clear();
    this.render();
  }

  // The sharer left: their screen goes with them.
  participantLeft(id) {
    this.streams.delete(id);
    this.render();
  }

  render() {
    const mine = this.sharer && this.sharer === this.selfId;
    const stream = this.sharer && !mine ? this.streams.get(this.sharer) : null;
    const showing = !!this.sharer && (mine ? !!this.local : !!stream);
    if (mine && this.local) {
      const own = this.video.srcObject;
      if (!own || own.getVideoTracks()[0] !== this.local) this.video.srcObject = new MediaStream([this.local]);
    } else if (this.video.srcObject !== stream) {
      this.video.srcObject = stream;
    }
    if (showing) this.video.play().catch(() => {});
    this.stage.hidden = !showing;
    this.stage.dataset.sharer = this.sharer || '';
    if (mine) setText(this.caption, 'screen.you_are_sharing');
    else if (this.sharer) setText(this.caption, 'screen.sharing', { name: this.nameOf(this.sharer) || '' });
    this.stopButton.hidden = !(mine && this.local);
    this.button.classList.toggle('on', !!this.local);
    this.button.setAttribute('aria-pressed', String(!!this.local));
    setText(this.button.lastChild, this.local ? 'screen.stop' : 'screen.share');
    setStatus({ screenSharer: this.sharer, screenShown: showing });
    this.onChange(showing);
  }
}
