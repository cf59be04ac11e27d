//! Timing recovery with real Chromium: from the moment a page's path (or the server) is back,
//! how long until each video that crosses it decodes a new frame. What the recovery benchmark
//! (`tests/benches/recovery.rs`) measures, and a call of three pages on a server process that
//! can be killed (the mediator signed in, two parties let in from the lobby), which the
//! restart test (`tests/tests/server_restart.rs`) shares.
//!
//! [`FrameWatch`] reads every page's statistics together, again and again, and follows each
//! [`Direction`] (one video, decoded on one page). A video has recovered at the first new
//! frame that ends a stall (no new frame for [`STALL`]): after an outage of seconds that is
//! the first new frame at all; after an address change it skips the frames still on their way
//! when the path changed. A video that never stalls counts as recovered at once.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::chromium::{Browser, Page};
use crate::probes::StatsSample;
use crate::server::{ServerProcess, TEST_PASSWORD};
use crate::webclient::{enter_room, fill, wait_for_remote_streams, BROWSER_TIMEOUT};

/// How often the pages are read while a recovery is timed: the figures are as precise as this
/// (plus the time the three pages take to answer on a busy machine).
pub const SAMPLE_RECOVERY: Duration = Duration::from_millis(150);
/// How often the pages are read while nothing is timed (during an outage): often enough to
/// see a stall begin, seldom enough not to steal the pages' CPU.
pub const SAMPLE_IDLE: Duration = Duration::from_millis(500);
/// Between two new frames of one video, a gap this long is a stall (the cameras send 15 frames
/// a second; a page on two busy cores may decode 3-5 a second, a frame every 200-330 ms).
pub const STALL: Duration = Duration::from_secs(1);
/// A video flows steadily once it has decoded this long without a stall; one that decodes
/// this long after the path is back without ever stalling never stopped.
pub const STEADY: Duration = Duration::from_secs(3);

/// Milliseconds since the Unix epoch, the clock of [`StatsSample::timestamp_ms`].
pub fn epoch_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1000.0)
}

/// One video across a disruption: `publisher`'s camera as the page at `viewer` (an index into
/// [`FrameWatch`]'s pages) decodes it.
#[derive(Debug, Clone)]
pub struct Direction {
    /// e.g. "the mediator → the party".
    pub name: String,
    /// Which directions are reported together (the slowest of them).
    pub group: &'static str,
    pub viewer: usize,
    pub publisher: String,
}

/// What a [`FrameWatch`] knows of one direction.
#[derive(Debug, Default)]
struct Seen {
    /// The inbound stream last seen (SSRC and track id): a new peer connection starts new
    /// streams, whose frame counts start again from zero.
    stream: Option<(u32, Option<String>)>,
    frames: u64,
    /// The page's clock (ms) at the last reading with a new frame.
    last_new_ms: Option<f64>,
    /// When the video last began to flow after a stall (or was first seen decoding).
    flowing_since_ms: Option<f64>,
    /// When it recovered after [`FrameWatch::back`].
    recovered_ms: Option<f64>,
}

/// Every page of a call read together, following the frames decoded in each [`Direction`].
pub struct FrameWatch<'a> {
    pages: Vec<&'a Page>,
    directions: Vec<Direction>,
    seen: Vec<Seen>,
    /// When the path (or the server) came back: the epoch's ms.
    back_ms: Option<f64>,
    /// The page's clock at the last reading of each page.
    last_read_ms: Vec<f64>,
}

impl<'a> FrameWatch<'a> {
    pub fn new(pages: Vec<&'a Page>, directions: Vec<Direction>) -> FrameWatch<'a> {
        let seen = directions.iter().map(|_| Seen::default()).collect();
        let last_read_ms = vec![0.0; pages.len()];
        FrameWatch {
            pages,
            directions,
            seen,
            back_ms: None,
            last_read_ms,
        }
    }

    /// Reads every page at once and follows each direction. A page that cannot be read (its
    /// peer connection being replaced, its browser busy) is skipped this time.
    pub async fn read(&mut self) {
        let samples = join_all(self.pages.iter().map(|page| StatsSample::read(page))).await;
        for (viewer, sample) in samples.into_iter().enumerate() {
            let Ok(sample) = sample else { continue };
            self.last_read_ms[viewer] = sample.timestamp_ms;
            for (direction, seen) in self.directions.iter().zip(&mut self.seen) {
                if direction.viewer == viewer {
                    follow(seen, &sample, &direction.publisher, self.back_ms);
                }
            }
        }
    }

    /// Reads every [`SAMPLE_IDLE`] for `how_long`.
    pub async fn read_for(&mut self, how_long: Duration) {
        let end = Instant::now() + how_long;
        while Instant::now() < end {
            self.read().await;
            let left = end.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(SAMPLE_IDLE)).await;
        }
    }

