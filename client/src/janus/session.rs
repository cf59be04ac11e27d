//! One Janus session over its WebSocket API (subprotocol `janus-protocol`): requests matched to
//! their replies by transaction, everything else (plugin events without a pending request,
//! `webrtcup`, `media`, `hangup`, acks of fire-and-forget requests) handed on as events, and a
//! keepalive well inside Janus's 60 s session timeout.
//!
//! Closing the WebSocket is enough to clean up: Janus destroys the sessions of a transport
//! connection that went away.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Well inside Janus's default `session_timeout` (60 s).
const KEEPALIVE: Duration = Duration::from_secs(25);

/// An error Janus (or its VideoRoom plugin) answered with.
#[derive(Debug, Clone)]
pub struct JanusError {
    pub code: i64,
    pub reason: String,
}

impl fmt::Display for JanusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Janus error {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for JanusError {}

/// A plugin's answer: its `plugindata.data` and the SDP that came with it, if any.
#[derive(Debug, Clone)]
pub struct Reply {
    pub data: Value,
    pub jsep: Option<Value>,
}

impl Reply {
    /// The SDP of the attached JSEP if it is of type `ty` (`offer`, `answer`).
    pub fn sdp(&self, ty: &str) -> Option<&str> {
        jsep_sdp(self.jsep.as_ref()?, ty)
    }
}

/// The `sdp` of a JSEP object of type `ty`.
pub fn jsep_sdp<'a>(jsep: &'a Value, ty: &str) -> Option<&'a str> {
    (jsep.get("type").and_then(Value::as_str) == Some(ty))
        .then(|| jsep.get("sdp").and_then(Value::as_str))
        .flatten()
}

enum Command {
    Send {
        msg: Value,
        /// Where the reply goes; `None`: fire and forget (the ack arrives as an event).
        reply: Option<oneshot::Sender<Value>>,
        /// Whether an `ack` is the final reply (keepalive, trickle) or announces an event.
        ack_is_final: bool,
    },
    KeepAlive(u64),
}

