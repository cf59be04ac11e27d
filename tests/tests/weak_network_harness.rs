//! The weak-network harness measures what it claims, on this machine:
//!
//! - a namespace's `tbf` caps shape real traffic across its veth (downlink and uplink), and a
//!   cap can be changed and lifted while traffic flows;
//! - the relay's random loss drops the configured share of one client's RTP (STUN never), and
//!   its delay holds that client's datagrams for the configured time each way, while another
//!   client's flow goes through untouched;
//! - Chromium runs inside a namespace, is driven over DevTools from here, loads pages from a
//!   server on the root-side veth, and its traffic is shaped by the cap;
//! - the statistics probe reads a real call between a browser in the namespace and one outside.
//!
//! Needs root, iproute2 (`ip`, `tc`) and Debian's `chromium`; fails with a clear message without.
//! Run with `--nocapture` to see the measured numbers.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use concord_tests::chromium::{chromium_path, secure_origin_flag, Browser};
use concord_tests::netns::Netns;
use concord_tests::probes::StatsSample;
use concord_tests::probes::{AudioWindow, VideoWindow};
use concord_tests::relay::{Direction, RandomLoss, Relay};
use concord_tests::webclient::{enter_room, wait_for_remote_streams};
use concord_tests::TestServer;

/// Measurements want the CPU to themselves (two cores): one test of this file at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// UDP payload of the synthetic flows; with UDP, IP and Ethernet headers (what tbf counts on a
/// veth) a datagram is 1042 bytes on the wire.
const PAYLOAD: usize = 1000;
const WIRE_OVERHEAD: usize = 8 + 20 + 14;
/// What the sender offers: well above every cap under test.
const OFFERED_KBIT: u64 = 2000;
/// A capped rate must measure within this fraction of the cap.
const CAP_TOLERANCE: f64 = 0.15;

/// When each datagram of a synthetic flow arrived, and its size.
type Arrivals = Arc<Mutex<Vec<(Instant, usize)>>>;

/// Receives on `socket` until `done` is set and the socket stays quiet for 300 ms.
fn receive(socket: UdpSocket, done: Arc<AtomicBool>) -> Arrivals {
    let arrivals: Arrivals = Arc::default();
    let sink = Arc::clone(&arrivals);
    std::thread::spawn(move || {
        if socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .is_err()
        {
            return;
        }
        let mut buf = [0u8; 2048];
        loop {
            match socket.recv(&mut buf) {
                Ok(len) => {
                    if let Ok(mut a) = sink.lock() {
                        a.push((Instant::now(), len));
                    }
                }
                Err(_) if done.load(Ordering::Relaxed) => break,
                Err(_) => {}
            }
        }
    });
    arrivals
}

/// Sends `PAYLOAD`-byte datagrams at [`OFFERED_KBIT`] (wire rate) to `to` until `done` is set.
fn blast(socket: UdpSocket, to: SocketAddr, done: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let interval = Duration::from_secs_f64(
            ((PAYLOAD + WIRE_OVERHEAD) * 8) as f64 / (OFFERED_KBIT * 1000) as f64,
        );
        let payload = [0x5au8; PAYLOAD];
        let start = Instant::now();
        let mut sent = 0u64;
        while !done.load(Ordering::Relaxed) {
            // A full qdisc queue drops silently (UDP); any error is just a lost datagram here.
            let _ = socket.send_to(&payload, to);
            sent += 1;
            let next = start + interval * u32::try_from(sent).unwrap_or(u32::MAX);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        sent
    })
}

/// Wire kbit/s of the datagrams that arrived between `from` and `to` after `start`.
fn rate_kbit(arrivals: &Arrivals, start: Instant, from: Duration, to: Duration) -> f64 {
    let bytes: usize = arrivals
        .lock()
        .map(|a| {
            a.iter()
                .filter(|(at, _)| *at >= start + from && *at < start + to)
                .map(|(_, len)| len + WIRE_OVERHEAD)
                .sum()
        })
        .unwrap_or(0);
    (bytes * 8) as f64 / 1000.0 / (to - from).as_secs_f64()
}

