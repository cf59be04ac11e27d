//! A small client for Concord's REST API (`docs/protocol.md`): its own cookie jar, JSON in and
//! out, and the calls a mediator makes to prepare a session (sign in, dispute, session,
//! invitations).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::Method;
use serde_json::{json, Value};

/// How long one REST call may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

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
