// Small form pieces shared by the console and the setup page, and one way to show errors.
import { h, setText } from './dom.js';
import { t, hasKey } from './i18n.js';

let nextId = 0;

// A labelled field: <label> text above the control, optional hint below (an i18n key, or
// [key, vars]) that screen readers read with the control.
export function field(labelKey, control, hint) {
  if (!control.id) control.id = `f${++nextId}`;
  const hintId = hint && `${control.id}-hint`;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' },
    h('label', { for: control.id, i18n: labelKey }),
    control,
    hint && h('p', { class: 'hint', id: hintId, i18n: hint }),
  );
}

// <select> whose option labels are translated: options is [[value, i18nKey], ...].
export function select(options, props = {}) {
  return h('select', props, options.map(([value, key]) => h('option', { value, i18n: key })));
}

export function errorBox() {
  return h('p', { class: 'form-error', role: 'alert', testid: 'form-error', hidden: true });
}

// Shows an i18n key (or [key, vars]), or an ApiError by its stable code (falling back to the
// server's message, then to a generic one).
export function showError(box, keyOrError) {
  box.hidden = false;
  if (typeof keyOrError === 'string' || Array.isArray(keyOrError)) {
    const [key, vars] = [].concat(keyOrError);
    setText(box, key, vars);
    box.dataset.code = '';
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

// The server's password rule (signaling/src/api/validate.rs): at least 10 characters, at most
// 1024 bytes. Checked here first so the form can say which rule was broken; the server only
// answers `validation_failed`.
export const MIN_PASSWORD_CHARS = 10;
const MAX_PASSWORD_BYTES = 1024;

// The i18n key (with its vars) saying what is wrong with a new password typed twice, or null.
export function passwordProblem(password, again) {
  // Counted by code point, as the server counts characters.
  if ([...password].length < MIN_PASSWORD_CHARS) return ['password.too_short', { n: MIN_PASSWORD_CHARS }];
  if (new TextEncoder().encode(password).length > MAX_PASSWORD_BYTES) return ['password.too_long'];
  if (password !== again) return ['password.mismatch'];
  return null;
}
