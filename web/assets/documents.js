// Showing a photo or a document (a land certificate, a contract, the boundary stone) from a
// phone, which has no screen to share: the file goes to the server (kept with the case, its
// SHA-256 taken), and everyone in the room sees it full-screen and can zoom. Observers never
// share; parties only while the mediator allows it (the mediator's switch is here too).
import { h, icon, setText } from './dom.js';
import { t } from './i18n.js';
import { setStatus } from './state.js';

const ZOOM_STEPS = [1, 1.5, 2, 3, 4];

export class DocumentsUI {
  // send(message): to the signaling socket. toast(key, vars): a line in the room's log.
  constructor({ send, toast }) {
    Object.assign(this, { send, toast });
    this.token = null; // an invitee's link token: their credential for the files
    this.sessionId = null;
    this.mayShare = false;
    this.isHost = false;
    this.role = null;
    this.partiesMayShare = true;
    this.documents = [];
    this.shown = null; // { document, url }
    this.zoom = 0;

    this.input = h('input', {
      type: 'file', accept: 'image/*,application/pdf', testid: 'document-input', hidden: true,
      on: { change: () => this.upload() },
    });
    this.button = h('button', {
      type: 'button', class: 'ctl', testid: 'share-document', hidden: true,
      on: { click: () => this.input.click() },
    }, icon('share'), h('span', { class: 'ctl-text', i18n: 'doc.share' }));
    this.allow = h('input', {
      type: 'checkbox', testid: 'document-sharing-allowed', checked: true,
      on: { change: () => this.send({ type: 'set_document_sharing', parties_may_share: this.allow.checked }) },
    });
    this.hostSwitch = h('label', { class: 'doc-switch', hidden: true }, this.allow, h('span', { i18n: 'doc.parties_may_share' }));

    this.image = h('img', { class: 'doc-image', testid: 'document-image', alt: '' });
    this.pdf = h('iframe', { class: 'doc-pdf', testid: 'document-pdf', title: 'PDF', hidden: true });
    this.openLink = h('a', { class: 'btn btn-quiet', testid: 'document-open', target: '_blank', rel: 'noopener', i18n: 'doc.open' });
    this.caption = h('p', { class: 'doc-caption', testid: 'document-caption' });
    this.hash = h('p', { class: 'doc-hash muted' });
    this.canvas = h('div', { class: 'doc-canvas' }, this.image, this.pdf);
    this.viewer = h('section', { class: 'doc-viewer', testid: 'document-viewer', role: 'dialog', 'aria-modal': 'true', hidden: true },
      h('div', { class: 'doc-bar' },
        this.caption,
        h('div', { class: 'doc-actions' },
          h('button', { type: 'button', class: 'btn btn-quiet', testid: 'document-zoom-out', 'aria-label': '−', text: '−', on: { click: () => this.setZoom(this.zoom - 1) } }),
          h('button', { type: 'button', class: 'btn btn-quiet', testid: 'document-zoom-in', 'aria-label': '+', text: '+', on: { click: () => this.setZoom(this.zoom + 1) } }),
          this.openLink,
          h('button', { type: 'button', class: 'btn btn-go', testid: 'document-close', i18n: 'doc.close', on: { click: () => this.close() } }))),
      this.canvas, this.hash);
  }

  // Our `joined`.
  arrive({ selfId, sessionId, role, isHost, token, documents, partiesMayShare }) {
    Object.assign(this, { selfId, sessionId, role, isHost, token: token || null });
    this.documents = Array.isArray(documents) ? documents : [];
    this.hostSwitch.hidden = !isHost;
    this.setAllowed(partiesMayShare !== false);
  }

  // `document_sharing`: whether parties may share now.
  setAllowed(allowed) {
    this.partiesMayShare = allowed;
    this.allow.checked = allowed;
    this.mayShare = this.role !== 'observer' && (this.isHost || this.role !== 'party' || allowed);
    this.button.hidden = !this.mayShare;
    setStatus({ partiesMayShare: allowed });
  }

  async upload() {
    const file = this.input.files && this.input.files[0];
    this.input.value = '';
    if (!file || !this.sessionId) return;
    this.toast('doc.uploading', { name: file.name });
    try {
      const response = await fetch(`/api/sessions/${encodeURIComponent(this.sessionId)}/documents?name=${encodeURIComponent(file.name)}`, {
        method: 'POST',
        headers: this.token ? { Authorization: `Bearer ${this.token}` } : {},
        credentials: 'same-origin',
        body: file,
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        const code = body && body.error && body.error.code;
        this.toast('doc.refused', { reason: code ? t(`err.${code}`) : String(response.status) });
      }
    } catch (e) {
      console.warn('documents: upload failed', e);
      this.toast('doc.refused', { reason: t('err.internal') });
    }
  }

  // `document_shared`: shown to everyone at once, full-screen.
  async shared(document) {
    this.documents.push(document);
    this.toast('doc.shared', { name: document.shared_by || '' });
    await this.show(document);
  }

  async show(document) {
    try {
      const response = await fetch(`/api/documents/${encodeURIComponent(document.id)}`, {
        headers: this.token ? { Authorization: `Bearer ${this.token}` } : {},
        credentials: 'same-origin',
      });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const url = URL.createObjectURL(await response.blob());
      if (this.shown) URL.revokeObjectURL(this.shown.url);
      this.shown = { document, url };
    } catch (e) {
      console.warn('documents: could not fetch', e);
      return;
    }
    const pdf = document.content_type === 'application/pdf';
    this.image.hidden = pdf;
    this.pdf.hidden = !pdf;
    if (pdf) this.pdf.src = this.shown.url;
    else this.image.src = this.shown.url;
    this.openLink.href = this.shown.url;
    setText(this.caption, 'doc.caption', { name: document.shared_by || '', file: document.file_name || '' });
    this.hash.textContent = `SHA-256 ${document.sha256}`;
    this.setZoom(0);
    this.viewer.hidden = false;
    this.viewer.dataset.documentId = document.id;
    setStatus({ documentShown: document.id });
  }

  setZoom(step) {
    this.zoom = Math.max(0, Math.min(ZOOM_STEPS.length - 1, step));
    this.image.style.width = `${ZOOM_STEPS[this.zoom] * 100}%`;
    this.canvas.classList.toggle('zoomed', this.zoom > 0);
  }

  close() {
    this.viewer.hidden = true;
    setStatus({ documentShown: null });
  }
}
