//! The task behind a Janus seat's [`MessageChannel`]s: it speaks Concord's message shapes
//! (`offer` / `answer` / `candidate`) to the peers and the VideoRoom API to Janus.
//!
//! - Publisher handle: our peer's `offer` becomes `configure` with the SDP; Janus's answer goes
//!   back as `answer`. `webrtcup` marks the feed live (only then can others subscribe to it),
//!   and the `publishers` lists in its events say which other feeds went live.
//! - Subscriber handle (one multistream subscription for the whole seat): the first live feeds
//!   are taken with `join` (`use_msid`, so a received stream's id is its publisher's feed id,
//!   which is that publisher's participant id here), later ones with `subscribe`. Janus sends
//!   the offers; our peer's `answer` becomes `start`.
//! - Simulcast: our publisher's offer lists its rids lowest first (q, h, f), so it goes with
//!   `rid_order: "lmh"` (Janus assumes highest first otherwise). A subscriber's `view` (Concord's
//!   tile sizes, `docs/protocol.md`) becomes `configure` with the `substream` per video stream
//!   that Concord's SFU would choose for that tile on a fast link: the lowest layer at least
//!   0.85 × the tile's height (layers 180, 360 and 720 lines high).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::session::{jsep_sdp, JanusError, Session};
use crate::peer::MessageChannel;
use crate::signal::{msg_type, Inbox, Incoming, Outgoing};

/// VideoRoom's "no such feed": the publisher is not live yet.
const NO_SUCH_FEED: i64 = 428;
/// The nominal heights of simulcast layers 0, 1 and 2 (as Concord's SFU assumes them).
const LAYER_HEIGHTS: [u32; 3] = [180, 360, 720];
/// How soon a subscription refused with [`NO_SUCH_FEED`] is tried again.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Where a seat stands, for [`super::JanusAdapter::join_seat`] to wait on.
#[derive(Debug, Clone, Default)]
pub struct SeatState {
    /// Janus reported the publisher's PeerConnection up (`webrtcup`).
    pub publishing: bool,
    /// The first thing that went wrong.
    pub failed: Option<String>,
}

/// One of the seat's PeerConnections as the task sees it.
pub struct Link {
    pub handle: u64,
    to_peer: mpsc::UnboundedSender<Incoming>,
    from_peer: mpsc::UnboundedReceiver<Outgoing>,
}

/// A channel for [`crate::Peer::start_on`] and the task's end of it.
pub fn link(handle: u64, server_offers_first: bool) -> (MessageChannel, Link) {
    let (out, from_peer) = mpsc::unbounded_channel();
    let (to_peer, inbox_rx) = mpsc::unbounded_channel();
    let channel = MessageChannel {
        out,
        inbox: Inbox::new(inbox_rx),
        task: None,
        server_offers_first,
    };
    (
        channel,
        Link {
            handle,
            to_peer,
            from_peer,
        },
    )
}

/// What the task needs to run a seat.
pub struct Seat {
    pub session: Session,
    pub room: u64,
    /// Our feed (publishers only).
    pub feed: Option<u64>,
    pub private_id: Option<u64>,
    pub publisher: Option<Link>,
    pub subscriber: Link,
    /// Feeds of this room we may subscribe to (every other publisher of the room).
    pub room_feeds: BTreeSet<u64>,
    /// Feeds known to be live (from `joined`), or for a pure subscriber the feeds to ask for
    /// (retried until live).
    pub wanted: BTreeSet<u64>,
    pub state: watch::Sender<SeatState>,
    /// How long a pure subscriber keeps asking for feeds that are not live yet.
    pub patience: Duration,
}

struct Subscription {
    joined: bool,
    /// `start` has been sent: Janus takes `configure` for the subscription's streams.
    started: bool,
    /// The video stream (our subscription's mid) of each subscribed feed.
    video_mids: BTreeMap<u64, String>,
    /// The substream each feed's video should be received at (from `view`), and what Janus was
    /// last told.
    wanted_substreams: BTreeMap<u64, u8>,
    configured: BTreeMap<String, u8>,
    subscribed: BTreeSet<u64>,
    wanted: BTreeSet<u64>,
    retry_at: Option<Instant>,
    give_up_at: Instant,
}

