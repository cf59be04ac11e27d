// The room, shared by the host and the invitees: joins over signaling, waits in the lobby,
// runs the peer connection, shows the grid and the controls (and recording, recording.js;
// voice-only mode, audio-only.js; tile sizes for the SFU, view.js; the chat, chat.js; identity
// and the notice, attestations.js; the mediator's private talks, caucus.js), and ends with a
// clear screen.
import { h, icon, mount, setText, setLabel } from './dom.js';
import { t } from './i18n.js';
import { Signaling } from './signaling.js';
import { Peer } from './peer.js';
import { Grid } from './grid.js';
import { LobbyPanel } from './lobby-panel.js';
import { RecordingUI } from './recording.js';
import { AudioOnly } from './audio-only.js';
import { ViewReporter } from './view.js';
import { Chat } from './chat.js';
import { Attestations } from './attestations.js';
import { CaucusUI } from './caucus.js';
import { ExpertsUI } from './experts.js';
import { ScreenShareUI, screenOwner } from './screenshare.js';
import { MediationRecordUI } from './record.js';
import { DocumentsUI } from './documents.js';
import { elderButton, say } from './elder.js';
import { stopStream } from './media.js';
import { setStatus, status } from './state.js';

// Media gone this long ('disconnected') is recovered with an ICE restart rather than waiting
// for 'failed' (about 30 s in Chromium); one not back this long after a restart is tried again,
// and after ICE_RESTARTS of them with a new peer connection.
const DISCONNECTED_FOR_MS = 4000;
const ICE_RESTART_WAIT_MS = 8000;
const ICE_RESTARTS = 2;
// A dropped signaling connection is resumed by itself: tries after 0.5, 1, 2, 4 s, then every
// RESUME_MAX_WAIT_MS, for as long as the server holds the seat (60 s by default, also across a
// server restart), then a fresh join.
const RESUME_FIRST_WAIT_MS = 500;
const RESUME_MAX_WAIT_MS = 5000;
const RESUME_FOR_MS = 60000;
// A place that could not be resumed (the seat is gone, or we were waiting in the lobby, which
// the server does not hold) is joined afresh by itself, at the same pace, for this long: a
// server being restarted is back within it. Only then the banner asks for a tap.
const REJOIN_FOR_MS = 5 * 60000;

export class Room {
  // root: element to draw in. join: the join message ({type:'join', token} or {session_id}).
  // me: {name, role} known before joining. localStream: MediaStream or null; its tracks'
  // `enabled` flags are the starting mute state. publish: false for observers.
  // title: case title shown on top. onJoinError(code): returns true if it drew its own page.
  // endActions(reason): buttons for the end screen.
  constructor({ root, join, me, localStream, publish, title, onJoinError, endActions }) {
    Object.assign(this, { root, join, me, localStream, publish, title, onJoinError, endActions });
    this.signaling = null;
    this.resumeToken = null;
    this.resuming = null; // { tries, until } while a dropped connection is being resumed
    this.rejoining = null; // { tries, until } while we join afresh by ourselves
    this.awaitingNewPeer = false; // resumed without media: media_failed brings a new connection
    this.peer = null;
    this.selfId = null;
    this.isHost = false;
    this.phase = 'connecting'; // then 'lobby' or 'joined'
    this.ended = false;
    this.mediaConnected = false;
    this.slowTimer = null;
    this.waitingIds = new Set();
    this.audioMuted = !this.hasTrack('audio') || !this.localTrack('audio').enabled;
    this.videoMuted = !this.hasTrack('video') || !this.localTrack('video').enabled;

    this.banner = h('div', { class: 'banner', testid: 'connection-banner', role: 'status', hidden: true });
    this.view = h('div', { class: 'room-view' });
    // Made once, outside the view, so the recording state survives a rejoin's redraw.
    this.recording = new RecordingUI({
      send: (m) => !!this.signaling && this.signaling.send(m),
      toast: (key, vars) => this.toast(key, vars),
    });
    // Made once too: voice-only is the person's choice and outlasts a rejoin.
    this.audioOnly = new AudioOnly({ onChange: (on) => this.setAudioOnly(on) });
    // And the chat, so an open panel and what was read survive a rejoin.
    this.chat = new Chat({ send: (m) => !!this.signaling && this.signaling.send(m) });
    this.attestations = new Attestations({ send: (m) => !!this.signaling && this.signaling.send(m) });
    this.caucus = new CaucusUI({ send: (m) => !!this.signaling && this.signaling.send(m) });
    this.caucus.onChange = (state) => setStatus({ caucus: state ? (state.members || []) : null });
    this.experts = new ExpertsUI({
      send: (m) => !!this.signaling && this.signaling.send(m),
      toast: (key, vars) => this.toast(key, vars),
    });
    this.documents = new DocumentsUI({
      send: (m) => !!this.signaling && this.signaling.send(m),
      toast: (key, vars) => this.toast(key, vars),
    });
    // Made once: a draft being typed survives a rejoin's redraw.
    this.record = new MediationRecordUI({ send: (m) => !!this.signaling && this.signaling.send(m) });
    this.screenShare = new ScreenShareUI({
      send: (m) => !!this.signaling && this.signaling.send(m),
      run: (task) => this.signaling && this.signaling.run(task),
      peer: () => this.peer,
      nameOf: (id) => { const p = this.grid && this.grid.participant(id); return p && p.name; },
      onChange: (shown) => this.screenShown(shown),
    });
    this.onPageHide = () => this.signaling && this.signaling.close({ leave: true });
  }

