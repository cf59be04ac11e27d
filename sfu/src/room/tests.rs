//! The room with simulated participants on simulated time: forwarding, layer choice under
//! bandwidth caps and loss, pausing, dynacast and quality, without sockets or a wall clock.

use std::time::Duration;

use str0m::media::{Direction, MediaKind};

use crate::handle::{JoinOptions, TileView, VideoPause};
use crate::sim::client::Received;
use crate::sim::Sim;

const HOST: JoinOptions = JoinOptions {
    may_publish: true,
    host: true,
    hosts_only: false,
};
const PARTY: JoinOptions = JoinOptions {
    may_publish: true,
    host: false,
    hosts_only: false,
};
/// An expert advising the mediator only.
const ADVISER: JoinOptions = JoinOptions {
    may_publish: true,
    host: false,
    hosts_only: true,
};

/// The video packets `to` received from `from` in `window` seconds of simulated time.
fn video_from(sim: &Sim, to: usize, from: usize, window: (f64, f64)) -> Vec<&Received> {
    received_from(sim, to, from, MediaKind::Video, window)
}

fn received_from(
    sim: &Sim,
    to: usize,
    from: usize,
    kind: MediaKind,
    (start, end): (f64, f64),
) -> Vec<&Received> {
    let client = &sim.participants[to].client;
    let publisher = sim.participants[from].id.0.as_str();
    client
        .received
        .iter()
        .filter(|r| r.kind == kind)
        .filter(|r| {
            client
                .rtc
                .media(r.mid)
                .is_some_and(|m| m.stream_id() == publisher)
        })
        .filter(|r| {
            let at = r.at.saturating_duration_since(sim.start).as_secs_f64();
            at >= start && at < end
        })
        .collect()
}

/// The layers of the frames in `packets`, in order, each run of equal layers once.
fn layer_runs(packets: &[&Received]) -> Vec<u8> {
    let mut runs = Vec::new();
    for layer in packets.iter().filter_map(|p| p.layer) {
        if runs.last() != Some(&layer) {
            runs.push(layer);
        }
    }
    runs
}

/// A room whose host "a" and parties "b", "c"... all publish, joined in that order: the
/// participants' indices.
fn publishing_room<const N: usize>() -> (Sim, [usize; N]) {
    let mut sim = Sim::new();
    let joined = std::array::from_fn(|i| {
        let name = char::from(b'a' + i as u8).to_string();
        sim.join(&name, if i == 0 { HOST } else { PARTY }, true)
    });
    (sim, joined)
}

/// The voice packets `to` received from `from` in `window` seconds of simulated time.
fn voice_from(sim: &Sim, to: usize, from: usize, window: (f64, f64)) -> Vec<&Received> {
    received_from(sim, to, from, MediaKind::Audio, window)
}

/// `viewer` shows each `(publisher, width, height)` in a tile of that size, and nothing else.
fn show_tiles(sim: &mut Sim, viewer: usize, tiles: &[(usize, u32, u32)]) {
    let view: Vec<TileView> = tiles
        .iter()
        .map(|&(publisher, width, height)| TileView {
            publisher: sim.participants[publisher].id.clone(),
            width,
            height,
        })
        .collect();
    let viewer = sim.participants[viewer].id.clone();
    let now = sim.now;
    sim.room.set_view(&viewer, &view, now);
}

/// Whether `to` was told that `from`'s video is paused for `pause` (resumed, for `None`).
fn told_pause(sim: &Sim, to: usize, from: usize, pause: Option<VideoPause>) -> bool {
    sim.participants[to]
        .pauses
        .iter()
        .any(|(_, who, told)| *who == sim.participants[from].id && *told == pause)
}

/// Host "a" publishing, watched by party "b" (who publishes nothing) in a tile so small that
/// only a's lowest layer is needed, until a has switched its other layers off.
fn host_watched_in_a_small_tile() -> (Sim, usize, usize) {
    let mut sim = Sim::new();
    let a = sim.join("a", HOST, true);
    let b = sim.join("b", PARTY, false);
    sim.run_for(Duration::from_secs(2));
    show_tiles(&mut sim, b, &[(a, 320, 180)]);
    sim.run_for(Duration::from_secs(6));
    assert_eq!(
        sim.participants[a].client.active_layers(),
        vec![true, false, false]
    );
    (sim, a, b)
}

