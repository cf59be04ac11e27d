//! H.264 is accepted as well as VP8: three Chromium pages that offer only H.264 for what they
//! send (as a phone with only a hardware H.264 encoder would) each decode H.264 video from the
//! other two through the SFU. (Offered both, the SFU answers VP8 first.)

use concord_tests::chromium::{chromium_path, Browser};
use concord_tests::server::demo_link;
use concord_tests::webclient::{enter_room, open_sending_only_h264, BROWSER_TIMEOUT};
use concord_tests::TestServer;

/// Inbound video per remote track: its codec and decoded frames (rising between two calls).
const H264_PROBE: &str = "(async () => {
    const pc = window.concord && window.concord.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    const now = {};
    stats.forEach(r => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') {
            const codec = r.codecId && stats.get(r.codecId);
            now[r.trackIdentifier || r.id] = { codec: codec ? codec.mimeType : '?', frames: r.framesDecoded || 0 };
        }
    });
    const before = window.__h264Probe || {};
    window.__h264Probe = now;
    const rising = Object.entries(now).filter(([k, v]) => before[k] && v.frames > before[k].frames);
    const h264 = rising.filter(([, v]) => v.codec === 'video/H264').length;
    return h264 >= 2 ? { h264, tracks: now } : null;
})()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_sending_only_h264_decode_each_other_through_the_sfu() {
    chromium_path().expect("Chromium is required for the browser test");
    let server = TestServer::start().await.expect("start the server");
    let links = server.seed_demo().await.expect("the demo session");
    let url = |role: &str, nth: usize| demo_link(&links, role, nth);
    let browser = Browser::launch().await.expect("launch Chromium");
    let host = open_sending_only_h264(&browser, &url("mediator", 0)).await;
    enter_room(&host, "the mediator", false).await;
    let mut pages = vec![host];
    for nth in 0..2 {
        let page = open_sending_only_h264(&browser, &url("party", nth)).await;
        enter_room(&page, "a party", true).await;
        pages.push(page);
    }
    for page in &pages {
        let report = page
            .wait_for(H264_PROBE, BROWSER_TIMEOUT)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "a page decodes H.264 from both others: {e:#}\n{:?}",
                    page.console()
                )
            });
        assert_eq!(report["h264"], 2, "{report}");
    }
    drop(pages);
    browser.close().await;
    server.shutdown().await;
}