  localTrack(kind) {
    const s = this.localStream;
    return s ? (kind === 'audio' ? s.getAudioTracks() : s.getVideoTracks())[0] : undefined;
  }

  hasTrack(kind) {
    return this.publish && !!this.localTrack(kind);
  }

  async start() {
    this.ended = false;
    this.endingSession = false;
    this.phase = 'connecting';
    this.recording.admitted = false;
    this.roomEl = h('section', { class: 'room', testid: 'room', dataset: { audioOnly: String(this.audioOnly.enabled) } },
      h('div', { class: 'room-top' }, this.banner, this.recording.el, this.audioOnly.suggestion),
      this.view);
    mount(this.root, this.roomEl);
    mount(this.view, h('div', { class: 'center-page' }, h('p', { class: 'big-message', i18n: 'room.connecting' })));
    this.showBanner('connecting');
    window.addEventListener('pagehide', this.onPageHide);
    const signaling = new Signaling({
      onMessage: (msg) => this.handle(msg),
      onClose: ({ expected }) => this.socketClosed(expected),
    });
    this.signaling = signaling;
    try {
      await signaling.open();
    } catch {
      if (this.rejoinLater()) return;
      setStatus({ state: 'error', pc: null });
      this.showBanner('lost');
      return;
    }
    signaling.send(this.join);
  }

  async handle(msg) {
    if (this.ended) return;
    switch (msg.type) {
      case 'lobby': return this.enterLobby(msg);
      case 'joined': return this.enterRoom(msg);
      case 'answer': return this.peer && this.peer.acceptAnswer(msg.sdp);
      case 'offer': return this.peer && this.peer.acceptOffer(msg.sdp);
      case 'candidate': return this.peer && this.peer.addCandidate(msg.candidate);
      case 'participant_joined': return this.participantJoined(msg.participant);
      case 'participant_left': return this.participantLeft(msg.participant_id, msg.reason);
      case 'participant_reconnecting': return this.participantAway(msg.participant_id, true);
      case 'participant_reconnected': return this.participantAway(msg.participant_id, false);
      case 'participant_muted': return this.participantMuted(msg);
      case 'lobby_update': return this.lobbyUpdate(msg.lobby || []);
      case 'recording': return this.recording.update(msg);
      case 'recording_consent': return this.recording.consent(msg);
      // Not awaited: a sender that is slow to reconfigure must not hold up SDP handling.
      case 'publish_layers': return void (this.peer && this.peer.publishLayers(msg.mid, msg.active));
      case 'video_paused': return this.grid && this.grid.setVideoPaused(msg.participant_id, !!msg.paused, msg.reason);
      case 'quality': return this.showQuality(msg.participants);
      case 'chat': return this.chatMessage(msg);
      case 'attestation': return this.attestations.update(msg);
      case 'caucus': return this.caucusChanged(msg);
      case 'screen_share': return this.screenShare.update(msg.participant_id || null);
      case 'mediation_record': return this.record.update(msg);
      case 'document_shared': return this.documents.shared(msg);
      case 'expert_invitation': return this.experts.update(msg);
      case 'document_sharing': return this.documents.setAllowed(!!msg.parties_may_share);
      case 'refused':
      case 'kicked':
      case 'session_ended':
        this.signaling.expectClose();
        return this.end(msg.type);
      case 'error': return this.serverError(msg.code, msg.message);
      default: console.warn(`room: ignoring message type "${msg.type}"`);
    }
  }

