//! The composite of a recording: participants' files side by side with audio mixed, aligned by
//! their start offsets, made by Debian's ffmpeg (the tests fail, not skip, without it).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use concord_recording::{compose, CompositeInput};
use serde_json::Value;

/// A WebM of `seconds` of test pattern and tone, as a participant's file would be.
fn participant_file(path: &Path, seconds: u32, size: &str) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={size}:rate=15"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .arg("-t")
        .arg(seconds.to_string())
        .args(["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"])
        .arg(path)
        .status()
        .expect("ffmpeg is installed (Debian's ffmpeg; .ci/run installs it)");
    assert!(status.success(), "ffmpeg made {}", path.display());
}

fn probe(path: &Path) -> Value {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args([
            "format=duration:stream=codec_type,codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    serde_json::from_slice(&output.stdout).expect("ffprobe prints JSON")
}

#[tokio::test]
async fn composite_lays_participants_side_by_side_and_aligns_them() {
    let dir = tempfile::tempdir().expect("dir");
    let a = dir.path().join("a.webm");
    let b = dir.path().join("b.webm");
    participant_file(&a, 6, "320x240");
    participant_file(&b, 4, "640x360");
    let inputs = [
        CompositeInput {
            path: a,
            offset: Duration::ZERO,
            duration: Duration::from_secs(6),
        },
        CompositeInput {
            path: b,
            offset: Duration::from_secs(1),
            duration: Duration::from_secs(4),
        },
    ];
    let output = dir.path().join("composite.webm");
    let mut reported = Vec::new();
    compose(&inputs, &output, |fraction| reported.push(fraction))
        .await
        .expect("the composite is made");

    let probe = probe(&output);
    let streams = probe["streams"].as_array().expect("streams");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    assert_eq!(video["codec_name"], "vp8");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(1280), Some(360))
    );
    assert!(
        streams
            .iter()
            .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "opus"),
        "{probe}"
    );
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    assert!(
        (duration - 6.0).abs() < 0.5,
        "as long as the longest file: {duration}"
    );
    assert!(reported.len() >= 2, "progress was reported: {reported:?}");
    assert_eq!(reported.last().copied(), Some(1.0));
    assert!(reported.windows(2).all(|w| w[0] <= w[1]), "{reported:?}");

    let again = compose(&inputs, &output, |_| {}).await;
    assert!(again.is_err(), "an existing composite is never overwritten");
}
