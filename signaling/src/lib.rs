//! Concord's server: accounts, dispute records, invitations, WebSocket signaling and the HTTP
//! API, composed with the SFU (`concord-sfu`) and the web client (`concord-web`).

pub mod api;
pub mod auth;
mod client_address;
pub mod config;
mod demo;
pub mod error;
pub mod error_code;
mod http_guard;
mod invitation_tokens;
mod liveness;
mod origin;
mod pdf_pages;
mod private_files;
mod ratelimit;
mod recordings;
pub mod secrets;
mod server;
mod session_summary;
mod sign_outs;
mod state;
pub mod store;
mod text_enum;
mod tls;
pub mod turn;
pub mod ws;

/// What a tap on a session's media carries (see [`Server::tap_session`]).
pub use concord_sfu::{
    FrameAssembler, SenderReport, TapCodec, TapEvent, TapKind, TappedFrame, TappedPacket,
};
pub use config::Config;
pub use demo::DemoInvitation;
pub use server::{start, Server};