  enterLobby(msg) {
    this.phase = 'lobby';
    this.rejoining = null;
    setStatus({ state: 'lobby', participantId: msg.participant_id, pc: null, signaling: 'connected' });
    this.hideBanner();
    say('lobby.wait_spoken');
    // Their own picture while they wait: proof the camera works, so nobody gives up early.
    let preview = null;
    if (this.hasTrack('video')) {
      preview = h('video', { class: 'lobby-preview', autoplay: true, playsinline: true });
      preview.muted = true;
      preview.srcObject = this.localStream;
    }
    mount(this.view, h('div', { class: 'center-page lobby-wait' },
      h('div', { class: 'waiting-dots', 'aria-hidden': 'true' }, h('span'), h('span'), h('span')),
      h('p', { class: 'big-message', testid: 'lobby-message', role: 'status', i18n: msg.waiting_for === 'parties_consent' ? 'lobby.waiting_consent' : 'lobby.please_wait' }),
      elderButton(),
      preview,
      h('p', { class: 'hint', i18n: 'lobby.keep_open' }),
      h('button', { type: 'button', class: 'btn btn-quiet', testid: 'leave-button', i18n: 'room.leave', on: { click: () => this.leave() } }),
    ));
  }

  async enterRoom(msg) {
    this.resumeToken = msg.resume_token || null;
    if (msg.resumed && this.grid && this.phase === 'joined') return this.resumed(msg);
    this.phase = 'joined';
    this.rejoining = null;
    this.selfId = msg.participant_id;
    this.isHost = !!msg.is_host;
    this.simulcast = msg.simulcast !== false;
    this.iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
    if (msg.role === 'observer') this.publish = false;
    setStatus({ state: 'joined', participantId: this.selfId, signaling: 'connected' });
    this.drawRoom();
    const others = (msg.participants || []).filter((p) => p.id !== this.selfId);
    const mine = (msg.participants || []).find((p) => p.id === this.selfId) || {};
    this.grid.setCanKick(this.isHost);
    this.grid.upsert({
      id: this.selfId,
      name: mine.name || this.me.name,
      role: msg.role || this.me.role,
      is_host: this.isHost,
      audio_muted: this.audioMuted,
      video_muted: this.videoMuted,
    }, { self: true, stream: this.hasTrack('video') ? this.localStream : null });
    for (const p of others) this.grid.upsert(p);
    this.chat.arrive({
      selfId: this.selfId, isHost: this.isHost, mayWrite: msg.role !== 'observer', participants: others, history: msg.chat,
    });
    this.caucus.arrive({ selfId: this.selfId, isHost: this.isHost, participants: others, caucus: msg.caucus });
    setStatus({ caucus: msg.caucus && msg.caucus.active ? msg.caucus.members : null });
    this.screenShare.arrive({ selfId: this.selfId, role: msg.role, sharer: msg.screen_share });
    this.documents.arrive({
      selfId: this.selfId, sessionId: msg.session && msg.session.id, role: msg.role, isHost: this.isHost,
      token: this.join && this.join.token, documents: msg.documents, partiesMayShare: msg.parties_may_share,
    });
    this.experts.arrive({
      selfId: this.selfId, isHost: this.isHost, role: msg.role, sessionId: msg.session && msg.session.id, invitations: msg.expert_invitations,
    });
    this.record.arrive({
      selfId: this.selfId, sessionId: msg.session && msg.session.id, role: msg.role, isHost: this.isHost, record: msg.mediation_record,
    });
    this.attestations.arrive({
      selfId: this.selfId, isHost: this.isHost, role: msg.role, participants: others,
      attestations: msg.attestations, noticeVersion: msg.notice_version,
    });
    // A fresh join starts with video on at the server: say again that we want none.
    if (this.audioOnly.enabled) this.signaling.send({ type: 'audio_only', enabled: true });
    if (this.isHost) this.lobbyUpdate(msg.lobby || [], { quiet: true });
    this.recording.arrive({ isHost: this.isHost, recording: msg.recording });
    if (!this.mediaConnected) this.showBanner('connecting');
    this.watchMediaSetup();
    await this.startPeer();
    if (this.publish && (this.audioMuted || this.videoMuted)) this.sendMute();
  }

