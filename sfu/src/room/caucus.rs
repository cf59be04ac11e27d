//! A caucus (背对背): the mediator talks with one side in private. Media flows only between
//! peers on the same side of it; what crosses is held back at once (not at the next policy
//! run), and each held-back video starts again at a keyframe when the caucus ends. The
//! recorder takes nothing from inside unless everyone in it agreed.

use std::time::Instant;

use super::Room;
use crate::handle::Caucus;
use crate::ids::{ParticipantId, PeerKey};
use crate::outgoing::Source;

impl Room {
    /// Starts, changes or (with `None`) ends the caucus.
    pub fn set_caucus(&mut self, caucus: Option<Caucus>, now: Instant) {
        self.caucus = caucus;
        for index in 0..self.peers.len() {
            let inside = self.in_caucus(&self.peers[index].participant);
            self.peers[index].in_caucus = inside;
        }
        // Pairs the caucus parts stop now (again, for those it parted already: nothing of
        // theirs is flowing); their videos come back at keyframes, asked for by the
        // forwarding when they are wanted again.
        let sources: Vec<(Source, bool)> = self
            .peers
            .iter()
            .flat_map(|p| {
                p.tracks_in.iter().map(move |t| {
                    let source = Source {
                        peer: p.key,
                        mid: t.mid,
                    };
                    (source, p.in_caucus)
                })
            })
            .collect();
        let parting = self.caucus.is_some();
        for peer in &mut self.peers {
            for (source, publisher_inside) in &sources {
                if parting && source.peer != peer.key && peer.in_caucus != *publisher_inside {
                    peer.hold_back(*source);
                }
            }
        }
        self.mark_parted_tracks();
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

    /// Marks each subscriber's tracks the caucus parts it from (and no others), to be offered
    /// inactive. Also run with the policy, for tracks added during a caucus.
    pub(super) fn mark_parted_tracks(&mut self) {
        let caucus = self.caucus.is_some();
        let inside: Vec<(PeerKey, bool)> =
            self.peers.iter().map(|p| (p.key, p.in_caucus)).collect();
        for peer in &mut self.peers {
            for track in &mut peer.tracks_out {
                let publisher_inside = inside
                    .iter()
                    .find(|(key, _)| *key == track.source.peer)
                    .map(|(_, inside)| *inside);
                track.parted =
                    caucus && publisher_inside.is_some_and(|inside| inside != peer.in_caucus);
            }
        }
    }

    pub(super) fn in_caucus(&self, participant: &ParticipantId) -> bool {
        self.caucus
            .as_ref()
            .is_some_and(|c| c.members.contains(participant))
    }

    /// Whether media of a publisher (inside the caucus or not) may not reach a subscriber.
    pub(super) fn parted(&self, publisher_inside: bool, subscriber_inside: bool) -> bool {
        self.caucus.is_some() && publisher_inside != subscriber_inside
    }

    /// Whether the recorder may take media of a publisher (inside the caucus or not).
    pub(super) fn recordable(&self, publisher_inside: bool) -> bool {
        !publisher_inside || self.caucus.as_ref().is_none_or(|c| c.recorded)
    }
}