#[test]
fn on_open_links_everyone_gets_the_top_layer_and_every_voice() {
    let (mut sim, [a, b]) = publishing_room();
    sim.run_for(Duration::from_secs(10));
    let video = video_from(&sim, b, a, (5.0, 10.0));
    assert!(!video.is_empty(), "b received no video from a");
    assert_eq!(layer_runs(&video), vec![2], "b gets a's top layer");
    let audio = voice_from(&sim, b, a, (5.0, 10.0));
    assert!(audio.len() >= 240, "{} audio packets in 5 s", audio.len());
    let video = video_from(&sim, a, b, (5.0, 10.0));
    assert_eq!(layer_runs(&video), vec![2], "a gets b's top layer");
}

/// Across every switch and pause, what `to` received of `from`'s video is one stream a decoder
/// can follow: sequence numbers and RTP times never go back, and each frame's picture id follows
/// the previous frame's (by more than one only where frames were lost on the way).
fn assert_continuous(sim: &Sim, to: usize, from: usize) {
    let video = video_from(sim, to, from, (0.0, f64::MAX));
    let mut frames = 0;
    for pair in video.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        if after.seq_no <= before.seq_no {
            // A resend of a lost packet arrives late; it is older, not a new stream.
            continue;
        }
        let forward = after.rtp_time.wrapping_sub(before.rtp_time);
        assert!(
            forward < 1 << 31,
            "RTP time went back: {before:?} → {after:?}"
        );
    }
    let starts: Vec<&&Received> = video.iter().filter(|p| p.starts_frame).collect();
    for pair in starts.windows(2) {
        let (Some(a), Some(b)) = (pair[0].picture_id, pair[1].picture_id) else {
            continue;
        };
        let step = (u32::from(b) + 32_768 - u32::from(a)) % 32_768;
        assert!(
            (1..64).contains(&step) || pair[1].seq_no < pair[0].seq_no,
            "picture id {a} then {b} (frame {frames})"
        );
        frames += 1;
    }
    assert!(frames > 0, "no frames");
}

/// The longest time `to` went without a new frame from `from` in the window.
fn longest_freeze(sim: &Sim, to: usize, from: usize, window: (f64, f64)) -> Duration {
    let starts: Vec<_> = video_from(sim, to, from, window)
        .into_iter()
        .filter(|p| p.starts_frame)
        .map(|p| p.at)
        .collect();
    let mut longest = Duration::ZERO;
    let mut last = sim.start + Duration::from_secs_f64(window.0);
    for at in starts {
        longest = longest.max(at.saturating_duration_since(last));
        last = at;
    }
    let end = (sim.start + Duration::from_secs_f64(window.1)).min(sim.now);
    longest.max(end.saturating_duration_since(last))
}

#[test]
fn a_capped_downlink_settles_on_the_low_layers_keeps_every_voice_and_climbs_back() {
    let (mut sim, [a, b, c]) = publishing_room();
    sim.run_for(Duration::from_secs(8));
    assert_eq!(layer_runs(&video_from(&sim, c, a, (6.0, 8.0))), vec![2]);

    // Room for the two voices and both low layers, not more.
    sim.participants[c].down.rate = Some(450_000);
    sim.run_for(Duration::from_secs(42));
    for from in [a, b] {
        let settled = video_from(&sim, c, from, (40.0, 50.0));
        assert_eq!(
            layer_runs(&settled),
            vec![0],
            "c settles on {from}'s low layer:\n{}",
            timeline(&sim, c)
        );
        let freeze = longest_freeze(&sim, c, from, (40.0, 50.0));
        assert!(
            freeze < Duration::from_secs(1),
            "{freeze:?} without a frame"
        );
    }
    // The voices come through from the moment the link has been relieved (within 5 s of the
    // cap) to the end.
    for from in [a, b] {
        let voice = voice_from(&sim, c, from, (13.0, 50.0)).len();
        assert!(
            voice >= 37 * 50 * 98 / 100,
            "{voice} of 1850 voice packets:\n{}",
            timeline(&sim, c)
        );
    }
    // The others are not held back by c.
    assert_eq!(layer_runs(&video_from(&sim, a, b, (40.0, 50.0))), vec![2]);

    sim.participants[c].down.rate = None;
    sim.run_for(Duration::from_secs(30));
    for from in [a, b] {
        let after = video_from(&sim, c, from, (70.0, 80.0));
        assert!(
            !after.is_empty() && after.iter().filter_map(|p| p.layer).all(|l| l >= 1),
            "c climbs back: {:?}\n{}",
            layer_runs(&after),
            timeline(&sim, c)
        );
        assert_continuous(&sim, c, from);
    }
}

