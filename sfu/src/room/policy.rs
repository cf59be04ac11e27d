//! Applying the forwarding policy to the room every few hundred milliseconds: measuring each
//! layer, choosing each subscriber's layers from its estimate (audio reserved first), telling
//! subscribers about paused videos, switching off layers nobody receives (dynacast), steering
//! each subscriber's bandwidth probing, and reporting connection quality.

use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::media::MediaKind;

use super::caucus::Standing;
use super::Room;
use crate::forwarding::allocation::{
    Allocator, PauseReason, Priority, Strain, VideoDemand, MAX_LAYERS,
};
use crate::forwarding::quality::LinkSample;
use crate::forwarding::stuck_estimate::{Link as StuckLink, Nudge};
use crate::handle::{PeerEvent, QualityReport, VideoPause};
use crate::ids::PeerKey;
use crate::incoming::TrackIn;
use crate::outgoing::Flow;
use crate::peer::{Peer, VoiceCosts};

/// How often layers are re-chosen.
pub(super) const POLICY_INTERVAL: Duration = Duration::from_millis(250);
/// How often each participant's connection quality is reported.
pub(super) const QUALITY_INTERVAL: Duration = Duration::from_secs(2);
/// A layer nobody has received for this long is switched off at the publisher.
const DYNACAST_DELAY: Duration = Duration::from_secs(3);
/// A layer switched back on that has not started flowing after this long is one the
/// publisher cannot send (its uplink); it is not offered to subscribers for a while.
const RESUME_GRACE: Duration = Duration::from_secs(3);
const UNAVAILABLE_FOR: Duration = Duration::from_secs(20);
/// Every raise of the probing target makes str0m probe the link at once; on a link that cannot
/// carry the next step those probes are what crowd out the voices. After a raise the estimate
/// did not follow, the next waits this long, doubling with each miss up to the longest.
const PROBE_BACKOFF: Duration = Duration::from_secs(3);
const PROBE_BACKOFF_LONGEST: Duration = Duration::from_secs(30);
/// A probing target within this share of the last one is left as it is.
const PROBE_TARGET_SLACK: f64 = 0.1;
/// What went out to a calm link this many times over what the media costs was mostly probes,
/// padding or resends: a queue that follows is theirs, and they stop (no probing while a queue
/// fills), where cutting the media that had gone through calmly would only cost a picture.
const EXCESS_ON_THE_WIRE: f64 = 1.3;
/// The same holds for excess seen with the queue's first report: one round of stats often
/// shows both the burst and the round trip it lengthened.
const QUEUE_ONSET: Duration = Duration::from_millis(1_500);
/// An audio track before it has been measured: Opus at 32 kbit/s plus packet overhead.
const NOMINAL_AUDIO: u64 = 56_000;
/// The heights our web client's layers have at a 720p capture, lowest first, for layers whose
/// keyframes have not told us their size yet.
const NOMINAL_HEIGHTS: [u32; MAX_LAYERS] = [180, 360, 720];

impl Room {
    pub(super) fn run_policy(&mut self, now: Instant, elapsed: Duration) {
        for peer in &mut self.peers {
            for track in &mut peer.tracks_in {
                for layer in &mut track.layers {
                    layer.meter.roll(now);
                }
            }
        }
        self.speakers.update(now);
        self.mark_parted_tracks();
        for peer in &mut self.peers {
            if let Some(before) = peer.estimate_before_gap(now) {
                tracing::debug!(
                    participant = %peer.participant,
                    estimate = peer.estimate,
                    before,
                    "estimate restored after a gap"
                );
                peer.restart_estimate(before);
            }
            if peer.reported_loss.fresh && peer.path_settling(now) {
                // The packets sent into the gap, reported lost: not the link's congestion.
                peer.reported_loss.take();
                peer.link.loss_down = Some(0.0);
            } else if peer.reported_loss.fresh {
                let reported = peer.reported_loss.take();
                let loss = peer
                    .link
                    .loss_down
                    .unwrap_or(0.0)
                    .max(reported.unwrap_or(0.0));
                peer.link.loss_down = Some(loss);
                peer.update_loss_ceiling(loss, now);
                peer.update_red(loss, now);
            }
        }
        for index in 0..self.peers.len() {
            self.allocate(index, now, elapsed);
        }
        self.dynacast(now);
    }

