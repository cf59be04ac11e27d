//! The mediation record (笔录) over signaling: the mediator and a clerk write it, saved as they
//! type, an edit of an older version refused; the mediator presents it; each party confirms it
//! or says what they disagree with, on the text presented (its SHA-256, computed here with
//! `sha256sum`); a new text is asked about again; every step the parties and observers may not
//! take is refused; and the record, with its answers and their times, is in the case file and
//! outlasts a server restart.

use concord_tests::files::sha256_of_bytes;
use concord_tests::{msg_type, SignalClient, TestServer, SIGNAL_TIMEOUT};
use serde_json::{json, Value};

fn sha256(text: &str) -> String {
    sha256_of_bytes(text.as_bytes())
}

async fn record_seen(client: &mut SignalClient, who: &str) -> Value {
    client
        .expect("mediation_record", SIGNAL_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{who} is shown the record: {e:#}"))
}

async fn refused(client: &mut SignalClient, code: &str, what: &str) {
    client
        .expect_error(code, SIGNAL_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what} is refused with {code}: {e:#}"));
}

/// Whether `client` was sent no record since (what arrives before a ping's pong).
async fn shown_nothing(client: &mut SignalClient, who: &str) {
    let seen = client.round_trip(SIGNAL_TIMEOUT).await.expect("connected");
    assert!(
        !seen.iter().any(|m| msg_type(m) == "mediation_record"),
        "{who} is shown nothing of the record: {seen:?}"
    );
}

fn save(client: &SignalClient, text: &str, version: i64) {
    client
        .send(json!({"type": "record_draft", "text": text, "version": version}))
        .expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_is_written_presented_confirmed_or_disputed_and_filed() {
    let mut server = TestServer::start().await.expect("start the server");
    let (room, mut host, _) = server
        .hosted_room(false)
        .await
        .expect("a session, the host in");
    let clerk_account = server.account("staff").await.expect("a clerk's account");
    let (mut clerk, _) = server
        .join_as_host(&clerk_account, &room.session_id)
        .await
        .expect("the clerk attends");
    let mut members = Vec::new();
    for (role, name) in [("party", "甲"), ("party", "乙"), ("observer", "旁听")] {
        let invitation = room.invite(role, name).await.expect("invite");
        let (client, joined) = server
            .join_by_link(&invitation.token)
            .await
            .expect("joined by link");
        assert!(
            joined["mediation_record"]["presented"].is_null()
                && joined["mediation_record"]["draft"].is_null(),
            "{name} sees no record before it is presented: {joined}"
        );
        let id = joined["participant_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        members.push((client, id, name));
    }
    let [(mut a, a_id, _), (mut b, b_id, _), (mut observer, _, _)] =
        <[_; 3]>::try_from(members).unwrap_or_else(|_| panic!("three invitees"));

    // Written as typed, by the mediator and the clerk; an edit of an older version is refused
    // and its writer shown the newer text.
    let first = "甲方称：东侧界桩被移动。";
    save(&host, first, 0);
    for (client, who) in [(&mut host, "the mediator"), (&mut clerk, "the clerk")] {
        let seen = record_seen(client, who).await;
        assert_eq!(seen["draft"]["version"], 1, "{seen}");
        assert_eq!(seen["draft"]["text"], first, "{seen}");
    }
    let second = "甲方称：东侧界桩被移动。乙方称：界桩未动，以1998年地籍图为准。";
    save(&clerk, second, 1);
    for (client, who) in [(&mut host, "the mediator"), (&mut clerk, "the clerk")] {
        let seen = record_seen(client, who).await;
        assert_eq!(seen["draft"]["version"], 2, "{who}: {seen}");
    }
    save(&host, "调解员的另一稿", 1);
    refused(
        &mut host,
        "conflict",
        "an edit of version 1 after version 2",
    )
    .await;
    let newer = record_seen(&mut host, "the mediator").await;
    assert_eq!(newer["draft"]["text"], second, "{newer}");
    for (client, who) in [(&mut a, "a party"), (&mut observer, "the observer")] {
        shown_nothing(client, who).await;
    }

    // What the others may not do.
    save(&a, "甲自己写的", 2);
    refused(&mut a, "forbidden", "a party writing the record").await;
    save(&observer, "旁听者写的", 2);
    refused(&mut observer, "forbidden", "an observer writing the record").await;
    for (client, who) in [(&mut a, "a party"), (&mut clerk, "the clerk")] {
        client
            .send(json!({"type": "present_record"}))
            .expect("send");
        refused(client, "forbidden", &format!("{who} presenting the record")).await;
    }

    // Presented: each party reads exactly the text, with its hash.
    host.send(json!({"type": "present_record"})).expect("send");
    let hash = sha256(second);
    for (client, who) in [
        (&mut a, "甲"),
        (&mut b, "乙"),
        (&mut observer, "the observer"),
    ] {
        let seen = record_seen(client, who).await;
        assert_eq!(seen["presented"]["text"], second, "{who}: {seen}");
        assert_eq!(seen["presented"]["sha256"], hash.as_str(), "{who}: {seen}");
        assert!(seen["draft"].is_null(), "{who} sees no draft: {seen}");
    }

    // Answers: to the text presented, a disagreement says what.
    let answer = |agrees: bool, disagreement: &str, sha: &str| json!({"type": "answer_record", "sha256": sha, "agrees": agrees, "disagreement": disagreement});
    a.send(answer(true, "", "0000")).expect("send");
    refused(&mut a, "conflict", "an answer to another text").await;
    b.send(answer(false, "  ", &hash)).expect("send");
    refused(&mut b, "bad_message", "a disagreement that says nothing").await;
    observer.send(answer(true, "", &hash)).expect("send");
    refused(&mut observer, "forbidden", "an observer's answer").await;
    a.send(answer(true, "", &hash)).expect("send");
    let a_sees = record_seen(&mut a, "甲").await;
    assert_eq!(
        a_sees["answers"].as_array().map(Vec::len),
        Some(1),
        "{a_sees}"
    );
    let disagreement = "界桩当年就在西侧两米处，地籍图有误。";
    b.send(answer(false, disagreement, &hash)).expect("send");
    // (What 甲's answer changed reaches 乙 first, with nothing of 甲's in it.)
    let mut b_sees = record_seen(&mut b, "乙").await;
    assert_eq!(
        b_sees["answers"],
        json!([]),
        "乙 sees nothing of 甲's answer: {b_sees}"
    );
    b_sees = record_seen(&mut b, "乙").await;
    let b_answers = b_sees["answers"].as_array().cloned().unwrap_or_default();
    assert_eq!(b_answers.len(), 1, "乙 sees only its own answer: {b_sees}");
    assert_eq!(b_answers[0]["participant_id"], b_id.as_str());
    let mut host_sees = record_seen(&mut host, "the mediator").await;
    while host_sees["answers"].as_array().map_or(0, Vec::len) < 2 {
        host_sees = record_seen(&mut host, "the mediator").await;
    }
    let by = |id: &str| {
        host_sees["answers"]
            .as_array()
            .and_then(|answers| answers.iter().find(|a| a["participant_id"] == id).cloned())
            .unwrap_or_default()
    };
    assert_eq!(by(&a_id)["agrees"], true, "{host_sees}");
    assert_eq!(by(&b_id)["agrees"], false, "{host_sees}");
    assert_eq!(by(&b_id)["disagreement"], disagreement, "{host_sees}");

    // A new text is asked about again: the answers were to the old one.
    let third = format!("{second}\n乙方对界桩位置有异议，见其意见。");
    save(&host, &third, 2);
    record_seen(&mut host, "the mediator").await;
    host.send(json!({"type": "present_record"})).expect("send");
    let again = loop {
        let seen = record_seen(&mut a, "甲").await;
        if seen["presented"]["text"] == third.as_str() {
            break seen;
        }
    };
    let third_hash = sha256(&third);
    assert_eq!(again["presented"]["sha256"], third_hash.as_str());
    assert_eq!(again["answers"], json!([]), "asked again: {again}");
    a.send(answer(true, "", &hash)).expect("send");
    refused(&mut a, "conflict", "an answer to the text presented before").await;

    // The case file: the draft as typed, and each step with its time.
    let record = room.session_record().await.expect("the session's record");
    assert_eq!(record["record_draft"]["text"], third.as_str(), "{record}");
    let events: Vec<(String, Value, i64)> = record["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("record_")))
        .map(|e| {
            let detail = e["detail"]
                .as_str()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                detail,
                e["at"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    let kinds: Vec<&str> = events.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "record_presented",
            "record_confirmed",
            "record_disputed",
            "record_presented"
        ],
        "{events:?}"
    );
    assert_eq!(events[0].1["sha256"], hash.as_str());
    assert_eq!(events[0].1["text"], second);
    assert_eq!(events[1].1["participant_id"], a_id.as_str());
    assert_eq!(events[2].1["disagreement"], disagreement);
    assert_eq!(events[3].1["sha256"], third_hash.as_str());
    assert!(
        events.windows(2).all(|w| w[0].2 <= w[1].2) && events[0].2 > 0,
        "each with its time: {events:?}"
    );

    // A restart loses none of it: a newcomer is asked about the text presented last, and the
    // mediator goes on from the version saved.
    drop((a, b, observer, clerk, host));
    server.restart().await.expect("restart");
    let newcomer = room.invite("party", "丙").await.expect("invite");
    let (_c, joined) = server
        .join_by_link(&newcomer.token)
        .await
        .expect("joined after the restart");
    assert_eq!(
        joined["mediation_record"]["presented"]["sha256"],
        third_hash.as_str(),
        "{joined}"
    );
    let (mut host, _) = server
        .join_as_host(&room.mediator, &room.session_id)
        .await
        .expect("the mediator is back");
    save(&host, &format!("{third}\n（续）"), 3);
    let seen = record_seen(&mut host, "the mediator").await;
    assert_eq!(seen["draft"]["version"], 4, "{seen}");
    server.shutdown().await;
}