/// A sudden cap from 2.5 Mbit/s of video: the first cut goes straight to the lowest layers and
/// drops what the pacer still held of the layers it cut. The voices are lost only until the
/// SFU sees the queue (a second, here), not while a backlog drains into the narrow link, and no
/// video is paused on the estimate's fall. With just room for both low layers and the voices,
/// that is where the party stays.
#[test]
fn a_sudden_cap_costs_the_voices_only_its_first_second_and_pauses_no_video() {
    for cap in [350_000, 450_000] {
        let (mut sim, [a, b, c]) = publishing_room();
        sim.run_for(Duration::from_secs(8));
        sim.participants[c].down.rate = Some(cap);
        sim.run_for(Duration::from_secs(18));
        for from in [a, b] {
            if cap == 350_000 {
                let video = video_from(&sim, c, from, (16.5, 26.0));
                assert_eq!(
                    layer_runs(&video),
                    vec![0],
                    "{from}'s low layer plays from 8.5 s after the cap:\n{}",
                    timeline(&sim, c)
                );
            }
            let voice = voice_from(&sim, c, from, (9.0, 13.0)).len();
            assert!(
                voice >= 200 * 85 / 100,
                "at {cap} bit/s, {voice} of {from}'s 200 voice packets from 1 s after the cap:\n{}",
                timeline(&sim, c)
            );
            let freeze = longest_freeze(&sim, c, from, (9.0, 26.0));
            assert!(
                freeze < Duration::from_secs(1),
                "at {cap} bit/s, {freeze:?} without a frame of {from}:\n{}",
                timeline(&sim, c)
            );
        }
    }
}

#[test]
fn a_cap_below_the_voices_and_the_lowest_layer_pauses_video_and_keeps_audio() {
    let (mut sim, [a, b, c]) = publishing_room();
    sim.run_for(Duration::from_secs(6));
    sim.participants[c].down.rate = Some(150_000);
    sim.run_for(Duration::from_secs(24));
    assert!(
        told_pause(&sim, c, b, Some(VideoPause::Bandwidth)),
        "{:?}",
        sim.participants[c].pauses
    );
    for from in [a, b] {
        let voice = voice_from(&sim, c, from, (20.0, 30.0)).len();
        assert!(
            voice >= 500 * 90 / 100,
            "{voice} of 500 voice packets from {from}"
        );
    }
    let video = video_from(&sim, c, b, (20.0, 30.0));
    assert!(
        video.len() < 10,
        "{} video packets while paused",
        video.len()
    );

    // Lifted: the ceiling the cap left is tried with padding at most every 30 s, then each
    // video is given its lowest layer after a padding trial of its own (back after 2-24 s in
    // 40 runs of this test, the second video 3-5 s after the first).
    sim.participants[c].down.rate = None;
    sim.run_for(Duration::from_secs(40));
    assert!(
        told_pause(&sim, c, b, None),
        "b's video resumes: {:?}\n{}",
        sim.participants[c].pauses,
        timeline(&sim, c)
    );
    assert!(!video_from(&sim, c, b, (65.0, 70.0)).is_empty());
    assert_continuous(&sim, c, b);
}