    /// Chooses the layers subscriber `index` gets.
    fn allocate(&mut self, index: usize, now: Instant, elapsed: Duration) {
        let speaker = self.speakers.current();
        let subscriber = &self.peers[index];
        if !subscriber.connected {
            return;
        }
        let mut voices = VoiceCosts::default();
        let mut videos: Vec<(usize, VideoDemand)> = Vec::new();
        for (slot, track) in subscriber.tracks_out.iter().enumerate() {
            if track.open_mid().is_none() {
                continue;
            }
            let Some(publisher) = self.peers.iter().find(|p| p.key == track.source.peer) else {
                continue;
            };
            let parted = self.parted(Standing::of(publisher), Standing::of(subscriber));
            let Some(source) = publisher
                .tracks_in
                .iter()
                .find(|t| t.mid == track.source.mid)
            else {
                continue;
            };
            match &track.flow {
                // Not sent while a caucus parts them: it costs nothing.
                Flow::Audio(_) if parted => {}
                Flow::Audio(_) => {
                    let cost = source.layer_costs(now)[0].unwrap_or(NOMINAL_AUDIO);
                    if source.codec.is_some_and(|c| c.red) {
                        let plain = plain_opus_cost(cost);
                        voices.plain += plain;
                        voices.per_frame += plain.saturating_sub(VOICE_OVERHEAD);
                    } else {
                        // Without RED from the publisher there is nothing to send redundantly.
                        voices.plain += cost;
                    }
                }
                Flow::Video(video) => {
                    let priority = if source.shared_screen.is_some() {
                        Priority::Shared
                    } else if publisher.host {
                        Priority::Host
                    } else if speaker == Some(publisher.key) {
                        Priority::Speaker
                    } else {
                        Priority::Normal
                    };
                    let demand = VideoDemand {
                        layers: source.layer_costs(now),
                        peaks: source.layer_peaks(now),
                        arriving: source.layers_arriving(now),
                        max_layer: if parted {
                            None
                        } else {
                            wanted_layer(subscriber, publisher.key, source)
                        },
                        priority,
                        fresh: video.fresh,
                    };
                    videos.push((slot, demand));
                }
            }
        }

        let subscriber = &mut self.peers[index];
        // Redundancy is for chance loss: never more of it than the link was seen to carry.
        subscriber.fit_redundancy(voices, subscriber.allocator.ceiling());
        let audio = voices.with_redundancy(subscriber.redundancy());
        let estimate = subscriber.usable_bandwidth(super::INITIAL_ESTIMATE.as_u64(), audio, now);
        let strain = subscriber.strain();
        let demands: Vec<VideoDemand> = videos.iter().map(|(_, d)| *d).collect();
        let mut targets: Vec<Option<u8>> = videos
            .iter()
            .map(|(slot, _)| {
                subscriber.tracks_out[*slot]
                    .video()
                    .and_then(|v| v.switch.target())
            })
            .collect();
        let before = targets.clone();
        let queue_onset = subscriber
            .queue_began_at
            .is_some_and(|at| now.saturating_duration_since(at) < QUEUE_ONSET);
        if strain == Strain::None || queue_onset {
            if let Some(wire) = subscriber.link.wire {
                if wire as f64 > subscriber.sending as f64 * EXCESS_ON_THE_WIRE {
                    subscriber.allocator.note_excess_sent(now);
                }
            }
        }
        let floor = subscriber.delivered_floor(now);
        subscriber.allocator.measured_floor(floor);
        let delivery = subscriber.last_delivery();
        subscriber.allocator.measured_delivery(delivery);
        let wire = subscriber.wire_reading(now);
        subscriber.allocator.measured_wire(wire);
        let congested =
            subscriber
                .allocator
                .decide(now, estimate, audio, strain, &demands, &mut targets);
        if targets != before {
            tracing::debug!(
                participant = %subscriber.participant,
                estimate,
                audio,
                strain = ?strain,
                congested,
                costs = ?demands.iter().map(|d| d.layers).collect::<Vec<_>>(),
                from = ?before,
                to = ?targets,
                "layers chosen"
            );
        }

        let mut sending = audio;
        let next_step = Allocator::next_step(&demands, &targets);
        let mut paused_for_bandwidth = false;
        // str0m pads and probes with (resends of) any video stream it sends this subscriber,
        // one a caucus parts from it included: nothing at all may cross, so no padding then.
        let mut parted_any = false;
        for (((slot, demand), target), publisher) in videos
            .iter()
            .zip(&targets)
            .zip(self.video_publishers(index, &videos))
        {
            let audio_only = self.peers[index].wishes.audio_only;
            let parting = publisher_standing(&self.peers, *slot, index)
                .and_then(|p| self.parting(p, Standing::of(&self.peers[index])));
            parted_any |= parting.is_some();
            let subscriber = &mut self.peers[index];
            let cut = subscriber.tracks_out[*slot]
                .video()
                .is_some_and(|video| *target < video.switch.current());
            if congested && cut && strain == Strain::Queueing {
                subscriber.drop_queued(*slot);
            }
            let Some(video) = subscriber.tracks_out[*slot].video_mut() else {
                continue;
            };
            if congested {
                video.switch.drop_to(*target);
            } else {
                video.switch.set_target(*target);
            }
            // A video stays fresh until it is first given a layer: its start is not an increase
            // to wait for. One its publisher stopped sending (a path that moved, a camera off
            // and on) starts afresh when it comes back: it was not paused for this link.
            let unpublished = demand.layers.iter().all(Option::is_none);
            video.fresh = (video.fresh || unpublished) && target.is_none();
            video.reduced = target.is_some() && *target < demand.view_cap();
            video.max_layer = demand.max_layer;
            sending += target
                .and_then(|t| demand.layers[usize::from(t)])
                .unwrap_or(0);
            let pause = if parting.is_some() {
                parting
            } else if audio_only {
                demand
                    .layers
                    .iter()
                    .any(Option::is_some)
                    .then_some(VideoPause::AudioOnly)
            } else {
                Allocator::pause_reason(demand, *target).map(|reason| match reason {
                    PauseReason::Bandwidth => VideoPause::Bandwidth,
                    PauseReason::Hidden => VideoPause::Hidden,
                })
            };
            paused_for_bandwidth |= pause == Some(VideoPause::Bandwidth);
            if pause != video.reported_pause {
                video.reported_pause = pause;
                if let Some(publisher) = publisher {
                    let _ = subscriber.notify(PeerEvent::VideoPaused { publisher, pause });
                }
            }
        }
        let subscriber = &mut self.peers[index];
        if paused_for_bandwidth {
            subscriber.paused_for += elapsed;
        }
        subscriber.note_sending(sending, audio, now);
        let video = sending - audio;
        let ceiling = subscriber.allocator.ceiling();
        let nudge = subscriber.stuck_estimate.nudge(
            StuckLink {
                estimate: subscriber.estimate.unwrap_or(0),
                sending,
                next_step,
                strained: strain != Strain::None,
                ceiling,
                delivered: subscriber.last_delivery(),
            },
            now,
        );
        let nudge_to = match nudge {
            Some(Nudge::Pad(level)) => {
                subscriber.allocator.note_excess_sent(now);
                Some(level)
            }
            Some(Nudge::Restart(from)) => {
                tracing::debug!(
                    participant = %subscriber.participant,
                    estimate = subscriber.estimate,
                    from,
                    "estimator restarted"
                );
                subscriber.restart_estimate(from);
                None
            }
            None => None,
        };
        // str0m pads up to a total: the voices, sent unpaced, count towards it too.
        let pad_to = subscriber
            .allocator
            .padding_trial()
            .max(nudge_to)
            .filter(|level| *level > sending && !parted_any);
        // A filling queue takes no probe: it would only fill it further, ahead of the voices.
        let probe_target = match parted_any {
            true => sending,
            false => probe_towards(
                sending,
                audio,
                next_step.filter(|_| strain != Strain::Queueing),
                ceiling,
            ),
        };
        steer_probing(subscriber, (video, pad_to), probe_target, now);
    }

