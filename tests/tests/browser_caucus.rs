//! 背对背 in real Chromium, while the session is recorded: the mediator takes party A aside
//! from the console; for the whole private talk party B receives not one packet of A's or the
//! mediator's media (counted on B's inbound-rtp: audio packets, video packets, padding
//! included, video bytes, frames), and A none of B's, while A and the mediator go on seeing
//! and hearing each other; afterwards everyone decodes everyone again; and since A was not
//! asked to consent, nothing of the private talk is in any recorded file.
//!
//! Padding included: str0m 0.25 keeps padding (about 50 kbit/s) on the most recent video
//! stream it sends a subscriber, so the SFU offers the streams a caucus parts inactive.

use std::path::Path;
use std::time::Duration;

use concord_tests::call::{sample, Call, CallSetup};
use concord_tests::chromium::Page;
use concord_tests::probes::StatsSample;
use concord_tests::recordings::{
    fetch_recording_file, first_dispute_id, packet_seconds, wait_until_filed,
};
use concord_tests::recovery::epoch_ms;
use serde_json::Value;

const UI_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the private talk lasts.
const PRIVATE_TALK: Duration = Duration::from_secs(8);
/// What was on its way when the talk began (or ended) may still arrive this long after.
const IN_FLIGHT: Duration = Duration::from_millis(1500);
/// How long the call is recorded before the private talk (each file starts at a keyframe).
const RECORDED_BEFORE: Duration = Duration::from_secs(4);
/// How soon everyone decodes everyone again after the talk.
const BACK_WITHIN: Duration = Duration::from_secs(15);

