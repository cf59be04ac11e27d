// 笔录: the mediator or a clerk writes the session's record in a side panel, saved on the
// server as they type (and in this browser's storage at every keystroke, so a closed tab or a
// dead phone loses nothing not yet sent). The mediator then presents it: each party (and
// expert) reads it in large type on their phone and confirms it or says what they disagree
// with. Two editors at once: an edit of an older version is refused and the newer text shown,
// with what was typed kept beside it.
import { h, icon, mount, setText } from './dom.js';
import { say } from './elder.js';
import { setStatus } from './state.js';

// Typing pauses this long before the text is sent.
const SAVE_AFTER_MS = 800;
const MAX_CHARS = 20000;

function backupKey(sessionId) {
  return `concord.record.${sessionId}`;
}

export class MediationRecordUI {
  // send(message): false when the socket is down.
  constructor({ send }) {
    this.send = send;
    this.editor = false;
    this.mayAnswer = false;
    this.selfId = null;
    this.sessionId = null;
    this.version = 0; // the server's version our text is based on
    this.saved = ''; // the text of that version
    this.inFlight = null; // text sent, not yet acknowledged
    this.timer = null;
    this.view = null;

    this.textarea = h('textarea', {
      class: 'record-text', testid: 'record-text', rows: 14, maxlength: MAX_CHARS, 'aria-labelledby': 'record-title',
      on: { input: () => this.typed() },
    });
    this.status = h('p', { class: 'record-status muted', testid: 'record-status', role: 'status' });
    this.kept = h('details', { class: 'record-kept', testid: 'record-kept', hidden: true },
      h('summary', { i18n: 'record.kept' }), h('pre', { class: 'record-kept-text' }));
    this.presentButton = h('button', {
      type: 'button', class: 'btn btn-go', testid: 'record-present', i18n: 'record.present', on: { click: () => this.present() },
    });
    this.answersList = h('ul', { class: 'record-answers', testid: 'record-answers' });
    this.panel = h('section', { class: 'record-panel', testid: 'record-panel', hidden: true },
      h('h2', { class: 'record-title', id: 'record-title', i18n: 'record.title' }),
      this.textarea, this.status, this.kept, this.presentButton, this.answersList);
    this.button = h('button', {
      type: 'button', class: 'ctl', testid: 'record-open', hidden: true,
      on: { click: () => { this.panel.hidden = !this.panel.hidden; } },
    }, icon('chat'), h('span', { class: 'ctl-text', i18n: 'record.button' }));

    // What a party reads and answers.
    this.readText = h('div', { class: 'record-read', testid: 'record-read' });
    this.disagreement = h('textarea', { class: 'record-disagreement', testid: 'record-disagreement', rows: 3, maxlength: 2000 });
    this.disagreeBox = h('div', { class: 'record-disagree-box', hidden: true },
      h('label', { i18n: 'record.disagreement_label' }), this.disagreement,
      h('button', { type: 'button', class: 'btn btn-go', testid: 'record-disagree-send', i18n: 'record.send_disagreement', on: { click: () => this.answer(false) } }));
    this.actions = h('div', { class: 'record-actions' },
      h('button', { type: 'button', class: 'btn btn-go', testid: 'record-confirm', i18n: 'record.confirm', on: { click: () => this.answer(true) } }),
      h('button', { type: 'button', class: 'btn btn-quiet', testid: 'record-disagree', i18n: 'record.disagree', on: { click: () => { this.disagreeBox.hidden = false; } } }));
    this.answered = h('p', { class: 'record-answered', testid: 'record-answered', role: 'status', hidden: true });
    this.sheet = h('section', { class: 'record-sheet', testid: 'record-sheet', hidden: true },
      h('h2', { i18n: 'record.read_title' }), this.readText, this.actions, this.disagreeBox, this.answered);

    this.onPageHide = () => this.flush();
    window.addEventListener('pagehide', this.onPageHide);
  }

  // Our `joined`.
  arrive({ selfId, sessionId, role, isHost, record }) {
    Object.assign(this, { selfId, sessionId });
    this.editor = !!isHost || role === 'staff';
    this.mayAnswer = !isHost && (role === 'party' || role === 'expert');
    this.button.hidden = !this.editor;
    this.presentButton.hidden = !isHost;
    const draft = (record && record.draft) || { text: '', version: 0 };
    this.version = draft.version || 0;
    this.saved = draft.text || '';
    this.inFlight = null;
    this.textarea.value = this.saved;
    if (this.editor) this.restoreBackup();
    this.update(record || {});
  }