#[test]
fn small_tiles_get_the_low_layer_even_on_a_fast_link() {
    let (mut sim, [a, b, c]) = publishing_room();
    sim.run_for(Duration::from_secs(3));
    show_tiles(&mut sim, c, &[(a, 240, 135), (b, 1280, 720)]);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(layer_runs(&video_from(&sim, c, a, (8.0, 13.0))), vec![0]);
    assert_eq!(layer_runs(&video_from(&sim, c, b, (8.0, 13.0))), vec![2]);
    // A tile left out of the view is not shown: its video is not sent at all.
    show_tiles(&mut sim, c, &[(b, 1280, 720)]);
    sim.run_for(Duration::from_secs(3));
    assert!(video_from(&sim, c, a, (14.0, 16.0)).is_empty());
    assert!(told_pause(&sim, c, a, Some(VideoPause::Hidden)));
}

#[test]
fn a_layer_nobody_receives_is_switched_off_at_the_publisher_and_back_on_when_needed() {
    let (mut sim, a, b) = host_watched_in_a_small_tile();
    let (_, last) = sim.participants[a].publish_layers.last().expect("told");
    assert_eq!(last, &vec!["q".to_owned()]);

    show_tiles(&mut sim, b, &[(a, 1280, 720)]);
    sim.run_for(Duration::from_millis(1_500));
    // The next layer up is switched back on as soon as b is given it (after the short wait
    // for an increase on an ample link)...
    let (_, active) = sim.participants[a].publish_layers.last().expect("told");
    assert!(active.contains(&"h".to_owned()), "{active:?}");
    // ...and the top one when b climbs to it.
    sim.run_for(Duration::from_secs(8));
    // b now gets the top layer: it is on, the middle one, which nobody gets now, is off, and
    // the lowest stays on for a fall.
    let active = sim.participants[a].client.active_layers();
    assert!(active[2] && !active[1] && active[0], "{active:?}");
    assert_eq!(layer_runs(&video_from(&sim, b, a, (16.0, 17.5))), vec![2]);
    assert_continuous(&sim, b, a);
}

#[test]
fn a_publisher_back_on_a_new_connection_is_told_again_which_layers_to_send() {
    let (mut sim, a, b) = host_watched_in_a_small_tile();
    // a's signaling is gone (its media is not) when b wants the large picture: the layers
    // switched back on are announced to a connection that no longer exists.
    sim.lose_signaling(a);
    show_tiles(&mut sim, b, &[(a, 1280, 720)]);
    // Back within the time a layer asked back on has to come.
    sim.run_for(Duration::from_millis(2_000));
    assert_eq!(
        sim.participants[a].client.active_layers(),
        vec![true, false, false],
        "the news was lost"
    );
    sim.resume_signaling(a);
    assert!(
        sim.participants[a].client.active_layers()[1],
        "told again on its new connection: {:?}",
        sim.participants[a].publish_layers
    );
    sim.run_for(Duration::from_secs(10));
    let got = layer_runs(&video_from(&sim, b, a, (17.0, 19.0)));
    assert_eq!(
        got.last(),
        Some(&2),
        "b climbs to the large picture: {got:?}"
    );
    assert_continuous(&sim, b, a);
}

#[test]
fn a_top_layer_that_stops_at_the_publisher_is_replaced_without_a_long_freeze() {
    let (mut sim, [a, b]) = publishing_room();
    sim.run_for(Duration::from_secs(8));
    assert_eq!(layer_runs(&video_from(&sim, b, a, (6.0, 8.0))), vec![2]);
    // a's uplink can no longer carry its top layer; its browser stops sending it.
    sim.participants[a].client.set_layer_sending(2, false);
    sim.run_for(Duration::from_secs(8));
    assert_eq!(layer_runs(&video_from(&sim, b, a, (12.0, 16.0))), vec![1]);
    // The lowest layer stays on, so b goes on with it at its next keyframe once the top layer
    // has been silent while the lowest went on (1.09 s when the lowest was switched off too
    // and the top layer counted as stopped only after a second).
    let freeze = longest_freeze(&sim, b, a, (7.0, 16.0));
    assert!(
        freeze < Duration::from_millis(800),
        "{freeze:?} without a frame"
    );
    sim.participants[a].client.set_layer_sending(2, true);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        layer_runs(&video_from(&sim, b, a, (22.0, 26.0))),
        vec![2],
        "{:?}\n{}",
        sim.participants[a].publish_layers,
        timeline(&sim, b)
    );
    assert_continuous(&sim, b, a);
}

