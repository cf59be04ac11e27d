//! Seats that outlast the server: each admitted member's seat is on record (only its resume
//! token's hash, like every secret in the store), so that after a restart the session's room is
//! opened again with everyone's seat held, as if all their connections had dropped at once. A
//! seat is given back only to someone who would be let in now: an invitation still valid, an
//! account still enabled and entitled to the same place.

use std::time::Duration;

use crate::auth::may_manage;
use crate::secrets::now_ms;
use crate::store::{
    AccountRole, InviteeRole, ParticipantRole, ResumeSeat, SeatHolder, Store, StoreResult, User,
};

use super::protocol::SessionInfo;

/// A seat on record that its holder may take back, and until when it is held.
pub struct HeldSeat {
    pub seat: ResumeSeat,
    pub dropped_at: i64,
    pub held_until: i64,
}

/// The place an account takes in a session of the dispute `mediator_id` hosts: the host's for
/// its mediator (or an administrator), a staff member's for staff; `None` for anyone else.
pub fn account_place(user: &User, mediator_id: &str) -> Option<(ParticipantRole, bool)> {
    if may_manage(user, mediator_id) {
        Some((ParticipantRole::Mediator, true))
    } else if user.role == AccountRole::Staff {
        Some((ParticipantRole::Staff, false))
    } else {
        None
    }
}

/// What an invitation of this kind makes its holder in the room.
pub fn invitee_place(role: InviteeRole) -> ParticipantRole {
    match role {
        InviteeRole::Party => ParticipantRole::Party,
        InviteeRole::Expert => ParticipantRole::Expert,
        InviteeRole::Observer => ParticipantRole::Observer,
    }
}

/// The seats of `session` a room opened now holds: those whose hold has not passed and whose
/// holder is still entitled to them. The others are deleted. A seat with no hold (its member
/// was connected to a room that stopped without letting them go) is held for `grace` from now.
pub async fn held_seats(store: &Store, session: &SessionInfo, grace: Duration) -> Vec<HeldSeat> {
    let seats = match store.resume_seats_of_session(&session.id).await {
        Ok(seats) => seats,
        Err(error) => {
            tracing::error!(%error, "could not read the session's seats");
            return Vec::new();
        }
    };
    let now = now_ms();
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let mut held = Vec::new();
    for seat in seats {
        let (dropped_at, held_until) = match (seat.dropped_at, seat.held_until) {
            (Some(dropped_at), Some(held_until)) => (dropped_at, held_until),
            _ => (now, now.saturating_add(grace_ms)),
        };
        let entitled = held_until > now && still_entitled(store, &seat, session).await;
        if entitled {
            held.push(HeldSeat {
                seat,
                dropped_at,
                held_until,
            });
        } else if let Err(error) = store.delete_resume_seat(&seat.participant_id).await {
            tracing::error!(%error, "could not delete a seat that is no longer held");
        }
    }
    held
}

/// Whether the seat's holder would get this same seat by joining now. A store error counts as
/// no: the holder can still join from their link or sign-in.
async fn still_entitled(store: &Store, seat: &ResumeSeat, session: &SessionInfo) -> bool {
    match entitlement(store, seat, session).await {
        Ok(entitled) => entitled,
        Err(error) => {
            tracing::error!(%error, "could not check a seat's holder");
            false
        }
    }
}

async fn entitlement(store: &Store, seat: &ResumeSeat, session: &SessionInfo) -> StoreResult<bool> {
    match &seat.holder {
        SeatHolder::Invitation(id) => {
            let Some(invitation) = store.invitation(id).await? else {
                return Ok(false);
            };
            Ok(invitation.session_id == session.id
                && invitation.revoked_at.is_none()
                && invitation.expires_at > now_ms()
                && !seat.is_host
                && invitee_place(invitation.role) == seat.role)
        }
        SeatHolder::Account(id) => {
            let Some(user) = store.user(id).await? else {
                return Ok(false);
            };
            let Some(dispute) = store.dispute(&session.dispute_id).await? else {
                return Ok(false);
            };
            Ok(!user.disabled
                && account_place(&user, &dispute.mediator_id) == Some((seat.role, seat.is_host)))
        }
    }
}
