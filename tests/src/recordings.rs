//! What recording tests share: waiting for the room's recording state, and inspecting files
//! with the tools a person would (sha256sum, ffprobe, ffmpeg from Debian's packages).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::peer::Peer;
use crate::server::ApiClient;
use crate::SIGNAL_TIMEOUT;

/// How long the composite (ffmpeg at nice 19, on two busy cores) and the manifest written after
/// it may take once the recording has stopped.
pub const FILING_TIMEOUT: Duration = Duration::from_secs(180);

/// Waits for the `recording` message with `state` and returns it.
pub async fn expect_recording_state(peer: &mut Peer, state: &str) -> Value {
    peer.inbox()
        .expect_where("recording", SIGNAL_TIMEOUT, |m| {
            m["type"] == "recording" && m["state"] == state
        })
        .await
        .unwrap_or_else(|e| panic!("recording becomes {state}: {e:#}"))
}

/// The id of the first dispute `client` lists (the demo's, in the browser calls).
pub async fn first_dispute_id(client: &ApiClient) -> String {
    let disputes = client
        .get("/api/disputes")
        .await
        .expect("request")
        .ok()
        .expect("list the disputes");
    disputes["disputes"][0]["id"]
        .as_str()
        .expect("a dispute")
        .to_owned()
}

/// The dispute's first recording once everything about it is filed: the manifest is written
/// last, after the composite is made (or has failed), so its hash marks the end.
pub async fn wait_until_filed(client: &ApiClient, dispute_id: &str) -> Value {
    let poll = async {
        loop {
            let listing = client
                .get(&format!("/api/disputes/{dispute_id}/recordings"))
                .await
                .expect("request")
                .ok()
                .expect("list the dispute's recordings");
            let recording = listing["recordings"][0].clone();
            if recording["manifest_sha256"].is_string() {
                return recording;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::time::timeout(FILING_TIMEOUT, poll)
        .await
        .expect("the recording's manifest is written within three minutes")
}

/// A recording file as the API served it.
#[derive(Debug)]
pub struct ServedFile {
    pub status: u16,
    pub content_type: String,
    pub content_range: Option<String>,
    pub body: Vec<u8>,
}

/// GETs recording file `file_id` from the server at `base_url` with `cookie` (a signed-in
/// account's), the whole file or the byte `range` (e.g. `bytes=0-99`, as a `<video>` asks).
pub async fn fetch_recording_file(
    base_url: &str,
    cookie: &str,
    file_id: &str,
    range: Option<&str>,
) -> ServedFile {
    let url = format!(
        "{}/api/recordings/files/{file_id}",
        base_url.trim_end_matches('/')
    );
    let mut request = reqwest::Client::new().get(url).header("cookie", cookie);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.expect("request a recording file");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let content_type = header("content-type").unwrap_or_default();
    let content_range = header("content-range");
    let body = response.bytes().await.expect("the file's body").to_vec();
    ServedFile {
        status,
        content_type,
        content_range,
        body,
    }
}

pub fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `ffprobe`'s view of a file: format duration and each stream's type, codec and size.
pub fn ffprobe(path: &Path) -> Value {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args([
            "format=duration:stream=codec_type,codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed (Debian's ffmpeg; .ci/run installs it)");
    assert!(output.status.success(), "ffprobe reads {}", path.display());
    serde_json::from_slice(&output.stdout).expect("ffprobe prints JSON")
}

/// What ffmpeg complains about reading `path` to its end (empty when clean). With `decode`
/// every frame is decoded (ffprobe -count_frames: demuxer and decoder errors only; ffmpeg's
/// `-f null` output stage would also complain about variable frame rates, which are normal);
/// otherwise packets are only copied (the container is checked).
pub fn ffmpeg_errors(path: &Path, decode: bool) -> String {
    let mut command = if decode {
        let mut probe = Command::new("ffprobe");
        probe
            .args([
                "-v",
                "error",
                "-count_frames",
                "-show_entries",
                "stream=nb_read_frames",
            ])
            .args(["-of", "csv=p=0"])
            .arg(path);
        probe
    } else {
        let mut copy = Command::new("ffmpeg");
        copy.args(["-v", "error", "-i"])
            .arg(path)
            .args(["-c", "copy", "-f", "null", "-"]);
        copy
    };
    let output = command
        .output()
        .expect("ffmpeg is installed (Debian's ffmpeg; .ci/run installs it)");
    let mut errors = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        errors.push_str(&format!(" (exit {})", output.status));
    }
    errors
}

/// The times (seconds from the start) of every packet in a media file, as ffprobe reads them.
pub fn packet_seconds(path: &Path) -> Vec<f64> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "packet=pts_time"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe is installed (Debian's ffmpeg; .ci/run installs it)");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().trim_end_matches(',').parse::<f64>().ok())
        .collect()
}