#[test]
fn when_bandwidth_is_short_the_host_keeps_video_first() {
    let mut sim = Sim::new();
    let b = sim.join("b", PARTY, true);
    let a = sim.join("a", HOST, true);
    let c = sim.join("c", PARTY, true);
    let d = sim.join("d", PARTY, false);
    sim.run_for(Duration::from_secs(5));
    // Room for three voices and one low layer.
    sim.participants[d].down.rate = Some(420_000);
    sim.run_for(Duration::from_secs(40));
    // In every second of the last ten, if anyone's video got through, the host's did; and
    // the host's got through most of the time.
    let mut host_seconds = 0;
    for second in 35..45 {
        let window = (f64::from(second), f64::from(second) + 1.0);
        let parties = video_from(&sim, d, b, window).len() + video_from(&sim, d, c, window).len();
        let host = video_from(&sim, d, a, window).len();
        assert!(
            parties == 0 || host > 0,
            "second {second}: parties' video without the host's:\n{}",
            timeline(&sim, d)
        );
        host_seconds += usize::from(host > 0);
    }
    assert!(
        host_seconds >= 7,
        "the host's video in {host_seconds} of 10 seconds:\n{}",
        timeline(&sim, d)
    );
}

#[test]
fn a_lossy_link_is_marked_poor_and_a_clean_one_good() {
    let mut sim = Sim::new();
    let a = sim.join("a", HOST, true);
    let c = sim.join("c", PARTY, true);
    sim.participants[c].down.loss = 0.2;
    sim.participants[c].down.delay = Duration::from_millis(150);
    sim.participants[c].up.delay = Duration::from_millis(150);
    sim.run_for(Duration::from_secs(15));
    let last = |i: usize| sim.participants[i].quality.last().map(|(_, q)| q.clone());
    let c_report = last(c).expect("c has a report");
    assert_eq!(c_report.level, crate::QualityLevel::Poor, "{c_report:?}");
    let worst = sim.participants[c]
        .quality
        .iter()
        .map(|(_, q)| q.loss_pct)
        .fold(0.0, f32::max);
    assert!(worst > 10.0, "worst loss {worst} %");
    assert!(
        c_report.rtt_ms.is_some_and(|rtt| rtt >= 250),
        "{c_report:?}"
    );
    let a_report = last(a).expect("a has a report");
    assert_eq!(a_report.level, crate::QualityLevel::Good, "{a_report:?}");
}

/// Seconds of `window` in which `to` got at least one whole frame from `from`.
fn seconds_with_frames(sim: &Sim, to: usize, from: usize, (start, end): (f64, f64)) -> usize {
    (start as usize..end as usize)
        .filter(|second| {
            let window = (*second as f64, *second as f64 + 1.0);
            video_from(sim, to, from, window)
                .iter()
                .any(|p| p.starts_frame)
        })
        .count()
}

#[test]
fn a_path_losing_a_fifth_of_its_packets_on_slow_round_trips_keeps_the_low_layers_playing() {
    let (mut sim, [a, b, c]) = publishing_room();
    sim.run_for(Duration::from_secs(6));
    // Loss at random, not congestion: the link has room, its round trip stays where it is.
    let path = &mut sim.participants[c];
    for link in [&mut path.down, &mut path.up] {
        link.loss = 0.2;
        link.delay = Duration::from_millis(150);
    }
    sim.run_for(Duration::from_secs(44));
    for from in [a, b] {
        let playing = seconds_with_frames(&sim, c, from, (20.0, 50.0));
        assert!(
            playing >= 28,
            "{from}'s video played in {playing} of 30 seconds:\n{}",
            timeline(&sim, c)
        );
        let voice = voice_from(&sim, c, from, (20.0, 50.0)).len();
        assert!(
            voice >= 1500 * 75 / 100,
            "{voice} of 1500 voice packets from {from}"
        );
        assert_continuous(&sim, c, from);
    }
}