fn assert_near(measured: f64, cap: f64, what: &str) {
    assert!(
        (measured - cap).abs() <= cap * CAP_TOLERANCE,
        "{what}: measured {measured:.0} kbit/s, expected {cap:.0} ± {:.0} %",
        CAP_TOLERANCE * 100.0
    );
}

/// One flow across the veth with caps changed on a schedule: `phases` are (length, cap), each
/// applied by `set_cap` at its start while the sender keeps going. Returns the rate measured
/// over each phase, skipping its first `settle` (the tbf queue drains after a change).
fn shaped_flow(
    sender: UdpSocket,
    receiver: UdpSocket,
    to: SocketAddr,
    phases: &[(Duration, Option<u32>)],
    set_cap: impl Fn(Option<u32>),
) -> Vec<f64> {
    let settle = Duration::from_millis(700);
    let done = Arc::new(AtomicBool::new(false));
    set_cap(phases.first().and_then(|(_, cap)| *cap));
    let arrivals = receive(receiver, Arc::clone(&done));
    let start = Instant::now();
    let sending = blast(sender, to, Arc::clone(&done));
    let mut windows = Vec::new();
    let mut at = Duration::ZERO;
    for (i, (length, cap)) in phases.iter().enumerate() {
        if i > 0 {
            set_cap(*cap);
        }
        windows.push((at + settle, at + *length));
        at += *length;
        // A fixed measurement window, not a wait for an event.
        std::thread::sleep((start + at).saturating_duration_since(Instant::now()));
    }
    done.store(true, Ordering::Relaxed);
    let sent = sending.join().unwrap_or(0);
    // Let the receiver see the tail (its 300 ms quiet period).
    std::thread::sleep(Duration::from_millis(500));
    let received = arrivals.lock().map(|a| a.len()).unwrap_or(0);
    println!("  sent {sent} datagrams, received {received}");
    windows
        .into_iter()
        .map(|(from, to)| rate_kbit(&arrivals, start, from, to))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tbf_caps_shape_the_namespace_veth_each_way_and_change_while_traffic_flows() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let ns = Netns::create().expect("a network namespace (needs root and iproute2)");
    println!("{ns:?}");
    let phase = |secs: u64, cap| (Duration::from_secs(secs), cap);

    // Downlink: root namespace → namespace, shaped on the root-side veth.
    let receiver = ns
        .udp_socket(SocketAddr::from((ns.ns_addr(), 0)))
        .expect("a receiver inside the namespace");
    let to = receiver.local_addr().expect("the receiver's address");
    let sender = UdpSocket::bind((ns.root_addr(), 0)).expect("a sender on the root-side veth");
    let phases = [phase(3, Some(300)), phase(2, Some(1000)), phase(2, None)];
    let down = tokio::task::block_in_place(|| {
        shaped_flow(sender, receiver, to, &phases, |cap| {
            ns.cap_downlink(cap).expect("set the downlink cap")
        })
    });
    println!(
        "downlink at {OFFERED_KBIT} kbit/s offered: cap 300 → {:.0} kbit/s, cap replaced by 1000 \
         → {:.0} kbit/s, cap lifted → {:.0} kbit/s",
        down[0], down[1], down[2]
    );
    assert_near(down[0], 300.0, "downlink capped at 300 kbit/s");
    assert_near(
        down[1],
        1000.0,
        "downlink cap replaced by 1000 kbit/s mid-flow",
    );
    assert!(
        down[2] > 0.85 * OFFERED_KBIT as f64,
        "with the cap lifted the whole offered {OFFERED_KBIT} kbit/s arrives: {:.0}",
        down[2]
    );

    // Uplink: namespace → root namespace, shaped on the namespace-side veth.
    let receiver = UdpSocket::bind((ns.root_addr(), 0)).expect("a receiver on the root-side veth");
    let to = receiver.local_addr().expect("the receiver's address");
    let sender = ns
        .udp_socket(SocketAddr::from((ns.ns_addr(), 0)))
        .expect("a sender inside the namespace");
    let phases = [phase(3, Some(300)), phase(2, None)];
    let up = tokio::task::block_in_place(|| {
        shaped_flow(sender, receiver, to, &phases, |cap| {
            ns.cap_uplink(cap).expect("set the uplink cap")
        })
    });
    println!(
        "uplink at {OFFERED_KBIT} kbit/s offered: cap 300 → {:.0} kbit/s, cap lifted → {:.0} kbit/s",
        up[0], up[1]
    );
    assert_near(up[0], 300.0, "uplink capped at 300 kbit/s");
    assert!(
        up[1] > 0.85 * OFFERED_KBIT as f64,
        "with the uplink cap lifted the whole offered rate arrives: {:.0}",
        up[1]
    );
}

