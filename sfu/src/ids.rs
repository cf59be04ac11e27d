use std::fmt;

/// A participant as the rest of the server names it (opaque to the SFU).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParticipantId(pub String);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a shared screen's stream id ends with: subscribers receive it, and taps name it, as
/// `{participant}.screen`, apart from that participant's camera and voice. (A token character
/// of SDP's msid, as `:` is not; str0m 0.25 also drops `~`.)
pub const SCREEN_SUFFIX: &str = ".screen";

/// The stream id of `participant`'s shared screen.
pub fn screen_stream_id(participant: &str) -> String {
    format!("{participant}{SCREEN_SUFFIX}")
}

/// The SFU's own key for one peer connection: unique across rooms, cheap to copy, used to route
/// datagrams without string look-ups on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PeerKey(pub u64);