  async startPeer() {
    if (this.peer) {
      this.peer.close();
      this.screenShare.peerReplaced();
    }
    const peer = new Peer({
      localStream: this.localStream,
      publish: this.publish,
      simulcast: this.simulcast !== false,
      iceServers: this.iceServers || [],
      send: (m) => this.signaling.send(m),
      onTrack: (id, stream) => this.remoteStream(id, stream),
      onState: (s) => this.mediaState(s),
      onLayers: ({ rids, active, sending }) => setStatus({ simulcast: rids, layers: active, videoSending: sending }),
    });
    this.peer = peer;
    if (this.audioOnly.enabled) peer.setVideoSending(false);
    setStatus({ pc: peer.pc });
    await peer.offer();
    // The first offer may have rebuilt the connection (a camera that sends only H.264).
    if (this.peer === peer && !this.ended) setStatus({ pc: peer.pc });
  }

  // Someone's media reached us. The SFU is told our tile sizes again: a view sent before their
  // media peer existed there (they were still reconnecting, or the server had restarted) could
  // not name them, and without a size the SFU sends them no video at all.
  remoteStream(id, stream) {
    const sharer = screenOwner(id);
    if (sharer) return this.screenShare.addStream(sharer, stream);
    this.grid.addStream(id, stream);
    if (this.viewReporter) this.viewReporter.resend();
  }

  // Media that never connects usually means a network that blocks UDP: say so rather than
  // showing "connecting" forever.
  watchMediaSetup() {
    clearTimeout(this.slowTimer);
    this.slowTimer = setTimeout(() => {
      if (!this.ended && !this.mediaConnected && this.phase === 'joined') this.showBanner('media_slow');
    }, 20000);
  }

  mediaState(state) {
    setStatus({ mediaState: state });
    if (state === 'connected') {
      this.mediaConnected = true;
      clearTimeout(this.slowTimer);
      clearTimeout(this.recoverTimer);
      this.recoverTimer = null;
      this.iceRestarts = 0;
      this.hideBanner();
    } else if (state === 'disconnected') {
      this.showBanner('reconnecting');
      // A short gap heals by itself; a longer one needs new paths before 'failed' (~30 s).
      if (!this.recoverTimer) this.recoverTimer = setTimeout(() => this.recoverMedia(), DISCONNECTED_FOR_MS);
    } else if (state === 'failed') {
      this.recoverMedia();
    }
  }

  // Media stalled: first an ICE restart on the same peer connection; if media is not back
  // soon after, a new peer connection. Not while signaling is being resumed (resumed() looks
  // again), nor while the server is about to ask for a new connection (awaitingNewPeer).
  recoverMedia() {
    clearTimeout(this.recoverTimer);
    this.recoverTimer = null;
    if (this.ended || this.phase !== 'joined' || this.restarting || !this.peer) return;
    if (this.resuming || this.awaitingNewPeer) return;
    if (this.peer.pc.connectionState === 'connected') return;
    if ((this.iceRestarts || 0) >= ICE_RESTARTS) {
      this.restartMedia();
      return;
    }
    this.iceRestarts = (this.iceRestarts || 0) + 1;
    this.showBanner('reconnecting');
    const peer = this.peer;
    this.signaling.run(async () => {
      const tried = peer === this.peer && await peer.restartIce();
      if (tried) setStatus({ iceRestarts: status.iceRestarts + 1 });
      if (!tried) this.restartMedia();
    });
    this.recoverTimer = setTimeout(() => this.recoverMedia(), ICE_RESTART_WAIT_MS);
  }

  // A new peer connection and a fresh offer, as the protocol allows after media_failed. Not
  // while signaling is being resumed: the offer would have nowhere to go.
  restartMedia() {
    if (this.ended || this.phase !== 'joined' || this.restarting || this.resuming) return;
    this.awaitingNewPeer = false;
    clearTimeout(this.recoverTimer);
    this.recoverTimer = null;
    this.iceRestarts = 0;
    this.restarting = true;
    this.mediaConnected = false;
    this.showBanner('reconnecting');
    this.watchMediaSetup();
    this.signaling.run(async () => {
      this.grid.detachRemote();
      await this.startPeer();
      // The server's new media peer knows nothing of what the last one was told.
      if (this.audioOnly.enabled) this.signaling.send({ type: 'audio_only', enabled: true });
      if (this.viewReporter) this.viewReporter.resend();
    }).finally(() => { this.restarting = false; });
  }

