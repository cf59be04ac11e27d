// The page behind an invitation link /j/{token}: for parties, experts and observers, who have
// no account and install nothing. Checks the link, shows who they are, checks their camera and
// microphone, then joins the room. Inside a browser that cannot capture (WeChat on an older
// iPhone) it says how to open the link in the phone's own browser instead.
import { api } from './api.js';
import { h, mount } from './dom.js';
import { DeviceCheck } from './devicecheck.js';
import { Room } from './room.js';
import { setStatus } from './state.js';
import { elderButton, say, startElderMode } from './elder.js';
import { inAppBrowser, openInBrowserSteps } from './inapp.js';

// Codes that get their own full-page explanation (see i18n "invite.*").
const INVITE_ERRORS = new Set(['invitation_unknown', 'invitation_expired', 'invitation_revoked', 'session_ended', 'rate_limited']);

export async function startJoin(main, token) {
  setStatus({ state: 'idle', pc: null, participantId: null });
  startElderMode(token);
  mount(main, h('p', { class: 'center-page big-message', i18n: 'common.loading' }));
  let info;
  try {
    info = await api.inspectInvitation(token);
  } catch (e) {
    showInviteError(main, inviteErrorCode(e), () => startJoin(main, token));
    return;
  }
  if (info.session && info.session.status === 'ended') {
    showInviteError(main, 'session_ended');
    return;
  }
  const browser = inAppBrowser();
  if (!browser.canCapture) {
    showOpenInBrowser(main, browser);
    return;
  }
  showDeviceCheck(main, token, info, browser);
}

// This browser cannot use the camera or microphone: the way out, in plain words, and the link
// ready to copy for those who would rather paste it.
function showOpenInBrowser(main, browser) {
  setStatus({ state: 'open-in-browser' });
  const copied = h('p', { class: 'hint', role: 'status', hidden: true, i18n: 'inapp.copied' });
  mount(main, h('section', { class: 'center-page inapp', testid: 'open-in-browser' },
    elderButton(),
    h('h1', { i18n: 'inapp.title' }),
    h('p', { class: 'big-message', i18n: 'inapp.cannot_capture' }),
    h('p', { class: 'big-message inapp-steps', testid: 'open-in-browser-steps', i18n: openInBrowserSteps(browser) }),
    h('button', {
      type: 'button', class: 'btn btn-go btn-wide', testid: 'copy-link', i18n: 'inapp.copy_link',
      on: {
        click: async () => {
          try {
            await navigator.clipboard.writeText(location.href);
            copied.hidden = false;
          } catch { /* no clipboard here: the steps above still work */ }
        },
      },
    }),
    copied,
  ));
  say(openInBrowserSteps(browser));
}

function inviteErrorCode(e) {
  if (INVITE_ERRORS.has(e.code)) return e.code;
  if (e.status === 404) return 'invitation_unknown';
  if (e.status === 429) return 'rate_limited';
  return 'network';
}

// A full-page message for a link that cannot be used. `retry` adds a "try again" button.
export function showInviteError(main, code, retry) {
  setStatus({ state: 'error', pc: null });
  const known = INVITE_ERRORS.has(code) ? code : 'network';
  mount(main, h('section', { class: 'center-page invite-error', testid: 'invite-error', dataset: { code } },
    h('div', { class: 'error-mark', 'aria-hidden': 'true', text: code === 'session_ended' ? '✓' : '!' }),
    h('h1', { i18n: `invite.${known}_title` }),
    h('p', { class: 'big-message', i18n: `invite.${known}_text` }),
    (retry && (known === 'network' || known === 'rate_limited')) &&
      h('button', { type: 'button', class: 'btn btn-go', i18n: 'common.retry', on: { click: retry } }),
  ));
}

function showDeviceCheck(main, token, info, browser) {
  setStatus({ state: 'device-check' });
  const role = info.role || 'party';
  const observer = role === 'observer';
  const joinButton = h('button', { type: 'button', class: 'btn btn-go btn-wide', testid: 'join-button', i18n: 'join.button', disabled: true });
  const check = new DeviceCheck({ onReady: () => { joinButton.disabled = false; say('join.ready_spoken'); } });
  const dispute = info.dispute || {};

  mount(main, h('section', { class: 'join-page' },
    h('div', { class: 'join-tools' }, elderButton()),
    h('div', { class: 'card who', testid: 'invite-info' },
      h('p', { class: 'who-hello', i18n: ['join.hello', { name: info.name || '' }] }),
      h('p', null, h('span', { class: 'muted', i18n: 'join.your_role' }), ' ',
        h('strong', { class: 'role-badge', dataset: { role }, i18n: `role.${role}` })),
      h('p', null, h('span', { class: 'muted', i18n: 'join.case' }), ' ',
        h('strong', { text: [dispute.case_number, dispute.title].filter(Boolean).join(' · ') })),
    ),
    browser.wechat && h('p', { class: 'notice', testid: 'wechat-hint', i18n: 'join.wechat' },
      ' ', h('span', { i18n: openInBrowserSteps(browser) })),
    check.el,
    joinButton,
    h('p', { class: 'hint', i18n: observer ? 'join.observer_hint' : 'join.privacy' }),
  ));
  if (observer) check.showWatchOnly();
  else check.start();

  joinButton.addEventListener('click', () => {
    joinButton.disabled = true;
    const room = new Room({
      root: main,
      join: { type: 'join', token },
      me: { name: info.name, role },
      localStream: observer ? null : check.takeStream(),
      publish: !observer,
      title: dispute.title,
      onJoinError: (code) => {
        if (!INVITE_ERRORS.has(code)) return false;
        showInviteError(main, code);
        return true;
      },
      // Going back in means a fresh device check: the room stopped the camera when it ended.
      endActions: (reason) => (reason === 'left' || reason === 'error')
        ? h('button', { type: 'button', class: 'btn btn-go', testid: 'rejoin-button', i18n: 'end.join_again', on: { click: () => location.reload() } })
        : null,
    });
    room.start();
  });
}