/// An RTP-looking datagram: version 2, `pt`, `seq`, `ssrc`, then the index as payload.
fn rtp(pt: u8, seq: u16, ssrc: u32) -> Vec<u8> {
    let mut d = vec![0u8; 12 + 160];
    d[0] = 0x80;
    d[1] = pt;
    d[2..4].copy_from_slice(&seq.to_be_bytes());
    d[8..12].copy_from_slice(&ssrc.to_be_bytes());
    d
}

/// A STUN-looking datagram (binding request type) carrying `seq` where RTP would.
fn stun(seq: u16) -> Vec<u8> {
    let mut d = vec![0u8; 20];
    d[1] = 0x01;
    d[2..4].copy_from_slice(&seq.to_be_bytes());
    d
}

/// What one fake client saw: when each seq went out and when its echo came back.
struct Client {
    socket: Arc<tokio::net::UdpSocket>,
    sent: Mutex<Vec<Option<Instant>>>,
    echoed: Mutex<Vec<Option<Instant>>>,
}

fn percentile(mut values: Vec<Duration>, p: f64) -> Duration {
    values.sort();
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(i).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_random_loss_and_delay_hit_one_client_and_spare_the_other() {
    const PACKETS: u16 = 3000;
    const STUN_EVERY: u16 = 50;
    const LOSS: f64 = 0.2;
    const ONE_WAY: Duration = Duration::from_millis(150);
    const SSRC_IMPAIRED: u32 = 0x1111;
    const SSRC_CLEAN: u32 = 0x2222;
    let _turn = ONE_AT_A_TIME.lock().await;

    // A fake SFU: records when each datagram arrives (by SSRC, seq) and echoes it back.
    let sfu = Arc::new(
        tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("the fake SFU's socket"),
    );
    let sfu_addr = sfu.local_addr().expect("the fake SFU's address");
    type Seen = Arc<Mutex<Vec<(u32, u16, Instant)>>>;
    let at_sfu: Seen = Arc::default();
    let echo = {
        let (sfu, at_sfu) = (Arc::clone(&sfu), Arc::clone(&at_sfu));
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((len, from)) = sfu.recv_from(&mut buf).await {
                let d = &buf[..len];
                let seq = u16::from_be_bytes([d[2], d[3]]);
                let ssrc = if d[0] == 0 {
                    0
                } else {
                    u32::from_be_bytes([d[8], d[9], d[10], d[11]])
                };
                if let Ok(mut seen) = at_sfu.lock() {
                    seen.push((ssrc, seq, Instant::now()));
                }
                let _ = sfu.send_to(d, from).await;
            }
        })
    };

    let mut relay = Relay::bind().await.expect("bind the relay");
    relay.start(sfu_addr).expect("start the relay");
    let mut clients = Vec::new();
    for _ in 0..2 {
        let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a client socket");
        socket
            .connect(relay.addr())
            .await
            .expect("connect to the relay");
        clients.push(Arc::new(Client {
            socket: Arc::new(socket),
            sent: Mutex::new(vec![None; usize::from(PACKETS)]),
            echoed: Mutex::new(vec![None; usize::from(PACKETS)]),
        }));
    }
    let impaired = clients[0].socket.local_addr().expect("address");
    // Rules may be set before the client's first datagram.
    relay.set_random_loss(
        impaired,
        Direction::Upstream,
        Some(RandomLoss::rtp(LOSS, 42)),
    );
    relay.set_delay(impaired, Direction::Upstream, ONE_WAY);
    relay.set_delay(impaired, Direction::Downstream, ONE_WAY);

    let readers: Vec<_> = clients
        .iter()
        .map(|c| {
            let c = Arc::clone(c);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                while let Ok(len) = c.socket.recv(&mut buf).await {
                    if len < 4 {
                        continue;
                    }
                    let seq = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                    if let Ok(mut e) = c.echoed.lock() {
                        if let Some(slot) = e.get_mut(seq) {
                            slot.get_or_insert(Instant::now());
                        }
                    }
                }
            })
        })
        .collect();

    // Both clients send at 1000 datagrams/s, interleaved.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for seq in 0..PACKETS {
        tick.tick().await;
        for (client, ssrc) in clients.iter().zip([SSRC_IMPAIRED, SSRC_CLEAN]) {
            let d = if seq % STUN_EVERY == 0 {
                stun(seq)
            } else {
                rtp(111, seq, ssrc)
            };
            if let Ok(mut s) = client.sent.lock() {
                s[usize::from(seq)] = Some(Instant::now());
            }
            client.socket.send(&d).await.expect("send to the relay");
        }
    }
    // Everything still in flight comes back within the delay plus scheduling slack; wait for
    // the clean client's echoes and then a full round trip for the delayed ones.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let clean_back = clients[1]
            .echoed
            .lock()
            .map(|e| e.iter().flatten().count())
            .unwrap_or(0);
        if clean_back == usize::from(PACKETS) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(2 * ONE_WAY + Duration::from_millis(300)).await;

    let up = relay.counts(impaired, Direction::Upstream);
    let clean_addr = clients[1].socket.local_addr().expect("address");
    let clean_up = relay.counts(clean_addr, Direction::Upstream);
    let rtp_sent = u64::from(PACKETS - PACKETS.div_ceil(STUN_EVERY));
    let dropped_share = up.rtp_dropped as f64 / rtp_sent as f64;
    let seen = at_sfu.lock().map(|s| s.clone()).unwrap_or_default();
    let stun_at_sfu = seen
        .iter()
        .filter(|(ssrc, seq, _)| *ssrc == 0 && seq % STUN_EVERY == 0)
        .count();
    let one_way = |client: &Client, ssrc: u32| -> Vec<Duration> {
        let sent = client.sent.lock().map(|s| s.clone()).unwrap_or_default();
        seen.iter()
            .filter(|(s, _, _)| *s == ssrc)
            .filter_map(|(_, seq, at)| sent[usize::from(*seq)].map(|t| at.duration_since(t)))
            .collect()
    };
    let round_trip = |client: &Client| -> Vec<Duration> {
        let sent = client.sent.lock().map(|s| s.clone()).unwrap_or_default();
        let echoed = client.echoed.lock().map(|e| e.clone()).unwrap_or_default();
        sent.iter()
            .zip(echoed.iter())
            .filter_map(|(s, e)| Some(e.as_ref()?.duration_since(*s.as_ref()?)))
            .collect()
    };
    let impaired_one_way = one_way(&clients[0], SSRC_IMPAIRED);
    let clean_one_way = one_way(&clients[1], SSRC_CLEAN);
    let impaired_rtt = round_trip(&clients[0]);
    let clean_rtt = round_trip(&clients[1]);
    let ssrc_dropped = up
        .by_ssrc
        .get(&SSRC_IMPAIRED)
        .map(|c| c.dropped)
        .unwrap_or(0);
    println!(
        "relay: impaired client RTP dropped {} of {rtp_sent} ({:.1} %, per SSRC {ssrc_dropped}), \
         STUN through {} (both clients, {} sent); clean client RTP dropped {}\n  one way to the \
         SFU: impaired min {:?} median {:?} p99 {:?}; clean median {:?} p99 {:?}\n  round trip: \
         impaired min {:?} median {:?} p99 {:?} ({} echoes); clean median {:?} ({} echoes)",
        up.rtp_dropped,
        dropped_share * 100.0,
        stun_at_sfu,
        2 * PACKETS.div_ceil(STUN_EVERY),
        clean_up.rtp_dropped,
        percentile(impaired_one_way.clone(), 0.0),
        percentile(impaired_one_way.clone(), 0.5),
        percentile(impaired_one_way.clone(), 0.99),
        percentile(clean_one_way.clone(), 0.5),
        percentile(clean_one_way.clone(), 0.99),
        percentile(impaired_rtt.clone(), 0.0),
        percentile(impaired_rtt.clone(), 0.5),
        percentile(impaired_rtt.clone(), 0.99),
        impaired_rtt.len(),
        percentile(clean_rtt.clone(), 0.5),
        clean_rtt.len(),
    );

    assert!(
        (dropped_share - LOSS).abs() <= 0.03,
        "the relay drops {LOSS} of the impaired client's RTP ± 3 points: {up:?}"
    );
    assert_eq!(ssrc_dropped, up.rtp_dropped, "drops are counted per SSRC");
    assert_eq!(
        impaired_one_way.len() as u64,
        rtp_sent - up.rtp_dropped,
        "every RTP packet not dropped reaches the SFU"
    );
    assert_eq!(
        stun_at_sfu,
        2 * usize::from(PACKETS.div_ceil(STUN_EVERY)),
        "STUN is never dropped"
    );
    assert_eq!(clean_up.rtp_dropped, 0, "the other client loses nothing");
    assert_eq!(
        clean_rtt.len(),
        usize::from(PACKETS),
        "every datagram of the other client comes back"
    );
    assert_eq!(
        impaired_rtt.len() as u64,
        u64::from(PACKETS) - up.rtp_dropped,
        "every datagram of the impaired client that reached the SFU comes back"
    );
    let slack = Duration::from_millis(40);
    assert!(
        percentile(impaired_one_way.clone(), 0.0) >= ONE_WAY,
        "nothing overtakes the delay"
    );
    assert!(
        percentile(impaired_one_way, 0.5) < ONE_WAY + slack,
        "the one-way delay is {ONE_WAY:?}"
    );
    assert!(percentile(impaired_rtt.clone(), 0.0) >= 2 * ONE_WAY);
    assert!(
        percentile(impaired_rtt, 0.5) < 2 * ONE_WAY + slack,
        "the round trip is twice the one-way delay"
    );
    assert!(
        percentile(clean_rtt, 0.5) < slack,
        "the other client's flow is not held up by the delayed one"
    );

    for reader in readers {
        reader.abort();
    }
    echo.abort();
    relay.stop().await;
}

