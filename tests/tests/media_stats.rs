//! The SFU's counters, read by an admin over the API: packets in and out of a live room and how
//! long the SFU held them; nobody else may read them.

use concord_tests::{MediaKind, TestServer, MEDIA_TIMEOUT};
use serde_json::Value;

fn count(room: &Value, field: &str) -> u64 {
    room[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is a count: {room}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_what_each_room_forwarded_and_how_long_it_held_packets() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("mediator, dispute, session");
    let ws = server.ws_url();
    let mediator = room.mediator_peer(&ws).await.expect("the mediator joins");
    let parties = room
        .party_peers(&ws, &["Party One", "Party Two"])
        .await
        .expect("the parties join");
    let ids: Vec<String> = std::iter::once(&mediator)
        .chain(parties.iter())
        .map(|p| p.participant_id().to_owned())
        .collect();
    for peer in std::iter::once(&mediator).chain(parties.iter()) {
        let from: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| *id != peer.participant_id())
            .collect();
        peer.wait_until_receiving_from(&from, &MediaKind::BOTH, MEDIA_TIMEOUT)
            .await
            .expect("everyone receives the other two");
    }

    let admin = server.admin().await.expect("admin signs in");
    let stats = admin
        .get("/api/media/stats")
        .await
        .expect("request")
        .ok()
        .expect("an admin reads the media counters");
    let rooms = stats["rooms"].as_array().expect("a list of rooms");
    assert_eq!(rooms.len(), 1, "{stats}");
    let live = &rooms[0];
    assert_eq!(live["peers"], 3, "{live}");
    let packets_in = count(live, "packets_in");
    let packets_out = count(live, "packets_out");
    assert!(packets_in > 0, "{live}");
    // Every packet goes to the two others (a new subscription waits for a keyframe, so a few
    // early video packets go to fewer).
    assert!(packets_out > packets_in, "{live}");
    assert!(packets_out <= 2 * packets_in, "{live}");
    assert!(count(live, "datagrams_out") >= packets_out, "{live}");
    let p50 = count(live, "hold_p50_us");
    let p99 = count(live, "hold_p99_us");
    let max = count(live, "hold_max_us");
    assert!(p50 <= p99 && p99 <= max, "{live}");

    // Counts add up until a reset starts a new window: the read right after it holds only
    // the packets of those few milliseconds, far fewer than the seconds before.
    let at_reset = admin
        .get("/api/media/stats?reset=true")
        .await
        .expect("request")
        .ok()
        .expect("read and reset");
    let before_reset = count(&at_reset["rooms"][0], "packets_in");
    assert!(before_reset >= packets_in, "{at_reset}");
    let after = admin
        .get("/api/media/stats")
        .await
        .expect("request")
        .ok()
        .expect("read again");
    assert!(
        count(&after["rooms"][0], "packets_in") < before_reset,
        "{after}"
    );

    // Only admins: not the mediator, not someone without an account.
    room.mediator
        .get("/api/media/stats")
        .await
        .expect("request")
        .expect_error(403, "forbidden")
        .expect("a mediator is refused");
    server
        .client()
        .expect("client")
        .get("/api/media/stats")
        .await
        .expect("request")
        .expect_error(401, "unauthenticated")
        .expect("no account is refused");

    for peer in parties {
        peer.close().await;
    }
    mediator.close().await;
    server.shutdown().await;
}
