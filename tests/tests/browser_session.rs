//! The real web client in a real browser: the demo mediator and two parties, each in their own
//! page of one headless Chromium, see and hear each other through the server.
//!
//! Needs `/usr/lib/chromium/chromium` (Debian's `chromium`); fails with a clear message without.

use std::time::Duration;

use concord_tests::chromium::{chromium_path, Browser, Page};
use concord_tests::TestServer;
use serde_json::Value;

/// Generous: three pages encoding and decoding on two cores.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a page is: `"in-room"` once the client has a peer connection, `"device-check"` while
/// the join button shows, else `null`.
const WHERE_AM_I: &str = "(() => {
    if (window.concord && window.concord.pc) return 'in-room';
    if (document.querySelector('[data-testid=join-button]')) return 'device-check';
    return null;
})()";

/// Reads `window.concord.pc.getStats()` and reports, per remote track, who published it (the
/// stream id in the remote description's `a=msid`, per the protocol) and whether video frames
/// decoded since the previous call.
const MEDIA_PROBE: &str = "(async () => {
    const c = window.concord;
    if (!c || !c.pc) return { ready: false };
    const pc = c.pc;
    const streamByMid = {};
    const sdp = (pc.remoteDescription && pc.remoteDescription.sdp) || '';
    for (const section of sdp.split(/\\r?\\nm=/).slice(1)) {
        const mid = (section.match(/\\na=mid:(\\S+)/) || [])[1];
        const msid = (section.match(/\\na=msid:(\\S+)/) || [])[1];
        if (mid && msid) streamByMid[mid] = msid;
    }
    const streamByTrack = {};
    for (const t of pc.getTransceivers()) {
        if (t.mid != null && t.receiver && t.receiver.track && streamByMid[t.mid]) {
            streamByTrack[t.receiver.track.id] = streamByMid[t.mid];
        }
    }
    const video = {}, audio = {};
    (await pc.getStats()).forEach(r => {
        if (r.type !== 'inbound-rtp') return;
        const key = r.trackIdentifier || r.mid || r.id;
        const from = streamByTrack[r.trackIdentifier] || streamByMid[r.mid] || '?';
        if (r.kind === 'video') {
            video[key] = { from, framesDecoded: r.framesDecoded || 0, packets: r.packetsReceived || 0 };
        } else if (r.kind === 'audio') {
            audio[key] = { from, packets: r.packetsReceived || 0 };
        }
    });
    const prev = window.__concordProbe || {};
    window.__concordProbe = video;
    const rising = Object.entries(video)
        .filter(([k, v]) => prev[k] && v.framesDecoded > prev[k].framesDecoded)
        .map(([k, v]) => v.from);
    const audible = Object.values(audio).filter(a => a.packets > 0).map(a => a.from);
    return {
        ready: true,
        me: c.participantId,
        risingTracks: rising.length,
        risingFrom: [...new Set(rising)].sort(),
        audioTracks: audible.length,
        audioFrom: [...new Set(audible)].sort(),
        connection: pc.connectionState,
        video,
        audio,
    };
})()";

/// Waits until the page has video frames decoding from two remote tracks and audio packets from
/// two, and returns the probe's report.
async fn wait_for_two_remote_streams(page: &Page, who: &str) -> Value {
    let condition = format!(
        "{MEDIA_PROBE}.then(p => (p.ready && p.risingTracks >= 2 && p.audioTracks >= 2) ? p : null)"
    );
    match page.wait_for(&condition, BROWSER_TIMEOUT).await {
        Ok(report) => report,
        Err(err) => {
            let last = page.evaluate(MEDIA_PROBE).await;
            panic!(
                "{who}'s page never decoded video from two remote tracks with audio: {err:#}\n\
                 last probe: {last:?}"
            );
        }
    }
}

async fn enter_room(page: &Page, who: &str, expect_device_check: bool) {
    let place = page
        .wait_for(WHERE_AM_I, BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| {
            panic!("{who}'s page shows neither the device check nor the room: {e:#}")
        });
    if expect_device_check {
        assert_eq!(
            place, "device-check",
            "{who} passes the device check before entering"
        );
    }
    if place == "device-check" {
        // The button is enabled once the camera and microphone check is done.
        page.wait_and_click("[data-testid=join-button]", BROWSER_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{who} clicks the join button: {e:#}"));
    }
    page.wait_for(
        "window.concord && window.concord.pc && window.concord.participantId",
        BROWSER_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| panic!("{who} is in the room with a peer connection: {e:#}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediator_and_two_parties_see_each_other_in_chromium() {
    // Fail (not skip) with a clear message where Chromium is missing.
    chromium_path().expect("Chromium is required for the browser test");

    let server = TestServer::start().await.expect("start the server");
    let invitations = server.seed_demo().await.expect("seed the demo");
    let url_of = |role: &str, nth: usize| -> String {
        invitations
            .iter()
            .filter(|i| i.role == role)
            .nth(nth)
            .map(|i| i.url.clone())
            .unwrap_or_else(|| panic!("the demo has a {role} invitation #{nth}: {invitations:?}"))
    };
    let mediator_url = url_of("mediator", 0);
    let party_urls = [url_of("party", 0), url_of("party", 1)];

    let browser = Browser::launch().await.expect("launch Chromium");
    let mediator = browser
        .new_page(&mediator_url)
        .await
        .expect("open the mediator's link");
    enter_room(&mediator, "the mediator", false).await;

    let mut parties = Vec::new();
    for (i, url) in party_urls.iter().enumerate() {
        let page = browser.new_page(url).await.expect("open a party's link");
        enter_room(&page, &format!("party {}", i + 1), true).await;
        parties.push(page);
    }

    let pages: Vec<(&str, &Page)> = vec![
        ("the mediator", &mediator),
        ("party 1", &parties[0]),
        ("party 2", &parties[1]),
    ];
    let mut ids = Vec::new();
    for (who, page) in &pages {
        let id = page
            .evaluate("window.concord.participantId")
            .await
            .expect("read participantId");
        let id = id
            .as_str()
            .unwrap_or_else(|| panic!("{who} has a participant id: {id}"))
            .to_owned();
        ids.push(id);
    }
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "three distinct participants: {ids:?}"
    );

    for (i, (who, page)) in pages.iter().enumerate() {
        let report = wait_for_two_remote_streams(page, who).await;
        let mut expected: Vec<&str> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| id.as_str())
            .collect();
        expected.sort();
        assert_eq!(
            report["risingFrom"],
            serde_json::json!(expected),
            "{who} decodes video from the other two participants (stream id = participant id): \
             {report}"
        );
        assert_eq!(
            report["audioFrom"],
            serde_json::json!(expected),
            "{who} receives audio from the other two participants: {report}"
        );
    }

    drop(parties);
    drop(mediator);
    browser.close().await;
    server.shutdown().await;
}