impl Seat {
    pub async fn run(mut self, mut events: mpsc::UnboundedReceiver<Value>) {
        let mut sub = Subscription {
            joined: false,
            started: false,
            video_mids: BTreeMap::new(),
            wanted_substreams: BTreeMap::new(),
            configured: BTreeMap::new(),
            subscribed: BTreeSet::new(),
            wanted: std::mem::take(&mut self.wanted),
            retry_at: None,
            give_up_at: Instant::now() + self.patience,
        };
        self.update_subscription(&mut sub).await;
        let far = Duration::from_secs(3600);
        loop {
            let retry = sub.retry_at.unwrap_or_else(|| Instant::now() + far);
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { return };
                    if self.on_event(&event, &mut sub) {
                        self.update_subscription(&mut sub).await;
                    }
                }
                msg = recv_opt(self.publisher.as_mut()) => match msg {
                    Some(msg) => self.on_publisher_message(msg).await,
                    None => self.publisher = None,
                },
                msg = self.subscriber.from_peer.recv() => match msg {
                    Some(msg) => self.on_subscriber_message(msg, &mut sub).await,
                    None => return,
                },
                _ = tokio::time::sleep_until(retry), if sub.retry_at.is_some() => {
                    sub.retry_at = None;
                    self.update_subscription(&mut sub).await;
                }
            }
        }
    }

    /// Handles an event from Janus; true when new feeds went live.
    fn on_event(&mut self, event: &Value, sub: &mut Subscription) -> bool {
        let sender = event.get("sender").and_then(Value::as_u64);
        let publisher_handle = self.publisher.as_ref().map(|l| l.handle);
        match event.get("janus").and_then(Value::as_str).unwrap_or("") {
            "webrtcup" if sender.is_some() && sender == publisher_handle => {
                self.state.send_modify(|s| s.publishing = true);
            }
            "hangup" => self.fail(format!("Janus hung up a PeerConnection: {event}")),
            "error" => self.fail(format!("Janus: {event}")),
            "__closed" => self.fail(format!("the Janus connection ended: {event}")),
            "event" => {
                if sender == Some(self.subscriber.handle) {
                    if let Some(data) = event.pointer("/plugindata/data") {
                        note_video_mids(data, sub);
                    }
                }
                if let Some(jsep) = event.get("jsep") {
                    // A subscription update whose offer waited for our previous answer.
                    if sender == Some(self.subscriber.handle) {
                        if let Some(sdp) = jsep_sdp(jsep, "offer") {
                            forward(&self.subscriber, json!({"type": "offer", "sdp": sdp}));
                        }
                    }
                }
                let live = event
                    .pointer("/plugindata/data/publishers")
                    .and_then(Value::as_array);
                if let Some(live) = live {
                    let before = sub.wanted.len();
                    sub.wanted.extend(
                        live.iter()
                            .filter_map(|p| p.get("id").and_then(Value::as_u64))
                            .filter(|id| self.room_feeds.contains(id)),
                    );
                    return sub.wanted.len() > before;
                }
            }
            _ => {}
        }
        false
    }

    /// Joins or extends the subscription with the wanted feeds not yet subscribed.
    async fn update_subscription(&mut self, sub: &mut Subscription) {
        let new: Vec<u64> = sub.wanted.difference(&sub.subscribed).copied().collect();
        if new.is_empty() || sub.retry_at.is_some() {
            return;
        }
        let streams: Vec<Value> = new.iter().map(|feed| json!({"feed": feed})).collect();
        let body = if sub.joined {
            json!({"request": "subscribe", "streams": streams})
        } else {
            let mut body = json!({
                "request": "join",
                "ptype": "subscriber",
                "room": self.room,
                "use_msid": true,
                "streams": streams,
            });
            if let Some(private_id) = self.private_id {
                body["private_id"] = json!(private_id);
            }
            body
        };
        match self
            .session
            .message(self.subscriber.handle, body, None)
            .await
        {
            Ok(reply) => {
                sub.joined = true;
                note_video_mids(&reply.data, sub);
                sub.subscribed.extend(new);
                if let Some(sdp) = reply.sdp("offer") {
                    forward(&self.subscriber, json!({"type": "offer", "sdp": sdp}));
                }
            }
            Err(err) if is_not_live(&err) && Instant::now() < sub.give_up_at => {
                sub.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
            Err(err) => self.fail(format!("subscribing to feeds {new:?}: {err:#}")),
        }
    }

    async fn on_publisher_message(&mut self, msg: Outgoing) {
        let Some((handle, msg)) = self.publisher.as_ref().map(|l| (l.handle, parse(msg))) else {
            return;
        };
        let Some(msg) = msg else { return };
        match msg_type(&msg) {
            "offer" => {
                let Some(sdp) = msg.get("sdp").and_then(Value::as_str) else {
                    return self.fail("our publisher's offer has no sdp".to_owned());
                };
                let body = json!({"request": "configure", "audio": true, "video": true});
                let mut jsep = json!({"type": "offer", "sdp": sdp});
                if sdp.contains("a=simulcast:") {
                    // Our rids go lowest first (q, h, f).
                    jsep["rid_order"] = json!("lmh");
                }
                match self.session.message(handle, body, Some(jsep)).await {
                    Ok(reply) => match (reply.sdp("answer"), &self.publisher) {
                        (Some(answer), Some(link)) => {
                            forward(link, json!({"type": "answer", "sdp": answer}));
                        }
                        _ => self.fail(format!("`configure` brought no answer: {:?}", reply.data)),
                    },
                    Err(err) => self.fail(format!("publishing feed {:?}: {err:#}", self.feed)),
                }
            }
            "candidate" => self.trickle(handle, &msg),
            _ => {}
        }
    }

    async fn on_subscriber_message(&mut self, msg: Outgoing, sub: &mut Subscription) {
        let Some(msg) = parse(msg) else { return };
        let handle = self.subscriber.handle;
        match msg_type(&msg) {
            "view" => {
                sub.wanted_substreams = substreams_for_view(&msg);
                self.configure_substreams(sub).await;
            }
            "answer" => {
                let Some(sdp) = msg.get("sdp").and_then(Value::as_str) else {
                    return self.fail("our subscriber's answer has no sdp".to_owned());
                };
                let jsep = json!({"type": "answer", "sdp": sdp});
                let body = json!({"request": "start"});
                match self.session.message(handle, body, Some(jsep)).await {
                    Ok(_) => {
                        sub.started = true;
                        self.configure_substreams(sub).await;
                    }
                    Err(err) => self.fail(format!("starting the subscription: {err:#}")),
                }
            }
            "candidate" => self.trickle(handle, &msg),
            _ => {}
        }
    }

    /// Tells Janus the substream of every subscribed video whose wish changed.
    async fn configure_substreams(&mut self, sub: &mut Subscription) {
        if !sub.started {
            return;
        }
        let streams: Vec<(String, u8)> = sub
            .wanted_substreams
            .iter()
            .filter_map(|(feed, &substream)| {
                let mid = sub.video_mids.get(feed)?;
                (sub.configured.get(mid) != Some(&substream)).then(|| (mid.clone(), substream))
            })
            .collect();
        if streams.is_empty() {
            return;
        }
        let list: Vec<Value> = streams
            .iter()
            .map(|(mid, substream)| json!({"mid": mid, "substream": substream}))
            .collect();
        let body = json!({"request": "configure", "streams": list});
        match self
            .session
            .message(self.subscriber.handle, body, None)
            .await
        {
            Ok(_) => sub.configured.extend(streams),
            Err(err) => self.fail(format!("choosing substreams {streams:?}: {err:#}")),
        }
    }

    fn trickle(&self, handle: u64, msg: &Value) {
        if let Some(candidate) = msg.get("candidate").and_then(Value::as_str) {
            if let Err(err) = self.session.trickle(handle, candidate) {
                self.fail(format!("trickling a candidate: {err:#}"));
            }
        }
    }

    /// Notes the first failure for `join_seat`, and reports every one: nothing else would show
    /// why a seat receives nothing once the run is under way.
    fn fail(&self, message: String) {
        eprintln!(
            "janus seat (room {}, feed {:?}): {message}",
            self.room, self.feed
        );
        self.state.send_modify(|s| {
            s.failed.get_or_insert(message);
        });
    }
}

