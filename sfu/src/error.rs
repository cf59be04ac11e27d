use thiserror::Error;

/// What a room operation can fail with. Messages are safe to show to the client.
#[derive(Debug, Error)]
pub enum SfuError {
    #[error("could not bind the media socket: {0}")]
    Bind(#[source] std::io::Error),
    #[error("the SDP could not be parsed")]
    BadSdp,
    #[error("the SDP was refused: {0}")]
    SdpRefused(String),
    #[error("the ICE candidate could not be parsed")]
    BadCandidate,
    #[error("too many ICE candidates")]
    TooManyCandidates,
    #[error("no such participant in this room")]
    UnknownParticipant,
    #[error("this participant is already in the room")]
    AlreadyJoined,
    #[error("there is no offer waiting for an answer")]
    NoPendingOffer,
    #[error("the room is closed")]
    RoomClosed,
}
