//! The mediation room in the web client, in real Chromium, one call for all of it: each party
//! reads the notice of their rights and says so, the mediator confirms who each party is from
//! the list of those not yet confirmed; a party on a 360 px phone screen writes in the chat,
//! the mediator answers privately and the other party never sees it; and the session's record
//! in the mediator's console shows all of it with its times. The mediator writes the mediation
//! record (saved as typed) and presents it; the party on the phone confirms it, the other
//! party says what is wrong; the record as filed shows the text and both answers. The party
//! on the phone shows a photo from the file picker: everyone sees it full-screen, the party
//! zooms in, and the case file lists it with its SHA-256.

use std::time::Duration;

use concord_tests::call::{Call, CallSetup};
use concord_tests::chromium::Page;
use concord_tests::files::{draw_test_photo, pdf_with_pages};
use concord_tests::recordings::sha256_of;
use concord_tests::webclient::{fill, screenshot};
use serde_json::Value;

const UI_TIMEOUT: Duration = Duration::from_secs(15);
/// A phone held upright.
const PHONE: (u32, u32) = (360, 740);

fn js(text: &str) -> String {
    serde_json::to_string(text).expect("a string is JSON")
}

async fn click(page: &Page, testid: &str) {
    page.wait_and_click(&format!("[data-testid={testid}]"), UI_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("click {testid}: {e:#}\n{:?}", page.console()));
}

/// Writes `text` in the page's chat (opening it if needed), to `to` (a participant id) or to
/// everyone.
async fn write(page: &Page, text: &str, to: Option<&str>) {
    let open = page
        .evaluate("!document.querySelector('[data-testid=chat-panel]').hidden")
        .await
        .expect("read the panel");
    if open != Value::Bool(true) {
        click(page, "chat-button").await;
    }
    // The box keeps the last choice, as a conversation goes on with one person.
    fill(page, "chat-to", to.unwrap_or(""))
        .await
        .expect("choose whom to");
    fill(page, "chat-input", text).await.expect("type");
    click(page, "chat-send").await;
}

/// The chat messages the page shows: (text, private, sender id).
async fn shown(page: &Page) -> Vec<(String, bool, String)> {
    let listed = page
        .evaluate(
            "[...document.querySelectorAll('[data-testid=chat-message]')].map((m) => \
             [m.querySelector('.chat-text').textContent, m.dataset.private === 'true', m.dataset.from])",
        )
        .await
        .expect("read the chat");
    serde_json::from_value(listed).expect("a list of messages")
}

