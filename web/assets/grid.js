// The video grid: one tile per participant, with name, role, muted icons and connection quality.
// Remote media arrives as one MediaStream per participant (the stream id is the participant id),
// so each tile has a single <video> that plays both its picture and its sound.
// Tiles carry data-video-paused (why the SFU stopped sending its video, if it did) and
// data-quality for tests and styles.
import { h, icon, setText, setLabel } from './dom.js';
import { qualityMark, showQuality } from './quality.js';

export class Grid {
  // onKick(participant) is offered on other people's tiles when canKick is true.
  // onLayout() runs when tiles come or go (the room reports tile sizes to the SFU).
  constructor({ onKick, onSoundBlocked, onLayout }) {
    this.onKick = onKick;
    this.onSoundBlocked = onSoundBlocked;
    this.onLayout = onLayout || (() => {});
    this.canKick = false;
    this.audioOnly = false; // voice-only mode: no picture anywhere, avatars instead
    this.tiles = new Map(); // participant id -> { el, video, participant }
    this.streams = new Map(); // participant id -> MediaStream that arrived before its tile
    this.empty = h('p', { class: 'grid-empty', i18n: 'room.alone' });
    this.el = h('div', { class: 'grid', testid: 'video-grid' }, this.empty);
  }

  // Adds or refreshes a tile. `self` tiles are muted and mirrored and float small on phones.
  upsert(p, { self = false, stream = null } = {}) {
    let tile = this.tiles.get(p.id);
    if (!tile) {
      tile = this.createTile(p, self);
      this.tiles.set(p.id, tile);
      this.el.append(tile.el);
      this.onLayout();
    }
    tile.participant = { ...tile.participant, ...p };
    this.render(tile);
    const pending = stream || this.streams.get(p.id);
    if (pending) {
      this.streams.delete(p.id);
      this.attach(tile, pending);
    }
    this.updateEmpty();
  }

  createTile(p, self) {
    const video = h('video', { autoplay: true, playsinline: true });
    video.muted = self; // your own voice must never play back to you
    const name = h('span', { class: 'tile-name' });
    const role = h('span', { class: 'tile-role' });
    const micOff = h('span', { class: 'tile-flag', hidden: true }, icon('mic-off'));
    const camOff = h('span', { class: 'tile-flag', hidden: true }, icon('cam-off'));
    setLabel(micOff, 'room.mic_is_off');
    setLabel(camOff, 'room.cam_is_off');
    const avatar = h('div', { class: 'tile-avatar', 'aria-hidden': 'true' });
    // The SFU stopped this video because our link cannot carry it: say so, or people think
    // the other side froze or left.
    const pausedName = h('span', { class: 'tile-paused-name' });
    // Their connection dropped and the server holds their seat: they are coming back, not gone.
    const reconnecting = h('div', { class: 'tile-reconnecting', testid: 'tile-reconnecting', role: 'status', hidden: true, i18n: 'room.reconnecting_tile' });
    const paused = h('div', { class: 'tile-paused', testid: 'video-paused', hidden: true },
      pausedName, h('span', { class: 'tile-paused-note', i18n: 'room.video_paused_weak' }));
    const voiceOnly = self && h('span', { class: 'tile-flag tile-voice', hidden: true }, icon('voice'));
    if (voiceOnly) setLabel(voiceOnly, 'room.audio_only');
    const quality = qualityMark();
    // A caucus parts us: the tile says so instead of freezing.
    const aside = h('div', { class: 'tile-aside', testid: 'tile-aside', hidden: true, i18n: 'caucus.tile' });
    const kick = h('button', {
      class: 'tile-kick',
      testid: 'kick-button',
      type: 'button',
      i18n: 'room.kick',
      hidden: true,
      on: { click: () => this.onKick(this.tiles.get(p.id).participant) },
    });
    const el = h(
      'div',
      { class: self ? 'tile self' : 'tile', testid: 'tile', dataset: { participantId: p.id } },
      video,
      avatar,
      paused,
      aside,
      reconnecting,
      quality.el,
      h('div', { class: 'tile-label' }, name, self && h('span', { class: 'tile-me', i18n: 'room.me' }), role, micOff, camOff, voiceOnly),
      kick,
    );
    return { el, video, name, role, micOff, camOff, avatar, paused, pausedName, aside, reconnecting, voiceOnly, quality, kick, self, participant: {}, pausedReason: null, away: false };
  }

