//! Getting through restrictive networks, with real Chromium; the third page runs in a network
//! namespace whose nftables rules play the network.
//!
//! - UDP blocked: with no setting changed, its browser reaches the SFU over TCP (ICE-TCP, the
//!   passive TCP candidate beside the UDP one): it decodes the others and they decode it, while
//!   the other two stay on UDP. Connections that send garbage, an oversized frame or nothing at
//!   all are closed, and too many from one address are refused, without disturbing that
//!   party's media.
//! - Nothing reaches the media port, UDP or TCP: the browser goes through a real coturn with the
//!   short-lived credentials Concord handed it, and everyone still sees everyone.
//! - Media cut off for a while, then back: the page restarts ICE on the same peer connection
//!   (no new connection, nobody sees it leave) and media flows again both ways.
//! - The whole path gone for ten seconds (signaling too): the page reconnects and resumes its
//!   seat by itself, the others see "reconnecting" on its tile, never a leave, and media flows
//!   again.
//!
//! Needs root, iproute2, nftables, coturn and Debian's `chromium`.

use std::net::SocketAddr;
use std::time::Duration;

use concord_tests::call::{sample, Call, CallSetup, ONE_CALL_AT_A_TIME};
use concord_tests::chromium::Page;
use concord_tests::netns::Netns;
use concord_tests::probes::StatsSample;
use concord_tests::turn::TurnServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The transport of the page's selected ICE candidate pair.
const SELECTED_PAIR: &str = r#"(async () => {
    const pc = window.concord && window.concord.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((r) => {
        if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
    });
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId) || {};
    const remote = stats.get(pair.remoteCandidateId) || {};
    return { local: local.protocol || null, remote: remote.protocol || null,
             local_type: local.candidateType || null, relay_protocol: local.relayProtocol || null,
             remote_tcp_type: remote.tcpType || null, remote_port: remote.port || null };
})()"#;

/// How long a half-open connection may stay before the server closes it (its first frame is
/// due within 5 s), with a margin for a busy machine.
const SILENT_CLOSED_WITHIN: Duration = Duration::from_secs(10);
/// How soon after its media path is cut a page tries an ICE restart (Chromium calls the path
/// disconnected after a few seconds; the page waits 4 s more), with a margin.
const RESTART_TRIED_WITHIN: Duration = Duration::from_secs(30);
/// How long the party's media path is cut: out of coverage for a while.
const OUTAGE: Duration = Duration::from_secs(12);
/// How soon media is back once the path is.
const RECONNECTED_WITHIN: Duration = Duration::from_secs(30);
/// How long media may take to show it flows (new frames both ways, voices heard).
const FLOWS_WITHIN: Duration = Duration::from_secs(15);
/// Connections one address may hold open at once.
const PER_ADDRESS: usize = 64;

async fn selected_pair(page: &Page) -> Value {
    page.evaluate(SELECTED_PAIR).await.unwrap_or(Value::Null)
}

/// Whether the server has closed `stream` (it reads end-of-stream or an error) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 64];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // The server has nothing to say to a connection that named no peer.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr)
        .await
        .expect("connect to the media port over TCP")
}