    /// Whether every direction has decoded for [`STEADY`] without a stall.
    pub fn steady(&self) -> bool {
        let stall_ms = STALL.as_secs_f64() * 1000.0;
        let steady_ms = STEADY.as_secs_f64() * 1000.0;
        self.directions
            .iter()
            .zip(&self.seen)
            .all(|(direction, seen)| {
                let now = self.last_read_ms[direction.viewer];
                match (seen.flowing_since_ms, seen.last_new_ms) {
                    (Some(since), Some(last)) => now - since >= steady_ms && now - last <= stall_ms,
                    _ => false,
                }
            })
    }

    /// Reads every [`SAMPLE_RECOVERY`] until every direction flows steadily or `within` has
    /// passed: whether they flow.
    pub async fn until_steady(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        self.read().await;
        while !self.steady() && Instant::now() < deadline {
            tokio::time::sleep(SAMPLE_RECOVERY).await;
            self.read().await;
        }
        self.steady()
    }

    /// Marks the moment the path (or the server) is back: recovery is timed from here.
    pub fn back(&mut self, at_ms: f64) {
        self.back_ms = Some(at_ms);
        for seen in &mut self.seen {
            seen.recovered_ms = None;
        }
    }

    /// Reads every [`SAMPLE_RECOVERY`] until every direction has recovered or `deadline` has
    /// passed since [`FrameWatch::back`]: each direction's time to recover, `None` for one that
    /// did not.
    pub async fn until_recovered(
        &mut self,
        deadline: Duration,
    ) -> Vec<(Direction, Option<Duration>)> {
        let back_ms = *self.back_ms.get_or_insert_with(epoch_ms);
        let give_up_ms = back_ms + deadline.as_secs_f64() * 1000.0;
        loop {
            self.read().await;
            let all = self.seen.iter().all(|seen| seen.recovered_ms.is_some());
            if all || epoch_ms() >= give_up_ms {
                break;
            }
            tokio::time::sleep(SAMPLE_RECOVERY).await;
        }
        self.directions
            .iter()
            .zip(&self.seen)
            .map(|(direction, seen)| {
                let took = seen
                    .recovered_ms
                    .filter(|at| *at <= give_up_ms)
                    .map(|at| Duration::from_secs_f64(((at - back_ms) / 1000.0).max(0.0)));
                (direction.clone(), took)
            })
            .collect()
    }
}

/// Follows one direction through `sample` of its viewer's page.
fn follow(seen: &mut Seen, sample: &StatsSample, publisher: &str, back_ms: Option<f64>) {
    let Some(video) = sample.video_from(publisher) else {
        return;
    };
    let stream = Some((video.ssrc, video.track_identifier.clone()));
    let new_frame = match seen.stream == stream {
        true => video.frames_decoded > seen.frames,
        false => video.frames_decoded > 0,
    };
    seen.stream = stream;
    seen.frames = video.frames_decoded;
    if !new_frame {
        return;
    }
    let at = sample.timestamp_ms;
    let stall_ms = STALL.as_secs_f64() * 1000.0;
    let after_stall = seen.last_new_ms.is_none_or(|last| at - last > stall_ms);
    if after_stall {
        seen.flowing_since_ms = Some(at);
    }
    if let (Some(back), None) = (back_ms, seen.recovered_ms) {
        let never_stopped = seen
            .flowing_since_ms
            .is_some_and(|since| since <= back && at - back >= STEADY.as_secs_f64() * 1000.0);
        if at >= back && (after_stall || never_stopped) {
            seen.recovered_ms = Some(match after_stall {
                true => at,
                false => back,
            });
        }
    }
    seen.last_new_ms = Some(at);
}

