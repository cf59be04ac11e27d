//! Recordings and their files, and the audit log of who played or downloaded them.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{
    conflict_on_unique, parse_column, AuditEntry, CompositeStatus, FileKind, FileOutcome,
    FileStatus, NewRecordingFile, Recording, RecordingFile, RecordingStatus, Store, StoreResult,
};

const RECORDING_COLUMNS: &str = "id, session_id, dispute_id, status, started_by, started_at, \
     ended_at, error, manifest_sha256, composite_status, composite_progress";
const FILE_COLUMNS: &str = "id, recording_id, kind, participant_name, participant_role, path, \
     status, sha256, size_bytes, duration_ms, started_at, ended_at";

fn recording_from_row(row: &AnyRow, files: Vec<RecordingFile>) -> StoreResult<Recording> {
    Ok(Recording {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        dispute_id: row.try_get("dispute_id")?,
        status: parse_column(row, "status")?,
        started_by: row.try_get("started_by")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        error: row.try_get("error")?,
        manifest_sha256: row.try_get("manifest_sha256")?,
        composite_status: parse_column(row, "composite_status")?,
        composite_progress: row.try_get("composite_progress")?,
        files,
    })
}

fn ids_of(rows: &[AnyRow]) -> StoreResult<Vec<String>> {
    Ok(rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?)
}

