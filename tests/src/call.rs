//! A call of three Chromium pages in the demo's room, each publishing a phone's camera as VP8
//! simulcast: the mediator, a party, and a third page (a party) that may sit in a network
//! namespace behind a bandwidth cap, or whose path through a relay loses and delays packets.
//! What the simulcast and weak-network tests share.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use concord_signaling::config::Config;
use serde_json::Value;

use crate::chromium::{chromium_path, secure_origin_flag, Browser, Page};
use crate::netns::Netns;
use crate::probes::StatsSample;
use crate::relay::Relay;
use crate::server::demo_link;
use crate::webclient::{
    enter_room, wait_for_recording_state, wait_for_remote_streams, BROWSER_TIMEOUT,
};
use crate::TestServer;
use concord_signaling::DemoInvitation;

/// A laptop's window: every tile of the room large on screen.
/// Browsers and a server per call are heavy on two cores, and a starved browser skews what a
/// link carries: a test file whose tests each hold this runs its calls one after the other.
pub static ONE_CALL_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const LARGE_VIEWPORT: (u32, u32) = (1280, 900);

/// How often [`watch`] reads a page's statistics.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// The camera of a mid-range phone: 640×360 at 15 frames a second, which the client sends as
/// two simulcast layers (320×180 and 640×360). Three pages encoding 720p in three layers each
/// would leave the two cores of these machines no time for anything else.
const PHONE_CAMERA: &str = "(() => {
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) return;
    const get = md.getUserMedia.bind(md);
    md.getUserMedia = (constraints) => {
        if (constraints && constraints.video) {
            const video = typeof constraints.video === 'object' ? constraints.video : {};
            constraints = { ...constraints, video: { ...video,
                width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 15 } } };
        }
        return get(constraints);
    };
})();";

/// A phone camera's picture, as Chromium's fake camera plays it from a file. Chromium's own
/// fake picture is flat and nearly still: VP8 sends its 360p layer in about 130 kbit/s, where
/// a real phone camera needs the 500 the layer allows, so a 300 kbit/s link looked able to
/// carry more than it would for anyone. Noise on every frame makes each layer cost what it
/// would. Made once by `ffmpeg` (4 s, looped by Chromium), in the clip cache.
fn phone_camera_picture() -> PathBuf {
    let dir = concord_client::clip::Clip::default_cache_dir();
    let path = dir.join("phone-camera-640x360-15fps-noise.y4m");
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("the clip cache directory");
    // A name of its own until it is whole: pages of other tests may look for it meanwhile.
    let partial = dir.join(format!("phone-camera.{}.partial.y4m", std::process::id()));
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=15,noise=alls=20:allf=t")
        .args(["-t", "4", "-pix_fmt", "yuv420p"])
        .arg(&partial)
        .status()
        .expect("ffmpeg (Debian's ffmpeg package)");
    assert!(status.success(), "ffmpeg could not make the camera picture");
    std::fs::rename(&partial, &path).expect("the camera picture in place");
    path
}

/// A change to the test server's configuration.
pub type ConfigureServer = Box<dyn FnOnce(&mut Config) + Send>;

/// Where the third page runs and how large each page is.
pub struct CallSetup {
    /// The third page runs in its own network namespace (for caps on its link).
    pub third_in_netns: bool,
    /// All media goes through a user-space relay in front of the SFU (for loss and delay on
    /// one page's path): the server advertises the relay's address as its own.
    pub through_relay: bool,
    /// The mediator's, the party's and the third page's viewports.
    pub viewports: [(u32, u32); 3],
    /// Cameras publish simulcast layers (the server's `media.simulcast`).
    pub simulcast: bool,
    /// The third page's namespace lets no UDP out: its media can only come over TCP.
    pub third_udp_blocked: bool,
    /// Nothing from the third page's namespace reaches the SFU's media ports (UDP or TCP): its
    /// media can only come through a TURN server.
    pub third_cut_off_from_media: bool,
    /// A namespace the test made for the third page (with something of its own on its root
    /// side, such as a TURN server); implies `third_in_netns`.
    pub netns: Option<Netns>,
    /// Changes to the server's configuration, after the call's own.
    pub configure: Option<ConfigureServer>,
    /// More Chromium flags for the third page's browser.
    pub third_browser_flags: Vec<String>,
}

impl Default for CallSetup {
    fn default() -> CallSetup {
        CallSetup {
            third_in_netns: false,
            through_relay: false,
            viewports: [LARGE_VIEWPORT; 3],
            simulcast: true,
            third_udp_blocked: false,
            third_cut_off_from_media: false,
            netns: None,
            configure: None,
            third_browser_flags: Vec::new(),
        }
    }
}

/// The participant ids of the three pages.
pub struct Ids {
    pub mediator: String,
    pub party: String,
    pub third: String,
}

/// Three pages in one room, all sending and receiving.
pub struct Call {
    pub ns: Option<Netns>,
    pub relay: Option<Relay>,
    pub server: TestServer,
    outside: Browser,
    inside: Option<Browser>,
    pub mediator: Page,
    pub party: Page,
    pub third: Page,
    pub ids: Ids,
    /// The demo's invitation links, for more pages.
    links: Vec<DemoInvitation>,
}