    /// The participant ids of the publishers of `videos` (tracks of subscriber `index`).
    fn video_publishers(
        &self,
        index: usize,
        videos: &[(usize, VideoDemand)],
    ) -> Vec<Option<crate::ParticipantId>> {
        videos
            .iter()
            .map(|(slot, _)| {
                let key = self.peers[index].tracks_out[*slot].source.peer;
                self.peers
                    .iter()
                    .find(|p| p.key == key)
                    .map(|p| p.participant.clone())
            })
            .collect()
    }

    /// Switches off layers nobody receives, and back on at once when someone needs them.
    fn dynacast(&mut self, now: Instant) {
        let recording = !self.taps.is_empty();
        for publisher_index in 0..self.peers.len() {
            let key = self.peers[publisher_index].key;
            for track_index in 0..self.peers[publisher_index].tracks_in.len() {
                let track = &self.peers[publisher_index].tracks_in[track_index];
                if track.kind != MediaKind::Video || !track.is_simulcast() {
                    continue;
                }
                let mut wanted = [false; MAX_LAYERS];
                if recording {
                    // Recordings keep the best picture the publisher can send.
                    wanted[track.layers.len() - 1] = true;
                }
                for subscriber in &self.peers {
                    for out in &subscriber.tracks_out {
                        if out.source.peer != key || out.source.mid != track.mid {
                            continue;
                        }
                        if let Some(video) = out.video() {
                            // What it gets, what it switches to, and the next layer up within
                            // what its tile shows: kept on so the subscriber can climb (and
                            // so a layer the publisher's own uplink dropped can come back).
                            let target = video.switch.target();
                            let next = match target {
                                Some(layer) => Some(layer + 1),
                                None => Some(0),
                            }
                            .filter(|next| Some(*next) <= video.max_layer);
                            for layer in
                                [target, video.switch.current(), next].into_iter().flatten()
                            {
                                if let Some(slot) = wanted.get_mut(usize::from(layer)) {
                                    *slot = true;
                                }
                            }
                        }
                    }
                }
                if wanted.contains(&true) {
                    // The lowest layer stays on while anyone gets the video: it is a tenth of
                    // the top one's cost, and when a higher layer stops (the publisher's uplink
                    // dropped it) or a subscriber's link falls, the picture goes on at its next
                    // keyframe instead of after a switched-off layer is asked back.
                    wanted[0] = true;
                }
                let publisher = &mut self.peers[publisher_index];
                let track = &mut publisher.tracks_in[track_index];
                if update_suspensions(track, &wanted, now) {
                    let active = track.active_rids();
                    let mid = track.mid.to_string();
                    let _ = publisher.notify(PeerEvent::PublishLayers { mid, active });
                }
            }
        }
    }

