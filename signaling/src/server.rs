//! Starting and stopping one Concord server: the store, the SFU, HTTP(S) and signaling.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use concord_sfu::{Sfu, SfuConfig};
use tokio::task::JoinHandle;

use crate::api;
use crate::api::auth::SETUP_PURPOSE;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder as HttpBuilder;

use crate::auth::Hashing;
use crate::config::Config;
use crate::demo::{self, DemoInvitation};
use crate::http_guard::{ConnectionGuard, Limits};
use crate::liveness::{self, Liveness};
use crate::ratelimit::FailureLimiter;
use crate::secrets::{new_id, new_token, now_ms, token_hash};
use crate::state::AppState;
use crate::store::{AccountRole, Store};
use crate::tls;
use crate::ws::{Hub, RoomSettings};

/// How long the first-start setup link stays valid.
const SETUP_LINK_HOURS: i64 = 24;

pub struct Server {
    http_addr: SocketAddr,
    media_addr: SocketAddr,
    media_tcp_addr: Option<SocketAddr>,
    setup_link: Option<String>,
    state: AppState,
    handle: axum_server::Handle,
    task: JoinHandle<std::io::Result<()>>,
    liveness: Liveness,
}

/// Starts a server with this configuration; it runs until [`Server::shutdown`].
pub async fn start(config: Config) -> anyhow::Result<Server> {
    crate::private_files::restrict_new_files();
    crate::private_files::private_dir(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    // A recordings directory that cannot be made now is no reason not to serve: recording
    // then fails with an error the mediator sees, and everything else works.
    if let Err(error) = crate::private_files::private_dir(&config.recordings_dir()) {
        tracing::warn!(
            %error,
            dir = %config.recordings_dir().display(),
            "the recordings directory cannot be made private"
        );
    }
    let store = Store::open(&config.database_url())
        .await
        .context("opening the database")?;

    let advertised = config
        .media
        .advertised_ip
        .map(|ip| SocketAddr::new(ip, config.media.advertised_port.unwrap_or(0)));
    let sfu = Sfu::bind(SfuConfig {
        bind: config.media.bind,
        advertised,
        media_threads: config.media.threads,
        tcp_port: config.media.sfu_tcp_port(),
    })
    .await?;

    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("listening on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let http_addr = listener.local_addr()?;
    let scheme = if config.tls_enabled() {
        "https"
    } else {
        "http"
    };
    let public_url: Arc<str> = if config.public_url.is_empty() {
        format!("{scheme}://{http_addr}").into()
    } else {
        config.public_url.trim_end_matches('/').into()
    };

    let setup_link = bootstrap_admin(&store, &config, &public_url).await?;
    // Recordings the last run did not finish were cut short by a crash: marked interrupted,
    // their files kept as written.
    let interrupted = store.interrupt_unfinished_recordings(now_ms()).await?;
    if !interrupted.is_empty() {
        tracing::warn!(
            count = interrupted.len(),
            "recordings interrupted by the last stop"
        );
        crate::recordings::file_interrupted(&store, &config.recordings_dir(), &interrupted).await;
    }
    // Recordings that ended without their manifest (the last run stopped while making the
    // composite, or while recording) get one now; an unfinished composite is marked
    // interrupted and its partial file removed.
    crate::recordings::complete_after_restart(&store, &config.recordings_dir()).await;
    // The seats of whoever was in a session when the last run stopped are held for the grace
    // period from then: their clients reconnect and resume them (`ws/seats.rs`).
    let grace = Duration::from_secs(config.signaling.resume_grace_secs);
    let held = liveness::hold_seats_of_last_run(&store, grace).await?;
    if held > 0 {
        tracing::info!(seats = held, "seats held for members of the last run");
    }

    let state = AppState {
        token_failures: Arc::new(FailureLimiter::new(config.invitations.failures_per_minute)),
        hashing: Hashing::default(),
        login_failures: Arc::new(FailureLimiter::new(
            crate::api::auth::LOGIN_FAILURES_PER_ADDRESS,
        )),
        username_failures: Arc::new(FailureLimiter::new(
            crate::api::auth::LOGIN_FAILURES_PER_USERNAME,
        )),
        hub: Hub::new(
            sfu.clone(),
            store.clone(),
            RoomSettings {
                root: config.recordings_dir(),
                notice: Duration::from_secs(config.recording.notice_secs),
                simulcast: config.media.simulcast,
                turn: config.turn.clone(),
                resume_grace: grace,
            },
        ),
        store,
        public_url,
        sign_outs: Default::default(),
        config: Arc::new(config),
    };
    let app = api::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let extra_ips: Vec<IpAddr> = [Some(http_addr.ip()), state.config.media.advertised_ip]
        .into_iter()
        .flatten()
        .collect();
    let signaling = &state.config.signaling;
    let guard = ConnectionGuard::new(Limits {
        per_address: signaling.max_connections_per_address,
        total: signaling.max_connections,
        exempt: signaling.trusted_proxies.clone(),
        first_byte_within: HEADER_READ_TIMEOUT,
    });
    let task = match tls::rustls_config(&state.config, &extra_ips).await? {
        Some(tls) => {
            let mut server = axum_server::from_tcp_rustls(listener, tls)
                .map(|tls| tls.acceptor(guard))
                .handle(handle.clone());
            expect_headers_promptly(server.http_builder());
            tokio::spawn(server.serve(app))
        }
        None => {
            let mut server = axum_server::from_tcp(listener)
                .acceptor(guard)
                .handle(handle.clone());
            expect_headers_promptly(server.http_builder());
            tokio::spawn(server.serve(app))
        }
    };
    tracing::info!(%http_addr, media = %sfu.local_addr(), "concord is serving");
    let liveness = Liveness::start(state.store.clone(), liveness::mark_every(grace));
    Ok(Server {
        http_addr,
        media_addr: sfu.local_addr(),
        media_tcp_addr: sfu.tcp_local_addr(),
        setup_link,
        state,
        handle,
        task,
        liveness,
    })
}

/// How long a client has to send its first byte after connecting, and a request's headers once
/// begun. Without it a connection that never finishes its
/// headers holds a socket and a task for good (1,100 of them were all still open after 45 s).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

fn expect_headers_promptly(builder: &mut HttpBuilder<TokioExecutor>) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
}

/// On first start, creates the `admin` account: with the configured password, or without one
/// and a single-use link to set it (returned to print).
async fn bootstrap_admin(
    store: &Store,
    config: &Config,
    public_url: &str,
) -> anyhow::Result<Option<String>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let now = now_ms();
    let id = new_id();
    if !config.admin_password.is_empty() {
        let hash = Hashing::default()
            .hash(config.admin_password.clone())
            .await
            .map_err(|e| anyhow::anyhow!("hashing the admin password: {e:?}"))?;
        store
            .create_user(
                &id,
                "admin",
                "Administrator",
                AccountRole::Admin,
                Some(&hash),
                now,
            )
            .await?;
        return Ok(None);
    }
    store
        .create_user(&id, "admin", "Administrator", AccountRole::Admin, None, now)
        .await?;
    let token = new_token();
    let expires = now + SETUP_LINK_HOURS * 3_600_000;
    store
        .create_one_time_token(&token_hash(&token), SETUP_PURPOSE, Some(&id), now, expires)
        .await?;
    Ok(Some(format!("{public_url}/setup/{token}")))
}