/// A STUN binding request naming an ICE username nobody was given.
fn binding_request_for_nobody() -> Vec<u8> {
    let username = b"nobodyxx:theirs00";
    let mut attributes = Vec::new();
    attributes.extend_from_slice(&0x0006u16.to_be_bytes());
    attributes.extend_from_slice(&(username.len() as u16).to_be_bytes());
    attributes.extend_from_slice(username);
    while attributes.len() % 4 != 0 {
        attributes.push(0);
    }
    let mut message = Vec::new();
    message.extend_from_slice(&0x0001u16.to_be_bytes());
    message.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    message.extend_from_slice(&0x2112_A442u32.to_be_bytes());
    message.extend_from_slice(&[7; 12]);
    message.extend_from_slice(&attributes);
    message
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_whose_network_blocks_udp_gets_through_over_tcp() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    // Starting the call waits until every page decodes the other two.
    let call = Call::start(CallSetup {
        third_udp_blocked: true,
        ..CallSetup::default()
    })
    .await;
    let ns = call.ns.as_ref().expect("the blocked party's namespace");

    let third_pair = selected_pair(&call.third).await;
    let mediator_pair = selected_pair(&call.mediator).await;
    let dropped = ns.udp_dropped().expect("read the UDP block's counter");
    println!(
        "UDP blocked: the party's selected pair {third_pair}, the mediator's {mediator_pair}; \
         {dropped} UDP datagrams from the party's namespace dropped"
    );
    assert!(
        dropped > 0,
        "the party's browser tried UDP and it was dropped"
    );
    assert_eq!(third_pair["local"], "tcp", "{third_pair}");
    assert_eq!(third_pair["remote"], "tcp", "{third_pair}");
    assert_eq!(third_pair["remote_tcp_type"], "passive", "{third_pair}");
    assert_eq!(
        mediator_pair["local"], "udp",
        "the others stay on UDP: {mediator_pair}"
    );

    // Bad connections to the same port: each is closed; the party's media goes on.
    let tcp_addr = call
        .server
        .server()
        .expect("the server runs")
        .media_tcp_addr()
        .expect("media over TCP is on by default");
    let mut garbage = connect(tcp_addr).await;
    garbage
        .write_all(&framed(b"\x16\xfe\xfd not a stun message"))
        .await
        .expect("write garbage");
    assert!(
        closed_within(&mut garbage, Duration::from_secs(3)).await,
        "a connection whose first frame is not STUN is closed"
    );
    let mut oversized = connect(tcp_addr).await;
    oversized
        .write_all(&[0xff, 0xff, 0, 1, 0, 0])
        .await
        .expect("write an oversized frame header");
    assert!(
        closed_within(&mut oversized, Duration::from_secs(3)).await,
        "a connection announcing an oversized frame is closed"
    );
    let mut stranger = connect(tcp_addr).await;
    stranger
        .write_all(&framed(&binding_request_for_nobody()))
        .await
        .expect("write a binding request");
    assert!(
        closed_within(&mut stranger, Duration::from_secs(3)).await,
        "a binding request naming nobody is closed"
    );
    // Half-open connections: at most PER_ADDRESS from one address, the rest refused at once,
    // and each closed when it names no peer in time.
    let mut silent = Vec::new();
    for _ in 0..PER_ADDRESS {
        silent.push(connect(tcp_addr).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = connect(tcp_addr).await;
    assert!(
        closed_within(&mut over, Duration::from_secs(3)).await,
        "a connection over the per-address cap is refused"
    );
    let first = silent.first_mut().expect("silent connections");
    assert!(
        !closed_within(first, Duration::from_millis(200)).await,
        "a connection within the cap stays open while it may still speak"
    );
    for stream in &mut silent {
        assert!(
            closed_within(stream, SILENT_CLOSED_WITHIN).await,
            "a silent connection is closed"
        );
    }

    // Meanwhile the party's media went on, both ways.
    media_flows_both_ways(&call, "over TCP").await;
    call.finish().await;
}

/// The third page decodes and hears both others, and the mediator decodes it: each count moves
/// on within [`FLOWS_WITHIN`] (a decoder waits for a keyframe after a change of path).
async fn media_flows_both_ways(call: &Call, how: &str) {
    let ids = &call.ids;
    let before = (sample(&call.third).await, sample(&call.mediator).await);
    let heard = |s: &StatsSample, who: &str| s.audio_from(who).map_or(0, |a| a.packets_received);
    let flowing = |third: &StatsSample, mediator: &StatsSample| {
        [&ids.mediator, &ids.party].iter().all(|who| {
            third.frames_decoded_from(who) > before.0.frames_decoded_from(who)
                && heard(third, who) > heard(&before.0, who)
        }) && mediator.frames_decoded_from(&ids.third) > before.1.frames_decoded_from(&ids.third)
    };
    let deadline = std::time::Instant::now() + FLOWS_WITHIN;
    let mut after = (sample(&call.third).await, sample(&call.mediator).await);
    while !flowing(&after.0, &after.1) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = (sample(&call.third).await, sample(&call.mediator).await);
    }
    for who in [&ids.mediator, &ids.party] {
        assert!(
            after.0.frames_decoded_from(who) > before.0.frames_decoded_from(who),
            "{how}: the party decodes {who}'s video"
        );
        assert!(
            heard(&after.0, who) > heard(&before.0, who),
            "{how}: the party hears {who}"
        );
    }
    assert!(
        after.1.frames_decoded_from(&ids.third) > before.1.frames_decoded_from(&ids.third),
        "{how}: the mediator decodes the party's video"
    );
    // Then a steady rate over a few seconds.
    let start = (sample(&call.third).await, sample(&call.mediator).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = (sample(&call.third).await, sample(&call.mediator).await);
    let fps = |a: &StatsSample, b: &StatsSample, who: &str| {
        a.frames_decoded_from(who)
            .saturating_sub(b.frames_decoded_from(who)) as f64
            / a.elapsed_since(b).as_secs_f64().max(0.1)
    };
    println!(
        "{how}: flowing again {:.1} s after the check began; then the party decodes the \
         mediator's video at {:.1} frames/s ({:?} px high), the mediator the party's at {:.1} \
         frames/s",
        after.0.elapsed_since(&before.0).as_secs_f64(),
        fps(&end.0, &start.0, &ids.mediator),
        end.0.video_from(&ids.mediator).and_then(|v| v.frame_height),
        fps(&end.1, &start.1, &ids.third),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_cut_off_from_the_media_port_gets_through_a_turn_relay() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    let ns = Netns::create().expect("a network namespace (needs root and iproute2)");
    let secret = "a-secret-shared-with-coturn-for-this-test";
    let turn = TurnServer::start(ns.root_addr(), secret).expect("coturn (apt-get install coturn)");
    let urls = turn.urls();
    let call = Call::start(CallSetup {
        netns: Some(ns),
        third_cut_off_from_media: true,
        configure: Some(Box::new(move |config| {
            config.turn.urls = urls;
            config.turn.secret = secret.to_owned();
        })),
        ..CallSetup::default()
    })
    .await;
    let third_pair = selected_pair(&call.third).await;
    let mediator_pair = selected_pair(&call.mediator).await;
    println!(
        "cut off from the media port: the party's selected pair {third_pair} (TURN at {}), the \
         mediator's {mediator_pair}",
        turn.addr()
    );
    assert_eq!(third_pair["local_type"], "relay", "{third_pair}");
    assert_ne!(
        mediator_pair["local_type"], "relay",
        "the others go direct: {mediator_pair}"
    );
    media_flows_both_ways(&call, "through TURN").await;
    call.finish().await;
    drop(turn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_that_stalls_comes_back_by_an_ice_restart_on_the_same_connection() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    let call = Call::start(CallSetup {
        third_in_netns: true,
        ..CallSetup::default()
    })
    .await;
    let ns = call.ns.as_ref().expect("the party's namespace");
    call.third
        .evaluate("window.firstPeerConnection = window.concord.pc; true")
        .await
        .expect("mark the page's peer connection");

    // The party's path to the media port goes away for a while, as out of coverage (its
    // signaling stays).
    let cut_at = std::time::Instant::now();
    call.cut_third_off_from_media()
        .expect("cut the party off from the media port");
    let restarting = call
        .third
        .wait_for("window.concord.iceRestarts >= 1", RESTART_TRIED_WITHIN)
        .await;
    let state = call
        .third
        .evaluate("window.concord.mediaState")
        .await
        .unwrap_or_default();
    assert!(
        restarting.is_ok(),
        "the page restarts ICE when its media stalls (media state {state}): {restarting:?}"
    );
    if let Some(rest) = OUTAGE.checked_sub(cut_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    // The path comes back.
    ns.unblock().expect("give the party its path back");
    let outage = cut_at.elapsed();
    let back = call
        .third
        .wait_for(
            "window.concord.mediaState === 'connected'",
            RECONNECTED_WITHIN,
        )
        .await;
    assert!(back.is_ok(), "media reconnects: {back:?}");
    let same = call
        .third
        .evaluate("window.concord.pc === window.firstPeerConnection")
        .await
        .unwrap_or_default();
    let restarts = call
        .third
        .evaluate("window.concord.iceRestarts")
        .await
        .unwrap_or_default();
    println!(
        "media cut for {:.1} s (state {state}), ICE restarted {restarts} time(s); back on the \
         same peer connection: {same}",
        outage.as_secs_f64()
    );
    assert_eq!(
        same,
        Value::Bool(true),
        "the same peer connection carries on"
    );
    media_flows_both_ways(&call, "after the ICE restart").await;
    call.finish().await;
}

/// How long after its path comes back the page has its seat again and its media connected.
const RESUMED_WITHIN: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_out_of_coverage_for_ten_seconds_comes_back_in_its_seat_by_itself() {
    let _one = ONE_CALL_AT_A_TIME.lock().await;
    let call = Call::start(CallSetup {
        third_in_netns: true,
        // The server notices a dead socket within seconds (the page's own pings are slower).
        configure: Some(Box::new(|config| {
            config.signaling.ping_after_secs = 2;
            config.signaling.drop_after_secs = 4;
        })),
        ..CallSetup::default()
    })
    .await;
    let ns = call.ns.as_ref().expect("the party's namespace");
    let party = &call.ids.third;
    let tile =
        format!("document.querySelector('[data-testid=tile][data-participant-id=\"{party}\"]')");
    call.mediator
        .evaluate(&format!("window.partyTile = {tile}; !!window.partyTile"))
        .await
        .expect("the mediator's tile of the party");

    // Out of coverage: the media port is unreachable, the signaling socket is reset and new
    // ones are refused.
    let cut_at = std::time::Instant::now();
    call.cut_third_off_from_media()
        .expect("cut the party off from the media port");
    let SocketAddr::V4(http) = call.server.http_addr() else {
        panic!("test servers bind IPv4");
    };
    ns.reset_tcp_to(*http.ip(), http.port())
        .expect("cut the party off from signaling");
    let reconnecting = call
        .mediator
        .wait_for(
            "!!window.partyTile && window.partyTile.dataset.reconnecting === 'true'",
            Duration::from_secs(20),
        )
        .await;
    assert!(
        reconnecting.is_ok(),
        "the mediator sees the party reconnecting: {reconnecting:?}"
    );
    if let Some(rest) = Duration::from_secs(10).checked_sub(cut_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    ns.unblock().expect("the party's path comes back");
    let outage = cut_at.elapsed();

    let back = call
        .third
        .wait_for(
            "window.concord.resumes >= 1 && window.concord.signaling === 'connected' \
             && window.concord.mediaState === 'connected'",
            RESUMED_WITHIN,
        )
        .await;
    let state = call
        .third
        .evaluate(
            "JSON.stringify({state: window.concord.state, signaling: window.concord.signaling, \
             resumes: window.concord.resumes, media: window.concord.mediaState, \
             restarts: window.concord.iceRestarts})",
        )
        .await
        .unwrap_or_default();
    println!(
        "whole path cut for {:.1} s; back after {:.1} s more: {state}",
        outage.as_secs_f64(),
        (cut_at.elapsed() - outage).as_secs_f64()
    );
    assert!(back.is_ok(), "the page resumes by itself: {state} {back:?}");
    assert_eq!(
        call.third
            .evaluate("window.concord.state")
            .await
            .unwrap_or_default(),
        "joined",
        "straight back in the room, no lobby"
    );
    let same_tile = call
        .mediator
        .wait_for(
            "window.partyTile.isConnected && window.partyTile.dataset.reconnecting === 'false'",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        same_tile.is_ok(),
        "the mediator's tile of the party was never removed, and is back to normal: {same_tile:?}"
    );
    media_flows_both_ways(&call, "after resuming").await;
    call.finish().await;
}
