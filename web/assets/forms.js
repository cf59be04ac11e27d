// Small form pieces shared by the console and the setup page, and one way to show errors.
import { h, setText } from './dom.js';
import { t, hasKey } from './i18n.js';

let nextId = 0;

// A labelled field: <label> text above the control, optional hint below.
export function field(labelKey, control, hintKey) {
  if (!control.id) control.id = `f${++nextId}`;
  return h('div', { class: 'field' },
    h('label', { for: control.id, i18n: labelKey }),
    control,
    hintKey && h('p', { class: 'hint', i18n: hintKey }),
  );
}

// <select> whose option labels are translated: options is [[value, i18nKey], ...].
export function select(options, props = {}) {
  return h('select', props, options.map(([value, key]) => h('option', { value, i18n: key })));
}

export function errorBox() {
  return h('p', { class: 'form-error', role: 'alert', testid: 'form-error', hidden: true });
}

// Shows an i18n key, or an ApiError by its stable code (falling back to the server's message,
// then to a generic one).
export function showError(box, keyOrError) {
  box.hidden = false;
  if (typeof keyOrError === 'string') {
    setText(box, keyOrError);
    return;
  }
  const code = keyOrError && keyOrError.code;
  if (code && hasKey(`err.${code}`)) setText(box, `err.${code}`);
  else if (keyOrError && keyOrError.message && keyOrError.status) {
    delete box.dataset.i18n;
    box.textContent = keyOrError.message;
  } else setText(box, 'err.unknown');
  box.dataset.code = code || '';
}

// Friendly text for an error, for places that are not a form.
export function errorText(e) {
  const code = e && e.code;
  return code && hasKey(`err.${code}`) ? t(`err.${code}`) : (e && e.message) || t('err.unknown');
}
