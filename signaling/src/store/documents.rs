//! Photos and documents shared in rooms (see `api/documents.rs`).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{SharedDocument, Store, StoreResult};

const COLUMNS: &str = "id, session_id, participant_id, shared_by, shared_by_role, file_name, \
     content_type, size_bytes, sha256, path, shared_at, page_count";

fn document_from_row(row: &AnyRow) -> StoreResult<SharedDocument> {
    Ok(SharedDocument {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        participant_id: row.try_get("participant_id")?,
        shared_by: row.try_get("shared_by")?,
        shared_by_role: row.try_get("shared_by_role")?,
        file_name: row.try_get("file_name")?,
        content_type: row.try_get("content_type")?,
        size_bytes: row.try_get("size_bytes")?,
        sha256: row.try_get("sha256")?,
        path: row.try_get("path")?,
        shared_at: row.try_get("shared_at")?,
        page_count: row.try_get("page_count")?,
    })
}

impl Store {
    pub async fn add_shared_document(&self, document: &SharedDocument) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO shared_documents ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        sqlx::query(&sql)
            .bind(&document.id)
            .bind(&document.session_id)
            .bind(&document.participant_id)
            .bind(&document.shared_by)
            .bind(&document.shared_by_role)
            .bind(&document.file_name)
            .bind(&document.content_type)
            .bind(document.size_bytes)
            .bind(&document.sha256)
            .bind(&document.path)
            .bind(document.shared_at)
            .bind(document.page_count)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn shared_document(&self, id: &str) -> StoreResult<Option<SharedDocument>> {
        let sql = format!("SELECT {COLUMNS} FROM shared_documents WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    pub async fn documents_of_session(&self, session_id: &str) -> StoreResult<Vec<SharedDocument>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM shared_documents WHERE session_id = $1 ORDER BY shared_at"
        );
        let rows = sqlx::query(&sql)
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(document_from_row).collect()
    }
}
