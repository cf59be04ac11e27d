// #/sessions/{id} : one video session: its invitations (create, copy/share the link, revoke)
// the way into the room, and the session's record (who came and went, recording, the chat).
// #/sessions/{id}/room : the host's room.
import { api } from './api.js';
import { h, mount, icon } from './dom.js';
import { t } from './i18n.js';
import { field, select, errorBox, showError, errorText } from './forms.js';
import { formatTime, labelProps, canManage, invitationState, INVITE_ROLES, VALIDITY_MINUTES } from './format.js';
import { getLocalMedia, stopStream } from './media.js';
import { Room } from './room.js';

export function showSession(main, user, id) {
  const view = { alive: true, destroy() { this.alive = false; } };
  mount(main, h('p', { class: 'center-page big-message', i18n: 'common.loading' }));
  const load = () => api.getSession(id);
  load().then((data) => view.alive && draw(main, user, data, load, view))
    .catch((e) => view.alive && mount(main, h('section', { class: 'page' },
      h('a', { href: '#/', class: 'back', i18n: 'nav.back_to_list' }),
      h('p', { class: 'form-error', text: errorText(e) }),
    )));
  return view;
}

function draw(main, user, { session, dispute, invitations = [], events = [], record_draft: recordDraft = null, documents = [] }, load, view) {
  const manage = canManage(user, dispute) && session.status !== 'ended';
  const list = h('div', { class: 'list', testid: 'invitation-list' });
  const linkSlot = h('div');
  const refresh = async () => {
    try {
      const data = await load();
      if (view.alive) drawInvitations(list, data.invitations || [], manage, refresh);
    } catch (e) {
      mount(list, h('p', { class: 'form-error', text: errorText(e) }));
    }
  };
  drawInvitations(list, invitations, manage, refresh);

  mount(main, h('section', { class: 'page', testid: 'session-page', dataset: { sessionId: session.id } },
    h('a', { href: `#/disputes/${encodeURIComponent(dispute.id)}`, class: 'back', i18n: 'nav.back_to_dispute' }),
    h('h1', { text: dispute.title }),
    h('div', { class: 'card' },
      h('dl', { class: 'details' },
        h('dt', { i18n: 'dispute.case_number' }), h('dd', { text: dispute.case_number }),
        h('dt', { i18n: 'session.status' }), h('dd', { testid: 'session-status', ...labelProps('session_status', session.status) }),
        h('dt', { i18n: 'session.lobby' }), h('dd', { i18n: session.lobby_enabled ? 'session.lobby_on' : 'session.lobby_off' }),
        session.scheduled_at && [h('dt', { i18n: 'session.scheduled_at' }), h('dd', { text: formatTime(session.scheduled_at) })],
        session.started_at && [h('dt', { i18n: 'session.started_at' }), h('dd', { text: formatTime(session.started_at) })],
        session.ended_at && [h('dt', { i18n: 'session.ended_at' }), h('dd', { text: formatTime(session.ended_at) })],
      ),
      session.status !== 'ended' && h('a', {
        class: 'btn btn-go btn-wide', testid: 'enter-room', href: `#/sessions/${encodeURIComponent(session.id)}/room`, i18n: 'session.enter_room',
      }),
    ),
    h('div', { class: 'card' },
      h('h2', { i18n: 'session.invitations' }),
      list,
    ),
    manage && inviteForm(session, dispute, linkSlot, refresh),
    linkSlot,
    documents.length > 0 && h('div', { class: 'card' },
      h('h2', { i18n: 'session.documents' }),
      h('ul', { class: 'list', testid: 'session-documents' }, documents.map((d) => h('li', { class: 'timeline-row', testid: 'session-document', dataset: { sha256: d.sha256 } },
        h('time', { class: 'muted', text: formatTime(d.shared_at) }),
        h('strong', { text: d.shared_by }),
        h('a', { href: `/api/documents/${encodeURIComponent(d.id)}`, target: '_blank', rel: 'noopener', text: d.file_name }),
        h('span', { class: 'muted hash', text: `SHA-256 ${d.sha256}` }))))),
    recordDraft && recordDraft.text && h('div', { class: 'card' },
      h('h2', { i18n: 'session.record_draft' }),
      h('pre', { class: 'record-filed', testid: 'record-draft', text: recordDraft.text }),
      h('p', { class: 'muted', text: `${recordDraft.updated_by} · ${formatTime(recordDraft.updated_at_ms)}` })),
    h('div', { class: 'card' },
      h('h2', { i18n: 'session.record' }),
      events.length === 0
        ? h('p', { class: 'empty', i18n: 'session.no_events' })
        : h('ol', { class: 'timeline', testid: 'session-events' }, events.map(eventRow)),
    ),
  ));
}

