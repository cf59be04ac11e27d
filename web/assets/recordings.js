// The "录像" (recordings) card of a dispute's page: every recording of its sessions with its
// files (play inline, download, SHA-256 to check a copy against), and the dispute's
// "record by default" switch for those who manage it.
import { api, recordingFileUrl } from './api.js';
import { h, icon, mount, setText } from './dom.js';
import { lang } from './i18n.js';
import { errorText } from './forms.js';
import { formatTime, labelProps } from './format.js';

export function recordingsCard(d, manage) {
  const list = h('div', { class: 'list recordings', testid: 'recordings', 'aria-busy': 'true' },
    h('p', { class: 'muted', i18n: 'common.loading' }));
  const load = async () => {
    list.setAttribute('aria-busy', 'true');
    try {
      const { recordings = [] } = await api.listRecordings(d.id);
      drawRecordings(list, recordings);
    } catch (e) {
      mount(list, h('p', { class: 'form-error', role: 'alert', text: errorText(e) }));
    }
    list.setAttribute('aria-busy', 'false');
  };
  load();
  return h('section', { class: 'card', testid: 'recordings-card' },
    h('div', { class: 'card-head' },
      h('h2', { i18n: 'recordings.title' }),
      h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'recordings-refresh', i18n: 'recordings.refresh', on: { click: load } }),
    ),
    recordByDefault(d, manage),
    list,
  );
}

// A checkbox that saves itself (PATCH record_by_default); read-only for clerks.
function recordByDefault(d, manage) {
  const box = h('input', { type: 'checkbox', testid: 'record-by-default', checked: !!d.record_by_default, disabled: !manage });
  const note = h('span', { role: 'status', class: 'ok', hidden: true });
  box.addEventListener('change', async () => {
    const wanted = box.checked;
    box.disabled = true;
    note.hidden = true;
    try {
      const { dispute } = await api.updateDispute(d.id, { record_by_default: wanted });
      box.checked = dispute && typeof dispute.record_by_default === 'boolean' ? dispute.record_by_default : wanted;
      note.className = 'ok';
      setText(note, 'common.saved');
    } catch (e) {
      box.checked = !wanted;
      note.className = 'form-error';
      delete note.dataset.i18n;
      note.textContent = errorText(e);
    }
    note.hidden = false;
    box.disabled = false;
  });
  return h('div', { class: 'record-default' },
    h('label', { class: 'check' }, box, h('span', { i18n: 'dispute.record_by_default' }), note),
    h('p', { class: 'hint', i18n: 'dispute.record_by_default_hint' }),
  );
}

function drawRecordings(list, recordings) {
  if (recordings.length === 0) {
    mount(list, h('p', { class: 'empty', i18n: 'recordings.none' }));
    return;
  }
  // Newest first: the one just made is the one people look for.
  const sorted = [...recordings].sort((a, b) => (b.started_at || 0) - (a.started_at || 0));
  mount(list, sorted.map(recordingEntry));
}

function recordingEntry(r) {
  const status = r.status || 'recording';
  const files = r.files || [];
  // Participants first, then the combined view, the manifest last.
  const order = { participant: 0, composite: 1, manifest: 2 };
  files.sort((a, b) => (order[a.kind] ?? 1) - (order[b.kind] ?? 1));
  return h('article', { class: 'recording', testid: 'recording', dataset: { recordingId: r.id, status } },
    h('div', { class: 'row-main' },
      h('span', { class: `badge rec-status-${status}`, testid: 'recording-status', ...labelProps('rec_status', status) }),
      h('span', {
        class: 'recording-time',
        i18n: r.ended_at
          ? ['recordings.time', { start: formatTime(r.started_at), end: endTime(r.started_at, r.ended_at) }]
          : ['recordings.time_open', { start: formatTime(r.started_at) }],
      }),
    ),
    r.error && h('p', { class: 'form-error recording-error', testid: 'recording-error', i18n: ['recordings.error', { message: r.error }] }),
    compositeLine(r),
    r.manifest_sha256 && h('p', { class: 'muted hash-line' }, h('span', { i18n: 'recordings.manifest_hash' }), ' ', hash(r.manifest_sha256)),
    files.length === 0
      ? h('p', { class: 'empty', i18n: 'recordings.no_files' })
      : h('ul', { class: 'file-list' }, files.map(fileEntry)),
  );
}

// The side-by-side file is made after the recording; say how far along it is.
function compositeLine(r) {
  const status = r.composite_status;
  if (!status || status === 'none' || status === 'done') return null;
  const stopped = status === 'failed' || status === 'interrupted';
  const key = status === 'failed' ? 'recordings.composite_failed'
    : status === 'interrupted' ? 'recordings.composite_interrupted'
      : status === 'pending' ? 'recordings.composite_pending' : 'recordings.composite_running';
  return h('p', {
    class: stopped ? 'form-error' : 'muted',
    testid: 'composite-progress',
    dataset: { status, percent: String(r.composite_progress || 0) },
    i18n: [key, { n: String(r.composite_progress || 0) }],
  });
}

// Whether this browser says it can play a file, asked with the type and codecs the listing
// gives (H.264 in Matroska plays in Chrome and Debian's Chromium, not in every browser).
function playable(f) {
  if (!f.content_type) return true;
  if (!f.content_type.startsWith('video/')) return false;
  const type = f.codecs ? `${f.content_type}; codecs="${f.codecs}"` : f.content_type;
  return document.createElement('video').canPlayType(type) !== '';
}

