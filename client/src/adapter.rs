//! The seam between a load run and a particular server: prepare a room for some publishers and
//! subscribers, then join each seat and negotiate media. [`ConcordAdapter`] does it through
//! Concord's REST API (a signed-in mediator creates a dispute, a session with the lobby off, and
//! one invitation per seat) and its WebSocket signaling with the invitation tokens. Another
//! server (Janus VideoRoom, for the comparison) gets its own implementation: its `join` runs a
//! task translating that server's signaling to and from Concord's message shapes and hands the
//! resulting [`crate::peer::MessageChannel`] to [`Peer::start_on`], so the media side (publisher,
//! counters, delay) stays the same.

use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;

use crate::api::{id_of, ApiClient};
use crate::peer::{JoinAs, Peer, PeerOptions};

/// What a seat does in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Sends audio and video (and receives everyone else's).
    Publisher,
    /// Only receives.
    Subscriber,
}

/// One seat in a prepared room: what [`SfuAdapter::join`] needs to take it. Opaque to the
/// load generator.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub role: Role,
    /// For Concord: the invitation token.
    pub credential: String,
}

/// "Prepare a room; join it as publisher or subscriber and negotiate SDP."
#[async_trait]
pub trait SfuAdapter: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// Prepares one room with a seat per entry of `roles`, returned in the same order.
    async fn create_room(&self, roles: &[Role]) -> Result<Vec<Ticket>>;

    /// Takes a seat: signals, negotiates, and returns the participant once the server accepted
    /// it (media then flows on its own). `options.publish` follows the ticket's role.
    async fn join(&self, ticket: &Ticket, options: PeerOptions) -> Result<Peer>;

    /// Takes a seat that may need more than one connection (Janus VideoRoom publishes and
    /// subscribes on separate PeerConnections). The first peer names the seat: its participant
    /// id is the publisher id the others receive. What the seat received is the union of what
    /// its peers received; what it sent, the sum.
    async fn join_seat(&self, ticket: &Ticket, options: PeerOptions) -> Result<Vec<Peer>> {
        Ok(vec![self.join(ticket, options).await?])
    }
}

/// Concord through its REST API and `/ws` signaling.
pub struct ConcordAdapter {
    api: ApiClient,
    ws_url: String,
    timeout: Duration,
}

impl ConcordAdapter {
    /// Signs in to `base_url` (`http://127.0.0.1:PORT`) as a mediator or admin.
    pub async fn sign_in(base_url: &str, username: &str, password: &str) -> Result<Self> {
        let api = ApiClient::new(base_url)?;
        api.login(username, password).await?;
        let ws_url = format!(
            "{}/ws",
            base_url
                .trim_end_matches('/')
                .replacen("http://", "ws://", 1)
                .replacen("https://", "wss://", 1)
        );
        Ok(Self {
            api,
            ws_url,
            timeout: Duration::from_secs(20),
        })
    }
}

#[async_trait]
impl SfuAdapter for ConcordAdapter {
    fn name(&self) -> &str {
        "concord"
    }

    async fn create_room(&self, roles: &[Role]) -> Result<Vec<Ticket>> {
        let dispute = self.api.create_dispute().await?;
        let session = self.api.create_session(&id_of(&dispute)?, false).await?;
        let session_id = id_of(&session)?;
        let mut tickets = Vec::with_capacity(roles.len());
        for (i, role) in roles.iter().enumerate() {
            // Observers receive everything and are never forwarded: a pure subscriber.
            let invited_as = match role {
                Role::Publisher => "party",
                Role::Subscriber => "observer",
            };
            let invitation = self
                .api
                .invite(&session_id, invited_as, &format!("Load {invited_as} {i}"))
                .await
                .with_context(|| format!("inviting seat {i}"))?;
            tickets.push(Ticket {
                role: *role,
                credential: invitation.token,
            });
        }
        Ok(tickets)
    }

    async fn join(&self, ticket: &Ticket, mut options: PeerOptions) -> Result<Peer> {
        options.publish = ticket.role == Role::Publisher;
        Peer::join_with(
            &self.ws_url,
            JoinAs::Token(&ticket.credential),
            options,
            self.timeout,
        )
        .await
    }
}