    pub(super) fn report_quality(&mut self, now: Instant) {
        for peer in &mut self.peers {
            if !peer.connected {
                continue;
            }
            let mut sample = LinkSample {
                loss_down: peer.link.loss_down,
                loss_up: peer.link.loss_up,
                rtt: peer.link.rtt,
                estimate: peer.estimate,
                ..LinkSample::default()
            };
            for track in &peer.tracks_out {
                if track.open_mid().is_none() {
                    continue;
                }
                sample.receives = true;
                if let Some(video) = track.video() {
                    if video.reported_pause == Some(VideoPause::Bandwidth) {
                        sample.videos_paused += 1;
                    }
                }
            }
            sample.videos_reduced = reduced_videos(peer);
            let level = peer.quality.update(now, &sample);
            let report = QualityReport {
                level,
                loss_pct: sample.worst_loss() * 100.0,
                rtt_ms: sample
                    .rtt
                    .map(|rtt| u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX)),
                downlink_kbps: peer
                    .estimate
                    .map(|e| u32::try_from(e / 1_000).unwrap_or(u32::MAX)),
                videos_paused: sample.videos_paused,
                layer_switches: peer.layer_switches(),
                paused_ms: u64::try_from(peer.paused_for.as_millis()).unwrap_or(u64::MAX),
            };
            let queued = if tracing::enabled!(tracing::Level::DEBUG) {
                peer.queued_bytes()
            } else {
                0
            };
            tracing::debug!(
                participant = %peer.participant,
                queued,
                level = level.as_str(),
                estimate = peer.estimate,
                loss_ceiling = peer.loss_ceiling,
                delivered = peer.delivered.map(|(_, d)| d),
                sending = peer.sending,
                wire = peer.link.wire,
                loss = sample.worst_loss(),
                rtt_ms = report.rtt_ms,
                paused = sample.videos_paused,
                red = peer.wants_red,
                deep_red = peer.deep_red_frames,
                queueing = peer.queueing,
                ceiling = peer.allocator.ceiling(),
                trial = peer.allocator.padding_trial(),
                chance_video = peer.chance_video(now),
                probe = peer.probe_desired,
                "link"
            );
            let _ = peer.notify(PeerEvent::Quality(report));
        }
    }
}