/// Fetches assets with the cache off until `bytes` have arrived; returns kbit/s and the bytes.
const FETCH_RATE: &str = "(async (bytes) => {
    const paths = ['/assets/i18n.js', '/assets/room.js', '/assets/style.css', '/assets/console.js'];
    let got = 0, i = 0;
    const start = performance.now();
    while (got < bytes) {
        const r = await fetch(paths[i++ % paths.length], { cache: 'no-store' });
        got += (await r.arrayBuffer()).byteLength;
    }
    const secs = (performance.now() - start) / 1000;
    return { kbit: got * 8 / 1000 / secs, bytes: got, secs };
})";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_in_a_namespace_loads_pages_across_the_shaped_veth() {
    chromium_path().expect("Chromium is required for the browser test");
    let _turn = ONE_AT_A_TIME.lock().await;
    let ns = Netns::create().expect("a network namespace (needs root and iproute2)");
    let server = TestServer::start_for_netns(&ns, |_| {})
        .await
        .expect("a server on the root-side veth");
    let origin = server.base_url().to_owned();
    let browser = Browser::launch_in_netns(&ns, &[&secure_origin_flag(&[&origin])])
        .await
        .expect("Chromium inside the namespace, driven over DevTools");
    let page = browser
        .new_page(&server.url("/"))
        .await
        .expect("the namespace's browser loads the server's page");
    let where_ = page
        .evaluate(
            "({ origin: location.origin, secure: window.isSecureContext, \
             media: !!navigator.mediaDevices })",
        )
        .await
        .expect("read the page's location");
    println!("page in {}: {where_}", ns.name());
    assert_eq!(
        where_["origin"],
        origin.as_str(),
        "the page came from the veth server"
    );
    assert_eq!(
        where_["secure"], true,
        "the origin flag makes the page a secure context (camera allowed)"
    );
    assert_eq!(where_["media"], true, "the page can ask for the camera");

    let rate = |bytes: u32| format!("{FETCH_RATE}({bytes})");
    let free = page.evaluate(&rate(400_000)).await.expect("fetch uncapped");
    ns.cap_downlink(Some(300)).expect("cap the downlink");
    let capped = page.evaluate(&rate(120_000)).await.expect("fetch capped");
    ns.cap_downlink(None).expect("lift the cap");
    println!("page fetch rate: uncapped {free}, downlink capped at 300 kbit/s {capped}");
    let capped_kbit = capped["kbit"].as_f64().unwrap_or(f64::NAN);
    // TCP goodput under a 300 kbit/s tbf varied from 226 to 303 kbit/s here; the precise rate
    // is the UDP test's job, this one proves the browser's traffic crosses the cap.
    assert!(
        (150.0..=330.0).contains(&capped_kbit),
        "the browser's downloads are shaped by the namespace's cap (TCP goodput under a 300 \
         kbit/s tbf): {capped}"
    );
    assert!(
        free["kbit"].as_f64().unwrap_or(0.0) > 10.0 * capped_kbit,
        "uncapped is far faster: {free}"
    );

    drop(page);
    browser.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_read_a_call_between_a_namespace_browser_and_a_root_browser() {
    chromium_path().expect("Chromium is required for the browser test");
    let _turn = ONE_AT_A_TIME.lock().await;
    let ns = Netns::create().expect("a network namespace (needs root and iproute2)");
    let server = TestServer::start_for_netns(&ns, |_| {})
        .await
        .expect("a server on the root-side veth");
    let secure = secure_origin_flag(&[server.base_url()]);
    let links = server.seed_demo().await.expect("the demo's links");
    let link = |role: &str| {
        links
            .iter()
            .find(|l| l.role == role)
            .map(|l| l.url.clone())
            .unwrap_or_else(|| panic!("the demo has a {role} link"))
    };
    let outside = Browser::launch_with(&[&secure])
        .await
        .expect("Chromium in the root namespace");
    let inside = Browser::launch_in_netns(&ns, &[&secure])
        .await
        .expect("Chromium in the namespace");
    let mediator = outside
        .new_page(&link("mediator"))
        .await
        .expect("the mediator's page");
    enter_room(&mediator, "the mediator", false).await;
    let party = inside
        .new_page(&link("party"))
        .await
        .expect("the party's page");
    enter_room(&party, "the party", true).await;
    wait_for_remote_streams(&party, "the party", 1).await;
    wait_for_remote_streams(&mediator, "the mediator", 1).await;

    let m = StatsSample::read_ready(&mediator)
        .await
        .expect("mediator stats");
    let mediator_id = m.me.clone().expect("the mediator's participant id");
    let before = StatsSample::read_ready(&party).await.expect("party stats");
    let video = before.video_from(&mediator_id).unwrap_or_else(|| {
        panic!("the party's probe maps a video to the mediator {mediator_id}: {before:?}")
    });
    let audio = before
        .audio_from(&mediator_id)
        .unwrap_or_else(|| panic!("the party's probe maps audio to the mediator: {before:?}"));
    let pair = before
        .candidate_pair
        .clone()
        .expect("a selected candidate pair");
    println!(
        "party (in {}): video from the mediator {video:?}\n  audio {audio:?}\n  pair {pair:?}\n\
         mediator outbound video {:?}",
        ns.name(),
        m.outbound_video
    );
    assert!(video.frame_width.unwrap_or(0) > 0 && video.frames_decoded > 0);
    assert!(audio.packets_received > 0);
    assert!(
        pair.local.starts_with(&format!("{}:", ns.ns_addr())),
        "the party's media leaves from the namespace's address: {pair:?}"
    );
    assert!(
        m.outbound_video
            .iter()
            .any(|v| v.packets_sent > 0 && v.frames_encoded > 0),
        "the mediator publishes video: {:?}",
        m.outbound_video
    );

    // The party's downlink capped: what reaches it follows the cap.
    ns.cap_downlink(Some(300))
        .expect("cap the party's downlink");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = StatsSample::read_ready(&party).await.expect("party stats");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let end = StatsSample::read_ready(&party).await.expect("party stats");
    ns.cap_downlink(None).expect("lift the cap");
    let secs = end.elapsed_since(&start).as_secs_f64();
    let received = |s: &StatsSample| s.candidate_pair.as_ref().map_or(0, |p| p.bytes_received);
    let kbit = (received(&end) - received(&start)) as f64 * 8.0 / 1000.0 / secs;
    let audio_window = match (start.audio_from(&mediator_id), end.audio_from(&mediator_id)) {
        (Some(a), Some(b)) => Some(AudioWindow::between(a, b, secs)),
        _ => None,
    };
    let video_window = match (start.video_from(&mediator_id), end.video_from(&mediator_id)) {
        (Some(a), Some(b)) => Some(VideoWindow::between(a, b, secs)),
        _ => None,
    };
    println!(
        "party under a 300 kbit/s downlink cap, {secs:.1} s: {kbit:.0} kbit/s received \
         (payload, per the candidate pair)\n  audio {audio_window:?} (concealed {:?} %)\n  video \
         {video_window:?}",
        audio_window.as_ref().and_then(|w| w.concealed_percent())
    );
    assert!(
        kbit < 300.0 * (1.0 + CAP_TOLERANCE),
        "the SFU's media to the party crosses the shaped veth: {kbit:.0} kbit/s"
    );

    drop(party);
    drop(mediator);
    inside.close().await;
    outside.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_on_the_veth_serves_a_client_inside_the_namespace() {
    const DELAY: Duration = Duration::from_millis(100);
    let _turn = ONE_AT_A_TIME.lock().await;
    assert!(
        Relay::bind_on(Ipv4Addr::new(192, 0, 2, 2)).await.is_err(),
        "the relay refuses addresses that leave the machine"
    );
    let ns = Netns::create().expect("a network namespace (needs root and iproute2)");
    // The SFU stays on loopback; the relay faces the namespace on the root-side veth.
    let sfu = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("the fake SFU's socket");
    let sfu_addr = sfu.local_addr().expect("the fake SFU's address");
    let echo = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((len, from)) = sfu.recv_from(&mut buf).await {
            let _ = sfu.send_to(&buf[..len], from).await;
        }
    });
    let mut relay = Relay::bind_on(ns.root_addr())
        .await
        .expect("the relay on the root-side veth");
    relay.start(sfu_addr).expect("start the relay");

    let client = ns
        .udp_socket(SocketAddr::from((ns.ns_addr(), 0)))
        .expect("a client socket inside the namespace");
    let client_addr = client.local_addr().expect("the client's address");
    client
        .connect(relay.addr())
        .expect("connect to the relay across the veth");
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("a read timeout");
    relay.set_delay(client_addr, Direction::Upstream, DELAY);
    let mut round_trips = Vec::new();
    for seq in 0..10u16 {
        let sent = Instant::now();
        client
            .send(&rtp(111, seq, 7))
            .expect("send from the namespace");
        let mut buf = [0u8; 2048];
        let back = tokio::task::block_in_place(|| client.recv(&mut buf));
        assert!(back.is_ok(), "echo {seq} comes back: {back:?}");
        round_trips.push(sent.elapsed());
    }
    let counts = relay.counts(client_addr, Direction::Upstream);
    println!(
        "relay on {} for {client_addr}: round trips {:?}..{:?}, {counts:?}",
        relay.addr(),
        round_trips.iter().min(),
        round_trips.iter().max()
    );
    assert_eq!(counts.rtp_forwarded, 10);
    assert!(round_trips.iter().all(|rt| *rt >= DELAY));
    echo.abort();
    relay.stop().await;
}
