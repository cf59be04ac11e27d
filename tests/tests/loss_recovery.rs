//! Packet loss repaired by NACK and retransmission, with real Chromium on both ends.
//!
//! A user-space UDP relay sits between the browsers and the SFU (the server advertises the
//! relay's address as its media address) and drops every 15th VP8 packet of one flow:
//!
//! - on the way from the SFU to a subscriber: the subscriber NACKs and the SFU resends from its
//!   own send buffer (over RTX), without bothering the publisher;
//! - on the way from a publisher to the SFU: the SFU NACKs, the publisher resends, and the
//!   subscriber keeps decoding.
//!
//! Needs `/usr/lib/chromium/chromium` (Debian's `chromium`); fails with a clear message without.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use concord_tests::chromium::{chromium_path, Browser, Page};
use concord_tests::relay::{Direction, FlowCounts, LossRule, Relay};
use concord_tests::webclient::{enter_room, wait_for_remote_streams, BROWSER_TIMEOUT};
use concord_tests::TestServer;

/// Every how many VP8 packets of the lossy flow one is dropped (about 6.7 % loss).
const DROP_EVERY: u32 = 15;
/// Enough drops to be sure loss happened many times, few enough to end by itself.
const MAX_DROPS: u64 = 400;
/// Drops that must have happened before the repair evidence counts.
const MIN_DROPS: u64 = 10;
/// Frames the receiving page must decode while the loss goes on (a few seconds at 20 fps).
const FRAMES_UNDER_LOSS: u64 = 60;
/// How often the pages' statistics are read while waiting.
const POLL: Duration = Duration::from_millis(250);

/// The browser tests are heavy on two cores: run this file's tests one after the other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The page's video RTP statistics, the media path it uses and its SDP (for RTX evidence).
const LOSS_PROBE: &str = "(async () => {
    const c = window.concord;
    if (!c || !c.pc) return null;
    const pc = c.pc;
    const all = await pc.getStats();
    const byId = {};
    all.forEach(r => { byId[r.id] = r; });
    const codec = id => {
        const r = id && byId[id];
        return r ? { payloadType: r.payloadType, mimeType: r.mimeType } : {};
    };
    const inbound = [], outbound = [];
    let local = null;
    all.forEach(r => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') inbound.push({
            ssrc: r.ssrc, rtxSsrc: r.rtxSsrc ?? null, mid: r.mid ?? null, ...codec(r.codecId),
            packetsReceived: r.packetsReceived || 0, packetsLost: r.packetsLost || 0,
            nackCount: r.nackCount || 0,
            retransmittedPacketsReceived: r.retransmittedPacketsReceived ?? null,
            retransmittedBytesReceived: r.retransmittedBytesReceived ?? null,
            framesDecoded: r.framesDecoded || 0, framesDropped: r.framesDropped || 0,
            freezeCount: r.freezeCount || 0, pliCount: r.pliCount || 0,
        });
        if (r.type === 'outbound-rtp' && r.kind === 'video') outbound.push({
            ssrc: r.ssrc, rtxSsrc: r.rtxSsrc ?? null, mid: r.mid ?? null, ...codec(r.codecId),
            packetsSent: r.packetsSent || 0, nackCount: r.nackCount || 0,
            retransmittedPacketsSent: r.retransmittedPacketsSent ?? null,
            retransmittedBytesSent: r.retransmittedBytesSent ?? null,
            framesEncoded: r.framesEncoded || 0, pliCount: r.pliCount || 0,
        });
        if (r.type === 'transport' && r.selectedCandidatePairId) {
            const pair = byId[r.selectedCandidatePairId];
            const lc = pair && byId[pair.localCandidateId];
            if (lc) local = { address: lc.address || lc.ip, port: lc.port, type: lc.candidateType };
        }
    });
    return {
        connection: pc.connectionState,
        inbound, outbound, local,
        localSdp: (pc.localDescription && pc.localDescription.sdp) || '',
        remoteSdp: (pc.remoteDescription && pc.remoteDescription.sdp) || '',
    };
})()";

/// One reading of [`LOSS_PROBE`].
struct Probe(Value);

impl Probe {
    async fn read(page: &Page, who: &str) -> Probe {
        let value = page
            .evaluate(LOSS_PROBE)
            .await
            .unwrap_or_else(|e| panic!("reading {who}'s WebRTC statistics: {e:#}"));
        assert!(value.is_object(), "{who} has a peer connection: {value}");
        Probe(value)
    }

