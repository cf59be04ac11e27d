//! End-to-end test support for Concord: a real server in-process, real WebRTC peers driven
//! through the real signaling protocol, and a minimal Chrome DevTools Protocol driver.
//!
//! - [`server`]: `TestServer` (the server on port 0 with a fresh SQLite file) and a REST client.
//! - [`signal`]: a WebSocket signaling client with typed waits and timeouts.
//! - [`peer`]: a webrtc-rs participant that publishes synthetic Opus/VP8 and counts what it gets.
//! - [`media`]: the synthetic RTP payloads.
//! - [`chromium`]: headless Chromium over the DevTools protocol.

use std::time::Duration;

pub mod chromium;
pub mod media;
pub mod peer;
pub mod relay;
pub mod server;
pub mod signal;
pub mod webclient;

pub use peer::{JoinAs, MediaKind, Peer, PeerOptions};
pub use server::{ApiClient, ApiResponse, Invitation, Room, TestServer};
pub use signal::{msg_type, SignalClient};

/// How long a signaling reply may take.
pub const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long media may take to start flowing (2 cores, several peers and the SFU in one process).
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(60);
