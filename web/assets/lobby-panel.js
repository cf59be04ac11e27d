// The host's list of people waiting in the lobby, each with "let in" and "turn away".
import { h, mount, setText } from './dom.js';

export class LobbyPanel {
  constructor({ onAdmit, onRefuse }) {
    this.onAdmit = onAdmit;
    this.onRefuse = onRefuse;
    this.title = h('h2', { class: 'lobby-title' });
    this.list = h('ul', { class: 'lobby-list' });
    this.el = h('section', { class: 'lobby-panel', testid: 'lobby-panel', hidden: true }, this.title, this.list);
  }

  render(waiting) {
    this.el.hidden = waiting.length === 0;
    setText(this.title, 'lobby.waiting_count', { n: waiting.length });
    mount(this.list, waiting.map((p) => this.entry(p)));
  }

  entry(p) {
    // Buttons disable themselves on tap: the lobby_update that follows removes the entry, and a
    // second tap meanwhile would only earn an unknown_participant error.
    const act = (fn) => (ev) => {
      for (const b of ev.currentTarget.parentElement.querySelectorAll('button')) b.disabled = true;
      fn(p);
    };
    return h(
      'li',
      { class: 'lobby-entry', testid: 'lobby-entry', dataset: { participantId: p.id } },
      h('span', { class: 'lobby-name', text: p.name || p.id }),
      h('span', { class: 'lobby-role', i18n: `role.${p.role || 'party'}` }),
      h('span', { class: 'lobby-actions' },
        h('button', { type: 'button', class: 'btn btn-go', testid: 'admit-button', i18n: 'lobby.admit', on: { click: act(this.onAdmit) } }),
        h('button', { type: 'button', class: 'btn btn-quiet', testid: 'refuse-button', i18n: 'lobby.refuse', on: { click: act(this.onRefuse) } }),
      ),
    );
  }
}
