//! The recorder's feed: a tap on a live session's room receives every participant's audio and
//! video packets, which assemble into frames, video starting on a keyframe, with the publishers'
//! sender reports.

use std::collections::BTreeMap;
use std::time::Duration;

use concord_signaling::{FrameAssembler, TapCodec, TapEvent, TapKind};
use concord_tests::{JoinAs, MediaKind, Peer, TestServer, MEDIA_TIMEOUT, SIGNAL_TIMEOUT};

#[derive(Default, Debug)]
struct Seen {
    audio: u32,
    video: u32,
    first_video_keyframe: Option<bool>,
    sender_reports: u32,
    last_rtp: BTreeMap<u32, u64>,
    backwards: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_receives_every_publishers_frames_starting_on_a_keyframe() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("room");
    let ws = server.ws_url();
    let mediator = room.mediator_peer(&ws).await.expect("the mediator joins");
    let invitation = room.invite("party", "Party").await.expect("invite");
    let party = Peer::join(&ws, JoinAs::Token(&invitation.token), SIGNAL_TIMEOUT)
        .await
        .expect("the party joins");
    let (m_id, p_id) = (
        mediator.participant_id().to_owned(),
        party.participant_id().to_owned(),
    );
    party
        .wait_until_receiving_from(&[&m_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("media flows");
    mediator
        .wait_until_receiving_from(&[&p_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("media flows");

    let mut tap = server
        .server()
        .expect("server")
        .tap_session(&room.session_id, 1024)
        .await
        .expect("a live session can be tapped");

    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let enough = |seen: &BTreeMap<String, Seen>| {
        seen.len() == 2
            && seen
                .values()
                .all(|s| s.audio >= 25 && s.video >= 15 && s.sender_reports > 0)
    };
    let mut assembler = FrameAssembler::new();
    let collected = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = tap.recv().await {
            let TapEvent::Packet(packet) = event else {
                continue;
            };
            assembler.push(packet);
            while let Some(frame) = assembler.pop_frame() {
                let entry = seen.entry(frame.participant.to_string()).or_default();
                match frame.kind {
                    TapKind::Audio => {
                        assert_eq!(frame.codec, TapCodec::Opus);
                        assert_eq!(frame.clock_rate, 48_000);
                        entry.audio += 1;
                    }
                    TapKind::Video => {
                        assert_eq!(frame.codec, TapCodec::Vp8);
                        assert_eq!(frame.clock_rate, 90_000);
                        entry.first_video_keyframe.get_or_insert(frame.keyframe);
                        entry.video += 1;
                    }
                }
                entry.sender_reports += u32::from(frame.sender_report.is_some());
                let last = entry.last_rtp.insert(frame.track, frame.rtp_time);
                if last.is_some_and(|last| last > frame.rtp_time) {
                    entry.backwards += 1;
                }
                assert!(!frame.data.is_empty());
                if enough(&seen) {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        collected.is_ok(),
        "the tap saw enough of both participants within 30 s: {seen:#?}, {:?}",
        assembler.stats()
    );
    let ids: Vec<&String> = seen.keys().collect();
    let mut expected = vec![&m_id, &p_id];
    expected.sort();
    assert_eq!(ids, expected, "frames are named by participant id");
    for (id, s) in &seen {
        assert_eq!(
            s.first_video_keyframe,
            Some(true),
            "{id}'s video reaches the tap starting with a keyframe: {s:?}"
        );
        assert_eq!(
            s.backwards, 0,
            "{id}'s RTP time never goes backwards: {s:?}"
        );
    }

    // Dropping the receiver ends the tap; the call goes on.
    drop(tap);
    party
        .wait_until_receiving_from(&[&m_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("media still flows after the tap is gone");
    party.close().await;
    mediator.close().await;
    server.shutdown().await;
}
