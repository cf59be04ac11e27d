//! A participant that can lose its signaling connection and take its seat back, as a phone
//! changing networks does: a [`Peer`] whose signaling goes through a relay task that owns the
//! WebSocket. On [`Seat::reconnect`] the relay drops the socket without a Close frame (the
//! server sees a drop, not a leave, and holds the seat), opens a new one and sends `resume`
//! with the token of the last `joined`. The peer's WebRTC connection is never touched: the SFU
//! keeps its media peer through the grace period, so media goes on.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use concord_client::peer::{MessageChannel, ReceivedMedia};
use concord_client::signal::{Inbox, Incoming, Outgoing};
use concord_client::{msg_type, Peer, PeerOptions, SignalClient};

/// How long after dropping its socket the relay reconnects: the web client's first retry.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// A participant in a session, joined with an invitation token.
pub(super) struct Seat {
    peer: Peer,
    relay: mpsc::UnboundedSender<RelayCommand>,
}

enum RelayCommand {
    /// Drop the socket and resume the seat on a new one; answers with the new `joined`.
    Reconnect(oneshot::Sender<Result<Value>>),
}

impl Seat {
    /// Joins with `token` (a session with the lobby off: `joined` comes at once) and starts
    /// WebRTC.
    pub(super) async fn join(
        ws_url: &str,
        token: &str,
        options: PeerOptions,
        timeout: Duration,
    ) -> Result<Seat> {
        let mut signal = SignalClient::connect(ws_url, None).await?;
        let joined = signal.join_with_token(token, timeout).await?;
        if msg_type(&joined) != "joined" {
            signal.close();
            bail!("expected `joined`, the server answered {joined}");
        }
        let resume_token = resume_token_of(&joined)?;
        let (to_peer, peer_inbox) = mpsc::unbounded_channel();
        let (peer_out, from_peer) = mpsc::unbounded_channel();
        let (relay, commands) = mpsc::unbounded_channel();
        let task = tokio::spawn(
            Relay {
                ws_url: ws_url.to_owned(),
                signal: Some(signal),
                resume_token,
                to_peer,
                from_peer,
                commands,
                timeout,
            }
            .run(),
        );
        let channel = MessageChannel {
            out: peer_out,
            inbox: Inbox::new(peer_inbox),
            task: Some(task),
            server_offers_first: false,
        };
        let peer = Peer::start_on(channel, joined, options).await?;
        Ok(Seat { peer, relay })
    }

    pub(super) fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Drops the signaling connection and resumes the seat on a new one; fails if the server
    /// refused (the relay is then gone, and so is the seat).
    pub(super) async fn reconnect(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.relay
            .send(RelayCommand::Reconnect(reply))
            .map_err(|_| anyhow!("the signaling relay has stopped"))?;
        let joined = answer
            .await
            .map_err(|_| anyhow!("the signaling relay stopped while reconnecting"))??;
        let same_seat = joined.get("participant_id").and_then(Value::as_str)
            == Some(self.peer.participant_id());
        if !same_seat {
            bail!(
                "resuming {} gave another seat: {joined}",
                self.peer.participant_id()
            );
        }
        Ok(())
    }

    /// Sends `leave`, waits for the server to close the socket, and closes the peer.
    pub(super) async fn leave(mut self, timeout: Duration) -> Result<u64> {
        let left = self.peer.leave(timeout).await.map(|_| ());
        let received = self.close().await;
        left.map(|()| received)
    }

    /// Closes the peer (after the server ended the session, or to give the seat up) and
    /// returns the media bytes it received.
    pub(super) async fn close(self) -> u64 {
        let received = bytes_received(&self.peer.received());
        self.peer.close().await;
        received
    }
}

/// Media bytes received, every stream together.
pub(super) fn bytes_received(media: &ReceivedMedia) -> u64 {
    media.values().map(|counts| counts.bytes).sum()
}

/// Media packets received, every stream together.
pub(super) fn packets_received(media: &ReceivedMedia) -> u64 {
    media.values().map(|counts| counts.packets).sum()
}

fn resume_token_of(joined: &Value) -> Result<String> {
    joined
        .get("resume_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("`joined` carries no resume_token: {joined}"))
}

/// Owns the WebSocket between the peer and the server, and replaces it on request.
struct Relay {
    ws_url: String,
    /// `None` only while reconnecting.
    signal: Option<SignalClient>,
    /// The token of the last `joined`: each one is good for one resume.
    resume_token: String,
    to_peer: mpsc::UnboundedSender<Incoming>,
    from_peer: mpsc::UnboundedReceiver<Outgoing>,
    commands: mpsc::UnboundedReceiver<RelayCommand>,
    timeout: Duration,
}

impl Relay {
    async fn run(mut self) {
        let mut seat_alive = true;
        loop {
            tokio::select! {
                outgoing = self.from_peer.recv() => match (outgoing, &self.signal) {
                    (Some(Outgoing::Text(text)), Some(signal)) => {
                        // A closed socket shows up on the receiving side as well.
                        let _ = signal.send_raw(text);
                    }
                    (Some(Outgoing::Close), Some(signal)) => signal.close(),
                    (Some(_), None) => {}
                    (None, _) => return,
                },
                incoming = next_message(&mut self.signal) => match incoming {
                    Some(msg) => {
                        if msg_type(&msg) == "joined" {
                            if let Ok(token) = resume_token_of(&msg) {
                                self.resume_token = token;
                            }
                        }
                        let _ = self.to_peer.send(Incoming::Message(msg));
                    }
                    None => {
                        let reason = self
                            .signal
                            .as_mut()
                            .and_then(|s| s.inbox().closed_reason().map(str::to_owned))
                            .unwrap_or_else(|| "closed".to_owned());
                        let _ = self.to_peer.send(Incoming::Closed(reason));
                        return;
                    }
                },
                command = self.commands.recv(), if seat_alive => match command {
                    Some(RelayCommand::Reconnect(reply)) => {
                        let resumed = self.reconnect().await;
                        let failed = resumed.is_err();
                        let _ = reply.send(resumed);
                        if failed {
                            let _ = self
                                .to_peer
                                .send(Incoming::Closed("resuming the seat failed".to_owned()));
                            return;
                        }
                    }
                    // The seat handle is gone; the peer's own end of the channel decides when
                    // the relay ends.
                    None => seat_alive = false,
                },
            }
        }
    }

    async fn reconnect(&mut self) -> Result<Value> {
        // Dropping the client ends its pump and the TCP connection with it, without a Close
        // frame: to the server a lost network, not a goodbye.
        drop(self.signal.take());
        tokio::time::sleep(RECONNECT_AFTER).await;
        let mut signal = SignalClient::connect(&self.ws_url, None)
            .await
            .context("reconnecting")?;
        let reply = signal
            .resume(&self.resume_token, self.timeout)
            .await
            .context("resuming")?;
        if msg_type(&reply) != "joined" || reply.get("resumed") != Some(&Value::Bool(true)) {
            bail!("the server did not resume the seat: {reply}");
        }
        self.resume_token = resume_token_of(&reply)?;
        self.signal = Some(signal);
        let _ = self.to_peer.send(Incoming::Message(reply.clone()));
        Ok(reply)
    }
}

/// The next message of `signal`, or never while there is none (reconnecting).
async fn next_message(signal: &mut Option<SignalClient>) -> Option<Value> {
    match signal {
        Some(signal) => signal.inbox().recv().await,
        None => std::future::pending().await,
    }
}
