//! Real VP8 and Opus, made by ffmpeg, through the writer; ffprobe/ffmpeg judge the file.

mod support;

use std::sync::Arc;
use std::time::Duration;

use concord_recording::{
    AudioConfig, Codec, DropReason, Error, Frame, ParameterSets, ParticipantWriter, Pushed,
    ResolutionChange, VideoConfig, WriterConfig, AUDIO_HOLD_LIMIT,
};
use support::*;

const VIDEO_LAG: Duration = Duration::from_millis(120);

fn config(path: std::path::PathBuf, opus: &OpusStream) -> WriterConfig {
    let mut c = WriterConfig::vp8_opus(path);
    c.audio = Some(AudioConfig {
        channels: opus.channels,
        pre_skip: opus.pre_skip,
        ..AudioConfig::webrtc_opus()
    });
    c
}

fn within(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= expected * tolerance
}

#[test]
fn vp8_and_opus_become_a_playable_seekable_webm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let video = read_ivf(&encode_vp8(dir.path(), "v", (320, 240), 10, 60));
    let audio = read_opus_fixture(dir.path(), 10);
    assert_eq!(video.len(), 300);
    let path = dir.path().join("alice.webm");

    let mut w = ParticipantWriter::create(config(path.clone(), &audio)).expect("create");
    push_all(&mut w, arrival_order(&video, &audio.packets, VIDEO_LAG));
    let s = w.finish().expect("finish");

    assert_eq!(s.video_frames, 300);
    assert_eq!(s.audio_frames, audio.packets.len() as u64);
    assert_eq!(s.dropped.total(), 0);
    assert_eq!(s.start, Some(Duration::ZERO));
    assert_eq!(s.declared_video_size, Some((320, 240)));
    assert_eq!(
        s.resolutions,
        [ResolutionChange {
            at: Duration::ZERO,
            width: 320,
            height: 240
        }]
    );
    assert!(
        within(s.duration.as_secs_f64(), 10.0, 0.05),
        "{:?}",
        s.duration
    );
    assert_eq!(s.bytes, std::fs::metadata(&path).expect("stat").len());
    assert_eq!(s.sha256_hex(), sha256sum(&path));

    let p = probe(&path);
    eprintln!("{s:?}\n{p:?}");
    let d = p.duration.expect("a finished file declares its duration");
    assert!(within(d, 10.0, 0.05), "ffprobe duration {d}");
    assert_eq!(p.stream("vp8"), &("vp8".into(), Some(320), Some(240), 300));
    let read_back = concord_recording::recorded_duration(&path)
        .expect("ffprobe reads it")
        .expect("packets");
    assert_eq!(
        read_back.as_secs_f64().mul_add(1000.0, 0.5) as u128,
        s.duration.as_millis(),
        "the packets give the duration the writer reported"
    );
    assert_eq!(p.stream("opus").3, audio.packets.len() as u64);
    assert_eq!(decode_errors(&path), "");
    // Cues make seeking land on a keyframe without decoding from the start.
    let after_seek = packet_times_after_seek(&path, 5.0);
    assert!(
        after_seek.is_some_and(|t| (3.9..=5.1).contains(&t)),
        "{after_seek:?}"
    );
}

fn read_opus_fixture(dir: &std::path::Path, secs: u32) -> OpusStream {
    let o = read_ogg_opus(&encode_opus(dir, "a", secs));
    assert_eq!(o.channels, 2);
    o
}

/// First video packet time read after seeking to `to` seconds.
fn packet_times_after_seek(path: &std::path::Path, to: f64) -> Option<f64> {
    let v = ffprobe_json(
        path,
        &[
            "-read_intervals",
            &format!("{to}%+#1"),
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time",
        ],
    );
    v["packets"][0]["pts_time"]
        .as_str()
        .and_then(|s| s.parse().ok())
}

#[test]
fn a_resolution_change_is_recorded_and_plays_through() {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = read_ivf(&encode_vp8(dir.path(), "small", (320, 240), 3, 90));
    let large = read_ivf(&encode_vp8(dir.path(), "large", (640, 360), 3, 90));
    let switch = Duration::from_secs(3);
    let video: Vec<VideoFrame> = small
        .into_iter()
        .chain(large.into_iter().map(|f| VideoFrame {
            at: f.at + switch,
            ..f
        }))
        .collect();
    let audio = read_opus_fixture(dir.path(), 6);
    let path = dir.path().join("bob.webm");

    let mut w = ParticipantWriter::create(config(path.clone(), &audio)).expect("create");
    push_all(&mut w, arrival_order(&video, &audio.packets, VIDEO_LAG));
    let s = w.finish().expect("finish");

    assert_eq!(s.video_frames, 180);
    assert_eq!(
        s.resolutions,
        [
            ResolutionChange {
                at: Duration::ZERO,
                width: 320,
                height: 240
            },
            ResolutionChange {
                at: switch,
                width: 640,
                height: 360
            },
        ]
    );
    assert_eq!(s.resolution_changes(), 1);
    eprintln!("{s:?}\n{:?}", probe(&path));
    // The track keeps the first declared size; the keyframes carry the new one.
    assert_eq!(s.declared_video_size, Some((320, 240)));
    let p = probe(&path);
    assert_eq!(
        p.stream("vp8").3,
        180,
        "every frame decodes across the switch"
    );
    assert!(within(p.duration.expect("duration"), 6.0, 0.05));
    assert_eq!(decode_errors(&path), "");
}

