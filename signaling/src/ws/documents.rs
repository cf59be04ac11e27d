//! Who may show a photo or document in the room. The file travels over HTTP
//! (`api/documents.rs`); the room decides, by the caller's seat, whether they may, and tells
//! everyone when one is shared. The mediator may stop parties from sharing (a party showing
//! something the other side should not see unprepared is the mediator's call).

use crate::store::ParticipantRole;

/// Why a document may not be shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentRefusal {
    /// Not admitted in the room now.
    NotInTheRoom,
    Observer,
    /// The mediator stopped parties from sharing.
    PartiesMayNotShare,
}

impl DocumentRefusal {
    pub fn message(self) -> &'static str {
        match self {
            DocumentRefusal::NotInTheRoom => "Only someone in the room can share a document.",
            DocumentRefusal::Observer => "Observers cannot share documents.",
            DocumentRefusal::PartiesMayNotShare => {
                "The mediator has not allowed parties to share documents."
            }
        }
    }
}

/// Whether a member with `role` may share now.
pub fn may_share_document(
    role: ParticipantRole,
    is_host: bool,
    parties_may_share: bool,
) -> Result<(), DocumentRefusal> {
    match role {
        _ if is_host => Ok(()),
        ParticipantRole::Observer => Err(DocumentRefusal::Observer),
        ParticipantRole::Party if !parties_may_share => Err(DocumentRefusal::PartiesMayNotShare),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observers_never_share_and_parties_only_while_allowed() {
        use ParticipantRole::*;
        assert_eq!(
            may_share_document(Observer, false, true),
            Err(DocumentRefusal::Observer)
        );
        assert_eq!(may_share_document(Party, false, true), Ok(()));
        assert_eq!(
            may_share_document(Party, false, false),
            Err(DocumentRefusal::PartiesMayNotShare)
        );
        assert_eq!(may_share_document(Expert, false, false), Ok(()));
        assert_eq!(may_share_document(Mediator, true, false), Ok(()));
    }
}
