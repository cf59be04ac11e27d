//! The room's chat: who may write to whom, how much and how fast, and the recent messages a
//! member sees again when they join or come back. Every message is also a session event (the
//! case file keeps what was written); this log is only what the room shows.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The longest message, in characters: a few sentences, not a document.
pub const MAX_CHAT_CHARS: usize = 1000;
/// Most messages one member may send within [`RATE_WINDOW_MS`].
const RATE_MESSAGES: usize = 8;
const RATE_WINDOW_MS: i64 = 10_000;
/// Messages kept for members who join or come back later.
const KEPT: usize = 200;

/// One chat message as members see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub from: String,
    pub from_name: String,
    /// Set for a private message: the one participant it is for (besides its sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_name: Option<String>,
    pub text: String,
    /// When the server took it (ms since the Unix epoch).
    pub at_ms: i64,
}

impl ChatMessage {
    /// Whether `member` may read it: everyone for a message to all, else its two ends.
    pub fn visible_to(&self, member: &str) -> bool {
        match &self.to {
            None => true,
            Some(to) => to == member || self.from == member,
        }
    }
}

/// Why a message was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRefusal {
    Empty,
    TooLong,
    /// Observers watch; they do not write.
    MayNotWrite,
    /// Only the mediator may be written to privately by a party or expert.
    PrivateOnlyToTheMediator,
    NoSuchParticipant,
    TooFast,
}

impl ChatRefusal {
    pub fn message(self) -> &'static str {
        match self {
            ChatRefusal::Empty => "A chat message needs some text.",
            ChatRefusal::TooLong => "A chat message holds at most 1000 characters.",
            ChatRefusal::MayNotWrite => "Observers cannot write in the chat.",
            ChatRefusal::PrivateOnlyToTheMediator => {
                "Private messages can only be sent to the mediator."
            }
            ChatRefusal::NoSuchParticipant => "That participant is not in the room.",
            ChatRefusal::TooFast => "Too many messages; wait a few seconds.",
        }
    }
}

/// The text as it is kept: trimmed, and refused when empty or too long.
pub fn checked_text(text: &str) -> Result<String, ChatRefusal> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ChatRefusal::Empty);
    }
    if text.chars().count() > MAX_CHAT_CHARS {
        return Err(ChatRefusal::TooLong);
    }
    Ok(text.to_owned())
}

/// The room's recent messages and each member's recent sending times.
#[derive(Default)]
pub struct ChatLog {
    recent: VecDeque<ChatMessage>,
    sent: Vec<(String, VecDeque<i64>)>,
}

impl ChatLog {
    /// Counts a message `member` wants to send at `now_ms`; refused past the rate.
    pub fn admit_rate(&mut self, member: &str, now_ms: i64) -> Result<(), ChatRefusal> {
        let times = match self.sent.iter().position(|(id, _)| id == member) {
            Some(at) => &mut self.sent[at].1,
            None => {
                self.sent.push((member.to_owned(), VecDeque::new()));
                let last = self.sent.len() - 1;
                &mut self.sent[last].1
            }
        };
        while times
            .front()
            .is_some_and(|sent| now_ms - sent >= RATE_WINDOW_MS)
        {
            times.pop_front();
        }
        if times.len() >= RATE_MESSAGES {
            return Err(ChatRefusal::TooFast);
        }
        times.push_back(now_ms);
        Ok(())
    }

    pub fn keep(&mut self, message: ChatMessage) {
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(message);
    }

    /// The kept messages `member` may read, oldest first.
    pub fn visible_to(&self, member: &str) -> Vec<ChatMessage> {
        self.recent
            .iter()
            .filter(|m| m.visible_to(member))
            .cloned()
            .collect()
    }

    /// Forgets a member's sending times (they left).
    pub fn forget(&mut self, member: &str) {
        self.sent.retain(|(id, _)| id != member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str, to: Option<&str>) -> ChatMessage {
        ChatMessage {
            id: format!("{from}-{to:?}"),
            from: from.to_owned(),
            from_name: from.to_owned(),
            to: to.map(str::to_owned),
            to_name: None,
            text: "hello".to_owned(),
            at_ms: 0,
        }
    }

    #[test]
    fn a_private_message_is_seen_by_its_two_ends_only() {
        let mut log = ChatLog::default();
        log.keep(message("party-a", None));
        log.keep(message("party-a", Some("mediator")));
        log.keep(message("mediator", Some("party-b")));
        let seen = |who: &str| log.visible_to(who).len();
        assert_eq!(seen("party-a"), 2);
        assert_eq!(seen("mediator"), 3);
        assert_eq!(seen("party-b"), 2);
        assert_eq!(seen("expert"), 1);
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(checked_text("  你好 \n").as_deref(), Ok("你好"));
        assert_eq!(checked_text(" \n\t"), Err(ChatRefusal::Empty));
        let longest = "界".repeat(MAX_CHAT_CHARS);
        assert_eq!(checked_text(&longest), Ok(longest.clone()));
        assert_eq!(
            checked_text(&format!("{longest}!")),
            Err(ChatRefusal::TooLong)
        );
    }

    #[test]
    fn a_member_writing_too_fast_is_held_back_until_the_window_passes() {
        let mut log = ChatLog::default();
        for i in 0..RATE_MESSAGES as i64 {
            assert_eq!(log.admit_rate("a", i * 100), Ok(()));
        }
        assert_eq!(log.admit_rate("a", 900), Err(ChatRefusal::TooFast));
        assert_eq!(log.admit_rate("b", 900), Ok(()), "others are not held");
        assert_eq!(log.admit_rate("a", RATE_WINDOW_MS), Ok(()));
    }

    #[test]
    fn only_the_latest_messages_are_kept() {
        let mut log = ChatLog::default();
        for i in 0..KEPT + 5 {
            let mut m = message("a", None);
            m.at_ms = i as i64;
            log.keep(m);
        }
        let kept = log.visible_to("a");
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].at_ms, 5);
    }
}