impl Server {
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// The TCP address media over TCP listens on, if it is on.
    pub fn media_tcp_addr(&self) -> Option<SocketAddr> {
        self.media_tcp_addr
    }

    /// The origin links are built on, e.g. `http://127.0.0.1:8080`.
    pub fn base_url(&self) -> String {
        self.state.public_url.to_string()
    }

    /// The first-start administrator setup link, when no admin password was configured.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    /// One demo dispute with a live session (lobby off) and a link per person.
    pub async fn seed_demo(&self) -> anyhow::Result<Vec<DemoInvitation>> {
        demo::seed(&self.state).await
    }

    /// A copy of every frame a live session's room forwards (the recorder's feed).
    pub async fn tap_session(
        &self,
        session_id: &str,
        capacity: usize,
    ) -> Option<tokio::sync::mpsc::Receiver<concord_sfu::TapEvent>> {
        self.state.hub.tap_session(session_id, capacity).await
    }

    /// Stops accepting, lets requests finish (a few seconds at most), closes the database.
    pub async fn shutdown(self) {
        self.state.hub.shut_down().await;
        self.handle.graceful_shutdown(Some(Duration::from_secs(3)));
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "HTTP server stopped with an error"),
            Err(error) => tracing::error!(%error, "HTTP server task failed"),
        }
        self.liveness.stop().await;
        self.state.store.close().await;
    }
}
