//! The negotiation task: applies the server's SDP and candidates, sends ours, and passes every
//! message on to the peer's inbox.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};

use crate::signal::{msg_type, Inbox, Incoming, Outgoing};

/// How long one step of negotiation may take inside the negotiation task.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Applies the server's SDP and candidates, sends ours, forwards every message to the test.
pub(super) struct Negotiation {
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) out: mpsc::UnboundedSender<Outgoing>,
    pub(super) to_test: mpsc::UnboundedSender<Incoming>,
    pub(super) negotiated: watch::Sender<u64>,
    pub(super) errors: Arc<Mutex<Vec<String>>>,
    /// Our offer is out and its answer has not arrived: server offers wait (no glare handling
    /// in the protocol; the server is expected not to offer before answering).
    pub(super) awaiting_answer: bool,
    pub(super) stashed_offers: Vec<String>,
}

impl Negotiation {
    pub(super) async fn run(
        mut self,
        mut from_server: Inbox,
        mut candidates: mpsc::UnboundedReceiver<String>,
    ) {
        let mut candidates_open = true;
        loop {
            tokio::select! {
                msg = from_server.recv() => {
                    let Some(msg) = msg else {
                        let reason = from_server.closed_reason().unwrap_or("closed").to_owned();
                        let _ = self.to_test.send(Incoming::Closed(reason));
                        return;
                    };
                    self.handle(&msg).await;
                    let _ = self.to_test.send(Incoming::Message(msg));
                }
                cand = candidates.recv(), if candidates_open => match cand {
                    Some(candidate) => {
                        let msg = json!({"type": "candidate", "candidate": candidate});
                        let _ = self.out.send(Outgoing::Text(msg.to_string()));
                    }
                    None => candidates_open = false,
                },
            }
        }
    }

    async fn handle(&mut self, msg: &Value) {
        let sdp = || msg.get("sdp").and_then(Value::as_str).map(str::to_owned);
        match msg_type(msg) {
            "answer" => {
                let Some(sdp) = sdp() else {
                    return self.fail("`answer` without sdp".to_owned());
                };
                let result = async {
                    let desc = RTCSessionDescription::answer(sdp)?;
                    self.pc.set_remote_description(desc).await
                };
                match tokio::time::timeout(STEP_TIMEOUT, result).await {
                    Ok(Ok(())) => {
                        self.awaiting_answer = false;
                        self.negotiated.send_modify(|n| *n += 1);
                    }
                    Ok(Err(err)) => return self.fail(format!("applying answer: {err}")),
                    Err(_) => return self.fail("applying answer timed out".to_owned()),
                }
                for offer in std::mem::take(&mut self.stashed_offers) {
                    self.answer_offer(offer).await;
                }
            }
            "offer" => {
                let Some(sdp) = sdp() else {
                    return self.fail("`offer` without sdp".to_owned());
                };
                if self.awaiting_answer {
                    self.stashed_offers.push(sdp);
                } else {
                    self.answer_offer(sdp).await;
                }
            }
            "candidate" => {
                let Some(candidate) = msg.get("candidate").and_then(Value::as_str) else {
                    return self.fail("`candidate` without candidate".to_owned());
                };
                let init = RTCIceCandidateInit {
                    candidate: candidate.to_owned(),
                    ..Default::default()
                };
                if let Err(err) = self.pc.add_ice_candidate(init).await {
                    self.fail(format!("adding candidate {candidate}: {err}"));
                }
            }
            _ => {}
        }
    }

    async fn answer_offer(&mut self, sdp: String) {
        let pc = Arc::clone(&self.pc);
        let result = async move {
            pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
                .await?;
            let answer = pc.create_answer(None).await?;
            pc.set_local_description(answer).await?;
            pc.local_description()
                .await
                .map(|d| d.sdp)
                .ok_or(webrtc::error::Error::Other(
                    "no local description".to_owned(),
                ))
        };
        match tokio::time::timeout(STEP_TIMEOUT, result).await {
            Ok(Ok(answer)) => {
                let msg = json!({"type": "answer", "sdp": answer});
                let _ = self.out.send(Outgoing::Text(msg.to_string()));
                self.negotiated.send_modify(|n| *n += 1);
            }
            Ok(Err(err)) => self.fail(format!("answering the server's offer: {err}")),
            Err(_) => self.fail("answering the server's offer timed out".to_owned()),
        }
    }

    fn fail(&self, message: String) {
        if let Ok(mut errors) = self.errors.lock() {
            errors.push(message.clone());
        }
        let _ = self.to_test.send(Incoming::Message(
            json!({"type": "__peer_error", "message": message}),
        ));
    }
}