  drawRoom() {
    if (this.viewReporter) this.viewReporter.stop();
    this.grid = new Grid({
      onKick: (p) => this.signaling.send({ type: 'kick', participant_id: p.id }),
      onSoundBlocked: () => { this.soundButton.hidden = false; },
      onLayout: () => this.viewReporter && this.viewReporter.layoutChanged(),
    });
    this.grid.setAudioOnly(this.audioOnly.enabled);
    this.viewReporter = new ViewReporter({
      grid: this.grid,
      send: (m) => this.signaling.send(m),
      onSent: (tiles) => setStatus({ view: tiles }),
    });
    this.lobbyPanel = new LobbyPanel({
      onAdmit: (p) => this.signaling.send({ type: 'admit', participant_id: p.id }),
      onRefuse: (p) => this.signaling.send({ type: 'refuse', participant_id: p.id }),
    });
    this.soundButton = h('button', {
      type: 'button', class: 'btn btn-go sound-button', testid: 'enable-sound', hidden: true,
      on: { click: () => { this.soundButton.hidden = true; this.grid.playAll(); } },
    }, icon('sound'), h('span', { i18n: 'room.enable_sound' }));
    this.events = h('ul', { class: 'events', testid: 'event-log', 'aria-live': 'polite' });
    this.audioButton = this.controlButton('mute-audio', () => this.toggle('audio'));
    this.videoButton = this.controlButton('mute-video', () => this.toggle('video'));
    const leave = h('button', { type: 'button', class: 'ctl ctl-leave', testid: 'leave-button', on: { click: () => this.leave() } },
      icon('leave'), h('span', { i18n: 'room.leave' }));
    const endSession = this.isHost && h('button', {
      type: 'button', class: 'ctl ctl-end', testid: 'end-session', on: { click: () => this.endSession() },
    }, icon('end'), h('span', { i18n: 'room.end_session' }));
    this.updateControls();
    this.recording.isHost = this.isHost;
    this.recording.drawButton();
    mount(this.view,
      h('div', { class: 'room-title-row' },
        this.title && h('h1', { class: 'room-title', text: this.title }),
        !this.isHost && elderButton({ className: 'btn btn-quiet elder-toggle elder-toggle-room' }),
        this.isHost && this.caucus.openButton,
        this.isHost && this.experts.openButton),
      this.caucus.banner,
      this.isHost && this.caucus.picker,
      this.isHost && this.experts.picker,
      this.experts.el,
      this.lobbyPanel.el,
      this.isHost && this.attestations.panel,
      this.documents.hostSwitch,
      this.attestations.notice,
      this.record.sheet,
      this.isHost && this.recording.answersPanel,
      this.soundButton,
      this.screenShare.stage,
      this.documents.viewer,
      this.documents.input,
      this.grid.el,
      this.events,
      this.chat.panel,
      this.record.panel,
      h('nav', { class: 'controls' }, this.publish && [this.audioButton, this.videoButton], this.audioOnly.button, this.screenShare.button, this.documents.button, this.chat.button, this.record.button, this.isHost && this.recording.button, leave, endSession),
    );
  }

  controlButton(testid, onClick) {
    return h('button', { type: 'button', class: 'ctl', testid, on: { click: onClick } }, h('span', { class: 'ctl-icon' }), h('span', { class: 'ctl-text' }));
  }

  updateControls() {
    const draw = (button, kind, muted) => {
      const has = this.hasTrack(kind);
      button.disabled = !has;
      button.setAttribute('aria-pressed', String(muted));
      button.classList.toggle('off', muted);
      button.firstChild.replaceChildren(icon(kind === 'audio' ? (muted ? 'mic-off' : 'mic') : (muted ? 'cam-off' : 'cam')));
      const key = !has ? `room.no_${kind}` : `room.${kind}_${muted ? 'off' : 'on'}`;
      setText(button.lastChild, key);
      setLabel(button, !has ? key : `room.${muted ? 'unmute' : 'mute'}_${kind}`);
    };
    draw(this.audioButton, 'audio', this.audioMuted);
    draw(this.videoButton, 'video', this.videoMuted);
  }

  // Muting disables the track (it keeps its place in the SDP, so no renegotiation) and tells
  // the room so the others see the icon.
  toggle(kind) {
    const track = this.localTrack(kind);
    if (!track) return;
    if (kind === 'audio') this.audioMuted = !this.audioMuted;
    else this.videoMuted = !this.videoMuted;
    track.enabled = !(kind === 'audio' ? this.audioMuted : this.videoMuted);
    this.updateControls();
    this.grid.setMuted(this.selfId, this.audioMuted, this.videoMuted);
    this.sendMute();
  }

