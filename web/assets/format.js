// Formatting of times and record fields for display.
import { lang, hasKey } from './i18n.js';

// Times in the API are milliseconds since the epoch; shown in the phone's own time zone.
export function formatTime(ms) {
  if (ms === null || ms === undefined) return '—';
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

// The time of day only, for things that happen within one sitting (a chat message).
export function formatClock(ms) {
  if (ms === null || ms === undefined) return '';
  return new Intl.DateTimeFormat(lang(), { timeStyle: 'short' }).format(new Date(ms));
}

// Element props showing an enumerated value: its translation (kept up to date when the language
// changes) or, if we do not know it, the value itself (categories are free text; a newer server
// may add statuses). Use as h('span', { ...labelProps('status', d.status) }).
export function labelProps(prefix, value) {
  if (value === null || value === undefined || value === '') return { text: '—' };
  const key = `${prefix}.${value}`;
  return hasKey(key) ? { i18n: key } : { text: String(value) };
}

export const LEVELS = ['village', 'township', 'county'];
export const DISPUTE_STATUSES = ['open', 'in_mediation', 'settled', 'escalated', 'closed'];
export const CATEGORIES = ['land', 'family', 'neighbour', 'contract', 'labour', 'debt', 'other'];
export const INVITE_ROLES = ['party', 'expert', 'observer'];
// The roles an administrator can give an account, the usual one first.
export const ACCOUNT_ROLES = ['mediator', 'staff', 'admin'];
// Validity choices for an invitation link, in minutes.
export const VALIDITY_MINUTES = [60, 240, 1440, 4320, 10080];

// An invitation's state now: active, used, expired or revoked.
export function invitationState(inv, now = Date.now()) {
  if (inv.revoked_at) return 'revoked';
  if (inv.expires_at && inv.expires_at <= now) return 'expired';
  return 'active';
}

// Whether this account may change a dispute and host its sessions (the server checks too;
// this only hides buttons that would be refused). Without a dispute: may it create one.
export function canManage(user, dispute) {
  return user.role === 'admin' || (user.role === 'mediator' && (!dispute || dispute.mediator_id === user.id));
}
