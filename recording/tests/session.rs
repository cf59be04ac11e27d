//! The session recorder fed through a room tap: an audio-only participant (no camera, common
//! on village phones) gets an audio-only file, so nothing of theirs waits in memory for video
//! that never comes; when their camera comes on, the file is finished and a new one with
//! video goes on. The recorder is fed RTP packets, as the room's tap delivers them.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use concord_recording::{RecorderEvent, Summary};
use concord_sfu::{TapCodec, TapEvent};
use support::{
    decode_errors, encode_h264, encode_opus, encode_vp8, probe, read_h264, read_ivf, read_ogg_opus,
    start_tapped_recorder, TapFeed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_only_participant_gets_an_audio_file_then_a_video_file_when_the_camera_comes_on() {
    let dir = tempfile::tempdir().expect("dir");
    let opus = read_ogg_opus(&encode_opus(dir.path(), "voice", 6));
    let video = read_ivf(&encode_vp8(dir.path(), "camera", (320, 240), 3, 30));
    let camera_on = Duration::from_secs(3);

    let started = Instant::now();
    let mut feed = TapFeed::new("villager", TapCodec::Vp8, started);
    for (at, data) in &opus.packets {
        feed.audio(*at, data);
    }
    for frame in &video {
        feed.video(camera_on + frame.at, &frame.data);
    }

    let (closed, _) = record(dir.path(), started, feed.into_events()).await;
    assert_eq!(
        closed.len(),
        2,
        "one file before the camera, one after: {closed:?}"
    );

    let (audio_path, audio) = &closed[0];
    let before = probe(audio_path);
    assert_eq!(before.streams.len(), 1, "audio only: {before:?}");
    assert_eq!(before.stream("opus").0, "opus");
    assert!(
        audio.video_frames == 0 && audio.audio_frames > 100,
        "{audio:?}"
    );
    let first_length = before.duration.expect("a duration");
    assert!(
        (first_length - camera_on.as_secs_f64()).abs() < 0.5,
        "the audio-only file runs until the camera comes on: {first_length}"
    );

    let (video_path, with_video) = &closed[1];
    let after = probe(video_path);
    assert_eq!(after.stream("vp8").1, Some(320), "{after:?}");
    assert!(
        after.stream("opus").3 > 100,
        "audio goes on in the new file: {after:?}"
    );
    assert!(with_video.video_frames >= 85, "{with_video:?}");
    assert!(
        with_video
            .start
            .is_some_and(|s| s >= camera_on - Duration::from_millis(100)),
        "the second file starts when the camera came on: {:?}",
        with_video.start
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_participant_is_recorded_into_matroska_from_their_first_idr() {
    let dir = tempfile::tempdir().expect("dir");
    let opus = read_ogg_opus(&encode_opus(dir.path(), "voice", 4));
    // IDRs every second; the recording joins at frame 10, so the first 20 frames cannot start
    // a file (no parameter sets) and a keyframe is asked for.
    let video: Vec<_> = read_h264(&encode_h264(dir.path(), "camera", (320, 240), 4, 30))
        .into_iter()
        .skip(10)
        .collect();

    let started = Instant::now();
    let mut feed = TapFeed::new("villager", TapCodec::H264, started);
    for (at, data) in &opus.packets {
        feed.audio(*at, data);
    }
    for frame in &video {
        feed.video(frame.at, &frame.data);
    }

    let (closed, keyframes_wanted) = record(dir.path(), started, feed.into_events()).await;
    assert!(keyframes_wanted >= 1, "a keyframe was asked for");
    assert_eq!(closed.len(), 1, "{closed:?}");
    let (path, summary) = &closed[0];
    assert_eq!(
        path.extension().and_then(|e| e.to_str()),
        Some("mkv"),
        "H.264 goes into Matroska"
    );
    let p = probe(path);
    eprintln!("{summary:?}\n{p:?}");
    assert_eq!(p.stream("h264").1, Some(320), "{p:?}");
    assert_eq!(p.stream("h264").3, summary.video_frames);
    assert_eq!(summary.video_frames, 120 - 30, "from the IDR at 1 s on");
    assert!(
        p.stream("opus").3 > 150,
        "the audio before the IDR is kept: {p:?}"
    );
    assert_eq!(decode_errors(path), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_packet_lost_for_good_makes_the_recording_resume_at_the_next_keyframe() {
    let dir = tempfile::tempdir().expect("dir");
    let opus = read_ogg_opus(&encode_opus(dir.path(), "voice", 3));
    let video = read_ivf(&encode_vp8(dir.path(), "camera", (320, 240), 3, 30));
    let lost = 40;
    let next_keyframe = (lost + 1..video.len())
        .find(|&i| video[i].key)
        .expect("a keyframe after the loss");

    let started = Instant::now();
    let mut feed = TapFeed::new("villager", TapCodec::Vp8, started);
    for (at, data) in &opus.packets {
        feed.audio(*at, data);
    }
    for frame in &video {
        feed.video(frame.at, &frame.data);
    }
    // The first packet of frame 40 never arrives (the NACKs were not answered).
    let lost_at = started + video[lost].at;
    let mut dropped = false;
    let events: Vec<TapEvent> = feed
        .into_events()
        .into_iter()
        .filter(|event| match event {
            TapEvent::Packet(p) if !dropped && p.track == 1 && p.received == lost_at => {
                dropped = true;
                false
            }
            _ => true,
        })
        .collect();
    assert!(dropped);

    let (closed, keyframes_wanted) = record(dir.path(), started, events).await;
    assert!(keyframes_wanted >= 1, "a keyframe was asked for");
    assert_eq!(closed.len(), 1, "{closed:?}");
    let (path, summary) = &closed[0];
    assert_eq!(
        summary.video_frames as usize,
        video.len() - (next_keyframe - lost),
        "the broken frame and the frames after it until the keyframe are left out: {summary:?}"
    );
    assert_eq!(
        summary.dropped.after_loss as usize,
        next_keyframe - lost - 1
    );
    assert_eq!(decode_errors(path), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_alternating_codecs_at_every_keyframe_gets_two_files_at_most() {
    let dir = tempfile::tempdir().expect("dir");
    let secs = 8;
    let opus = read_ogg_opus(&encode_opus(dir.path(), "voice", secs));
    // A keyframe every second in each codec; each second comes in the other codec.
    let vp8 = read_ivf(&encode_vp8(dir.path(), "vp8", (320, 240), secs, 30));
    let h264 = read_h264(&encode_h264(dir.path(), "h264", (320, 240), secs, 30));

    let started = Instant::now();
    let mut feed = TapFeed::new("alternating", TapCodec::Vp8, started);
    for (at, data) in &opus.packets {
        feed.audio(*at, data);
    }
    for second in 0..u64::from(secs) {
        let (codec, frames) = if second % 2 == 0 {
            (TapCodec::Vp8, &vp8)
        } else {
            (TapCodec::H264, &h264)
        };
        feed.switch_video_codec(codec);
        let this_second = |frame: &&support::VideoFrame| frame.at.as_secs() == second;
        let mut frames = frames.iter().filter(this_second).peekable();
        assert!(
            frames.peek().is_some_and(|first| first.key),
            "second {second} starts with a keyframe"
        );
        for frame in frames {
            feed.video(frame.at, &frame.data);
        }
    }

    let (closed, _) = record(dir.path(), started, feed.into_events()).await;
    assert!(
        (1..=2).contains(&closed.len()),
        "{} codec changes made {} files: {closed:?}",
        secs - 1,
        closed.len()
    );
    // The voice is kept whole across them.
    let audio_frames: u64 = closed.iter().map(|(_, s)| s.audio_frames).sum();
    assert!(
        audio_frames as usize + 10 >= opus.packets.len(),
        "{audio_frames} of {} voice frames recorded",
        opus.packets.len()
    );
}

/// Feeds `events` to a recorder as a room's tap would and stops it: the files it closed, and
/// how many times it asked for a keyframe.
async fn record(
    dir: &Path,
    started: Instant,
    events: Vec<TapEvent>,
) -> (Vec<(PathBuf, Summary)>, usize) {
    let (tap_tx, mut events_rx, recorder) = start_tapped_recorder(dir, started, 8192);
    for event in events {
        tap_tx
            .send(event)
            .await
            .expect("the recorder takes packets");
    }
    recorder.stop().await;

    let mut closed = Vec::new();
    let mut keyframes_wanted = 0;
    while let Some(event) = events_rx.recv().await {
        match event {
            RecorderEvent::FileClosed { path, result, .. } => {
                closed.push((path, result.expect("the file is finished")));
            }
            RecorderEvent::KeyframeWanted { .. } => keyframes_wanted += 1,
            RecorderEvent::Stopped { error } => {
                assert_eq!(error, None);
                break;
            }
            _ => {}
        }
    }
    (closed, keyframes_wanted)
}
