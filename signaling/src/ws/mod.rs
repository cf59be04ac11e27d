//! WebSocket signaling: one task per connection, one actor per live session, and the hub that
//! finds a session's actor.

mod attestations;
mod caucus;
mod chat;
mod connection;
mod documents;
mod experts;
mod hub;
mod mediation_record;
mod network;
pub mod protocol;
mod room;
mod screen_share;
mod seats;

pub use connection::upgrade;
pub use hub::Hub;
pub use room::{RoomCommand, RoomSettings};
