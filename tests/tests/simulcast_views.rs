//! Simulcast on a fast link, with real Chromium: three pages publish a phone camera's two VP8
//! layers (320×180 and 640×360) through the SFU on loopback.
//!
//! - A page shown as small as a phone's shows its tiles gets the low layer of everyone, although
//!   its link could carry more; a large page gets the high layer.
//! - Dynacast: once nobody shows the mediator large, the mediator's browser stops sending its
//!   high layer (its outbound-rtp stops counting) and keeps the low one; once someone does
//!   again, it comes back.
//! - Opus DTX: a muted microphone sends a comfort-noise frame now and then, not 50 packets a
//!   second.
//! - Voice only ("仅语音"): one tap and the page sends no video and receives none, its tiles
//!   say why, the voices go on; a second tap brings video back both ways.
//!
//! Each run prints what it measured. Needs Debian's `chromium`.

use std::time::Duration;

use concord_tests::call::{
    height_from, sample, tile, watch, Call, CallSetup, LARGE_VIEWPORT, SAMPLE_EVERY,
};
use concord_tests::chromium::Page;
use concord_tests::probes::{OutboundVideo, StatsSample};

/// A phone held upright: three tiles of 360 px wide at most, so 202 px high at most, which the
/// 180 px layer serves.
const PHONE_VIEWPORT: (u32, u32) = (360, 640);
const LOW_LAYER_HEIGHT: u32 = 180;
const HIGH_LAYER_HEIGHT: u32 = 360;
/// How long a voice's packet rate is measured over.
const DTX_WINDOW: Duration = Duration::from_secs(4);
/// How long a layer change may take: the browser's estimate ramps up after joining, and the
/// SFU switches at the next keyframe of the layer.
const CHANGE_WITHIN: Duration = Duration::from_secs(40);

/// The encodings a page sends, lowest layer first (by rid: q, h, f).
fn layers_sent(sample: &StatsSample) -> Vec<&OutboundVideo> {
    let rank = |v: &&OutboundVideo| match v.rid.as_deref() {
        Some("q") => 0,
        Some("h") => 1,
        Some("f") => 2,
        _ => 3,
    };
    let mut layers: Vec<&OutboundVideo> = sample.outbound_video.iter().collect();
    layers.sort_by_key(rank);
    layers
}

/// Bytes the page has sent on its lowest and its highest layer.
fn low_and_high_bytes(sample: &StatsSample) -> (u64, u64) {
    let layers = layers_sent(sample);
    assert!(
        layers.len() >= 2,
        "the page sends simulcast: {:?}",
        sample.outbound_video
    );
    (layers[0].bytes_sent, layers[layers.len() - 1].bytes_sent)
}

/// The packets a second `page` sends of its voice, over [`DTX_WINDOW`].
async fn voice_packet_rate(page: &Page) -> f64 {
    let sent = |s: &StatsSample| s.outbound_audio.iter().map(|a| a.packets_sent).sum::<u64>();
    let first = sample(page).await;
    tokio::time::sleep(DTX_WINDOW).await;
    let last = sample(page).await;
    sent(&last).saturating_sub(sent(&first)) as f64 / last.elapsed_since(&first).as_secs_f64()
}

