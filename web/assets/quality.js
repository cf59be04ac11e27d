// The connection-quality mark on a tile (from the server's `quality` message): three bars,
// as many lit as the level is good, coloured so it reads at a glance, and named in words for
// screen readers. Where the entry carries the numbers (your own, and everyone's for the host),
// they go in the tooltip; the host also sees them as a small line on the tile.
import { h, setLabel, setText } from './dom.js';

const LEVELS = ['poor', 'fair', 'good'];

export function qualityMark() {
  const bars = h('span', { class: 'q-bars', 'aria-hidden': 'true' }, h('span'), h('span'), h('span'));
  const detail = h('span', { class: 'q-detail', hidden: true });
  const el = h('div', { class: 'tile-quality', testid: 'quality', hidden: true }, h('span', { class: 'q-mark', role: 'img' }, bars), detail);
  return { el, mark: el.firstChild, detail };
}

// entry: {level, loss_pct?, rtt_ms?, downlink_kbps?}. showLine: the numbers as visible text.
// Returns the level shown, or null for an entry without a known level.
export function showQuality(q, entry, { showLine = false } = {}) {
  const level = entry && LEVELS.includes(entry.level) ? entry.level : null;
  q.el.hidden = !level;
  if (!level) return null;
  q.el.dataset.level = level;
  const vars = numbers(entry);
  setLabel(q.mark, vars ? `quality.${level}_details` : `quality.${level}`, vars || undefined);
  q.detail.hidden = !(showLine && vars);
  if (vars) setText(q.detail, 'quality.details', vars);
  return level;
}

// The figures the server sent, rounded for reading; null when it sent none (another person's
// entry, seen by someone who is not the host).
function numbers(entry) {
  const has = (k) => typeof entry[k] === 'number' && Number.isFinite(entry[k]);
  if (!has('loss_pct') && !has('rtt_ms') && !has('downlink_kbps')) return null;
  const loss = has('loss_pct') ? (entry.loss_pct < 10 ? Math.round(entry.loss_pct * 10) / 10 : Math.round(entry.loss_pct)) : '–';
  return {
    loss,
    rtt: has('rtt_ms') ? Math.round(entry.rtt_ms) : '–',
    down: has('downlink_kbps') ? Math.round(entry.downlink_kbps) : '–',
  };
}
