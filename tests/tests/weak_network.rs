//! Weak village networks, with real Chromium on both ends and the party's link shaped by the
//! kernel: a party's browser runs in a network namespace whose veth carries a `tbf` cap, the
//! mediator and the other party run outside it, and all three publish VP8 simulcast (the fake
//! camera as a phone's, 640×360: two layers, 320×180 and 640×360).
//!
//! - Capped at 300 kbit/s, the party ends up on the low layer of both others, their voices keep
//!   flowing, and no video freezes for long once it has settled; lifted, it climbs above the
//!   low layer again.
//! - Capped above the voices but below them plus the lowest layer, its video is paused (the tile
//!   says so) and the voices go on; everyone sees its connection is weak, and the page
//!   suggests voice only; lifted, video comes
//!   back above the low layer; the session's events keep a network summary of every
//!   participant.
//! - On a path through a relay that loses a fifth of the party's packets each way, with 300 ms
//!   round trips, the voices it hears are repaired (RED, FEC, NACK) and stay clear, and so
//!   does its own voice at the mediator; video is not given up for that loss (the link has
//!   room): a low layer keeps playing.
//!
//! Each run prints what it measured. Needs root, iproute2 and Debian's `chromium`.

use std::time::{Duration, Instant};

use concord_tests::call::{height_from, sample, tile, watch, Call, CallSetup, ONE_CALL_AT_A_TIME};
use concord_tests::netns::Netns;
use concord_tests::probes::{longest_stall, AudioWindow, StatsSample};
use concord_tests::relay::{Direction, FlowCounts, RandomLoss};
use serde_json::Value;

/// Chromium's send-side estimate needs this long to ramp up (FIELD-NOTES), and so does ours.
const WARM_UP: Duration = Duration::from_secs(15);
/// The longest the capped party may take to settle on the low layers.
const SETTLE_WITHIN: Duration = Duration::from_secs(40);
/// Samples in a row on the low layers that count as settled (five seconds).
const STEADY_SAMPLES: usize = 10;
/// How long the settled state is watched.
const SETTLED_FOR: Duration = Duration::from_secs(20);
/// What a voice packet carries on the capped link besides its payload: RTP header and
/// extensions (about 28 bytes), SRTP's tag (10), UDP (8), IP (20) and the veth's Ethernet
/// header (14).
const VOICE_PACKET_HEADERS: u64 = 80;
/// Opus sends a 20 ms frame per packet while the voice speaks.
const VOICE_PACKETS_PER_SECOND: f64 = 50.0;
/// The pausing cap over what the two voices cost on the wire while both speak, between two
/// bounds. What reaches the party with the voices (reports, feedback on its own media) was
/// measured at the capped link at about 36 kbit/s more than the voices while video was paused;
/// the lowest layer costs 40-75 kbit/s on the wire as the fake camera's picture varies, and must
/// not fit beside them. 40 left the voices 4 kbit/s: the link stayed full with the voices alone
/// (it carried 156 kbit/s under a 151 kbit/s cap), and the queue a sudden cap leaves cost them
/// 5.3 % in one local run. 60 leaves them about 24, and the lowest layer still misses by 16 or
/// more.
const PAUSING_CAP_OVER_VOICES_KBPS: f64 = 60.0;
/// The longest a party may take to climb above the low layer once a cap is lifted: the
/// allocator proves each step up before the next, and waits longer after a link flapped.
const LIFTED_CLIMBS_WITHIN: Duration = Duration::from_secs(60);
/// The page suggests voice only once its downlink estimate has stayed very low for 10 s; by
/// the end of the paused window that has had time, and this is the margin past it.
const SUGGESTION_WITHIN: Duration = Duration::from_secs(15);
/// The low layer's height.
const LOW_LAYER_HEIGHT: u32 = 180;

fn namespace(call: &Call) -> &Netns {
    call.ns
        .as_ref()
        .expect("the capped party runs in a namespace")
}