  sendMute() {
    this.signaling.send({ type: 'mute', audio_muted: this.audioMuted, video_muted: this.videoMuted });
  }

  // Voice-only: the server stops every video to us; we stop sending ours (the camera stays
  // open, so turning video back on is instant) and show avatars.
  setAudioOnly(on) {
    if (this.signaling) this.signaling.send({ type: 'audio_only', enabled: on });
    if (this.peer) this.peer.setVideoSending(!on);
    if (this.grid) this.grid.setAudioOnly(on);
    if (this.roomEl) this.roomEl.dataset.audioOnly = String(on);
    setStatus({ audioOnly: on });
    this.toast(on ? 'event.audio_only_on' : 'event.audio_only_off');
  }

  // Everyone's connection quality; our own downlink also feeds the voice-only suggestion.
  showQuality(entries) {
    if (!this.grid || !Array.isArray(entries)) return;
    for (const entry of entries) {
      const level = this.grid.setQuality(entry, { showLine: this.isHost });
      if (entry && entry.participant_id === this.selfId) {
        setStatus({ quality: level });
        this.audioOnly.downlink(entry.downlink_kbps, entry.videos_paused);
      }
    }
  }

  participantJoined(p) {
    if (!p || p.id === this.selfId || !this.grid) return;
    this.grid.upsert(p);
    this.chat.join(p);
    this.attestations.join(p);
    this.caucus.join(p);
    this.toast('event.joined', { name: p.name });
  }

  participantLeft(id, reason) {
    if (id === this.selfId || !this.grid) return;
    const p = this.grid.participant(id);
    this.grid.remove(id);
    this.chat.leave(id);
    this.attestations.leave(id);
    this.caucus.leave(id);
    this.screenShare.participantLeft(id);
    if (p) this.toast(`event.left_${reason || 'left'}`, { name: p.name });
  }

  // A shared screen takes the room's middle; the cameras become a strip beside it, and the SFU
  // hears their new, smaller sizes.
  screenShown(shown) {
    if (!this.grid) return;
    this.grid.el.classList.toggle('grid-strip', shown);
    if (this.viewReporter) this.viewReporter.layoutChanged();
  }

  // A message while the panel is closed also shows as a line in the event log, so a party who
  // never opens the chat still sees that someone wrote.
  chatMessage(message) {
    this.chat.add(message);
    if (!this.chat.open && message.from !== this.selfId) this.toast('event.chat', { name: message.from_name });
  }

  // A private talk began or ended: the banner says where we stand (the tiles of those on the
  // other side say so too, from the SFU's video_paused).
  caucusChanged(msg) {
    const was = !!this.caucus.state;
    this.caucus.update(msg);
    if (was !== !!msg.active) this.toast(msg.active ? 'caucus.started' : 'caucus.ended');
  }

  participantAway(id, away) {
    if (id === this.selfId || !this.grid) return;
    const p = this.grid.setReconnecting(id, away);
    if (p) this.toast(away ? 'event.reconnecting' : 'event.reconnected', { name: p.name });
  }

  participantMuted({ participant_id: id, audio_muted: a, video_muted: v }) {
    if (id === this.selfId || !this.grid) return;
    const before = this.grid.setMuted(id, !!a, !!v);
    if (!before) return;
    if (!!before.audio_muted !== !!a) this.toast(a ? 'event.mic_off' : 'event.mic_on', { name: before.name });
    if (!!before.video_muted !== !!v) this.toast(v ? 'event.cam_off' : 'event.cam_on', { name: before.name });
  }

  lobbyUpdate(lobby, { quiet = false } = {}) {
    if (!this.lobbyPanel) return;
    this.lobbyPanel.render(lobby);
    for (const p of lobby) if (!this.waitingIds.has(p.id) && !quiet) this.toast('event.waiting', { name: p.name });
    this.waitingIds = new Set(lobby.map((p) => p.id));
  }

