// First start: the holder of the setup link /setup/{token} creates the administrator account.
import { api } from './api.js';
import { h, mount } from './dom.js';
import { field, errorBox, showError, passwordProblem, MIN_PASSWORD_CHARS } from './forms.js';

export function startSetup(main, token) {
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, testid: 'setup-username', autocapitalize: 'none', spellcheck: 'false' });
  const displayName = h('input', { name: 'display_name', autocomplete: 'name', required: true, testid: 'setup-display-name' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: MIN_PASSWORD_CHARS, testid: 'setup-password' });
  const again = h('input', { name: 'password2', type: 'password', autocomplete: 'new-password', required: true, testid: 'setup-password-again' });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-go btn-wide', testid: 'setup-submit', i18n: 'setup.submit' });

  const form = h('form', { class: 'card form', on: { submit: onSubmit } },
    h('h1', { i18n: 'setup.title' }),
    h('p', { class: 'hint', i18n: 'setup.intro' }),
    field('setup.username', username),
    field('setup.display_name', displayName),
    field('setup.password', password, ['password.hint', { n: MIN_PASSWORD_CHARS }]),
    field('setup.password_again', again),
    error,
    submit,
  );
  mount(main, h('section', { class: 'narrow-page' }, form));

  async function onSubmit(ev) {
    ev.preventDefault();
    error.hidden = true;
    const problem = passwordProblem(password.value, again.value);
    if (problem) return showError(error, problem);
    submit.disabled = true;
    try {
      await api.setup({
        token,
        username: username.value.trim(),
        display_name: displayName.value.trim(),
        password: password.value,
      });
      location.assign('/');
    } catch (e) {
      showError(error, e);
      submit.disabled = false;
    }
  }
}
