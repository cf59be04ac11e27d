//! Before mediation starts the mediator confirms who each party is, and each party
//! acknowledges the notice of their rights and of the consequences of false statements. This
//! is the room's memory of both, per participant; each one is also a session event (the case
//! file keeps who, how and when), from which a room opened after a restart remembers them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The notice parties acknowledge. A new wording gets a new version: an acknowledgment names
/// the version that was shown, and one of an older version is refused.
pub const NOTICE_VERSION: &str = "rights-2026-12";
/// The longest note the mediator may add to a confirmation ("other" methods need one).
pub const MAX_NOTE_CHARS: usize = 200;

/// How the mediator knows who a party is. No image of an ID is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMethod {
    /// The party showed an identity card on camera.
    IdCard,
    /// The mediator knows the party in person.
    KnownInPerson,
    Other,
}

/// One participant's standing, as every member of the room sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attestation {
    pub participant_id: String,
    /// How the mediator confirmed their identity; `None` until then.
    pub identity: Option<IdentityMethod>,
    pub notice_acknowledged: bool,
}

/// A confirmation as filed with the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityConfirmation {
    pub participant_id: String,
    pub name: String,
    pub method: IdentityMethod,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// An acknowledgment as filed with the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticeAcknowledgment {
    pub participant_id: String,
    pub version: String,
}

/// Why a confirmation or an acknowledgment was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationRefusal {
    NoSuchParticipant,
    /// Only parties and experts are confirmed; only parties acknowledge the notice.
    NotForThisRole,
    NoteNeeded,
    NoteTooLong,
    /// The page showed another wording than the current one.
    OtherNotice,
}

impl AttestationRefusal {
    pub fn message(self) -> &'static str {
        match self {
            AttestationRefusal::NoSuchParticipant => "That participant is not in the room.",
            AttestationRefusal::NotForThisRole => "That does not apply to this participant.",
            AttestationRefusal::NoteNeeded => "Say how the identity was confirmed.",
            AttestationRefusal::NoteTooLong => "The note holds at most 200 characters.",
            AttestationRefusal::OtherNotice => "The notice has changed; read it again.",
        }
    }
}

/// The note as it is kept: trimmed, needed for "other", bounded.
pub fn checked_note(method: IdentityMethod, note: &str) -> Result<String, AttestationRefusal> {
    let note = note.trim();
    if method == IdentityMethod::Other && note.is_empty() {
        return Err(AttestationRefusal::NoteNeeded);
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(AttestationRefusal::NoteTooLong);
    }
    Ok(note.to_owned())
}

/// Every participant's confirmation and acknowledgment so far in this session.
#[derive(Default)]
pub struct Attestations {
    identity: HashMap<String, IdentityMethod>,
    acknowledged: HashMap<String, String>,
}

impl Attestations {
    pub fn confirm(&mut self, participant: &str, method: IdentityMethod) {
        self.identity.insert(participant.to_owned(), method);
    }

    pub fn acknowledge(&mut self, participant: &str, version: &str) {
        self.acknowledged
            .insert(participant.to_owned(), version.to_owned());
    }

    pub fn of(&self, participant: &str) -> Attestation {
        Attestation {
            participant_id: participant.to_owned(),
            identity: self.identity.get(participant).copied(),
            notice_acknowledged: self
                .acknowledged
                .get(participant)
                .is_some_and(|version| version == NOTICE_VERSION),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_method_needs_a_note_and_every_note_is_bounded() {
        assert_eq!(checked_note(IdentityMethod::IdCard, " "), Ok(String::new()));
        assert_eq!(
            checked_note(IdentityMethod::Other, " \n"),
            Err(AttestationRefusal::NoteNeeded)
        );
        assert_eq!(
            checked_note(IdentityMethod::Other, " 村委会主任到场证明 "),
            Ok("村委会主任到场证明".to_owned())
        );
        assert_eq!(
            checked_note(IdentityMethod::KnownInPerson, &"证".repeat(201)),
            Err(AttestationRefusal::NoteTooLong)
        );
    }

    #[test]
    fn an_acknowledgment_counts_for_the_notice_it_was_given_for() {
        let mut attestations = Attestations::default();
        assert_eq!(
            attestations.of("a"),
            Attestation {
                participant_id: "a".to_owned(),
                identity: None,
                notice_acknowledged: false,
            }
        );
        attestations.acknowledge("a", "an-older-wording");
        assert!(!attestations.of("a").notice_acknowledged);
        attestations.acknowledge("a", NOTICE_VERSION);
        attestations.confirm("a", IdentityMethod::IdCard);
        let a = attestations.of("a");
        assert!(a.notice_acknowledged);
        assert_eq!(a.identity, Some(IdentityMethod::IdCard));
        assert_eq!(attestations.of("b").identity, None);
    }
}
