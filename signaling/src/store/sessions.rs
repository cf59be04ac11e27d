use sqlx::any::AnyRow;
use sqlx::Row;

use super::{flag, parse_column, Session, SessionEvent, Store, StoreResult};

const SESSION_COLUMNS: &str =
    "id, dispute_id, status, lobby_enabled, scheduled_at, started_at, ended_at, created_at";

fn session_from_row(row: &AnyRow) -> StoreResult<Session> {
    let lobby: i64 = row.try_get("lobby_enabled")?;
    Ok(Session {
        id: row.try_get("id")?,
        dispute_id: row.try_get("dispute_id")?,
        status: parse_column(row, "status")?,
        lobby_enabled: lobby != 0,
        scheduled_at: row.try_get("scheduled_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn create_session(
        &self,
        id: &str,
        dispute_id: &str,
        lobby_enabled: bool,
        scheduled_at: Option<i64>,
        now: i64,
    ) -> StoreResult<Session> {
        sqlx::query(
            "INSERT INTO sessions (id, dispute_id, status, lobby_enabled, scheduled_at, created_at) \
             VALUES ($1, $2, 'scheduled', $3, $4, $5)",
        )
        .bind(id)
        .bind(dispute_id)
        .bind(flag(lobby_enabled))
        .bind(scheduled_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.session(id)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("session vanished after insert".into()))
    }

    pub async fn session(&self, id: &str) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    pub async fn sessions_of_dispute(&self, dispute_id: &str) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE dispute_id = $1 ORDER BY created_at DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(dispute_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// The host arrived: the session is live (the first time only).
    pub async fn mark_session_live(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET status = 'live', started_at = COALESCE(started_at, $1) \
             WHERE id = $2 AND status = 'scheduled'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends the session; returns false if it had already ended.
    pub async fn mark_session_ended(&self, id: &str, now: i64) -> StoreResult<bool> {
        let updated = sqlx::query(
            "UPDATE sessions SET status = 'ended', ended_at = $1 WHERE id = $2 AND status <> 'ended'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn record_session_event(
        &self,
        id: &str,
        session_id: &str,
        event: &SessionEvent,
    ) -> StoreResult<()> {
        // Numbered within the session in the same statement, so the number follows the order
        // of filing (events of one millisecond included) without a round trip to read it.
        sqlx::query(
            "INSERT INTO session_events (id, session_id, at, kind, actor, detail, seq) \
             SELECT $1, $2, $3, $4, $5, $6, COALESCE(MAX(seq), 0) + 1 \
             FROM session_events WHERE session_id = $2",
        )
        .bind(id)
        .bind(session_id)
        .bind(event.at)
        .bind(event.kind.as_str())
        .bind(&event.actor)
        .bind(&event.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session_events(&self, session_id: &str) -> StoreResult<Vec<SessionEvent>> {
        let rows = sqlx::query(
            "SELECT at, kind, actor, detail FROM session_events WHERE session_id = $1 \
             ORDER BY at, seq, id",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SessionEvent {
                    at: row.try_get("at")?,
                    kind: parse_column(row, "kind")?,
                    actor: row.try_get("actor")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }
}