    /// The one video stream of `list` (`inbound` or `outbound`).
    fn video(&self, list: &str, who: &str) -> &Value {
        let streams = self.0[list].as_array().map(Vec::as_slice).unwrap_or(&[]);
        match streams {
            [one] => one,
            _ => panic!(
                "{who} has exactly one {list} video stream: {}",
                self.brief()
            ),
        }
    }

    fn inbound(&self, who: &str) -> &Value {
        self.video("inbound", who)
    }

    /// The page's published video: with simulcast one stream per layer, all sharing the
    /// codec, and the SFU NACKs each layer it receives; their counters are added up.
    fn outbound(&self, who: &str) -> Value {
        let streams = self.0["outbound"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let Some(first) = streams.first() else {
            panic!("{who} publishes video: {}", self.brief());
        };
        let mut total = first.clone();
        for field in [
            "packetsSent",
            "nackCount",
            "retransmittedPacketsSent",
            "framesEncoded",
            "pliCount",
        ] {
            let sum: u64 = streams.iter().map(|s| count(s, field)).sum();
            total[field] = Value::from(sum);
        }
        for stream in streams {
            assert_eq!(
                stream["payloadType"],
                first["payloadType"],
                "{who}'s layers share one codec: {}",
                self.brief()
            );
        }
        total
    }

    /// The address the page sends media from (its end of the selected ICE pair).
    fn local_addr(&self, who: &str) -> SocketAddr {
        let local = &self.0["local"];
        let ip = local["address"]
            .as_str()
            .and_then(|a| a.parse::<IpAddr>().ok());
        let port = local["port"].as_u64().and_then(|p| u16::try_from(p).ok());
        match (ip, port) {
            (Some(ip), Some(port)) => SocketAddr::new(ip, port),
            _ => panic!("{who}'s selected ICE pair has a local address: {local}"),
        }
    }

    /// Everything but the SDP, for messages.
    fn brief(&self) -> String {
        let mut v = self.0.clone();
        if let Some(obj) = v.as_object_mut() {
            obj.remove("localSdp");
            obj.remove("remoteSdp");
        }
        v.to_string()
    }

    fn sdp(&self) -> String {
        format!(
            "{}\n{}",
            self.0["localSdp"].as_str().unwrap_or_default(),
            self.0["remoteSdp"].as_str().unwrap_or_default()
        )
    }
}

fn count(stream: &Value, field: &str) -> u64 {
    stream[field].as_u64().unwrap_or(0)
}

/// The payload type a stream's codec statistics report, which must be VP8.
fn vp8_payload_type(stream: &Value, who: &str) -> u8 {
    assert_eq!(
        stream["mimeType"].as_str(),
        Some("video/VP8"),
        "{who}'s video is VP8 (the relay drops it by payload type): {stream}"
    );
    stream["payloadType"]
        .as_u64()
        .and_then(|pt| u8::try_from(pt).ok())
        .unwrap_or_else(|| panic!("{who}'s video stream names its payload type: {stream}"))
}

/// The RTX payload type negotiated for `pt` (`a=fmtp:RTX apt=PT`) and the SDP lines that say
/// so: `a=rtpmap` of both, the `apt` line, and `a=rtcp-fb:PT nack`.
fn rtx_for(sdp: &str, pt: u8) -> (Option<u8>, Vec<String>) {
    let mut rtx = None;
    for line in sdp.lines() {
        if let Some(rest) = line.strip_prefix("a=fmtp:") {
            if let Some((rtx_pt, params)) = rest.split_once(' ') {
                if params.split(';').any(|p| p.trim() == format!("apt={pt}")) {
                    rtx = rtx_pt.parse().ok();
                }
            }
        }
    }
    let mut wanted = vec![
        format!("a=rtpmap:{pt} "),
        format!("a=rtcp-fb:{pt} nack"),
        format!("apt={pt}"),
    ];
    if let Some(rtx) = rtx {
        wanted.push(format!("a=rtpmap:{rtx} "));
    }
    let mut lines: Vec<String> = sdp
        .lines()
        .filter(|l| wanted.iter().any(|w| l.contains(w.as_str())))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines.dedup();
    (rtx, lines)
}

/// Reads `page`'s statistics until `done` accepts them (with the relay's counts), or panics
/// after [`BROWSER_TIMEOUT`] with the last reading.
async fn wait_until(
    page: &Page,
    who: &str,
    what: &str,
    mut done: impl FnMut(&Probe) -> bool,
    last_counts: impl Fn() -> String,
) -> Probe {
    let deadline = tokio::time::Instant::now() + BROWSER_TIMEOUT;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let probe = Probe::read(page, who).await;
        if done(&probe) {
            return probe;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "timed out after {BROWSER_TIMEOUT:?} waiting for {what}\n{who}'s last statistics: \
                 {}\nrelay: {}\nconsole: {:?}",
                probe.brief(),
                last_counts(),
                page.console()
            );
        }
    }
}