#[test]
fn lost_video_frames_wait_for_a_keyframe_and_the_file_stays_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Keyframes at frames 0, 90, 180, 270 (every 3 s).
    let video = read_ivf(&encode_vp8(dir.path(), "v", (320, 240), 10, 90));
    let keys: Vec<usize> = (0..video.len()).filter(|&i| video[i].key).collect();
    assert_eq!(keys, [0, 90, 180, 270]);
    let audio = read_opus_fixture(dir.path(), 10);
    let path = dir.path().join("carol.webm");
    let mut w = ParticipantWriter::create(config(path.clone(), &audio)).expect("create");

    assert!(
        w.needs_keyframe(),
        "nothing decodable before the first keyframe"
    );
    let mut requests = 0;
    for f in arrival_order(&video, &audio.packets, VIDEO_LAG) {
        let i = (f.codec == Codec::Vp8)
            .then(|| video.iter().position(|v| v.at == f.timestamp))
            .flatten();
        match i {
            // Frames 40–42 never arrive; the jitter buffer reports the loss.
            Some(40..=42) => continue,
            Some(43) => w.note_video_loss(),
            _ => {}
        }
        let r = w.push(f).expect("push");
        if let Some(i) = i {
            let expected = if (43..90).contains(&i) {
                Pushed::Dropped(DropReason::AfterLoss)
            } else {
                Pushed::Queued
            };
            assert_eq!(r, expected, "video frame {i}");
            assert_eq!(
                w.needs_keyframe(),
                (43..90).contains(&i),
                "after video frame {i}"
            );
            requests += usize::from(w.needs_keyframe());
        }
    }
    assert_eq!(requests, 47);
    let s = w.finish().expect("finish");
    assert_eq!(s.dropped.after_loss, 47);
    assert_eq!(s.video_frames, 300 - 3 - 47);

    let p = probe(&path);
    eprintln!("{s:?}\n{p:?}");
    assert_eq!(p.stream("vp8").3, 250);
    assert!(within(p.duration.expect("duration"), 10.0, 0.05));
    assert_eq!(decode_errors(&path), "", "no frame references a lost one");
}

#[test]
fn leading_delta_frames_and_timestamp_jumps_are_dropped_until_a_keyframe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let video = read_ivf(&encode_vp8(dir.path(), "v", (320, 240), 10, 90));
    let path = dir.path().join("dave.webm");
    let mut c = WriterConfig::vp8_opus(&path);
    c.audio = None;
    c.max_video_gap = Some(Duration::from_millis(150));
    let mut w = ParticipantWriter::create(c).expect("create");

    // Join mid-stream at frame 10, and frames 120–129 (333 ms) vanish unreported.
    let mut outcomes = Vec::new();
    for (i, v) in video.iter().enumerate().skip(10) {
        if (120..130).contains(&i) {
            continue;
        }
        outcomes.push(
            w.push(Frame::video(Codec::Vp8, v.at, v.key, v.data.clone()))
                .expect("push"),
        );
    }
    let leading = outcomes
        .iter()
        .filter(|o| **o == Pushed::Dropped(DropReason::Leading))
        .count();
    let after = outcomes
        .iter()
        .filter(|o| **o == Pushed::Dropped(DropReason::AfterLoss))
        .count();
    assert_eq!(leading, 80, "frames 10–89");
    assert_eq!(after, 50, "frames 130–179");
    let s = w.finish().expect("finish");
    assert_eq!(s.video_frames, 300 - 10 - 80 - 10 - 50);
    assert_eq!(
        s.start,
        Some(video[90].at),
        "the file starts at the first keyframe"
    );
    assert_eq!(probe(&path).stream("vp8").3, s.video_frames);
    assert_eq!(decode_errors(&path), "");
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("interrupted.webm");
    std::fs::write(&path, b"an interrupted recording").expect("write");

    let r = ParticipantWriter::create(WriterConfig::vp8_opus(&path));
    assert!(
        matches!(r, Err(Error::AlreadyExists { .. })),
        "{:?}",
        r.err()
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        b"an interrupted recording"
    );

    // Nor is a recording in progress.
    let fresh = dir.path().join("fresh.webm");
    let _first = ParticipantWriter::create(WriterConfig::vp8_opus(&fresh)).expect("create");
    assert!(matches!(
        ParticipantWriter::create(WriterConfig::vp8_opus(&fresh)),
        Err(Error::AlreadyExists { .. })
    ));
}

