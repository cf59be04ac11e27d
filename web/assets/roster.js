// #/experts: the expert roster a mediator invites from in the room. Every account reads it;
// mediators and administrators add to it (name, specialty, center, phone).
import { api } from './api.js';
import { h, mount, setText } from './dom.js';
import { field, errorBox, showError, errorText } from './forms.js';

// The specialties a county center usually calls on; any other may be typed.
const COMMON_SPECIALTIES = ['土地', '婚姻家庭', '劳动', '医疗', '物业'];

export function showRoster(main, me) {
  const view = { alive: true, destroy() { this.alive = false; } };
  const list = h('div', { class: 'list', testid: 'expert-list' }, h('p', { class: 'hint', i18n: 'common.loading' }));
  const done = h('p', { class: 'ok', role: 'status', testid: 'roster-status', hidden: true });
  const mayAdd = me.role === 'admin' || me.role === 'mediator';
  mount(main, h('section', { class: 'page', testid: 'roster-page' },
    h('a', { href: '#/', class: 'back', i18n: 'nav.back_to_list' }),
    h('div', { class: 'page-head' }, h('h1', { i18n: 'roster.title' })),
    mayAdd && newExpertForm((expert) => {
      setText(done, 'roster.added', { name: expert.name });
      done.hidden = false;
      load();
    }),
    done,
    list,
  ));
  load();
  return view;

  function load() {
    api.listExperts().then(({ experts = [] }) => {
      if (!view.alive) return;
      mount(list, experts.length === 0
        ? h('p', { class: 'empty', i18n: 'roster.empty' })
        : experts.map((e) => h('div', { class: 'card row', testid: 'roster-entry', dataset: { specialty: e.specialty } },
          h('strong', { text: e.name }),
          h('span', { class: 'badge', text: e.specialty }),
          h('span', { class: 'muted', text: e.center }),
          e.phone && h('span', { class: 'muted', text: e.phone }))));
    }).catch((e) => view.alive && mount(list, h('p', { class: 'form-error', role: 'alert', text: errorText(e) })));
  }
}

function newExpertForm(onAdded) {
  const name = h('input', { name: 'name', required: true, autocomplete: 'off', testid: 'roster-name' });
  const specialty = h('input', { name: 'specialty', required: true, list: 'roster-specialties', autocomplete: 'off', testid: 'roster-specialty' });
  const specialties = h('datalist', { id: 'roster-specialties' }, COMMON_SPECIALTIES.map((s) => h('option', { value: s })));
  const center = h('input', { name: 'center', autocomplete: 'off', testid: 'roster-center' });
  const phone = h('input', { name: 'phone', type: 'tel', autocomplete: 'off', testid: 'roster-phone' });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-go', testid: 'roster-add', i18n: 'roster.add' });
  const form = h('form', { class: 'card form', testid: 'roster-form', on: { submit: onSubmit } },
    h('h2', { i18n: 'roster.new' }),
    field('roster.name', name),
    field('roster.specialty', specialty),
    specialties,
    field('roster.center', center),
    field('roster.phone', phone),
    error,
    h('div', { class: 'actions' }, submit));
  return form;

  async function onSubmit(ev) {
    ev.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      const { expert } = await api.createExpert({
        name: name.value.trim(), specialty: specialty.value.trim(), center: center.value.trim(), phone: phone.value.trim(),
      });
      form.reset();
      onAdded(expert);
    } catch (e) {
      showError(error, e);
    } finally {
      submit.disabled = false;
    }
  }
}
