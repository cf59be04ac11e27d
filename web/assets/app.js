// The entry point: draws the page frame (title bar, language switch) and picks the view from
// the path: /j/{token} invitee, /setup/{token} first start, / the console.
import { h, mount, setText } from './dom.js';
import { lang, setLang, otherLang, t } from './i18n.js';
import { mediaAllowedHere } from './media.js';
import { startJoin } from './join.js';
import { startSetup } from './setup.js';
import { startConsole } from './console.js';
import { setStatus } from './state.js';

function frame() {
  const userBar = h('div', { class: 'user-bar' });
  const langButton = h('button', {
    type: 'button', class: 'btn btn-small lang-toggle', testid: 'lang-toggle', lang: otherLang(),
    on: { click: () => setLang(otherLang()) },
  });
  const drawLangButton = () => {
    setText(langButton, 'app.other_language');
    langButton.lang = otherLang();
    document.title = t('app.name');
  };
  drawLangButton();
  document.addEventListener('langchange', drawLangButton);
  const main = h('main', { id: 'main', class: 'main' });
  mount(document.getElementById('app'),
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '/', i18n: 'app.name' }),
      userBar,
      langButton,
    ),
    // Browsers hide the camera from plain http pages (except on this computer itself).
    !mediaAllowedHere() && h('p', { class: 'notice notice-strong', testid: 'insecure-notice', i18n: 'app.needs_https' }),
    main,
  );
  return { main, userBar };
}

function start() {
  document.documentElement.lang = lang();
  setStatus({ state: 'idle' });
  const { main, userBar } = frame();
  const path = location.pathname;
  let m;
  if ((m = path.match(/^\/j\/([^/]+)\/?$/))) startJoin(main, decodeURIComponent(m[1]));
  else if ((m = path.match(/^\/setup\/([^/]+)\/?$/))) startSetup(main, decodeURIComponent(m[1]));
  else if (path === '/' || path === '/index.html') startConsole(main, userBar);
  else {
    mount(main, h('section', { class: 'center-page' },
      h('p', { class: 'big-message', i18n: 'app.not_found' }),
      h('a', { class: 'btn btn-go', href: '/', i18n: 'nav.home' }),
    ));
  }
}

start();
