// The console at `/` for mediators, clerks and the administrator: sign-in, then hash routes
//   #/                    dispute list and "register a dispute"
//   #/disputes/{id}       one dispute's file
//   #/sessions/{id}       one session: invitations
//   #/sessions/{id}/room  the host's room
//   #/account             who is signed in: change the password, sign out everywhere
//   #/users               the accounts (administrators): create, disable, enable
//   #/experts             the expert roster (roster.js)
// The account and users pages are here, beside the sign-in they look after.
import { api, SIGNED_OUT_EVENT } from './api.js';
import { h, mount, setText, setLabel } from './dom.js';
import { t } from './i18n.js';
import { field, select, errorBox, showError, errorText, passwordProblem, MIN_PASSWORD_CHARS } from './forms.js';
import { labelProps, ACCOUNT_ROLES } from './format.js';
import { showDisputeList } from './disputes.js';
import { showDispute } from './dispute.js';
import { showSession, showHostRoom } from './session.js';
import { showRoster } from './roster.js';
import { setStatus } from './state.js';

export async function startConsole(main, userBar) {
  setStatus({ state: 'idle', pc: null, participantId: null });
  mount(main, h('p', { class: 'center-page big-message', i18n: 'common.loading' }));
  let user;
  try {
    ({ user } = await api.me());
  } catch (e) {
    if (e.status === 401) {
      showLogin(main, userBar);
      return;
    }
    mount(main, h('section', { class: 'center-page' },
      h('p', { class: 'big-message', i18n: 'err.network' }),
      h('button', { type: 'button', class: 'btn btn-go', i18n: 'common.retry', on: { click: () => startConsole(main, userBar) } }),
    ));
    return;
  }
  showUser(userBar, user);
  runRouter(main, userBar, user);
}

// The sign-in form; `noticeKey` says why it is shown again (a sign-in that ended).
function showLogin(main, userBar, noticeKey) {
  mount(userBar);
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, testid: 'login-username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-go btn-wide', testid: 'login-submit', i18n: 'login.submit' });
  mount(main, h('section', { class: 'narrow-page' },
    h('form', { class: 'card form', testid: 'login-form', on: { submit: onSubmit } },
      h('h1', { i18n: 'login.title' }),
      noticeKey && h('p', { class: 'notice', role: 'status', testid: 'login-notice', i18n: noticeKey }),
      field('login.username', username),
      field('login.password', password),
      error,
      submit,
    ),
  ));
  username.focus();

  async function onSubmit(ev) {
    ev.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      await api.login(username.value.trim(), password.value);
      startConsole(main, userBar);
    } catch (e) {
      showError(error, e.status === 401 ? 'login.wrong' : e);
      submit.disabled = false;
      password.select();
    }
  }
}

function showUser(userBar, user) {
  const navLink = (href, key, testid) => h('a', { class: 'btn btn-small btn-quiet', href, testid, i18n: key });
  mount(userBar,
    h('span', { class: 'user-name', testid: 'user-name', text: user.display_name || user.username }),
    h('nav', { class: 'user-nav' },
      navLink('#/experts', 'nav.experts', 'nav-experts'),
      navLink('#/account', 'nav.account', 'nav-account'),
      // Only administrators manage accounts (the server refuses everyone else anyway).
      user.role === 'admin' && navLink('#/users', 'nav.users', 'nav-users'),
      h('button', {
        type: 'button', class: 'btn btn-small btn-quiet', testid: 'logout-button', i18n: 'login.logout',
        on: {
          click: async () => {
            try { await api.logout(); } catch { /* the reload shows the sign-in form either way */ }
            // A fresh page: hangs up any call and forgets everything shown to this account.
            location.assign('/');
          },
        },
      }),
    ),
  );
}

let routerInstalled = false;
let current = null; // the view on screen, maybe with destroy() (the room must hang up)
let routeArgs = null; // { main, userBar, user } while signed in

