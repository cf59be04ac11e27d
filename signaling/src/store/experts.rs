//! The expert roster and the experts invited from rooms (the parties' answers are session
//! events).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{parse_column, Expert, ExpertInvitation, ExpertScope, Store, StoreResult};

const EXPERT_COLUMNS: &str = "e.id, e.name, e.specialty, e.center, e.phone, e.created_at";

fn expert_from_row(row: &AnyRow) -> StoreResult<Expert> {
    Ok(Expert {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        specialty: row.try_get("specialty")?,
        center: row.try_get("center")?,
        phone: row.try_get("phone")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn create_expert(&self, expert: &Expert) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO experts (id, name, specialty, center, phone, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&expert.id)
        .bind(&expert.name)
        .bind(&expert.specialty)
        .bind(&expert.center)
        .bind(&expert.phone)
        .bind(expert.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The roster (retired entries left out), of one specialty or all, by specialty and name.
    pub async fn experts(&self, specialty: Option<&str>) -> StoreResult<Vec<Expert>> {
        let sql = format!(
            "SELECT {EXPERT_COLUMNS} FROM experts e WHERE e.retired_at IS NULL \
             AND ($1 = '' OR e.specialty = $1) ORDER BY e.specialty, e.name"
        );
        let rows = sqlx::query(&sql)
            .bind(specialty.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(expert_from_row).collect()
    }

    pub async fn expert(&self, id: &str) -> StoreResult<Option<Expert>> {
        let sql = format!(
            "SELECT {EXPERT_COLUMNS} FROM experts e WHERE e.id = $1 AND e.retired_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(expert_from_row).transpose()
    }

    pub async fn add_expert_invitation(&self, invitation: &ExpertInvitation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO expert_invitations (invitation_id, session_id, expert_id, scope, \
             invited_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&invitation.invitation_id)
        .bind(&invitation.session_id)
        .bind(&invitation.expert.id)
        .bind(invitation.scope.as_str())
        .bind(&invitation.invited_by)
        .bind(invitation.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session's expert invitations that were not revoked, oldest first.
    pub async fn expert_invitations_of_session(
        &self,
        session_id: &str,
    ) -> StoreResult<Vec<ExpertInvitation>> {
        let sql = format!(
            "SELECT x.invitation_id, x.session_id, x.scope, x.invited_by, \
             x.created_at AS invited_at, {EXPERT_COLUMNS} \
             FROM expert_invitations x \
             JOIN experts e ON e.id = x.expert_id \
             JOIN invitations i ON i.id = x.invitation_id \
             WHERE x.session_id = $1 AND i.revoked_at IS NULL ORDER BY x.created_at"
        );
        let rows = sqlx::query(&sql)
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ExpertInvitation {
                    invitation_id: row.try_get("invitation_id")?,
                    session_id: row.try_get("session_id")?,
                    expert: expert_from_row(row)?,
                    scope: parse_column::<ExpertScope>(row, "scope")?,
                    invited_by: row.try_get("invited_by")?,
                    created_at: row.try_get("invited_at")?,
                })
            })
            .collect()
    }
}