/// Waits until the page shows a message with `text`.
async fn wait_for_text(page: &Page, text: &str, who: &str) {
    let expression = format!(
        "[...document.querySelectorAll('[data-testid=chat-message] .chat-text')].some((t) => t.textContent === {})",
        js(text)
    );
    page.wait_for(&expression, UI_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{who} shows {text:?}: {e:#}\n{:?}", page.console()));
}

/// Whether the element with `testid` is shown.
async fn shown_now(page: &Page, testid: &str) -> bool {
    page.evaluate(&format!(
        "(() => {{ const el = document.querySelector('[data-testid={testid}]'); \
         return !!el && !el.hidden && el.getClientRects().length > 0; }})()"
    ))
    .await
    .expect("read the page")
        == Value::Bool(true)
}

async fn wait_until(page: &Page, expression: &str, what: &str) {
    page.wait_for(expression, UI_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:#}\n{:?}", page.console()));
}

/// Picks `file` in the page's document picker, as a person choosing it would.
async fn pick_file(page: &Page, file: &std::path::Path) {
    let input = page
        .call(
            "Runtime.evaluate",
            serde_json::json!({"expression": "document.querySelector('[data-testid=document-input]')"}),
        )
        .await
        .expect("find the file input");
    let object_id = input["result"]["objectId"]
        .as_str()
        .expect("the file input is on the page")
        .to_owned();
    page.call(
        "DOM.setFileInputFiles",
        serde_json::json!({"files": [file.display().to_string()], "objectId": object_id}),
    )
    .await
    .expect("pick the file");
}

/// The mediator's row for `participant` in the list of those not yet confirmed.
fn identity_row(participant: &str) -> String {
    format!("[data-testid=identity-row][data-participant-id=\"{participant}\"]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_notice_and_chat_in_the_room_from_the_browser_all_in_the_record() {
    let call = Call::start(CallSetup::default()).await;
    let ids = &call.ids;
    call.party
        .set_viewport(PHONE.0, PHONE.1)
        .await
        .expect("a phone-sized screen");

    // Both parties are shown the notice; the mediator is not, and sees both not yet
    // confirmed.
    for (page, who) in [(&call.party, "the party"), (&call.third, "the other party")] {
        assert!(shown_now(page, "notice").await, "{who} is shown the notice");
    }
    assert!(!shown_now(&call.mediator, "notice").await);
    screenshot(&call.party, "notice-on-a-phone")
        .await
        .expect("a screenshot when asked for");
    for id in [&ids.party, &ids.third] {
        wait_until(
            &call.mediator,
            &format!("!!document.querySelector({})", js(&identity_row(id))),
            "the mediator sees a party not yet confirmed",
        )
        .await;
    }
    screenshot(&call.mediator, "identity-list")
        .await
        .expect("a screenshot when asked for");
    // The party on the phone reads the notice and taps once; the mediator sees it read.
    click(&call.party, "notice-acknowledge").await;
    wait_until(
        &call.party,
        "document.querySelector('[data-testid=notice]').hidden",
        "the notice goes once the server has filed it",
    )
    .await;
    wait_until(
        &call.mediator,
        &format!(
            "document.querySelector({} + ' [data-testid=notice-state]').classList.contains('done')",
            js(&identity_row(&ids.party))
        ),
        "the mediator sees the party has read the notice",
    )
    .await;
    // The mediator saw the party's ID card on camera, and knows the other party in person.
    for (id, method) in [(&ids.party, "id_card"), (&ids.third, "known_in_person")] {
        let row = identity_row(id);
        call.mediator
            .evaluate(&format!(
                "(() => {{ const s = document.querySelector({} + ' [data-testid=identity-method]'); \
                 s.value = {}; s.dispatchEvent(new Event('change')); return true; }})()",
                js(&row),
                js(method)
            ))
            .await
            .expect("choose how");
        call.mediator
            .wait_and_click(&format!("{row} [data-testid=identity-confirm]"), UI_TIMEOUT)
            .await
            .expect("confirm");
    }
    click(&call.third, "notice-acknowledge").await;
    wait_until(
        &call.mediator,
        "document.querySelector('[data-testid=identity-panel]').hidden",
        "the list empties once both are confirmed and have read the notice",
    )
    .await;

    // The party writes to everyone from the phone; the others read it, and a party who keeps
    // the chat closed still sees that someone wrote.
    let public = "我家的界桩在老槐树东边三步。";
    write(&call.party, public, None).await;
    wait_for_text(&call.party, public, "the party's own chat").await;
    wait_for_text(&call.mediator, public, "the mediator's chat").await;
    wait_for_text(&call.third, public, "the other party's chat").await;
    let unread = call
        .third
        .evaluate("document.querySelector('[data-testid=chat-unread]').textContent")
        .await
        .expect("read the unread count");
    assert_eq!(
        unread, "1",
        "the other party's chat button counts one unread message"
    );

    // On the phone the open chat and every button fit the screen, nothing scrolls sideways.
    let layout = call
        .party
        .evaluate(
            "(() => { const r = (s) => document.querySelector(s).getBoundingClientRect(); \
             const panel = r('[data-testid=chat-panel]'), send = r('[data-testid=chat-send]'); \
             const buttons = [...document.querySelectorAll('.controls .ctl')].map((b) => b.getBoundingClientRect()); \
             return { scroll: document.documentElement.scrollWidth, inner: innerWidth, \
                      panel: [panel.left, panel.right, panel.top], send: [send.left, send.right, send.bottom], \
                      buttons: buttons.map((b) => [b.left, b.right]) }; })()",
        )
        .await
        .expect("measure the page");
    let width = f64::from(PHONE.0);
    let within = |edges: &Value| {
        edges
            .as_array()
            .is_some_and(|e| e[0].as_f64() >= Some(0.0) && e[1].as_f64() <= Some(width))
    };
    assert!(layout["scroll"].as_f64() <= Some(width), "{layout}");
    assert!(
        within(&layout["panel"]),
        "the chat fits the screen: {layout}"
    );
    assert!(within(&layout["send"]), "its send button too: {layout}");
    assert!(
        layout["buttons"]
            .as_array()
            .is_some_and(|b| b.len() >= 5 && b.iter().all(within)),
        "every button fits: {layout}"
    );

    // The mediator answers the party privately, then writes to everyone.
    let private = "请把土地证拍给我看看，不用给对方看。";
    let after = "大家先休息五分钟。";
    write(&call.mediator, private, Some(&ids.party)).await;
    write(&call.mediator, after, None).await;
    wait_for_text(&call.party, private, "the party's chat").await;
    screenshot(&call.party, "chat-on-a-phone")
        .await
        .expect("a screenshot when asked for");
    wait_for_text(&call.third, after, "the other party's chat").await;
    let party_sees = shown(&call.party).await;
    assert!(
        party_sees
            .iter()
            .any(|(text, privately, from)| text == private && *privately && *from == ids.mediator),
        "the party sees the answer marked private: {party_sees:?}"
    );
    let third_sees = shown(&call.third).await;
    assert_eq!(
        third_sees
            .iter()
            .map(|(text, _, _)| text.as_str())
            .collect::<Vec<_>>(),
        vec![public, after],
        "the other party never sees the private answer"
    );

    // The mediation record: the mediator writes it, saved as typed; presents it; the party on
    // the phone reads it and confirms, the other party says what is wrong.
    click(&call.mediator, "record-open").await;
    let record_text = "甲方称：东侧界桩被移动。\n乙方称：界桩未动。";
    fill(&call.mediator, "record-text", record_text)
        .await
        .expect("type the record");
    wait_until(
        &call.mediator,
        "document.querySelector('[data-testid=record-status]').dataset.state === 'saved'",
        "the record is saved as typed",
    )
    .await;
    click(&call.mediator, "record-present").await;
    for (page, who) in [(&call.party, "the party"), (&call.third, "the other party")] {
        wait_until(
            page,
            &format!(
                "(() => {{ const s = document.querySelector('[data-testid=record-sheet]'); \
                 return !s.hidden && s.querySelector('[data-testid=record-read]').textContent === {}; }})()",
                js(record_text)
            ),
            &format!("{who} reads the record"),
        )
        .await;
    }
    let fits = call
        .party
        .evaluate(
            "document.querySelector('[data-testid=record-sheet]').getBoundingClientRect().width <= innerWidth \
             && document.querySelector('[data-testid=record-confirm]').getBoundingClientRect().width > 0",
        )
        .await
        .expect("read the phone's page");
    assert_eq!(
        fits,
        Value::Bool(true),
        "the record and its button fit the phone"
    );
    click(&call.party, "record-confirm").await;
    click(&call.third, "record-disagree").await;
    let objection = "界桩当年在西侧两米处。";
    fill(&call.third, "record-disagreement", objection)
        .await
        .expect("type the objection");
    click(&call.third, "record-disagree-send").await;
    for (page, who, state) in [
        (&call.party, "the party", "confirmed"),
        (&call.third, "the other party", "disputed"),
    ] {
        wait_until(
            page,
            &format!("window.concord.recordAnswered === '{state}'"),
            &format!("{who}'s answer is taken"),
        )
        .await;
    }
    wait_until(
        &call.mediator,
        "document.querySelectorAll('[data-testid=record-answer]').length === 2",
        "the mediator sees both answers",
    )
    .await;

    // The party on the phone shows a photo through the file picker; everyone sees it
    // full-screen, and can close it.
    let dir = tempfile::tempdir().expect("a directory");
    let photo = dir.path().join("boundary-stone.png");
    draw_test_photo(&photo);
    pick_file(&call.party, &photo).await;
    for (page, who) in [
        (&call.mediator, "the mediator"),
        (&call.third, "the other party"),
        (&call.party, "the party"),
    ] {
        wait_until(
            page,
            "(() => { const v = document.querySelector('[data-testid=document-viewer]'); \
             const i = document.querySelector('[data-testid=document-image]'); \
             return !v.hidden && i.complete && i.naturalWidth === 64 \
               && v.getBoundingClientRect().width === document.documentElement.clientWidth; })()",
            &format!("{who} sees the photo full-screen"),
        )
        .await;
    }
    click(&call.party, "document-zoom-in").await;
    let zoomed = call
        .party
        .evaluate(
            "document.querySelector('[data-testid=document-image]').getBoundingClientRect().width > innerWidth",
        )
        .await
        .expect("read the phone's page");
    assert_eq!(zoomed, Value::Bool(true), "the party zooms in");
    for page in [&call.mediator, &call.third, &call.party] {
        click(page, "document-close").await;
    }

    // The mediator shows a two-page contract as a PDF: the phone, which may have no PDF
    // viewer, shows its pages as pictures, one after the other.
    let contract = dir.path().join("contract.pdf");
    std::fs::write(&contract, pdf_with_pages(2)).expect("write the PDF");
    pick_file(&call.mediator, &contract).await;
    let page_shown = |n: u32| {
        format!(
            "(() => {{ const v = document.querySelector('[data-testid=document-viewer]'); \
             const i = document.querySelector('[data-testid=document-image]'); \
             return !v.hidden && v.dataset.page === '{n}' && i.complete && i.naturalWidth > 0 \
               && document.querySelector('[data-testid=document-page]').textContent.includes('{n} / 2'); }})()"
        )
    };
    wait_until(
        &call.party,
        &page_shown(1),
        "the party sees the contract's first page",
    )
    .await;
    click(&call.party, "document-page-next").await;
    wait_until(&call.party, &page_shown(2), "and turns to the second").await;
    for page in [&call.mediator, &call.third, &call.party] {
        click(page, "document-close").await;
    }

    // The session's record in the console: every message with its time, the private one
    // marked.
    let hash = call
        .mediator
        .evaluate("location.hash")
        .await
        .expect("read the room's address");
    let session_page = hash
        .as_str()
        .and_then(|h| h.strip_suffix("/room"))
        .expect("the mediator's room is at #/sessions/{id}/room")
        .to_owned();
    call.mediator
        .evaluate(&format!("location.hash = {}; true", js(&session_page)))
        .await
        .expect("open the session's page");
    let record = "[...document.querySelectorAll('[data-testid=session-event][data-kind=chat]')]";
    call.mediator
        .wait_for(&format!("{record}.length === 3"), UI_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("the record lists the three messages: {e:#}"));
    let attested = call
        .mediator
        .evaluate(
            "[...document.querySelectorAll('[data-testid=session-event]')] \
             .filter((r) => ['identity_confirmed', 'notice_acknowledged'].includes(r.dataset.kind)) \
             .map((r) => [r.dataset.kind, r.querySelector('time').textContent])",
        )
        .await
        .expect("read the record");
    let attested: Vec<(String, String)> = serde_json::from_value(attested).expect("rows");
    let kinds: Vec<&str> = attested.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "notice_acknowledged",
            "identity_confirmed",
            "identity_confirmed",
            "notice_acknowledged"
        ],
        "{attested:?}"
    );
    assert!(
        attested
            .iter()
            .all(|(_, time)| !time.is_empty() && time != "—"),
        "{attested:?}"
    );
    let rows = call
        .mediator
        .evaluate(&format!(
            "{record}.map((r) => [r.querySelector('time').textContent, \
             r.querySelector('[data-testid=chat-record-text]').textContent, !!r.querySelector('.chat-private')])"
        ))
        .await
        .expect("read the record");
    let rows: Vec<(String, String, bool)> = serde_json::from_value(rows).expect("rows");
    screenshot(&call.mediator, "chat-in-the-session-record")
        .await
        .expect("a screenshot when asked for");
    assert_eq!(
        rows.iter()
            .map(|(_, text, privately)| (text.as_str(), *privately))
            .collect::<Vec<_>>(),
        vec![(public, false), (private, true), (after, false)],
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .all(|(time, _, _)| !time.is_empty() && time != "—"),
        "each with its time: {rows:?}"
    );
    // The record as filed: the text presented, each answer with its time, and the draft.
    let filed = call
        .mediator
        .evaluate(
            "({ presented: [...document.querySelectorAll('[data-testid=record-presented-text]')].map((p) => p.textContent), \
               answers: [...document.querySelectorAll('[data-testid=session-event]')] \
                 .filter((r) => ['record_confirmed', 'record_disputed'].includes(r.dataset.kind)) \
                 .map((r) => [r.dataset.kind, r.querySelector('time').textContent, \
                   (r.querySelector('[data-testid=record-disagreement-text]') || {}).textContent || '']), \
               draft: (document.querySelector('[data-testid=record-draft]') || {}).textContent })",
        )
        .await
        .expect("read the record");
    assert_eq!(
        filed["presented"],
        serde_json::json!([record_text]),
        "{filed}"
    );
    assert_eq!(filed["draft"], record_text, "{filed}");
    let answers: Vec<(String, String, String)> =
        serde_json::from_value(filed["answers"].clone()).expect("rows");
    assert_eq!(
        answers
            .iter()
            .map(|(kind, _, text)| (kind.as_str(), text.as_str()))
            .collect::<Vec<_>>(),
        vec![("record_confirmed", ""), ("record_disputed", objection)],
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|(_, time, _)| !time.is_empty() && time != "—"),
        "{answers:?}"
    );
    let listed = call
        .mediator
        .evaluate(
            "[...document.querySelectorAll('[data-testid=session-document]')].map((d) => d.dataset.sha256)",
        )
        .await
        .expect("read the documents");
    assert_eq!(
        listed,
        serde_json::json!([sha256_of(&photo), sha256_of(&contract)]),
        "the photo and the contract are filed with their hashes"
    );
    call.finish().await;
}
