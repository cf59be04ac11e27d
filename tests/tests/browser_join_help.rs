//! The join page helps those who need it, in real Chromium: WeChat's browser on an iPhone
//! before iOS 14.3 (which cannot use the camera) is told in plain words how to open the link in
//! Safari instead of failing at the device check, while WeChat where the camera works gets only
//! a hint; and elder mode (large type) is one tap, kept for the link, and says aloud what the
//! page needs done: at the device check and when the notice of rights appears.

use std::time::Duration;

use concord_tests::chromium::{Browser, Page};
use concord_tests::{Invitation, TestServer};
use serde_json::{json, Value};

const UI_TIMEOUT: Duration = Duration::from_secs(15);

/// WeChat's in-app browser on an iPhone with iOS 14.2 (no camera for in-app browsers).
const WECHAT_IOS_14_2: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 14_2 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.2(0x18000239) \
     NetType/4G Language/zh_CN";
/// WeChat on iOS 16: in-app browsers may use the camera.
const WECHAT_IOS_16: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40(0x1800282a) \
     NetType/WIFI Language/zh_CN";
/// WeChat's browser on an Android phone (XWEB, Chromium inside).
const WECHAT_ANDROID: &str = "Mozilla/5.0 (Linux; Android 10; V2001A Build/QP1A.190711.020; wv) \
     AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile \
     Safari/537.36 XWEB/5061 MMWEBSDK/20230303 MMWEBID/1234 MicroMessenger/8.0.34.2340(0x2800223D) \
     WeChat/arm64 Weixin NetType/4G Language/zh_CN ABI/arm64";
/// Safari itself on iOS 14.2: not an in-app browser.
const SAFARI_IOS_14_2: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 14_2 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0.1 Mobile/15E148 Safari/604.1";

fn js(text: &str) -> String {
    serde_json::to_string(text).expect("a string is JSON")
}

/// A page with `user_agent` (as that browser would send and report it) at `url`.
async fn open_as(browser: &Browser, url: &str, user_agent: Option<&str>) -> Page {
    let page = browser.new_page("about:blank").await.expect("a page");
    if let Some(user_agent) = user_agent {
        page.call(
            "Emulation.setUserAgentOverride",
            json!({ "userAgent": user_agent }),
        )
        .await
        .expect("pose as another browser");
    }
    page.navigate(url).await.expect("open the link");
    page
}

