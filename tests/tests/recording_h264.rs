//! Recording people whose browsers send only H.264 (as phones with only a hardware H.264
//! encoder do): the mediator records the demo session from the console, and each participant's
//! file is Matroska (`.mkv`, since WebM has no H.264) with H.264 and Opus that decode without an
//! error; the composite is made from them and the manifest lists every file with its hash.
//! Each file is served as what it is (`video/x-matroska`, `video/webm`, whole or by range, every
//! fetch audited), and the dispute's page plays the Matroska file in Chromium, or, in a browser
//! that cannot play it, offers the download and says why there is no player.

use std::path::PathBuf;
use std::time::Duration;

use concord_tests::chromium::{chromium_path, Browser, Page};
use concord_tests::recordings::{
    fetch_recording_file, ffmpeg_errors, ffprobe, sha256_of, wait_until_filed,
};
use concord_tests::server::demo_link;
use concord_tests::server::{ADMIN_PASSWORD, ADMIN_USERNAME};
use concord_tests::webclient::{
    enter_room, open_sending_only_h264, wait_for_recording_state, wait_for_remote_streams,
    BROWSER_TIMEOUT,
};
use concord_tests::TestServer;
use serde_json::{json, Value};

/// How long the test records: the length measured, not a synchronisation.
const RECORDING_LENGTH: Duration = Duration::from_secs(8);

/// Makes every `<video>` say it can play nothing, as a browser without H.264 would.
const PLAYS_NOTHING: &str = "HTMLMediaElement.prototype.canPlayType = () => '';";

