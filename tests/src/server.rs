//! A real Concord server in-process (HTTP and media on 127.0.0.1, port 0, SQLite in a fresh
//! temporary directory) and a small REST client for the records the tests need.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::Method;
use serde_json::{json, Value};

use concord_signaling::{Config, DemoInvitation, Server};

use crate::peer::{JoinAs, Peer};
use crate::SIGNAL_TIMEOUT;

use crate::signal::SignalClient;

/// The account `Config::for_tests` creates at start.
pub const ADMIN_USERNAME: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// Password given to every account the tests create.
pub const TEST_PASSWORD: &str = "a-long-test-password-1234";
/// How long one REST call may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

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
        init_logging();
        let data_dir = tempfile::Builder::new()
            .prefix("concord-test-")
            .tempdir()
            .context("creating the server's data directory")?;
        let mut config = Config::for_tests(data_dir.path());
        configure(&mut config);
        let server = concord_signaling::start(config)
            .await
            .context("starting the Concord server")?;
        let addr = server.http_addr();
        let base_url = server.base_url().trim_end_matches('/').to_owned();
        if !addr.ip().is_loopback() || !base_url.starts_with("http://127.0.0.1:") {
            server.shutdown().await;
            bail!("the test server must stay on 127.0.0.1, got {addr} and {base_url}");
        }
        Ok(TestServer {
            server: Some(server),
            base_url,
            addr,
            next_name: AtomicU32::new(1),
            data_dir,
        })
    }

    /// `http://127.0.0.1:PORT`
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

    /// `ws://127.0.0.1:PORT/ws`
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

    /// The mediator's `Cookie` header value.
    pub fn mediator_cookie(&self) -> Result<String> {
        self.mediator
            .cookie()
            .ok_or_else(|| anyhow!("the mediator has no session cookie"))
    }
}

/// An invitation as created: the raw token is only ever shown here.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: String,
    pub token: String,
    pub url: String,
    pub body: Value,
}

/// The `id` field of a record.
pub fn id_of(record: &Value) -> Result<String> {
    record
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("record has no id: {record}"))
}

/// A REST response: status and body (JSON, or the raw text as a JSON string if it was not JSON).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    pub is_json: bool,
}

impl ApiResponse {
    /// The body if the status is 2xx, else an error showing both.
    pub fn ok(self) -> Result<Value> {
        if (200..300).contains(&self.status) {
            Ok(self.body)
        } else {
            bail!("HTTP {}: {}", self.status, self.body)
        }
    }

    /// `error.code` of an error body.
    pub fn error_code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }

    /// Checks the status and that the body is the documented JSON error with `code` and a
    /// message.
    pub fn expect_error(&self, status: u16, code: &str) -> Result<()> {
        if self.status != status || !self.is_json || self.error_code() != Some(code) {
            bail!(
                "expected HTTP {status} with JSON error code `{code}`, got HTTP {} {}",
                self.status,
                self.body
            );
        }
        let message = self.body.pointer("/error/message").and_then(Value::as_str);
        if message.is_none_or(str::is_empty) {
            bail!("error body has no message: {}", self.body);
        }
        Ok(())
    }
}

/// A REST client with its own cookie jar.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: reqwest::Url,
}

impl ApiClient {
    pub fn new(base_url: &str) -> Result<ApiClient> {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        let base = reqwest::Url::parse(base_url).with_context(|| format!("bad URL {base_url}"))?;
        Ok(ApiClient { http, jar, base })
    }

    /// The `Cookie` header this client would send to the server, if any.
    pub fn cookie(&self) -> Option<String> {
        self.jar
            .cookies(&self.base)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    fn url(&self, path: &str) -> Result<reqwest::Url> {
        self.base
            .join(path)
            .with_context(|| format!("bad path {path}"))
    }

    /// Sends a request with an optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<ApiResponse> {
        let mut req = self.http.request(method.clone(), self.url(path)?);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        Self::read(resp).await
    }

