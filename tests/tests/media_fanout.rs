//! The SFU forwards every participant's audio and video to every other participant (observers
//! receive but are not forwarded), and a participant who leaves is announced and removed from
//! the room.

use std::collections::BTreeSet;

use concord_tests::{JoinAs, MediaKind, Peer, TestServer, MEDIA_TIMEOUT, SIGNAL_TIMEOUT};
use serde_json::Value;

/// Ids of the participants listed in a `joined` message.
fn listed_participants(joined: &Value) -> BTreeSet<String> {
    joined
        .get("participants")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|p| p.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn others<'a>(ids: &'a [String], me: &str) -> Vec<&'a str> {
    ids.iter()
        .map(String::as_str)
        .filter(|id| *id != me)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_participants_each_receive_everyone_elses_audio_and_video() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("mediator, dispute, session");
    let ws = server.ws_url();
    let mut mediator = room
        .mediator_peer(&ws)
        .await
        .expect("the mediator joins with their account");
    assert_eq!(mediator.joined()["role"], "mediator");
    assert_eq!(mediator.joined()["is_host"], true);

    let mut peers = Vec::new();
    for (role, name) in [
        ("party", "Party One"),
        ("party", "Party Two"),
        ("expert", "Surveyor"),
    ] {
        let invitation = room.invite(role, name).await.expect("invite");
        let peer = Peer::join(&ws, JoinAs::Token(&invitation.token), SIGNAL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{name} joins with a real token (lobby off): {e:#}"));
        assert_eq!(peer.joined()["role"], role, "{name}'s role");
        assert_eq!(peer.joined()["is_host"], false, "{name} is not the host");
        peers.push(peer);
    }

    let mut ids = vec![mediator.participant_id().to_owned()];
    ids.extend(peers.iter().map(|p| p.participant_id().to_owned()));
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 4, "participant ids are distinct: {ids:?}");

    // The host is told about each admitted participant.
    for id in &ids[1..] {
        mediator
            .inbox()
            .expect_where("participant_joined", SIGNAL_TIMEOUT, |m| {
                m["type"] == "participant_joined" && m["participant"]["id"] == id.as_str()
            })
            .await
            .expect("the mediator hears participant_joined for each invitee");
    }

    let all: Vec<&Peer> = std::iter::once(&mediator).chain(peers.iter()).collect();
    for peer in &all {
        let from = others(&ids, peer.participant_id());
        let received = peer
            .wait_until_receiving_from(&from, &MediaKind::BOTH, MEDIA_TIMEOUT)
            .await
            .expect("every peer receives audio and video from each of the other three");
        peer.wait_until_keyframe_from(&from, MEDIA_TIMEOUT)
            .await
            .expect("every peer gets a keyframe of each other video, so a decoder can start");
        assert!(
            !received.keys().any(|(p, _)| p == peer.participant_id()),
            "{} is not sent its own media back: {:?}",
            peer.participant_id(),
            received.keys().collect::<Vec<_>>()
        );
        assert!(
            peer.negotiation_errors().is_empty(),
            "{} negotiated cleanly: {:?}",
            peer.participant_id(),
            peer.negotiation_errors()
        );
    }

    for peer in peers {
        peer.close().await;
    }
    mediator.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_participant_is_announced_and_cleaned_up() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("mediator, dispute, session");
    let ws = server.ws_url();
    let mut mediator = room.mediator_peer(&ws).await.expect("the mediator joins");
    let stay_inv = room.invite("party", "Stays").await.expect("invite");
    let leave_inv = room.invite("party", "Leaves").await.expect("invite");
    let mut stays = Peer::join(&ws, JoinAs::Token(&stay_inv.token), SIGNAL_TIMEOUT)
        .await
        .expect("the first party joins");
    let mut leaves = Peer::join(&ws, JoinAs::Token(&leave_inv.token), SIGNAL_TIMEOUT)
        .await
        .expect("the second party joins");
    let (m_id, s_id, l_id) = (
        mediator.participant_id().to_owned(),
        stays.participant_id().to_owned(),
        leaves.participant_id().to_owned(),
    );

    // Media is up between everyone before anyone leaves.
    mediator
        .wait_until_receiving_from(&[&s_id, &l_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the mediator receives both parties");
    stays
        .wait_until_receiving_from(&[&m_id, &l_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the staying party receives the mediator and the leaving party");

    leaves
        .leave(SIGNAL_TIMEOUT)
        .await
        .expect("after `leave` the server closes the socket");

    for (who, peer) in [("mediator", &mut mediator), ("staying party", &mut stays)] {
        let left = peer
            .inbox()
            .expect_where("participant_left", SIGNAL_TIMEOUT, |m| {
                m["type"] == "participant_left" && m["participant_id"] == l_id.as_str()
            })
            .await
            .unwrap_or_else(|e| panic!("the {who} is told who left: {e:#}"));
        assert_eq!(left["reason"], "left", "the {who} is told why: {left}");
    }

    // Cleaned up: a newcomer is not told about the leaver and gets no media from them, while the
    // rest of the room carries on.
    let late_inv = room.invite("expert", "Latecomer").await.expect("invite");
    let late = Peer::join(&ws, JoinAs::Token(&late_inv.token), SIGNAL_TIMEOUT)
        .await
        .expect("a latecomer joins");
    let listed = listed_participants(late.joined());
    assert!(
        listed.contains(&m_id) && listed.contains(&s_id),
        "the latecomer sees the mediator and the staying party: {}",
        late.joined()
    );
    assert!(
        !listed.contains(&l_id),
        "the latecomer is not told about the participant who left: {}",
        late.joined()
    );
    late.wait_until_receiving_from(&[&m_id, &s_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the latecomer receives the remaining participants");
    for kind in MediaKind::BOTH {
        assert_eq!(
            late.packets_from(&l_id, kind),
            0,
            "the latecomer gets no {kind} from the participant who left"
        );
    }
    let before = mediator.packets_from(&s_id, MediaKind::Video);
    mediator
        .wait_until_received(&[&s_id], &[MediaKind::Video], before + 30, MEDIA_TIMEOUT)
        .await
        .expect("media keeps flowing between those who stayed");

    late.close().await;
    leaves.close().await;
    stays.close().await;
    mediator.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_receives_the_room_and_is_not_forwarded_to_anyone() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("mediator, dispute, session");
    let ws = server.ws_url();
    let mediator = room.mediator_peer(&ws).await.expect("the mediator joins");
    let party_inv = room.invite("party", "Party One").await.expect("invite");
    let party = Peer::join(&ws, JoinAs::Token(&party_inv.token), SIGNAL_TIMEOUT)
        .await
        .expect("the party joins");
    let observer = room
        .observer_peer(&ws, "Trainee")
        .await
        .expect("the observer joins, offering to receive only");
    assert_eq!(observer.joined()["role"], "observer");

    let (m_id, p_id, o_id) = (
        mediator.participant_id().to_owned(),
        party.participant_id().to_owned(),
        observer.participant_id().to_owned(),
    );
    observer
        .wait_until_receiving_from(&[&m_id, &p_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the observer sees and hears the mediator and the party");
    mediator
        .wait_until_receiving_from(&[&p_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the mediator receives the party");
    party
        .wait_until_receiving_from(&[&m_id], &MediaKind::BOTH, MEDIA_TIMEOUT)
        .await
        .expect("the party receives the mediator");
    for peer in [&mediator, &party] {
        assert!(
            !peer.received().keys().any(|(from, _)| *from == o_id),
            "{} gets no track from the observer: {:?}",
            peer.participant_id(),
            peer.received()
        );
    }

    observer.close().await;
    party.close().await;
    mediator.close().await;
    server.shutdown().await;
}
