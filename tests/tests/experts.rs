//! An expert brought in mid-session, with real WebRTC peers: the mediator picks one from the
//! roster and invites them; the parties are asked and their answers filed; the expert waits
//! until every party has accepted, and is turned away if one declines. An expert who advises
//! the mediator only is seen and heard by the mediator and by nobody else.

use std::sync::atomic::Ordering;
use std::time::Duration;

use concord_tests::server::id_of;
use concord_tests::{
    msg_type, MediaKind, Peer, PeerOptions, Room, TestServer, MEDIA_TIMEOUT, SIGNAL_TIMEOUT,
};
use serde_json::{json, Value};

/// How long the parties are watched for anything of an expert who advises the mediator only.
const WATCHED_FOR: Duration = Duration::from_secs(6);

/// A roster entry made by the room's mediator; its id.
async fn land_expert(room: &Room) -> String {
    let created = room
        .mediator
        .post(
            "/api/experts",
            json!({"name": "王工", "specialty": "土地", "center": "县自然资源局", "phone": "13900000001"}),
        )
        .await
        .expect("add an expert")
        .ok()
        .expect("the mediator adds an expert to the roster");
    id_of(&created["expert"]).expect("the expert's id")
}

/// The mediator invites roster entry `expert` with `scope`: the link's token and invitation id.
async fn invite_expert(room: &Room, expert: &str, scope: &str) -> (String, String) {
    let invited = room
        .mediator
        .post(
            &format!("/api/sessions/{}/expert-invitations", room.session_id),
            json!({"expert_id": expert, "scope": scope}),
        )
        .await
        .expect("invite the expert")
        .ok()
        .expect("the mediator invites the expert");
    assert!(
        invited["url"].as_str().is_some_and(|u| u.contains("/j/")),
        "a link to send: {invited}"
    );
    (
        invited["token"].as_str().expect("a token").to_owned(),
        invited["invitation"]["id"]
            .as_str()
            .expect("an id")
            .to_owned(),
    )
}

/// The next `expert_invitation` message of `peer` for which `check` holds.
async fn expert_update(peer: &mut Peer, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    peer.inbox()
        .expect_where(what, SIGNAL_TIMEOUT, |m| {
            msg_type(m) == "expert_invitation" && check(m)
        })
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:#}"))
}

