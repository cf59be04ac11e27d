//! Sharing a screen in real Chromium, while the session is recorded: the expert (on a
//! computer) shares their screen; the mediator and both parties (on 360 px phone screens)
//! decode it, shown large above the cameras; it is recorded as a file of its own and shown
//! large in the composite, the cameras in a strip under it; starting and stopping it are
//! events in the case file.

use std::path::PathBuf;
use std::time::Duration;

use concord_tests::call::{sample, Call, CallSetup, LARGE_VIEWPORT};
use concord_tests::chromium::Page;
use concord_tests::recordings::{
    fetch_recording_file, ffmpeg_errors, ffprobe, first_dispute_id, wait_until_filed,
};
use serde_json::Value;

const PHONE: (u32, u32) = (360, 740);
const UI_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the screen is shared (and recorded) before it is stopped.
const SHARED_FOR: Duration = Duration::from_secs(6);
/// Chromium's fake screen is 800x600.
const FAKE_SCREEN_WIDTH: u64 = 800;
/// In the composite of a session with a shared screen: the screen's stage (at least this wide,
/// 16:9) over a strip of camera tiles this size.
const COMPOSITE_STAGE_WIDTH: u64 = 1280;
const COMPOSITE_STRIP_TILE: (u64, u64) = (320, 180);

async fn wait_until(page: &Page, expression: &str, what: &str) -> Value {
    match page.wait_for(expression, UI_TIMEOUT).await {
        Ok(value) => value,
        Err(e) => {
            let stage = page.evaluate(STAGE).await;
            let streams = page
                .evaluate(
                    "(window.concord.pc.remoteDescription || {}).sdp.split('\\r\\n').filter((l) => /^a=(msid:|mid:|sendonly|recvonly|inactive)/.test(l)).join(' ')",
                )
                .await;
            panic!(
                "{what}: {e:#}\nstage: {stage:?}\nstreams: {streams:?}\n{:?}",
                page.console()
            )
        }
    }
}

/// The stage's state on `page`: who shares, whether it shows, the picture's size, and
/// whether it fits the screen's width.
const STAGE: &str = "(() => { const c = window.concord; \
     const stage = document.querySelector('[data-testid=screen-stage]'); \
     const video = document.querySelector('[data-testid=screen-video]'); \
     const grid = document.querySelector('[data-testid=video-grid]'); \
     return { sharer: c.screenSharer || null, shown: !!c.screenShown && !stage.hidden, \
       width: video.videoWidth, height: video.videoHeight, \
       fits: stage.getBoundingClientRect().width <= window.innerWidth, \
       strip: grid.classList.contains('grid-strip'), \
       caption: document.querySelector('[data-testid=screen-caption]').textContent }; })()";