/// A Janus session and the task that owns its WebSocket (aborted on drop).
pub struct Session {
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
    driver: JoinHandle<()>,
    timeout: Duration,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Session {
    /// Connects to `ws_url` (e.g. `ws://127.0.0.1:8188`) and creates a session. Also returns the
    /// events that answer no request.
    pub async fn open(
        ws_url: &str,
        timeout: Duration,
    ) -> Result<(Session, mpsc::UnboundedReceiver<Value>)> {
        let mut request = ws_url
            .into_client_request()
            .with_context(|| format!("bad WebSocket URL {ws_url}"))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("janus-protocol"),
        );
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request))
            .await
            .with_context(|| format!("timed out connecting to Janus at {ws_url}"))?
            .with_context(|| format!("WebSocket handshake with Janus at {ws_url} failed"))?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let driver = tokio::spawn(drive(ws, commands_rx, events_tx));
        let mut session = Session {
            id: 0,
            commands,
            driver,
            timeout,
        };
        let created = session.call(json!({"janus": "create"}), false).await?;
        session.id = created
            .pointer("/data/id")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("Janus `create` answered without a session id: {created}"))?;
        session
            .commands
            .send(Command::KeepAlive(session.id))
            .map_err(|_| anyhow!("Janus connection closed"))?;
        Ok((session, events))
    }

    /// Attaches a handle to the VideoRoom plugin.
    pub async fn attach(&self) -> Result<u64> {
        let msg = json!({
            "janus": "attach",
            "session_id": self.id,
            "plugin": "janus.plugin.videoroom",
        });
        let attached = self.call(msg, false).await?;
        attached
            .pointer("/data/id")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("Janus `attach` answered without a handle id: {attached}"))
    }

    /// Sends a plugin request (with an SDP, if given) and waits for the plugin's answer: a
    /// `success` for synchronous requests, the `event` for asynchronous ones.
    pub async fn message(&self, handle: u64, body: Value, jsep: Option<Value>) -> Result<Reply> {
        let request = body
            .get("request")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let mut msg = json!({
            "janus": "message",
            "session_id": self.id,
            "handle_id": handle,
            "body": body,
        });
        if let Some(jsep) = jsep {
            msg["jsep"] = jsep;
        }
        let reply = self
            .call(msg, false)
            .await
            .with_context(|| format!("VideoRoom `{request}`"))?;
        let data = reply
            .pointer("/plugindata/data")
            .cloned()
            .ok_or_else(|| anyhow!("VideoRoom `{request}`: no plugin data in {reply}"))?;
        if let Some(code) = data.get("error_code").and_then(Value::as_i64) {
            let reason = data.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(anyhow::Error::new(JanusError {
                code,
                reason: reason.to_owned(),
            })
            .context(format!("VideoRoom `{request}`")));
        }
        Ok(Reply {
            data,
            jsep: reply.get("jsep").cloned(),
        })
    }

    /// Trickles one of our ICE candidates (`candidate:…`). Bundled, so always m-line 0.
    pub fn trickle(&self, handle: u64, candidate: &str) -> Result<()> {
        let msg = json!({
            "janus": "trickle",
            "session_id": self.id,
            "handle_id": handle,
            "candidate": {"candidate": candidate, "sdpMLineIndex": 0},
        });
        self.commands
            .send(Command::Send {
                msg,
                reply: None,
                ack_is_final: true,
            })
            .map_err(|_| anyhow!("Janus connection closed"))
    }

    async fn call(&self, msg: Value, ack_is_final: bool) -> Result<Value> {
        let what = msg
            .get("janus")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Send {
                msg,
                reply: Some(tx),
                ack_is_final,
            })
            .map_err(|_| anyhow!("Janus connection closed"))?;
        let reply = tokio::time::timeout(self.timeout, rx)
            .await
            .with_context(|| format!("Janus did not answer `{what}` within {:?}", self.timeout))?
            .map_err(|_| anyhow!("Janus connection closed while waiting for `{what}`"))?;
        if reply.get("janus").and_then(Value::as_str) == Some("error") {
            let code = reply.pointer("/error/code").and_then(Value::as_i64);
            let reason = reply.pointer("/error/reason").and_then(Value::as_str);
            let Some(code) = code else {
                bail!("Janus answered `{what}` with {reply}");
            };
            return Err(JanusError {
                code,
                reason: reason.unwrap_or("").to_owned(),
            }
            .into());
        }
        Ok(reply)
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Owns the WebSocket: numbers requests, routes replies, sends keepalives. Ends when the socket
/// closes (pending requests then fail) or the [`Session`] is dropped.
async fn drive(
    ws: Ws,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Value>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut pending: HashMap<String, (oneshot::Sender<Value>, bool)> = HashMap::new();
    let mut next_transaction: u64 = 0;
    let mut session = None;
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reason = loop {
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let Ok(msg) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if let Some(reply) = take_pending(&mut pending, &msg) {
                        let _ = reply.send(msg);
                    } else {
                        let _ = events.send(msg);
                    }
                }
                Some(Ok(Message::Close(_))) | None => break "closed by Janus".to_owned(),
                Some(Err(err)) => break format!("error: {err}"),
                Some(Ok(_)) => {}
            },
            command = commands.recv() => match command {
                None => break "session dropped".to_owned(),
                Some(Command::KeepAlive(id)) => session = Some(id),
                Some(Command::Send { mut msg, reply, ack_is_final }) => {
                    next_transaction += 1;
                    let transaction = format!("c{next_transaction}");
                    msg["transaction"] = Value::String(transaction.clone());
                    if let Some(reply) = reply {
                        pending.insert(transaction, (reply, ack_is_final));
                    }
                    if let Err(err) = sink.send(Message::text(msg.to_string())).await {
                        break format!("error sending: {err}");
                    }
                }
            },
            _ = keepalive.tick() => {
                if let Some(id) = session {
                    next_transaction += 1;
                    let msg = json!({
                        "janus": "keepalive",
                        "session_id": id,
                        "transaction": format!("c{next_transaction}"),
                    });
                    if let Err(err) = sink.send(Message::text(msg.to_string())).await {
                        break format!("error sending a keepalive: {err}");
                    }
                }
            }
        }
    };
    let _ = events.send(json!({"janus": "__closed", "reason": reason}));
}

/// The waiter for `msg`, if it answers a pending request. An `ack` only announces the real
/// answer of a plugin request, so it stays pending unless `ack` is that request's final reply.
fn take_pending(
    pending: &mut HashMap<String, (oneshot::Sender<Value>, bool)>,
    msg: &Value,
) -> Option<oneshot::Sender<Value>> {
    let transaction = msg.get("transaction").and_then(Value::as_str)?;
    let (_, ack_is_final) = pending.get(transaction)?;
    if msg.get("janus").and_then(Value::as_str) == Some("ack") && !ack_is_final {
        return None;
    }
    pending.remove(transaction).map(|(reply, _)| reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_waits_for_the_plugin_event_unless_final() {
        let mut pending = HashMap::new();
        let (tx, _rx) = oneshot::channel();
        pending.insert("c1".to_owned(), (tx, false));
        let ack = json!({"janus": "ack", "transaction": "c1"});
        assert!(take_pending(&mut pending, &ack).is_none());
        let event = json!({"janus": "event", "transaction": "c1", "plugindata": {}});
        assert!(take_pending(&mut pending, &event).is_some());
        assert!(pending.is_empty());

        let (tx, _rx) = oneshot::channel();
        pending.insert("c2".to_owned(), (tx, true));
        let ack = json!({"janus": "ack", "transaction": "c2"});
        assert!(take_pending(&mut pending, &ack).is_some());
        // Events of nobody's request pass through.
        let up = json!({"janus": "webrtcup", "sender": 7});
        assert!(take_pending(&mut pending, &up).is_none());
    }

    #[test]
    fn jsep_sdp_checks_the_type() {
        let jsep = json!({"type": "offer", "sdp": "v=0"});
        assert_eq!(jsep_sdp(&jsep, "offer"), Some("v=0"));
        assert_eq!(jsep_sdp(&jsep, "answer"), None);
    }
}