// One line of the record. Some details are JSON: a chat message (who wrote it, to whom if
// privately, its text), an identity confirmation (whose, how), an acknowledged notice.
function eventRow(e) {
  const item = (...what) => h('li', { class: 'timeline-row', testid: 'session-event', dataset: { kind: e.kind } },
    h('time', { class: 'muted', text: formatTime(e.at) }), h('span', { class: 'badge', ...labelProps('event_kind', e.kind) }), ...what);
  const actor = e.actor && h('strong', { text: e.actor });
  let detail = null;
  if (['chat', 'identity_confirmed', 'notice_acknowledged', 'record_presented', 'record_confirmed', 'record_disputed', 'document_shared', 'expert_invited', 'expert_consent'].includes(e.kind)) {
    try { detail = JSON.parse(e.detail); } catch { /* an unreadable detail is shown as it is */ }
  }
  if (e.kind === 'chat' && detail && typeof detail.text === 'string') {
    return item(
      h('strong', { text: detail.from_name || e.actor }),
      detail.to && h('span', { class: 'chat-private', i18n: ['chat.private_to', { name: detail.to_name || '' }] }),
      h('span', { class: 'timeline-text', testid: 'chat-record-text', text: detail.text }));
  }
  if (e.kind === 'identity_confirmed' && detail && detail.method) {
    return item(actor, h('span', { testid: 'identity-record', text: detail.name || '' }),
      h('span', { class: 'identity-state done', ...labelProps('identity_method', detail.method) }),
      detail.note && h('span', { class: 'timeline-text', text: detail.note }));
  }
  if (e.kind === 'document_shared' && detail && detail.sha256) {
    return item(actor, h('span', { text: detail.file_name || '' }), h('span', { class: 'muted hash', text: `SHA-256 ${detail.sha256}` }));
  }
  if (e.kind === 'record_presented' && detail && typeof detail.text === 'string') {
    return item(actor,
      h('pre', { class: 'record-filed', testid: 'record-presented-text', text: detail.text }),
      h('span', { class: 'muted hash', text: `SHA-256 ${detail.sha256 || ''}` }));
  }
  if ((e.kind === 'record_confirmed' || e.kind === 'record_disputed') && detail) {
    return item(actor,
      detail.disagreement && h('span', { class: 'timeline-text', testid: 'record-disagreement-text', text: detail.disagreement }),
      h('span', { class: 'muted hash', text: `SHA-256 ${(detail.sha256 || '').slice(0, 12)}…` }));
  }
  if (e.kind === 'expert_invited' && detail && detail.expert) {
    return item(actor, h('span', { testid: 'expert-invited-record', text: `${detail.expert}（${detail.specialty || ''} · ${detail.center || ''}）` }),
      h('span', { class: 'muted', i18n: detail.scope === 'mediator' ? 'expert.scope_mediator_short' : 'expert.scope_room_short' }));
  }
  if (e.kind === 'expert_consent' && detail) {
    return item(actor, h('span', { class: detail.accepted ? 'identity-state done' : 'identity-state', testid: 'expert-consent-record', dataset: { accepted: String(!!detail.accepted) }, i18n: detail.accepted ? 'expert.accept' : 'expert.decline' }));
  }
  if (e.kind === 'notice_acknowledged' && detail) {
    return item(actor, h('span', { class: 'muted', text: detail.version || '' }));
  }
  return item(actor, e.detail && h('span', { class: 'muted timeline-text', text: e.detail }));
}

function drawInvitations(list, invitations, manage, refresh) {
  if (invitations.length === 0) {
    mount(list, h('p', { class: 'empty', i18n: 'session.no_invitations' }));
    return;
  }
  mount(list, invitations.map((inv) => {
    const state = invitationState(inv);
    const revoke = manage && state === 'active' && h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', testid: 'revoke-button', i18n: 'invite.revoke',
      on: {
        click: async (ev) => {
          const button = ev.currentTarget;
          button.disabled = true;
          try {
            await api.revokeInvitation(inv.id);
            refresh();
          } catch (e) {
            button.disabled = false;
            button.after(h('span', { class: 'form-error', role: 'alert', text: errorText(e) }));
          }
        },
      },
    });
    return h('div', { class: 'row', testid: 'invitation-row', dataset: { invitationId: inv.id, state } },
      h('div', { class: 'row-main' },
        h('strong', { text: inv.name }),
        h('span', { class: 'role-badge', dataset: { role: inv.role }, i18n: `role.${inv.role}` }),
        inv.phone && h('span', { class: 'muted', text: inv.phone }),
      ),
      h('div', { class: 'row-meta' },
        h('span', { class: `badge invite-${state}`, i18n: `invite.state_${state}` }),
        h('span', { class: 'muted', i18n: ['invite.expires', { time: formatTime(inv.expires_at) }] }),
        inv.last_used_at && h('span', { class: 'muted', i18n: ['invite.last_used', { time: formatTime(inv.last_used_at) }] }),
        revoke,
      ),
    );
  }));
}