/// Waits until `page` plays `sharer`'s screen on its stage, new frames decoding.
async fn sees_the_screen(page: &Page, sharer: &str, who: &str) -> Value {
    let condition = format!(
        "(() => {{ const s = {STAGE}; return s.sharer === '{sharer}' && s.shown && s.width > 0 ? s : null; }})()"
    );
    let stage = wait_until(page, &condition, &format!("{who} shows the shared screen")).await;
    let screen = format!("{sharer}.screen");
    let before = sample(page).await.frames_decoded_from(&screen);
    let deadline = tokio::time::Instant::now() + UI_TIMEOUT;
    loop {
        let now = sample(page).await.frames_decoded_from(&screen);
        if now >= before + 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{who} decodes new frames of the screen ({before} then {now})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expert_shares_a_screen_everyone_sees_it_and_it_is_recorded() {
    let call = Call::start(CallSetup {
        viewports: [LARGE_VIEWPORT, PHONE, PHONE],
        ..CallSetup::default()
    })
    .await;
    let (expert, expert_id) = call.open_fourth("expert", LARGE_VIEWPORT).await;
    for (page, who) in call.pages() {
        let button = page
            .evaluate("document.querySelector('[data-testid=share-screen]').hidden")
            .await
            .expect("read the share button");
        let may_share = who == "the mediator";
        assert_eq!(
            button,
            Value::Bool(!may_share),
            "{who} is offered screen sharing: {may_share}"
        );
    }
    call.start_recording().await;

    expert
        .wait_and_click("[data-testid=share-screen]", UI_TIMEOUT)
        .await
        .expect("the expert shares their screen");
    wait_until(
        &expert,
        &format!(
            "(() => {{ const s = {STAGE}; return s.sharer === '{expert_id}' && s.shown; }})()"
        ),
        "the expert sees what they share",
    )
    .await;
    for (page, who) in call.pages() {
        let stage = sees_the_screen(page, &expert_id, who).await;
        println!("{who}'s stage: {stage}");
        assert_eq!(
            stage["width"].as_u64(),
            Some(FAKE_SCREEN_WIDTH),
            "{who} gets the screen at full width"
        );
        assert_eq!(stage["fits"], true, "{who}'s stage fits the screen");
        assert_eq!(stage["strip"], true, "{who}'s cameras become a strip");
    }
    tokio::time::sleep(SHARED_FOR).await;
    expert
        .wait_and_click("[data-testid=screen-stop]", UI_TIMEOUT)
        .await
        .expect("the expert stops sharing");
    for (page, who) in call.pages() {
        wait_until(
            page,
            &format!(
                "(() => {{ const s = {STAGE}; return !s.sharer && !s.shown && !s.strip; }})()"
            ),
            &format!("{who} is back to the cameras"),
        )
        .await;
    }
    call.stop_recording().await;

    // Filed: the screen as a file of its own, under the expert's name, and in the composite.
    let admin = call.server.admin().await.expect("the admin account");
    let dispute_id = first_dispute_id(&admin).await;
    let recording = wait_until_filed(&admin, &dispute_id).await;
    assert_eq!(recording["composite_status"], "done", "{recording}");
    let files: Vec<Value> = recording["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f["kind"] == "participant")
        .collect();
    let screens: Vec<&Value> = files
        .iter()
        .filter(|f| f["participant_role"] == "screen")
        .collect();
    assert_eq!(screens.len(), 1, "one file of the screen: {files:#?}");
    let expert_name = expert
        .evaluate("document.querySelector('.tile.self .tile-name').textContent")
        .await
        .expect("the expert's name");
    assert_eq!(
        screens[0]["participant_name"], expert_name,
        "filed under the expert's name"
    );
    let dir: PathBuf = call
        .server
        .data_dir()
        .join("recordings")
        .join(recording["id"].as_str().expect("id"));
    // As the API serves it to staff.
    let cookie = admin.cookie().expect("the admin is signed in");
    let screen_id = screens[0]["id"].as_str().expect("a file id");
    let served = fetch_recording_file(call.server.base_url(), &cookie, screen_id, None).await;
    assert_eq!(served.status, 200, "the screen's file is served");
    let kept = tempfile::tempdir().expect("a directory for the file");
    let screen_path = kept.path().join("screen.webm");
    std::fs::write(&screen_path, &served.body).expect("keep the file");
    let probe = ffprobe(&screen_path);
    let video = probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
        .cloned()
        .unwrap_or_else(|| panic!("the screen's file has video: {probe}"));
    assert_eq!(video["width"].as_u64(), Some(FAKE_SCREEN_WIDTH), "{probe}");
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_default();
    assert!(
        duration >= SHARED_FOR.as_secs_f64() * 0.8,
        "the screen's file holds the share ({duration:.1} s)"
    );
    let errors = ffmpeg_errors(&screen_path, true);
    assert!(errors.is_empty(), "the screen's file decodes: {errors}");

    let cameras = files
        .iter()
        .filter(|f| f["participant_role"] != "screen")
        .map(|f| f["participant_name"].as_str().unwrap_or_default())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let composite = ffprobe(&dir.join("composite.webm"));
    let video = composite["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"));
    let size = video.map(|v| (v["width"].as_u64(), v["height"].as_u64()));
    let (strip_width, strip_height) = COMPOSITE_STRIP_TILE;
    let width = COMPOSITE_STAGE_WIDTH.max(strip_width * cameras);
    assert_eq!(
        size,
        Some((Some(width), Some((width * 9 / 16) + strip_height))),
        "the composite shows the screen large over a strip of the {cameras} cameras"
    );

    // The case file: when it began and ended, and who shared.
    let session_id = recording["session_id"].as_str().unwrap_or_default();
    let session = admin
        .get(&format!("/api/sessions/{session_id}"))
        .await
        .expect("request")
        .ok()
        .expect("the session");
    let events: Vec<(String, String)> = session["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| {
            e["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("screen_share"))
        })
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (
                "screen_share_started".to_owned(),
                expert_name.as_str().unwrap_or_default().to_owned()
            ),
            (
                "screen_share_stopped".to_owned(),
                expert_name.as_str().unwrap_or_default().to_owned()
            ),
        ],
        "the share is in the case file"
    );
    drop(expert);
    call.finish().await;
}
