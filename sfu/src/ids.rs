use std::fmt;

/// A participant as the rest of the server names it (opaque to the SFU).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParticipantId(pub String);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SFU's own key for one peer connection: unique across rooms, cheap to copy, used to route
/// datagrams without string look-ups on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PeerKey(pub u64);
