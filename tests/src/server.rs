//! A real Concord server in-process (HTTP and media on 127.0.0.1, port 0, SQLite in a fresh
//! temporary directory) and a small REST client for the records the tests need.
//!
//! [`TestServer::start_for_netns`] binds it on a namespace's root-side veth address instead, so
//! a browser inside that [`Netns`] reaches it across the shaped veth and browsers in the root
//! namespace reach it locally.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

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
    /// What it was started with, for [`TestServer::restart`].
    config: Config,
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
        let server = concord_signaling::start(config.clone())
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
            config,
            data_dir,
        })
    }

    /// Stops the server as an operator's restart does (everyone in a room is told
    /// `server_stopping`) and starts it again with the same configuration, on the same HTTP
    /// address and port, media port and data directory: what clients that reconnect by
    /// themselves find.
    pub async fn restart(&mut self) -> Result<()> {
        let running = self
            .server
            .take()
            .ok_or_else(|| anyhow!("server already shut down"))?;
        let media = running.media_addr();
        running.shutdown().await;
        let mut config = self.config.clone();
        config.listen = self.addr;
        config.media.bind = media;
        let server = start_on_freed_ports(config).await?;
        if server.http_addr() != self.addr {
            let addr = server.http_addr();
            server.shutdown().await;
            bail!("the restarted server listens on {addr}, not {}", self.addr);
        }
        self.server = Some(server);
        Ok(())
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
        create_account(&self.admin().await?, self.client()?, role, n).await
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

    /// A signaling connection that presents the invitation `token` and is let straight into
    /// the room (a session without a lobby); with its `joined`.
    pub async fn join_by_link(&self, token: &str) -> Result<(SignalClient, Value)> {
        let mut socket = self.signal(None).await?;
        let joined = socket.join_with_token(token, SIGNAL_TIMEOUT).await?;
        participant_id(&joined, "joined")?;
        Ok((socket, joined))
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

/// Has `admin` create account number `n` with `role`, and signs `client` in as it.
async fn create_account(
    admin: &ApiClient,
    client: ApiClient,
    role: &str,
    n: u32,
) -> Result<ApiClient> {
    let username = format!("{role}{n}");
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
    client.login(&username, TEST_PASSWORD).await?;
    Ok(client)
}

/// How long a restarted server may wait for the ports its last run held (the media threads of a
/// stopped in-process server let go of their socket a moment after it stops).
const PORTS_FREED_WITHIN: Duration = Duration::from_secs(10);

/// Starts a server on the ports of one that just stopped, trying again while they are still
/// taken.
async fn start_on_freed_ports(config: Config) -> Result<Server> {
    let give_up = Instant::now() + PORTS_FREED_WITHIN;
    loop {
        match concord_signaling::start(config.clone()).await {
            Ok(server) => return Ok(server),
            Err(_) if Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error.context("starting the server again")),
        }
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

    /// The session as its mediator reads it: `{session, dispute, invitations, events}`.
    pub async fn session_record(&self) -> Result<Value> {
        self.mediator
            .get(&format!("/api/sessions/{}", self.session_id))
            .await?
            .ok()
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

    /// Parties `names`, each invited and joined as a headless participant (the lobby off).
    pub async fn party_peers(&self, ws_url: &str, names: &[&str]) -> Result<Vec<Peer>> {
        let mut peers = Vec::new();
        for name in names {
            let invitation = self.invite("party", name).await?;
            let peer = Peer::join(ws_url, JoinAs::Token(&invitation.token), SIGNAL_TIMEOUT)
                .await
                .with_context(|| format!("{name} joins"))?;
            peers.push(peer);
        }
        Ok(peers)
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

/// Where a [`ServerProcess`]'s child keeps its data and listens (set by the parent).
const CHILD_DATA_DIR: &str = "CONCORD_TEST_SERVER_PROCESS_DIR";
const CHILD_LISTEN: &str = "CONCORD_TEST_SERVER_PROCESS_LISTEN";
const CHILD_MEDIA: &str = "CONCORD_TEST_SERVER_PROCESS_MEDIA";
/// What the child prints once it serves: `CONCORD_SERVING {http} {media} {base url}`.
const SERVING: &str = "CONCORD_SERVING ";
/// How long a child may take to start (a cold cache, two busy cores).
const CHILD_STARTS_WITHIN: Duration = Duration::from_secs(60);

/// A real server in a child process, so that a test can kill it as a crash would (`kill -9`:
/// no goodbye to any client, nothing flushed) and start it again on the same HTTP address and
/// port, media port and data directory. The child is the test binary itself, run again with
/// only `entry`: an ignored test of the same file whose body is [`serve_in_child_process`].
pub struct ServerProcess {
    entry: String,
    child: Option<tokio::process::Child>,
    base_url: String,
    http_addr: SocketAddr,
    media_addr: SocketAddr,
    next_name: AtomicU32,
    // Outlives every child.
    data_dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the child on 127.0.0.1 (ports chosen by the system) with a fresh data directory.
    pub async fn start(entry: &str) -> Result<ServerProcess> {
        let data_dir = tempfile::Builder::new()
            .prefix("concord-test-")
            .tempdir()
            .context("creating the server's data directory")?;
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let serving = spawn_child(entry, data_dir.path(), any_port, any_port).await?;
        Ok(ServerProcess {
            entry: entry.to_owned(),
            child: Some(serving.child),
            base_url: serving.base_url,
            http_addr: serving.http_addr,
            media_addr: serving.media_addr,
            next_name: AtomicU32::new(1),
            data_dir,
        })
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    pub async fn kill(&mut self) -> Result<()> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| anyhow!("the server is not running"))?;
        child.start_kill().context("killing the server")?;
        child
            .wait()
            .await
            .context("waiting for the killed server")?;
        Ok(())
    }

    /// Starts the server again after [`ServerProcess::kill`]: the same HTTP address and port,
    /// media port and data directory.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("the server is still running");
        }
        let give_up = Instant::now() + PORTS_FREED_WITHIN;
        let serving = loop {
            let started = spawn_child(
                &self.entry,
                self.data_dir.path(),
                self.http_addr,
                self.media_addr,
            )
            .await;
            match started {
                Ok(serving) => break serving,
                Err(_) if Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(error) => return Err(error.context("starting the server again")),
            }
        };
        if (serving.http_addr, serving.media_addr) != (self.http_addr, self.media_addr) {
            bail!(
                "the server came back on {} and {}, not {} and {}",
                serving.http_addr,
                serving.media_addr,
                self.http_addr,
                self.media_addr
            );
        }
        self.child = Some(serving.child);
        Ok(())
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `base_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.http_addr)
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
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

    /// Creates an account with `role` as the admin; a client signed in as it, and its username
    /// (its password is [`TEST_PASSWORD`]).
    pub async fn account(&self, role: &str) -> Result<(ApiClient, String)> {
        let n = self.next_name.fetch_add(1, Ordering::Relaxed);
        let client = create_account(&self.admin().await?, self.client()?, role, n).await?;
        Ok((client, format!("{role}{n}")))
    }
}

/// A child that serves, and where.
struct Serving {
    child: tokio::process::Child,
    http_addr: SocketAddr,
    media_addr: SocketAddr,
    base_url: String,
}

/// Runs this test binary again with only `entry`, serving from `data_dir` on `listen` and
/// `media`, and waits until it says it serves.
async fn spawn_child(
    entry: &str,
    data_dir: &Path,
    listen: SocketAddr,
    media: SocketAddr,
) -> Result<Serving> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let exe = std::env::current_exe().context("the test binary")?;
    // The child's logs are of use only to someone reading them.
    let stderr = match std::env::var_os("RUST_LOG") {
        Some(_) => std::process::Stdio::inherit(),
        None => std::process::Stdio::null(),
    };
    let mut child = tokio::process::Command::new(exe)
        .args(["--ignored", "--exact", entry, "--nocapture"])
        .env(CHILD_DATA_DIR, data_dir)
        .env(CHILD_LISTEN, listen.to_string())
        .env(CHILD_MEDIA, media.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .context("starting the server process")?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("the server process has no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let serving = tokio::time::timeout(CHILD_STARTS_WITHIN, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(serving) = line.strip_prefix(SERVING) {
                return Ok(serving.to_owned());
            }
        }
        bail!("the server process exited before serving")
    })
    .await
    .context("the server process did not start in time")??;
    // Keep reading its output, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let mut words = serving.split_whitespace();
    let mut next = |what: &str| {
        words
            .next()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the server process did not say its {what}: {serving}"))
    };
    let http_addr = next("HTTP address")?.parse()?;
    let media_addr = next("media address")?.parse()?;
    let base_url = next("base URL")?.trim_end_matches('/').to_owned();
    Ok(Serving {
        child,
        http_addr,
        media_addr,
        base_url,
    })
}

/// The body of a [`ServerProcess`]'s entry test: serves with [`Config::for_tests`] on the data
/// directory and addresses its parent chose, changed by `configure`, until it is killed.
pub async fn serve_in_child_process(configure: impl FnOnce(&mut Config)) {
    init_logging();
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by ServerProcess"))
    };
    let address = |name: &str| -> SocketAddr {
        var(name)
            .parse()
            .unwrap_or_else(|e| panic!("{name} is an address: {e}"))
    };
    let data_dir = std::path::PathBuf::from(var(CHILD_DATA_DIR));
    let mut config = Config::for_tests(&data_dir);
    config.listen = address(CHILD_LISTEN);
    config.media.bind = address(CHILD_MEDIA);
    configure(&mut config);
    for addr in [config.listen, config.media.bind] {
        assert!(
            addr.ip().is_loopback(),
            "the test server stays on loopback, not {addr}"
        );
    }
    let server = concord_signaling::start(config)
        .await
        .expect("the server starts");
    println!(
        "{SERVING}{} {} {}",
        server.http_addr(),
        server.media_addr(),
        server.base_url()
    );
    std::future::pending::<()>().await;
}
