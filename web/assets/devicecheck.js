// The device check before joining: camera preview, microphone level, on/off switches, and a
// plain explanation when something is missing. Joining is always possible, even with nothing.
import { h, mount, setText, icon } from './dom.js';
import { getLocalMedia, MicLevel, stopStream } from './media.js';

export class DeviceCheck {
  // onReady() runs each time the check settles (devices found or not), so the page can enable
  // its join button.
  constructor({ onReady }) {
    this.onReady = onReady;
    this.stream = null;
    this.level = null;
    this.video = h('video', { class: 'preview-video', autoplay: true, playsinline: true });
    this.video.muted = true; // hearing yourself through the speaker causes feedback
    this.previewNote = h('p', { class: 'preview-note' });
    this.meterBar = h('div', { class: 'meter-bar' });
    this.meter = h('div', { class: 'meter', testid: 'mic-level', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100 }, this.meterBar);
    this.camButton = h('button', { type: 'button', class: 'toggle', testid: 'toggle-camera', on: { click: () => this.toggle('video') } });
    this.micButton = h('button', { type: 'button', class: 'toggle', testid: 'toggle-mic', on: { click: () => this.toggle('audio') } });
    this.problem = h('div', { class: 'notice', testid: 'device-problem', hidden: true });
    this.el = h('section', { class: 'device-check', testid: 'device-check' },
      h('h2', { i18n: 'check.title' }),
      this.problem,
      h('div', { class: 'preview' }, this.video, this.previewNote),
      h('div', { class: 'meter-row' }, icon('mic'), this.meter),
      h('p', { class: 'hint', i18n: 'check.speak_hint' }),
      h('div', { class: 'toggles' }, this.camButton, this.micButton),
    );
  }

  // For observers: nothing to check, they only watch and listen.
  showWatchOnly() {
    mount(this.el, h('h2', { i18n: 'check.title' }), h('p', { class: 'notice', i18n: 'check.observer' }));
    this.onReady();
  }

  async start() {
    this.stop();
    this.problem.hidden = true;
    setText(this.previewNote, 'check.opening');
    this.previewNote.hidden = false;
    // Labelled while the devices open, so the buttons never look empty.
    this.drawPending(this.camButton, 'cam', 'video');
    this.drawPending(this.micButton, 'mic', 'audio');
    const { stream, problem } = await getLocalMedia();
    this.stream = stream;
    this.video.srcObject = stream && stream.getVideoTracks().length ? stream : null;
    if (this.video.srcObject) this.video.play().catch(() => {});
    if (stream && stream.getAudioTracks().length) {
      this.level = new MicLevel(stream, (v) => {
        this.meterBar.style.width = `${Math.round(v * 100)}%`;
        this.meter.setAttribute('aria-valuenow', String(Math.round(v * 100)));
      });
    }
    this.showProblem(problem);
    this.render();
    this.onReady();
  }

  showProblem(problem) {
    this.problem.hidden = !problem;
    if (!problem) return;
    this.problem.dataset.problem = problem;
    const retry = ['denied', 'in-use', 'no-device', 'no-camera', 'no-mic'].includes(problem);
    mount(this.problem,
      h('p', { i18n: `check.problem_${problem}` }),
      h('p', { class: 'hint', i18n: 'check.can_still_join' }),
      retry && h('button', { type: 'button', class: 'btn btn-quiet', testid: 'retry-devices', i18n: 'check.retry', on: { click: () => this.start() } }),
    );
  }

  track(kind) {
    if (!this.stream) return undefined;
    return (kind === 'audio' ? this.stream.getAudioTracks() : this.stream.getVideoTracks())[0];
  }

  // Switching off keeps the device open but sends nothing (track.enabled), so switching on again
  // needs no new permission.
  toggle(kind) {
    const track = this.track(kind);
    if (!track) return;
    track.enabled = !track.enabled;
    this.render();
  }

  render() {
    const cam = this.track('video');
    const mic = this.track('audio');
    this.drawToggle(this.camButton, cam, 'cam', 'video');
    this.drawToggle(this.micButton, mic, 'mic', 'audio');
    const showVideo = cam && cam.enabled;
    this.video.hidden = !showVideo;
    this.previewNote.hidden = !!showVideo;
    if (!showVideo) setText(this.previewNote, cam ? 'check.camera_off' : 'check.no_camera');
    this.meter.classList.toggle('off', !(mic && mic.enabled));
  }

  drawPending(button, iconName, kind) {
    button.disabled = true;
    mount(button, icon(iconName), h('span', { i18n: `room.${kind}_label` }));
  }

  drawToggle(button, track, iconName, kind) {
    const on = !!track && track.enabled;
    button.disabled = !track;
    button.setAttribute('aria-pressed', String(on));
    button.classList.toggle('off', !on);
    mount(button, icon(on ? iconName : `${iconName}-off`), h('span', { i18n: !track ? `room.no_${kind}` : `room.${kind}_${on ? 'on' : 'off'}` }));
  }

  // Hands the stream over to the room; the preview lets go of it.
  takeStream() {
    const stream = this.stream;
    this.stream = null;
    this.stopLevel();
    this.video.srcObject = null;
    return stream;
  }

  stopLevel() {
    if (this.level) this.level.stop();
    this.level = null;
  }

  stop() {
    this.stopLevel();
    stopStream(this.stream);
    this.stream = null;
    this.video.srcObject = null;
  }
}