/// Why `who`'s tile shows their video paused, if it does.
fn paused<'a>(sample: &'a StatsSample, who: &str) -> Option<&'a str> {
    sample
        .video_from(who)
        .and_then(|v| v.tile_data.get("videoPaused"))
        .map(String::as_str)
        .filter(|reason| !reason.is_empty())
}

/// `who`'s video plays, at the low layer at most (a paused tile keeps its last frame's height).
fn plays_low_layer(sample: &StatsSample, who: &str) -> bool {
    paused(sample, who).is_none() && height_from(sample, who).is_some_and(|h| h <= LOW_LAYER_HEIGHT)
}

/// One of `others`' videos plays above the low layer in the last sample: not paused, with new
/// frames since the one before (a paused tile keeps its last frame's height).
fn climbed(samples: &[StatsSample], others: [&str; 2]) -> bool {
    let [.., before, last] = samples else {
        return false;
    };
    others.iter().any(|who| {
        let frames = |s: &StatsSample| s.video_from(who).map(|v| v.frames_decoded);
        paused(last, who).is_none()
            && height_from(last, who).is_some_and(|h| h > LOW_LAYER_HEIGHT)
            && frames(last) > frames(before)
    })
}

/// The capped party's quality mark, on its own page and on the mediator's, says its link is
/// not good.
async fn assert_marked_weak(call: &Call) {
    let party = &call.ids.third;
    let own = tile(&call.third, party).await;
    let seen_by_mediator = tile(&call.mediator, party).await;
    println!("quality marks under the cap: own {own}, at the mediator {seen_by_mediator}");
    for mark in [&own, &seen_by_mediator] {
        assert!(
            matches!(mark["quality"].as_str(), Some("fair" | "poor")),
            "{mark}"
        );
    }
}

/// Concealed samples as a percentage of samples played, for the voice of `who`, between the
/// first and last of `samples`.
fn concealed(samples: &[StatsSample], who: &str) -> (f64, AudioWindow) {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        panic!("no samples");
    };
    let secs = last.elapsed_since(first).as_secs_f64();
    let window = match (first.audio_from(who), last.audio_from(who)) {
        (Some(a), Some(b)) => AudioWindow::between(a, b, secs),
        _ => panic!("no audio from {who} in the samples"),
    };
    let percent = window
        .concealed_percent()
        .unwrap_or_else(|| panic!("no audio from {who} was played: {window:?}"));
    (percent, window)
}

/// What the two voices the capped party hears cost on the wire while both speak, in kbit/s: the
/// average packet its browser counted over a few seconds, with its headers, 50 times a second
/// (Opus's 20 ms frames). DTX sends far fewer packets in pauses, so what they cost in a given
/// second ranges from a fraction of this to all of it.
async fn voices_on_the_wire(call: &Call) -> f64 {
    let ids = &call.ids;
    let before = sample(&call.third).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = sample(&call.third).await;
    let bits: f64 = [&ids.mediator, &ids.party]
        .into_iter()
        .map(
            |who| match (before.audio_from(who), after.audio_from(who)) {
                (Some(a), Some(b)) => {
                    let bytes = b.bytes_received.saturating_sub(a.bytes_received);
                    let packets = b.packets_received.saturating_sub(a.packets_received);
                    assert!(
                        packets > 0,
                        "{who}'s voice reaches the party before the cap"
                    );
                    let packet = bytes as f64 / packets as f64 + VOICE_PACKET_HEADERS as f64;
                    packet * 8.0 * VOICE_PACKETS_PER_SECOND
                }
                _ => panic!("the party hears {who} before the cap"),
            },
        )
        .sum();
    bits / 1000.0
}