  serverError(code, message) {
    if (this.resuming && (code === 'resume_refused' || code === 'rate_limited')) {
      // The seat is gone (it expired, or we were removed meanwhile): join afresh, from our
      // link or sign-in (the lobby again, if the host uses one).
      this.signaling.expectClose();
      this.resuming = null;
      this.rejoin({ automatic: true });
      return;
    }
    if (this.phase === 'connecting') {
      // A refused join: the server closes the socket after this.
      this.signaling.expectClose();
      if (this.onJoinError && this.onJoinError(code)) {
        this.ended = true;
        this.cleanup({ state: 'error' });
        return;
      }
      this.end('error', code);
      return;
    }
    if (code === 'media_failed') {
      this.restartMedia();
      return;
    }
    if (code === 'signed_out') {
      // This sign-in ended (signed out elsewhere, a new password, the account disabled): the
      // seat is gone and resuming would only be refused.
      this.signaling.expectClose();
      this.end('error', code);
      return;
    }
    console.warn(`room: server error ${code}: ${message || ''}`);
    this.recording.settle();
    this.toast(`err.${code}`, null, 'err.unknown');
  }

  socketClosed(expected) {
    // The host ended the session: a close without a session_ended message still means that.
    if (this.endingSession) {
      this.end('session_ended');
      return;
    }
    if (this.ended || expected) return;
    // In the room: the server holds our seat; take it back by ourselves. Media has its own
    // path and may well carry on meanwhile.
    if (this.phase === 'joined' && this.resumeToken) {
      this.resumeSeat();
      return;
    }
    // Waiting in the lobby (the server holds no place there), or joining afresh: join again by
    // ourselves, to the lobby again if the host had not let us in.
    if ((this.phase === 'lobby' || this.rejoining) && this.rejoinLater()) return;
    if (this.peer) this.peer.close();
    this.peer = null;
    this.mediaConnected = false;
    setStatus({ pc: null, state: 'error' });
    if (this.soundButton) this.soundButton.hidden = true;
    this.showBanner('lost');
  }

  // One more try at resuming the seat, after a wait that doubles up to RESUME_MAX_WAIT_MS; past
  // RESUME_FOR_MS the seat is gone and we join afresh (the lobby again, if the host uses one).
  resumeSeat() {
    const now = Date.now();
    if (!this.resuming) this.resuming = { tries: 0, until: now + RESUME_FOR_MS };
    const resuming = this.resuming;
    if (now > resuming.until) {
      this.resuming = null;
      this.rejoin({ automatic: true });
      return;
    }
    this.showBanner('reconnecting');
    setStatus({ signaling: 'resuming' });
    const wait = Math.min(RESUME_FIRST_WAIT_MS * 2 ** resuming.tries, RESUME_MAX_WAIT_MS);
    resuming.tries += 1;
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(async () => {
      if (this.ended || this.resuming !== resuming) return;
      const signaling = new Signaling({
        onMessage: (msg) => this.handle(msg),
        onClose: ({ expected }) => this.socketClosed(expected),
      });
      try {
        await signaling.open();
      } catch {
        this.resumeSeat();
        return;
      }
      if (this.ended || this.resuming !== resuming) {
        signaling.close();
        return;
      }
      this.signaling = signaling;
      signaling.send({ type: 'resume', token: this.resumeToken });
    }, wait);
  }

  // Our seat is ours again: the others never saw us leave. The roster and lobby may have
  // changed meanwhile; our peer connection carries on, unless the server says its side of it
  // is gone (media_lost: it let it go, or it restarted): then the media_failed that follows
  // brings a new one, which no ICE restart could replace.
  resumed(msg) {
    this.resuming = null;
    setStatus({ signaling: 'connected', resumes: (status.resumes || 0) + 1 });
    const present = new Set((msg.participants || []).map((p) => p.id));
    for (const id of this.grid.remoteIds()) if (!present.has(id)) this.grid.remove(id);
    for (const p of msg.participants || []) this.grid.upsert(p);
    if (this.isHost) this.lobbyUpdate(msg.lobby || [], { quiet: true });
    this.recording.update({ state: msg.recording });
    if (this.publish) this.sendMute();
    if (this.audioOnly.enabled) this.signaling.send({ type: 'audio_only', enabled: true });
    if (this.viewReporter) this.viewReporter.layoutChanged();
    if (msg.media_lost) {
      this.awaitingNewPeer = true;
      this.mediaConnected = false;
      clearTimeout(this.recoverTimer);
      this.recoverTimer = null;
      this.showBanner('reconnecting');
    } else if (this.mediaConnected) this.hideBanner();
    else this.recoverMedia();
  }

  showBanner(kind) {
    this.banner.hidden = false;
    this.banner.dataset.state = kind;
    mount(this.banner, h('span', { i18n: `banner.${kind}` }));
    if (kind === 'lost' || kind === 'media_slow') {
      this.banner.append(h('button', { type: 'button', class: 'btn btn-go', testid: 'rejoin-button', i18n: 'banner.rejoin', on: { click: () => this.rejoin() } }));
    }
  }

