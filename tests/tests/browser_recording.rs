//! Recording from the web console with real browsers: the mediator records the demo session
//! from the room's record button, the parties consent from their prompt; afterwards each
//! participant's file decodes cleanly, the composite (side by side, audio mixed) is made, and
//! the mediator plays it on the dispute's page.

use std::path::PathBuf;
use std::time::Duration;

use concord_tests::chromium::{chromium_path, Browser};
use concord_tests::recordings::{ffmpeg_errors, ffprobe};
use concord_tests::server::demo_link;
use concord_tests::webclient::{
    enter_room, wait_for_recording_state, wait_for_remote_streams, BROWSER_TIMEOUT,
};
use concord_tests::TestServer;

/// How long the test records: the length measured, not a synchronisation.
const RECORDING_LENGTH: Duration = Duration::from_secs(8);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediator_records_from_the_console_and_plays_the_composite() {
    chromium_path().expect("Chromium is required for the browser test");
    let server = TestServer::start_with(|config| config.recording.notice_secs = 1)
        .await
        .expect("start the server");
    let links = server.seed_demo().await.expect("the demo session");
    let url = |role: &str, nth: usize| demo_link(&links, role, nth);
    let browser = Browser::launch().await.expect("launch Chromium");
    let host = browser.new_page(&url("mediator", 0)).await.expect("open");
    enter_room(&host, "the mediator", false).await;
    let mut parties = Vec::new();
    for nth in 0..2 {
        let page = browser.new_page(&url("party", nth)).await.expect("open");
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
    wait_for_recording_state(&host, "on", "the mediator").await;
    for party in &parties {
        wait_for_recording_state(party, "on", "a party").await;
    }
    tokio::time::sleep(RECORDING_LENGTH).await;
    host.evaluate("window.confirm = () => true")
        .await
        .expect("accept the stop dialog");
    host.wait_and_click("[data-testid=record-button]", BROWSER_TIMEOUT)
        .await
        .expect("the mediator stops recording");
    wait_for_recording_state(&host, "off", "the mediator").await;

    // Filed against the demo dispute; wait for the composite to be made.
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
    let recording = tokio::time::timeout(Duration::from_secs(180), async {
        loop {
            let listing = admin
                .get(&format!("/api/disputes/{dispute_id}/recordings"))
                .await
                .expect("request")
                .ok()
                .expect("list recordings");
            let recording = listing["recordings"][0].clone();
            match recording["composite_status"].as_str() {
                Some("done") => return recording,
                Some("failed") => panic!("the composite failed: {recording}"),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    })
    .await
    .expect("the composite is made within three minutes");
    assert_eq!(recording["status"], "finished", "{recording}");

    let dir: PathBuf = server
        .data_dir()
        .join("recordings")
        .join(recording["id"].as_str().expect("id"));
    let files = recording["files"].as_array().expect("files");
    let participants = files.iter().filter(|f| f["kind"] == "participant").count();
    assert_eq!(participants, 3, "{recording}");
    for entry in std::fs::read_dir(&dir).expect("the recording's directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "webm") {
            let errors = ffmpeg_errors(&path, true);
            assert!(
                errors.is_empty(),
                "{} decodes cleanly: {errors}",
                path.display()
            );
        }
    }
    let composite = dir.join("composite.webm");
    let probe = ffprobe(&composite);
    let video = probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["codec_type"] == "video")
        .cloned()
        .expect("the composite has video");
    assert_eq!(video["width"], 1920, "three tiles side by side: {probe}");
    assert!(
        probe["streams"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["codec_name"] == "opus")),
        "the composite has the mixed audio: {probe}"
    );
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    let expected = RECORDING_LENGTH.as_secs_f64();
    assert!(
        duration >= expected * 0.9 && duration <= expected * 1.5,
        "the composite lasts about as long as the recording: {duration:.2} s"
    );
    let composite_id = files
        .iter()
        .find(|f| f["kind"] == "composite")
        .and_then(|f| f["id"].as_str())
        .expect("the composite is filed")
        .to_owned();

    // The mediator plays it on the dispute's page.
    host.navigate(&server.url(&format!("/#/disputes/{dispute_id}")))
        .await
        .expect("open the dispute's page");
    let play = format!(
        "[data-testid=recording-file][data-file-id='{composite_id}'] [data-testid=play-recording]"
    );
    host.wait_and_click(&play, BROWSER_TIMEOUT)
        .await
        .expect("the composite is listed with a play button");
    host.wait_for(
        "(() => { const v = document.querySelector('[data-testid=recording-player]'); \
         return !!v && v.readyState >= 2 && v.duration > 1; })()",
        BROWSER_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "the browser plays the composite: {e:#}\n{:?}",
            host.console()
        )
    });

    drop(parties);
    drop(host);
    browser.close().await;
    server.shutdown().await;
}