/// Waits until `testid` is on `page`.
pub async fn wait_for_testid(page: &Page, testid: &str, what: &str) {
    let expression = format!("!!document.querySelector('[data-testid={testid}]')");
    page.wait_for(&expression, BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what} ({testid}) appears: {e:#}\n{:?}", page.console()));
}

/// Clicks `selector` once it is on `page`.
pub async fn click(page: &Page, selector: &str, what: &str) {
    page.wait_and_click(selector, BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what}: clicking {selector}: {e:#}\n{:?}", page.console()));
}

/// The mediator signs in on the console and opens the session's room.
pub async fn mediator_enters(
    browser: &Browser,
    server: &ServerProcess,
    username: &str,
    session_id: &str,
) -> Page {
    let page = browser
        .new_page(&server.url("/"))
        .await
        .expect("open the console");
    wait_for_testid(&page, "login-username", "the sign-in form").await;
    for (testid, value) in [
        ("login-username", username),
        ("login-password", TEST_PASSWORD),
    ] {
        fill(&page, testid, value)
            .await
            .unwrap_or_else(|e| panic!("typing into {testid}: {e:#}"));
    }
    click(&page, "[data-testid=login-submit]", "signing in").await;
    page.wait_for(
        "!document.querySelector('[data-testid=login-form]')",
        BROWSER_TIMEOUT,
    )
    .await
    .expect("signed in");
    page.evaluate(&format!("location.hash = '#/sessions/{session_id}/room'"))
        .await
        .expect("open the room");
    enter_room(&page, "the mediator", false).await;
    page
}

/// A party opens its link, passes the device check, waits in the lobby and is let in from
/// the mediator's lobby panel.
pub async fn party_admitted(browser: &Browser, host: &Page, link: &str, who: &str) -> Page {
    let page = browser.new_page(link).await.expect("open the party's link");
    click(&page, "[data-testid=join-button]", &format!("{who} joins")).await;
    let id = page
        .wait_for(
            "window.concord && window.concord.state === 'lobby' && window.concord.participantId",
            BROWSER_TIMEOUT,
        )
        .await
        .unwrap_or_else(|e| panic!("{who} waits in the lobby: {e:#}"));
    let id = id.as_str().expect("a participant id").to_owned();
    let admit = format!(
        "[data-testid=lobby-entry][data-participant-id=\"{id}\"] [data-testid=admit-button]"
    );
    click(host, &admit, &format!("the mediator lets {who} in")).await;
    enter_room(&page, who, false).await;
    page
}

/// A call of three pages in one browser on a [`ServerProcess`]: the mediator signed in on the
/// console, two parties invited and let in from the lobby, each decoding the other two.
pub struct ProcessCall {
    pub server: ServerProcess,
    pub browser: Browser,
    /// The mediator's, the party's and the other party's pages.
    pub pages: [Page; 3],
    /// Their participant ids, in the same order.
    pub ids: [String; 3],
}

/// Who each page of a [`ProcessCall`] is, in its order.
pub const PROCESS_CALL_NAMES: [&str; 3] = ["the mediator", "the party", "the other party"];

impl ProcessCall {
    /// Starts the server process (`entry`: see [`ServerProcess::start`]), opens a session with
    /// the lobby on and brings in the three pages.
    pub async fn start(entry: &str) -> ProcessCall {
        let server = ServerProcess::start(entry)
            .await
            .expect("start the server process");
        let (mediator, username) = server.account("mediator").await.expect("a mediator");
        let dispute = mediator.create_dispute().await.expect("a dispute");
        let dispute_id = crate::api::id_of(&dispute).expect("its id");
        let session = mediator
            .create_session(&dispute_id, true)
            .await
            .expect("a session with the lobby on");
        let session_id = crate::api::id_of(&session).expect("its id");
        let mut links = Vec::new();
        for name in ["张建国", "李秀兰"] {
            let invitation = mediator
                .invite(&session_id, "party", name)
                .await
                .expect("invite a party");
            links.push(invitation.url);
        }
        let browser = Browser::launch().await.expect("launch Chromium");
        let [mediator_name, party_name, other_name] = PROCESS_CALL_NAMES;
        let host = mediator_enters(&browser, &server, &username, &session_id).await;
        let party = party_admitted(&browser, &host, &links[0], party_name).await;
        let other = party_admitted(&browser, &host, &links[1], other_name).await;
        let pages = [host, party, other];
        let mut ids = Vec::new();
        for (page, who) in pages.iter().zip([mediator_name, party_name, other_name]) {
            wait_for_remote_streams(page, who, 2).await;
            let id = page
                .evaluate("window.concord.participantId")
                .await
                .expect("the page's participant id");
            ids.push(id.as_str().expect("a participant id").to_owned());
        }
        let ids = ids.try_into().expect("three pages, three ids");
        ProcessCall {
            server,
            browser,
            pages,
            ids,
        }
    }

    /// Every page decoding every other: six directions.
    pub fn every_direction(&self, group: &'static str) -> Vec<Direction> {
        let mut directions = Vec::new();
        for (viewer, viewer_name) in PROCESS_CALL_NAMES.iter().enumerate() {
            for (publisher, publisher_name) in PROCESS_CALL_NAMES.iter().enumerate() {
                if viewer != publisher {
                    directions.push(Direction {
                        name: format!("{publisher_name} → {viewer_name}"),
                        group,
                        viewer,
                        publisher: self.ids[publisher].clone(),
                    });
                }
            }
        }
        directions
    }

    /// Closes the pages and the browser; the server process dies with its handle.
    pub async fn finish(self) {
        drop(self.pages);
        self.browser.close().await;
        drop(self.server);
    }
}
