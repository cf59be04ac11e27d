//! A signaling client for Concord's `/ws` protocol (see `docs/protocol.md`).
//!
//! One pump task owns the WebSocket: it answers the server's `ping` with `pong`, hands every
//! other message to an [`Inbox`], and writes what the test sends. The test side waits for
//! messages by type with a timeout; messages of other types stay buffered for later `expect`s.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::peer::JoinAs;

/// How long the WebSocket handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the pump (or a task standing in for it) reports to an [`Inbox`].
#[derive(Debug)]
pub enum Incoming {
    /// One JSON message from the server. A text frame that is not JSON arrives as
    /// `{"type": "__invalid_json", "raw": …}` so that a test can see it.
    Message(Value),
    /// The socket is closed; the string says how (close frame, error, or end of stream).
    Closed(String),
}

/// What the test side asks the pump to write.
#[derive(Debug)]
pub enum Outgoing {
    /// A text frame, sent as is (it need not be valid JSON: the bad-input tests send garbage).
    Text(String),
    /// A close frame; the pump keeps reading until the server closes too.
    Close,
}

/// The `type` field of a message, or `""`.
pub fn msg_type(msg: &Value) -> &str {
    msg.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Messages received in order, with the ones a test was not waiting for kept aside.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Incoming>,
    buffer: VecDeque<Value>,
    closed: Option<String>,
    /// Every message ever delivered, for failure messages.
    history: Vec<Value>,
}

impl Inbox {
    pub fn new(rx: mpsc::UnboundedReceiver<Incoming>) -> Self {
        Self {
            rx,
            buffer: VecDeque::new(),
            closed: None,
            history: Vec::new(),
        }
    }

    /// Whether the socket behind this inbox is known to be closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Every message received so far (including the ones already consumed).
    pub fn history(&self) -> &[Value] {
        &self.history
    }

