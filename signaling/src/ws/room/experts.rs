//! The room's side of an expert brought in mid-session (the bookkeeping is `ws/experts.rs`):
//! asking the parties, filing their answers, letting the expert in once they accepted, and
//! keeping an adviser of the mediator out of everyone else's media.

use super::{ParticipantInfo, Room, RoomCommand, ServerMessage};
use crate::error_code::ErrorCode;
use crate::secrets::now_ms;
use crate::store::{
    ExpertConsent, ExpertInvitation, ParticipantRole, SeatHolder, SessionEventKind,
};
use crate::ws::experts::{Consent, ExpertInvites, ExpertRefusal};
use crate::ws::protocol::LeaveReason;

impl Room {
    /// The session's expert invitations and the parties' answers, from the records.
    pub(super) async fn restore_experts(&mut self) {
        let invitations = match self
            .store
            .expert_invitations_of_session(&self.session.id)
            .await
        {
            Ok(invitations) => invitations,
            Err(error) => {
                tracing::error!(%error, "could not read the session's expert invitations");
                return;
            }
        };
        if invitations.is_empty() {
            return;
        }
        let answers = match self.store.session_events(&self.session.id).await {
            Ok(events) => events
                .iter()
                .filter(|e| e.kind == SessionEventKind::ExpertConsent)
                .filter_map(|e| serde_json::from_str::<ExpertConsent>(&e.detail).ok())
                .collect(),
            Err(error) => {
                tracing::error!(%error, "could not read the parties' answers about experts");
                Vec::new()
            }
        };
        self.experts = ExpertInvites::restore(invitations, answers);
    }

    /// An expert was invited from the room (and filed): everyone is told, the parties to
    /// answer.
    pub(super) fn expert_invited(&mut self, invitation: ExpertInvitation) {
        let id = invitation.invitation_id.clone();
        self.experts.add(invitation);
        self.announce_expert(&id);
    }

    pub(super) async fn answer_expert(
        &mut self,
        by: &str,
        invitation_id: &str,
        accept: bool,
    ) -> Result<(), ExpertRefusal> {
        let party = self
            .admitted(by)
            .filter(|m| m.role == ParticipantRole::Party && !m.is_host)
            .ok_or(ExpertRefusal::NotAParty)?;
        let answer = ExpertConsent {
            invitation_id: invitation_id.to_owned(),
            participant_id: party.id.clone(),
            name: party.name.clone(),
            accepted: accept,
            answered_at: now_ms(),
        };
        self.experts.answer(answer.clone())?;
        let detail = serde_json::to_string(&answer).unwrap_or_default();
        self.record(SessionEventKind::ExpertConsent, &party.name, &detail)
            .await;
        self.announce_expert(invitation_id);
        self.settle_expert(invitation_id).await;
        Ok(())
    }

    /// Where the parties' answers leave the expert arriving as member `id`: `None` for anyone
    /// not invited as an expert from the room.
    pub(super) fn expert_consent_of(&self, id: &str) -> Option<Consent> {
        let member = self.members.iter().find(|m| m.info.id == id)?;
        let SeatHolder::Invitation(invitation) = &member.identity else {
            return None;
        };
        self.experts.invitation(invitation)?;
        Some(self.experts.consent(invitation, &self.parties_in_room()))
    }

    /// Whoever holds this seat is an expert advising the mediator only.
    pub(super) fn advises_hosts_only(&self, identity: &SeatHolder) -> bool {
        match identity {
            SeatHolder::Invitation(invitation) => self.experts.hosts_only(invitation),
            SeatHolder::Account(_) => false,
        }
    }

    /// Member `info` was let in or left: an expert let in closes the parties' answers; a party
    /// coming or going may change where the answers stand for an expert still waiting.
    pub(super) fn expert_admitted_or_party_changed(&mut self, info: &ParticipantInfo) {
        let invitation = self
            .members
            .iter()
            .find(|m| m.info.id == info.id)
            .and_then(|m| match &m.identity {
                SeatHolder::Invitation(id) => self.experts.invitation(id).map(|_| id.clone()),
                SeatHolder::Account(_) => None,
            });
        if let Some(invitation) = invitation {
            if self.admitted(&info.id).is_some() {
                self.experts.joined(&invitation);
                self.announce_expert(&invitation);
            }
            return;
        }
        if info.role != ParticipantRole::Party {
            return;
        }
        let parties = self.parties_in_room();
        for view in self.experts.views(&parties) {
            if view.joined {
                continue;
            }
            self.announce_expert(&view.invitation_id);
            // Settled as the room's next command, not from inside an admission or a removal.
            if let Some(room) = self.myself.upgrade() {
                let settle = RoomCommand::SettleExpert {
                    invitation_id: view.invitation_id,
                };
                if room.try_send(settle).is_err() {
                    tracing::warn!("room queue full; an expert waits for the next answer");
                }
            }
        }
    }

    /// Lets the expert waiting on this invitation in once every party accepted, or turns them
    /// away when one declined.
    pub(super) async fn settle_expert(&mut self, invitation_id: &str) {
        let holder = SeatHolder::Invitation(invitation_id.to_owned());
        let Some(waiting) = self
            .members
            .iter()
            .find(|m| m.identity == holder && !m.admitted)
            .map(|m| m.info.id.clone())
        else {
            return;
        };
        match self.experts.consent(invitation_id, &self.parties_in_room()) {
            Consent::Accepted => self.admit(&waiting).await,
            Consent::Declined => self.turn_expert_away(&waiting).await,
            Consent::Waiting => {}
        }
    }

    pub(super) async fn turn_expert_away(&mut self, id: &str) {
        let notice = ServerMessage::error(
            ErrorCode::Forbidden,
            "The parties did not accept an expert joining; the mediator has been told.",
        );
        self.remove(id, LeaveReason::Refused, Some(notice)).await;
    }

    /// Tells everyone in the room where this invitation stands.
    fn announce_expert(&self, invitation_id: &str) {
        if let Some(view) = self.experts.view(invitation_id, &self.parties_in_room()) {
            self.broadcast_all(ServerMessage::ExpertInvitation(Box::new(view)));
        }
    }

    /// The parties let in, whose answers count.
    pub(super) fn parties_in_room(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| m.admitted && m.info.role == ParticipantRole::Party && !m.info.is_host)
            .map(|m| m.info.id.as_str())
            .collect()
    }
}
