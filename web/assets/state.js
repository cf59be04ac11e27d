// What automated tests read: window.concord = { pc, state, participantId, recording, ... }.
// state is one of 'idle', 'device-check', 'lobby', 'joined', 'ended', 'error'.
// recording is the room's recording state: 'off', 'notice', 'on' or 'failed'.
// simulcast: the rids our camera is sent as (low to high; [] for one plain encoding);
// layers: those of them currently active (publish_layers); videoSending: whether our camera
// reaches the sender with at least one active encoding (false in voice-only mode).
// audioOnly: voice-only mode is on. view: the tiles last reported in a `view` message.
// quality: our own level from the last `quality` message ('good', 'fair', 'poor' or null).
// mediaState: the peer connection's connectionState; iceRestarts: ICE restarts tried on the
// same connection after media stalled. signaling: 'connected', 'resuming' while a dropped
// socket is being resumed, or 'rejoining' while we join afresh by ourselves (a seat that could
// not be resumed, a lobby left by a dropped socket); resumes: seats taken back after a drop.
// caucus: the members of the private talk in progress (the host among them), or null.
// elder: elder mode is on; spoken: the i18n keys elder mode last said aloud.
// Views update it through setStatus so the object is never replaced, only changed.

export const status = {
  pc: null,
  state: 'idle',
  participantId: null,
  recording: 'off',
  simulcast: [],
  layers: [],
  videoSending: false,
  audioOnly: false,
  view: null,
  quality: null,
  mediaState: 'new',
  iceRestarts: 0,
  signaling: 'connected',
  resumes: 0,
  caucus: null,
  elder: false,
  spoken: [],
};
window.concord = status;

export function setStatus(changes) {
  Object.assign(status, changes);
  document.documentElement.dataset.state = status.state;
}
