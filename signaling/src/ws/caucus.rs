//! A caucus (背对背): the mediator talks with one side in private while the others wait in the
//! main room. This is the room's bookkeeping of it (who is in it, whether those in it agreed
//! to have it recorded); the SFU keeps its media inside, and the session's events keep that it
//! happened and who was in it, never what was said.

use std::collections::HashMap;

use super::protocol::CaucusInfo;
use crate::error_code::ErrorCode;

/// Most participants one caucus may take aside (a side of a dispute is a family at most).
pub const MAX_CAUCUS_MEMBERS: usize = 16;

/// Why a caucus command was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaucusRefusal {
    AlreadyOn,
    NoneOn,
    Empty,
    NotInRoom,
    /// Only parties and experts are taken aside.
    NotForThisRole,
    /// Consent was not asked for, or not of this participant.
    NotAsked,
}

impl CaucusRefusal {
    pub fn code(self) -> ErrorCode {
        match self {
            CaucusRefusal::AlreadyOn | CaucusRefusal::NoneOn => ErrorCode::Conflict,
            CaucusRefusal::Empty => ErrorCode::BadMessage,
            CaucusRefusal::NotInRoom => ErrorCode::NotFound,
            CaucusRefusal::NotForThisRole | CaucusRefusal::NotAsked => ErrorCode::Forbidden,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            CaucusRefusal::AlreadyOn => "A private talk is already going on; end it first.",
            CaucusRefusal::NoneOn => "There is no private talk going on.",
            CaucusRefusal::Empty => "Choose whom to talk with in private.",
            CaucusRefusal::NotInRoom => "That participant is not in the room.",
            CaucusRefusal::NotForThisRole => "Only parties and experts can be taken aside.",
            CaucusRefusal::NotAsked => "Nobody asked you about recording this talk.",
        }
    }
}

/// The caucus in progress.
#[derive(Debug, Clone)]
pub struct Caucus {
    host: String,
    /// Those taken aside (the host not among them), in the order chosen.
    members: Vec<String>,
    record_requested: bool,
    consents: HashMap<String, bool>,
}

/// What became of a caucus when someone left the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterLeaving {
    /// They were not in it.
    Unchanged,
    /// It goes on without them.
    Smaller,
    /// The host left, or nobody is left to talk with: everyone is back in the main room.
    Over,
}

impl Caucus {
    /// `members` without repeats, the host taken out (the host is in it anyway).
    pub fn new(
        host: &str,
        members: &[String],
        record_requested: bool,
    ) -> Result<Caucus, CaucusRefusal> {
        let mut unique: Vec<String> = Vec::new();
        for member in members {
            if member != host && !unique.contains(member) {
                unique.push(member.clone());
            }
        }
        if unique.is_empty() {
            return Err(CaucusRefusal::Empty);
        }
        Ok(Caucus {
            host: host.to_owned(),
            members: unique,
            record_requested,
            consents: HashMap::new(),
        })
    }

    /// Those taken aside (not the host).
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// Everyone in it agreed to the recording the host asked about.
    pub fn recorded(&self) -> bool {
        self.record_requested
            && self
                .members
                .iter()
                .all(|m| self.consents.get(m).copied() == Some(true))
    }

    /// A member's answer; whether the caucus is recorded now.
    pub fn consent(&mut self, participant: &str, consent: bool) -> Result<bool, CaucusRefusal> {
        if !self.record_requested || !self.members.iter().any(|m| m == participant) {
            return Err(CaucusRefusal::NotAsked);
        }
        self.consents.insert(participant.to_owned(), consent);
        Ok(self.recorded())
    }

    pub fn leave(&mut self, participant: &str) -> AfterLeaving {
        if participant == self.host {
            return AfterLeaving::Over;
        }
        let before = self.members.len();
        self.members.retain(|m| m != participant);
        self.consents.remove(participant);
        match (before == self.members.len(), self.members.is_empty()) {
            (true, _) => AfterLeaving::Unchanged,
            (false, true) => AfterLeaving::Over,
            (false, false) => AfterLeaving::Smaller,
        }
    }

    /// As the room is told of it; `active` false once it ended.
    pub fn info(&self, active: bool) -> CaucusInfo {
        CaucusInfo {
            active,
            members: std::iter::once(self.host.clone())
                .chain(self.members.iter().cloned())
                .collect(),
            record_requested: self.record_requested,
            recorded: active && self.recorded(),
        }
    }

    /// As the SFU keeps it.
    pub fn media(&self) -> concord_sfu::Caucus {
        concord_sfu::Caucus {
            members: self
                .info(true)
                .members
                .into_iter()
                .map(concord_sfu::ParticipantId)
                .collect(),
            recorded: self.recorded(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_host_is_in_it_once_and_someone_must_be_taken_aside() {
        let caucus = Caucus::new("host", &ids(&["a", "a", "host", "b"]), false).expect("a caucus");
        assert_eq!(caucus.info(true).members, ids(&["host", "a", "b"]));
        assert_eq!(
            Caucus::new("host", &ids(&["host"]), false).err(),
            Some(CaucusRefusal::Empty)
        );
    }

    #[test]
    fn it_is_recorded_only_when_asked_and_everyone_taken_aside_agrees() {
        let mut unasked = Caucus::new("host", &ids(&["a"]), false).expect("a caucus");
        assert_eq!(unasked.consent("a", true), Err(CaucusRefusal::NotAsked));
        let mut caucus = Caucus::new("host", &ids(&["a", "b"]), true).expect("a caucus");
        assert_eq!(caucus.consent("c", true), Err(CaucusRefusal::NotAsked));
        assert_eq!(caucus.consent("a", true), Ok(false));
        assert_eq!(caucus.consent("b", false), Ok(false));
        assert_eq!(caucus.consent("b", true), Ok(true));
        assert!(caucus.media().recorded);
        assert_eq!(caucus.consent("a", false), Ok(false), "taken back");
        assert!(!caucus.info(true).recorded);
    }

    #[test]
    fn it_ends_when_the_host_or_the_last_one_taken_aside_leaves() {
        let mut caucus = Caucus::new("host", &ids(&["a", "b"]), false).expect("a caucus");
        assert_eq!(caucus.leave("c"), AfterLeaving::Unchanged);
        assert_eq!(caucus.leave("a"), AfterLeaving::Smaller);
        assert_eq!(caucus.leave("b"), AfterLeaving::Over);
        let mut caucus = Caucus::new("host", &ids(&["a"]), false).expect("a caucus");
        assert_eq!(caucus.leave("host"), AfterLeaving::Over);
    }
}
