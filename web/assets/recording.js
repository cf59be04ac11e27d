// Recording in the room (docs/protocol.md: `start_recording`, `stop_recording`, `recording`,
// `recording_consent`). Everyone sees the indicator while recording is announced or running;
// everyone but the host is asked whether they agree; the host has the record button and sees
// the answers. Nothing here blocks the call: the question is a card, not a modal.
import { h, icon, mount, setText, setLabel } from './dom.js';
import { t } from './i18n.js';
import { say } from './elder.js';
import { setStatus } from './state.js';

const STATES = ['off', 'notice', 'on', 'failed'];
// If the server neither changes the state nor refuses within this time, the host may tap again.
const PENDING_MS = 10000;

const active = (state) => state === 'notice' || state === 'on';

export class RecordingUI {
  // send(msg) -> bool: to the server. toast(key, vars): a note in the room's event list.
  constructor({ send, toast }) {
    this.send = send;
    this.toast = toast;
    this.state = 'off';
    this.isHost = false;
    this.admitted = false; // the question is only put (and answerable) once in the room
    this.startsAt = null; // local clock time the notice period ends, if the server said
    this.message = '';
    this.timer = null;
    this.shownLeft = null;
    this.asked = false; // the consent question was put for the current recording
    this.answer = null; // this participant's answer (true / false) for the current recording
    this.pending = false;
    this.pendingTimer = null;
    this.answers = new Map(); // participant id -> { id, name, consent } (host only)

    // Everyone: the indicator, and the answer they gave.
    this.text = h('span', { class: 'rec-text' });
    this.indicator = h('div', { class: 'rec-indicator', testid: 'recording-indicator', role: 'status', hidden: true, dataset: { state: 'off' } },
      h('span', { class: 'rec-dot', 'aria-hidden': 'true' }), this.text);
    this.answered = h('p', { class: 'rec-answered', testid: 'consent-answered', hidden: true });
    this.prompt = h('div', { class: 'consent-prompt', testid: 'consent-prompt', role: 'group', 'aria-labelledby': 'consent-question', hidden: true });
    this.el = h('div', { class: 'rec-strip' }, this.indicator, this.answered, this.prompt);

    // The host: the button for the control bar and the list of answers.
    this.button = h('button', { type: 'button', class: 'ctl ctl-rec', testid: 'record-button', on: { click: () => this.toggle() } },
      h('span', { class: 'ctl-icon' }), h('span', { class: 'ctl-text' }));
    this.answersList = h('ul', { class: 'consent-list' });
    this.answersPanel = h('section', { class: 'consent-panel', testid: 'consent-answers', hidden: true },
      h('h2', { class: 'consent-title', i18n: 'rec.answers_title' }), this.answersList);
    this.draw();
  }

  // On `joined`: who we are and the state now. The protocol gives the state as a string; an
  // object like a `recording` message is accepted too.
  arrive({ isHost, recording }) {
    this.isHost = isHost;
    this.admitted = true;
    const msg = recording && typeof recording === 'object' ? recording : { state: recording || 'off' };
    this.update(msg, { arrival: true });
  }

  // A `recording` message: { state, starts_in_ms?, message? }.
  update(msg, { arrival = false } = {}) {
    const state = STATES.includes(msg.state) ? msg.state : 'off';
    const before = this.state;
    if (active(state) && !active(before)) {
      // A new recording: a new question, and a fresh list of answers for the host.
      this.asked = false;
      this.answer = null;
      this.answers.clear();
      this.drawAnswers();
    }
    this.state = state;
    this.message = state === 'failed' ? String(msg.message || '') : '';
    if (state === 'notice') {
      const ms = Number(msg.starts_in_ms);
      if (Number.isFinite(ms)) this.startsAt = Date.now() + Math.max(0, ms);
      else if (before !== 'notice') this.startsAt = null;
    }
    this.settle();
    setStatus({ recording: state });
    if (!arrival && state === 'on' && before !== 'on') this.toast('event.recording_on');
    if (!arrival && state === 'off' && active(before)) this.toast('event.recording_off');
    if (active(state) && this.admitted && !this.isHost && !this.asked) this.ask();
    if (!active(state)) this.prompt.hidden = true;
    this.draw();
  }

  // A `recording_consent` message (sent to the host only).
  consent({ participant_id: id, name, consent }) {
    if (!this.isHost) return;
    const agreed = consent === true;
    this.answers.set(id || name, { id: id || '', name: name || id || '', consent: agreed });
    this.toast(agreed ? 'event.consent_yes' : 'event.consent_no', { name: name || id || '' });
    this.drawAnswers();
  }

