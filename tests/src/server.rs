//! A real Concord server in-process (HTTP and media on 127.0.0.1, port 0, SQLite in a fresh
//! temporary directory) and a small REST client for the records the tests need.
//!
//! [`TestServer::start_for_netns`] binds it on a namespace's root-side veth address instead, so
//! a browser inside that [`Netns`] reaches it across the shaped veth and browsers in the root
//! namespace reach it locally.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use concord_signaling::{Config, DemoInvitation, Server};

pub use concord_client::api::{id_of, ApiClient, ApiResponse, Invitation};
use concord_client::peer::{JoinAs, Peer, PeerOptions};
use concord_client::signal::{msg_type, SignalClient};

use crate::netns::{self, Netns};
use crate::SIGNAL_TIMEOUT;

/// The account `Config::for_tests` creates at start.
pub const ADMIN_USERNAME: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// Password given to every account the tests create.
pub const TEST_PASSWORD: &str = "a-long-test-password-1234";

/// Logs from the server (and webrtc-rs) go to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A running server with its own data directory; shut down with [`TestServer::shutdown`]
/// (dropping it also stops it, less gracefully).
pub struct TestServer {
    server: Option<Server>,
    base_url: String,
    addr: SocketAddr,
    next_name: AtomicU32,
    // Dropped after the server.
    data_dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with [`Config::for_tests`].
    pub async fn start() -> Result<TestServer> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with [`Config::for_tests`] changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Result<TestServer> {
        Self::start_on(Ipv4Addr::LOCALHOST, configure).await
    }

    /// Starts a server whose HTTP and media sockets are bound on `netns`'s root-side veth
    /// address (port 0 each; media advertised as bound), then changed by `configure`. Pages in
    /// a browser inside `netns` load it and send media to it across the veth, so the SFU's
    /// packets to them pass [`Netns::cap_downlink`]. A browser in the root namespace opens the
    /// same links. Chromium needs [`crate::chromium::secure_origin_flag`]`(&[base_url])` to
    /// give such pages a camera.
    pub async fn start_for_netns(
        netns: &Netns,
        configure: impl FnOnce(&mut Config),
    ) -> Result<TestServer> {
        Self::start_on(netns.root_addr(), configure).await
    }

    /// Starts a server with HTTP and media bound on `ip` (127.0.0.1 or a test veth address,
    /// nothing that leaves the machine), then changed by `configure`.
    pub async fn start_on(ip: Ipv4Addr, configure: impl FnOnce(&mut Config)) -> Result<TestServer> {
        init_logging();
        if !(ip.is_loopback() || netns::in_subnet(ip)) {
            bail!("the test server binds only on 127.0.0.0/8 or a test veth address, not {ip}");
        }
        let data_dir = tempfile::Builder::new()
            .prefix("concord-test-")
            .tempdir()
            .context("creating the server's data directory")?;
        let mut config = Config::for_tests(data_dir.path());
        config.listen = SocketAddr::new(IpAddr::V4(ip), 0);
        config.media.bind = SocketAddr::new(IpAddr::V4(ip), 0);
        configure(&mut config);
        let server = concord_signaling::start(config)
            .await
            .context("starting the Concord server")?;
        let addr = server.http_addr();
        let base_url = server.base_url().trim_end_matches('/').to_owned();
        let on_ip = [format!("http://{ip}:"), format!("https://{ip}:")];
        if addr.ip() != IpAddr::V4(ip) || !on_ip.iter().any(|start| base_url.starts_with(start)) {
            server.shutdown().await;
            bail!("the test server must stay on {ip}, got {addr} and {base_url}");
        }
        Ok(TestServer {
            server: Some(server),
            base_url,
            addr,
            next_name: AtomicU32::new(1),
            data_dir,
        })
    }

