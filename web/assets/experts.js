// Bringing an expert in mid-session. The mediator picks one from the roster (by specialty),
// chooses whether they advise the mediator only or speak to the whole room, and gets a link
// to send them. Each party is asked whether they accept the expert joining; the expert waits
// until every party in the room has. Everyone sees where each invitation stands.
import { api } from './api.js';
import { h, mount, setText } from './dom.js';
import { say } from './elder.js';
import { t } from './i18n.js';

export class ExpertsUI {
  // send(message): to the signaling socket. toast(key, vars): a line in the room's log.
  constructor({ send, toast }) {
    Object.assign(this, { send, toast });
    this.selfId = null;
    this.isHost = false;
    this.isParty = false;
    this.sessionId = null;
    this.invitations = new Map(); // invitation_id -> the last expert_invitation view
    this.roster = [];

    this.openButton = h('button', {
      type: 'button', class: 'btn btn-quiet expert-open', testid: 'expert-open', i18n: 'expert.open', hidden: true,
      on: { click: () => this.togglePicker() },
    });
    this.specialty = h('select', { testid: 'expert-specialty', on: { change: () => this.renderRoster() } });
    this.rosterList = h('ul', { class: 'lobby-list', testid: 'expert-roster' });
    this.scopeRoom = h('input', { type: 'radio', name: 'expert-scope', value: 'room', checked: true, testid: 'expert-scope-room' });
    this.scopeMediator = h('input', { type: 'radio', name: 'expert-scope', value: 'mediator', testid: 'expert-scope-mediator' });
    this.link = h('input', { type: 'text', readonly: true, class: 'expert-link', testid: 'expert-link', hidden: true });
    this.copy = h('button', {
      type: 'button', class: 'btn btn-quiet', testid: 'expert-copy', i18n: 'expert.copy', hidden: true,
      on: { click: () => this.copyLink() },
    });
    this.error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    this.picker = h('section', { class: 'lobby-panel expert-panel', testid: 'expert-panel', hidden: true },
      h('h2', { class: 'lobby-title', i18n: 'expert.pick' }),
      h('label', { class: 'expert-field' }, h('span', { i18n: 'expert.specialty' }), this.specialty),
      this.rosterList,
      h('fieldset', { class: 'expert-scope' },
        h('label', {}, this.scopeRoom, h('span', { i18n: 'expert.scope_room' })),
        h('label', {}, this.scopeMediator, h('span', { i18n: 'expert.scope_mediator' }))),
      h('button', { type: 'button', class: 'btn btn-go', testid: 'expert-invite', i18n: 'expert.invite', on: { click: () => this.invite() } }),
      this.error, this.link, this.copy);

    // Where each invitation stands, for everyone; the question, for a party not yet asked.
    this.status = h('ul', { class: 'expert-status', testid: 'expert-status', hidden: true });
    this.question = h('section', { class: 'caucus-banner expert-question', testid: 'expert-consent', role: 'alertdialog', hidden: true });
    this.el = h('div', { class: 'experts' }, this.question, this.status);
  }

  // Our `joined`.
  arrive({ selfId, isHost, role, sessionId, invitations }) {
    Object.assign(this, { selfId, isHost, sessionId });
    this.isParty = role === 'party' && !isHost;
    this.openButton.hidden = !isHost;
    this.invitations.clear();
    for (const view of invitations || []) this.invitations.set(view.invitation_id, view);
    this.render();
  }

  // An `expert_invitation` message.
  update(view) {
    if (!view || !view.invitation_id) return;
    const before = this.invitations.get(view.invitation_id);
    this.invitations.set(view.invitation_id, view);
    if (!before) this.toast('expert.invited_event', { name: view.expert.name });
    else if (!before.joined && view.joined) this.toast('expert.joined_event', { name: view.expert.name });
    this.render();
  }

  async togglePicker() {
    this.picker.hidden = !this.picker.hidden;
    if (this.picker.hidden) return;
    try {
      const { experts } = await api.listExperts();
      this.roster = Array.isArray(experts) ? experts : [];
    } catch (e) {
      this.showError(e.message);
      return;
    }
    const specialties = [...new Set(this.roster.map((e) => e.specialty))];
    const chosen = this.specialty.value;
    mount(this.specialty,
      h('option', { value: '', i18n: 'expert.any_specialty' }),
      specialties.map((s) => h('option', { value: s, text: s })));
    if (specialties.includes(chosen)) this.specialty.value = chosen;
    this.renderRoster();
  }