async fn recv_opt(link: Option<&mut Link>) -> Option<Outgoing> {
    match link {
        Some(link) => link.from_peer.recv().await,
        None => std::future::pending().await,
    }
}

fn parse(msg: Outgoing) -> Option<Value> {
    match msg {
        Outgoing::Text(text) => serde_json::from_str(&text).ok(),
        Outgoing::Close => None,
    }
}

fn forward(link: &Link, msg: Value) {
    let _ = link.to_peer.send(Incoming::Message(msg));
}

/// Notes the video streams a subscription's `attached`/`updated` data lists (mid per feed).
fn note_video_mids(data: &Value, sub: &mut Subscription) {
    let streams = data
        .get("streams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for stream in streams {
        let video = stream.get("type").and_then(Value::as_str) == Some("video");
        let feed = stream.get("feed_id").and_then(Value::as_u64);
        let mid = stream.get("mid").and_then(Value::as_str);
        if let (true, Some(feed), Some(mid)) = (video, feed, mid) {
            sub.video_mids.insert(feed, mid.to_owned());
        }
    }
}

/// The substream per feed for a Concord `view` message (`tiles: [{participant_id, width,
/// height}]`; a participant id is a feed id here): the lowest layer whose nominal height is at
/// least 0.85 × the tile's (the larger of its height and 9/16 of its width), the top one if
/// none is. A hidden tile (0 × 0) keeps the lowest, as Janus cannot pause one video.
fn substreams_for_view(view: &Value) -> BTreeMap<u64, u8> {
    let tiles = view
        .get("tiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    tiles
        .filter_map(|tile| {
            let feed = tile.get("participant_id")?.as_str()?.parse::<u64>().ok()?;
            let size = |k: &str| tile.get(k).and_then(Value::as_u64).unwrap_or(0);
            let (width, height) = (size("width"), size("height"));
            let needed = (height.max(width * 9 / 16) as f64 * 0.85) as u64;
            let layer = LAYER_HEIGHTS
                .iter()
                .position(|&h| u64::from(h) >= needed)
                .unwrap_or(LAYER_HEIGHTS.len() - 1);
            Some((feed, layer as u8))
        })
        .collect()
}

fn is_not_live(err: &anyhow::Error) -> bool {
    err.downcast_ref::<JanusError>()
        .is_some_and(|e| e.code == NO_SUCH_FEED)
}

/// Waits until the seat's publisher is live, or fails with the seat's first error.
pub async fn wait_publishing(
    state: &mut watch::Receiver<SeatState>,
    timeout: Duration,
) -> Result<()> {
    let outcome = tokio::time::timeout(
        timeout,
        state.wait_for(|s| s.publishing || s.failed.is_some()),
    )
    .await;
    match outcome {
        Ok(Ok(s)) => match &s.failed {
            Some(err) => Err(anyhow!("{err}")),
            None => Ok(()),
        },
        Ok(Err(_)) => Err(anyhow!("the Janus seat task ended")),
        Err(_) => Err(anyhow!(
            "Janus did not report the publisher's PeerConnection up within {timeout:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_picks_the_substream_concord_would_forward() {
        let view = json!({"type": "view", "tiles": [
            {"participant_id": "11", "width": 320, "height": 180},
            {"participant_id": "12", "width": 640, "height": 360},
            {"participant_id": "13", "width": 1280, "height": 720},
            {"participant_id": "14", "width": 1920, "height": 1080},
            {"participant_id": "not-a-feed", "width": 640, "height": 360},
        ]});
        let got = substreams_for_view(&view);
        let want: BTreeMap<u64, u8> = [(11, 0), (12, 1), (13, 2), (14, 2)].into();
        assert_eq!(got, want);
    }
}
