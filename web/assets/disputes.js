// #/ : the list of disputes, and the form to register a new one.
import { api } from './api.js';
import { h, mount } from './dom.js';
import { field, select, errorBox, showError, errorText } from './forms.js';
import { formatTime, labelProps, canManage, LEVELS, CATEGORIES } from './format.js';

export function showDisputeList(main, user) {
  const view = { alive: true, destroy() { this.alive = false; } };
  const list = h('div', { class: 'list', testid: 'dispute-list' }, h('p', { class: 'hint', i18n: 'common.loading' }));
  const formSlot = h('div');
  const newButton = canManage(user) && h('button', {
    type: 'button', class: 'btn btn-go', testid: 'new-dispute', i18n: 'disputes.new',
    on: { click: () => { newButton.hidden = true; mount(formSlot, disputeForm(() => { newButton.hidden = false; formSlot.replaceChildren(); })); } },
  });
  mount(main, h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', { i18n: 'disputes.title' }), newButton),
    formSlot,
    list,
  ));

  api.listDisputes().then(({ disputes = [] }) => {
    if (!view.alive) return;
    if (disputes.length === 0) {
      mount(list, h('p', { class: 'empty', i18n: 'disputes.none' }));
      return;
    }
    // Newest activity first: the case being worked on today is on top.
    disputes.sort((a, b) => (b.updated_at || 0) - (a.updated_at || 0));
    mount(list, disputes.map(row));
  }).catch((e) => view.alive && mount(list, h('p', { class: 'form-error', text: errorText(e) })));
  return view;
}

function row(d) {
  return h('a', { class: 'row card', href: `#/disputes/${encodeURIComponent(d.id)}`, testid: 'dispute-row', dataset: { disputeId: d.id } },
    h('div', { class: 'row-main' },
      h('span', { class: 'case-number', text: d.case_number }),
      h('strong', { class: 'row-title', text: d.title }),
    ),
    h('div', { class: 'row-meta' },
      h('span', { class: `badge status-${d.status}`, ...labelProps('status', d.status) }),
      h('span', labelProps('category', d.category)),
      h('span', labelProps('level', d.level)),
      h('span', { class: 'muted', text: formatTime(d.updated_at) }),
    ),
  );
}

function disputeForm(onCancel) {
  const caseNumber = h('input', { name: 'case_number', required: true, testid: 'dispute-case-number' });
  const title = h('input', { name: 'title', required: true, testid: 'dispute-title' });
  const category = select(CATEGORIES.map((c) => [c, `category.${c}`]), { name: 'category', testid: 'dispute-category' });
  const level = select(LEVELS.map((l) => [l, `level.${l}`]), { name: 'level', testid: 'dispute-level', value: 'village' });
  const description = h('textarea', { name: 'description', rows: 3, testid: 'dispute-description' });
  const parties = h('div', { class: 'parties' });
  const addParty = () => parties.append(partyRow(parties));
  addParty();
  addParty(); // a dispute has at least two sides
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-go', testid: 'dispute-submit', i18n: 'disputes.create' });

  const form = h('form', { class: 'card form', testid: 'dispute-form', on: { submit: onSubmit } },
    h('h2', { i18n: 'disputes.new' }),
    field('dispute.case_number', caseNumber),
    field('dispute.title', title),
    h('div', { class: 'field-pair' }, field('dispute.category', category), field('dispute.level', level)),
    h('fieldset', { class: 'field' },
      h('legend', { i18n: 'dispute.parties' }),
      parties,
      h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'add-party', i18n: 'dispute.add_party', on: { click: addParty } }),
    ),
    field('dispute.description', description),
    error,
    h('div', { class: 'actions' },
      submit,
      h('button', { type: 'button', class: 'btn btn-quiet', i18n: 'common.cancel', on: { click: onCancel } }),
    ),
  );
  return form;

  async function onSubmit(ev) {
    ev.preventDefault();
    error.hidden = true;
    const list = [...parties.querySelectorAll('.party-row')]
      .map((r) => ({ name: r.querySelector('[name=party_name]').value.trim(), phone: r.querySelector('[name=party_phone]').value.trim() }))
      .filter((p) => p.name)
      .map((p) => (p.phone ? p : { name: p.name }));
    if (list.length === 0) return showError(error, 'dispute.need_party');
    submit.disabled = true;
    try {
      const { dispute } = await api.createDispute({
        case_number: caseNumber.value.trim(),
        title: title.value.trim(),
        category: category.value,
        level: level.value,
        parties: list,
        description: description.value.trim() || undefined,
      });
      location.hash = `#/disputes/${encodeURIComponent(dispute.id)}`;
    } catch (e) {
      showError(error, e);
      submit.disabled = false;
    }
  }
}

function partyRow(container) {
  const rowEl = h('div', { class: 'party-row' },
    h('input', { name: 'party_name', testid: 'party-name', placeholder: 'dispute.party_name', autocomplete: 'off' }),
    h('input', { name: 'party_phone', testid: 'party-phone', type: 'tel', inputmode: 'tel', placeholder: 'dispute.party_phone', autocomplete: 'off' }),
    h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', label: 'dispute.remove_party', text: '×',
      on: { click: () => container.children.length > 1 && rowEl.remove() },
    }),
  );
  return rowEl;
}