    /// Sends `body` as is with `content_type` (for malformed-input tests).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Result<ApiResponse> {
        let resp = self
            .http
            .request(method.clone(), self.url(path)?)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        Self::read(resp).await
    }

    async fn read(resp: reqwest::Response) -> Result<ApiResponse> {
        let status = resp.status().as_u16();
        let text = resp.text().await.context("reading the response body")?;
        let (body, is_json) = match serde_json::from_str::<Value>(&text) {
            Ok(v) => (v, true),
            Err(_) => (Value::String(text), false),
        };
        Ok(ApiResponse {
            status,
            body,
            is_json,
        })
    }

    pub async fn get(&self, path: &str) -> Result<ApiResponse> {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<ApiResponse> {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<ApiResponse> {
        self.request(Method::PATCH, path, Some(body)).await
    }

    /// Signs in; the session cookie lands in this client's jar.
    pub async fn login(&self, username: &str, password: &str) -> Result<Value> {
        let user = self
            .post(
                "/api/auth/login",
                json!({"username": username, "password": password}),
            )
            .await?
            .ok()
            .with_context(|| format!("signing in as {username}"))?;
        if self.cookie().is_none() {
            bail!("signing in as {username} set no cookie");
        }
        Ok(user)
    }

    /// Creates a dispute with two parties and returns the `dispute` record.
    pub async fn create_dispute(&self) -> Result<Value> {
        let n: u32 = rand::random::<u32>() % 100_000;
        let body = self
            .post(
                "/api/disputes",
                json!({
                    "case_number": format!("T-{n:05}"),
                    "title": "Boundary wall between two farms",
                    "category": "land",
                    "level": "village",
                    "parties": [{"name": "Party One"}, {"name": "Party Two"}],
                    "description": "Created by an end-to-end test.",
                }),
            )
            .await?
            .ok()
            .context("creating a dispute")?;
        body.get("dispute")
            .cloned()
            .ok_or_else(|| anyhow!("no `dispute` in {body}"))
    }

    /// Opens a session on `dispute_id` and returns the `session` record.
    pub async fn create_session(&self, dispute_id: &str, lobby_enabled: bool) -> Result<Value> {
        let body = self
            .post(
                &format!("/api/disputes/{dispute_id}/sessions"),
                json!({"lobby_enabled": lobby_enabled}),
            )
            .await?
            .ok()
            .context("creating a session")?;
        body.get("session")
            .cloned()
            .ok_or_else(|| anyhow!("no `session` in {body}"))
    }

    /// `POST /api/sessions/{id}/invitations` with `body`, unchecked.
    pub async fn invite_raw(&self, session_id: &str, body: Value) -> Result<ApiResponse> {
        self.post(&format!("/api/sessions/{session_id}/invitations"), body)
            .await
    }

    /// Invites `name` as `role` and returns the invitation with its raw token.
    pub async fn invite(&self, session_id: &str, role: &str, name: &str) -> Result<Invitation> {
        self.invite_with(session_id, json!({"role": role, "name": name}))
            .await
    }

    /// Creates an invitation from a full request body.
    pub async fn invite_with(&self, session_id: &str, body: Value) -> Result<Invitation> {
        let body = self
            .invite_raw(session_id, body)
            .await?
            .ok()
            .context("creating an invitation")?;
        let token = body
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("no `token` in {body}"))?
            .to_owned();
        let url = body
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let id = body
            .get("invitation")
            .map(id_of)
            .transpose()?
            .ok_or_else(|| anyhow!("no `invitation` in {body}"))?;
        Ok(Invitation {
            id,
            token,
            url,
            body,
        })
    }

    /// Revokes an invitation.
    pub async fn revoke(&self, invitation_id: &str) -> Result<Value> {
        self.post(
            &format!("/api/invitations/{invitation_id}/revoke"),
            json!({}),
        )
        .await?
        .ok()
        .context("revoking an invitation")
    }

    /// `GET /api/invitations/inspect?token=…`
    pub async fn inspect(&self, token: &str) -> Result<ApiResponse> {
        let mut url = self.url("/api/invitations/inspect")?;
        url.query_pairs_mut().append_pair("token", token);
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .context("GET /api/invitations/inspect")?;
        Self::read(resp).await
    }
}
