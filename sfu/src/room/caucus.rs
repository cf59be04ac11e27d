//! Who may reach whom. In a caucus (背对背) the mediator talks with one side in private: media
//! flows only between peers on the same side of it. An expert advising the mediator only is
//! heard and seen by the hosts alone. What newly crosses such a line is held back at once (not
//! at the next policy run), and each held-back video starts again at a keyframe when the line
//! goes. The recorder takes nothing from inside a caucus unless everyone in it agreed.

use std::time::Instant;

use super::Room;
use crate::handle::{Caucus, VideoPause};
use crate::ids::{ParticipantId, PeerKey};
use crate::outgoing::Source;
use crate::peer::Peer;

/// Where a peer stands for whom its media may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Standing {
    in_caucus: bool,
    host: bool,
    /// Heard and seen by the hosts only (an expert advising the mediator).
    hosts_only: bool,
}

impl Standing {
    pub(super) fn in_caucus(self) -> bool {
        self.in_caucus
    }

    pub(super) fn of(peer: &Peer) -> Standing {
        Standing {
            in_caucus: peer.in_caucus,
            host: peer.host,
            hosts_only: peer.hosts_only,
        }
    }
}

impl Room {
    /// Starts, changes or (with `None`) ends the caucus.
    pub fn set_caucus(&mut self, caucus: Option<Caucus>, now: Instant) {
        self.caucus = caucus;
        for index in 0..self.peers.len() {
            let inside = self.in_caucus(&self.peers[index].participant);
            self.peers[index].in_caucus = inside;
        }
        self.hold_back_parted();
        let unrecorded: Vec<_> = self
            .peers
            .iter()
            .filter(|p| !self.recordable(p.in_caucus))
            .map(|p| p.key)
            .collect();
        for publisher in unrecorded {
            for tap in &mut self.taps {
                tap.hold_back(publisher);
            }
        }
        self.next_policy = now;
    }

    /// Whether `participant`'s media reaches the hosts only (an expert advising the mediator)
    /// or, again, everyone.
    pub fn set_hosts_only(&mut self, participant: &ParticipantId, hosts_only: bool, now: Instant) {
        let Some(peer) = self
            .peers
            .iter_mut()
            .find(|p| &p.participant == participant)
        else {
            return;
        };
        peer.hosts_only = hosts_only;
        self.hold_back_parted();
        self.next_policy = now;
    }

    /// Stops every parted pair at once (again, for those parted already: nothing of theirs is
    /// flowing), and marks their tracks to be offered inactive. Their videos come back at
    /// keyframes, asked for by the forwarding when they are wanted again.
    fn hold_back_parted(&mut self) {
        let sources: Vec<(Source, Standing)> = self
            .peers
            .iter()
            .flat_map(|p| {
                let standing = Standing::of(p);
                p.tracks_in.iter().map(move |t| {
                    let source = Source {
                        peer: p.key,
                        mid: t.mid,
                    };
                    (source, standing)
                })
            })
            .collect();
        let caucus = self.caucus.is_some();
        for peer in &mut self.peers {
            let subscriber = Standing::of(peer);
            for (source, publisher) in &sources {
                if source.peer != peer.key && parted(caucus, *publisher, subscriber) {
                    peer.hold_back(*source);
                }
            }
        }
        self.mark_parted_tracks();
    }

    /// Marks each subscriber's tracks the caucus parts it from (and no others), to be offered
    /// inactive. Also run with the policy, for tracks added during a caucus.
    pub(super) fn mark_parted_tracks(&mut self) {
        let caucus = self.caucus.is_some();
        let standings: Vec<(PeerKey, Standing)> = self
            .peers
            .iter()
            .map(|p| (p.key, Standing::of(p)))
            .collect();
        for peer in &mut self.peers {
            let subscriber = Standing::of(peer);
            for track in &mut peer.tracks_out {
                let publisher = standings
                    .iter()
                    .find(|(key, _)| *key == track.source.peer)
                    .map(|(_, standing)| *standing);
                track.parted = publisher.is_some_and(|p| parted(caucus, p, subscriber));
            }
        }
    }

    pub(super) fn in_caucus(&self, participant: &ParticipantId) -> bool {
        self.caucus
            .as_ref()
            .is_some_and(|c| c.members.contains(participant))
    }

    /// Whether a publisher's media may not reach a subscriber.
    pub(super) fn parted(&self, publisher: Standing, subscriber: Standing) -> bool {
        parted(self.caucus.is_some(), publisher, subscriber)
    }

    /// What parts a publisher from a subscriber, if anything: the reason the subscriber is
    /// given for the missing video.
    pub(super) fn parting(&self, publisher: Standing, subscriber: Standing) -> Option<VideoPause> {
        parting(self.caucus.is_some(), publisher, subscriber)
    }

    /// Whether the recorder may take media of a publisher (inside the caucus or not).
    pub(super) fn recordable(&self, publisher_inside: bool) -> bool {
        !publisher_inside || self.caucus.as_ref().is_none_or(|c| c.recorded)
    }
}

/// Whether a publisher's media may not reach a subscriber, with a caucus on or not.
fn parted(caucus: bool, publisher: Standing, subscriber: Standing) -> bool {
    parting(caucus, publisher, subscriber).is_some()
}

/// What parts a publisher from a subscriber, if anything.
fn parting(caucus: bool, publisher: Standing, subscriber: Standing) -> Option<VideoPause> {
    if caucus && publisher.in_caucus != subscriber.in_caucus {
        Some(VideoPause::Caucus)
    } else if publisher.hosts_only && !subscriber.host {
        Some(VideoPause::HostsOnly)
    } else {
        None
    }
}