    /// Takes the next message from the channel into the buffer. `Ok(false)` on close.
    async fn pull(&mut self, deadline: Instant) -> Result<bool> {
        if self.closed.is_some() {
            return Ok(false);
        }
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Err(_) => bail!("timed out"),
            Ok(Some(Incoming::Message(msg))) => {
                self.history.push(msg.clone());
                self.buffer.push_back(msg);
                Ok(true)
            }
            Ok(Some(Incoming::Closed(reason))) => {
                self.closed = Some(reason);
                Ok(false)
            }
            Ok(None) => {
                self.closed = Some("signaling task ended".to_owned());
                Ok(false)
            }
        }
    }

    /// The next message of any type (buffered ones first), however long it takes; `None` once
    /// the socket is closed and nothing is buffered.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            if let Some(msg) = self.buffer.pop_front() {
                return Some(msg);
            }
            if self.closed.is_some() {
                return None;
            }
            match self.rx.recv().await {
                Some(Incoming::Message(msg)) => {
                    self.history.push(msg.clone());
                    self.buffer.push_back(msg);
                }
                Some(Incoming::Closed(reason)) => self.closed = Some(reason),
                None => self.closed = Some("signaling task ended".to_owned()),
            }
        }
    }

    /// Why the socket closed, once it has.
    pub fn closed_reason(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// The next message of any type (buffered ones first).
    pub async fn next(&mut self, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(msg) = self.buffer.pop_front() {
                return Ok(msg);
            }
            if !self
                .pull(deadline)
                .await
                .with_context(|| self.describe("any message"))?
            {
                bail!(self.describe("any message"));
            }
        }
    }

    /// Waits for the next message satisfying `pred`; other messages stay buffered.
    pub async fn expect_where(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buffer.iter().skip(scanned).position(&mut pred) {
                let msg = self.buffer.remove(scanned + pos);
                return msg.ok_or_else(|| anyhow!("buffer index out of range"));
            }
            scanned = self.buffer.len();
            if !self
                .pull(deadline)
                .await
                .with_context(|| self.describe(what))?
            {
                bail!(self.describe(what));
            }
        }
    }

    /// Waits for the next message of type `ty`; other messages stay buffered.
    pub async fn expect(&mut self, ty: &str, timeout: Duration) -> Result<Value> {
        let what = format!("a `{ty}` message");
        self.expect_where(&what, timeout, |m| msg_type(m) == ty)
            .await
    }

    /// Waits for an `error` message and checks its code.
    pub async fn expect_error(&mut self, code: &str, timeout: Duration) -> Result<Value> {
        let msg = self.expect("error", timeout).await?;
        let got = msg.pointer("/code").and_then(Value::as_str).unwrap_or("");
        if got != code {
            bail!("expected error code `{code}`, got {msg}");
        }
        Ok(msg)
    }

    /// Waits until the socket is closed and returns every message not consumed before.
    pub async fn expect_closed(&mut self, timeout: Duration) -> Result<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        while self
            .pull(deadline)
            .await
            .with_context(|| self.describe("the socket to close"))?
        {}
        Ok(self.buffer.drain(..).collect())
    }

    /// Takes every buffered message out, leaving the buffer empty.
    pub fn drain_buffered(&mut self) -> Vec<Value> {
        self.buffer.drain(..).collect()
    }

    /// Waits for the next message of type `ty` and returns it together with the messages that
    /// arrived before it (which stay buffered too).
    pub async fn messages_until(&mut self, ty: &str, timeout: Duration) -> Result<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buffer.iter().position(|m| msg_type(m) == ty) {
                let before: Vec<Value> = self.buffer.iter().take(pos).cloned().collect();
                self.buffer.remove(pos);
                return Ok(before);
            }
            let what = format!("a `{ty}` message");
            if !self
                .pull(deadline)
                .await
                .with_context(|| self.describe(&what))?
            {
                bail!(self.describe(&what));
            }
        }
    }

    fn describe(&self, waiting_for: &str) -> String {
        let recent: Vec<String> = self
            .history
            .iter()
            .rev()
            .take(12)
            .rev()
            .map(|m| truncate(&m.to_string(), 300))
            .collect();
        match &self.closed {
            Some(reason) => format!(
                "socket closed ({reason}) while waiting for {waiting_for}; last messages: {recent:?}"
            ),
            None => format!("waiting for {waiting_for}; last messages: {recent:?}"),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The signaling endpoint of the Concord server at `base_url` (`http://127.0.0.1:PORT`, a
/// trailing `/` or not): its `/ws`, over `ws://` or, behind TLS, `wss://`.
pub fn signaling_url(base_url: &str) -> String {
    format!(
        "{}/ws",
        base_url
            .trim_end_matches('/')
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1)
    )
}

/// A WebSocket signaling connection.
#[derive(Debug)]
pub struct SignalClient {
    out: mpsc::UnboundedSender<Outgoing>,
    inbox: Inbox,
    pump: Option<JoinHandle<()>>,
}

impl SignalClient {
    /// Connects to `ws_url` (e.g. `ws://127.0.0.1:PORT/ws`), sending `cookie` (the value of a
    /// `Cookie` header) when given: that is how a signed-in account authenticates.
    pub async fn connect(ws_url: &str, cookie: Option<&str>) -> Result<Self> {
        let mut request = ws_url
            .into_client_request()
            .with_context(|| format!("bad WebSocket URL {ws_url}"))?;
        if let Some(cookie) = cookie {
            request.headers_mut().insert(
                "Cookie",
                HeaderValue::from_str(cookie).context("cookie is not a valid header value")?,
            );
        }
        // Accept large frames from the server; the limit under test is the server's.
        let config = WebSocketConfig::default();
        let (ws, _response) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(request, Some(config), false),
        )
        .await
        .with_context(|| format!("timed out connecting to {ws_url}"))?
        .with_context(|| format!("WebSocket handshake with {ws_url} failed"))?;

        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(ws, in_tx, out_rx));
        Ok(Self {
            out: out_tx,
            inbox: Inbox::new(in_rx),
            pump: Some(pump),
        })
    }

    /// Connects to `ws_url` and joins `how`; fails unless the server answers `joined`, which is
    /// returned with the connection.
    pub async fn connect_and_join(
        ws_url: &str,
        how: JoinAs<'_>,
        timeout: Duration,
    ) -> Result<(Self, Value)> {
        let (signal, reply) = match how {
            JoinAs::Token(token) => {
                let mut signal = SignalClient::connect(ws_url, None).await?;
                let reply = signal.join_with_token(token, timeout).await?;
                (signal, reply)
            }
            JoinAs::Account { session_id, cookie } => {
                let mut signal = SignalClient::connect(ws_url, Some(cookie)).await?;
                let reply = signal.join_session(session_id, timeout).await?;
                (signal, reply)
            }
        };
        if msg_type(&reply) != "joined" {
            signal.close();
            bail!("expected `joined`, the server answered {reply}");
        }
        Ok((signal, reply))
    }

    /// Sends one JSON message.
    pub fn send(&self, msg: Value) -> Result<()> {
        self.send_raw(msg.to_string())
    }

    /// Sends one text frame as is.
    pub fn send_raw(&self, text: String) -> Result<()> {
        self.out
            .send(Outgoing::Text(text))
            .map_err(|_| anyhow!("signaling socket is closed"))
    }

    /// Sends a close frame.
    pub fn close(&self) {
        let _ = self.out.send(Outgoing::Close);
    }

    /// The messages received, waiting to be taken.
    pub fn inbox(&mut self) -> &mut Inbox {
        &mut self.inbox
    }

    pub async fn next(&mut self, timeout: Duration) -> Result<Value> {
        self.inbox.next(timeout).await
    }

    pub async fn expect(&mut self, ty: &str, timeout: Duration) -> Result<Value> {
        self.inbox.expect(ty, timeout).await
    }

    pub async fn expect_error(&mut self, code: &str, timeout: Duration) -> Result<Value> {
        self.inbox.expect_error(code, timeout).await
    }

    pub async fn expect_closed(&mut self, timeout: Duration) -> Result<Vec<Value>> {
        self.inbox.expect_closed(timeout).await
    }

    /// Sends `ping` and waits for the `pong`: proves the connection is alive and the server has
    /// processed everything sent before. Returns the messages that arrived before the `pong`.
    pub async fn round_trip(&mut self, timeout: Duration) -> Result<Vec<Value>> {
        self.send(json!({"type": "ping"}))?;
        self.inbox.messages_until("pong", timeout).await
    }

    /// Sends `join` with an invitation token and returns the server's first answer to it
    /// (`joined`, `lobby` or `error`).
    pub async fn join_with_token(&mut self, token: &str, timeout: Duration) -> Result<Value> {
        self.send(json!({"type": "join", "token": token}))?;
        self.expect_join_reply(timeout).await
    }

    /// Sends `join` for a session the signed-in account hosts or attends.
    pub async fn join_session(&mut self, session_id: &str, timeout: Duration) -> Result<Value> {
        self.send(json!({"type": "join", "session_id": session_id}))?;
        self.expect_join_reply(timeout).await
    }

    /// Sends `resume` with the `resume_token` of an earlier `joined` and returns the server's
    /// answer (`joined` with `resumed`, or `error`).
    pub async fn resume(&mut self, token: &str, timeout: Duration) -> Result<Value> {
        self.send(json!({"type": "resume", "token": token}))?;
        self.expect_join_reply(timeout).await
    }

    async fn expect_join_reply(&mut self, timeout: Duration) -> Result<Value> {
        self.inbox
            .expect_where("a reply to `join`", timeout, |m| {
                matches!(msg_type(m), "joined" | "lobby" | "error")
            })
            .await
    }

    /// Reads `recording` messages until the state is `want`; `notice` extends the wait by its
    /// countdown, `failed` and `error` end it.
    pub async fn wait_for_recording_state(&mut self, want: &str, timeout: Duration) -> Result<()> {
        let mut deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self
                .inbox
                .expect_where(&format!("recording state `{want}`"), left, |m| {
                    matches!(msg_type(m), "recording" | "error")
                })
                .await?;
            if msg_type(&msg) == "error" {
                bail!("the server refused: {msg}");
            }
            match msg.get("state").and_then(Value::as_str).unwrap_or("") {
                state if state == want => return Ok(()),
                "failed" => bail!("the recording failed: {msg}"),
                "notice" => {
                    let countdown = msg.get("starts_in_ms").and_then(Value::as_u64).unwrap_or(0);
                    deadline += Duration::from_millis(countdown);
                }
                _ => {}
            }
        }
    }

    /// Splits the client into its sending half and its inbox (used by the WebRTC peer, which
    /// puts a negotiation task between the pump and the test).
    pub(crate) fn into_parts(
        mut self,
    ) -> Result<(mpsc::UnboundedSender<Outgoing>, Inbox, JoinHandle<()>)> {
        let pump = self
            .pump
            .take()
            .ok_or_else(|| anyhow!("signaling client already split"))?;
        let (dead_out, _) = mpsc::unbounded_channel();
        let (_, dead_in) = mpsc::unbounded_channel();
        let out = std::mem::replace(&mut self.out, dead_out);
        let inbox = std::mem::replace(&mut self.inbox, Inbox::new(dead_in));
        Ok((out, inbox, pump))
    }
}

