//! Who shares a screen in the room. One screen at a time: a new share replaces the one before
//! (its sharer's page stops sending when it hears of the new one), as in a meeting where the
//! one who speaks to a map takes the projector. The pictures themselves go through the SFU as
//! the sharer's extra video; this only decides who may, and tells everyone.

use crate::store::ParticipantRole;

/// Why a `share_screen` was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareRefusal {
    /// Parties and observers show documents as photos instead (on a phone there is no screen
    /// to share).
    MayNotShare,
}

impl ShareRefusal {
    pub fn message(self) -> &'static str {
        match self {
            ShareRefusal::MayNotShare => {
                "Only the mediator, a clerk or an expert can share a screen."
            }
        }
    }
}

/// What a share request changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareChange {
    /// `sharer` now shares; `replaced` had been sharing.
    Started {
        replaced: Option<String>,
    },
    Stopped,
    /// Nothing to tell anyone (a stop from someone not sharing, a repeated start).
    Unchanged,
}

#[derive(Debug, Default)]
pub struct ScreenShare {
    sharer: Option<String>,
}

impl ScreenShare {
    /// The participant sharing now.
    pub fn sharer(&self) -> Option<&str> {
        self.sharer.as_deref()
    }

    /// `member` (with `role`) starts (`sharing`) or stops sharing.
    pub fn request(
        &mut self,
        member: &str,
        role: ParticipantRole,
        sharing: bool,
    ) -> Result<ShareChange, ShareRefusal> {
        if !role.may_share_screen() {
            return Err(ShareRefusal::MayNotShare);
        }
        if !sharing {
            return Ok(self.left(member));
        }
        if self.sharer.as_deref() == Some(member) {
            return Ok(ShareChange::Unchanged);
        }
        let replaced = self.sharer.replace(member.to_owned());
        Ok(ShareChange::Started { replaced })
    }

    /// `member` stopped sharing or left the room.
    pub fn left(&mut self, member: &str) -> ShareChange {
        if self.sharer.as_deref() == Some(member) {
            self.sharer = None;
            ShareChange::Stopped
        } else {
            ShareChange::Unchanged
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parties_and_observers_may_not_share_a_screen() {
        let mut share = ScreenShare::default();
        for role in [ParticipantRole::Party, ParticipantRole::Observer] {
            assert_eq!(
                share.request("p", role, true),
                Err(ShareRefusal::MayNotShare)
            );
        }
        assert_eq!(share.sharer(), None);
    }

    #[test]
    fn a_new_share_replaces_the_one_before_and_only_its_sharer_stops_it() {
        let mut share = ScreenShare::default();
        let started = share.request("mediator", ParticipantRole::Mediator, true);
        assert_eq!(started, Ok(ShareChange::Started { replaced: None }));
        let again = share.request("mediator", ParticipantRole::Mediator, true);
        assert_eq!(again, Ok(ShareChange::Unchanged));
        let expert = share.request("expert", ParticipantRole::Expert, true);
        assert_eq!(
            expert,
            Ok(ShareChange::Started {
                replaced: Some("mediator".to_owned())
            })
        );
        let stale_stop = share.request("mediator", ParticipantRole::Mediator, false);
        assert_eq!(stale_stop, Ok(ShareChange::Unchanged));
        assert_eq!(share.sharer(), Some("expert"));
        assert_eq!(share.left("expert"), ShareChange::Stopped);
        assert_eq!(share.sharer(), None);
    }
}
