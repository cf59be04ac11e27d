//! The server is killed (`kill -9`) in the middle of a call and started again on the same
//! address, ports and data directory: the mediator's page and two parties' pages, whom the
//! mediator had let in from the lobby, are back in the room by themselves: each in its own seat
//! (the same participant id), the parties without the lobby, nobody clicking anything, each
//! decoding the other two again over a new peer connection. A fourth person, still waiting in
//! the lobby when the server died, is back in the lobby by themself, for the mediator to let in
//! as before. Prints how long that took, for the recovery table in `docs/benchmarks.md`.
//!
//! The server runs in a child process ([`ServerProcess`]) so that it can really be killed.

use std::time::{Duration, Instant};

use concord_tests::chromium::{chromium_path, Browser, Page};
use concord_tests::recovery::{click, mediator_enters, party_admitted};
use concord_tests::server::{serve_in_child_process, ServerProcess};
use concord_tests::webclient::{wait_for_remote_streams, BROWSER_TIMEOUT};

/// Generous: the seats are held for 60 s, and the pages try to resume every 5 s at most.
const BACK_WITHIN: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the server process of the_server_is_killed_and_restarted_and_all_three_pages_are_back"]
async fn child_server() {
    serve_in_child_process(|_| {}).await;
}

/// Reads `page`'s participant id, and from now on notes every state its client goes through
/// and the peer connection it has.
async fn watch_states(page: &Page) -> String {
    let id = page
        .evaluate(
            "(() => {
                window.__statesSince = [];
                new MutationObserver(() => window.__statesSince.push(document.documentElement.dataset.state))
                    .observe(document.documentElement, { attributes: true, attributeFilter: ['data-state'] });
                window.__pcBefore = window.concord.pc;
                return window.concord.participantId;
            })()",
        )
        .await
        .expect("watch the page");
    id.as_str().expect("a participant id").to_owned()
}

/// Waits until `page` is back in seat `id` with signaling and a new peer connection up, then
/// until it decodes the other two: how long each took from `since`.
async fn back_in_the_room(
    page: &Page,
    who: &str,
    id: &str,
    since: Instant,
) -> (Duration, Duration) {
    let seated = format!(
        "(() => {{
            const c = window.concord;
            return c.state === 'joined' && c.signaling === 'connected' && c.participantId === '{id}'
                && c.resumes >= 1 && c.pc && c.pc !== window.__pcBefore
                && c.pc.connectionState === 'connected';
        }})()"
    );
    if let Err(e) = page.wait_for(&seated, BACK_WITHIN).await {
        let shown = page
            .evaluate(
                "JSON.stringify({ state: window.concord.state, signaling: window.concord.signaling, \
                 id: window.concord.participantId, resumes: window.concord.resumes, \
                 media: window.concord.mediaState, newPc: window.concord.pc !== window.__pcBefore, \
                 states: window.__statesSince, text: document.body.innerText.slice(0, 300) })",
            )
            .await;
        panic!(
            "{who} is back in its seat by itself: {e:#}\n{shown:?}\n{:?}",
            page.console()
        );
    }
    let seat = since.elapsed();
    wait_for_remote_streams(page, who, 2).await;
    (seat, since.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_killed_and_restarted_and_all_three_pages_are_back_in_the_room_on_their_own()
{
    chromium_path().expect("Chromium is required for the browser test");
    let mut server = ServerProcess::start("child_server")
        .await
        .expect("start the server process");
    let (mediator, username) = server.account("mediator").await.expect("a mediator");
    let dispute = mediator.create_dispute().await.expect("a dispute");
    let dispute_id = concord_tests::api::id_of(&dispute).expect("its id");
    let session = mediator
        .create_session(&dispute_id, true)
        .await
        .expect("a session with the lobby on");
    let session_id = concord_tests::api::id_of(&session).expect("its id");
    let mut links = Vec::new();
    for name in ["张建国", "李秀兰", "王工"] {
        let invitation = mediator
            .invite(&session_id, "party", name)
            .await
            .expect("invite a party");
        links.push(invitation.url);
    }

    let browser = Browser::launch().await.expect("launch Chromium");
    let host = mediator_enters(&browser, &server, &username, &session_id).await;
    let party = party_admitted(&browser, &host, &links[0], "the party").await;
    let third = party_admitted(&browser, &host, &links[1], "the third page").await;
    let pages = [
        (&host, "the mediator"),
        (&party, "the party"),
        (&third, "the third page"),
    ];
    for (page, who) in pages {
        wait_for_remote_streams(page, who, 2).await;
    }
    let mut ids = Vec::new();
    for (page, _) in pages {
        ids.push(watch_states(page).await);
    }
    let waiting = browser.new_page(&links[2]).await.expect("open a link");
    click(
        &waiting,
        "[data-testid=join-button]",
        "the fourth person joins",
    )
    .await;
    waiting
        .wait_for(
            "window.concord && window.concord.state === 'lobby'",
            BROWSER_TIMEOUT,
        )
        .await
        .expect("the fourth person waits in the lobby");
    let waiting_before = watch_states(&waiting).await;

    let killed = Instant::now();
    server.kill().await.expect("kill the server");
    server.start_again().await.expect("start the server again");
    let down = killed.elapsed();
    let restarted = Instant::now();
    let (host_back, party_back, third_back) = tokio::join!(
        back_in_the_room(&host, "the mediator", &ids[0], restarted),
        back_in_the_room(&party, "the party", &ids[1], restarted),
        back_in_the_room(&third, "the third page", &ids[2], restarted),
    );

    for (page, who) in &pages[1..] {
        let states = page
            .evaluate("window.__statesSince")
            .await
            .expect("the states the page went through");
        assert!(
            !states
                .as_array()
                .is_some_and(|s| s.iter().any(|state| state == "lobby" || state == "error")),
            "{who} never waited in the lobby again, nor showed an error: {states}"
        );
    }
    // The one who had been waiting waits again, on a new connection, and the mediator sees it.
    let waiting_again = waiting
        .wait_for(
            &format!(
                "(() => {{ const c = window.concord; return c.state === 'lobby' \
                 && c.signaling === 'connected' && c.participantId !== '{waiting_before}' \
                 && c.participantId; }})()"
            ),
            BACK_WITHIN,
        )
        .await
        .expect("the fourth person is back in the lobby by themself");
    let lobby = host
        .wait_for(
            "(() => { const ids = [...document.querySelectorAll('[data-testid=lobby-entry]')] \
             .map((e) => e.dataset.participantId); return ids.length ? ids : null; })()",
            BACK_WITHIN,
        )
        .await
        .expect("the mediator's lobby panel lists who waits");
    assert_eq!(
        lobby,
        serde_json::json!([waiting_again]),
        "only the one who had been waiting waits for the mediator"
    );

    let slowest = [host_back, party_back, third_back]
        .iter()
        .map(|(_, decoding)| *decoding)
        .max()
        .unwrap_or_default();
    println!(
        "server restart: killed and serving again in {:.1} s; back in their seats after \
         {:.1} / {:.1} / {:.1} s and decoding the others after {:.1} / {:.1} / {:.1} s \
         (mediator / party / third page, from serving again); all three decoding {:.1} s \
         after the kill",
        down.as_secs_f64(),
        host_back.0.as_secs_f64(),
        party_back.0.as_secs_f64(),
        third_back.0.as_secs_f64(),
        host_back.1.as_secs_f64(),
        party_back.1.as_secs_f64(),
        third_back.1.as_secs_f64(),
        (down + slowest).as_secs_f64(),
    );
    drop((host, party, third, waiting));
    browser.close().await;
}