impl Drop for SignalClient {
    fn drop(&mut self) {
        if let Some(pump) = self.pump.take() {
            pump.abort();
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn pump(
    ws: Ws,
    in_tx: mpsc::UnboundedSender<Incoming>,
    mut out_rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut outgoing_open = true;
    let reason = loop {
        tokio::select! {
            frame = stream.next() => match frame {
                None => break "end of stream".to_owned(),
                Some(Err(err)) => break format!("error: {err}"),
                Some(Ok(Message::Text(text))) => {
                    let msg = serde_json::from_str::<Value>(text.as_str())
                        .unwrap_or_else(|_| json!({"type": "__invalid_json", "raw": text.as_str()}));
                    if msg_type(&msg) == "ping" {
                        let pong = json!({"type": "pong"}).to_string();
                        if let Err(err) = sink.send(Message::text(pong)).await {
                            break format!("error answering ping: {err}");
                        }
                        continue;
                    }
                    let _ = in_tx.send(Incoming::Message(msg));
                }
                Some(Ok(Message::Close(frame))) => {
                    break match frame {
                        Some(f) => format!("close frame {} {:?}", u16::from(f.code), f.reason.as_str()),
                        None => "close frame".to_owned(),
                    };
                }
                Some(Ok(Message::Binary(bytes))) => {
                    let _ = in_tx.send(Incoming::Message(
                        json!({"type": "__binary", "len": bytes.len()}),
                    ));
                }
                Some(Ok(_)) => {} // ping/pong frames are answered by tungstenite itself
            },
            cmd = out_rx.recv(), if outgoing_open => match cmd {
                Some(Outgoing::Text(text)) => {
                    if let Err(err) = sink.send(Message::text(text)).await {
                        break format!("error sending: {err}");
                    }
                }
                Some(Outgoing::Close) => {
                    let _ = sink.send(Message::Close(None)).await;
                }
                None => outgoing_open = false,
            },
        }
    };
    let _ = in_tx.send(Incoming::Closed(reason));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signaling_url_follows_the_base_url_s_scheme() {
        assert_eq!(
            signaling_url("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            signaling_url("https://concord.example"),
            "wss://concord.example/ws"
        );
    }
}
