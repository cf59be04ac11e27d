//! The mediation record (笔录): the mediator or a clerk types it during the session, saved as
//! they type; at the end the mediator presents it, and each party (and expert) reads it and
//! confirms it or says what they disagree with. The draft lives in its own table (saved far too
//! often for the case file's events); presenting it and every answer are events, with the text
//! presented and its SHA-256, so the case file shows exactly what each person confirmed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::ParticipantRole;

/// The longest record, in characters: some forty pages, a long session's record. In Chinese
/// (three bytes a character) it still fits one signaling message (`MAX_MESSAGE_BYTES`).
pub const MAX_RECORD_CHARS: usize = 20_000;
/// The longest disagreement a party writes.
pub const MAX_DISAGREEMENT_CHARS: usize = 2_000;

/// The draft as it stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecordDraft {
    pub text: String,
    /// Each save makes the next; a save based on an older one is refused (two editors).
    pub version: i64,
    pub updated_by: String,
    pub updated_at_ms: i64,
}

/// A version of the record put to the parties: what they read, to the character.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PresentedRecord {
    pub version: i64,
    pub text: String,
    pub sha256: String,
    pub at_ms: i64,
}

/// One person's answer to a presented version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordAnswer {
    pub participant_id: String,
    pub name: String,
    pub sha256: String,
    pub agrees: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub disagreement: String,
    pub at_ms: i64,
}

/// What a member is shown of the record: editors the draft, everyone the presented version
/// (editors every answer to it, others their own).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<RecordDraft>,
    pub presented: Option<PresentedRecord>,
    pub answers: Vec<RecordAnswer>,
}

/// Why a record message was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordRefusal {
    MayNotEdit,
    /// Someone saved since the version this edit began from.
    Stale,
    TooLong,
    NothingToPresent,
    MayNotAnswer,
    /// No record has been presented, or a newer one has.
    NotTheLatest,
    DisagreementNeeded,
}

impl RecordRefusal {
    pub fn message(&self) -> &'static str {
        match self {
            RecordRefusal::MayNotEdit => "Only the mediator or a clerk writes the record.",
            RecordRefusal::Stale => {
                "The record was saved by someone else meanwhile; their text is shown now."
            }
            RecordRefusal::TooLong => "The record holds at most 20000 characters.",
            RecordRefusal::NothingToPresent => "The record is empty: there is nothing to confirm.",
            RecordRefusal::MayNotAnswer => "Only parties and experts confirm the record.",
            RecordRefusal::NotTheLatest => "That is not the record presented now.",
            RecordRefusal::DisagreementNeeded => {
                "Say what you disagree with (at most 2000 characters)."
            }
        }
    }
}

/// Who writes the record.
pub fn may_edit(role: ParticipantRole, is_host: bool) -> bool {
    is_host || role == ParticipantRole::Staff
}

