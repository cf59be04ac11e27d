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
    this.shown = null; // { document, url, pageUrl }
    this.page = 0;
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
    // A PDF's pages, drawn as pictures by the server: a phone's browser may show no PDF.
    this.pageLabel = h('span', { class: 'doc-page', testid: 'document-page' });
    this.pager = h('div', { class: 'doc-pager', hidden: true },
      h('button', { type: 'button', class: 'btn btn-quiet', testid: 'document-page-prev', i18n: 'doc.page_prev', on: { click: () => this.showPage(this.page - 1) } }),
      this.pageLabel,
      h('button', { type: 'button', class: 'btn btn-quiet', testid: 'document-page-next', i18n: 'doc.page_next', on: { click: () => this.showPage(this.page + 1) } }));
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
      this.pager, this.canvas, this.hash);
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

  // The bytes at `path` (a document or a page of one), as an object URL.
  async blobUrl(path) {
    const response = await fetch(path, {
      headers: this.token ? { Authorization: `Bearer ${this.token}` } : {},
      credentials: 'same-origin',
    });
    if (!response.ok) throw new Error(`status ${response.status}`);
    return URL.createObjectURL(await response.blob());
  }

  async show(document) {
    const base = `/api/documents/${encodeURIComponent(document.id)}`;
    try {
      const url = await this.blobUrl(base);
      this.forget();
      this.shown = { document, url, pageUrl: null };
    } catch (e) {
      console.warn('documents: could not fetch', e);
      return;
    }
    const pages = document.content_type === 'application/pdf' ? Number(document.page_count) || 0 : 0;
    // A PDF without its pages drawn (the server lacks poppler) is offered as it is.
    const pdfAsIs = document.content_type === 'application/pdf' && pages === 0;
    this.image.hidden = pdfAsIs;
    this.pdf.hidden = !pdfAsIs;
    this.pager.hidden = pages < 2;
    if (pdfAsIs) this.pdf.src = this.shown.url;
    else if (pages === 0) this.image.src = this.shown.url;
    this.openLink.href = this.shown.url;
    setText(this.caption, 'doc.caption', { name: document.shared_by || '', file: document.file_name || '' });
    this.hash.textContent = `SHA-256 ${document.sha256}`;
    this.setZoom(0);
    this.viewer.hidden = false;
    this.viewer.dataset.documentId = document.id;
    setStatus({ documentShown: document.id });
    if (pages > 0) await this.showPage(1);
  }

  // Page `n` of the PDF shown (from 1), as the server drew it.
  async showPage(n) {
    const shown = this.shown;
    const pages = shown ? Number(shown.document.page_count) || 0 : 0;
    if (!shown || n < 1 || n > pages) return;
    try {
      const url = await this.blobUrl(`/api/documents/${encodeURIComponent(shown.document.id)}/pages/${n}`);
      if (this.shown !== shown) {
        URL.revokeObjectURL(url);
        return;
      }
      if (shown.pageUrl) URL.revokeObjectURL(shown.pageUrl);
      shown.pageUrl = url;
    } catch (e) {
      console.warn('documents: could not fetch a page', e);
      return;
    }
    this.page = n;
    this.image.src = shown.pageUrl;
    setText(this.pageLabel, 'doc.page', { n, total: pages });
    this.viewer.dataset.page = String(n);
    setStatus({ documentPage: n });
  }

  forget() {
    if (!this.shown) return;
    URL.revokeObjectURL(this.shown.url);
    if (this.shown.pageUrl) URL.revokeObjectURL(this.shown.pageUrl);
    this.shown = null;
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
