// What automated tests read: window.concord = { pc, state, participantId, recording }.
// state is one of 'idle', 'device-check', 'lobby', 'joined', 'ended', 'error'.
// recording is the room's recording state: 'off', 'notice', 'on' or 'failed'.
// Views update it through setStatus so the object is never replaced, only changed.

export const status = { pc: null, state: 'idle', participantId: null, recording: 'off' };
window.concord = status;

export function setStatus(changes) {
  Object.assign(status, changes);
  document.documentElement.dataset.state = status.state;
}
