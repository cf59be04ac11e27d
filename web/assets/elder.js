// Elder mode ("大字模式"): large type and large buttons for parties who find the page small,
// switched with one tap and kept for their link, so the next visit opens the same way. In it,
// the page also says aloud what it needs the person to do (speechSynthesis, in the page's
// language), as a helper sitting beside them would.
import { h, setLabel, setText } from './dom.js';
import { t, lang } from './i18n.js';
import { setStatus, status } from './state.js';

const KEY_PREFIX = 'concord.elder.';

let enabled = false;
let storageKey = null;
const buttons = new Set();

// Takes up the choice kept for `link` (an invitation token; null for signed-in staff, who
// keep one choice for the browser).
export function startElderMode(link) {
  storageKey = KEY_PREFIX + (link || 'account');
  let kept = false;
  try { kept = localStorage.getItem(storageKey) === '1'; } catch { /* private mode: not kept */ }
  apply(kept);
}

export function elderModeOn() {
  return enabled;
}

function apply(on) {
  enabled = on;
  document.documentElement.classList.toggle('elder', on);
  setStatus({ elder: on });
  for (const button of buttons) {
    if (button.isConnected) render(button);
    else buttons.delete(button); // a page drawn over since
  }
}

export function setElderMode(on) {
  apply(on);
  try {
    if (storageKey) localStorage.setItem(storageKey, on ? '1' : '0');
  } catch { /* private mode: the choice lasts for this visit */ }
  if (on) say('elder.on_spoken');
}

// The one-tap switch, for the join page and the room.
export function elderButton({ className = 'btn btn-quiet elder-toggle' } = {}) {
  const button = h('button', { type: 'button', class: className, testid: 'elder-toggle', on: { click: () => setElderMode(!enabled) } });
  buttons.add(button);
  render(button);
  return button;
}

function render(button) {
  setText(button, enabled ? 'elder.off' : 'elder.on');
  button.setAttribute('aria-pressed', String(enabled));
  setLabel(button, enabled ? 'elder.off' : 'elder.on');
}

// Says `keys` (one i18n key or several, in order) aloud in elder mode: what the page needs done
// now. Kept in status.spoken so a helper on the phone, and the tests, can see what was said.
export function say(keys, vars) {
  if (!enabled) return;
  const all = Array.isArray(keys) ? keys : [keys];
  const text = all.map((key) => t(key, vars)).join(' ');
  status.spoken = [...(status.spoken || []), ...all].slice(-20);
  try {
    if (!('speechSynthesis' in window)) return;
    window.speechSynthesis.cancel();
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = lang();
    utterance.rate = 0.9;
    window.speechSynthesis.speak(utterance);
  } catch { /* no voice on this phone: the words are on the screen */ }
}
