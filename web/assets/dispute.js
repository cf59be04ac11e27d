// #/disputes/{id} : a dispute's file: details, parties, status, its sessions, opening a new
// video session, and its recordings (recordings.js).
import { api } from './api.js';
import { h, mount } from './dom.js';
import { field, select, errorBox, showError, errorText } from './forms.js';
import { formatTime, labelProps, canManage, DISPUTE_STATUSES } from './format.js';
import { recordingsCard } from './recordings.js';

export function showDispute(main, user, id) {
  const view = { alive: true, destroy() { this.alive = false; } };
  mount(main, h('p', { class: 'center-page big-message', i18n: 'common.loading' }));
  api.getDispute(id).then(({ dispute, sessions = [] }) => {
    if (view.alive) draw(main, user, dispute, sessions);
  }).catch((e) => view.alive && mount(main, h('section', { class: 'page' },
    h('a', { href: '#/', class: 'back', i18n: 'nav.back_to_list' }),
    h('p', { class: 'form-error', text: errorText(e) }),
  )));
  return view;
}

function draw(main, user, d, sessions) {
  const manage = canManage(user, d);
  const details = h('dl', { class: 'details' });
  const redrawDetails = (dispute) => mount(details,
    item('dispute.case_number', dispute.case_number),
    item('dispute.category', labelProps('category', dispute.category)),
    item('dispute.level', labelProps('level', dispute.level)),
    item('dispute.status', labelProps('status', dispute.status), 'dispute-status-value'),
    dispute.description && item('dispute.description', dispute.description),
    dispute.outcome && item('dispute.outcome', dispute.outcome),
    item('dispute.created_at', formatTime(dispute.created_at)),
    item('dispute.updated_at', formatTime(dispute.updated_at)),
  );
  redrawDetails(d);

  mount(main, h('section', { class: 'page', testid: 'dispute-page', dataset: { disputeId: d.id } },
    h('a', { href: '#/', class: 'back', i18n: 'nav.back_to_list' }),
    h('h1', { text: d.title }),
    h('div', { class: 'card' }, details),
    h('div', { class: 'card' },
      h('h2', { i18n: 'dispute.parties' }),
      h('ul', { class: 'plain-list' }, (d.parties || []).map((p) => h('li', null,
        h('strong', { text: p.name }),
        p.phone && [' ', h('a', { href: `tel:${p.phone}`, text: p.phone })],
      ))),
    ),
    manage && statusForm(d, redrawDetails),
    h('div', { class: 'card' },
      h('h2', { i18n: 'dispute.sessions' }),
      sessions.length === 0
        ? h('p', { class: 'empty', i18n: 'dispute.no_sessions' })
        : h('div', { class: 'list' }, sessions.map(sessionRow)),
      manage && openSessionForm(d),
    ),
    // Recordings are for clerks, the dispute's own mediator and the administrator only.
    (manage || user.role === 'staff') && recordingsCard(d, manage),
  ));
}

// One line of the details list; value is text or element props (see labelProps).
function item(key, value, testid) {
  const props = typeof value === 'object' ? value : { text: value };
  return [h('dt', { i18n: key }), h('dd', { ...props, testid })];
}

function sessionRow(s) {
  const when = s.started_at || s.scheduled_at || s.created_at;
  return h('a', { class: 'row', href: `#/sessions/${encodeURIComponent(s.id)}`, testid: 'session-row', dataset: { sessionId: s.id } },
    h('span', { class: `badge session-${s.status}`, ...labelProps('session_status', s.status) }),
    h('span', { text: formatTime(when) }),
    h('span', { class: 'muted', i18n: s.lobby_enabled ? 'session.lobby_on' : 'session.lobby_off' }),
  );
}

function statusForm(d, redrawDetails) {
  const status = select(DISPUTE_STATUSES.map((s) => [s, `status.${s}`]), { testid: 'dispute-status', value: d.status });
  const outcome = h('textarea', { rows: 2, testid: 'dispute-outcome' }, d.outcome || '');
  const error = errorBox();
  const saved = h('span', { class: 'ok', role: 'status', hidden: true, i18n: 'common.saved' });
  const save = h('button', { type: 'submit', class: 'btn btn-go', testid: 'dispute-save', i18n: 'common.save' });
  return h('form', {
    class: 'card form',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        error.hidden = true;
        saved.hidden = true;
        save.disabled = true;
        try {
          const { dispute } = await api.updateDispute(d.id, { status: status.value, outcome: outcome.value.trim() || undefined });
          redrawDetails(dispute);
          saved.hidden = false;
        } catch (e) {
          showError(error, e);
        }
        save.disabled = false;
      },
    },
  },
  h('h2', { i18n: 'dispute.change_status' }),
  field('dispute.status', status),
  field('dispute.outcome', outcome, 'dispute.outcome_hint'),
  error,
  h('div', { class: 'actions' }, save, saved),
  );
}

function openSessionForm(d) {
  const lobby = h('input', { type: 'checkbox', testid: 'session-lobby', checked: true });
  const scheduled = h('input', { type: 'datetime-local', testid: 'session-scheduled' });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-go', testid: 'open-session', i18n: 'dispute.open_session' });
  return h('form', {
    class: 'form subform',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        try {
          const fields = { lobby_enabled: lobby.checked };
          // datetime-local is in the phone's time zone; the API wants epoch milliseconds.
          if (scheduled.value) fields.scheduled_at = new Date(scheduled.value).getTime();
          const { session } = await api.openSession(d.id, fields);
          location.hash = `#/sessions/${encodeURIComponent(session.id)}`;
        } catch (e) {
          showError(error, e);
          submit.disabled = false;
        }
      },
    },
  },
  h('h3', { i18n: 'dispute.new_session' }),
  h('label', { class: 'check' }, lobby, h('span', { i18n: 'dispute.lobby_label' })),
  h('p', { class: 'hint', i18n: 'dispute.lobby_hint' }),
  field('dispute.scheduled_at', scheduled, 'dispute.scheduled_hint'),
  error,
  submit,
  );
}
