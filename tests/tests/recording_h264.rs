//! Recording people whose browsers send only H.264 (as phones with only a hardware H.264
//! encoder do): the mediator records the demo session from the console, and each participant's
//! file is Matroska (`.mkv`, since WebM has no H.264) with H.264 and Opus that decode without an
//! error; the composite is made from them and the manifest lists every file with its hash.

use std::path::PathBuf;
use std::time::Duration;

use concord_tests::chromium::{chromium_path, Browser, Page};
use concord_tests::recordings::{ffmpeg_errors, ffprobe, sha256_of, wait_until_filed};
use concord_tests::webclient::{
    enter_room, open_sending_only_h264, wait_for_remote_streams, BROWSER_TIMEOUT,
};
use concord_tests::TestServer;
use serde_json::Value;

/// How long the test records: the length measured, not a synchronisation.
const RECORDING_LENGTH: Duration = Duration::from_secs(8);

async fn recording_state_is(page: &Page, state: &str, who: &str) {
    page.wait_for(
        &format!("window.concord && window.concord.recording === '{state}'"),
        BROWSER_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| panic!("{who} sees recording {state}: {e:#}\n{:?}", page.console()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_only_browsers_are_recorded_into_matroska_files_that_decode() {
    chromium_path().expect("Chromium is required for the browser test");
    let server = TestServer::start_with(|config| config.recording.notice_secs = 1)
        .await
        .expect("start the server");
    let links = server.seed_demo().await.expect("the demo session");
    let url = |role: &str, nth: usize| {
        links
            .iter()
            .filter(|l| l.role == role)
            .nth(nth)
            .map(|l| l.url.clone())
            .expect("a demo link")
    };
    let browser = Browser::launch().await.expect("launch Chromium");
    let host = open_sending_only_h264(&browser, &url("mediator", 0)).await;
    enter_room(&host, "the mediator", false).await;
    let mut parties = Vec::new();
    for nth in 0..2 {
        let page = open_sending_only_h264(&browser, &url("party", nth)).await;
        enter_room(&page, "a party", true).await;
        parties.push(page);
    }
    for page in std::iter::once(&host).chain(parties.iter()) {
        wait_for_remote_streams(page, "a participant", 2).await;
    }

    host.wait_and_click("[data-testid=record-button]", BROWSER_TIMEOUT)
        .await
        .expect("the mediator presses record");
    for party in &parties {
        party
            .wait_and_click("[data-testid=consent-yes]", BROWSER_TIMEOUT)
            .await
            .expect("each party is asked and agrees");
    }
    recording_state_is(&host, "on", "the mediator").await;
    tokio::time::sleep(RECORDING_LENGTH).await;
    host.evaluate("window.confirm = () => true")
        .await
        .expect("accept the stop dialog");
    host.wait_and_click("[data-testid=record-button]", BROWSER_TIMEOUT)
        .await
        .expect("the mediator stops recording");
    recording_state_is(&host, "off", "the mediator").await;
    // The call is over for the test: the composite gets the two cores.
    drop(parties);
    drop(host);
    browser.close().await;

    let admin = server.admin().await.expect("admin");
    let disputes = admin
        .get("/api/disputes")
        .await
        .expect("request")
        .ok()
        .expect("list disputes");
    let dispute_id = disputes["disputes"][0]["id"]
        .as_str()
        .expect("the demo dispute")
        .to_owned();
    let recording = wait_until_filed(&admin, &dispute_id).await;
    assert_eq!(recording["status"], "finished", "{recording}");
    let dir: PathBuf = server
        .data_dir()
        .join("recordings")
        .join(recording["id"].as_str().expect("id"));

    let files = recording["files"].as_array().expect("files");
    let participant_files: Vec<&Value> = files
        .iter()
        .filter(|f| f["kind"] == "participant")
        .collect();
    assert_eq!(participant_files.len(), 3, "{recording}");
    let mut on_disk: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the recording's directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mkv" || e == "webm"))
        .filter(|p| p.file_stem().is_some_and(|s| s != "composite"))
        .collect();
    on_disk.sort();
    assert_eq!(on_disk.len(), 3, "{on_disk:?}");
    for path in &on_disk {
        assert!(
            path.extension().is_some_and(|e| e == "mkv"),
            "H.264 goes into Matroska: {}",
            path.display()
        );
        let probe = ffprobe(path);
        let codecs: Vec<&str> = probe["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .filter_map(|s| s["codec_name"].as_str())
            .collect();
        assert!(
            codecs.contains(&"h264") && codecs.contains(&"opus"),
            "{} has H.264 and Opus: {probe}",
            path.display()
        );
        let errors = ffmpeg_errors(path, true);
        assert!(
            errors.is_empty(),
            "{} decodes cleanly: {errors}",
            path.display()
        );
        let duration: f64 = probe["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .expect("a finished file declares its duration");
        let expected = RECORDING_LENGTH.as_secs_f64();
        assert!(
            duration >= expected * 0.8 && duration <= expected * 1.5,
            "{} lasts {duration:.2} s, the recording about {expected} s",
            path.display()
        );
        let sha = sha256_of(path);
        assert!(
            participant_files
                .iter()
                .any(|f| f["sha256"].as_str() == Some(sha.as_str()) && f["status"] == "complete"),
            "{} is filed with its hash",
            path.display()
        );
    }

    assert_eq!(recording["composite_status"], "done", "{recording}");
    let manifest_id = files
        .iter()
        .find(|f| f["kind"] == "manifest")
        .and_then(|f| f["id"].as_str())
        .expect("the manifest is filed");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).expect("the manifest is on disk"),
    )
    .expect("the manifest is JSON");
    assert!(!manifest_id.is_empty());
    let mut listed: Vec<(String, String)> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or_default().to_owned(),
                f["sha256"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    listed.sort();
    let mut expected: Vec<(String, String)> = on_disk
        .iter()
        .chain(std::iter::once(&dir.join("composite.webm")))
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, sha256_of(p))
        })
        .collect();
    expected.sort();
    assert_eq!(
        listed, expected,
        "the manifest lists every file with its hash, the composite too"
    );
    server.shutdown().await;
}