  // The server refused something we sent (or changed the state): the button works again.
  settle() {
    clearTimeout(this.pendingTimer);
    if (!this.pending) return;
    this.pending = false;
    this.drawButton();
  }

  draw() {
    const s = this.state;
    clearInterval(this.timer);
    this.timer = null;
    this.shownLeft = null;
    this.indicator.dataset.state = s;
    this.indicator.dataset.host = String(this.isHost);
    this.indicator.hidden = s === 'off';
    if (s === 'notice') {
      this.tick();
      if (this.startsAt) this.timer = setInterval(() => this.tick(), 250);
    } else if (s === 'on') {
      setText(this.text, 'rec.on');
    } else if (s === 'failed') {
      if (!this.isHost) setText(this.text, 'rec.stopped');
      else if (this.message) setText(this.text, 'rec.failed_host', { message: this.message });
      else setText(this.text, 'rec.failed');
    }
    const showAnswer = !this.isHost && active(s) && this.answer !== null;
    this.answered.hidden = !showAnswer;
    if (showAnswer) {
      this.answered.dataset.consent = String(this.answer);
      setText(this.answered, this.answer ? 'rec.answered_yes' : 'rec.answered_no');
    }
    this.drawButton();
  }

  // The notice countdown, in whole seconds; at zero (or with no time given) "about to start"
  // until the server says `on`.
  tick() {
    const left = this.startsAt ? Math.ceil((this.startsAt - Date.now()) / 1000) : 0;
    if (left === this.shownLeft) return;
    this.shownLeft = left;
    if (left > 0) {
      setText(this.text, 'rec.notice', { n: left });
    } else {
      setText(this.text, 'rec.starting');
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  drawButton() {
    const b = this.button;
    const recording = active(this.state);
    b.setAttribute('aria-pressed', String(recording));
    b.dataset.state = this.state;
    b.classList.toggle('on', recording);
    b.disabled = this.pending;
    b.firstChild.replaceChildren(icon(recording ? 'stop' : 'rec'));
    setText(b.lastChild, recording ? 'room.stop_record' : 'room.record');
    setLabel(b, recording ? 'room.stop_recording' : 'room.start_recording');
  }

  toggle() {
    if (this.pending) return;
    let msg;
    if (active(this.state)) {
      // Looked up at the time of the tap, so automated tests can replace window.confirm.
      if (!window.confirm(t('room.stop_recording_confirm'))) return;
      msg = { type: 'stop_recording' };
    } else {
      msg = { type: 'start_recording' };
    }
    if (!this.send(msg)) return;
    this.pending = true;
    this.pendingTimer = setTimeout(() => this.settle(), PENDING_MS);
    this.drawButton();
  }

  ask() {
    this.asked = true;
    this.answer = null;
    const reply = (consent) => () => {
      if (!this.send({ type: 'recording_consent', consent })) return;
      this.answer = consent;
      this.prompt.hidden = true;
      this.draw();
    };
    mount(this.prompt,
      h('p', { class: 'consent-question', id: 'consent-question', i18n: 'rec.consent_question' }),
      h('div', { class: 'consent-actions' },
        h('button', { type: 'button', class: 'btn btn-go', testid: 'consent-yes', i18n: 'rec.consent_yes', on: { click: reply(true) } }),
        h('button', { type: 'button', class: 'btn btn-quiet', testid: 'consent-no', i18n: 'rec.consent_no', on: { click: reply(false) } }),
      ),
    );
    this.prompt.hidden = false;
    say(['rec.consent_question', 'rec.consent_spoken']);
  }

  drawAnswers() {
    this.answersPanel.hidden = this.answers.size === 0;
    mount(this.answersList, [...this.answers.values()].map((a) => h('li', {
      class: 'consent-answer', testid: 'consent-answer', dataset: { participantId: a.id, consent: String(a.consent) },
    },
    h('span', { class: 'consent-name', text: a.name }),
    h('span', { class: `consent-badge ${a.consent ? 'yes' : 'no'}`, i18n: a.consent ? 'rec.agreed' : 'rec.objected' }),
    )));
  }

  // The call is over: no timers left, and nothing is being recorded as far as this page knows.
  stop() {
    clearInterval(this.timer);
    clearTimeout(this.pendingTimer);
    this.timer = null;
    setStatus({ recording: 'off' });
  }
}