/// Blocks everything between `ns` and the server's media ports (UDP and ICE-TCP), as a firewall or
/// a lost signal does; signaling still goes through.
fn cut_off_from_media(ns: &Netns, server: &TestServer) -> anyhow::Result<()> {
    let running = server.server()?;
    let media = [Some(running.media_addr()), running.media_tcp_addr()];
    for addr in media.into_iter().flatten() {
        let SocketAddr::V4(addr) = addr else {
            anyhow::bail!("test servers bind IPv4, not {addr}");
        };
        ns.block_port(*addr.ip(), addr.port())?;
    }
    Ok(())
}

impl Call {
    /// Cuts the third page's namespace off from the media ports (it must run in one: see [`CallSetup::third_in_netns`]);
    /// [`Netns::unblock`] gives the path back.
    pub fn cut_third_off_from_media(&self) -> anyhow::Result<()> {
        let ns = self
            .ns
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the third page has no namespace"))?;
        cut_off_from_media(ns, &self.server)
    }

    /// Starts a server, opens the three pages from the demo's links and waits until each
    /// decodes the other two.
    pub async fn start(setup: CallSetup) -> Call {
        chromium_path().expect("Chromium is required for the browser tests");
        let wants_ns =
            setup.third_in_netns || setup.third_udp_blocked || setup.third_cut_off_from_media;
        let ns = setup.netns.or_else(|| {
            wants_ns
                .then(|| Netns::create().expect("a network namespace (needs root and iproute2)"))
        });
        if let (Some(ns), true) = (&ns, setup.third_udp_blocked) {
            ns.block_udp()
                .expect("block UDP out of the namespace (needs nftables)");
        }
        let mut configure = setup.configure;
        let mut relay = match setup.through_relay {
            true => Some(Relay::bind().await.expect("bind the relay")),
            false => None,
        };
        let simulcast = setup.simulcast;
        let server = match (&ns, &relay) {
            (Some(ns), _) => {
                TestServer::start_for_netns(ns, |c| {
                    c.media.simulcast = simulcast;
                    if let Some(configure) = configure.take() {
                        configure(c);
                    }
                })
                .await
            }
            (None, Some(relay)) => {
                let port = relay.addr().port();
                TestServer::start_with(|c| {
                    c.media.advertised_ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
                    c.media.advertised_port = Some(port);
                    // The relay carries UDP only: an ICE-TCP path would go around it (and
                    // around the loss and delay it plays).
                    c.media.tcp = false;
                    c.media.simulcast = simulcast;
                    if let Some(configure) = configure.take() {
                        configure(c);
                    }
                })
                .await
            }
            (None, None) => {
                TestServer::start_with(|c| {
                    c.media.simulcast = simulcast;
                    if let Some(configure) = configure.take() {
                        configure(c);
                    }
                })
                .await
            }
        }
        .expect("a server");
        if let (Some(ns), true) = (&ns, setup.third_cut_off_from_media) {
            cut_off_from_media(ns, &server)
                .expect("cut the namespace off from the media ports (needs nftables)");
        }
        if let Some(relay) = &mut relay {
            let media = server.server().expect("the server runs").media_addr();
            relay.start(media).expect("relay to the SFU");
        }
        let secure = secure_origin_flag(&[server.base_url()]);
        let camera = format!(
            "--use-file-for-fake-video-capture={}",
            phone_camera_picture().display()
        );
        let links = server.seed_demo().await.expect("the demo's links");
        let link = |role: &str, nth: usize| demo_link(&links, role, nth);
        let outside = Browser::launch_with(&[&secure, &camera])
            .await
            .expect("Chromium in the root namespace");
        let mut inside_flags = vec![secure.as_str(), camera.as_str()];
        inside_flags.extend(setup.third_browser_flags.iter().map(String::as_str));
        let inside = match &ns {
            Some(ns) => Some(
                Browser::launch_in_netns(ns, &inside_flags)
                    .await
                    .expect("Chromium in the namespace"),
            ),
            None => None,
        };
        let [mediator_view, party_view, third_view] = setup.viewports;
        let mediator = open(&outside, &link("mediator", 0), mediator_view).await;
        enter_room(&mediator, "the mediator", false).await;
        let party = open(&outside, &link("party", 0), party_view).await;
        enter_room(&party, "the party", true).await;
        let third = open(
            inside.as_ref().unwrap_or(&outside),
            &link("party", 1),
            third_view,
        )
        .await;
        enter_room(&third, "the third page", true).await;
        for (page, who) in [
            (&mediator, "the mediator"),
            (&party, "the party"),
            (&third, "the third page"),
        ] {
            wait_for_remote_streams(page, who, 2).await;
        }
        let me = |sample: StatsSample| sample.me.expect("the page knows its participant id");
        let ids = Ids {
            mediator: me(sample(&mediator).await),
            party: me(sample(&party).await),
            third: me(sample(&third).await),
        };
        Call {
            ns,
            relay,
            server,
            outside,
            inside,
            mediator,
            party,
            third,
            ids,
            links,
        }
    }

