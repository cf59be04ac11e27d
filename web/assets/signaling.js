// The signaling WebSocket at /ws (docs/protocol.md, "Signaling over WebSocket").
//
// Incoming messages are handled strictly one after another through a promise chain: SDP work is
// asynchronous, and a server offer must never overtake the answer that came before it.

const PING_EVERY_MS = 15000;
// The server answers every ping, so this much silence means the link is dead even if the
// phone's TCP stack has not noticed yet (mobile networks drop connections without a FIN).
const SILENCE_LIMIT_MS = 40000;

export function signalingUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

export class Signaling {
  // onMessage(msg) may be async; onClose({expected}) runs after every queued message is handled.
  constructor({ onMessage, onClose }) {
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.ws = null;
    this.queue = Promise.resolve();
    this.closing = false; // we, or a final server message, ended it: the close is no surprise
    this.closed = false;
    this.timer = null;
    this.lastHeard = 0;
  }

  // Resolves once the socket is open; rejects if it never opens.
  open() {
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = new WebSocket(signalingUrl());
      this.ws = ws;
      ws.onopen = () => {
        opened = true;
        this.lastHeard = Date.now();
        this.timer = setInterval(() => this.heartbeat(), PING_EVERY_MS);
        resolve();
      };
      ws.onmessage = (ev) => this.receive(ev.data);
      ws.onclose = () => {
        if (!opened) reject(new Error('websocket did not open'));
        else this.finish();
      };
      // An error is always followed by close, which does the work.
      ws.onerror = () => {};
    });
  }

  receive(data) {
    this.lastHeard = Date.now();
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn('signaling: ignoring a frame that is not JSON');
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    // Heartbeats are answered here, ahead of the queue, so slow SDP work cannot delay them.
    if (msg.type === 'ping') {
      this.send({ type: 'pong' });
      return;
    }
    if (msg.type === 'pong') return;
    this.queue = this.queue
      .then(() => this.onMessage(msg))
      .catch((e) => console.error(`signaling: handling "${msg.type}" failed`, e));
  }

  heartbeat() {
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      console.warn('signaling: no word from the server, treating the connection as lost');
      this.finish();
      return;
    }
    this.send({ type: 'ping' });
  }

  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.closed) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  // Runs fn in turn with message handling, for work started outside a message (a media restart)
  // that must not interleave with SDP handling.
  run(fn) {
    this.queue = this.queue.then(fn).catch((e) => console.error('signaling: queued work failed', e));
    return this.queue;
  }

  // Marks the coming close as expected (after refused, kicked, session_ended, a refused join).
  expectClose() {
    this.closing = true;
  }

  // Closes on purpose; with `leave` the server is told first so others see "left", not
  // "disconnected".
  close({ leave = false } = {}) {
    this.closing = true;
    if (leave) this.send({ type: 'leave' });
    this.finish();
  }

  // Runs once, whichever of close event, silence or close() comes first.
  finish() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const ws = this.ws;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
    }
    const expected = this.closing;
    this.queue = this.queue.then(() => this.onClose && this.onClose({ expected }));
  }
}