fn file_from_row(row: &AnyRow) -> StoreResult<RecordingFile> {
    Ok(RecordingFile {
        id: row.try_get("id")?,
        recording_id: row.try_get("recording_id")?,
        kind: parse_column(row, "kind")?,
        participant_name: row.try_get("participant_name")?,
        participant_role: row.try_get("participant_role")?,
        path: row.try_get("path")?,
        status: parse_column(row, "status")?,
        sha256: row.try_get("sha256")?,
        size_bytes: row.try_get("size_bytes")?,
        duration_ms: row.try_get("duration_ms")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

impl Store {
    pub async fn create_recording(
        &self,
        id: &str,
        session_id: &str,
        dispute_id: &str,
        started_by: &str,
        now: i64,
    ) -> StoreResult<Recording> {
        sqlx::query(
            "INSERT INTO recordings (id, session_id, dispute_id, status, started_by, started_at) \
             VALUES ($1, $2, $3, 'recording', $4, $5)",
        )
        .bind(id)
        .bind(session_id)
        .bind(dispute_id)
        .bind(started_by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.recording(id)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("recording vanished after insert".into()))
    }

    pub async fn recording(&self, id: &str) -> StoreResult<Option<Recording>> {
        let sql = format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(self.recording_with_files(&row).await?))
    }

    /// A dispute's recordings, oldest first, each with its files.
    pub async fn recordings_of_dispute(&self, dispute_id: &str) -> StoreResult<Vec<Recording>> {
        let sql = format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE dispute_id = $1 \
             ORDER BY started_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(dispute_id)
            .fetch_all(&self.pool)
            .await?;
        self.recordings_with_files(&rows).await
    }

    pub async fn finish_recording(
        &self,
        id: &str,
        status: RecordingStatus,
        ended_at: i64,
        error: Option<&str>,
        manifest_sha256: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE recordings SET status = $1, ended_at = $2, error = $3, manifest_sha256 = $4 \
             WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(ended_at)
        .bind(error)
        .bind(manifest_sha256)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Where the composite of a recording stands: `pending`, `running` (with a percentage),
    /// `done` or `failed` (`interrupted` is set only on restart, by
    /// [`Store::interrupt_unfinished_composites`]).
    pub async fn set_composite_progress(
        &self,
        id: &str,
        status: CompositeStatus,
        percent: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE recordings SET composite_status = $1, composite_progress = $2 WHERE id = $3",
        )
        .bind(status.as_str())
        .bind(percent.clamp(0, 100))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn add_recording_file(&self, new: &NewRecordingFile) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO recording_files (id, recording_id, kind, participant_name, \
             participant_role, path, status, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'writing', $7)",
        )
        .bind(&new.id)
        .bind(&new.recording_id)
        .bind(new.kind.as_str())
        .bind(&new.participant_name)
        .bind(&new.participant_role)
        .bind(&new.path)
        .bind(new.started_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_on_unique("file path"))?;
        Ok(())
    }

    pub async fn complete_recording_file(
        &self,
        id: &str,
        outcome: &FileOutcome,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE recording_files SET status = $1, sha256 = $2, size_bytes = $3, \
             duration_ms = $4, ended_at = $5 WHERE id = $6",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.sha256.as_deref())
        .bind(outcome.size_bytes)
        .bind(outcome.duration_ms)
        .bind(outcome.ended_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One file with the recording it belongs to.
    pub async fn recording_file(
        &self,
        id: &str,
    ) -> StoreResult<Option<(RecordingFile, Recording)>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM recording_files WHERE id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let file = file_from_row(&row)?;
        let recording = self.recording(&file.recording_id).await?;
        Ok(recording.map(|recording| (file, recording)))
    }

    /// After a restart: recordings and files still marked in progress were cut short by the
    /// crash. They are marked interrupted (and kept); returns the recordings affected.
    pub async fn interrupt_unfinished_recordings(&self, now: i64) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM recordings WHERE status = 'recording'")
            .fetch_all(&self.pool)
            .await?;
        let ids = ids_of(&rows)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE recording_files SET status = $1, ended_at = COALESCE(ended_at, $2) \
             WHERE status = 'writing'",
        )
        .bind(FileStatus::Interrupted.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recordings SET status = $1, ended_at = COALESCE(ended_at, $2), \
             error = COALESCE(error, 'the server stopped while recording') \
             WHERE status = 'recording'",
        )
        .bind(RecordingStatus::Interrupted.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// After a restart: composites the last run was still making (`pending` or `running`)
    /// will never finish. One already filed complete is marked `done` (the run stopped between
    /// filing it and saying so); the others are marked `interrupted`, and any composite row
    /// they left unfinished `failed` (its file is not kept). Returns the recordings whose
    /// composite was interrupted.
    pub async fn interrupt_unfinished_composites(&self, now: i64) -> StoreResult<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE recordings SET composite_status = 'done', composite_progress = 100 \
             WHERE composite_status IN ('pending', 'running') AND EXISTS (\
                 SELECT 1 FROM recording_files f WHERE f.recording_id = recordings.id \
                 AND f.kind = $1 AND f.status = $2)",
        )
        .bind(FileKind::Composite.as_str())
        .bind(FileStatus::Complete.as_str())
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(
            "SELECT id FROM recordings WHERE composite_status IN ('pending', 'running') \
             ORDER BY started_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let ids = ids_of(&rows)?;
        sqlx::query(
            "UPDATE recording_files SET status = $1, ended_at = COALESCE(ended_at, $2) \
             WHERE kind = $3 AND status <> $4 AND recording_id IN (\
                 SELECT id FROM recordings WHERE composite_status IN ('pending', 'running'))",
        )
        .bind(FileStatus::Failed.as_str())
        .bind(now)
        .bind(FileKind::Composite.as_str())
        .bind(FileStatus::Complete.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recordings SET composite_status = 'interrupted' \
             WHERE composite_status IN ('pending', 'running')",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Recordings that have ended, have files of participants, and have no manifest filed: the
    /// last run stopped before writing it (while making the composite, say, or while
    /// recording). Oldest first, each with its files.
    pub async fn recordings_without_manifest(&self) -> StoreResult<Vec<Recording>> {
        let sql = format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings \
             WHERE status <> $1 AND manifest_sha256 IS NULL AND EXISTS (\
                 SELECT 1 FROM recording_files f WHERE f.recording_id = recordings.id \
                 AND f.kind = $2) \
             ORDER BY started_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(RecordingStatus::Recording.as_str())
            .bind(FileKind::Participant.as_str())
            .fetch_all(&self.pool)
            .await?;
        self.recordings_with_files(&rows).await
    }

    pub async fn record_audit(&self, id: &str, entry: &AuditEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, user_id, action, object_id, ip) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(entry.at)
        .bind(&entry.user_id)
        .bind(&entry.action)
        .bind(&entry.object_id)
        .bind(&entry.ip)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Who did what to one object, oldest first.
    pub async fn audit_of(&self, object_id: &str) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, user_id, action, object_id, ip FROM audit_log WHERE object_id = $1 \
             ORDER BY at, id",
        )
        .bind(object_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: row.try_get("at")?,
                    user_id: row.try_get("user_id")?,
                    action: row.try_get("action")?,
                    object_id: row.try_get("object_id")?,
                    ip: row.try_get("ip")?,
                })
            })
            .collect()
    }

    /// The recording in `row` (selected as [`RECORDING_COLUMNS`]) with its files.
    async fn recording_with_files(&self, row: &AnyRow) -> StoreResult<Recording> {
        let id: String = row.try_get("id")?;
        let files = self.files_of_recording(&id).await?;
        recording_from_row(row, files)
    }

    async fn recordings_with_files(&self, rows: &[AnyRow]) -> StoreResult<Vec<Recording>> {
        let mut recordings = Vec::with_capacity(rows.len());
        for row in rows {
            recordings.push(self.recording_with_files(row).await?);
        }
        Ok(recordings)
    }

    async fn files_of_recording(&self, recording_id: &str) -> StoreResult<Vec<RecordingFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM recording_files WHERE recording_id = $1 \
             ORDER BY started_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(recording_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(file_from_row).collect()
    }
}