/// The session's events of `kind`, as its mediator reads them.
fn events_of<'a>(record: &'a Value, kind: &str) -> Vec<&'a Value> {
    record["events"]
        .as_array()
        .map(|events| events.iter().filter(|e| e["kind"] == kind).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expert_advising_the_mediator_waits_for_the_parties_and_reaches_the_mediator_alone() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("mediator, dispute, session");
    let ws = server.ws_url();
    let mediator = room.mediator_peer(&ws).await.expect("the mediator joins");
    let mut parties = room
        .party_peers(&ws, &["张建国", "李秀兰"])
        .await
        .expect("the parties join");

    let expert_id = land_expert(&room).await;
    let (token, invitation_id) = invite_expert(&room, &expert_id, "mediator").await;
    for party in &mut parties {
        let asked = expert_update(party, "each party is asked", |m| {
            m["invitation_id"] == invitation_id.as_str()
        })
        .await;
        assert_eq!(asked["consent"], "waiting", "{asked}");
        assert_eq!(asked["scope"], "mediator", "{asked}");
        assert_eq!(asked["expert"]["specialty"], "土地", "{asked}");
        assert!(
            asked["expert"].get("phone").is_none(),
            "the parties are not shown the expert's phone: {asked}"
        );
    }

    // The expert arrives before the parties have answered: they wait.
    let mut expert_signal = server.signal(None).await.expect("the expert's socket");
    let waiting = expert_signal
        .join_with_token(&token, SIGNAL_TIMEOUT)
        .await
        .expect("the expert's join is answered");
    assert_eq!(msg_type(&waiting), "lobby", "{waiting}");
    assert_eq!(waiting["waiting_for"], "parties_consent", "{waiting}");

    parties[0]
        .send(json!({"type": "answer_expert", "invitation_id": invitation_id, "accept": true}))
        .expect("the first party agrees");
    expert_update(&mut parties[1], "the others see the first answer", |m| {
        m["answers"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let seen = expert_signal
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the expert still waits");
    assert!(
        !seen.iter().any(|m| msg_type(m) == "joined"),
        "one party's yes is not enough: {seen:?}"
    );
    parties[1]
        .send(json!({"type": "answer_expert", "invitation_id": invitation_id, "accept": true}))
        .expect("the second party agrees");
    let joined = expert_signal
        .expect("joined", SIGNAL_TIMEOUT)
        .await
        .expect("once both agreed, the expert is let in");
    assert_eq!(joined["role"], "expert");
    let expert = Peer::start(expert_signal, joined, PeerOptions::default())
        .await
        .expect("the expert's media");
    let expert_pid = expert.participant_id().to_owned();
    for party in &mut parties {
        let shown = party
            .inbox()
            .expect_where("the expert is announced", SIGNAL_TIMEOUT, |m| {
                msg_type(m) == "participant_joined" && m["participant"]["id"] == expert_pid.as_str()
            })
            .await
            .expect("the parties are told the expert is in");
        assert_eq!(
            shown["participant"]["hosts_only"], true,
            "marked as advising the mediator only: {shown}"
        );
    }

    // The expert sees and hears everyone; the mediator sees and hears the expert.
    let everyone: Vec<&str> = std::iter::once(mediator.participant_id())
        .chain(parties.iter().map(Peer::participant_id))
        .collect();
    expert
        .wait_until_receiving_from(&everyone, &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the expert receives the mediator and both parties");
    mediator
        .wait_until_receiving_from(&[expert_pid.as_str()], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the mediator receives the expert");
    let published = |expert: &Peer| {
        let counters = expert.published();
        (
            counters.audio_packets.load(Ordering::Relaxed),
            counters.video_packets.load(Ordering::Relaxed),
        )
    };
    let before = published(&expert);
    tokio::time::sleep(WATCHED_FOR).await;
    let after = published(&expert);
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "the expert kept sending: {before:?} then {after:?}"
    );
    for (party, name) in parties.iter().zip(["the first party", "the second party"]) {
        let got = (
            party.packets_from(&expert_pid, MediaKind::Audio),
            party.packets_from(&expert_pid, MediaKind::Video),
        );
        assert_eq!(
            got,
            (0, 0),
            "{name} gets nothing of an expert advising the mediator only"
        );
    }

    // In the case file: the invitation, both answers and the admission, in that order.
    let record = room.session_record().await.expect("the session's record");
    let invited = events_of(&record, "expert_invited");
    let consents = events_of(&record, "expert_consent");
    let admitted: Vec<&Value> = events_of(&record, "admitted")
        .into_iter()
        .filter(|e| e["actor"] == "王工")
        .collect();
    assert_eq!(invited.len(), 1, "{record}");
    assert_eq!(consents.len(), 2, "{record}");
    assert_eq!(admitted.len(), 1, "{record}");
    let detail: Value = serde_json::from_str(invited[0]["detail"].as_str().unwrap_or("{}"))
        .expect("the invitation's detail");
    assert_eq!(detail["scope"], "mediator");
    assert_eq!(detail["specialty"], "土地");
    let mut names = Vec::new();
    for consent in &consents {
        let answer: Value = serde_json::from_str(consent["detail"].as_str().unwrap_or("{}"))
            .expect("an answer's detail");
        assert_eq!(answer["accepted"], true, "{consent}");
        assert_eq!(answer["invitation_id"], invitation_id.as_str());
        names.push(consent["actor"].as_str().unwrap_or_default().to_owned());
    }
    names.sort();
    assert_eq!(names, ["张建国", "李秀兰"]);
    let at = |e: &Value| e["at"].as_i64().expect("a time");
    assert!(
        at(invited[0]) <= at(consents[0])
            && at(consents[0]) <= at(consents[1])
            && at(consents[1]) <= at(admitted[0]),
        "invited, answered, admitted, in time order: {record}"
    );

    expert.close().await;
    for party in parties {
        party.close().await;
    }
    mediator.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_who_declines_keeps_the_expert_out_and_only_parties_answer() {
    let server = TestServer::start().await.expect("start the server");
    let (room, mut host, _host_id) = server.hosted_room(false).await.expect("a hosted room");
    let party_invitation = room.invite("party", "张建国").await.expect("a party");
    let (mut party, _) = server
        .join_by_link(&party_invitation.token)
        .await
        .expect("the party joins");
    let observer_invitation = room.invite("observer", "旁听").await.expect("an observer");
    let (mut observer, _) = server
        .join_by_link(&observer_invitation.token)
        .await
        .expect("the observer joins");

    let expert_id = land_expert(&room).await;
    let (token, invitation_id) = invite_expert(&room, &expert_id, "room").await;
    let mut expert = server.signal(None).await.expect("the expert's socket");
    let waiting = expert
        .join_with_token(&token, SIGNAL_TIMEOUT)
        .await
        .expect("the expert waits");
    assert_eq!(msg_type(&waiting), "lobby", "{waiting}");
    let expert_pid = waiting["participant_id"]
        .as_str()
        .expect("the expert's id")
        .to_owned();

    // Only parties answer; the host cannot let the expert in over the parties' heads.
    let answer = json!({"type": "answer_expert", "invitation_id": invitation_id, "accept": true});
    for (client, who) in [(&mut host, "the host"), (&mut observer, "an observer")] {
        client.send(answer.clone()).expect("send");
        let error = client
            .expect("error", SIGNAL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{who} is refused: {e:#}"));
        assert_eq!(error["code"], "forbidden", "{who}: {error}");
    }
    host.send(json!({"type": "admit", "participant_id": expert_pid}))
        .expect("send");
    let error = host
        .expect("error", SIGNAL_TIMEOUT)
        .await
        .expect("the host is told the parties have not agreed");
    assert_eq!(error["code"], "conflict", "{error}");
    party
        .send(json!({"type": "answer_expert", "invitation_id": "made-up", "accept": true}))
        .expect("send");
    let error = party
        .expect("error", SIGNAL_TIMEOUT)
        .await
        .expect("an unknown invitation");
    assert_eq!(error["code"], "not_found", "{error}");

    party
        .send(json!({"type": "answer_expert", "invitation_id": invitation_id, "accept": false}))
        .expect("the party declines");
    let refusal = expert
        .expect("error", SIGNAL_TIMEOUT)
        .await
        .expect("the expert is told");
    assert_eq!(refusal["code"], "forbidden", "{refusal}");
    expert
        .expect_closed(SIGNAL_TIMEOUT)
        .await
        .expect("and let go");
    let update = host
        .inbox()
        .expect_where("the host sees the answer", SIGNAL_TIMEOUT, |m| {
            msg_type(m) == "expert_invitation" && m["consent"] == "declined"
        })
        .await
        .expect("the mediator is told who declined");
    assert_eq!(update["answers"][0]["name"], "张建国", "{update}");
    assert_eq!(update["joined"], false);

    // Coming back on the link while the answer stands is refused again.
    let mut again = server.signal(None).await.expect("another socket");
    let reply = again
        .join_with_token(&token, SIGNAL_TIMEOUT)
        .await
        .expect("an answer");
    assert_eq!(msg_type(&reply), "error", "{reply}");

    let record = room.session_record().await.expect("the record");
    let consents = events_of(&record, "expert_consent");
    assert_eq!(consents.len(), 1, "{record}");
    assert!(
        consents[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("\"accepted\":false")),
        "{record}"
    );
    server.shutdown().await;
}

/// The roster and the invitation endpoint refuse bad input with clear errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_and_expert_invitations_refuse_bad_input() {
    let server = TestServer::start().await.expect("start the server");
    let room = server.room(false).await.expect("a room");
    let expert_id = land_expert(&room).await;
    let roster = room
        .mediator
        .get("/api/experts?specialty=%E5%9C%9F%E5%9C%B0")
        .await
        .expect("the roster")
        .ok()
        .expect("read");
    assert_eq!(
        roster["experts"].as_array().map(Vec::len),
        Some(1),
        "{roster}"
    );
    let none = room
        .mediator
        .get("/api/experts?specialty=%E5%8A%B3%E5%8A%A8")
        .await
        .expect("the roster")
        .ok()
        .expect("read");
    assert_eq!(none["experts"].as_array().map(Vec::len), Some(0), "{none}");

    let path = format!("/api/sessions/{}/expert-invitations", room.session_id);
    let cases = [
        (
            json!({"expert_id": "nobody", "scope": "room"}),
            404,
            "not_found",
        ),
        (
            json!({"expert_id": expert_id, "scope": "everyone"}),
            400,
            "validation_failed",
        ),
        (json!({"expert_id": expert_id}), 400, "validation_failed"),
    ];
    for (body, status, code) in cases {
        let response = room.mediator.post(&path, body.clone()).await.expect("post");
        response
            .expect_error(status, code)
            .unwrap_or_else(|e| panic!("{body}: {e:#}"));
    }
    let nameless = room
        .mediator
        .post(
            "/api/experts",
            json!({"name": " ", "specialty": "土地", "center": ""}),
        )
        .await
        .expect("post");
    nameless
        .expect_error(400, "validation_failed")
        .expect("a nameless expert is refused");
    server.shutdown().await;
}
