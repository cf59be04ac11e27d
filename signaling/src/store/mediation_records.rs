//! The draft of each session's mediation record (see `ws/mediation_record.rs`).

use sqlx::Row;

use super::{Store, StoreResult};
use crate::ws::protocol::RecordDraft;

impl Store {
    /// Saves the draft of `session_id`'s record, replacing the one before.
    pub async fn save_record_draft(
        &self,
        session_id: &str,
        draft: &RecordDraft,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mediation_records (session_id, text, version, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (session_id) DO UPDATE SET text = excluded.text, \
             version = excluded.version, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(session_id)
        .bind(&draft.text)
        .bind(draft.version)
        .bind(&draft.updated_by)
        .bind(draft.updated_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The draft of `session_id`'s record, if one was written.
    pub async fn record_draft(&self, session_id: &str) -> StoreResult<Option<RecordDraft>> {
        let row = sqlx::query(
            "SELECT text, version, updated_by, updated_at FROM mediation_records \
             WHERE session_id = $1",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(RecordDraft {
            text: row.try_get("text")?,
            version: row.try_get("version")?,
            updated_by: row.try_get("updated_by")?,
            updated_at_ms: row.try_get("updated_at")?,
        }))
    }
}