#[test]
fn h264_and_opus_become_a_playable_seekable_matroska_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let video = read_h264(&encode_h264(dir.path(), "v", (320, 240), 10, 60));
    let audio = read_opus_fixture(dir.path(), 10);
    assert_eq!(video.len(), 300);
    assert_eq!(video.iter().filter(|v| v.key).count(), 5);
    let parameter_sets =
        ParameterSets::from_access_unit(&video[0].data).expect("the first IDR carries SPS/PPS");
    let path = dir.path().join("alice.mkv");
    let mut c = WriterConfig::h264_opus(&path, parameter_sets);
    c.audio = config(path.clone(), &audio).audio;

    let mut w = ParticipantWriter::create(c).expect("create");
    push_all(
        &mut w,
        arrival_order_of(Codec::H264, &video, &audio.packets, VIDEO_LAG),
    );
    let s = w.finish().expect("finish");

    assert_eq!(s.video_frames, 300);
    assert_eq!(s.audio_frames, audio.packets.len() as u64);
    assert_eq!(s.dropped.total(), 0);
    assert_eq!(s.declared_video_size, Some((320, 240)));
    assert_eq!(s.resolutions.len(), 1, "{:?}", s.resolutions);
    assert_eq!(s.sha256_hex(), sha256sum(&path));

    let p = probe(&path);
    eprintln!("{s:?}\n{p:?}");
    assert_eq!(
        p.stream("h264"),
        &("h264".into(), Some(320), Some(240), 300)
    );
    assert_eq!(p.stream("opus").3, audio.packets.len() as u64);
    assert!(within(p.duration.expect("duration"), 10.0, 0.05), "{p:?}");
    assert_eq!(decode_errors(&path), "");
    let header = std::fs::read(&path).expect("read")[..64].to_vec();
    assert!(
        header.windows(8).any(|w| w == b"matroska"),
        "DocType matroska, not webm (WebM has no H.264)"
    );
    let after_seek = packet_times_after_seek(&path, 5.0);
    assert!(
        after_seek.is_some_and(|t| (3.9..=5.1).contains(&t)),
        "cues lead to a keyframe: {after_seek:?}"
    );
}

#[test]
fn h264_joined_mid_stream_starts_at_an_idr_and_follows_a_resolution_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = read_h264(&encode_h264(dir.path(), "small", (320, 240), 3, 30));
    let large = read_h264(&encode_h264(dir.path(), "large", (640, 360), 3, 30));
    let switch = Duration::from_secs(3);
    // Joined at frame 10: 20 delta frames before the first IDR are useless.
    let video: Vec<VideoFrame> = small
        .into_iter()
        .skip(10)
        .chain(large.into_iter().map(|f| VideoFrame {
            at: f.at + switch,
            ..f
        }))
        .collect();
    let first_idr = video.iter().find(|v| v.key).expect("an IDR");
    let parameter_sets = ParameterSets::from_access_unit(&first_idr.data).expect("SPS/PPS");
    let path = dir.path().join("bob.mkv");
    let mut c = WriterConfig::h264_opus(&path, parameter_sets);
    c.audio = None;
    let mut w = ParticipantWriter::create(c).expect("create");
    let mut leading = 0;
    for v in &video {
        match w
            .push(Frame::video(Codec::H264, v.at, v.key, v.data.clone()))
            .expect("push")
        {
            Pushed::Dropped(DropReason::Leading) => leading += 1,
            other => assert_eq!(other, Pushed::Queued),
        }
    }
    assert_eq!(leading, 20);
    let s = w.finish().expect("finish");
    assert_eq!(s.video_frames, 90 - 10 - 20 + 90);
    let sizes: Vec<(u16, u16)> = s.resolutions.iter().map(|r| (r.width, r.height)).collect();
    assert_eq!(sizes, [(320, 240), (640, 360)]);
    let p = probe(&path);
    eprintln!("{s:?}\n{p:?}");
    assert_eq!(
        p.stream("h264").3,
        s.video_frames,
        "every frame decodes across the switch"
    );
    assert_eq!(decode_errors(&path), "");
}

