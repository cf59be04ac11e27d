//! The mediator's whole path in a real browser: sign in, open a dispute file, open a session
//! with the lobby on, create an invitation link; the party opens that link, waits in the lobby
//! with no media, and is admitted from the mediator's lobby panel; then they see each other.
//! On the way the mediator puts an expert on the roster.

use concord_tests::chromium::{chromium_path, Browser, Page};
use concord_tests::webclient::{
    enter_room, fill, screenshot, wait_for_remote_streams, BROWSER_TIMEOUT,
};
use concord_tests::TestServer;
use serde_json::json;

const USERNAME: &str = "lin.mediator";
const PASSWORD: &str = "a long mediator password";

async fn wait_for_testid(page: &Page, testid: &str, what: &str) {
    let expression = format!("!!document.querySelector('[data-testid={testid}]')");
    page.wait_for(&expression, BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what} ({testid}) appears: {e:#}\n{:?}", page.console()));
}

async fn click(page: &Page, testid: &str, what: &str) {
    page.wait_and_click(&format!("[data-testid={testid}]"), BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what}: clicking {testid}: {e:#}\n{:?}", page.console()));
}

async fn type_into(page: &Page, testid: &str, value: &str) {
    fill(page, testid, value)
        .await
        .unwrap_or_else(|e| panic!("typing into {testid}: {e:#}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediator_signs_in_invites_a_party_and_admits_them_from_the_lobby() {
    chromium_path().expect("Chromium is required for the browser test");
    let server = TestServer::start().await.expect("start the server");
    let admin = server.admin().await.expect("admin signs in");
    admin
        .post(
            "/api/users",
            json!({"username": USERNAME, "display_name": "林调解员", "password": PASSWORD,
                   "role": "mediator"}),
        )
        .await
        .expect("request")
        .ok()
        .expect("the admin creates a mediator account");

    let browser = Browser::launch().await.expect("launch Chromium");
    let console = browser
        .new_page(&server.url("/"))
        .await
        .expect("open the console");

    // Sign in.
    wait_for_testid(&console, "login-username", "the sign-in form").await;
    type_into(&console, "login-username", USERNAME).await;
    type_into(&console, "login-password", PASSWORD).await;
    click(&console, "login-submit", "signing in").await;

    // Put the land expert on the roster, to call on from the room.
    click(&console, "nav-experts", "the roster link").await;
    wait_for_testid(&console, "roster-form", "the roster's form").await;
    type_into(&console, "roster-name", "王工").await;
    type_into(&console, "roster-specialty", "土地").await;
    type_into(&console, "roster-center", "县自然资源局").await;
    click(&console, "roster-add", "adding the expert").await;
    console
        .wait_for(
            "[...document.querySelectorAll('[data-testid=roster-entry]')].some((e) => \
             e.dataset.specialty === '土地' && e.textContent.includes('王工'))",
            BROWSER_TIMEOUT,
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the roster lists the expert: {e:#}\n{:?}",
                console.console()
            )
        });
    console
        .evaluate("location.hash = '#/'")
        .await
        .expect("back to the list");

    // Open a dispute file with two parties.
    click(&console, "new-dispute", "the new-dispute button").await;
    wait_for_testid(&console, "dispute-form", "the dispute form").await;
    type_into(&console, "dispute-case-number", "2026-TS-0042").await;
    type_into(&console, "dispute-title", "宅基地边界纠纷").await;
    type_into(&console, "dispute-category", "land").await;
    type_into(&console, "party-name", "张建国").await;
    type_into(&console, "party-phone", "13800000001").await;
    screenshot(&console, "console-dispute-form").await.ok();
    click(&console, "dispute-submit", "saving the dispute").await;

    // Open a session with the lobby on, then invite a party.
    wait_for_testid(&console, "open-session", "the dispute page").await;
    let lobby_on = console
        .evaluate("document.querySelector('[data-testid=session-lobby]').checked")
        .await
        .expect("read the lobby switch");
    assert_eq!(lobby_on, true, "the lobby is on by default");
    click(&console, "open-session", "opening a session").await;
    wait_for_testid(&console, "invite-form", "the session page").await;
    type_into(&console, "invite-role", "party").await;
    type_into(&console, "invite-name", "张建国").await;
    click(&console, "invite-submit", "creating the invitation").await;
    wait_for_testid(&console, "invite-link", "the new link").await;
    let link = console
        .evaluate("document.querySelector('[data-testid=invite-link]').value")
        .await
        .expect("read the link");
    let link = link.as_str().expect("the link is text").to_owned();
    assert!(
        link.starts_with(&server.url("/j/")),
        "the link opens the invitee page on this server: {link}"
    );
    screenshot(&console, "console-session").await.ok();

    // The mediator enters the room.
    click(&console, "enter-room", "entering the room").await;
    enter_room(&console, "the mediator", false).await;

    // The party opens the link, passes the device check and waits in the lobby: no media yet.
    let party = browser
        .new_page(&link)
        .await
        .expect("open the party's link");
    wait_for_testid(&party, "join-button", "the device check").await;
    click(&party, "join-button", "the party joins").await;
    wait_for_testid(&party, "lobby-message", "the lobby message").await;
    let waiting = party
        .evaluate("({ state: window.concord.state, pc: !!window.concord.pc })")
        .await
        .expect("read the party's state");
    assert_eq!(waiting["state"], "lobby", "{waiting}");
    assert_eq!(
        waiting["pc"], false,
        "no media connection before admission: {waiting}"
    );
    screenshot(&party, "party-lobby").await.ok();

    // The mediator sees them waiting and admits them.
    wait_for_testid(&console, "lobby-entry", "the party in the lobby panel").await;
    screenshot(&console, "mediator-lobby").await.ok();
    click(&console, "admit-button", "admitting the party").await;

    enter_room(&party, "the party", false).await;
    let party_report = wait_for_remote_streams(&party, "the party", 1).await;
    let mediator_report = wait_for_remote_streams(&console, "the mediator", 1).await;
    assert_eq!(
        party_report["risingFrom"],
        json!([mediator_report["me"]]),
        "the party decodes the mediator's video: {party_report}"
    );
    assert_eq!(
        mediator_report["risingFrom"],
        json!([party_report["me"]]),
        "the mediator decodes the party's video: {mediator_report}"
    );
    screenshot(&console, "mediator-room").await.ok();
    screenshot(&party, "party-room").await.ok();

    // The case file records what happened in the session.
    let hash = console
        .evaluate("location.hash")
        .await
        .expect("read the room's address");
    let session_id = hash
        .as_str()
        .and_then(|h| h.strip_prefix("#/sessions/"))
        .and_then(|h| h.split('/').next())
        .unwrap_or_else(|| panic!("the room's address names its session: {hash}"))
        .to_owned();
    let record = admin
        .get(&format!("/api/sessions/{session_id}"))
        .await
        .expect("request")
        .ok()
        .expect("the admin reads the session");
    let events: Vec<(String, String)> = record["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["kind"].to_string(), e["actor"].to_string()))
        .collect();
    for kind in ["arrived", "admitted"] {
        assert!(
            events
                .iter()
                .any(|(k, a)| k.contains(kind) && a.contains("张建国")),
            "the session's events record that the party {kind}: {events:?}"
        );
    }
    assert_eq!(record["session"]["status"], "live", "{record}");

    drop(party);
    drop(console);
    browser.close().await;
    server.shutdown().await;
}