  hideBanner() {
    this.banner.hidden = true;
    this.banner.replaceChildren();
  }

  // After a lost connection: join again with the same camera; the host may have to admit us
  // again. `automatic`: we did not ask the person, so keep trying for a while if the server
  // cannot be reached (see rejoinLater).
  rejoin({ automatic = false } = {}) {
    clearTimeout(this.resumeTimer);
    clearTimeout(this.rejoinTimer);
    this.resuming = null;
    this.awaitingNewPeer = false;
    if (automatic) this.rejoining = this.rejoining || { tries: 0, until: Date.now() + REJOIN_FOR_MS };
    else this.rejoining = null;
    if (this.signaling) this.signaling.close();
    if (this.peer) this.peer.close();
    this.peer = null;
    this.mediaConnected = false;
    this.start();
  }

  // One more automatic fresh join, after a wait that doubles up to RESUME_MAX_WAIT_MS; false
  // when none is under way or its REJOIN_FOR_MS are up (then the banner asks for a tap).
  rejoinLater() {
    if (this.ended) return false;
    const now = Date.now();
    if (this.phase === 'lobby' && !this.rejoining) this.rejoining = { tries: 0, until: now + REJOIN_FOR_MS };
    const rejoining = this.rejoining;
    if (!rejoining || now > rejoining.until) {
      this.rejoining = null;
      return false;
    }
    this.showBanner('reconnecting');
    setStatus({ signaling: 'rejoining' });
    const wait = Math.min(RESUME_FIRST_WAIT_MS * 2 ** rejoining.tries, RESUME_MAX_WAIT_MS);
    rejoining.tries += 1;
    clearTimeout(this.rejoinTimer);
    this.rejoinTimer = setTimeout(() => {
      if (!this.ended && this.rejoining === rejoining) this.rejoin({ automatic: true });
    }, wait);
    return true;
  }

  leave() {
    if (this.signaling) this.signaling.close({ leave: true });
    this.end('left');
  }

  endSession() {
    // Looked up at the time of the tap, so automated tests can replace window.confirm.
    if (!window.confirm(t('room.end_confirm'))) return;
    this.endingSession = true;
    this.signaling.send({ type: 'end_session' });
  }

  // Closes everything down and shows why. reason: refused, kicked, session_ended, left, error.
  end(reason, code) {
    if (this.ended) return;
    this.ended = true;
    if (this.signaling) this.signaling.expectClose();
    this.cleanup({ state: reason === 'error' ? 'error' : 'ended' });
    const key = reason === 'error' ? `err.${code}` : `end.${reason}`;
    mount(this.root, h('section', { class: 'center-page end-screen', testid: 'end-screen', dataset: { reason: reason === 'error' ? code : reason } },
      h('h1', { i18n: reason === 'error' ? 'end.error_title' : `end.${reason}_title` }),
      h('p', { class: 'big-message', i18n: t(key) === key ? 'err.unknown' : key }),
      h('div', { class: 'actions' }, this.endActions ? this.endActions(reason) : null),
    ));
  }

  // Stops media and the socket; the camera light must go off when the call is over.
  cleanup({ state }) {
    window.removeEventListener('pagehide', this.onPageHide);
    clearTimeout(this.slowTimer);
    clearTimeout(this.resumeTimer);
    clearTimeout(this.rejoinTimer);
    this.resuming = null;
    this.rejoining = null;
    this.recording.stop();
    this.audioOnly.stop();
    if (this.viewReporter) this.viewReporter.stop();
    this.viewReporter = null;
    if (this.peer) this.peer.close();
    this.peer = null;
    if (this.signaling) this.signaling.close();
    stopStream(this.localStream);
    setStatus({ pc: null, state, simulcast: [], layers: [], videoSending: false });
  }

  // Leaving the page inside the app (the host navigating away).
  destroy() {
    if (this.ended) return;
    if (this.signaling) this.signaling.close({ leave: true });
    this.ended = true;
    this.cleanup({ state: 'idle' });
  }

  toast(key, vars, fallback) {
    if (!this.events) return;
    const item = h('li', { i18n: [t(key) === key && fallback ? fallback : key, vars] });
    this.events.append(item);
    while (this.events.children.length > 3) this.events.firstChild.remove();
    setTimeout(() => item.remove(), 5000);
  }
}