/// A page signed in as the admin, on the dispute's page; `script` runs first in every document.
async fn dispute_page(
    browser: &Browser,
    server: &TestServer,
    dispute_id: &str,
    script: Option<&str>,
) -> Page {
    let page = browser
        .new_page(&server.url("/api/health"))
        .await
        .expect("a page");
    if let Some(source) = script {
        page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": source }),
        )
        .await
        .expect("install the script");
    }
    // The request body as a JavaScript string literal.
    let body = serde_json::to_string(
        &json!({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}).to_string(),
    )
    .expect("JSON");
    let status = page
        .evaluate(&format!(
            "fetch('/api/auth/login', {{method: 'POST', \
             headers: {{'content-type': 'application/json'}}, body: {body}}}).then(r => r.status)"
        ))
        .await
        .expect("sign in from the page");
    assert_eq!(status, 200, "the admin signs in");
    page.navigate(&server.url(&format!("/#/disputes/{dispute_id}")))
        .await
        .expect("open the dispute's page");
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_only_browsers_are_recorded_into_matroska_files_that_decode() {
    chromium_path().expect("Chromium is required for the browser test");
    let server = TestServer::start_with(|config| config.recording.notice_secs = 1)
        .await
        .expect("start the server");
    let links = server.seed_demo().await.expect("the demo session");
    let url = |role: &str, nth: usize| demo_link(&links, role, nth);
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
    wait_for_recording_state(&host, "on", "the mediator").await;
    tokio::time::sleep(RECORDING_LENGTH).await;
    host.evaluate("window.confirm = () => true")
        .await
        .expect("accept the stop dialog");
    host.wait_and_click("[data-testid=record-button]", BROWSER_TIMEOUT)
        .await
        .expect("the mediator stops recording");
    wait_for_recording_state(&host, "off", "the mediator").await;
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

    // Each file is served as what it is, whole and by range (as a <video> element asks), and
    // the listing says so, with the codecs a page can ask its browser about.
    let kind = |kind: &str| {
        files
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind} file: {recording}"))
    };
    let mkv = participant_files[0];
    assert_eq!(mkv["content_type"], "video/x-matroska", "{mkv}");
    assert_eq!(mkv["codecs"], "avc1.42E01E, opus", "{mkv}");
    assert_eq!(kind("composite")["content_type"], "video/webm");
    assert_eq!(kind("composite")["codecs"], "vp8, opus");
    assert_eq!(kind("manifest")["content_type"], "application/json");
    let cookie = admin.cookie().expect("the admin's cookie");
    let served = [
        (mkv, "video/x-matroska"),
        (kind("composite"), "video/webm"),
        (kind("manifest"), "application/json"),
    ];
    for (file, content_type) in served {
        let id = file["id"].as_str().expect("id");
        let size = file["size_bytes"].as_u64().expect("a size");
        let whole = fetch_recording_file(server.base_url(), &cookie, id, None).await;
        assert_eq!(whole.status, 200, "{file}");
        assert_eq!(whole.content_type, content_type, "{file}");
        assert_eq!(whole.body.len() as u64, size, "{file}");
        let part = fetch_recording_file(server.base_url(), &cookie, id, Some("bytes=0-99")).await;
        assert_eq!(part.status, 206, "a range of {file}");
        assert_eq!(part.content_type, content_type, "a range of {file}");
        assert_eq!(
            part.content_range.as_deref(),
            Some(format!("bytes 0-99/{size}").as_str())
        );
        assert_eq!(
            part.body,
            whole.body[..100],
            "the range is the file's start"
        );
    }
    let listing = admin
        .get(&format!("/api/disputes/{dispute_id}/recordings"))
        .await
        .expect("request")
        .ok()
        .expect("list again");
    for file in listing["recordings"][0]["files"].as_array().expect("files") {
        let plays = file["audit"]
            .as_array()
            .expect("audit")
            .iter()
            .filter(|a| a["action"] == "play")
            .count();
        let fetched = served.iter().any(|(f, _)| f["id"] == file["id"]);
        assert_eq!(
            plays,
            if fetched { 2 } else { 0 },
            "every fetch is audited: {file}"
        );
    }

    // The dispute's page plays the Matroska file in Chromium.
    let browser = Browser::launch().await.expect("launch Chromium");
    let entry = format!(
        "[data-testid=recording-file][data-file-id='{}']",
        mkv["id"].as_str().expect("id")
    );
    let page = dispute_page(&browser, &server, &dispute_id, None).await;
    page.wait_and_click(
        &format!("{entry} [data-testid=play-recording]"),
        BROWSER_TIMEOUT,
    )
    .await
    .expect("the .mkv file is listed with a play button");
    page.wait_for(
        "(() => { const v = document.querySelector('[data-testid=recording-player]'); \
         return !!v && v.readyState >= 2 && v.videoWidth > 0 && v.duration > 1; })()",
        BROWSER_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| panic!("Chromium plays the .mkv file: {e:#}\n{:?}", page.console()));
    let note_hidden = page
        .evaluate(&format!(
            "document.querySelector(\"{entry} [data-testid=cannot-play]\").hidden"
        ))
        .await
        .expect("read the note");
    assert_eq!(
        note_hidden, true,
        "no 'cannot play' note for a file that plays"
    );

    // A browser that cannot play it gets no player, a note and the download.
    let page = dispute_page(&browser, &server, &dispute_id, Some(PLAYS_NOTHING)).await;
    page.wait_for(
        &format!(
            "(() => {{ const note = document.querySelector(\"{entry} [data-testid=cannot-play]\"); \
             return !!note && !note.hidden; }})()"
        ),
        BROWSER_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| panic!("the page says it cannot play the file: {e:#}"));
    let offered = page
        .evaluate(&format!(
            "[!!document.querySelector(\"{entry} [data-testid=play-recording]\"), \
              document.querySelector(\"{entry} [data-testid=download-recording]\")?.getAttribute('href')]"
        ))
        .await
        .expect("read the file's actions");
    assert_eq!(
        offered[0], false,
        "no player for a file the browser cannot play"
    );
    assert!(
        offered[1]
            .as_str()
            .is_some_and(|href| href.ends_with("?download=1")),
        "the download is offered: {offered}"
    );
    browser.close().await;
    server.shutdown().await;
}
