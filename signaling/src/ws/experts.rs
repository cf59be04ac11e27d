//! An expert brought in mid-session. The mediator picks one from the roster and sends them a
//! link (`api/experts.rs`); the parties in the room are asked whether they accept the expert
//! joining, and each answer is filed. The expert is let in once every party in the room has
//! accepted, and kept out if one declines. An expert who advises the mediator only is seen
//! and heard by the hosts alone (the SFU parts them from everyone else).

use serde::Serialize;

use crate::error_code::ErrorCode;
use crate::store::{ExpertConsent, ExpertInvitation, ExpertScope};

/// Where the parties' answers stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Not every party in the room has answered yet.
    Waiting,
    /// Every party in the room accepted (or none is in it to ask).
    Accepted,
    /// A party declined.
    Declined,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpertRefusal {
    NotAParty,
    NoSuchInvitation,
    AlreadyJoined,
}

impl ExpertRefusal {
    pub fn code(self) -> ErrorCode {
        match self {
            ExpertRefusal::NotAParty => ErrorCode::Forbidden,
            ExpertRefusal::NoSuchInvitation => ErrorCode::NotFound,
            ExpertRefusal::AlreadyJoined => ErrorCode::Conflict,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ExpertRefusal::NotAParty => "Only the parties are asked about an expert joining.",
            ExpertRefusal::NoSuchInvitation => "No expert was invited on that invitation.",
            ExpertRefusal::AlreadyJoined => {
                "The expert has joined already; tell the mediator if you object."
            }
        }
    }
}

/// The expert as the room is shown them (their phone number stays with the mediator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpertCard {
    pub name: String,
    pub specialty: String,
    pub center: String,
}

/// One expert invitation as everyone in the room is told of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpertInvitationView {
    pub invitation_id: String,
    pub expert: ExpertCard,
    pub scope: ExpertScope,
    pub invited_by: String,
    pub invited_at: i64,
    pub consent: Consent,
    /// The parties' answers so far, latest per party.
    pub answers: Vec<ExpertConsent>,
    /// The expert has been let in.
    pub joined: bool,
}

struct Invite {
    invitation: ExpertInvitation,
    answers: Vec<ExpertConsent>,
    joined: bool,
}

/// The experts invited into this session and the parties' answers.
#[derive(Default)]
pub struct ExpertInvites {
    invites: Vec<Invite>,
}

impl ExpertInvites {
    /// Takes up a session's invitations and answers again (a restarted server, a room that
    /// emptied and filled).
    pub fn restore(invitations: Vec<ExpertInvitation>, answers: Vec<ExpertConsent>) -> Self {
        let mut invites = ExpertInvites::default();
        for invitation in invitations {
            invites.add(invitation);
        }
        for answer in answers {
            if let Some(invite) = invites.find_mut(&answer.invitation_id) {
                record(&mut invite.answers, answer);
            }
        }
        invites
    }

    pub fn add(&mut self, invitation: ExpertInvitation) {
        if self.find_mut(&invitation.invitation_id).is_none() {
            self.invites.push(Invite {
                invitation,
                answers: Vec::new(),
                joined: false,
            });
        }
    }

    /// The invitation `invitation_id` if it brings in an expert from the room.
    pub fn invitation(&self, invitation_id: &str) -> Option<&ExpertInvitation> {
        self.find(invitation_id).map(|i| &i.invitation)
    }

    /// Whether the expert on this invitation may come in, given the parties in the room now.
    /// Once let in, they stay accepted (a party arriving later is shown who is there).
    pub fn consent(&self, invitation_id: &str, parties: &[&str]) -> Consent {
        match self.find(invitation_id) {
            Some(invite) if invite.joined => Consent::Accepted,
            Some(invite) => consent_of(&invite.answers, parties),
            None => Consent::Accepted,
        }
    }

    /// Whether the expert on this invitation advises the mediator only.
    pub fn hosts_only(&self, invitation_id: &str) -> bool {
        self.invitation(invitation_id)
            .is_some_and(|i| i.scope == ExpertScope::Mediator)
    }

    pub fn joined(&mut self, invitation_id: &str) {
        if let Some(invite) = self.find_mut(invitation_id) {
            invite.joined = true;
        }
    }

    /// A party's answer; it replaces their earlier one while the expert has not joined.
    pub fn answer(&mut self, answer: ExpertConsent) -> Result<(), ExpertRefusal> {
        let invite = self
            .find_mut(&answer.invitation_id)
            .ok_or(ExpertRefusal::NoSuchInvitation)?;
        if invite.joined {
            return Err(ExpertRefusal::AlreadyJoined);
        }
        record(&mut invite.answers, answer);
        Ok(())
    }

    /// Every invitation as the room is told of it, given the parties in the room now.
    pub fn views(&self, parties: &[&str]) -> Vec<ExpertInvitationView> {
        self.invites
            .iter()
            .map(|invite| view(invite, parties))
            .collect()
    }

    /// One invitation as the room is told of it.
    pub fn view(&self, invitation_id: &str, parties: &[&str]) -> Option<ExpertInvitationView> {
        self.find(invitation_id).map(|invite| view(invite, parties))
    }

