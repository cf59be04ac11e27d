//! The clip cache starts cold on a new machine, and several tests prepare the same clip at once:
//! every preparer must get the whole clip, and exactly one encoding must land in the cache.

use std::sync::{Arc, Barrier};

use concord_client::{Clip, ClipSpec};

#[test]
fn preparing_one_clip_from_many_threads_into_an_empty_cache_gives_everyone_the_same_clip() {
    let cache = tempfile::tempdir().expect("cache directory");
    let spec = ClipSpec {
        width: 160,
        height: 90,
        seconds: 2,
        video_bitrate: 100_000,
        keyframe_interval: 30,
        ..ClipSpec::default()
    };
    let preparers = 6;
    let start = Arc::new(Barrier::new(preparers));
    let threads: Vec<_> = (0..preparers)
        .map(|_| {
            let (spec, dir, start) = (spec.clone(), cache.path().to_owned(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                Clip::prepare(&spec, &dir)
            })
        })
        .collect();
    let clips: Vec<Clip> = threads
        .into_iter()
        .map(|t| {
            t.join()
                .expect("preparer thread")
                .expect("every preparer gets the clip")
        })
        .collect();

    // 2 s at 30 fps, and at least 2 s of Opus (the encoder's pre-skip adds a packet).
    let first = &clips[0];
    assert_eq!(first.video.len(), 60, "frames in a 2 s clip at 30 fps");
    let audio_samples: u32 = first.audio.iter().map(|p| p.samples).sum();
    assert!(
        audio_samples >= 2 * 48_000,
        "{audio_samples} samples of sound"
    );
    for clip in &clips[1..] {
        assert_eq!(clip.video.len(), first.video.len());
        assert_eq!(clip.audio.len(), first.audio.len());
        let same_video = clip
            .video
            .iter()
            .zip(&first.video)
            .all(|(a, b)| a.data == b.data && a.keyframe == b.keyframe);
        let same_audio = clip
            .audio
            .iter()
            .zip(&first.audio)
            .all(|(a, b)| a.data == b.data);
        assert!(
            same_video && same_audio,
            "every preparer reads the one encoding"
        );
    }

    let mut left: Vec<String> = std::fs::read_dir(cache.path())
        .expect("list the cache")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left.len(),
        3,
        "the clip, its sound and the lock, no temporaries: {left:?}"
    );
    assert!(left[0].ends_with(".ivf") && left[1].ends_with(".lock") && left[2].ends_with(".ogg"));
}

#[test]
fn a_prepared_clip_is_reused_without_encoding_again() {
    let cache = tempfile::tempdir().expect("cache directory");
    let spec = ClipSpec {
        width: 160,
        height: 90,
        seconds: 1,
        video_bitrate: 100_000,
        keyframe_interval: 30,
        ..ClipSpec::default()
    };
    Clip::prepare(&spec, cache.path()).expect("first preparation");
    let ivf = std::fs::read_dir(cache.path())
        .expect("list the cache")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "ivf"))
        .expect("the IVF file");
    let written = std::fs::metadata(&ivf)
        .and_then(|m| m.modified())
        .expect("mtime");
    let again = Clip::prepare(&spec, cache.path()).expect("second preparation");
    assert_eq!(again.video.len(), 30);
    let after = std::fs::metadata(&ivf)
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(written, after, "the cached file was not rewritten");
}