    /// One more page in the room (beside the browser of the mediator and the party), from the
    /// demo's first link for `role`; returns it and its participant id once it decodes the
    /// three others.
    pub async fn open_fourth(&self, role: &str, viewport: (u32, u32)) -> (Page, String) {
        let page = open(&self.outside, &demo_link(&self.links, role, 0), viewport).await;
        enter_room(&page, role, true).await;
        wait_for_remote_streams(&page, role, 3).await;
        let id = sample(&page)
            .await
            .me
            .expect("the page knows its participant id");
        (page, id)
    }

    /// A new page on `url` (beside the mediator's and the party's), at `viewport`, with the
    /// phone's camera; the test takes it from there.
    pub async fn open_link(&self, url: &str, viewport: (u32, u32)) -> Page {
        open(&self.outside, url, viewport).await
    }

    /// Closes the pages and browsers, stops the server, deletes the namespace.
    pub async fn finish(self) {
        drop((self.mediator, self.party, self.third));
        if let Some(inside) = self.inside {
            inside.close().await;
        }
        self.outside.close().await;
        self.server.shutdown().await;
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        drop(self.ns);
    }

    /// The mediator presses record, both parties agree, and every page shows it on.
    pub async fn start_recording(&self) {
        self.mediator
            .wait_and_click("[data-testid=record-button]", BROWSER_TIMEOUT)
            .await
            .expect("the mediator presses record");
        for page in [&self.party, &self.third] {
            page.wait_and_click("[data-testid=consent-yes]", BROWSER_TIMEOUT)
                .await
                .expect("each party is asked and agrees");
        }
        for (page, who) in self.pages() {
            wait_for_recording_state(page, "on", who).await;
        }
    }

    /// The mediator stops the recording (and confirms it).
    pub async fn stop_recording(&self) {
        self.mediator
            .evaluate("window.confirm = () => true")
            .await
            .expect("accept the stop dialog");
        self.mediator
            .wait_and_click("[data-testid=record-button]", BROWSER_TIMEOUT)
            .await
            .expect("the mediator stops recording");
        wait_for_recording_state(&self.mediator, "off", "the mediator").await;
    }

    /// The three pages, each with who it is.
    pub fn pages(&self) -> [(&Page, &'static str); 3] {
        [
            (&self.mediator, "the mediator"),
            (&self.party, "the party"),
            (&self.third, "the third page"),
        ]
    }

    /// The relay's name for `page`'s media path (what its selected ICE pair sends from).
    pub async fn relay_client(&self, page: &Page) -> SocketAddr {
        let relay = self
            .relay
            .as_ref()
            .expect("the call goes through the relay");
        let pair = sample(page).await.candidate_pair.unwrap_or_default();
        let local: SocketAddr = pair
            .local
            .parse()
            .unwrap_or_else(|e| panic!("the page's selected pair {pair:?}: {e}"));
        relay.client_for(local).unwrap_or_else(|| {
            panic!(
                "the page's media goes through the relay: it sends from {local}; relay clients {:?}",
                relay.clients()
            )
        })
    }
}

/// Opens `url` in `browser` at `viewport`, with the phone's camera.
async fn open(browser: &Browser, url: &str, viewport: (u32, u32)) -> Page {
    let page = browser.new_page("about:blank").await.expect("a page");
    page.set_viewport(viewport.0, viewport.1)
        .await
        .expect("the page's size");
    page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({ "source": PHONE_CAMERA }),
    )
    .await
    .expect("the phone camera");
    page.navigate(url).await.expect("open the link");
    page
}

/// The page's statistics now.
pub async fn sample(page: &Page) -> StatsSample {
    StatsSample::read_ready(page)
        .await
        .expect("the page's statistics")
}

/// Reads `page` every [`SAMPLE_EVERY`] for `how_long`, or until `done` says so.
pub async fn watch(
    page: &Page,
    how_long: Duration,
    done: impl Fn(&[StatsSample]) -> bool,
) -> Vec<StatsSample> {
    let end = Instant::now() + how_long;
    let mut samples = Vec::new();
    while Instant::now() < end {
        samples.push(sample(page).await);
        if done(&samples) {
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    samples
}

/// The height of the frames `sample`'s page decodes from `who`.
pub fn height_from(sample: &StatsSample, who: &str) -> Option<u32> {
    sample.video_from(who).and_then(|v| v.frame_height)
}

/// The attributes (`data-*`) of `who`'s tile on `page`, `Null` when it has none.
pub async fn tile(page: &Page, who: &str) -> Value {
    let expression = format!(
        "(() => {{
            const el = document.querySelector('[data-testid=tile][data-participant-id=\"{who}\"]');
            return el ? Object.assign({{}}, el.dataset) : null;
        }})()"
    );
    page.evaluate(&expression).await.unwrap_or(Value::Null)
}
