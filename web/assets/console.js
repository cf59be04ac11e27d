// The console at `/` for mediators, clerks and the administrator: sign-in, then hash routes
//   #/                    dispute list and "register a dispute"
//   #/disputes/{id}       one dispute's file
//   #/sessions/{id}       one session: invitations
//   #/sessions/{id}/room  the host's room
import { api } from './api.js';
import { h, mount } from './dom.js';
import { field, errorBox, showError } from './forms.js';
import { showDisputeList } from './disputes.js';
import { showDispute } from './dispute.js';
import { showSession, showHostRoom } from './session.js';
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
  runRouter(main, user);
}

function showLogin(main, userBar) {
  mount(userBar);
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, testid: 'login-username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-go btn-wide', testid: 'login-submit', i18n: 'login.submit' });
  mount(main, h('section', { class: 'narrow-page' },
    h('form', { class: 'card form', testid: 'login-form', on: { submit: onSubmit } },
      h('h1', { i18n: 'login.title' }),
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
  mount(userBar,
    h('span', { class: 'user-name', testid: 'user-name', text: user.display_name || user.username }),
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
  );
}

let routerInstalled = false;
let current = null; // the view on screen, maybe with destroy() (the room must hang up)
let routeArgs = null;

function runRouter(main, user) {
  routeArgs = { main, user };
  if (!routerInstalled) {
    routerInstalled = true;
    window.addEventListener('hashchange', route);
  }
  route();
}

function route() {
  if (!routeArgs) return;
  const { main, user } = routeArgs;
  if (current && current.destroy) current.destroy();
  current = null;
  setStatus({ state: 'idle', pc: null, participantId: null });
  window.scrollTo(0, 0);
  const path = location.hash.replace(/^#/, '') || '/';
  let m;
  if ((m = path.match(/^\/disputes\/([^/]+)$/))) current = showDispute(main, user, decodeURIComponent(m[1]));
  else if ((m = path.match(/^\/sessions\/([^/]+)\/room$/))) current = showHostRoom(main, user, decodeURIComponent(m[1]));
  else if ((m = path.match(/^\/sessions\/([^/]+)$/))) current = showSession(main, user, decodeURIComponent(m[1]));
  else current = showDisputeList(main, user);
}
