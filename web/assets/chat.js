// The room's chat: a button with the count of unread messages and a panel with the messages
// and a box to write. Parties and experts write to everyone or privately to the mediator; the
// mediator to everyone or privately to anyone; observers only read. The server decides who
// may read what (a private message reaches its two ends only) and files every message with
// the session, so this module only shows what arrives and sends what is typed.
import { h, icon, setLabel, setText } from './dom.js';
import { t } from './i18n.js';
import { formatClock } from './format.js';

const MAX_CHARS = 1000; // the server's limit, so the box stops there instead of failing

export class Chat {
  // send(message): false when the socket is down. selfId/isHost/mayWrite set on joining.
  constructor({ send }) {
    this.send = send;
    this.selfId = null;
    this.isHost = false;
    this.mayWrite = true;
    this.open = false;
    this.unread = 0;
    this.people = new Map(); // id -> {name, is_host}: who a private message can go to
    this.seen = new Set(); // message ids already shown (history arrives again on a rejoin)

    this.badge = h('span', { class: 'chat-unread', testid: 'chat-unread', hidden: true });
    this.button = h('button', {
      type: 'button', class: 'ctl ctl-chat', testid: 'chat-button', 'aria-expanded': 'false',
      on: { click: () => this.toggle() },
    }, h('span', { class: 'ctl-icon' }, icon('chat'), this.badge), h('span', { class: 'ctl-text', i18n: 'chat.button' }));
    setLabel(this.button, 'chat.open');

    this.list = h('ol', { class: 'chat-list', testid: 'chat-list', 'aria-live': 'polite' });
    this.empty = h('p', { class: 'chat-empty', i18n: 'chat.empty' });
    this.recipient = h('select', { class: 'chat-to', testid: 'chat-to', label: 'chat.to' });
    this.input = h('textarea', {
      class: 'chat-input', testid: 'chat-input', rows: 2, maxlength: MAX_CHARS, placeholder: 'chat.placeholder',
      on: { keydown: (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); } } },
    });
    this.error = h('p', { class: 'form-error', testid: 'chat-error', role: 'alert', hidden: true });
    this.form = h('form', { class: 'chat-form', on: { submit: (e) => { e.preventDefault(); this.submit(); } } },
      this.recipient, this.input,
      h('button', { type: 'submit', class: 'btn btn-go', testid: 'chat-send', i18n: 'chat.send' }),
      this.error);
    this.panel = h('aside', { class: 'chat-panel', testid: 'chat-panel', hidden: true, 'aria-label': t('chat.title') },
      h('header', { class: 'chat-head' },
        h('h2', { i18n: 'chat.title' }),
        h('button', { type: 'button', class: 'btn btn-quiet', testid: 'chat-close', i18n: 'chat.close', on: { click: () => this.toggle(false) } })),
      this.empty, this.list, this.form);
  }

  // On `joined`: who we are, the others, and the messages we may read so far.
  arrive({ selfId, isHost, mayWrite, participants, history }) {
    Object.assign(this, { selfId, isHost, mayWrite });
    this.form.hidden = !mayWrite;
    this.people.clear();
    for (const p of participants) this.join(p, { quiet: true });
    for (const message of history || []) this.add(message, { history: true });
    this.renderRecipients();
  }

  join(p, { quiet = false } = {}) {
    if (!p || p.id === this.selfId) return;
    this.people.set(p.id, { name: p.name, is_host: !!p.is_host });
    if (!quiet) this.renderRecipients();
  }

  leave(id) {
    if (this.people.delete(id)) this.renderRecipients();
  }

  // Everyone, then whom we may write to privately: anyone for the mediator, the mediator for
  // everyone else.
  renderRecipients() {
    const chosen = this.recipient.value;
    const options = [h('option', { value: '', i18n: 'chat.to_everyone' })];
    for (const [id, p] of this.people) {
      if (this.isHost || p.is_host) {
        options.push(h('option', { value: id, i18n: [p.is_host ? 'chat.to_mediator' : 'chat.to_person', { name: p.name }] }));
      }
    }
    this.recipient.replaceChildren(...options);
    this.recipient.value = [...this.recipient.options].some((o) => o.value === chosen) ? chosen : '';
    this.recipient.hidden = options.length === 1;
  }

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    const message = { type: 'chat', text };
    if (this.recipient.value) message.to = this.recipient.value;
    if (!this.send(message)) return this.showError(t('chat.not_sent'));
    this.input.value = '';
    this.error.hidden = true;
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = false;
  }

  add(message, { history = false } = {}) {
    if (!message || this.seen.has(message.id)) return;
    this.seen.add(message.id);
    const mine = message.from === this.selfId;
    const who = mine ? t('chat.me') : message.from_name;
    const privately = message.to
      ? h('span', { class: 'chat-private', i18n: [mine ? 'chat.private_to' : 'chat.private_from', { name: mine ? message.to_name : message.from_name }] })
      : null;
    this.list.append(h('li', { class: `chat-message${mine ? ' mine' : ''}${message.to ? ' private' : ''}`, testid: 'chat-message', dataset: { from: message.from, private: String(!!message.to) } },
      h('div', { class: 'chat-meta' }, h('strong', { text: who }), privately, h('time', { text: formatClock(message.at_ms) })),
      h('p', { class: 'chat-text', text: message.text })));
    this.empty.hidden = true;
    this.list.scrollTop = this.list.scrollHeight;
    if (!this.open && !mine && !history) {
      this.unread += 1;
      this.renderUnread();
    }
  }

  toggle(open = !this.open) {
    this.open = open;
    this.panel.hidden = !open;
    this.button.setAttribute('aria-expanded', String(open));
    this.button.classList.toggle('on', open);
    if (open) {
      this.unread = 0;
      this.renderUnread();
      this.list.scrollTop = this.list.scrollHeight;
      if (this.mayWrite) this.input.focus();
    }
  }

  renderUnread() {
    this.badge.hidden = this.unread === 0;
    this.badge.textContent = this.unread > 99 ? '99+' : String(this.unread);
    setText(this.button.lastChild, 'chat.button');
  }
}