  // What this browser typed and the server never got (the tab closed first): taken up again
  // if nobody saved since.
  restoreBackup() {
    let backup = null;
    try { backup = JSON.parse(localStorage.getItem(backupKey(this.sessionId)) || 'null'); } catch { /* none */ }
    if (!backup || typeof backup.text !== 'string' || backup.text === this.saved) return;
    if (backup.version === this.version) {
      this.textarea.value = backup.text;
      this.schedule();
    } else {
      this.keep(backup.text);
    }
  }

  typed() {
    try {
      localStorage.setItem(backupKey(this.sessionId), JSON.stringify({ text: this.textarea.value, version: this.version }));
    } catch { /* storage full or off: the server copy still comes */ }
    this.schedule();
  }

  schedule() {
    setText(this.status, 'record.unsaved');
    this.status.dataset.state = 'unsaved';
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), SAVE_AFTER_MS);
  }

  // Sends the text now if it changed and nothing is on its way.
  flush() {
    clearTimeout(this.timer);
    const text = this.textarea.value;
    if (!this.editor || this.inFlight !== null || text === this.saved) return;
    if (this.send({ type: 'record_draft', text, version: this.version })) {
      this.inFlight = text;
      setText(this.status, 'record.saving');
      this.status.dataset.state = 'saving';
    }
  }

  // Someone else's save reached us while we had typed: theirs is shown, ours kept beside it.
  keep(text) {
    this.kept.hidden = false;
    this.kept.querySelector('pre').textContent = text;
    setText(this.status, 'record.conflict');
    this.status.dataset.state = 'conflict';
  }

  // A `mediation_record` message, or our `joined`'s.
  update(view) {
    this.view = view;
    const draft = view.draft;
    if (this.editor && draft && draft.version > this.version) {
      const ours = this.inFlight !== null && draft.text === this.inFlight;
      const typedSince = this.textarea.value !== this.saved && this.textarea.value !== draft.text;
      if (!ours && typedSince) this.keep(this.textarea.value);
      if (!ours || !typedSince) this.textarea.value = draft.text;
      this.version = draft.version;
      this.saved = draft.text;
      this.inFlight = null;
      if (ours) {
        setText(this.status, 'record.saved', { time: new Date(draft.updated_at_ms).toLocaleTimeString() });
        this.status.dataset.state = 'saved';
        try { localStorage.removeItem(backupKey(this.sessionId)); } catch { /* nothing kept */ }
        if (this.textarea.value !== this.saved) this.schedule();
      }
      setStatus({ recordVersion: this.version });
    }
    this.drawAnswers();
    this.drawSheet();
  }

  present() {
    this.flush();
    this.send({ type: 'present_record' });
  }

  answer(agrees) {
    const presented = this.view && this.view.presented;
    if (!presented) return;
    const disagreement = agrees ? '' : this.disagreement.value.trim();
    if (!agrees && !disagreement) {
      this.disagreement.focus();
      return;
    }
    this.send({ type: 'answer_record', sha256: presented.sha256, agrees, disagreement });
  }

  drawAnswers() {
    const presented = this.view && this.view.presented;
    const answers = (this.view && this.view.answers) || [];
    mount(this.answersList, presented && [
      h('li', { class: 'muted', i18n: ['record.presented_at', { time: new Date(presented.at_ms).toLocaleTimeString() }] }),
      answers.map((a) => h('li', { class: 'record-answer', testid: 'record-answer', dataset: { participantId: a.participant_id, agrees: String(a.agrees) } },
        h('strong', { text: a.name }),
        h('span', { class: `consent-badge ${a.agrees ? 'yes' : 'no'}`, i18n: a.agrees ? 'record.confirmed' : 'record.disputed' }),
        a.disagreement && h('span', { class: 'timeline-text', text: a.disagreement }))),
    ]);
  }

  drawSheet() {
    const presented = this.view && this.view.presented;
    if (!this.mayAnswer || !presented) {
      this.sheet.hidden = true;
      return;
    }
    const mine = ((this.view && this.view.answers) || []).find((a) => a.participant_id === this.selfId && a.sha256 === presented.sha256);
    const fresh = this.sheet.hidden || this.sheet.dataset.sha256 !== presented.sha256;
    this.sheet.dataset.sha256 = presented.sha256;
    this.readText.textContent = presented.text;
    this.actions.hidden = !!mine;
    if (mine) this.disagreeBox.hidden = true;
    this.answered.hidden = !mine;
    if (mine) setText(this.answered, mine.agrees ? 'record.you_confirmed' : 'record.you_disputed');
    this.sheet.hidden = false;
    if (fresh && !mine) {
      this.disagreeBox.hidden = true;
      this.disagreement.value = '';
      say(['record.read_spoken']);
    }
    setStatus({ recordAnswered: mine ? (mine.agrees ? 'confirmed' : 'disputed') : null });
  }

  close() {
    this.flush();
    window.removeEventListener('pagehide', this.onPageHide);
  }
}