  renderRoster() {
    const specialty = this.specialty.value;
    const shown = this.roster.filter((e) => !specialty || e.specialty === specialty);
    mount(this.rosterList, shown.length === 0
      ? h('li', { class: 'empty', i18n: 'expert.none' })
      : shown.map((e, i) => h('li', { class: 'lobby-entry' },
        h('label', { class: 'caucus-pick' },
          h('input', { type: 'radio', name: 'expert-pick', value: e.id, checked: i === 0, testid: 'expert-pick', dataset: { name: e.name } }),
          h('span', { class: 'lobby-name', text: e.name }),
          h('span', { class: 'lobby-role', text: `${e.specialty} · ${e.center}` })))));
  }

  async invite() {
    const pick = this.rosterList.querySelector('input:checked');
    if (!pick || !this.sessionId) return;
    const scope = this.scopeMediator.checked ? 'mediator' : 'room';
    this.error.hidden = true;
    try {
      const { url } = await api.inviteExpert(this.sessionId, { expert_id: pick.value, scope });
      this.link.value = url;
      this.link.hidden = false;
      this.copy.hidden = false;
      this.link.select();
    } catch (e) {
      this.showError(e.message);
    }
  }

  async copyLink() {
    try {
      await navigator.clipboard.writeText(this.link.value);
      this.toast('expert.copied');
    } catch {
      this.link.select();
    }
  }

  showError(message) {
    this.error.textContent = message || t('expert.failed');
    this.error.hidden = false;
  }

  answer(invitationId, accept) {
    if (this.send({ type: 'answer_expert', invitation_id: invitationId, accept })) {
      this.asked = null;
      this.question.hidden = true;
    }
  }

  render() {
    const views = [...this.invitations.values()];
    this.status.hidden = views.length === 0;
    mount(this.status, views.map((v) => h('li', {
      class: 'expert-line', testid: 'expert-line', dataset: { consent: v.consent, joined: String(!!v.joined), scope: v.scope },
    }, h('span', { class: 'lobby-name', text: `${v.expert.name}（${v.expert.specialty} · ${v.expert.center}）` }),
    h('span', { class: 'lobby-role', text: t(v.scope === 'mediator' ? 'expert.scope_mediator_short' : 'expert.scope_room_short') }),
    h('span', { class: 'expert-state', text: this.stateText(v) }))));
    // A party is asked about the first expert they have not answered for.
    const open = this.isParty && views.find((v) => !v.joined && !(v.answers || []).some((a) => a.participant_id === this.selfId));
    if (!open) {
      this.question.hidden = true;
      this.asked = null;
      return;
    }
    if (this.asked === open.invitation_id) return;
    this.asked = open.invitation_id;
    const vars = { name: open.expert.name, specialty: open.expert.specialty, center: open.expert.center };
    const key = open.scope === 'mediator' ? 'expert.question_mediator' : 'expert.question_room';
    const text = setText(h('p', { testid: 'expert-question' }), key, vars);
    mount(this.question, text,
      h('button', { type: 'button', class: 'btn btn-go', testid: 'expert-accept', i18n: 'expert.accept', on: { click: () => this.answer(open.invitation_id, true) } }),
      h('button', { type: 'button', class: 'btn btn-quiet', testid: 'expert-decline', i18n: 'expert.decline', on: { click: () => this.answer(open.invitation_id, false) } }));
    this.question.hidden = false;
    say([key, 'expert.question_spoken'], vars);
  }

  stateText(v) {
    if (v.joined) return t('expert.state_joined');
    const answers = v.answers || [];
    const names = (accepted) => answers.filter((a) => a.accepted === accepted).map((a) => a.name).join('、');
    switch (v.consent) {
      case 'accepted': return t('expert.state_accepted');
      case 'declined': return t('expert.state_declined', { names: names(false) });
      default: return answers.length ? t('expert.state_some', { names: names(true) }) : t('expert.state_waiting');
    }
  }
}