function inviteForm(session, dispute, linkSlot, refresh) {
  const role = select(INVITE_ROLES.map((r) => [r, `role.${r}`]), { testid: 'invite-role' });
  const name = h('input', { required: true, testid: 'invite-name', autocomplete: 'off' });
  const phone = h('input', { type: 'tel', inputmode: 'tel', testid: 'invite-phone', autocomplete: 'off' });
  const validity = select(VALIDITY_MINUTES.map((m) => [String(m), `invite.valid_${m}`]), { testid: 'invite-validity', value: '1440' });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-go', testid: 'invite-submit', i18n: 'invite.create' });
  return h('form', {
    class: 'card form', testid: 'invite-form',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        try {
          const res = await api.createInvitation(session.id, {
            role: role.value,
            name: name.value.trim(),
            phone: phone.value.trim() || undefined,
            expires_in_minutes: Number(validity.value),
          });
          mount(linkSlot, linkBox(res, dispute));
          linkSlot.scrollIntoView({ behavior: 'smooth', block: 'center' });
          name.value = '';
          phone.value = '';
          refresh();
        } catch (e) {
          showError(error, e);
        }
        submit.disabled = false;
      },
    },
  },
  h('h2', { i18n: 'invite.new' }),
  field('invite.role', role),
  field('invite.name', name),
  field('invite.phone', phone, 'invite.phone_hint'),
  field('invite.validity', validity),
  error,
  submit,
  );
}

// The new link, shown once (only its hash is stored), with copy, share and text-message buttons.
function linkBox({ invitation, token, url }, dispute) {
  const href = url ? new URL(url, location.origin).href : `${location.origin}/j/${encodeURIComponent(token)}`;
  const input = h('input', { class: 'link-input', testid: 'invite-link', readonly: true, value: href, on: { focus: (e) => e.target.select() } });
  const copied = h('span', { class: 'ok', role: 'status', hidden: true, i18n: 'invite.copied' });
  const message = t('invite.share_text', { name: invitation.name, title: dispute.title });
  const copy = h('button', {
    type: 'button', class: 'btn btn-go', testid: 'copy-link',
    on: {
      click: async () => {
        const ok = await copyText(href, input);
        copied.hidden = false;
        copied.dataset.i18n = ok ? 'invite.copied' : 'invite.copy_by_hand';
        copied.textContent = t(copied.dataset.i18n);
      },
    },
  }, icon('copy'), h('span', { i18n: 'invite.copy' }));
  const share = typeof navigator.share === 'function' && h('button', {
    type: 'button', class: 'btn btn-quiet', testid: 'share-link',
    on: { click: () => navigator.share({ title: dispute.title, text: message, url: href }).catch(() => {}) },
  }, icon('share'), h('span', { i18n: 'invite.share' }));
  // Most villagers read text messages more readily than anything else.
  const sms = invitation.phone && h('a', {
    class: 'btn btn-quiet', testid: 'sms-link', i18n: 'invite.sms',
    href: `sms:${invitation.phone}?body=${encodeURIComponent(`${message} ${href}`)}`,
  });
  return h('section', { class: 'card link-box', testid: 'invite-link-box', role: 'status' },
    h('h2', { i18n: ['invite.link_for', { name: invitation.name }] }),
    h('p', { class: 'notice', i18n: 'invite.shown_once' }),
    input,
    h('div', { class: 'actions' }, copy, share, sms, copied),
  );
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (plain http, older phones): select the text and try the old way.
    input.focus();
    input.select();
    input.setSelectionRange(0, text.length);
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

// #/sessions/{id}/room : the signed-in account hosts (or, as a clerk, attends) the session.
export function showHostRoom(main, user, id) {
  const view = {
    alive: true,
    room: null,
    stream: null,
    destroy() {
      this.alive = false;
      if (this.room) this.room.destroy();
      else stopStream(this.stream);
    },
  };
  const back = () => h('a', { class: 'btn btn-go', href: `#/sessions/${encodeURIComponent(id)}`, testid: 'back-to-session', i18n: 'nav.back_to_session' });
  mount(main, h('p', { class: 'center-page big-message', i18n: 'check.opening' }));
  (async () => {
    let data;
    try {
      data = await api.getSession(id);
    } catch (e) {
      if (view.alive) mount(main, h('section', { class: 'center-page' }, h('p', { class: 'form-error', text: errorText(e) }), back()));
      return;
    }
    if (!view.alive) return;
    if (data.session.status === 'ended') {
      mount(main, h('section', { class: 'center-page end-screen', testid: 'end-screen', dataset: { reason: 'session_ended' } },
        h('p', { class: 'big-message', i18n: 'end.session_ended' }), back()));
      return;
    }
    const { stream } = await getLocalMedia();
    view.stream = stream;
    if (!view.alive) {
      stopStream(stream);
      return;
    }
    view.room = new Room({
      root: main,
      join: { type: 'join', session_id: id },
      me: { name: user.display_name || user.username, role: user.role === 'staff' ? 'staff' : 'mediator' },
      localStream: stream,
      publish: true,
      title: data.dispute && data.dispute.title,
      endActions: back,
    });
    view.room.start();
  })();
  return view;
}