async fn view_reported(page: &Page) -> serde_json::Value {
    page.evaluate("JSON.stringify(window.concord && window.concord.view)")
        .await
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_tiles_get_the_low_layer_and_layers_nobody_receives_stop_at_the_publisher() {
    let call = Call::start(CallSetup {
        viewports: [LARGE_VIEWPORT, LARGE_VIEWPORT, PHONE_VIEWPORT],
        ..CallSetup::default()
    })
    .await;
    let ids = &call.ids;

    // The large party's link climbs to the mediator's high layer...
    let high_at_party = |s: &StatsSample| height_from(s, &ids.mediator) == Some(HIGH_LAYER_HEIGHT);
    let climbing = watch(&call.party, CHANGE_WITHIN, |samples| {
        samples.last().is_some_and(high_at_party)
    })
    .await;
    assert!(
        climbing.last().is_some_and(high_at_party),
        "a large tile on a fast link gets the high layer: {:?}",
        climbing
            .iter()
            .map(|s| height_from(s, &ids.mediator))
            .collect::<Vec<_>>()
    );
    // ...while the phone-sized page keeps the low layer of both others.
    let small = watch(&call.third, Duration::from_secs(6), |_| false).await;
    println!(
        "the small page shows {} and receives (mediator, party): {:?}",
        view_reported(&call.third).await,
        small
            .iter()
            .map(|s| (height_from(s, &ids.mediator), height_from(s, &ids.party)))
            .collect::<Vec<_>>()
    );
    for who in [&ids.mediator, &ids.party] {
        let heights: Vec<_> = small.iter().map(|s| height_from(s, who)).collect();
        assert!(
            heights
                .iter()
                .all(|h| h.is_some_and(|h| h <= LOW_LAYER_HEIGHT)),
            "small tiles get the low layer of {who}: {heights:?}"
        );
        let decoded = |s: &StatsSample| s.video_from(who).map_or(0, |v| v.frames_decoded);
        let (first, last) = (small.first(), small.last());
        assert!(
            first
                .zip(last)
                .is_some_and(|(a, b)| decoded(b) > decoded(a)),
            "the small tile of {who} plays"
        );
    }

    // Nobody shows the mediator large any more: its high layer stops at its browser.
    call.party
        .set_viewport(PHONE_VIEWPORT.0, PHONE_VIEWPORT.1)
        .await
        .expect("shrink the party's page");
    let stopped = |samples: &[StatsSample]| {
        let n = samples.len();
        n >= 5 && {
            let (low_before, high_before) = low_and_high_bytes(&samples[n - 5]);
            let (low_now, high_now) = low_and_high_bytes(&samples[n - 1]);
            high_now == high_before && low_now > low_before
        }
    };
    let stopping = watch(&call.mediator, CHANGE_WITHIN, stopped).await;
    assert!(
        stopped(&stopping),
        "the mediator's high layer stops once nobody receives it: {:?}",
        stopping.iter().map(low_and_high_bytes).collect::<Vec<_>>()
    );
    // And stays off: its outbound-rtp does not count for a while.
    let off = watch(&call.mediator, Duration::from_secs(6), |_| false).await;
    let (Some(first), Some(last)) = (off.first(), off.last()) else {
        panic!("no samples");
    };
    let (low_a, high_a) = low_and_high_bytes(first);
    let (low_b, high_b) = low_and_high_bytes(last);
    println!(
        "dynacast: the mediator's high layer stopped after {:.1} s; over the next {:.1} s it sent \
         {} bytes on the high layer and {} on the low one; active flags {:?}",
        stopping.len() as f64 * SAMPLE_EVERY.as_secs_f64(),
        last.elapsed_since(first).as_secs_f64(),
        high_b - high_a,
        low_b - low_a,
        layers_sent(last)
            .iter()
            .map(|v| (v.rid.clone(), v.active))
            .collect::<Vec<_>>()
    );
    assert_eq!(high_a, high_b, "the high layer sends nothing while unused");
    assert!(low_b > low_a, "the low layer goes on");
    // The party's high layer is still shown large by the mediator: it keeps flowing.
    let party_sends = watch(&call.party, Duration::from_secs(2), |_| false).await;
    let party_high = |s: &StatsSample| low_and_high_bytes(s).1;
    assert!(
        party_sends
            .first()
            .zip(party_sends.last())
            .is_some_and(|(a, b)| party_high(b) > party_high(a)),
        "a layer someone receives keeps flowing"
    );

    // Shown large again: the high layer comes back on and reaches the party.
    call.party
        .set_viewport(LARGE_VIEWPORT.0, LARGE_VIEWPORT.1)
        .await
        .expect("enlarge the party's page");
    let back = watch(&call.party, CHANGE_WITHIN, |samples| {
        samples.last().is_some_and(high_at_party)
    })
    .await;
    assert!(
        back.last().is_some_and(high_at_party),
        "the high layer comes back when someone shows it large: {:?}",
        back.iter()
            .map(|s| height_from(s, &ids.mediator))
            .collect::<Vec<_>>()
    );
    let resumed = sample(&call.mediator).await;
    assert!(
        low_and_high_bytes(&resumed).1 > high_b,
        "the mediator sends its high layer again"
    );
    println!(
        "dynacast: high layer back at the party {:.1} s after it grew",
        back.len() as f64 * SAMPLE_EVERY.as_secs_f64()
    );

    // Opus DTX: a muted microphone sends a comfort-noise frame now and then, not 50 packets a
    // second; unmuted, the voice flows again.
    let speaking = voice_packet_rate(&call.mediator).await;
    call.mediator
        .click("[data-testid=mute-audio]")
        .await
        .expect("mute the mediator");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let muted = voice_packet_rate(&call.mediator).await;
    call.mediator
        .click("[data-testid=mute-audio]")
        .await
        .expect("unmute the mediator");
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The fake microphone's beeps come with pauses, and a window can fall in one: a few
    // windows, until one has the voice.
    let mut unmuted = 0.0;
    for _ in 0..3 {
        unmuted = voice_packet_rate(&call.mediator).await;
        if unmuted > 3.0 * muted {
            break;
        }
    }
    println!(
        "Opus DTX: the mediator's voice {speaking:.1} packets/s, muted {muted:.1}, unmuted \
         {unmuted:.1}"
    );
    // Without DTX a muted voice still sends 50 packets a second of silence. The fake microphone
    // beeps with pauses, which DTX thins out too, so speaking is less than 50 (and the rate
    // before muting only a reference).
    assert!(
        muted < 10.0,
        "a muted voice sends little with DTX: {muted:.1} packets/s"
    );
    assert!(
        unmuted > 3.0 * muted,
        "the voice flows when unmuted: {unmuted:.1} packets/s (before muting {speaking:.1}), \
         muted {muted:.1}"
    );

    // Voice only ("仅语音"), one tap on the phone-sized page: it sends no video and gets none,
    // the voices go on; a second tap brings both back.
    call.third
        .click("[data-testid=audio-only]")
        .await
        .expect("tap voice only");
    let others = [&ids.mediator, &ids.party];
    let video_stopped = |samples: &[StatsSample]| {
        let n = samples.len();
        n >= 5 && {
            let (before, now) = (&samples[n - 5], &samples[n - 1]);
            video_bytes_sent(now) == video_bytes_sent(before)
                && others
                    .iter()
                    .all(|who| frames_from(now, who) == frames_from(before, who))
        }
    };
    let stopping = watch(&call.third, CHANGE_WITHIN, video_stopped).await;
    assert!(
        video_stopped(&stopping),
        "voice only: the page sends and receives no video: sent {:?}, decoded {:?}",
        stopping.iter().map(video_bytes_sent).collect::<Vec<_>>(),
        stopping
            .iter()
            .map(|s| others.map(|who| frames_from(s, who)))
            .collect::<Vec<_>>()
    );
    let voice_only = watch(&call.third, Duration::from_secs(4), |_| false).await;
    let (Some(first), Some(last)) = (voice_only.first(), voice_only.last()) else {
        panic!("no samples");
    };
    let heard = |s: &StatsSample, who: &str| s.audio_from(who).map_or(0, |a| a.packets_received);
    for who in others {
        assert!(
            heard(last, who) > heard(first, who),
            "voice only: {who} is still heard"
        );
        let shown = tile(&call.third, who).await;
        assert_eq!(
            shown["videoPaused"].as_str(),
            Some("audio_only"),
            "voice only: {who}'s tile says why there is no picture: {shown}"
        );
    }
    let mediator_sees = watch(&call.mediator, Duration::from_secs(3), |_| false).await;
    assert!(
        mediator_sees
            .first()
            .zip(mediator_sees.last())
            .is_some_and(|(a, b)| frames_from(a, &ids.third) == frames_from(b, &ids.third)),
        "voice only: the others get no video from the page"
    );
    println!(
        "voice only: video stopped both ways {:.1} s after the tap",
        stopping.len() as f64 * SAMPLE_EVERY.as_secs_f64()
    );

    call.third
        .click("[data-testid=audio-only]")
        .await
        .expect("tap voice only again");
    let flowing = |samples: &[StatsSample]| {
        let n = samples.len();
        n >= 2 && {
            let (before, now) = (&samples[n - 2], &samples[n - 1]);
            video_bytes_sent(now) > video_bytes_sent(before)
                && others
                    .iter()
                    .all(|who| frames_from(now, who) > frames_from(before, who))
        }
    };
    let resuming = watch(&call.third, CHANGE_WITHIN, flowing).await;
    assert!(
        flowing(&resuming),
        "video comes back both ways after voice only: sent {:?}, decoded {:?}",
        resuming.iter().map(video_bytes_sent).collect::<Vec<_>>(),
        resuming
            .iter()
            .map(|s| others.map(|who| frames_from(s, who)))
            .collect::<Vec<_>>()
    );
    println!(
        "voice only off: video flowing both ways again {:.1} s after the tap",
        resuming.len() as f64 * SAMPLE_EVERY.as_secs_f64()
    );
    call.finish().await;
}

/// Bytes of video the page has sent, all layers.
fn video_bytes_sent(sample: &StatsSample) -> u64 {
    sample.outbound_video.iter().map(|v| v.bytes_sent).sum()
}

/// Frames the page has decoded of `who`'s video.
fn frames_from(sample: &StatsSample, who: &str) -> u64 {
    sample.video_from(who).map_or(0, |v| v.frames_decoded)
}
