// A tiny element builder. Text is always set through textContent, never innerHTML, so names and
// case titles typed by people can never inject markup into the page.
import { t } from './i18n.js';

// h('button', {class: 'big', i18n: 'join.button', testid: 'join-button', on: {click}}, ...children)
//
// Special props: class, text, i18n (key or [key, vars]: translated now and again when the
// language changes), label (i18n key for aria-label and title), placeholder (i18n key),
// testid, dataset, on (event listeners), value / checked (set as properties). Anything else
// becomes an attribute; true means a bare attribute, null/false/undefined means none.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  let value;
  let checked;
  for (const [key, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    switch (key) {
      case 'class': el.className = v; break;
      case 'text': el.textContent = v; break;
      case 'i18n': Array.isArray(v) ? setText(el, v[0], v[1]) : setText(el, v); break;
      case 'label': setLabel(el, v); break;
      case 'placeholder':
        el.dataset.i18nPlaceholder = v;
        el.placeholder = t(v);
        break;
      case 'testid': el.dataset.testid = v; break;
      case 'dataset': Object.assign(el.dataset, v); break;
      case 'on': for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); break;
      case 'value': value = v; break;
      case 'checked': checked = v; break;
      default: el.setAttribute(key, v === true ? '' : String(v));
    }
  }
  append(el, children);
  // After the children, so a <select> already has the option being chosen.
  if (value !== undefined) el.value = value;
  if (checked !== undefined) el.checked = checked;
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

// Replaces everything inside `parent`.
export function mount(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

// Sets translated text and remembers the key so a language switch can redo it in place
// (the room cannot be re-rendered without dropping the call).
export function setText(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(key, vars);
  return el;
}

export function setLabel(el, key, vars) {
  el.dataset.i18nLabel = key;
  if (vars) el.dataset.i18nLabelVars = JSON.stringify(vars);
  else delete el.dataset.i18nLabelVars;
  el.setAttribute('aria-label', t(key, vars));
  el.title = t(key, vars);
  return el;
}

// Inline SVG icons, drawn here so nothing is fetched from elsewhere. 24x24 stroke paths.
const ICONS = {
  voice: 'M4 15v-3a8 8 0 0 1 16 0v3M4 15h3v5H4zM17 15h3v5h-3z',
  mic: 'M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3',
  'mic-off': 'M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3M3 3l18 18',
  cam: 'M3 7h12v10H3zM15 10l6-3v10l-6-3',
  'cam-off': 'M3 7h12v10H3zM15 10l6-3v10l-6-3M2 3l20 18',
  leave: 'M10 17l-5-5 5-5M5 12h11M14 4h6v16h-6',
  end: 'M3 14c5-5 13-5 18 0l-3 3-3-2v-3c-2-.6-4-.6-6 0v3l-3 2z',
  sound: 'M4 9h4l5-4v14l-5-4H4zM16 9a4 4 0 0 1 0 6M19 6a8 8 0 0 1 0 12',
  copy: 'M8 8h12v12H8zM4 16V4h12',
  rec: 'M12 5a7 7 0 1 0 0 14 7 7 0 0 0 0-14z',
  stop: 'M6 6h12v12H6z',
  play: 'M7 4l13 8-13 8z',
  download: 'M12 3v12M7 10l5 5 5-5M4 20h16',
  chat: 'M4 5h16v11H9l-5 4z',
  share: 'M18 8a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM6 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM18 22a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM8.6 13.5l6.8 4M15.4 6.5l-6.8 4',
};

export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon icon-${name}`);
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.append(path);
  return svg;
}
