use sqlx::any::AnyRow;
use sqlx::Row;

use super::{
    conflict_on_unique, parse_column, Dispute, DisputeChanges, NewDispute, Party, Store,
    StoreResult,
};

const DISPUTE_COLUMNS: &str = "id, case_number, title, category, level, status, description, \
     outcome, mediator_id, record_by_default, created_at, updated_at";

fn dispute_from_row(row: &AnyRow, parties: Vec<Party>) -> StoreResult<Dispute> {
    Ok(Dispute {
        id: row.try_get("id")?,
        case_number: row.try_get("case_number")?,
        title: row.try_get("title")?,
        category: row.try_get("category")?,
        level: parse_column(row, "level")?,
        status: parse_column(row, "status")?,
        description: row.try_get("description")?,
        outcome: row.try_get("outcome")?,
        parties,
        mediator_id: row.try_get("mediator_id")?,
        record_by_default: row.try_get::<i64, _>("record_by_default")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn create_dispute(
        &self,
        id: &str,
        new: &NewDispute,
        now: i64,
    ) -> StoreResult<Dispute> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO disputes (id, case_number, title, category, level, status, description, \
             outcome, mediator_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'open', $6, '', $7, $8, $8)",
        )
        .bind(id)
        .bind(&new.case_number)
        .bind(&new.title)
        .bind(&new.category)
        .bind(new.level.as_str())
        .bind(&new.description)
        .bind(&new.mediator_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(conflict_on_unique("case number"))?;
        for (position, party) in new.parties.iter().enumerate() {
            sqlx::query(
                "INSERT INTO dispute_parties (dispute_id, position, name, phone) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(position as i64)
            .bind(&party.name)
            .bind(&party.phone)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.dispute(id)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("dispute vanished after insert".into()))
    }

    pub async fn dispute(&self, id: &str) -> StoreResult<Option<Dispute>> {
        let sql = format!("SELECT {DISPUTE_COLUMNS} FROM disputes WHERE id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let parties = self.parties(id).await?;
        Ok(Some(dispute_from_row(&row, parties)?))
    }

    /// Disputes, newest first; only one mediator's when `mediator_id` is given.
    pub async fn disputes(&self, mediator_id: Option<&str>) -> StoreResult<Vec<Dispute>> {
        let rows = match mediator_id {
            Some(mediator) => {
                let sql = format!(
                    "SELECT {DISPUTE_COLUMNS} FROM disputes WHERE mediator_id = $1 \
                     ORDER BY created_at DESC"
                );
                sqlx::query(&sql)
                    .bind(mediator)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql =
                    format!("SELECT {DISPUTE_COLUMNS} FROM disputes ORDER BY created_at DESC");
                sqlx::query(&sql).fetch_all(&self.pool).await?
            }
        };
        let mut disputes = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let parties = self.parties(&id).await?;
            disputes.push(dispute_from_row(row, parties)?);
        }
        Ok(disputes)
    }

    pub async fn update_dispute(
        &self,
        id: &str,
        changes: &DisputeChanges,
        now: i64,
    ) -> StoreResult<Option<Dispute>> {
        let updated = sqlx::query(
            "UPDATE disputes SET title = COALESCE($1, title), category = COALESCE($2, category), \
             level = COALESCE($3, level), status = COALESCE($4, status), \
             description = COALESCE($5, description), outcome = COALESCE($6, outcome), \
             record_by_default = COALESCE($7, record_by_default), updated_at = $8 WHERE id = $9",
        )
        .bind(changes.title.as_deref())
        .bind(changes.category.as_deref())
        .bind(changes.level.map(|l| l.as_str()))
        .bind(changes.status.map(|s| s.as_str()))
        .bind(changes.description.as_deref())
        .bind(changes.outcome.as_deref())
        .bind(changes.record_by_default.map(super::flag))
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        self.dispute(id).await
    }

    async fn parties(&self, dispute_id: &str) -> StoreResult<Vec<Party>> {
        let rows = sqlx::query(
            "SELECT name, phone FROM dispute_parties WHERE dispute_id = $1 ORDER BY position",
        )
        .bind(dispute_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Party {
                    name: row.try_get("name")?,
                    phone: row.try_get("phone")?,
                })
            })
            .collect()
    }
}