#[test]
fn h264_without_parameter_sets_is_refused_before_any_file_is_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("h264.mkv");
    let mut c = WriterConfig::vp8_opus(&path);
    c.video = Some(VideoConfig {
        codec: Codec::H264,
        h264: None,
    });
    assert!(matches!(
        ParticipantWriter::create(c),
        Err(Error::Invalid(_))
    ));
    assert!(!path.exists());
}

#[test]
fn late_frames_are_dropped_and_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let audio = read_opus_fixture(dir.path(), 2);
    let path = dir.path().join("erin.webm");
    let mut c = config(path.clone(), &audio);
    c.video = None;
    let mut w = ParticipantWriter::create(c).expect("create");
    for (at, d) in &audio.packets[10..] {
        let r = w
            .push(Frame::audio(Codec::Opus, *at, d.clone()))
            .expect("push");
        assert_eq!(r, Pushed::Queued);
    }
    // Packet 0 shows up 1.8 s late: its place in the file is long written.
    let (at, d) = &audio.packets[0];
    let r = w
        .push(Frame::audio(Codec::Opus, *at, Arc::clone(d)))
        .expect("push");
    assert_eq!(r, Pushed::Dropped(DropReason::Late));
    let s = w.finish().expect("finish");
    assert_eq!(s.dropped.late, 1);
    assert_eq!(s.audio_frames, audio.packets.len() as u64 - 10);
    assert_eq!(probe(&path).stream("opus").3, s.audio_frames);
}

#[test]
fn a_writer_that_never_got_a_frame_still_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("silent.webm");
    let s = ParticipantWriter::create(WriterConfig::vp8_opus(&path))
        .expect("create")
        .finish()
        .expect("finish");
    assert_eq!(
        (s.start, s.bytes, s.audio_frames + s.video_frames),
        (None, 0, 0)
    );
    assert!(
        path.exists(),
        "the (empty) file is kept, like every recording"
    );
}

/// With a video track libwebm keeps audio frames in memory until the next video frame; when
/// video stops (camera off, track removed) the writer starts clusters itself, so audio still
/// reaches the disk within [`AUDIO_HOLD_LIMIT`]. The file read while the writer is still open
/// is what `kill -9` would leave.
#[test]
fn audio_reaches_the_disk_while_video_is_silent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let video = read_ivf(&encode_vp8(dir.path(), "v", (320, 240), 2, 60));
    let audio = read_opus_fixture(dir.path(), 5);
    let path = dir.path().join("frank.webm");
    let mut w = ParticipantWriter::create(config(path.clone(), &audio)).expect("create");
    push_all(&mut w, arrival_order(&video, &audio.packets, VIDEO_LAG));
    let written = w
        .written_until()
        .expect("frames were written")
        .as_secs_f64();
    assert!(written >= 4.6, "{written}");

    let on_disk = packet_times(&path, "a").into_iter().fold(0.0, f64::max);
    eprintln!("audio handed to libwebm up to {written} s, on disk up to {on_disk} s");
    assert!(
        on_disk >= written - AUDIO_HOLD_LIMIT.as_secs_f64() - 0.02,
        "video stopped at 2 s; audio is on disk up to {on_disk} s of {written} s"
    );

    let s = w.finish().expect("finish");
    let in_file = packet_times(&path, "a").into_iter().fold(0.0, f64::max);
    assert!(in_file > 4.9, "finalize writes it: {in_file}");
    assert_eq!(s.audio_frames, audio.packets.len() as u64);
}

#[test]
fn advance_writes_waiting_frames_when_nothing_new_arrives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let audio = read_opus_fixture(dir.path(), 1);
    let path = dir.path().join("grace.webm");
    let mut c = config(path.clone(), &audio);
    c.video = None;
    let mut w = ParticipantWriter::create(c).expect("create");
    let last = audio.packets.last().map(|(at, _)| *at).expect("packets");
    for (at, d) in &audio.packets {
        let _ = w
            .push(Frame::audio(Codec::Opus, *at, d.clone()))
            .expect("push");
    }
    assert!(
        w.queued_frames() > 0,
        "the newest frames wait for the reorder window"
    );
    // The participant went quiet; the caller's clock moves on.
    w.advance(last + concord_recording::REORDER_WINDOW)
        .expect("advance");
    assert_eq!(w.queued_frames(), 0);
    assert_eq!(w.written_until(), Some(last));

    let video = Frame::video(Codec::Vp8, last, true, Arc::from(&[0u8; 10][..]));
    assert!(
        matches!(w.push(video), Err(Error::Invalid(_))),
        "no video track configured"
    );
    assert_eq!(
        w.finish().expect("finish").audio_frames,
        audio.packets.len() as u64
    );
}