/// A running call: the server behind the relay, one Chromium, the demo mediator publishing
/// and a party, both decoding each other.
struct Call {
    server: TestServer,
    relay: Relay,
    browser: Browser,
    /// The mediator's page: its video is the one made lossy.
    publisher: Page,
    /// The party's page: receives the publisher's video.
    subscriber: Page,
    publisher_addr: SocketAddr,
    subscriber_addr: SocketAddr,
}

impl Call {
    async fn start() -> Call {
        chromium_path().expect("Chromium is required for the browser test");
        let mut relay = Relay::bind().await.expect("bind the relay");
        let relay_port = relay.addr().port();
        let server = TestServer::start_with(|c| {
            c.media.advertised_ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
            c.media.advertised_port = Some(relay_port);
            // The relay carries UDP only: an ICE-TCP path would go around it.
            c.media.tcp = false;
        })
        .await
        .expect("start the server");
        let media_addr = server.server().expect("the server runs").media_addr();
        relay.start(media_addr).expect("start relaying to the SFU");

        let invitations = server.seed_demo().await.expect("seed the demo");
        let url_of = |role: &str| -> String {
            invitations
                .iter()
                .find(|i| i.role == role)
                .map(|i| i.url.clone())
                .unwrap_or_else(|| panic!("the demo has a {role} invitation: {invitations:?}"))
        };
        let browser = Browser::launch().await.expect("launch Chromium");
        let publisher = browser
            .new_page(&url_of("mediator"))
            .await
            .expect("open the mediator's link");
        enter_room(&publisher, "the mediator", false).await;
        let subscriber = browser
            .new_page(&url_of("party"))
            .await
            .expect("open a party's link");
        enter_room(&subscriber, "the party", true).await;
        for (page, who) in [(&publisher, "the mediator"), (&subscriber, "the party")] {
            let connected = page
                .wait_for(
                    "window.concord.pc.connectionState === 'connected'",
                    BROWSER_TIMEOUT,
                )
                .await;
            if let Err(err) = connected {
                panic!(
                    "{who}'s media connection never came up through the relay, which the SFU \
                     advertises as its media address ({}; the SFU itself is bound at \
                     {media_addr}).\nPer relay client: {}\nSTUN going up with nothing coming \
                     back means the SFU ignores checks sent to its advertised address.\n{err:#}",
                    relay.addr(),
                    relay_summary(&relay)
                );
            }
        }
        wait_for_remote_streams(&publisher, "the mediator", 1).await;
        wait_for_remote_streams(&subscriber, "the party", 1).await;

        // Each page's end of its selected ICE pair is what the SFU saw: the relay's upstream
        // socket for that page (a peer-reflexive candidate, as behind a NAT).
        let mut addrs = Vec::new();
        for (page, who) in [(&publisher, "the mediator"), (&subscriber, "the party")] {
            let seen = Probe::read(page, who).await.local_addr(who);
            let client = relay.client_for(seen).unwrap_or_else(|| {
                panic!(
                    "{who}'s media goes through the relay: its selected ICE pair is from {seen}, \
                     relay clients (client, upstream) {:?}, SFU media address {media_addr}",
                    relay.clients()
                )
            });
            addrs.push(client);
        }
        let (publisher_addr, subscriber_addr) = (addrs[0], addrs[1]);
        assert_ne!(
            publisher_addr, subscriber_addr,
            "two distinct relay clients"
        );
        let through = relay.counts(subscriber_addr, Direction::Downstream);
        assert!(
            through.rtp_forwarded > 0,
            "the relay forwards the party's media: {through:?}"
        );
        Call {
            server,
            relay,
            browser,
            publisher,
            subscriber,
            publisher_addr,
            subscriber_addr,
        }
    }