async fn wait_until(page: &Page, expression: &str, what: &str) {
    page.wait_for(expression, UI_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:#}\n{:?}", page.console()));
}

/// Packets of `who`'s audio and video the page has received so far.
fn packets_from(sample: &StatsSample, who: &str) -> (u64, u64) {
    (
        sample.audio_from(who).map_or(0, |a| a.packets_received),
        sample.video_from(who).map_or(0, |v| v.packets_received),
    )
}

/// What of `who`'s media the page has received so far: audio packets, video bytes of media,
/// video frames decoded, and the video packets that were not padding or resends.
fn media_from(sample: &StatsSample, who: &str) -> (u64, u64, u64, u64) {
    let video = sample.video_from(who).cloned().unwrap_or_default();
    (
        sample.audio_from(who).map_or(0, |a| a.packets_received),
        video.bytes_received,
        video.frames_decoded,
        video
            .packets_received
            .saturating_sub(video.retransmitted_packets_received),
    )
}

/// Waits until `page` decodes new frames of every one of `whose` videos.
async fn decodes_again(page: &Page, whose: &[&str], what: &str) {
    let before = sample(page).await;
    let deadline = tokio::time::Instant::now() + BACK_WITHIN;
    loop {
        let now = sample(page).await;
        if whose
            .iter()
            .all(|who| now.frames_decoded_from(who) > before.frames_decoded_from(who) + 5)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: no new frames within {BACK_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The times (epoch ms) of a recorded file's packets, from its start.
fn packet_times(path: &Path, started_at: f64) -> Vec<f64> {
    packet_seconds(path)
        .into_iter()
        .map(|seconds| started_at + seconds * 1000.0)
        .collect()
}

async fn tile_name(page: &Page, participant: &str) -> String {
    page.evaluate(&format!(
        "document.querySelector('[data-testid=tile][data-participant-id=\"{participant}\"] .tile-name').textContent"
    ))
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_owned))
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_talk_keeps_its_media_inside_unrecorded_and_everyone_is_back_after() {
    let call = Call::start(CallSetup::default()).await;
    let ids = &call.ids;
    let (a, b, mediator) = (
        ids.party.as_str(),
        ids.third.as_str(),
        ids.mediator.as_str(),
    );
    call.start_recording().await;
    tokio::time::sleep(RECORDED_BEFORE).await;
    let names = (
        tile_name(&call.mediator, a).await,
        tile_name(&call.mediator, b).await,
    );

    // The mediator takes A aside, without asking about recording it.
    call.mediator
        .wait_and_click("[data-testid=caucus-open]", UI_TIMEOUT)
        .await
        .expect("open the picker");
    call.mediator
        .wait_and_click(
            &format!("[data-testid=caucus-pick][data-participant-id=\"{a}\"]"),
            UI_TIMEOUT,
        )
        .await
        .expect("pick A");
    call.mediator
        .wait_and_click("[data-testid=caucus-start]", UI_TIMEOUT)
        .await
        .expect("start");
    for (page, side, who) in [
        (&call.mediator, "inside", "the mediator"),
        (&call.party, "inside", "A"),
        (&call.third, "outside", "B"),
    ] {
        wait_until(
            page,
            &format!(
                "(() => {{ const b = document.querySelector('[data-testid=caucus-banner]'); \
                 return !b.hidden && b.dataset.side === '{side}'; }})()"
            ),
            &format!("{who} is told they are {side} the private talk"),
        )
        .await;
    }
    let began = epoch_ms();
    tokio::time::sleep(IN_FLIGHT).await;
    let (b_before, a_before, m_before) = (
        sample(&call.third).await,
        sample(&call.party).await,
        sample(&call.mediator).await,
    );
    tokio::time::sleep(PRIVATE_TALK).await;
    let (b_after, a_after, m_after) = (
        sample(&call.third).await,
        sample(&call.party).await,
        sample(&call.mediator).await,
    );
    for (who, before, after, of_whom) in [
        ("B", &b_before, &b_after, a),
        ("B", &b_before, &b_after, mediator),
        ("A", &a_before, &a_after, b),
        ("the mediator", &m_before, &m_after, b),
    ] {
        assert_eq!(
            (media_from(after, of_whom), packets_from(after, of_whom)),
            (media_from(before, of_whom), packets_from(before, of_whom)),
            "{who} receives not one packet (audio packets, video bytes, frames, video packets \
             but padding, video packets) of {of_whom} during the private talk: before {:?}, \
             after {:?}",
            before.video_from(of_whom),
            after.video_from(of_whom),
        );
    }
    for (who, before, after, of_whom) in [
        ("A", &a_before, &a_after, mediator),
        ("the mediator", &m_before, &m_after, a),
    ] {
        assert!(
            after.frames_decoded_from(of_whom) > before.frames_decoded_from(of_whom) + 10
                && packets_from(after, of_whom).0 > packets_from(before, of_whom).0 + 50,
            "{who} sees and hears {of_whom} in the private talk"
        );
    }
    let aside = call
        .third
        .evaluate(
            "[...document.querySelectorAll('[data-testid=tile]')].filter((t) => \
             !t.querySelector('[data-testid=tile-aside]').hidden).map((t) => t.dataset.participantId).sort()",
        )
        .await
        .expect("read B's tiles");
    let mut expected = vec![a.to_owned(), mediator.to_owned()];
    expected.sort();
    assert_eq!(
        aside,
        serde_json::json!(expected),
        "B's tiles of the two say why"
    );

    // Back together: everyone decodes everyone again.
    call.mediator
        .wait_and_click("[data-testid=caucus-end]", UI_TIMEOUT)
        .await
        .expect("end it");
    let ended = epoch_ms();
    decodes_again(
        &call.third,
        &[a, mediator],
        "B decodes A and the mediator again",
    )
    .await;
    decodes_again(&call.party, &[b, mediator], "A decodes B again").await;
    decodes_again(&call.mediator, &[a, b], "the mediator decodes both again").await;
    call.stop_recording().await;

    // Nothing of the private talk in any file: A's and the mediator's have no packet within
    // it (and some before and after it), B's go on through it.
    let admin = call.server.admin().await.expect("the admin account");
    let dispute_id = first_dispute_id(&admin).await;
    let recording = wait_until_filed(&admin, &dispute_id).await;
    // Each file as the API serves it to staff, into a directory of our own.
    let cookie = admin.cookie().expect("the admin is signed in");
    let dir = tempfile::tempdir().expect("a directory for the files");
    let inside = (began + IN_FLIGHT.as_secs_f64() * 1000.0, ended - 500.0);
    let files: Vec<Value> = recording["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f["kind"] == "participant")
        .collect();
    let mut times_of = Vec::new();
    for file in &files {
        let id = file["id"].as_str().expect("a file id");
        let served = fetch_recording_file(call.server.base_url(), &cookie, id, None).await;
        assert_eq!(served.status, 200, "file {id} is served");
        let path = dir.path().join(format!("{id}.webm"));
        std::fs::write(&path, &served.body).expect("keep the file");
        let started_at = file["started_at"].as_f64().unwrap_or_default();
        times_of.push((
            file["participant_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            path.clone(),
            packet_times(&path, started_at),
        ));
    }
    for (name, path, times) in &times_of {
        println!(
            "{name}: {} packets from {:.1} s to {:.1} s after the talk began (it ended at {:.1} s) in {}",
            times.len(),
            (times.first().copied().unwrap_or_default() - began) / 1000.0,
            (times.last().copied().unwrap_or_default() - began) / 1000.0,
            (ended - began) / 1000.0,
            path.display()
        );
    }
    let mut checked = 0;
    for (name, path, times) in &times_of {
        let within = times
            .iter()
            .filter(|t| **t > inside.0 && **t < inside.1)
            .count();
        if *name == names.1 {
            assert!(within > 0, "B's file {} goes on through it", path.display());
        } else {
            assert_eq!(
                within,
                0,
                "nothing of the private talk in {name}'s file {}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "A's ({}) and the mediator's files were checked: {files:#?}",
        names.0
    );
    let before_and_after = |name: &str| {
        times_of
            .iter()
            .filter(|(of, _, _)| of == name)
            .flat_map(|(_, _, times)| times.iter())
            .fold((false, false), |(b, a), t| {
                (b || *t < began, a || *t > ended)
            })
    };
    assert_eq!(
        before_and_after(&names.0),
        (true, true),
        "A is recorded before and after the private talk"
    );

    // The record: when it began and ended, and who was in it.
    let session_id = recording["session_id"].as_str().unwrap_or_default();
    let session = admin
        .get(&format!("/api/sessions/{session_id}"))
        .await
        .expect("request")
        .ok()
        .expect("the session");
    let kinds: Vec<(String, String)> = session["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("caucus")))
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0].0, "caucus_started");
    assert!(kinds[0].1.contains(&names.0), "who was in it: {kinds:?}");
    assert_eq!(kinds[1].0, "caucus_ended");
    call.finish().await;
}