/// What to probe the link towards: what the next step needs, but nothing over the ceiling a
/// queue left, and nothing at all when that step would not fit under it anyway (probes would
/// only fill the queue again: the link has shown what it carries).
fn probe_towards(sending: u64, audio: u64, next_step: Option<u64>, ceiling: Option<u64>) -> u64 {
    let target = Allocator::probe_target(sending, audio, next_step);
    match (ceiling, next_step) {
        (Some(ceiling), Some(step)) if sending + step > ceiling => sending,
        (Some(ceiling), _) => target.min(ceiling.max(sending)),
        (None, _) => target,
    }
}

/// Tells str0m's estimator what to keep up (no more than the video sent, or the level, in all,
/// that padding fills up to while a step is tried or a stuck estimate nudged) and what to probe
/// towards: the next step up only, since probing far beyond it on a weak link fills its queue.
/// Small changes are left alone and raises are spaced out, as each raise sends a probe.
fn steer_probing(
    subscriber: &mut Peer,
    (video, pad_to): (u64, Option<u64>),
    target: u64,
    now: Instant,
) {
    if pad_to.is_some() {
        subscriber.note_padding(now);
    }
    // Without a level to pad to, the minimum stays under what is sent, so the media's own
    // dips (a pause in speech, a small frame) are not filled with padding.
    let pad_to = pad_to.unwrap_or(video);
    let current = subscriber.probe_desired;
    let estimate = subscriber.estimate.unwrap_or(0);
    if estimate >= current {
        subscriber.probe_misses = 0;
    }
    let backoff =
        (PROBE_BACKOFF * 2u32.saturating_pow(subscriber.probe_misses)).min(PROBE_BACKOFF_LONGEST);
    let waited = subscriber
        .probe_raised
        .is_none_or(|at| now.saturating_duration_since(at) >= backoff);
    let differs = (target as f64 - current as f64).abs() > current as f64 * PROBE_TARGET_SLACK;
    let desired = if target < current && differs {
        target
    } else if target > current && (differs || current == video) && (estimate >= current || waited) {
        // A raise makes str0m probe towards it.
        if estimate < current {
            subscriber.probe_misses += 1;
        }
        subscriber.probe_raised = Some(now);
        target
    } else if target > estimate && current > video && waited {
        // The last probe did not lift the estimate enough: step back for a moment, so that the
        // next raise probes again.
        video
    } else {
        current
    };
    subscriber.probe_desired = desired;
    subscriber
        .rtc
        .bwe()
        .set_bitrate(Bitrate::bps(pad_to), Bitrate::bps(desired.max(pad_to)));
    subscriber.needs_poll = true;
}

