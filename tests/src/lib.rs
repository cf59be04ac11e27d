//! End-to-end test support for Concord: a real server in-process, real WebRTC peers driven
//! through the real signaling protocol, and a minimal Chrome DevTools Protocol driver.
//!
//! - [`server`]: `TestServer` (the server on port 0 with a fresh SQLite file), a REST client,
//!   and seats over signaling: a host joined with an account, an invitee in the lobby, admission.
//! - [`signal`], [`peer`], [`media`], [`api`]: re-exported from `concord-client` (the headless
//!   participant the load generator shares): the WebSocket signaling client, the webrtc-rs
//!   participant, the RTP payloads, the REST client.
//! - [`call`]: three Chromium pages in one room publishing a phone camera's simulcast.
//! - [`chromium`]: headless Chromium over the DevTools protocol (also inside a network
//!   namespace).
//! - [`netns`]: a network namespace and veth for one participant, with a real `tbf` bandwidth
//!   cap each way.
//! - [`relay`]: a UDP relay in front of the SFU that drops (every Nth, or at random) and delays
//!   one participant's packets.
//! - [`probes`]: typed WebRTC statistics of a page (per remote participant, per simulcast
//!   layer) and windows between two samples.

use std::time::Duration;

pub mod call;
pub mod chromium;
pub mod files;
pub mod netns;
pub mod probes;
pub mod recordings;
pub mod recovery;
pub mod relay;
pub mod server;
pub mod turn;
pub mod webclient;

pub use concord_client::{api, media, peer, signal};

pub use peer::{JoinAs, MediaKind, Peer, PeerOptions};
pub use server::{admit, whoami, ApiClient, ApiResponse, Invitation, Room, TestServer};
pub use signal::{msg_type, SignalClient};

/// How long a signaling reply may take.
pub const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long media may take to start flowing (2 cores, several peers and the SFU in one process).
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(60);
