// Tells the SFU at what size each other person's video is shown (the `view` message), so it
// never sends a layer larger than the tile needs, and no video at all to a tile nobody can see
// (scrolled away, or the whole page in the background on a phone). Sizes are device pixels: a
// 300 px tile on a phone with devicePixelRatio 3 really is 900 pixels wide.

const DEBOUNCE_MS = 300; // a resize or a rotation fires many times; the SFU needs the end state
const MAX_TILES = 64; // docs/protocol.md
const NEAR_MARGIN = '64px'; // a tile about to scroll in counts as seen, so it is not blank

export class ViewReporter {
  // grid: grid.js Grid (its `tiles` map). send(msg) returns false when the socket is closed.
  // onSent(tiles) after each report, for window.concord.
  constructor({ grid, send, onSent }) {
    Object.assign(this, { grid, send, onSent });
    this.last = null; // what the SFU was last told, as JSON
    this.timer = null;
    this.watched = new Map(); // participant id -> tile element being observed
    this.offscreen = new WeakSet();
    this.schedule = () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.report(), DEBOUNCE_MS);
    };
    this.resize = new ResizeObserver(this.schedule);
    this.seen = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) this.offscreen.delete(e.target);
        else this.offscreen.add(e.target);
      }
      this.schedule();
    }, { rootMargin: NEAR_MARGIN });
    document.addEventListener('visibilitychange', this.schedule);
    // Zoom changes devicePixelRatio without resizing anything observed.
    window.addEventListener('resize', this.schedule);
  }

  // Called when tiles come and go: watch the new, forget the gone, report soon.
  layoutChanged() {
    const remote = new Map();
    for (const [id, tile] of this.grid.tiles) if (!tile.self) remote.set(id, tile.el);
    for (const [id, el] of this.watched) {
      if (remote.get(id) === el) continue;
      this.resize.unobserve(el);
      this.seen.unobserve(el);
      this.watched.delete(id);
    }
    for (const [id, el] of remote) {
      if (this.watched.has(id)) continue;
      this.watched.set(id, el);
      this.resize.observe(el);
      this.seen.observe(el);
    }
    this.schedule();
  }

  // The next report goes out even if nothing changed (a fresh connection to the server).
  resend() {
    this.last = null;
    this.schedule();
  }

  tiles() {
    const hidden = document.visibilityState === 'hidden';
    const dpr = window.devicePixelRatio || 1;
    const out = [];
    for (const [id, tile] of this.grid.tiles) {
      if (tile.self || out.length >= MAX_TILES) continue;
      const rect = tile.video.getBoundingClientRect();
      const shown = !hidden && !this.offscreen.has(tile.el) && rect.width > 0 && rect.height > 0;
      out.push({
        participant_id: id,
        width: shown ? Math.round(rect.width * dpr) : 0,
        height: shown ? Math.round(rect.height * dpr) : 0,
      });
    }
    return out;
  }

  report() {
    this.timer = null;
    const tiles = this.tiles();
    const json = JSON.stringify(tiles);
    // Nobody else here yet and nothing said: there is nothing to tell.
    if (json === this.last || (this.last === null && tiles.length === 0)) return;
    if (!this.send({ type: 'view', tiles })) return; // not connected: the rejoin resends
    this.last = json;
    if (this.onSent) this.onSent(tiles);
  }

  stop() {
    clearTimeout(this.timer);
    this.resize.disconnect();
    this.seen.disconnect();
    this.watched.clear();
    document.removeEventListener('visibilitychange', this.schedule);
    window.removeEventListener('resize', this.schedule);
  }
}