async fn wait_until(page: &Page, expression: &str, what: &str) -> Value {
    page.wait_for(expression, UI_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:#}\n{:?}", page.console()))
}

/// The i18n key of the element with `testid`, or null.
async fn key_of(page: &Page, testid: &str) -> Value {
    page.evaluate(&format!(
        "(() => {{ const el = document.querySelector('[data-testid={testid}]'); \
         return el ? el.dataset.i18n : null; }})()"
    ))
    .await
    .expect("read the page")
}

async fn party_link(server: &TestServer, room: &concord_tests::Room, name: &str) -> Invitation {
    let mut invitation = room.invite("party", name).await.expect("invite");
    // The server's own absolute link, as the SMS carries it.
    if !invitation.url.starts_with("http") {
        invitation.url = format!("{}{}", server.base_url(), invitation.url);
    }
    invitation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechat_that_cannot_capture_is_told_how_to_open_the_link_in_the_phones_browser() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("a session");
    let link = party_link(&server, &room, "村民甲").await;
    let browser = Browser::launch().await.expect("launch Chromium");

    // The rule itself, on the user agents of the phones the links reach.
    let probe = open_as(&browser, &link.url, None).await;
    let verdicts = probe
        .evaluate(&format!(
            "import('/assets/inapp.js').then((m) => {}.map((ua) => m.inAppBrowser(ua)))",
            serde_json::to_string(&[
                WECHAT_IOS_14_2,
                WECHAT_IOS_16,
                WECHAT_ANDROID,
                SAFARI_IOS_14_2
            ])
            .expect("JSON")
        ))
        .await
        .expect("run the rule");
    let got: Vec<(bool, bool)> = verdicts
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| (v["wechat"] == true, v["canCapture"] == true))
        .collect();
    assert_eq!(
        got,
        vec![(true, false), (true, true), (true, true), (false, true)],
        "{verdicts}"
    );
    probe.close().await.expect("close");

    // WeChat on iOS 14.2: no device check (it would only fail), the way to Safari instead.
    let old_iphone = open_as(&browser, &link.url, Some(WECHAT_IOS_14_2)).await;
    wait_until(
        &old_iphone,
        "!!document.querySelector('[data-testid=open-in-browser]')",
        "WeChat on iOS 14.2 is told to open the link elsewhere",
    )
    .await;
    assert_eq!(
        key_of(&old_iphone, "open-in-browser-steps").await,
        "inapp.steps_ios"
    );
    let state = old_iphone
        .evaluate(
            "({ state: window.concord.state, \
               joinButton: !!document.querySelector('[data-testid=join-button]') })",
        )
        .await
        .expect("read the page");
    assert_eq!(
        state,
        json!({"state": "open-in-browser", "joinButton": false}),
        "no device check in a browser that cannot capture"
    );
    old_iphone.close().await.expect("close");

    // WeChat where the camera works: the usual page, with the way out as a hint.
    for (user_agent, steps) in [
        (WECHAT_ANDROID, "inapp.steps_android"),
        (WECHAT_IOS_16, "inapp.steps_ios"),
    ] {
        let page = open_as(&browser, &link.url, Some(user_agent)).await;
        wait_until(
            &page,
            "!!document.querySelector('[data-testid=join-button]')",
            "WeChat that can capture gets the device check",
        )
        .await;
        let hint = page
            .evaluate(
                "(() => { const h = document.querySelector('[data-testid=wechat-hint] [data-i18n]'); \
                 return h ? h.dataset.i18n : null; })()",
            )
            .await
            .expect("read the hint");
        assert_eq!(hint, steps, "{user_agent}");
        page.close().await.expect("close");
    }
    browser.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elder_mode_is_one_tap_kept_for_the_link_and_says_what_to_do() {
    let server = TestServer::start().await.expect("start the server");
    let (room, host, _) = server
        .hosted_room(false)
        .await
        .expect("a session without a lobby, its host in");
    let elder = party_link(&server, &room, "老李").await;
    let other = party_link(&server, &room, "小王").await;
    let browser = Browser::launch().await.expect("launch Chromium");
    let spoken = "JSON.stringify(window.concord.spoken || [])";

    let page = browser.new_page(&elder.url).await.expect("open the link");
    wait_until(
        &page,
        "!!document.querySelector('[data-testid=elder-toggle]')",
        "the join page offers large text",
    )
    .await;
    page.click("[data-testid=elder-toggle]")
        .await
        .expect("one tap");
    let font = page
        .evaluate(
            "({ elder: document.documentElement.classList.contains('elder'), \
               px: parseFloat(getComputedStyle(document.documentElement).fontSize) })",
        )
        .await
        .expect("read the page");
    assert_eq!(font["elder"], true, "{font}");
    assert!(font["px"].as_f64() >= Some(20.0), "larger type: {font}");
    // Once the camera and microphone are ready, the page says what to tap.
    wait_until(
        &page,
        &format!("{spoken}.includes('join.ready_spoken')"),
        "the page says aloud that it is ready to join",
    )
    .await;

    // Kept for this link: back on it later, still large; another link is not.
    page.navigate(&elder.url).await.expect("open it again");
    wait_until(
        &page,
        "!!document.querySelector('[data-testid=join-button]') && document.documentElement.classList.contains('elder')",
        "the same link opens in elder mode again",
    )
    .await;
    let neighbour = browser.new_page(&other.url).await.expect("another link");
    wait_until(
        &neighbour,
        "!!document.querySelector('[data-testid=join-button]')",
        "the other link's page",
    )
    .await;
    assert_eq!(
        neighbour
            .evaluate("document.documentElement.classList.contains('elder')")
            .await
            .expect("read the page"),
        false,
        "another link keeps its own choice"
    );
    neighbour.close().await.expect("close");

    // In the room the notice of rights appears and is read aloud, then the button is named.
    page.wait_and_click("[data-testid=join-button]", UI_TIMEOUT)
        .await
        .expect("join");
    wait_until(
        &page,
        &format!(
            "(() => {{ const s = {spoken}; return s.includes('notice.spoken') && \
             s.includes('notice.truth') && s.includes('notice.acknowledge_spoken'); }})()"
        ),
        "the notice is read aloud when it appears",
    )
    .await;
    let toggle_in_room = page
        .evaluate(&format!(
            "!!document.querySelector({})",
            js("[data-testid=room] [data-testid=elder-toggle]")
        ))
        .await
        .expect("read the room");
    assert_eq!(toggle_in_room, true, "the switch is in the room too");

    // Asked whether the session may be recorded, and whether a private talk may: each question
    // is read out with the button to tap.
    host.send(json!({"type": "start_recording"})).expect("send");
    wait_until(
        &page,
        &format!(
            "(() => {{ const s = {spoken}; return s.includes('rec.consent_question') && \
             s.includes('rec.consent_spoken'); }})()"
        ),
        "the recording question is read aloud",
    )
    .await;
    let me = page
        .evaluate("window.concord.participantId")
        .await
        .expect("the party's id");
    host.send(json!({"type": "start_caucus", "participant_ids": [me], "record": true}))
        .expect("send");
    wait_until(
        &page,
        &format!(
            "(() => {{ const s = {spoken}; return s.includes('caucus.record_question') && \
             s.includes('caucus.record_spoken'); }})()"
        ),
        "the question about recording the private talk is read aloud",
    )
    .await;
    browser.close().await;
    server.shutdown().await;
}