  render(tile) {
    const p = tile.participant;
    tile.name.textContent = p.name || '';
    tile.role.dataset.role = p.role || '';
    if (p.role) setText(tile.role, p.is_host ? 'role.host' : `role.${p.role}`);
    tile.avatar.textContent = (p.name || '?').trim().slice(0, 1).toUpperCase();
    tile.micOff.hidden = !p.audio_muted;
    tile.camOff.hidden = !p.video_muted;
    tile.el.dataset.audioMuted = String(!!p.audio_muted);
    tile.el.dataset.videoMuted = String(!!p.video_muted);
    tile.pausedName.textContent = p.name || '';
    const pausedReason = tile.pausedReason;
    if (pausedReason) tile.el.dataset.videoPaused = pausedReason;
    else delete tile.el.dataset.videoPaused;
    tile.paused.hidden = pausedReason !== 'bandwidth' || tile.away;
    tile.aside.hidden = pausedReason !== 'caucus' && pausedReason !== 'hosts_only';
    setText(tile.aside, pausedReason === 'hosts_only' ? 'expert.tile_hosts_only' : 'caucus.tile');
    tile.reconnecting.hidden = !tile.away;
    tile.el.dataset.reconnecting = String(tile.away);
    tile.el.classList.toggle('weak-paused', pausedReason === 'bandwidth');
    // A paused video would show its last frame, frozen; the avatar says more. `hidden` (the tile
    // is out of sight) needs nothing: by the time it is seen again, the video is back.
    const stopped = ['bandwidth', 'audio_only', 'caucus', 'hosts_only'].includes(pausedReason);
    tile.el.classList.toggle('no-video', !!p.video_muted || !this.hasVideo(tile) || this.audioOnly || stopped);
    if (tile.voiceOnly) tile.voiceOnly.hidden = !this.audioOnly;
    if (tile.self) tile.el.dataset.audioOnly = String(this.audioOnly);
    tile.kick.hidden = !(this.canKick && !tile.self && !p.is_host);
  }

  hasVideo(tile) {
    const s = tile.video.srcObject;
    return !!s && s.getVideoTracks().some((tr) => tr.readyState === 'live');
  }

  setMuted(id, audioMuted, videoMuted) {
    const tile = this.tiles.get(id);
    if (!tile) return null;
    const before = tile.participant;
    tile.participant = { ...before, audio_muted: audioMuted, video_muted: videoMuted };
    this.render(tile);
    return before;
  }

  // video_paused from the server: reason `bandwidth`, `hidden` or `audio_only`.
  setVideoPaused(id, paused, reason) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.pausedReason = paused ? String(reason || 'bandwidth') : null;
    this.render(tile);
  }

  // participant_reconnecting / participant_reconnected: the tile stays, marked meanwhile.
  setReconnecting(id, away) {
    const tile = this.tiles.get(id);
    if (!tile) return null;
    tile.away = away;
    this.render(tile);
    return tile.participant;
  }

  // The ids of everyone else's tiles.
  remoteIds() {
    return [...this.tiles.entries()].filter(([, tile]) => !tile.self).map(([id]) => id);
  }

  // One entry of a `quality` message. showLine: the numbers as a line on the tile (for the host).
  setQuality(entry, { showLine = false } = {}) {
    const tile = entry && this.tiles.get(entry.participant_id);
    if (!tile) return null;
    const level = showQuality(tile.quality, entry, { showLine: showLine && !tile.self });
    if (level) tile.el.dataset.quality = level;
    else delete tile.el.dataset.quality;
    return level;
  }

  // Voice-only mode: every tile shows its avatar, ours marked so we know why.
  setAudioOnly(on) {
    this.audioOnly = on;
    for (const tile of this.tiles.values()) this.render(tile);
  }

  setCanKick(canKick) {
    this.canKick = canKick;
    for (const tile of this.tiles.values()) this.render(tile);
  }

  // Attaches the stream from an RTCTrackEvent to its participant's tile (or keeps it until
  // the tile exists: tracks can arrive before participant_joined).
  addStream(id, stream) {
    const tile = this.tiles.get(id);
    if (tile) this.attach(tile, stream);
    else this.streams.set(id, stream);
  }

  attach(tile, stream) {
    // Tracks come one event per kind with the same stream: re-assigning would restart playback.
    if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
    const refresh = () => this.render(tile);
    stream.onaddtrack = refresh;
    stream.onremovetrack = refresh;
    for (const track of stream.getVideoTracks()) {
      track.onunmute = refresh;
      track.onended = refresh;
    }
    refresh();
    this.play(tile);
  }

  play(tile) {
    const p = tile.video.play();
    if (!p || !p.catch) return;
    // Autoplay with sound is blocked until the person touches the page (e.g. the mediator
    // opened the room from a link). Then play the picture silently at once, and let the room
    // offer a "tap to enable sound" button.
    p.catch((e) => {
      if (!e || e.name !== 'NotAllowedError' || tile.self) return;
      tile.soundBlocked = true;
      tile.video.muted = true;
      tile.video.play().catch(() => {});
      this.onSoundBlocked();
    });
  }

  // Called from a tap, which lets the browser play sound: unmutes what was silenced above.
  playAll() {
    for (const tile of this.tiles.values()) {
      if (tile.self || !tile.video.srcObject) continue;
      if (tile.soundBlocked) {
        tile.soundBlocked = false;
        tile.video.muted = false;
      }
      this.play(tile);
    }
  }

  remove(id) {
    const tile = this.tiles.get(id);
    this.streams.delete(id);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.el.remove();
    this.tiles.delete(id);
    this.updateEmpty();
    this.onLayout();
  }

  // Drops every remote picture (the peer connection was replaced); tiles stay.
  detachRemote() {
    this.streams.clear();
    for (const tile of this.tiles.values()) {
      if (tile.self) continue;
      tile.video.srcObject = null;
      this.render(tile);
    }
  }

  clear() {
    for (const id of [...this.tiles.keys()]) this.remove(id);
  }

  participant(id) {
    const tile = this.tiles.get(id);
    return tile ? tile.participant : null;
  }

  updateEmpty() {
    const others = [...this.tiles.values()].filter((tile) => !tile.self).length;
    this.empty.hidden = others > 0;
    this.el.dataset.count = String(others);
  }
}