function runRouter(main, userBar, user) {
  routeArgs = { main, userBar, user };
  if (!routerInstalled) {
    routerInstalled = true;
    window.addEventListener('hashchange', route);
    window.addEventListener(SIGNED_OUT_EVENT, signedOut);
  }
  route();
}

function leaveView() {
  if (current && current.destroy) current.destroy();
  current = null;
  setStatus({ state: 'idle', pc: null, participantId: null });
}

function route() {
  if (!routeArgs) return;
  const { main, user } = routeArgs;
  leaveView();
  window.scrollTo(0, 0);
  const path = location.hash.replace(/^#/, '') || '/';
  markCurrentNav(path);
  let m;
  if ((m = path.match(/^\/disputes\/([^/]+)$/))) current = showDispute(main, user, decodeURIComponent(m[1]));
  else if ((m = path.match(/^\/sessions\/([^/]+)\/room$/))) current = showHostRoom(main, user, decodeURIComponent(m[1]));
  else if ((m = path.match(/^\/sessions\/([^/]+)$/))) current = showSession(main, user, decodeURIComponent(m[1]));
  else if (path === '/account') current = showAccount(main);
  else if (path === '/users') current = showUsers(main, user);
  else if (path === '/experts') current = showRoster(main, user);
  else current = showDisputeList(main, user);
}

// The header link of the page on screen is marked, for eyes and screen readers alike.
function markCurrentNav(path) {
  for (const link of document.querySelectorAll('.user-nav a')) {
    if (link.getAttribute('href') === `#${path}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

// This browser's sign-in ended while the page was open (api.js says so on a 401): leave the
// view and ask for the password again. The address stays, so signing in returns to it.
function signedOut() {
  if (!routeArgs) return; // the sign-in form is already showing
  const { main, userBar } = routeArgs;
  routeArgs = null;
  leaveView();
  showLogin(main, userBar, 'err.signed_out');
}

// ---- #/account ----

function showAccount(main) {
  const view = { alive: true, destroy() { this.alive = false; } };
  mount(main, h('p', { class: 'center-page big-message', i18n: 'common.loading' }));
  // Asked afresh rather than remembered from the sign-in: this is where people look to see
  // who they are signed in as, and a sign-in that ended meanwhile is found out here.
  api.me().then(({ user }) => {
    if (view.alive) drawAccount(main, user);
  }).catch((e) => view.alive && mount(main, h('section', { class: 'page account-page' },
    h('p', { class: 'form-error', role: 'alert', text: errorText(e) }),
  )));
  return view;
}

function drawAccount(main, user) {
  const detail = (key, props) => [h('dt', { i18n: key }), h('dd', props)];
  mount(main, h('section', { class: 'page account-page', testid: 'account-page' },
    h('a', { href: '#/', class: 'back', i18n: 'nav.back_to_list' }),
    h('h1', { i18n: 'account.title' }),
    h('div', { class: 'card' },
      h('dl', { class: 'details' },
        detail('account.display_name', { testid: 'account-display-name', text: user.display_name }),
        detail('account.username', { testid: 'account-username', class: 'username', text: user.username }),
        detail('account.role', { testid: 'account-role', ...labelProps('role', user.role) }),
      ),
    ),
    passwordForm(),
    signOutEverywhereCard(),
  ));
}

function passwordForm() {
  const current = h('input', { name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, testid: 'current-password' });
  const next = h('input', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, testid: 'new-password' });
  const again = h('input', { name: 'new_password_again', type: 'password', autocomplete: 'new-password', required: true, testid: 'new-password-again' });
  const error = errorBox();
  const changed = h('p', { class: 'ok', role: 'status', testid: 'password-changed', hidden: true, i18n: 'account.password_changed' });
  const submit = h('button', { type: 'submit', class: 'btn btn-go', testid: 'password-submit', i18n: 'account.password_submit' });
  const form = h('form', { class: 'card form', testid: 'password-form', on: { submit: onSubmit } },
    h('h2', { i18n: 'account.change_password' }),
    h('p', { class: 'hint', i18n: 'account.change_password_hint' }),
    field('account.current_password', current),
    field('account.new_password', next, ['password.hint', { n: MIN_PASSWORD_CHARS }]),
    field('account.new_password_again', again),
    error,
    changed,
    h('div', { class: 'actions' }, submit),
  );
  return form;

  async function onSubmit(ev) {
    ev.preventDefault();
    error.hidden = true;
    changed.hidden = true;
    const problem = passwordProblem(next.value, again.value);
    if (problem) {
      showError(error, problem);
      next.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api.changePassword(current.value, next.value);
      form.reset();
      changed.hidden = false;
    } catch (e) {
      showError(error, e);
      if (e.code === 'wrong_password') current.select();
    }
    submit.disabled = false;
  }
}

function signOutEverywhereCard() {
  const error = errorBox();
  const button = h('button', {
    type: 'button', class: 'btn btn-danger', testid: 'sign-out-everywhere', i18n: 'account.sign_out_everywhere',
    on: { click: onClick },
  });
  return h('div', { class: 'card form' },
    h('h2', { i18n: 'account.sign_out_everywhere' }),
    h('p', { class: 'hint', i18n: 'account.sign_out_everywhere_hint' }),
    error,
    h('div', { class: 'actions' }, button),
  );

  async function onClick() {
    // Looked up at the time of the tap, so automated tests can replace window.confirm.
    if (!window.confirm(t('account.sign_out_everywhere_confirm'))) return;
    error.hidden = true;
    button.disabled = true;
    try {
      await api.logoutEverywhere();
      // A fresh page, as after signing out here: the sign-in form, nothing of this account.
      location.assign('/');
    } catch (e) {
      showError(error, e);
      button.disabled = false;
    }
  }
}

// ---- #/users (administrators) ----

// The server's rule for usernames (signaling/src/api/validate.rs), checked first so the form
// can say what is wrong in plain words.
const USERNAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

function showUsers(main, me) {
  const view = { alive: true, destroy() { this.alive = false; } };
  const list = h('div', { class: 'list', testid: 'user-list' }, h('p', { class: 'hint', i18n: 'common.loading' }));
  const done = h('p', { class: 'ok', role: 'status', testid: 'users-status', hidden: true });
  const formSlot = h('div');
  const newButton = me.role === 'admin' && h('button', {
    type: 'button', class: 'btn btn-go', testid: 'new-user', i18n: 'users.new', on: { click: openForm },
  });
  mount(main, h('section', { class: 'page', testid: 'users-page' },
    h('a', { href: '#/', class: 'back', i18n: 'nav.back_to_list' }),
    h('div', { class: 'page-head' }, h('h1', { i18n: 'users.title' }), newButton),
    formSlot,
    done,
    list,
  ));
  load();
  return view;

  function say(key, vars) {
    setText(done, key, vars);
    done.hidden = false;
  }

  function load() {
    // Non-administrators never see the link here; if they type the address, the server's
    // refusal is what they read.
    api.listUsers().then(({ users = [] }) => {
      if (view.alive) mount(list, users.map((user) => userRow(user, me, say)));
    }).catch((e) => view.alive && mount(list, h('p', { class: 'form-error', role: 'alert', testid: 'users-error', text: errorText(e) })));
  }

  function openForm() {
    done.hidden = true;
    newButton.hidden = true;
    const form = newUserForm(onCreated, closeForm);
    mount(formSlot, form);
    form.querySelector('input').focus();
  }

  function closeForm() {
    formSlot.replaceChildren();
    newButton.hidden = false;
    newButton.focus();
  }

  function onCreated(user) {
    closeForm();
    say('users.created', { name: user.display_name, username: user.username });
    load();
  }
}

function newUserForm(onCreated, onCancel) {
  const username = h('input', { name: 'username', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', testid: 'new-user-username' });
  const displayName = h('input', { name: 'display_name', required: true, autocomplete: 'off', testid: 'new-user-display-name' });
  const role = select(ACCOUNT_ROLES.map((r) => [r, `role.${r}`]), { name: 'role', testid: 'new-user-role', value: ACCOUNT_ROLES[0] });
  const password = h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password', testid: 'new-user-password' });
  const again = h('input', { name: 'password_again', type: 'password', required: true, autocomplete: 'new-password', testid: 'new-user-password-again' });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-go', testid: 'new-user-submit', i18n: 'users.create' });
  return h('form', { class: 'card form', testid: 'new-user-form', on: { submit: onSubmit } },
    h('h2', { i18n: 'users.new' }),
    field('users.username', username, 'users.username_hint'),
    field('users.display_name', displayName),
    field('users.role', role, 'users.role_hint'),
    field('users.password', password, ['users.password_hint', { n: MIN_PASSWORD_CHARS }]),
    field('users.password_again', again),
    error,
    h('div', { class: 'actions' },
      submit,
      h('button', { type: 'button', class: 'btn btn-quiet', i18n: 'common.cancel', on: { click: onCancel } }),
    ),
  );

  async function onSubmit(ev) {
    ev.preventDefault();
    error.hidden = true;
    const name = username.value.trim();
    if (!USERNAME_PATTERN.test(name)) {
      showError(error, 'users.username_invalid');
      username.focus();
      return;
    }
    const problem = passwordProblem(password.value, again.value);
    if (problem) {
      showError(error, problem);
      password.focus();
      return;
    }
    submit.disabled = true;
    try {
      const { user } = await api.createUser({
        username: name,
        display_name: displayName.value.trim(),
        role: role.value,
        password: password.value,
      });
      onCreated(user);
    } catch (e) {
      // Creating an account meets only one conflict: the username is taken.
      showError(error, e.code === 'conflict' ? 'users.username_taken' : e);
      submit.disabled = false;
    }
  }
}

// One account in the list: who, role, whether it may sign in, and the switch for it. An
// administrator's own row has no switch: the server refuses to disable its caller.
function userRow(user, me, say) {
  const own = user.id === me.id;
  const state = h('span', { testid: 'user-state' });
  const error = errorBox();
  const toggle = !own && h('button', { type: 'button', class: 'btn btn-small btn-quiet', testid: 'user-toggle', on: { click: onToggle } });
  const row = h('div', { class: 'row user-row', testid: 'user-row', dataset: { username: user.username } },
    h('div', { class: 'row-main' },
      h('strong', { class: 'row-title', testid: 'user-display-name', text: user.display_name }),
      h('span', { class: 'username', text: user.username }),
    ),
    h('div', { class: 'row-meta' },
      h('span', { class: 'badge', testid: 'user-role', ...labelProps('role', user.role) }),
      state,
      own && h('span', { class: 'muted', testid: 'user-own', i18n: 'users.yours' }),
      toggle,
    ),
    error,
  );
  draw(user);
  return row;

  function draw(account) {
    user = account;
    row.dataset.disabled = String(account.disabled);
    state.className = `badge ${account.disabled ? 'user-disabled' : 'user-active'}`;
    setText(state, account.disabled ? 'users.state_disabled' : 'users.state_active');
    if (toggle) {
      setText(toggle, account.disabled ? 'users.enable' : 'users.disable');
      // Every row's button says the same word; the label says whose account it is.
      setLabel(toggle, account.disabled ? 'users.enable_label' : 'users.disable_label', { name: account.display_name });
    }
  }

  async function onToggle() {
    const disabling = !user.disabled;
    const question = t(disabling ? 'users.disable_confirm' : 'users.enable_confirm', { name: user.display_name, username: user.username });
    // Looked up at the time of the tap, so automated tests can replace window.confirm.
    if (!window.confirm(question)) return;
    error.hidden = true;
    toggle.disabled = true;
    try {
      const { user: changed } = await api.setUserDisabled(user.id, disabling);
      draw(changed);
      say(changed.disabled ? 'users.disabled_done' : 'users.enabled_done', { name: changed.display_name });
    } catch (e) {
      // The one conflict here is an administrator's own account (see above).
      showError(error, e.code === 'conflict' ? 'users.cannot_disable_self' : e);
    }
    toggle.disabled = false;
  }
}