#[test]
fn nonsense_from_clients_does_no_harm() {
    let (mut sim, [a, b]) = publishing_room();
    let id = sim.participants[b].id.clone();
    let mut tiles: Vec<TileView> = (0..1_000)
        .map(|i| TileView {
            publisher: crate::ParticipantId(format!("nobody-{i}")),
            width: u32::MAX,
            height: u32::MAX,
        })
        .collect();
    tiles.push(TileView {
        publisher: sim.participants[a].id.clone(),
        width: u32::MAX,
        height: 0,
    });
    for round in 0..20 {
        let now = sim.now;
        sim.room.set_view(&id, &tiles, now);
        sim.room.set_audio_only(&id, round % 2 == 0, now);
        sim.room
            .set_audio_only(&crate::ParticipantId("ghost".into()), true, now);
        sim.room.leave(&crate::ParticipantId("ghost".into()));
        sim.run_for(Duration::from_millis(300));
    }
    // The estimate collapses to almost nothing: voices only, and nothing breaks.
    sim.participants[b].down.rate = Some(20_000);
    sim.run_for(Duration::from_secs(10));
    sim.participants[b].down.rate = None;
    let now = sim.now;
    sim.room.set_audio_only(&id, false, now);
    show_tiles(&mut sim, b, &[]);
    sim.run_for(Duration::from_secs(2));
    show_tiles(&mut sim, b, &[(a, 640, 360)]);
    sim.run_for(Duration::from_secs(15));
    assert!(!video_from(&sim, b, a, (30.0, 36.0)).is_empty());
    assert_continuous(&sim, b, a);
}

/// A per-second account of what `to` received, for failure messages while tuning.
#[allow(dead_code)]
fn timeline(sim: &Sim, to: usize) -> String {
    let mut lines = Vec::new();
    let seconds = sim.elapsed() as usize;
    for second in 0..seconds {
        let window = (second as f64, second as f64 + 1.0);
        let mut line = format!("{second:>3}s");
        for from in 0..sim.participants.len() {
            if from == to {
                continue;
            }
            let video = video_from(sim, to, from, window);
            let frames = video.iter().filter(|p| p.starts_frame).count();
            let audio = voice_from(sim, to, from, window).len();
            line += &format!(
                " | {}: v{:?} f{frames} a{audio}",
                sim.participants[from].id,
                layer_runs(&video)
            );
        }
        let report = sim.participants[to]
            .quality
            .iter()
            .rfind(|(at, _)| at.saturating_duration_since(sim.start).as_secs_f64() <= window.1)
            .map(|(_, q)| format!(" est {:?} loss {:.1}", q.downlink_kbps, q.loss_pct));
        line += &report.unwrap_or_default();
        lines.push(line);
    }
    lines.join("\n")
}

#[test]
fn a_publisher_who_leaves_stops_being_forwarded_and_the_room_goes_on() {
    let (mut sim, [a, b, c]) = publishing_room();
    sim.run_for(Duration::from_secs(4));
    assert!(!video_from(&sim, c, b, (3.0, 4.0)).is_empty());
    sim.leave(b);
    sim.run_for(Duration::from_secs(4));
    assert!(video_from(&sim, c, b, (5.0, 8.0)).is_empty());
    assert!(voice_from(&sim, c, b, (5.0, 8.0)).is_empty());
    assert_eq!(layer_runs(&video_from(&sim, c, a, (6.0, 8.0))), vec![2]);
    assert_continuous(&sim, c, a);
}

