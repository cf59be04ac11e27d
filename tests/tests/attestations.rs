//! Identity and notices over signaling: the mediator confirms who each party (and the expert)
//! is, each party acknowledges the notice of their rights; everyone in the room sees both,
//! only the mediator may confirm and only a party acknowledges, and the case file keeps each
//! with its time, across a restart of the room's memory too.

use concord_tests::{SignalClient, SIGNAL_TIMEOUT};
use serde_json::{json, Value};

async fn joined_by_link(
    server: &concord_tests::TestServer,
    room: &concord_tests::Room,
    role: &str,
    name: &str,
) -> (SignalClient, Value) {
    let invitation = room.invite(role, name).await.expect("invite");
    server
        .join_by_link(&invitation.token)
        .await
        .expect("joined by link")
}

fn id_of(joined: &Value) -> String {
    joined["participant_id"]
        .as_str()
        .expect("participant id")
        .to_owned()
}

/// The attestation of `participant` in a `joined`.
fn standing_in(joined: &Value, participant: &str) -> Value {
    joined["attestations"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["participant_id"] == participant))
        .cloned()
        .unwrap_or(Value::Null)
}

async fn next_attestation(client: &mut SignalClient, participant: &str, who: &str) -> Value {
    client
        .inbox()
        .expect_where("attestation", SIGNAL_TIMEOUT, |m| {
            m["type"] == "attestation" && m["participant_id"] == participant
        })
        .await
        .unwrap_or_else(|e| panic!("{who} is told of {participant}'s standing: {e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mediator_confirms_identities_parties_acknowledge_the_notice_and_the_record_keeps_both()
{
    let server = concord_tests::TestServer::start()
        .await
        .expect("start the server");
    let (room, mut host, host_id) = server.hosted_room(false).await.expect("a session");
    let (mut a, a_joined) = joined_by_link(&server, &room, "party", "Party A").await;
    let (mut expert, expert_joined) = joined_by_link(&server, &room, "expert", "Expert").await;
    let (mut observer, observer_joined) =
        joined_by_link(&server, &room, "observer", "Observer").await;
    let (a_id, expert_id, observer_id) = (
        id_of(&a_joined),
        id_of(&expert_joined),
        id_of(&observer_joined),
    );
    let version = a_joined["notice_version"]
        .as_str()
        .expect("joined names the notice")
        .to_owned();
    assert_eq!(
        standing_in(&a_joined, &a_id),
        json!({"participant_id": a_id, "identity": null, "notice_acknowledged": false}),
        "nobody is confirmed at first: {a_joined}"
    );

    // The party reads the notice; everyone sees it.
    a.send(json!({"type": "acknowledge_notice", "version": version}))
        .expect("send");
    for (client, who) in [
        (&mut host, "the host"),
        (&mut a, "the party"),
        (&mut expert, "the expert"),
        (&mut observer, "the observer"),
    ] {
        let seen = next_attestation(client, &a_id, who).await;
        assert_eq!(seen["notice_acknowledged"], true, "{seen}");
    }
    // The mediator saw the ID card on camera.
    host.send(json!({"type": "confirm_identity", "participant_id": a_id, "method": "id_card"}))
        .expect("send");
    let seen = next_attestation(&mut expert, &a_id, "the expert").await;
    assert_eq!(
        seen,
        json!({"type": "attestation", "participant_id": a_id, "identity": "id_card",
               "notice_acknowledged": true})
    );
    host.send(
        json!({"type": "confirm_identity", "participant_id": expert_id,
                     "method": "other", "note": "县司法局专家库核对"}),
    )
    .expect("send");
    assert_eq!(
        next_attestation(&mut a, &expert_id, "the party").await["identity"],
        "other"
    );

    // What is refused, and how.
    let refusals = [
        (
            "party",
            json!({"type": "confirm_identity", "participant_id": a_id, "method": "id_card"}),
            "forbidden",
            "a party confirming an identity",
        ),
        (
            "expert",
            json!({"type": "acknowledge_notice", "version": version}),
            "forbidden",
            "an expert acknowledging the parties' notice",
        ),
        (
            "host",
            json!({"type": "confirm_identity", "participant_id": observer_id, "method": "id_card"}),
            "forbidden",
            "confirming an observer",
        ),
        (
            "host",
            json!({"type": "confirm_identity", "participant_id": host_id, "method": "known_in_person"}),
            "forbidden",
            "the host confirming themself",
        ),
        (
            "host",
            json!({"type": "confirm_identity", "participant_id": a_id, "method": "other"}),
            "bad_message",
            "'other' without a note",
        ),
        (
            "host",
            json!({"type": "confirm_identity", "participant_id": "nobody", "method": "id_card"}),
            "not_found",
            "confirming someone not in the room",
        ),
        (
            "party",
            json!({"type": "acknowledge_notice", "version": "rights-1999"}),
            "bad_message",
            "an acknowledgment of another wording",
        ),
    ];
    for (who, message, code, what) in refusals {
        let client = match who {
            "host" => &mut host,
            "party" => &mut a,
            _ => &mut expert,
        };
        client.send(message).expect("send");
        client
            .expect_error(code, SIGNAL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{what} is refused with {code}: {e:#}"));
    }

    // Someone arriving later is told where everyone stands.
    let (_late, late_joined) = joined_by_link(&server, &room, "party", "Party B").await;
    let late_id = id_of(&late_joined);
    assert_eq!(standing_in(&late_joined, &a_id)["identity"], "id_card");
    assert_eq!(
        standing_in(&late_joined, &a_id)["notice_acknowledged"],
        true
    );
    assert_eq!(standing_in(&late_joined, &expert_id)["identity"], "other");
    assert_eq!(standing_in(&late_joined, &late_id)["identity"], Value::Null);

    // The case file: who was confirmed how and by whom, who acknowledged which notice, each
    // with its time; none of the refused ones.
    let record = room.session_record().await.expect("read the session");
    let filed: Vec<(String, String, Value, i64)> = record["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "identity_confirmed" || e["kind"] == "notice_acknowledged")
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["actor"].as_str().unwrap_or_default().to_owned(),
                serde_json::from_str(e["detail"].as_str().unwrap_or_default())
                    .unwrap_or(Value::Null),
                e["at"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(filed.len(), 3, "{filed:#?}");
    assert_eq!(filed[0].0, "notice_acknowledged");
    assert_eq!(filed[0].1, "Party A");
    assert_eq!(
        filed[0].2,
        json!({"participant_id": a_id, "version": version})
    );
    assert_eq!(filed[1].0, "identity_confirmed");
    assert_eq!(
        filed[1].2,
        json!({"participant_id": a_id, "name": "Party A", "method": "id_card"})
    );
    assert_eq!(
        filed[2].2,
        json!({"participant_id": expert_id, "name": "Expert", "method": "other",
               "note": "县司法局专家库核对"})
    );
    assert!(
        filed.iter().all(|f| f.3 > 0),
        "each with its time: {filed:?}"
    );
    assert_eq!(filed[1].1, filed[2].1, "both confirmed by the mediator");
    server.shutdown().await;
}
