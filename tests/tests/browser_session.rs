//! The real web client in a real browser: the demo mediator and two parties, each in their own
//! page of one headless Chromium, see and hear each other through the server.
//!
//! Needs `/usr/lib/chromium/chromium` (Debian's `chromium`); fails with a clear message without.

use concord_tests::chromium::{chromium_path, Browser, Page};
use concord_tests::webclient::{enter_room, wait_for_remote_streams};
use concord_tests::TestServer;

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
        let report = wait_for_remote_streams(page, who, 2).await;
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