    /// `http://127.0.0.1:PORT` (or the veth address it is bound on)
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `base_url` + `path` (`path` starts with `/`); an absolute URL is returned as is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.base_url, path)
        }
    }

    /// `ws://127.0.0.1:PORT/ws` (or the veth address it is bound on)
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The server handle.
    pub fn server(&self) -> Result<&Server> {
        self.server
            .as_ref()
            .ok_or_else(|| anyhow!("server already shut down"))
    }

    /// What `concord demo` does: a demo dispute, a live session with the lobby off, and
    /// invitations whose URLs are made absolute here.
    pub async fn seed_demo(&self) -> Result<Vec<DemoInvitation>> {
        let mut invitations = self.server()?.seed_demo().await.context("seed_demo")?;
        for inv in &mut invitations {
            inv.url = self.url(&inv.url);
            if !inv.url.starts_with(&self.base_url) {
                bail!("demo link {} does not point at {}", inv.url, self.base_url);
            }
        }
        Ok(invitations)
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// A client with no account (its own cookie jar).
    pub fn client(&self) -> Result<ApiClient> {
        ApiClient::new(&self.base_url)
    }

    /// A client signed in as the admin.
    pub async fn admin(&self) -> Result<ApiClient> {
        let client = self.client()?;
        client.login(ADMIN_USERNAME, ADMIN_PASSWORD).await?;
        Ok(client)
    }

    /// Creates an account with `role` (`mediator`, `staff`, `admin`) as the admin and returns a
    /// client signed in as it.
    pub async fn account(&self, role: &str) -> Result<ApiClient> {
        let n = self.next_name.fetch_add(1, Ordering::Relaxed);
        let username = format!("{role}{n}");
        let admin = self.admin().await?;
        admin
            .post(
                "/api/users",
                json!({
                    "username": username,
                    "display_name": format!("Test {role} {n}"),
                    "password": TEST_PASSWORD,
                    "role": role,
                }),
            )
            .await?
            .ok()
            .with_context(|| format!("creating the {role} account {username}"))?;
        let client = self.client()?;
        client.login(&username, TEST_PASSWORD).await?;
        Ok(client)
    }

    /// A new mediator account, signed in.
    pub async fn mediator(&self) -> Result<ApiClient> {
        self.account("mediator").await
    }

    /// A signaling connection, authenticated by `client`'s cookie if it has one.
    pub async fn signal(&self, client: Option<&ApiClient>) -> Result<SignalClient> {
        let cookie = client.and_then(ApiClient::cookie);
        SignalClient::connect(&self.ws_url(), cookie.as_deref()).await
    }

    /// A signaling connection with `client`'s sign-in, joined straight into `session_id` as its
    /// host; with its participant id.
    pub async fn join_as_host(
        &self,
        client: &ApiClient,
        session_id: &str,
    ) -> Result<(SignalClient, String)> {
        let mut socket = self.signal(Some(client)).await?;
        let joined = socket.join_session(session_id, SIGNAL_TIMEOUT).await?;
        let id = participant_id(&joined, "joined")?;
        Ok((socket, id))
    }

    /// A signaling connection that presents the invitation `token` and is put in the lobby;
    /// with its participant id.
    pub async fn wait_in_lobby(&self, token: &str) -> Result<(SignalClient, String)> {
        let mut socket = self.signal(None).await?;
        let lobby = socket.join_with_token(token, SIGNAL_TIMEOUT).await?;
        let id = participant_id(&lobby, "lobby")?;
        Ok((socket, id))
    }

    /// A new mediator with a dispute and a session on it.
    pub async fn room(&self, lobby_enabled: bool) -> Result<Room> {
        let mediator = self.mediator().await?;
        let dispute = mediator.create_dispute().await?;
        let dispute_id = id_of(&dispute)?;
        let session = mediator.create_session(&dispute_id, lobby_enabled).await?;
        let session_id = id_of(&session)?;
        Ok(Room {
            mediator,
            dispute_id,
            session_id,
        })
    }

    /// A new [`room`](Self::room) whose mediator is joined over signaling as its host: the
    /// room, the host's connection and participant id.
    pub async fn hosted_room(&self, lobby_enabled: bool) -> Result<(Room, SignalClient, String)> {
        let room = self.room(lobby_enabled).await?;
        let (host, host_id) = self.join_as_host(&room.mediator, &room.session_id).await?;
        Ok((room, host, host_id))
    }
}

/// A mediator, their dispute and a session on it.
pub struct Room {
    pub mediator: ApiClient,
    pub dispute_id: String,
    pub session_id: String,
}

impl Room {
    /// Invites `name` as `role` (`party`, `expert`, `observer`).
    pub async fn invite(&self, role: &str, name: &str) -> Result<Invitation> {
        self.mediator.invite(&self.session_id, role, name).await
    }

    /// The mediator as a headless participant, joined with their account.
    pub async fn mediator_peer(&self, ws_url: &str) -> Result<Peer> {
        let cookie = self.mediator_cookie()?;
        let join = JoinAs::Account {
            session_id: &self.session_id,
            cookie: &cookie,
        };
        Peer::join(ws_url, join, SIGNAL_TIMEOUT).await
    }

    /// A new observer `name`, invited and joined as a headless participant that only receives.
    pub async fn observer_peer(&self, ws_url: &str, name: &str) -> Result<Peer> {
        let invitation = self.invite("observer", name).await?;
        let options = PeerOptions {
            publish: false,
            ..PeerOptions::default()
        };
        Peer::join_with(
            ws_url,
            JoinAs::Token(&invitation.token),
            options,
            SIGNAL_TIMEOUT,
        )
        .await
    }

    /// The mediator's `Cookie` header value.
    pub fn mediator_cookie(&self) -> Result<String> {
        self.mediator
            .cookie()
            .ok_or_else(|| anyhow!("the mediator has no session cookie"))
    }
}

/// The participant id in `reply`, which must be a `want` message (`joined`, `lobby`).
pub fn participant_id(reply: &Value, want: &str) -> Result<String> {
    if msg_type(reply) != want {
        bail!("expected {want}, got {reply}");
    }
    reply["participant_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no participant_id in {reply}"))
}

/// `host` admits participant `id`, whose connection is `member`: the `joined` it gets.
pub async fn admit(host: &SignalClient, member: &mut SignalClient, id: &str) -> Result<Value> {
    host.send(json!({"type": "admit", "participant_id": id}))?;
    member
        .expect("joined", SIGNAL_TIMEOUT)
        .await
        .with_context(|| format!("{id} admitted by the host"))
}

/// The id and username of the account `client` is signed in as.
pub async fn whoami(client: &ApiClient) -> Result<(String, String)> {
    let me = client.get("/api/auth/me").await?.ok()?;
    let field = |name: &str| {
        me["user"][name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no user.{name} in {me}"))
    };
    Ok((field("id")?, field("username")?))
}

/// The `nth` demo link (from [`TestServer::seed_demo`]) for `role`.
pub fn demo_link(links: &[DemoInvitation], role: &str, nth: usize) -> String {
    links
        .iter()
        .filter(|l| l.role == role)
        .nth(nth)
        .map(|l| l.url.clone())
        .unwrap_or_else(|| panic!("no demo link number {nth} for {role}"))
}
