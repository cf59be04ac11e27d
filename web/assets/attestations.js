// Identity and notices before mediation starts. A party is shown the notice of their rights
// and of the consequences of false statements, and taps once to say they have read it; the
// mediator sees who is not yet confirmed and confirms each party's (and the expert's) identity
// by how they know it. The server files both with the session and tells everyone; this module
// shows where each person stands.
import { h, mount, setText } from './dom.js';
import { say } from './elder.js';

const METHODS = ['id_card', 'known_in_person', 'other'];
const NOTICE_POINTS = ['voluntary', 'rights', 'truth', 'agreement', 'record'];
// Who the mediator confirms, and who reads the notice.
const CONFIRMED_ROLES = ['party', 'expert'];

export class Attestations {
  // send(message): false when the socket is down.
  constructor({ send }) {
    this.send = send;
    this.standing = new Map(); // participant id -> {identity, notice_acknowledged}
    this.people = new Map(); // participant id -> {name, role}: whom the mediator confirms
    this.selfId = null;
    this.isHost = false;
    this.role = null;
    this.noticeVersion = null;

    this.title = h('h2', { class: 'lobby-title', i18n: 'identity.title' });
    this.list = h('ul', { class: 'lobby-list' });
    this.panel = h('section', { class: 'lobby-panel identity-panel', testid: 'identity-panel', hidden: true }, this.title, this.list);

    this.acknowledgeButton = h('button', {
      type: 'button', class: 'btn btn-go btn-wide', testid: 'notice-acknowledge', i18n: 'notice.acknowledge',
      on: { click: () => this.acknowledge() },
    });
    this.notice = h('div', { class: 'notice-overlay', testid: 'notice', role: 'dialog', 'aria-modal': 'true', hidden: true },
      h('div', { class: 'notice-card' },
        h('h2', { i18n: 'notice.title' }),
        h('ol', { class: 'notice-points' }, NOTICE_POINTS.map((point) => h('li', { i18n: `notice.${point}` }))),
        this.acknowledgeButton));
  }

  // On `joined`: who we are, the others, and where everyone stands.
  arrive({ selfId, isHost, role, participants, attestations, noticeVersion }) {
    Object.assign(this, { selfId, isHost, role, noticeVersion });
    this.people.clear();
    for (const p of participants) this.join(p, { quiet: true });
    for (const a of attestations || []) this.update(a, { quiet: true });
    this.render();
  }

  join(p, { quiet = false } = {}) {
    if (!p || p.id === this.selfId || p.is_host || !CONFIRMED_ROLES.includes(p.role)) return;
    this.people.set(p.id, { name: p.name, role: p.role });
    if (!quiet) this.render();
  }

  leave(id) {
    if (this.people.delete(id)) this.render();
  }

  update(a, { quiet = false } = {}) {
    if (!a || !a.participant_id) return;
    this.standing.set(a.participant_id, { identity: a.identity || null, notice_acknowledged: !!a.notice_acknowledged });
    if (!quiet) this.render();
  }

  of(id) {
    return this.standing.get(id) || { identity: null, notice_acknowledged: false };
  }

  acknowledge() {
    this.acknowledgeButton.disabled = true;
    if (!this.send({ type: 'acknowledge_notice', version: this.noticeVersion })) this.acknowledgeButton.disabled = false;
  }

  render() {
    // A party reads the notice until the server has filed their acknowledgment; in elder mode
    // it is read aloud when it appears.
    const wasHidden = this.notice.hidden;
    this.notice.hidden = !(this.role === 'party' && !this.isHost && !this.of(this.selfId).notice_acknowledged);
    if (wasHidden && !this.notice.hidden) {
      say(['notice.spoken', ...NOTICE_POINTS.map((point) => `notice.${point}`), 'notice.acknowledge_spoken']);
    }
    if (this.notice.hidden) this.acknowledgeButton.disabled = false;
    if (!this.isHost) return;
    const pending = [...this.people.keys()].filter((id) => {
      const s = this.of(id);
      return !s.identity || (this.people.get(id).role === 'party' && !s.notice_acknowledged);
    });
    this.panel.hidden = pending.length === 0;
    setText(this.title, 'identity.pending', { n: pending.length });
    mount(this.list, pending.map((id) => this.row(id)));
  }

  // One person the mediator still has to confirm (or who has not read the notice yet).
  row(id) {
    const person = this.people.get(id);
    const s = this.of(id);
    const method = h('select', { testid: 'identity-method', label: 'identity.method' },
      METHODS.map((m) => h('option', { value: m, i18n: `identity_method.${m}` })));
    const note = h('input', { type: 'text', testid: 'identity-note', maxlength: 200, placeholder: 'identity.note', hidden: true });
    method.addEventListener('change', () => { note.hidden = method.value !== 'other'; });
    const confirm = h('button', {
      type: 'button', class: 'btn btn-go', testid: 'identity-confirm', i18n: 'identity.confirm',
      on: {
        click: () => {
          const message = { type: 'confirm_identity', participant_id: id, method: method.value };
          if (method.value === 'other') message.note = note.value;
          confirm.disabled = this.send(message);
        },
      },
    });
    return h('li', { class: 'lobby-entry', testid: 'identity-row', dataset: { participantId: id } },
      h('span', { class: 'lobby-name', text: person.name }),
      h('span', { class: 'lobby-role', i18n: `role.${person.role}` }),
      person.role === 'party' && h('span', {
        class: `identity-state${s.notice_acknowledged ? ' done' : ''}`, testid: 'notice-state',
        i18n: s.notice_acknowledged ? 'identity.notice_read' : 'identity.notice_unread',
      }),
      s.identity
        ? h('span', { class: 'identity-state done', i18n: `identity_method.${s.identity}` })
        : h('span', { class: 'lobby-actions' }, method, note, confirm));
  }
}
