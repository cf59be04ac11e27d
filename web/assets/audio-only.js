// Voice-only mode ("仅语音"): one tap and no video is sent or received, so a weak village link
// carries the voices that the mediation depends on. The room does the switching (onChange);
// this module owns the button and the suggestion to switch when our own downlink stays very
// low or cannot carry the videos. It only ever suggests: people choose, since a face can
// matter to them more than the sound quality.
import { h, icon, setLabel } from './dom.js';

const LOW_KBPS = 120; // below this, audio plus the smallest video layer no longer fits well
const LOW_FOR_MS = 10000; // a dip while the estimate ramps up is no reason to ask
const SNOOZE_MS = 5 * 60000; // after "no, thanks", do not ask again for a while

export class AudioOnly {
  // onChange(enabled): the room stops or restarts video and tells the server.
  constructor({ onChange }) {
    this.onChange = onChange;
    this.enabled = false;
    this.lowTimer = null;
    this.snoozedUntil = 0;
    this.button = h('button', {
      type: 'button', class: 'ctl ctl-voice', testid: 'audio-only', on: { click: () => this.set(!this.enabled) },
    }, h('span', { class: 'ctl-icon' }, icon('voice')), h('span', { class: 'ctl-text', i18n: 'room.audio_only' }));
    this.suggestion = h('div', { class: 'suggest', testid: 'audio-only-suggestion', role: 'status', hidden: true },
      h('span', { i18n: 'suggest.audio_only' }),
      h('span', { class: 'suggest-actions' },
        h('button', { type: 'button', class: 'btn btn-go', testid: 'suggest-audio-only', i18n: 'suggest.audio_only_button', on: { click: () => this.set(true) } }),
        h('button', { type: 'button', class: 'btn btn-quiet', testid: 'suggest-dismiss', i18n: 'suggest.dismiss', on: { click: () => this.dismiss() } })));
    this.render();
  }

  set(enabled) {
    if (enabled === this.enabled) return;
    this.enabled = enabled;
    this.suggestion.hidden = true;
    this.render();
    this.onChange(enabled);
  }

  render() {
    this.button.setAttribute('aria-pressed', String(this.enabled));
    this.button.classList.toggle('on', this.enabled);
    setLabel(this.button, this.enabled ? 'room.audio_only_leave' : 'room.audio_only_enter');
  }

  // Our own downlink from each `quality` message: the estimate, and how many of the videos we
  // receive the server has paused for bandwidth (the estimate wanders; a paused video means
  // the link could not carry it). The server sends them only when something changed, so a
  // weak spell that holds is timed here, not counted in messages.
  downlink(kbps, videosPaused = 0) {
    if (typeof kbps !== 'number' || !Number.isFinite(kbps)) return;
    const weak = kbps < LOW_KBPS || (Number.isFinite(videosPaused) && videosPaused > 0);
    if (!weak) {
      clearTimeout(this.lowTimer);
      this.lowTimer = null;
      this.suggestion.hidden = true;
      return;
    }
    // lowTimer stays set after it fires: one suggestion per low spell, not one per message.
    if (this.lowTimer || this.enabled) return;
    this.lowTimer = setTimeout(() => {
      if (!this.enabled && Date.now() >= this.snoozedUntil) this.suggestion.hidden = false;
    }, LOW_FOR_MS);
  }

  dismiss() {
    this.suggestion.hidden = true;
    this.snoozedUntil = Date.now() + SNOOZE_MS;
  }

  stop() {
    clearTimeout(this.lowTimer);
    this.lowTimer = null;
    this.suggestion.hidden = true;
  }
}
