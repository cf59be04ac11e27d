use sqlx::any::AnyRow;
use sqlx::Row;

use super::{conflict_on_unique, parse_column, Invitation, NewInvitation, Store, StoreResult};

const INVITATION_COLUMNS: &str =
    "id, session_id, role, name, phone, created_at, expires_at, revoked_at, last_used_at";

fn invitation_from_row(row: &AnyRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        role: parse_column(row, "role")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    pub async fn create_invitation(
        &self,
        id: &str,
        new: &NewInvitation,
        now: i64,
    ) -> StoreResult<Invitation> {
        sqlx::query(
            "INSERT INTO invitations (id, session_id, token_hash, role, name, phone, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(&new.session_id)
        .bind(&new.token_hash)
        .bind(new.role.as_str())
        .bind(&new.name)
        .bind(&new.phone)
        .bind(now)
        .bind(new.expires_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_on_unique("token"))?;
        Ok(Invitation {
            id: id.to_owned(),
            session_id: new.session_id.clone(),
            role: new.role,
            name: new.name.clone(),
            phone: new.phone.clone(),
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
        })
    }

    pub async fn invitation(&self, id: &str) -> StoreResult<Option<Invitation>> {
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(invitation_from_row).transpose()
    }

    pub async fn invitation_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<Invitation>> {
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(invitation_from_row).transpose()
    }

    pub async fn invitations_of_session(&self, session_id: &str) -> StoreResult<Vec<Invitation>> {
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE session_id = $1 ORDER BY created_at"
        );
        let rows = sqlx::query(&sql)
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(invitation_from_row).collect()
    }

    pub async fn revoke_invitation(&self, id: &str, now: i64) -> StoreResult<Option<Invitation>> {
        sqlx::query("UPDATE invitations SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.invitation(id).await
    }

    pub async fn touch_invitation(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE invitations SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