#[test]
fn a_participant_whose_path_comes_back_after_a_silence_gets_fresh_pictures_both_ways() {
    let (mut sim, [a, b]) = publishing_room::<2>();
    sim.run_for(Duration::from_secs(4));
    let requests = |sim: &Sim, who: usize| -> u32 {
        sim.participants[who].client.keyframe_requests.iter().sum()
    };
    let before = (requests(&sim, a), requests(&sim, b));
    // b walks out of coverage: nothing gets through either way, then the same path is back
    // (no new address, and too short for ICE to give up).
    sim.participants[b].up.loss = 1.0;
    sim.participants[b].down.loss = 1.0;
    sim.run_for(Duration::from_secs(3));
    let during = (requests(&sim, a), requests(&sim, b));
    sim.participants[b].up.loss = 0.0;
    sim.participants[b].down.loss = 0.0;
    sim.run_for(Duration::from_millis(500));
    let after = (requests(&sim, a), requests(&sim, b));
    assert!(
        after.0 > during.0,
        "a is asked for a picture for b, who lost what a sent meanwhile: {before:?} {during:?} \
         {after:?}"
    );
    assert!(
        after.1 > during.1,
        "b is asked for a picture of its own for a: {before:?} {during:?} {after:?}"
    );
    sim.run_for(Duration::from_secs(2));
    assert!(
        !video_from(&sim, b, a, (7.5, 9.5)).is_empty(),
        "b receives a's video again"
    );
    // What was sent into the gap is reported lost once b is back; that is no congestion, so
    // b goes on with the layer it had rather than being cut to the lowest or paused.
    sim.run_for(Duration::from_secs(3));
    assert_eq!(
        layer_runs(&video_from(&sim, b, a, (8.5, 12.5))),
        vec![2],
        "{}",
        timeline(&sim, b)
    );
    assert!(
        !told_pause(&sim, b, a, Some(VideoPause::Bandwidth)),
        "{:?}",
        sim.participants[b].pauses
    );
}

#[test]
fn a_caucus_keeps_its_media_inside_and_afterwards_everyone_gets_everyone_again_unbroken() {
    let (mut sim, [a, b, c]) = publishing_room::<3>();
    sim.run_for(Duration::from_secs(4));
    let id = |sim: &Sim, i: usize| sim.participants[i].id.clone();
    let caucus = crate::handle::Caucus {
        members: vec![id(&sim, a), id(&sim, b)],
        recorded: false,
    };
    let now = sim.now;
    sim.room.set_caucus(Some(caucus), now);
    // What was on the wire when it began still arrives (10 ms); nothing sent after it.
    let (from, to) = (sim.elapsed() + 0.05, sim.elapsed() + 5.0);
    sim.run_for(Duration::from_secs(5));
    for (to_whom, of_whom) in [(c, a), (c, b), (a, c), (b, c)] {
        let video = video_from(&sim, to_whom, of_whom, (from, to)).len();
        let voice = voice_from(&sim, to_whom, of_whom, (from, to)).len();
        assert_eq!(
            (video, voice),
            (0, 0),
            "{to_whom} gets nothing of {of_whom} across the caucus"
        );
    }
    for (to_whom, of_whom) in [(a, b), (b, a)] {
        assert!(
            !video_from(&sim, to_whom, of_whom, (from + 1.0, to)).is_empty()
                && !voice_from(&sim, to_whom, of_whom, (from + 1.0, to)).is_empty(),
            "{to_whom} and {of_whom} talk in the caucus"
        );
    }
    assert!(
        told_pause(&sim, c, a, Some(VideoPause::Caucus)),
        "c is told why a's video stopped: {:?}",
        sim.participants[c].pauses
    );
    // What crosses it is negotiated inactive: str0m sends nothing there, padding neither.
    for (to_whom, of_whom, parted) in [(c, a, true), (a, c, true), (a, b, false)] {
        let directions = directions_to(&sim, to_whom, of_whom);
        let expected = match parted {
            true => Direction::Inactive,
            false => Direction::SendOnly,
        };
        assert!(
            directions.len() == 2 && directions.iter().all(|d| *d == expected),
            "{to_whom}'s streams of {of_whom}: {directions:?}"
        );
    }

    let now = sim.now;
    sim.room.set_caucus(None, now);
    let back = sim.elapsed();
    sim.run_for(Duration::from_secs(4));
    for (to_whom, of_whom) in [(c, a), (c, b), (a, c), (b, c)] {
        let directions = directions_to(&sim, to_whom, of_whom);
        assert!(
            directions.iter().all(|d| *d == Direction::SendOnly),
            "{to_whom}'s streams of {of_whom} send again: {directions:?}"
        );
        assert!(
            !video_from(&sim, to_whom, of_whom, (back + 2.0, back + 4.0)).is_empty()
                && !voice_from(&sim, to_whom, of_whom, (back + 1.0, back + 4.0)).is_empty(),
            "{to_whom} gets {of_whom} again"
        );
        assert_continuous(&sim, to_whom, of_whom);
        let numbers: Vec<u64> = voice_from(&sim, to_whom, of_whom, (0.0, f64::MAX))
            .iter()
            .map(|r| r.seq_no)
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "{to_whom}'s copy of {of_whom}'s voice goes on without a gap in its numbers"
        );
    }
}