/// Who is asked to confirm it.
pub fn may_answer(role: ParticipantRole, is_host: bool) -> bool {
    !is_host && matches!(role, ParticipantRole::Party | ParticipantRole::Expert)
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[derive(Debug, Default)]
pub struct MediationRecord {
    draft: RecordDraft,
    presented: Option<PresentedRecord>,
    /// Answers to the presented version only.
    answers: Vec<RecordAnswer>,
}

impl MediationRecord {
    /// The record as the store and the case's events left it.
    pub fn restore(
        &mut self,
        draft: Option<RecordDraft>,
        presented: Option<PresentedRecord>,
        answers: Vec<RecordAnswer>,
    ) {
        self.draft = draft.unwrap_or_default();
        if let Some(presented) = presented {
            self.answers = answers
                .into_iter()
                .filter(|a| a.sha256 == presented.sha256)
                .collect();
            self.presented = Some(presented);
        }
    }

    /// Saves `text` as the next version, if `based_on` is the current one.
    pub fn save(
        &mut self,
        text: &str,
        based_on: i64,
        by: &str,
        now_ms: i64,
    ) -> Result<&RecordDraft, RecordRefusal> {
        if text.chars().count() > MAX_RECORD_CHARS {
            return Err(RecordRefusal::TooLong);
        }
        if based_on != self.draft.version {
            return Err(RecordRefusal::Stale);
        }
        self.draft = RecordDraft {
            text: text.to_owned(),
            version: self.draft.version + 1,
            updated_by: by.to_owned(),
            updated_at_ms: now_ms,
        };
        Ok(&self.draft)
    }

    /// Puts the current draft to the parties; earlier answers were to another text.
    pub fn present(&mut self, now_ms: i64) -> Result<&PresentedRecord, RecordRefusal> {
        if self.draft.text.trim().is_empty() {
            return Err(RecordRefusal::NothingToPresent);
        }
        let sha256 = sha256_hex(&self.draft.text);
        if self.presented.as_ref().is_none_or(|p| p.sha256 != sha256) {
            self.answers.clear();
        }
        self.presented = Some(PresentedRecord {
            version: self.draft.version,
            text: self.draft.text.clone(),
            sha256,
            at_ms: now_ms,
        });
        Ok(self.presented.as_ref().expect("just presented"))
    }

    /// `member` answers the presented version `sha256`; a second answer replaces the first.
    pub fn answer(
        &mut self,
        member: (&str, &str),
        sha256: &str,
        agrees: bool,
        disagreement: &str,
        now_ms: i64,
    ) -> Result<&RecordAnswer, RecordRefusal> {
        let presented = self.presented.as_ref().ok_or(RecordRefusal::NotTheLatest)?;
        if presented.sha256 != sha256 {
            return Err(RecordRefusal::NotTheLatest);
        }
        let disagreement = disagreement.trim();
        if !agrees
            && (disagreement.is_empty() || disagreement.chars().count() > MAX_DISAGREEMENT_CHARS)
        {
            return Err(RecordRefusal::DisagreementNeeded);
        }
        let (id, name) = member;
        self.answers.retain(|a| a.participant_id != id);
        self.answers.push(RecordAnswer {
            participant_id: id.to_owned(),
            name: name.to_owned(),
            sha256: sha256.to_owned(),
            agrees,
            disagreement: if agrees {
                String::new()
            } else {
                disagreement.to_owned()
            },
            at_ms: now_ms,
        });
        Ok(self.answers.last().expect("just answered"))
    }

    /// What `member` sees: an editor everything, anyone else the presented version and their
    /// own answer.
    pub fn view(&self, member: &str, editor: bool) -> RecordView {
        RecordView {
            draft: editor.then(|| self.draft.clone()),
            presented: self.presented.clone(),
            answers: self
                .answers
                .iter()
                .filter(|a| editor || a.participant_id == member)
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_based_on_an_older_version_is_refused() {
        let mut record = MediationRecord::default();
        assert_eq!(
            record.save("甲方称", 0, "调解员", 1).map(|d| d.version),
            Ok(1)
        );
        assert_eq!(
            record.save("甲方称……", 1, "书记员", 2).map(|d| d.version),
            Ok(2)
        );
        assert_eq!(
            record.save("另一稿", 1, "调解员", 3),
            Err(RecordRefusal::Stale)
        );
        let draft = record.view("m", true).draft.unwrap_or_default();
        assert_eq!(draft.text, "甲方称……");
        let too_long = "字".repeat(MAX_RECORD_CHARS + 1);
        assert_eq!(
            record.save(&too_long, 2, "调解员", 4),
            Err(RecordRefusal::TooLong)
        );
    }

    #[test]
    fn answers_are_to_the_text_presented_and_a_new_text_asks_again() {
        let mut record = MediationRecord::default();
        assert_eq!(record.present(1), Err(RecordRefusal::NothingToPresent));
        record.save("双方同意以界桩为准。", 0, "调解员", 1).ok();
        let first = record
            .present(2)
            .map(|p| p.sha256.clone())
            .unwrap_or_default();
        assert_eq!(first, sha256_hex("双方同意以界桩为准。"));
        assert_eq!(
            record.answer(("a", "甲"), &first, false, "  ", 3),
            Err(RecordRefusal::DisagreementNeeded)
        );
        assert!(record.answer(("a", "甲"), &first, true, "", 3).is_ok());
        assert!(record
            .answer(("b", "乙"), &first, false, "界桩位置不对", 4)
            .is_ok());
        assert_eq!(
            record.view("a", false).answers.len(),
            1,
            "a party sees its own answer"
        );
        assert_eq!(
            record.view("m", true).answers.len(),
            2,
            "the mediator sees both"
        );
        assert!(record.view("a", false).draft.is_none());

        record.save("双方同意以东侧界桩为准。", 1, "调解员", 5).ok();
        assert_eq!(
            record.view("m", true).answers.len(),
            2,
            "not presented again yet"
        );
        let second = record
            .present(6)
            .map(|p| p.sha256.clone())
            .unwrap_or_default();
        assert_ne!(first, second);
        assert!(record.view("m", true).answers.is_empty(), "asked again");
        assert_eq!(
            record.answer(("a", "甲"), &first, true, "", 7),
            Err(RecordRefusal::NotTheLatest)
        );
    }
}
