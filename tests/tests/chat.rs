//! The room's chat over signaling: who reads what (a private message reaches its two ends
//! only), who may write to whom, the bounds on size and rate, the history a member sees when
//! they come back, and the record the case file keeps.

use concord_tests::{Room, SignalClient, TestServer, SIGNAL_TIMEOUT};
use serde_json::{json, Value};

/// Someone in the room: their signaling client, participant id and what their `joined` said.
struct Member {
    client: SignalClient,
    id: String,
    name: &'static str,
    joined: Value,
}

async fn invitee(server: &TestServer, room: &Room, role: &str, name: &'static str) -> Member {
    let invitation = room.invite(role, name).await.expect("invite");
    let (client, joined) = server
        .join_by_link(&invitation.token)
        .await
        .expect("joined by link");
    let id = joined["participant_id"]
        .as_str()
        .expect("participant id")
        .to_owned();
    Member {
        client,
        id,
        name,
        joined,
    }
}

/// The texts of the chat history in a `joined`.
fn history(joined: &Value) -> Vec<String> {
    joined["chat"]
        .as_array()
        .expect("joined carries the chat")
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

/// The next chat message `member` receives.
async fn next_chat(member: &mut Member) -> Value {
    member
        .client
        .expect("chat", SIGNAL_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{} receives a chat message: {e:#}", member.name))
}

/// Sends a chat message from `from`.
fn write(from: &Member, text: &str, to: Option<&str>) {
    let mut message = json!({"type": "chat", "text": text});
    if let Some(to) = to {
        message["to"] = json!(to);
    }
    from.client.send(message).expect("send");
}

async fn refused(member: &mut Member, code: &str, what: &str) {
    member
        .client
        .expect_error(code, SIGNAL_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what} is refused with {code}: {e:#}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reaches_whom_it_is_for_within_its_bounds_and_is_filed_with_the_session() {
    let server = TestServer::start().await.expect("start the server");
    let (room, client, id) = server
        .hosted_room(false)
        .await
        .expect("a session, the host in");
    let mut host = Member {
        client,
        id,
        name: "the mediator",
        joined: Value::Null,
    };
    let mut a = invitee(&server, &room, "party", "Party A").await;
    let mut b = invitee(&server, &room, "party", "Party B").await;
    let mut observer = invitee(&server, &room, "observer", "Observer").await;

    // To everyone: everyone reads it, its sender too (that is the sign it was taken).
    write(&a, "  界桩在老槐树东边三步。 ", None);
    let a_id = a.id.clone();
    for member in [&mut host, &mut a, &mut b, &mut observer] {
        let message = next_chat(member).await;
        assert_eq!(message["from"], a_id.as_str(), "{message}");
        assert_eq!(message["from_name"], "Party A", "{message}");
        assert_eq!(
            message["text"], "界桩在老槐树东边三步。",
            "trimmed: {message}"
        );
        assert!(message.get("to").is_none(), "{message}");
        assert!(
            message["at_ms"].as_i64().is_some_and(|t| t > 0),
            "{message}"
        );
    }

    // Privately to the mediator: the two ends read it, nobody else.
    write(&a, "我愿意让半米，但不要告诉乙。", Some(&host.id));
    let private = next_chat(&mut host).await;
    assert_eq!(private["to"], host.id.as_str(), "{private}");
    let host_name = a.joined["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["is_host"] == true))
        .map(|p| p["name"].clone())
        .expect("A's joined names the mediator");
    assert_eq!(private["to_name"], host_name, "{private}");
    assert_eq!(next_chat(&mut a).await["id"], private["id"]);
    // The mediator answers B privately, then writes to everyone: B and the observer read the
    // private answer (B) and the public message next, never A's private one.
    write(&host, "乙，请把土地证拍给我看看。", Some(&b.id));
    write(&host, "我们休息五分钟。", None);
    let to_b = next_chat(&mut b).await;
    assert_eq!(to_b["to"], b.id.as_str(), "{to_b}");
    assert_eq!(next_chat(&mut b).await["text"], "我们休息五分钟。");
    assert_eq!(next_chat(&mut observer).await["text"], "我们休息五分钟。");
    let host_sees: Vec<Value> = vec![next_chat(&mut host).await, next_chat(&mut host).await];
    assert_eq!(host_sees[0]["id"], to_b["id"]);
    assert_eq!(next_chat(&mut a).await["text"], "我们休息五分钟。");

    // Who may not write what.
    write(&a, "乙，你别想多占。", Some(&b.id));
    refused(
        &mut a,
        "forbidden",
        "a party writing privately to another party",
    )
    .await;
    write(&observer, "我只是旁听。", None);
    refused(&mut observer, "forbidden", "an observer writing").await;
    write(&a, " \n ", None);
    refused(&mut a, "bad_message", "an empty message").await;
    write(&a, &"长".repeat(1001), None);
    refused(&mut a, "bad_message", "a message over 1000 characters").await;
    write(&host, "hello", Some("nobody-by-that-id"));
    refused(
        &mut host,
        "not_found",
        "a message to someone not in the room",
    )
    .await;
    // Eight messages in ten seconds, then held back.
    for i in 0..8 {
        write(&b, &format!("第{i}条"), None);
    }
    write(&b, "第九条", None);
    refused(
        &mut b,
        "rate_limited",
        "the ninth message within ten seconds",
    )
    .await;
    let mut texts = Vec::new();
    for _ in 0..8 {
        texts.push(next_chat(&mut host).await["text"].clone());
    }
    assert_eq!(texts.last(), Some(&json!("第7条")), "{texts:?}");

    // B's connection drops and B resumes the seat: the history holds what B may read, the
    // mediator's private answer among it and A's private message not.
    let token = b.joined["resume_token"]
        .as_str()
        .expect("a resume token")
        .to_owned();
    let b_id = b.id.clone();
    drop(b); // no close frame, no leave: the network went
    host.client
        .inbox()
        .expect_where("participant_reconnecting", SIGNAL_TIMEOUT, |m| {
            m["type"] == "participant_reconnecting" && m["participant_id"] == b_id.as_str()
        })
        .await
        .expect("the mediator sees B reconnecting");
    let mut b_again = server.signal(None).await.expect("connect");
    let resumed = b_again
        .resume(&token, SIGNAL_TIMEOUT)
        .await
        .expect("B resumes");
    assert_eq!(resumed["resumed"], true, "{resumed}");
    let seen = history(&resumed);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("界桩在老槐树东边三步。"),
        "{seen:?}"
    );
    for text in ["乙，请把土地证拍给我看看。", "我们休息五分钟。", "第7条"] {
        assert!(seen.iter().any(|t| t == text), "{text} in {seen:?}");
    }
    assert!(
        !seen.iter().any(|t| t == "我愿意让半米，但不要告诉乙。"),
        "another's private message is not in the history: {seen:?}"
    );
    // Someone who joins later reads the messages to everyone only.
    let late = invitee(&server, &room, "expert", "Expert").await;
    let mut public = vec![
        "界桩在老槐树东边三步。".to_owned(),
        "我们休息五分钟。".to_owned(),
    ];
    public.extend((0..8).map(|i| format!("第{i}条")));
    assert_eq!(history(&late.joined), public);

    // The case file: every message taken, with its time, sender, recipient and text; none of
    // the refused ones.
    let record = room.session_record().await.expect("read the session");
    let chat: Vec<Value> = record["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "chat")
        .cloned()
        .collect();
    assert_eq!(chat.len(), 4 + 8, "{chat:#?}");
    // Messages sent within the same millisecond are filed in either order: found by text.
    let detail = |event: &Value| -> Value {
        serde_json::from_str(event["detail"].as_str().expect("detail"))
            .expect("a chat event's detail is the message")
    };
    let private_text = "我愿意让半米，但不要告诉乙。";
    let (event, filed) = chat
        .iter()
        .map(|e| (e, detail(e)))
        .find(|(_, d)| d["text"] == private_text)
        .expect("the private message is filed");
    assert_eq!(filed["from_name"], "Party A");
    assert_eq!(filed["to_name"], host_name);
    assert_eq!(event["actor"], "Party A");
    assert_eq!(
        event["at"], private["at_ms"],
        "filed at the time it was sent"
    );
    let times: Vec<i64> = chat.iter().filter_map(|e| e["at"].as_i64()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    server.shutdown().await;
}