    async fn finish(self) {
        drop(self.publisher);
        drop(self.subscriber);
        self.browser.close().await;
        self.relay.stop().await;
        self.server.shutdown().await;
    }
}

/// What went through the relay per client, by kind: for a failed connection.
fn relay_summary(relay: &Relay) -> String {
    let clients: Vec<String> = relay
        .clients()
        .into_iter()
        .map(|(client, upstream)| {
            let up = relay.counts(client, Direction::Upstream);
            let down = relay.counts(client, Direction::Downstream);
            format!(
                "{client} (upstream socket {upstream}): STUN up {} / down {}, DTLS up {} / down \
                 {}, RTP up {} / down {}, RTCP up {} / down {}",
                up.stun_forwarded,
                down.stun_forwarded,
                up.dtls_forwarded,
                down.dtls_forwarded,
                up.rtp_forwarded,
                down.rtp_forwarded,
                up.rtcp_forwarded,
                down.rtcp_forwarded
            )
        })
        .collect();
    if clients.is_empty() {
        "no datagram reached the relay".to_owned()
    } else {
        clients.join("; ")
    }
}

fn describe(counts: &FlowCounts, pt: u8, rtx: Option<u8>) -> String {
    let (media, dropped) = counts.rtp_of_type(pt);
    let resent = rtx.map(|rtx| counts.rtp_of_type(rtx).0).unwrap_or(0);
    let seqs: Vec<_> = counts
        .by_ssrc
        .iter()
        .filter(|(_, c)| c.dropped > 0)
        .map(|(ssrc, c)| (*ssrc, c.dropped_seqs.clone()))
        .collect();
    format!(
        "VP8 (pt {pt}) forwarded {media}, dropped {dropped}; RTX (pt {rtx:?}) forwarded {resent}; \
         RTCP forwarded {}; first dropped seqs {seqs:?}",
        counts.rtcp_forwarded
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sfu_retransmits_video_lost_on_the_way_to_a_subscriber() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let call = Call::start().await;
    let (sub, publ) = ("the party", "the mediator");

    let before = Probe::read(&call.subscriber, sub).await;
    let inbound = before.inbound(sub).clone();
    let pt = vp8_payload_type(&inbound, sub);
    let (rtx, sdp_lines) = rtx_for(&before.sdp(), pt);
    let rtx = rtx.unwrap_or_else(|| {
        panic!("the SFU offers the party RTX for VP8 (pt {pt}); SDP lines: {sdp_lines:#?}")
    });
    let publisher_before = Probe::read(&call.publisher, publ).await;
    let publisher_before = publisher_before.outbound(publ);
    let flow = || {
        call.relay
            .counts(call.subscriber_addr, Direction::Downstream)
    };
    let rtx_before = flow().rtp_of_type(rtx).0;

    call.relay.set_loss(
        call.subscriber_addr,
        Direction::Downstream,
        Some(LossRule {
            payload_types: vec![pt],
            every_nth: DROP_EVERY,
            max_drops: MAX_DROPS,
        }),
    );
    let repaired = wait_until(
        &call.subscriber,
        sub,
        "the party to NACK dropped packets and receive retransmissions",
        |p| {
            let s = p.inbound(sub);
            let counts = flow();
            counts.rtp_of_type(pt).1 >= MIN_DROPS
                && count(s, "nackCount") > count(&inbound, "nackCount")
                && counts.rtp_of_type(rtx).0 > rtx_before
                && (s["retransmittedPacketsReceived"].is_null()
                    || count(s, "retransmittedPacketsReceived")
                        > count(&inbound, "retransmittedPacketsReceived"))
        },
        || describe(&flow(), pt, Some(rtx)),
    )
    .await;
    let frames_then = count(repaired.inbound(sub), "framesDecoded");
    let still = wait_until(
        &call.subscriber,
        sub,
        "the party to keep decoding while the loss goes on",
        |p| count(p.inbound(sub), "framesDecoded") >= frames_then + FRAMES_UNDER_LOSS,
        || describe(&flow(), pt, Some(rtx)),
    )
    .await;
    let counts = flow();
    let (_, dropped) = counts.rtp_of_type(pt);
    let resent = counts.rtp_of_type(rtx).0 - rtx_before;
    let after = still.inbound(sub);
    let publisher_after = Probe::read(&call.publisher, publ).await;
    let publisher_after = publisher_after.outbound(publ);
    println!(
        "subscriber side\n  relay to the party: {}\n  party inbound video before: {inbound}\n  \
         party inbound video after: {after}\n  mediator outbound video before: \
         {publisher_before}\n  mediator outbound video after: {publisher_after}\n  SDP: \
         {sdp_lines:?}",
        describe(&counts, pt, Some(rtx))
    );
    assert!(
        dropped >= MIN_DROPS,
        "the relay dropped VP8 packets on the way to the party: {counts:?}"
    );
    assert!(
        count(after, "nackCount") > count(&inbound, "nackCount"),
        "the party NACKed the lost packets: {after}"
    );
    assert!(
        resent > 0,
        "the SFU resent packets to the party on RTX (pt {rtx})"
    );
    if !after["retransmittedPacketsReceived"].is_null() {
        assert!(
            count(after, "retransmittedPacketsReceived")
                > count(&inbound, "retransmittedPacketsReceived"),
            "Chromium counts the retransmissions it received: {after}"
        );
    }
    assert_eq!(
        count(&publisher_after, "nackCount"),
        count(&publisher_before, "nackCount"),
        "the SFU answers the party's NACKs from its own send buffer: the mediator, whose uplink \
         is clean, is never asked to resend"
    );

    call.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sfu_asks_a_publisher_to_resend_lost_video() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let call = Call::start().await;
    let (publ, sub) = ("the mediator", "the party");

    let before = Probe::read(&call.publisher, publ).await;
    let outbound = before.outbound(publ);
    let pt = vp8_payload_type(&outbound, publ);
    let (rtx, sdp_lines) = rtx_for(&before.sdp(), pt);
    let rtx = rtx.unwrap_or_else(|| {
        panic!(
            "the mediator's video has RTX negotiated for VP8 (pt {pt}); SDP lines: {sdp_lines:#?}"
        )
    });
    let subscriber_before = Probe::read(&call.subscriber, sub).await;
    let subscriber_before = subscriber_before.inbound(sub).clone();
    let flow = || call.relay.counts(call.publisher_addr, Direction::Upstream);

    call.relay.set_loss(
        call.publisher_addr,
        Direction::Upstream,
        Some(LossRule {
            payload_types: vec![pt],
            every_nth: DROP_EVERY,
            max_drops: MAX_DROPS,
        }),
    );
    // Chromium also sends bandwidth-probing padding on RTX, so the relay's RTX count upstream
    // is no evidence of retransmission: the publisher's own counters are.
    wait_until(
        &call.publisher,
        publ,
        "the SFU to NACK the mediator's dropped packets and the mediator to resend them",
        |p| {
            let s = p.outbound(publ);
            flow().rtp_of_type(pt).1 >= MIN_DROPS
                && count(&s, "nackCount") > count(&outbound, "nackCount")
                && count(&s, "retransmittedPacketsSent")
                    > count(&outbound, "retransmittedPacketsSent")
        },
        || describe(&flow(), pt, Some(rtx)),
    )
    .await;
    let sub_then = Probe::read(&call.subscriber, sub).await;
    let frames_then = count(sub_then.inbound(sub), "framesDecoded");
    let still = wait_until(
        &call.subscriber,
        sub,
        "the party to keep decoding the mediator's video while the loss goes on",
        |p| count(p.inbound(sub), "framesDecoded") >= frames_then + FRAMES_UNDER_LOSS,
        || describe(&flow(), pt, Some(rtx)),
    )
    .await;
    let counts = flow();
    let (_, dropped) = counts.rtp_of_type(pt);
    let after = Probe::read(&call.publisher, publ).await;
    let after = &after.outbound(publ);
    println!(
        "publisher side\n  relay from the mediator: {}\n  mediator outbound video before: \
         {outbound}\n  mediator outbound video after: {after}\n  party inbound video before: \
         {subscriber_before}\n  party inbound video after: {}\n  SDP: {sdp_lines:?}",
        describe(&counts, pt, Some(rtx)),
        still.inbound(sub)
    );
    assert!(
        dropped >= MIN_DROPS,
        "the relay dropped the mediator's VP8 packets on the way to the SFU: {counts:?}"
    );
    assert!(
        count(after, "nackCount") > count(&outbound, "nackCount"),
        "the SFU NACKed the lost packets: {after}"
    );
    assert!(
        count(after, "retransmittedPacketsSent") > count(&outbound, "retransmittedPacketsSent"),
        "the mediator resent what the SFU NACKed: {after}"
    );

    call.finish().await;
}