/// Lifts the party's cap and waits for it to play one of the others above the low layer again.
async fn lift_and_climb(call: &Call) {
    let ids = &call.ids;
    namespace(call).cap_downlink(None).expect("lift the cap");
    let lifted_at = Instant::now();
    let higher = |samples: &[StatsSample]| climbed(samples, [&ids.mediator, &ids.party]);
    let climbing = watch(&call.third, LIFTED_CLIMBS_WITHIN, higher).await;
    assert!(
        higher(&climbing),
        "after the cap is lifted the party climbs above the low layer: {:?}",
        climbing
            .iter()
            .map(|s| (height_from(s, &ids.mediator), height_from(s, &ids.party)))
            .collect::<Vec<_>>()
    );
    println!(
        "lifted: above the low layer again after {:.1} s",
        lifted_at.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capped_at_300_kbits_a_party_settles_on_both_low_layers_and_keeps_the_voices() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    let call = Call::start(CallSetup {
        third_in_netns: true,
        ..CallSetup::default()
    })
    .await;
    let ids = &call.ids;
    tokio::time::sleep(WARM_UP).await;
    let before = sample(&call.third).await;
    let publisher = sample(&call.mediator).await;
    println!(
        "before the cap: the capped party gets the mediator at {:?}p and the party at {:?}p\n  \
         mediator sends {:?}\n  capped party receives {:?}\n  its tiles: mediator {} party {} own {}",
        height_from(&before, &ids.mediator),
        height_from(&before, &ids.party),
        publisher
            .outbound_video
            .iter()
            .map(|v| (
                v.rid.clone(),
                v.frame_height,
                v.active,
                v.quality_limitation_reason.clone(),
                v.target_bitrate
            ))
            .collect::<Vec<_>>(),
        before
            .inbound_video
            .iter()
            .map(|v| (
                v.participant.clone(),
                v.frame_height,
                v.element_width,
                v.element_height
            ))
            .collect::<Vec<_>>(),
        tile(&call.third, &ids.mediator).await,
        tile(&call.third, &ids.party).await,
        tile(&call.third, &ids.third).await,
    );

    // 300 kbit/s: both others' low layers and their voices fit, nothing more.
    namespace(&call)
        .cap_downlink(Some(300))
        .expect("cap the party's downlink");
    let capped_at = Instant::now();
    let low = |s: &StatsSample| {
        [&ids.mediator, &ids.party]
            .iter()
            .all(|who| plays_low_layer(s, who))
    };
    // Settled: both low layers have played for a while (the first seconds of a sudden cap may
    // pause a video while the queue the cap filled drains); from then on, nothing may change.
    let steady = |samples: &[StatsSample]| {
        samples.len() >= STEADY_SAMPLES && samples[samples.len() - STEADY_SAMPLES..].iter().all(low)
    };
    let settling = watch(&call.third, SETTLE_WITHIN, steady).await;
    let settled_after = capped_at.elapsed();
    assert!(
        steady(&settling),
        "the capped party settles on the low layers within {SETTLE_WITHIN:?}: {:?}",
        settling
            .iter()
            .map(|s| (height_from(s, &ids.mediator), height_from(s, &ids.party)))
            .collect::<Vec<_>>()
    );
    let settled = watch(&call.third, SETTLED_FOR, |_| false).await;
    let own_quality = call
        .third
        .evaluate("JSON.stringify(window.concord && window.concord.quality)")
        .await
        .unwrap_or(Value::Null);
    let mediator_sends = sample(&call.mediator).await;
    println!(
        "capped party's quality as it sees it: {own_quality}\n  mediator sends {:?}\n  \
         mediator's audio {:?}",
        mediator_sends
            .outbound_video
            .iter()
            .map(|v| (
                v.rid.clone(),
                v.frame_height,
                v.active,
                v.target_bitrate,
                v.bytes_sent
            ))
            .collect::<Vec<_>>(),
        mediator_sends
            .outbound_audio
            .iter()
            .map(|a| (a.target_bitrate, a.bytes_sent, a.packets_sent))
            .collect::<Vec<_>>()
    );
    println!(
        "settled window, per sample (mediator height, frames; party height, frames; tiles):\n{}",
        settled
            .iter()
            .map(|s| {
                let v = |who: &str| {
                    s.video_from(who).map(|v| {
                        (
                            v.frame_height,
                            v.frames_decoded,
                            v.tile_data.get("videoPaused").cloned(),
                        )
                    })
                };
                format!("  {:?} {:?}", v(&ids.mediator), v(&ids.party))
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut whole = settling.clone();
    whole.extend(settled.iter().cloned());
    for who in [&ids.mediator, &ids.party] {
        assert!(
            settled.iter().all(|s| plays_low_layer(s, who)),
            "the low layer of {who} stays, playing: {:?}",
            settled
                .iter()
                .map(|s| (height_from(s, who), paused(s, who)))
                .collect::<Vec<_>>()
        );
        let stall = longest_stall(&settled, who);
        let (after_switch, window) = concealed(&settled, who);
        let (capped_window, whole_window) = concealed(&whole, who);
        println!(
            "capped at 300 kbit/s, settled after {:.1} s; from {who}: concealed {capped_window:.2} % \
             over the capped window ({:.0} s), {after_switch:.2} % after the switch, longest \
             stall after it {stall:?}\n  {whole_window:?}\n  {window:?}",
            settled_after.as_secs_f64(),
            whole_window.seconds
        );
        assert!(
            capped_window < 5.0,
            "the voice of {who} stays clear over the capped window: {capped_window:.2} % concealed"
        );
        assert!(
            stall < Duration::from_secs(2),
            "no freeze over 2 s after the switch: {stall:?}"
        );
    }
    // The capped party sees its own link is not good, and the mediator sees it too.
    assert_marked_weak(&call).await;

    // Lifted: it climbs above the low layer again.
    lift_and_climb(&call).await;

    call.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_voices_and_the_lowest_layer_video_pauses_the_voices_go_on_and_it_comes_back() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    let call = Call::start(CallSetup {
        third_in_netns: true,
        ..CallSetup::default()
    })
    .await;
    let ids = &call.ids;
    tokio::time::sleep(WARM_UP).await;
    // Above the two voices, below them plus the lowest layer: video pauses, the voices go on.
    // What the voices cost differs from run to run and second to second (the fake microphones'
    // tone and silence, DTX): a fixed cap was below them in some runs and above them and a
    // layer in others, so the cap is set from what they cost in this one while both speak.
    let voices_kbps = voices_on_the_wire(&call).await;
    let cap = (voices_kbps + PAUSING_CAP_OVER_VOICES_KBPS).round() as u32;
    println!("the voices cost {voices_kbps:.0} kbit/s on the wire while both speak: capped at {cap} kbit/s");
    namespace(&call)
        .cap_downlink(Some(cap))
        .expect("cap the party's downlink");
    let all_paused = |s: &StatsSample| {
        s.inbound_video
            .iter()
            .all(|v| v.tile_data.get("videoPaused").map(String::as_str) == Some("bandwidth"))
            && !s.inbound_video.is_empty()
    };
    let pausing = watch(&call.third, Duration::from_secs(30), |samples| {
        samples.last().is_some_and(all_paused)
    })
    .await;
    assert!(
        pausing.last().is_some_and(all_paused),
        "the capped party's tiles say video is paused for a weak network: {:?}",
        pausing.last().map(|s| s
            .inbound_video
            .iter()
            .map(|v| v.tile_data.clone())
            .collect::<Vec<_>>())
    );
    let link_before = namespace(&call).downlink_counters();
    let voices = watch(&call.third, Duration::from_secs(15), |_| false).await;
    let mut dropped_meanwhile = None;
    // What the capped link carried and dropped meanwhile, in packets with all their headers:
    // whether the voices alone fit under the cap, as this test assumes.
    if let (Ok(before), Ok(after), (Some(first), Some(last))) = (
        link_before,
        namespace(&call).downlink_counters(),
        (voices.first(), voices.last()),
    ) {
        let carried = after.since(&before);
        dropped_meanwhile = Some(carried.dropped);
        let secs = last.elapsed_since(first).as_secs_f64().max(1.0);
        let packet_bits = carried.sent_bytes as f64 * 8.0 / carried.sent_packets.max(1) as f64;
        let offered = carried.sent_packets + carried.dropped;
        println!(
            "paused at {cap} kbit/s, the link carried {:.0} kbit/s ({:.0} packets/s) \
             and dropped {} packets: about {:.0} kbit/s were sent to it",
            carried.sent_bytes as f64 * 8.0 / secs / 1000.0,
            carried.sent_packets as f64 / secs,
            carried.dropped,
            offered as f64 * packet_bits / secs / 1000.0,
        );
    }
    // The page, whose own downlink estimate has stayed very low, suggests voice only.
    let suggested = call
        .third
        .wait_for(
            "(() => { const s = document.querySelector('[data-testid=audio-only-suggestion]'); \
               return !!s && !s.hidden; })()",
            SUGGESTION_WITHIN,
        )
        .await;
    assert!(
        suggested.is_ok(),
        "the capped party is offered voice only: {suggested:?}"
    );
    // It stays paused: what cannot fit is not tried again and again at the voices' cost. The
    // lowest layer costs 40-75 kbit/s on the wire as the fake camera's picture varies; cheap,
    // with the voices pausing (DTX), it can fit beside them after all (one local run of four:
    // the link carried the voices and a low layer, 166 kbit/s under a 169 cap, and dropped
    // nothing). Sending it then is right, as long as the choice holds (once shown, shown to the
    // end) and the voices stay clear (asserted below).
    let showing: Vec<bool> = voices.iter().map(|s| !all_paused(s)).collect();
    let resumed = showing.iter().filter(|showed| **showed).count();
    let changes = showing.windows(2).filter(|pair| pair[0] != pair[1]).count();
    let fitted = changes <= 1 && showing.last() == Some(&true);
    let restarts = call
        .third
        .evaluate("window.concord.iceRestarts")
        .await
        .unwrap_or_default();
    println!(
        "paused at {cap} kbit/s: {resumed} of {} samples showed a video ({restarts} ICE \
         restarts so far)",
        voices.len()
    );
    assert!(
        resumed * 10 <= voices.len() || fitted,
        "video stays paused under the cap: {resumed} of {} samples showed a video, in {changes} \
         changes, the link dropping {dropped_meanwhile:?} packets meanwhile",
        voices.len()
    );
    for who in [&ids.mediator, &ids.party] {
        let (percent, window) = concealed(&voices, who);
        println!("paused at {cap} kbit/s, voice of {who}: {percent:.2} % concealed\n  {window:?}");
        assert!(
            percent < 5.0,
            "the voice of {who} goes on while video is paused: {percent:.2} % concealed"
        );
    }

    // The capped party sees its own link is not good, and the mediator sees it too.
    assert_marked_weak(&call).await;

    // Lifted: video comes back, on a higher layer than the low one.
    lift_and_climb(&call).await;

    // The case file keeps what each participant's link was like.
    let admin = call.server.admin().await.expect("the administrator");
    let disputes = admin
        .get("/api/disputes")
        .await
        .and_then(|r| r.ok())
        .expect("the disputes");
    let dispute = disputes["disputes"][0]["id"]
        .as_str()
        .expect("the demo dispute")
        .to_owned();
    let detail = admin
        .get(&format!("/api/disputes/{dispute}"))
        .await
        .and_then(|r| r.ok())
        .expect("the dispute");
    let session = detail["sessions"][0]["id"]
        .as_str()
        .expect("the demo session")
        .to_owned();
    admin
        .post(&format!("/api/sessions/{session}/end"), Value::Null)
        .await
        .and_then(|r| r.ok())
        .expect("end the session");
    let record = admin
        .get(&format!("/api/sessions/{session}"))
        .await
        .and_then(|r| r.ok())
        .expect("the session's record");
    let summaries: Vec<Value> = record["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["kind"] == "network_summary")
                .filter_map(|e| e["detail"].as_str())
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect()
        })
        .unwrap_or_default();
    println!("network summaries: {summaries:#?}");
    assert_eq!(summaries.len(), 3, "one per participant: {summaries:?}");
    let capped = summaries
        .iter()
        .find(|s| s["participant_id"] == ids.third.as_str())
        .expect("the capped party's summary");
    assert!(
        capped["poor_ms"].as_u64().unwrap_or(0) + capped["fair_ms"].as_u64().unwrap_or(0) > 10_000,
        "{capped}"
    );
    assert!(
        capped["video_paused_ms"].as_u64().unwrap_or(0) > 5_000,
        "{capped}"
    );
    assert!(
        capped["layer_switches"].as_u64().unwrap_or(0) >= 2,
        "{capped}"
    );
    call.finish().await;
}

/// The lossy path: random loss on the party's path, each way, and its one-way delay.
const PATH_LOSS: f64 = 0.2;
const ONE_WAY_DELAY: Duration = Duration::from_millis(150);
/// Samples of a 20 ms Opus packet at 48 kHz: what one unrepaired loss conceals.
const SAMPLES_PER_PACKET: f64 = 960.0;
/// How long the lossy path is measured, once the SFU has seen the loss.
const LOSSY_WINDOW: Duration = Duration::from_secs(30);
/// How often the party's videos are looked at meanwhile.
const VIDEO_SAMPLED_EVERY: Duration = Duration::from_secs(2);

/// `who`'s video decoded new frames between two samples and its tile does not show it paused.
fn new_frames(before: &StatsSample, after: &StatsSample, who: &str) -> bool {
    paused(after, who).is_none() && after.frames_decoded_from(who) > before.frames_decoded_from(who)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_path_losing_a_fifth_of_its_packets_with_300_ms_round_trips_the_voices_stay_clear() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    let call = Call::start(CallSetup {
        through_relay: true,
        ..CallSetup::default()
    })
    .await;
    let ids = &call.ids;
    tokio::time::sleep(WARM_UP).await;
    let client = call.relay_client(&call.third).await;
    let relay = call.relay.as_ref().expect("the relay");
    for direction in [Direction::Upstream, Direction::Downstream] {
        relay.set_random_loss(client, direction, Some(RandomLoss::rtp(PATH_LOSS, 2026)));
        relay.set_delay(client, direction, ONE_WAY_DELAY);
    }
    // The SFU learns of the loss from the party's reports, then sends the voices with RED.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (third_before, mediator_before) = (sample(&call.third).await, sample(&call.mediator).await);
    let down_before = relay.counts(client, Direction::Downstream);
    // Meanwhile: which of the others' videos the party sees play.
    let mut played = [0usize; 2];
    let mut any_played = 0usize;
    let mut samples = 0usize;
    let mut previous = third_before.clone();
    let window_ends = Instant::now() + LOSSY_WINDOW;
    while Instant::now() < window_ends {
        tokio::time::sleep(VIDEO_SAMPLED_EVERY).await;
        let now = sample(&call.third).await;
        let mut any = false;
        for (count, who) in played.iter_mut().zip([&ids.mediator, &ids.party]) {
            if new_frames(&previous, &now, who) {
                *count += 1;
                any = true;
            }
        }
        any_played += usize::from(any);
        samples += 1;
        previous = now;
    }
    let (third_after, mediator_after) = (sample(&call.third).await, sample(&call.mediator).await);
    let down_after = relay.counts(client, Direction::Downstream);
    let up = relay.counts(client, Direction::Upstream);

    // What the party hears: the others' voices over its lossy downlink.
    let mut failures = Vec::new();
    for who in [&ids.mediator, &ids.party] {
        let (Some(before), Some(after)) =
            (third_before.audio_from(who), third_after.audio_from(who))
        else {
            panic!("the party hears {who}");
        };
        let window = AudioWindow::between(
            before,
            after,
            third_after.elapsed_since(&third_before).as_secs_f64(),
        );
        let dropped =
            |counts: &FlowCounts| counts.by_ssrc.get(&after.ssrc).map_or(0, |c| c.dropped);
        let dropped = dropped(&down_after).saturating_sub(dropped(&down_before));
        let unrepaired = window.concealed_samples as f64 / SAMPLES_PER_PACKET;
        let recovered = 100.0 * (1.0 - (unrepaired / dropped.max(1) as f64).min(1.0));
        let concealed = window.concealed_percent().unwrap_or(100.0);
        println!(
            "lossy path, the party hears {who}: {dropped} voice packets dropped on the way, \
             {recovered:.1} % of them repaired (RED/FEC/NACK), {concealed:.2} % concealed, \
             codec {:?}\n  {window:?}",
            after.codec
        );
        if recovered < 95.0 {
            failures.push(format!(
                "{who} to the party: {recovered:.1} % of lost voice packets repaired"
            ));
        }
        if concealed >= 10.0 {
            failures.push(format!("{who} to the party: {concealed:.2} % concealed"));
        }
    }
    // What the mediator hears of the party: its voice over the lossy uplink.
    let (Some(before), Some(after)) = (
        mediator_before.audio_from(&ids.third),
        mediator_after.audio_from(&ids.third),
    ) else {
        panic!("the mediator hears the party");
    };
    let window = AudioWindow::between(
        before,
        after,
        mediator_after.elapsed_since(&mediator_before).as_secs_f64(),
    );
    let concealed = window.concealed_percent().unwrap_or(100.0);
    let voice_dropped: u64 = third_after
        .outbound_audio
        .iter()
        .filter_map(|a| up.by_ssrc.get(&a.ssrc).map(|c| c.dropped))
        .sum();
    // Its browser's RED carries one earlier frame, which the SFU rebuilds lost frames from.
    let still_lost = window.packets_lost.max(0) as f64;
    let rebuilt = 100.0 * (1.0 - (still_lost / voice_dropped.max(1) as f64).min(1.0));
    println!(
        "lossy path, the mediator hears the party: {} RTP packets dropped upstream in all, \
         {voice_dropped} of its voice ({rebuilt:.1} % rebuilt by the SFU from the RED of the \
         next), {concealed:.2} % concealed\n  {window:?}",
        up.rtp_dropped,
    );
    if concealed >= 10.0 {
        failures.push(format!(
            "the party to the mediator: {concealed:.2} % concealed"
        ));
    }
    // The control: the other party's voice at the mediator, both on clean paths, on the same
    // busy machine.
    if let (Some(before), Some(after)) = (
        mediator_before.audio_from(&ids.party),
        mediator_after.audio_from(&ids.party),
    ) {
        let window = AudioWindow::between(
            before,
            after,
            mediator_after.elapsed_since(&mediator_before).as_secs_f64(),
        );
        println!(
            "clean path, the mediator hears the other party: {:.2} % concealed\n  {window:?}",
            window.concealed_percent().unwrap_or(100.0)
        );
    }
    // What the party sees: the link has room, only its loss is high. The videos' low layers
    // go on (resends repair them); the voices' redundancy may leave room for one only.
    let [mediator_plays, party_plays] = played;
    println!(
        "lossy path, the party sees the mediator's video play in {mediator_plays} and the \
         other party's in {party_plays} of {samples} samples, one of them in {any_played}"
    );
    for who in [&ids.mediator, &ids.party] {
        if let (Some(a), Some(b)) = (third_before.video_from(who), third_after.video_from(who)) {
            println!(
                "  {who}'s video over the window: {} frames decoded ({} keyframes), {} freezes \
                 for {:.1} s, {} NACKs, {} packets resent, {} PLIs, {}x{}",
                b.frames_decoded.saturating_sub(a.frames_decoded),
                b.key_frames_decoded.saturating_sub(a.key_frames_decoded),
                b.freeze_count.saturating_sub(a.freeze_count),
                b.total_freezes_duration - a.total_freezes_duration,
                b.nack_count.saturating_sub(a.nack_count),
                b.retransmitted_packets_received
                    .saturating_sub(a.retransmitted_packets_received),
                b.pli_count.saturating_sub(a.pli_count),
                b.frame_width.unwrap_or(0),
                b.frame_height.unwrap_or(0),
            );
        }
    }
    if any_played * 10 < samples * 9 {
        failures.push(format!(
            "no video played in {} of {samples} samples (mediator {mediator_plays}, party \
             {party_plays})",
            samples - any_played
        ));
    }
    call.finish().await;
    assert!(failures.is_empty(), "on the lossy path: {failures:?}");
}
