//! A headless (webrtc-rs) publisher's VP8 simulcast reaches the SFU as three layers: three
//! observers whose `view` shows the publisher at 320×180, 640×360 and 1280×720 each receive the
//! layer made for that size, as the picture size of the keyframes they get shows (180, 360 and
//! 720 lines). This is what the load generator's `--simulcast` relies on.
//!
//! Needs `ffmpeg` (the three clips are encoded once and cached, see `concord_client::clip`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use concord_client::clip::{Clip, ClipSpec, SimulcastClip};
use concord_client::peer::MediaSource;
use concord_tests::{JoinAs, MediaKind, Peer, PeerOptions, TestServer, SIGNAL_TIMEOUT};

/// Joining, the bandwidth estimate's climb to the top layer and the switch at a keyframe.
const LAYER_WITHIN: Duration = Duration::from_secs(40);
/// Whole video frames of the right layer each observer must receive.
const FRAMES_OF_THE_LAYER: u64 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_observer_receives_the_simulcast_layer_its_tile_shows() {
    // Short clips with a keyframe every second, so that a layer switch comes soon.
    let base = ClipSpec {
        seconds: 4,
        keyframe_interval: 30,
        ..ClipSpec::default()
    };
    let specs = SimulcastClip::default_specs(&base, 500_000);
    let clips = tokio::task::spawn_blocking(move || {
        SimulcastClip::prepare(&specs, &Clip::default_cache_dir())
    })
    .await
    .expect("clip task")
    .expect("ffmpeg encodes the three layers");

    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("mediator, dispute, session");
    let ws = server.ws_url();

    let invitation = room.invite("party", "Publisher").await.expect("invite");
    let publisher = Peer::join_with(
        &ws,
        JoinAs::Token(&invitation.token),
        PeerOptions {
            source: MediaSource::Simulcast(Arc::new(clips)),
            ..PeerOptions::default()
        },
        SIGNAL_TIMEOUT,
    )
    .await
    .expect("the simulcast publisher joins");
    let publisher_id = publisher.participant_id().to_owned();

    let tiles: [(u32, u32); 3] = [(320, 180), (640, 360), (1280, 720)];
    let mut observers = Vec::new();
    for (width, height) in tiles {
        let observer = room
            .observer_peer(&ws, &format!("Observer {height}"))
            .await
            .expect("an observer joins");
        observer
            .send(json!({"type": "view", "tiles": [
                {"participant_id": publisher_id, "width": width, "height": height},
            ]}))
            .expect("send view");
        observers.push((observer, height as u16));
    }

    let key = (publisher_id.clone(), MediaKind::Video);
    for (observer, height) in &observers {
        // The layer's keyframe first, then frames of it.
        let at_layer = observer
            .wait_until(
                &format!("a keyframe {height} lines high"),
                LAYER_WITHIN,
                |m| {
                    m.get(&key)
                        .is_some_and(|c| c.keyframe_size.is_some_and(|(_, h)| h == *height))
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let frames = at_layer.get(&key).map_or(0, |c| c.frames);
        let after = observer
            .wait_until("more frames", LAYER_WITHIN, |m| {
                m.get(&key)
                    .is_some_and(|c| c.frames >= frames + FRAMES_OF_THE_LAYER)
            })
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let counts = after.get(&key).cloned().unwrap_or_default();
        assert_eq!(
            counts.keyframe_size.map(|(_, h)| h),
            Some(*height),
            "the observer showing the publisher {height} lines high stays on that layer: {counts:?}"
        );
        println!(
            "tile {height} lines: keyframes of {:?}, {} packets, {} frames, {} lost",
            counts.keyframe_size, counts.packets, counts.frames, counts.lost
        );
    }
    let published = publisher.published();
    println!(
        "publisher: {} video packets, {} keyframes on {} requests, {} write errors",
        published
            .video_packets
            .load(std::sync::atomic::Ordering::Relaxed),
        published
            .keyframes_sent
            .load(std::sync::atomic::Ordering::Relaxed),
        published
            .keyframe_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        published
            .write_errors
            .load(std::sync::atomic::Ordering::Relaxed),
    );

    for (observer, _) in observers {
        observer.close().await;
    }
    publisher.close().await;
    server.shutdown().await;
}
