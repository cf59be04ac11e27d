// The REST API of docs/protocol.md. Every failure becomes an ApiError carrying the server's
// stable error code, so views can pick a friendly message by code and never show internals.
//
// A sign-in can end while its page stays open (signed out everywhere from another device, the
// password changed elsewhere, the account disabled): the next call then gets 401, and
// SIGNED_OUT_EVENT tells the console to show the sign-in form instead of a dead page.

export const SIGNED_OUT_EVENT = 'concord:signed-out';
const LOGIN_PATH = '/api/auth/login';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// The code to assume when a reply has no JSON error body (a proxy page, a dropped connection).
function codeForStatus(status) {
  switch (status) {
    case 400: return 'bad_request';
    case 401: return 'unauthenticated';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 409: return 'conflict';
    case 413: return 'payload_too_large';
    case 429: return 'rate_limited';
    default: return 'internal';
  }
}

async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  // POSTs without fields still carry `{}`, so a JSON extractor on the server is always satisfied.
  if (method !== 'GET') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', e.message);
  }
  let data = null;
  try {
    const text = await res.text();
    data = text ? JSON.parse(text) : {};
  } catch {
    data = null;
  }
  if (!res.ok) {
    // A refused sign-in is an answer to the form, not the end of a sign-in.
    if (res.status === 401 && path !== LOGIN_PATH) window.dispatchEvent(new CustomEvent(SIGNED_OUT_EVENT));
    const err = data && data.error;
    throw new ApiError(res.status, (err && err.code) || codeForStatus(res.status), err && err.message);
  }
  return data || {};
}

const seg = encodeURIComponent;

export const api = {
  me: () => request('GET', '/api/auth/me'),
  login: (username, password) => request('POST', LOGIN_PATH, { username, password }),
  logout: () => request('POST', '/api/auth/logout'),
  logoutEverywhere: () => request('POST', '/api/auth/logout-everywhere'),
  changePassword: (currentPassword, newPassword) => request('POST', '/api/auth/password', { current_password: currentPassword, new_password: newPassword }),
  setup: (fields) => request('POST', '/api/setup', fields),

  listUsers: () => request('GET', '/api/users'),
  createUser: (fields) => request('POST', '/api/users', fields),
  setUserDisabled: (id, disabled) => request('PATCH', `/api/users/${seg(id)}`, { disabled }),

  listDisputes: () => request('GET', '/api/disputes'),
  createDispute: (fields) => request('POST', '/api/disputes', fields),
  getDispute: (id) => request('GET', `/api/disputes/${seg(id)}`),
  updateDispute: (id, fields) => request('PATCH', `/api/disputes/${seg(id)}`, fields),
  listRecordings: (disputeId) => request('GET', `/api/disputes/${seg(disputeId)}/recordings`),
  openSession: (disputeId, fields) => request('POST', `/api/disputes/${seg(disputeId)}/sessions`, fields),

  getSession: (id) => request('GET', `/api/sessions/${seg(id)}`),
  endSession: (id) => request('POST', `/api/sessions/${seg(id)}/end`),
  createInvitation: (sessionId, fields) => request('POST', `/api/sessions/${seg(sessionId)}/invitations`, fields),
  revokeInvitation: (id) => request('POST', `/api/invitations/${seg(id)}/revoke`),
  listExperts: (specialty) => request('GET', `/api/experts${specialty ? `?specialty=${seg(specialty)}` : ''}`),
  createExpert: (fields) => request('POST', '/api/experts', fields),
  inviteExpert: (sessionId, fields) => request('POST', `/api/sessions/${seg(sessionId)}/expert-invitations`, fields),
  inspectInvitation: (token) => request('GET', `/api/invitations/inspect?token=${seg(token)}`),
};

// Where a recorded file is served (played inline with Range requests, or as an attachment).
export function recordingFileUrl(id, { download = false } = {}) {
  return `/api/recordings/files/${seg(id)}${download ? '?download=1' : ''}`;
}
