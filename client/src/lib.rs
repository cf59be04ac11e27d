//! The headless Concord participant shared by the end-to-end tests and the load generator.
//!
//! - [`signal`]: a WebSocket signaling client with typed waits and timeouts.
//! - [`peer`]: a webrtc-rs participant that publishes Opus/VP8 (synthetic, or a real clip) and
//!   counts what it receives (packets, loss, frames, freezes, forwarding delay).
//! - [`media`]: RTP payloads: synthetic frames and the VP8 packetizer (RFC 7741).
//! - [`clip`]: a real VP8 + Opus test clip, encoded once by `ffmpeg` and cached.
//! - [`stats`]: the shared send log behind delay measurement, loss tracking, quantiles.
//! - [`api`]: the REST client (sign in, disputes, sessions, invitations).
//! - [`adapter`]: "prepare a room, join it as publisher or subscriber" as a trait, so servers
//!   other than Concord can be driven by the same load generator.
//! - [`janus`]: that trait for Janus's VideoRoom plugin (the comparison benchmark).

pub mod adapter;
pub mod api;
pub mod clip;
pub mod janus;
pub mod media;
pub mod peer;
pub mod signal;
pub mod stats;

pub use adapter::{ConcordAdapter, Role, SfuAdapter, Ticket};
pub use api::{ApiClient, ApiResponse, Invitation};
pub use clip::{Clip, ClipSpec, SimulcastClip};
pub use janus::JanusAdapter;
pub use peer::{JoinAs, MediaKind, MediaSource, MessageChannel, Peer, PeerOptions, StreamCounts};
pub use signal::{msg_type, SignalClient};
pub use stats::SendLog;