function fileEntry(f) {
  const manifest = f.kind === 'manifest';
  const player = h('div', { class: 'player', hidden: true });
  const url = recordingFileUrl(f.id);
  // A file this browser cannot play gets no player but says so; the download is always there.
  const canPlay = !manifest && playable(f);
  const cannotPlay = h('p', { class: 'hint', testid: 'cannot-play', hidden: manifest || canPlay, i18n: 'recordings.cannot_play' });
  let open = false;
  const play = canPlay && h('button', {
    type: 'button', class: 'btn btn-go btn-small', testid: 'play-recording', 'aria-expanded': 'false',
    on: {
      click: (ev) => {
        const button = ev.currentTarget;
        open = !open;
        button.setAttribute('aria-expanded', String(open));
        setText(button.lastChild, open ? 'recordings.close_player' : 'recordings.play');
        if (open) {
          const video = h('video', {
            controls: true, preload: 'metadata', playsinline: true, src: url, testid: 'recording-player',
            // The browser tried and could not (a codec it lacks after all): say so.
            on: { error: () => { if (video.getAttribute('src')) cannotPlay.hidden = false; } },
          });
          mount(player, video);
          player.hidden = false;
          video.play().catch(() => {});
        } else {
          // Removing the element stops the download as well as the sound.
          const video = player.querySelector('video');
          if (video) {
            video.pause();
            video.removeAttribute('src');
            video.load();
          }
          player.replaceChildren();
          player.hidden = true;
        }
      },
    },
  }, icon('play'), h('span', { i18n: 'recordings.play' }));
  const openLink = manifest && h('a', { class: 'btn btn-quiet btn-small', testid: 'open-manifest', href: url, target: '_blank', rel: 'noopener', i18n: 'recordings.open' });
  const download = h('a', {
    class: 'btn btn-quiet btn-small', testid: 'download-recording', href: recordingFileUrl(f.id, { download: true }), download: '',
  }, icon('download'), h('span', { i18n: 'recordings.download' }));
  const fileStatus = f.status && f.status !== 'complete' && h('span', {
    class: `badge file-status-${f.status}`, ...labelProps('rec_file_status', f.status),
  });
  return h('li', { class: 'recording-file', testid: 'recording-file', dataset: { fileId: f.id, kind: f.kind || '', status: f.status || '' } },
    h('div', { class: 'row-main' }, who(f), fileStatus),
    h('div', { class: 'row-meta' },
      !manifest && h('span', { class: 'muted', i18n: ['recordings.duration', { d: formatDuration(f.duration_ms) }] }),
      h('span', { class: 'muted', i18n: ['recordings.size', { s: formatSize(f.size_bytes) }] }),
    ),
    f.sha256 && h('p', { class: 'hash-line' }, h('span', { class: 'muted', i18n: 'recordings.sha256' }), ' ', hash(f.sha256)),
    h('div', { class: 'file-actions' }, play, openLink, download),
    cannotPlay,
    player,
    audit(f.audit),
  );
}

function who(f) {
  if (f.kind === 'manifest') return h('strong', { i18n: 'recordings.kind_manifest' });
  if (f.kind === 'composite') return h('strong', { i18n: 'recordings.kind_composite' });
  return [
    h('strong', { class: 'file-name', text: f.participant_name || '—' }),
    f.participant_role && h('span', { class: 'role-badge', dataset: { role: f.participant_role }, ...labelProps('role', f.participant_role) }),
  ];
}

// The first 12 hex digits, the whole value in the tooltip and a button that copies it.
function hash(value) {
  const copied = h('span', { class: 'ok', role: 'status', hidden: true, i18n: 'recordings.copied' });
  return h('span', { class: 'hash' },
    h('code', { class: 'hash-value', testid: 'sha256', title: value, dataset: { sha256: value }, text: `${value.slice(0, 12)}…` }),
    h('button', {
      type: 'button', class: 'btn btn-quiet btn-tiny', testid: 'copy-sha256', label: 'recordings.copy_hash',
      on: {
        click: async (ev) => {
          const ok = await copyText(value, ev.currentTarget.previousSibling);
          copied.hidden = !ok;
        },
      },
    }, icon('copy')),
    copied,
  );
}

function audit(entries) {
  if (!entries || entries.length === 0) return null;
  return h('details', { class: 'audit' },
    h('summary', { i18n: ['recordings.audit', { n: entries.length }] }),
    h('ul', { class: 'plain-list' }, entries.map((e) => h('li', null,
      h('span', { text: formatTime(e.at) }), ' · ',
      h('span', { ...labelProps('rec_audit', e.action) }), ' · ',
      h('span', { class: 'muted', text: [e.user_id, e.ip].filter(Boolean).join(' · ') }),
    ))),
  );
}

async function copyText(text, codeEl) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (plain http): show the whole value selected, to copy by hand.
    codeEl.textContent = text;
    const range = document.createRange();
    range.selectNodeContents(codeEl);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

// The end of a recording: only the time of day when it ended the day it started.
function endTime(start, end) {
  const a = new Date(start);
  const b = new Date(end);
  const sameDay = a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  return sameDay ? new Intl.DateTimeFormat(lang(), { timeStyle: 'short' }).format(b) : formatTime(end);
}

// 75000 -> "1:15", 3725000 -> "1:02:05"; unknown -> "—".
export function formatDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '—';
  const total = Math.round(ms / 1000);
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  const two = (n) => String(n).padStart(2, '0');
  return hours > 0 ? `${hours}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

export function formatSize(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return '—';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
