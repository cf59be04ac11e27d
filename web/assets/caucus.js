// 背对背: the mediator takes one side aside to talk in private. The mediator picks who (and
// whether to ask them about recording it), then ends it; those taken aside are told they are
// alone with the mediator (and asked about recording, if the mediator asked); everyone else is
// told the mediator is talking with one side and waits. The server and the SFU keep the media
// apart; this module only shows where one stands.
import { h, mount, setText } from './dom.js';
import { say } from './elder.js';

// Whom the mediator can take aside.
const ASIDE_ROLES = ['party', 'expert'];

export class CaucusUI {
  // send(message): false when the socket is down.
  constructor({ send }) {
    this.send = send;
    this.selfId = null;
    this.isHost = false;
    this.people = new Map(); // id -> {name, role}
    this.state = null; // the last `caucus` message while one is active
    this.answered = false; // our answer about recording it was sent

    this.openButton = h('button', {
      type: 'button', class: 'btn btn-quiet caucus-open', testid: 'caucus-open', i18n: 'caucus.open',
      on: { click: () => { this.picker.hidden = !this.picker.hidden; this.renderPicker(); } },
    });
    this.picks = h('ul', { class: 'lobby-list' });
    this.recordBox = h('input', { type: 'checkbox', testid: 'caucus-record' });
    this.picker = h('section', { class: 'lobby-panel caucus-panel', testid: 'caucus-panel', hidden: true },
      h('h2', { class: 'lobby-title', i18n: 'caucus.pick' }),
      this.picks,
      h('label', { class: 'caucus-record' }, this.recordBox, h('span', { i18n: 'caucus.ask_record' })),
      h('button', { type: 'button', class: 'btn btn-go', testid: 'caucus-start', i18n: 'caucus.start', on: { click: () => this.start() } }));

    this.bannerText = h('p', { class: 'caucus-text', testid: 'caucus-text' });
    this.endButton = h('button', { type: 'button', class: 'btn btn-go', testid: 'caucus-end', i18n: 'caucus.end', on: { click: () => this.send({ type: 'end_caucus' }) } });
    this.consent = h('div', { class: 'caucus-consent', testid: 'caucus-consent', hidden: true },
      h('p', { i18n: 'caucus.record_question' }),
      h('button', { type: 'button', class: 'btn btn-go', testid: 'caucus-consent-yes', i18n: 'caucus.record_yes', on: { click: () => this.answer(true) } }),
      h('button', { type: 'button', class: 'btn btn-quiet', testid: 'caucus-consent-no', i18n: 'caucus.record_no', on: { click: () => this.answer(false) } }));
    this.banner = h('section', { class: 'caucus-banner', testid: 'caucus-banner', role: 'status', hidden: true },
      this.bannerText, this.consent, this.endButton);
  }

  arrive({ selfId, isHost, participants, caucus }) {
    Object.assign(this, { selfId, isHost });
    this.people.clear();
    for (const p of participants) this.join(p, { quiet: true });
    this.state = caucus && caucus.active ? caucus : null;
    this.render();
  }

  join(p, { quiet = false } = {}) {
    if (!p || p.id === this.selfId || p.is_host || !ASIDE_ROLES.includes(p.role)) return;
    this.people.set(p.id, { name: p.name, role: p.role });
    if (!quiet) this.render();
  }

  leave(id) {
    if (this.people.delete(id)) this.render();
  }

  // Whether `id` is on the other side of the caucus from us (its video and voice do not reach
  // us, nor ours it).
  apart(id) {
    if (!this.state) return false;
    const members = this.state.members || [];
    return members.includes(id) !== members.includes(this.selfId);
  }

  update(msg) {
    const wasActive = !!this.state;
    this.state = msg.active ? msg : null;
    if (!this.state || !wasActive) this.answered = false;
    this.render();
    if (this.onChange) this.onChange(this.state);
  }

  start() {
    const chosen = [...this.picks.querySelectorAll('input:checked')].map((box) => box.value);
    if (chosen.length === 0) return;
    if (this.send({ type: 'start_caucus', participant_ids: chosen, record: this.recordBox.checked })) {
      this.picker.hidden = true;
    }
  }

  answer(consent) {
    if (this.send({ type: 'caucus_consent', consent })) {
      this.answered = true;
      this.render();
    }
  }

  names(ids) {
    return ids.filter((id) => id !== this.selfId).map((id) => (this.people.get(id) || {}).name).filter(Boolean).join('、');
  }

  render() {
    const s = this.state;
    this.openButton.hidden = !this.isHost || !!s;
    if (s) this.picker.hidden = true;
    this.banner.hidden = !s;
    this.endButton.hidden = !(s && this.isHost);
    if (!s) return;
    const inside = (s.members || []).includes(this.selfId);
    this.banner.dataset.side = inside ? 'inside' : 'outside';
    this.banner.dataset.recorded = String(!!s.recorded);
    if (this.isHost && inside) setText(this.bannerText, s.recorded ? 'caucus.host_recorded' : 'caucus.host', { names: this.names(s.members) });
    else setText(this.bannerText, inside ? (s.recorded ? 'caucus.inside_recorded' : 'caucus.inside') : 'caucus.outside');
    const asking = inside && !this.isHost && s.record_requested && !this.answered;
    if (asking && this.consent.hidden) say(['caucus.record_question', 'caucus.record_spoken']);
    this.consent.hidden = !asking;
  }

  renderPicker() {
    const people = [...this.people.entries()];
    mount(this.picks, people.length === 0
      ? h('li', { class: 'empty', i18n: 'caucus.nobody' })
      : people.map(([id, p]) => h('li', { class: 'lobby-entry' },
        h('label', { class: 'caucus-pick' },
          h('input', { type: 'checkbox', value: id, testid: 'caucus-pick', dataset: { participantId: id } }),
          h('span', { class: 'lobby-name', text: p.name }),
          h('span', { class: 'lobby-role', i18n: `role.${p.role}` })))));
  }
}