#[test]
fn an_adviser_of_the_mediator_is_heard_by_the_host_alone_until_brought_into_the_room() {
    let mut sim = Sim::new();
    let host = sim.join("host", HOST, true);
    let party = sim.join("party", PARTY, true);
    let expert = sim.join("expert", ADVISER, true);
    sim.run_for(Duration::from_secs(5));
    let window = (1.0, 5.0);
    for (to_whom, of_whom) in [
        (host, expert),
        (expert, host),
        (expert, party),
        (host, party),
    ] {
        assert!(
            !video_from(&sim, to_whom, of_whom, window).is_empty()
                && !voice_from(&sim, to_whom, of_whom, window).is_empty(),
            "{to_whom} sees and hears {of_whom}"
        );
    }
    assert_eq!(
        (
            video_from(&sim, party, expert, (0.0, 5.0)).len(),
            voice_from(&sim, party, expert, (0.0, 5.0)).len()
        ),
        (0, 0),
        "the party gets nothing of the adviser"
    );
    assert!(
        directions_to(&sim, party, expert)
            .iter()
            .all(|d| *d == Direction::Inactive),
        "the adviser's streams to the party are inactive: no padding crosses either"
    );
    assert!(
        told_pause(&sim, party, expert, Some(VideoPause::HostsOnly)),
        "the party is told why: {:?}",
        sim.participants[party].pauses
    );

    let expert_id = sim.participants[expert].id.clone();
    let now = sim.now;
    sim.room.set_hosts_only(&expert_id, false, now);
    let back = sim.elapsed();
    sim.run_for(Duration::from_secs(4));
    assert!(
        !video_from(&sim, party, expert, (back + 2.0, back + 4.0)).is_empty()
            && !voice_from(&sim, party, expert, (back + 1.0, back + 4.0)).is_empty(),
        "brought into the room, the expert reaches the party"
    );
    assert_continuous(&sim, party, expert);

    let now = sim.now;
    sim.room.set_hosts_only(&expert_id, true, now);
    let (from, to) = (sim.elapsed() + 0.05, sim.elapsed() + 3.0);
    sim.run_for(Duration::from_secs(3));
    assert_eq!(
        (
            video_from(&sim, party, expert, (from, to)).len(),
            voice_from(&sim, party, expert, (from, to)).len()
        ),
        (0, 0),
        "advising the mediator only again, nothing reaches the party at once"
    );
    assert!(!voice_from(&sim, host, expert, (from, to)).is_empty());
}

/// The directions the SFU has negotiated for the streams of `publisher` it sends `subscriber`.
fn directions_to(sim: &Sim, subscriber: usize, publisher: usize) -> Vec<Direction> {
    let room = &sim.room;
    let key_of = |i: usize| {
        room.peers
            .iter()
            .find(|p| p.participant == sim.participants[i].id)
            .map(|p| p.key)
    };
    let (Some(subscriber), Some(publisher)) = (key_of(subscriber), key_of(publisher)) else {
        return Vec::new();
    };
    let Some(peer) = room.peers.iter().find(|p| p.key == subscriber) else {
        return Vec::new();
    };
    peer.tracks_out
        .iter()
        .filter(|t| t.source.peer == publisher)
        .filter_map(|t| t.open_mid())
        .filter_map(|mid| peer.rtc.media(mid).map(|m| m.direction()))
        .collect()
}
