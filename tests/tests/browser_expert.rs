//! An expert brought in mid-session, in real Chromium: the mediator picks the land expert from
//! the roster in the room and gets a link; both parties (on 360 px phone screens) are asked
//! and agree with a tap; the expert, who opened the link meanwhile, waits until they have, then
//! joins, decodes everyone and is decoded by everyone. The case file keeps the invitation and
//! each answer with its time.

use std::time::Duration;

use concord_tests::call::{Call, CallSetup, LARGE_VIEWPORT};
use concord_tests::chromium::Page;
use concord_tests::webclient::{fill, wait_for_remote_streams, BROWSER_TIMEOUT};
use serde_json::Value;

const UI_TIMEOUT: Duration = Duration::from_secs(15);
const PHONE: (u32, u32) = (360, 740);

async fn click(page: &Page, testid: &str) {
    page.wait_and_click(&format!("[data-testid={testid}]"), UI_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("click {testid}: {e:#}\n{:?}", page.console()));
}

async fn wait_until(page: &Page, expression: &str, what: &str) -> Value {
    page.wait_for(expression, UI_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:#}\n{:?}", page.console()))
}

/// The consent question as the page shows it: its text, and whether it fits the screen.
const QUESTION: &str =
    "(() => { const q = document.querySelector('[data-testid=expert-consent]'); \
     if (!q || q.hidden || q.getClientRects().length === 0) return null; \
     const r = q.getBoundingClientRect(); \
     return { text: q.querySelector('[data-testid=expert-question]').textContent, \
       fits: r.left >= 0 && r.right <= window.innerWidth }; })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mediator_invites_the_land_expert_the_parties_agree_and_everyone_sees_everyone() {
    let call = Call::start(CallSetup {
        viewports: [LARGE_VIEWPORT, PHONE, PHONE],
        ..CallSetup::default()
    })
    .await;

    // The mediator picks the land expert from the roster and makes the link.
    click(&call.mediator, "expert-open").await;
    wait_until(
        &call.mediator,
        "document.querySelectorAll('[data-testid=expert-pick]').length > 1",
        "the roster shows",
    )
    .await;
    fill(&call.mediator, "expert-specialty", "土地")
        .await
        .expect("choose the specialty");
    let picked = wait_until(
        &call.mediator,
        "(() => { const p = [...document.querySelectorAll('[data-testid=expert-pick]')]; \
         return p.length === 1 && p[0].checked ? p[0].dataset.name : null; })()",
        "the land expert alone is listed, chosen",
    )
    .await;
    assert_eq!(picked, "王工");
    click(&call.mediator, "expert-invite").await;
    let link = wait_until(
        &call.mediator,
        "(() => { const l = document.querySelector('[data-testid=expert-link]'); \
         return l && !l.hidden && l.value.includes('/j/') ? l.value : null; })()",
        "the mediator gets a link to send",
    )
    .await;
    let link = link.as_str().expect("a link").to_owned();

    // Each party is asked, on their phone, in words they can read.
    for (page, who) in [(&call.party, "the party"), (&call.third, "the other party")] {
        let question = wait_until(page, QUESTION, &format!("{who} is asked")).await;
        let text = question["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("王工") && text.contains("土地") && text.contains("县自然资源局"),
            "{who} is told who and why: {question}"
        );
        assert_eq!(question["fits"], true, "the question fits {who}'s screen");
    }

    // The expert opens the link and waits: the parties have not answered yet.
    let expert = call.open_link(&link, LARGE_VIEWPORT).await;
    click(&expert, "join-button").await;
    wait_until(
        &expert,
        "(() => { const m = document.querySelector('[data-testid=lobby-message]'); \
         return !!m && m.dataset.i18n === 'lobby.waiting_consent'; })()",
        "the expert is told the parties are being asked",
    )
    .await;

    click(&call.party, "expert-accept").await;
    // One yes is not enough; the mediator sees who has agreed.
    wait_until(
        &call.mediator,
        "(() => { const l = document.querySelector('[data-testid=expert-line]'); \
         return !!l && l.dataset.consent === 'waiting' && l.textContent.includes('已同意'); })()",
        "the mediator sees the first answer",
    )
    .await;
    let waits = expert
        .evaluate("!!document.querySelector('[data-testid=lobby-message]') && !(window.concord && window.concord.pc)")
        .await
        .expect("read the expert's page");
    assert_eq!(waits, Value::Bool(true), "the expert still waits");
    click(&call.third, "expert-accept").await;

    expert
        .wait_for(
            "window.concord && window.concord.pc && window.concord.participantId",
            BROWSER_TIMEOUT,
        )
        .await
        .unwrap_or_else(|e| panic!("the expert is let in: {e:#}\n{:?}", expert.console()));
    wait_for_remote_streams(&expert, "the expert", 3).await;
    for (page, who) in call.pages() {
        wait_for_remote_streams(page, who, 3).await;
        wait_until(
            page,
            "(() => { const l = document.querySelector('[data-testid=expert-line]'); \
             return !!l && l.dataset.joined === 'true'; })()",
            &format!("{who} sees the expert joined"),
        )
        .await;
    }
    let question_gone = call
        .party
        .evaluate("document.querySelector('[data-testid=expert-consent]').hidden")
        .await
        .expect("read");
    assert_eq!(question_gone, Value::Bool(true), "the question is answered");

    // The case file: invited by the mediator, both answers, with their times.
    let admin = call.server.admin().await.expect("the admin");
    let sessions = admin
        .get("/api/disputes")
        .await
        .expect("disputes")
        .ok()
        .expect("read");
    let dispute = sessions["disputes"][0]["id"]
        .as_str()
        .expect("the demo's dispute");
    let detail = admin
        .get(&format!("/api/disputes/{dispute}"))
        .await
        .expect("the dispute")
        .ok()
        .expect("read");
    let session = detail["sessions"][0]["id"].as_str().expect("its session");
    let record = admin
        .get(&format!("/api/sessions/{session}"))
        .await
        .expect("the session")
        .ok()
        .expect("read");
    let events: Vec<&Value> = record["events"]
        .as_array()
        .map(|e| e.iter().collect())
        .unwrap_or_default();
    let of = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .copied()
            .filter(|e| e["kind"] == kind)
            .collect()
    };
    let invited = of("expert_invited");
    let consents = of("expert_consent");
    assert_eq!(invited.len(), 1, "{record}");
    assert_eq!(invited[0]["actor"], "调解员 陈静", "{record}");
    assert_eq!(consents.len(), 2, "{record}");
    for consent in &consents {
        assert!(consent["at"].as_i64().is_some_and(|at| at > 0), "{consent}");
        assert!(
            consent["detail"]
                .as_str()
                .is_some_and(|d| d.contains("\"accepted\":true")),
            "{consent}"
        );
    }
    assert!(
        of("admitted").iter().any(|e| e["actor"] == "王工"),
        "the expert's admission is filed: {record}"
    );
    drop(expert);
    call.finish().await;
}
