//! The forwarding policy: which layer of which video each subscriber gets, kept apart from the
//! room's event loop so it can be reasoned about and tested on its own.
//!
//! - [`allocation`]: splits a subscriber's bandwidth estimate across the videos it receives
//!   (audio first, then priority, tile sizes, hysteresis).
//! - [`layer_switch`]: carries out a choice for one video: switches at keyframes and keeps the
//!   outgoing numbers continuous.
//! - [`speaker`]: who is speaking, from the audio levels publishers send.
//! - [`quality`]: good / fair / poor from loss, round-trip time and the estimate.
//! - [`chance_loss`]: what a link losing packets at random, with no queue, has carried: the
//!   media keeps that against an estimate that backs off on any loss.
//! - [`stuck_estimate`]: pads to lift a send-side estimate that stopped moving.

pub(crate) mod allocation;
pub(crate) mod chance_loss;
pub(crate) mod layer_switch;
pub(crate) mod quality;
pub(crate) mod speaker;
pub(crate) mod stuck_estimate;