    fn find(&self, invitation_id: &str) -> Option<&Invite> {
        self.invites
            .iter()
            .find(|i| i.invitation.invitation_id == invitation_id)
    }

    fn find_mut(&mut self, invitation_id: &str) -> Option<&mut Invite> {
        self.invites
            .iter_mut()
            .find(|i| i.invitation.invitation_id == invitation_id)
    }
}

fn view(invite: &Invite, parties: &[&str]) -> ExpertInvitationView {
    let expert = &invite.invitation.expert;
    ExpertInvitationView {
        invitation_id: invite.invitation.invitation_id.clone(),
        expert: ExpertCard {
            name: expert.name.clone(),
            specialty: expert.specialty.clone(),
            center: expert.center.clone(),
        },
        scope: invite.invitation.scope,
        invited_by: invite.invitation.invited_by.clone(),
        invited_at: invite.invitation.created_at,
        consent: if invite.joined {
            Consent::Accepted
        } else {
            consent_of(&invite.answers, parties)
        },
        answers: invite.answers.clone(),
        joined: invite.joined,
    }
}

/// A decline by anyone stands (a party who said no and stepped out has not changed their
/// mind); otherwise every party in the room must have accepted.
fn consent_of(answers: &[ExpertConsent], parties: &[&str]) -> Consent {
    if answers.iter().any(|a| !a.accepted) {
        return Consent::Declined;
    }
    let accepted = |party: &&str| {
        answers
            .iter()
            .any(|a| a.participant_id == *party && a.accepted)
    };
    if parties.iter().all(accepted) {
        Consent::Accepted
    } else {
        Consent::Waiting
    }
}

fn record(answers: &mut Vec<ExpertConsent>, answer: ExpertConsent) {
    answers.retain(|a| a.participant_id != answer.participant_id);
    answers.push(answer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Expert;

    fn invitation(scope: ExpertScope) -> ExpertInvitation {
        ExpertInvitation {
            invitation_id: "inv".into(),
            session_id: "s".into(),
            expert: Expert {
                id: "e".into(),
                name: "王工".into(),
                specialty: "土地".into(),
                center: "县自然资源局".into(),
                phone: "13800000000".into(),
                created_at: 0,
            },
            scope,
            invited_by: "调解员".into(),
            created_at: 1,
        }
    }

    fn answer(party: &str, accepted: bool) -> ExpertConsent {
        ExpertConsent {
            invitation_id: "inv".into(),
            participant_id: party.into(),
            name: party.into(),
            accepted,
            answered_at: 2,
        }
    }

    #[test]
    fn the_expert_comes_in_once_every_party_in_the_room_accepted() {
        let mut invites = ExpertInvites::default();
        invites.add(invitation(ExpertScope::Room));
        let parties = ["a", "b"];
        assert_eq!(invites.consent("inv", &parties), Consent::Waiting);
        invites.answer(answer("a", true)).unwrap();
        assert_eq!(invites.consent("inv", &parties), Consent::Waiting);
        invites.answer(answer("b", true)).unwrap();
        assert_eq!(invites.consent("inv", &parties), Consent::Accepted);
        // A party arriving before the expert joins is asked too.
        assert_eq!(invites.consent("inv", &["a", "b", "c"]), Consent::Waiting);
        invites.joined("inv");
        assert_eq!(invites.consent("inv", &["a", "b", "c"]), Consent::Accepted);
        assert_eq!(
            invites.answer(answer("c", false)),
            Err(ExpertRefusal::AlreadyJoined)
        );
    }

    #[test]
    fn one_decline_keeps_the_expert_out_until_that_party_changes_their_answer() {
        let mut invites = ExpertInvites::default();
        invites.add(invitation(ExpertScope::Mediator));
        assert!(invites.hosts_only("inv"));
        invites.answer(answer("a", true)).unwrap();
        invites.answer(answer("b", false)).unwrap();
        assert_eq!(invites.consent("inv", &["a", "b"]), Consent::Declined);
        // Stepping out does not withdraw a no.
        assert_eq!(invites.consent("inv", &["a"]), Consent::Declined);
        invites.answer(answer("b", true)).unwrap();
        assert_eq!(invites.consent("inv", &["a", "b"]), Consent::Accepted);
        let view = invites.view("inv", &["a", "b"]).unwrap();
        assert_eq!(view.answers.len(), 2, "one answer per party, the latest");
        assert_eq!(
            invites.answer(ExpertConsent {
                invitation_id: "other".into(),
                ..answer("a", true)
            }),
            Err(ExpertRefusal::NoSuchInvitation)
        );
    }

    #[test]
    fn answers_on_record_are_taken_up_again() {
        let invites =
            ExpertInvites::restore(vec![invitation(ExpertScope::Room)], vec![answer("a", true)]);
        assert_eq!(invites.consent("inv", &["a"]), Consent::Accepted);
        assert_eq!(invites.consent("inv", &["a", "b"]), Consent::Waiting);
        assert!(!invites.hosts_only("inv"));
    }
}