/// What a RED voice costs unwrapped: RED carries each Opus frame twice (once as the newest,
/// once as redundancy in the next packet), around the same per-packet overhead.
fn plain_opus_cost(red_cost: u64) -> u64 {
    (red_cost + VOICE_OVERHEAD) / 2
}

/// The per-packet overhead of a voice: 50 packets a second of about 60 bytes of headers.
const VOICE_OVERHEAD: u64 = 50 * 60 * 8;

/// Where the publisher of subscriber `index`'s outgoing track `slot` stands.
fn publisher_standing(peers: &[Peer], slot: usize, index: usize) -> Option<Standing> {
    let source = peers[index].tracks_out.get(slot)?.source;
    peers
        .iter()
        .find(|p| p.key == source.peer)
        .map(Standing::of)
}

/// Videos this subscriber gets below the layer its tile wants, because of bandwidth.
fn reduced_videos(peer: &Peer) -> u32 {
    peer.tracks_out
        .iter()
        .filter_map(|t| t.video())
        .filter(|v| v.reduced)
        .count() as u32
}

/// The highest layer worth sending `subscriber` of `source`, from the size it shows it at.
fn wanted_layer(subscriber: &Peer, publisher: PeerKey, source: &TrackIn) -> Option<u8> {
    let top = (source.layers.len().max(1) - 1) as u8;
    if subscriber.wishes.audio_only {
        return None;
    }
    // A shared screen is shown large to everyone, whatever the tiles of the cameras.
    if source.shared_screen.is_some() {
        return Some(top);
    }
    let Some(views) = &subscriber.wishes.views else {
        return Some(top);
    };
    let &(_, width, height) = views.iter().find(|(key, _, _)| *key == publisher)?;
    if width == 0 || height == 0 {
        return None;
    }
    let count = source.layers.len();
    // Shown at most this large; a layer slightly smaller still looks sharp.
    let needed = (height.max(width * 9 / 16) as f32 * 0.85) as u32;
    (0..count)
        .find(|&i| {
            let nominal = NOMINAL_HEIGHTS[MAX_LAYERS - count + i];
            source.layers[i].height.unwrap_or(nominal) >= needed
        })
        .map_or(Some(top), |i| Some(i as u8))
}

/// Marks layers nobody wants as switched off after a while, and wanted ones as on; returns
/// whether the set of active layers changed.
fn update_suspensions(track: &mut TrackIn, wanted: &[bool; MAX_LAYERS], now: Instant) -> bool {
    let mut changed = false;
    for (layer, wanted) in track.layers.iter_mut().zip(wanted) {
        if let Some(resumed) = layer.resumed_at {
            if layer.flowing(now) {
                layer.resumed_at = None;
            } else if now.saturating_duration_since(resumed) >= RESUME_GRACE {
                // Asked back on, never came: the publisher's uplink cannot carry it.
                layer.resumed_at = None;
                layer.unavailable_until = Some(now + UNAVAILABLE_FOR);
            }
        }
        if *wanted {
            layer.unwanted_since = None;
            if layer.suspended {
                layer.suspended = false;
                layer.resumed_at = Some(now);
                changed = true;
            }
        } else {
            let since = *layer.unwanted_since.get_or_insert(now);
            if !layer.suspended && now.saturating_duration_since(since) >= DYNACAST_DELAY {
                layer.suspended = true;
                changed = true;
            }
        }
    }
    changed
}
