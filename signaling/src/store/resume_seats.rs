//! Resume seats and the server's liveness mark: what a restarted server needs to let the members
//! of a live session back in (see `ws/seats.rs`).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{flag, parse_column, ResumeSeat, SeatHolder, Store, StoreError, StoreResult};

const SEAT_COLUMNS: &str = "participant_id, session_id, token_hash, invitation_id, user_id, name, \
     role, is_host, issued_at, dropped_at, held_until";

/// The one row of `server_liveness`.
const LIVENESS_ROW: &str = "server";

fn seat_from_row(row: &AnyRow) -> StoreResult<ResumeSeat> {
    let invitation: Option<String> = row.try_get("invitation_id")?;
    let user: Option<String> = row.try_get("user_id")?;
    let holder = match (invitation, user) {
        (Some(invitation), None) => SeatHolder::Invitation(invitation),
        (None, Some(user)) => SeatHolder::Account(user),
        _ => {
            return Err(StoreError::Corrupt(
                "a resume seat needs exactly one of invitation_id and user_id".into(),
            ))
        }
    };
    let is_host: i64 = row.try_get("is_host")?;
    Ok(ResumeSeat {
        participant_id: row.try_get("participant_id")?,
        session_id: row.try_get("session_id")?,
        token_hash: row.try_get("token_hash")?,
        holder,
        name: row.try_get("name")?,
        role: parse_column(row, "role")?,
        is_host: is_host != 0,
        issued_at: row.try_get("issued_at")?,
        dropped_at: row.try_get("dropped_at")?,
        held_until: row.try_get("held_until")?,
    })
}

impl Store {
    /// Records `seat` as its member's one seat, replacing the one before (and with it the token
    /// that resumed it): the member is connected, so nothing is held yet.
    pub async fn save_resume_seat(&self, seat: &ResumeSeat) -> StoreResult<()> {
        let (invitation, user) = match &seat.holder {
            SeatHolder::Invitation(id) => (Some(id.as_str()), None),
            SeatHolder::Account(id) => (None, Some(id.as_str())),
        };
        sqlx::query(
            "INSERT INTO resume_seats (participant_id, session_id, token_hash, invitation_id, \
             user_id, name, role, is_host, issued_at, dropped_at, held_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL) \
             ON CONFLICT (participant_id) DO UPDATE SET token_hash = excluded.token_hash, \
             name = excluded.name, role = excluded.role, is_host = excluded.is_host, \
             issued_at = excluded.issued_at, dropped_at = NULL, held_until = NULL",
        )
        .bind(&seat.participant_id)
        .bind(&seat.session_id)
        .bind(&seat.token_hash)
        .bind(invitation)
        .bind(user)
        .bind(&seat.name)
        .bind(seat.role.as_str())
        .bind(flag(seat.is_host))
        .bind(seat.issued_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The member's connection dropped at `dropped_at`: their seat is held until `held_until`.
    pub async fn hold_resume_seat(
        &self,
        participant_id: &str,
        dropped_at: i64,
        held_until: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE resume_seats SET dropped_at = $1, held_until = $2 WHERE participant_id = $3",
        )
        .bind(dropped_at)
        .bind(held_until)
        .bind(participant_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_resume_seat(&self, participant_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM resume_seats WHERE participant_id = $1")
            .bind(participant_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The session ended: none of its seats can be resumed.
    pub async fn delete_resume_seats_of_session(&self, session_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM resume_seats WHERE session_id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The invitation was revoked: whoever came in on it cannot resume.
    pub async fn delete_resume_seats_of_invitation(&self, invitation_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM resume_seats WHERE invitation_id = $1")
            .bind(invitation_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The seat a token (by its hash) resumes, held or not.
    pub async fn resume_seat_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<ResumeSeat>> {
        let sql = format!("SELECT {SEAT_COLUMNS} FROM resume_seats WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(seat_from_row).transpose()
    }

    /// Every seat of a session, held or not, oldest first.
    pub async fn resume_seats_of_session(&self, session_id: &str) -> StoreResult<Vec<ResumeSeat>> {
        let sql = format!(
            "SELECT {SEAT_COLUMNS} FROM resume_seats WHERE session_id = $1 \
             ORDER BY issued_at, participant_id"
        );
        let rows = sqlx::query(&sql)
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(seat_from_row).collect()
    }

    /// At start: the seats of members who were connected when the last run stopped count as
    /// dropped at `dropped_at` and are held until `held_until`; seats whose hold has passed by
    /// `now` are deleted. Returns how many seats are held.
    pub async fn hold_seats_of_stopped_run(
        &self,
        dropped_at: i64,
        held_until: i64,
        now: i64,
    ) -> StoreResult<u64> {
        sqlx::query(
            "UPDATE resume_seats SET dropped_at = $1, held_until = $2 WHERE held_until IS NULL",
        )
        .bind(dropped_at)
        .bind(held_until)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM resume_seats WHERE held_until <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let held: i64 = sqlx::query("SELECT COUNT(*) AS n FROM resume_seats")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(u64::try_from(held).unwrap_or(0))
    }

    /// The server is running at `now`.
    pub async fn mark_alive(&self, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO server_liveness (id, alive_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET alive_at = excluded.alive_at",
        )
        .bind(LIVENESS_ROW)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When the server last said it was running; `None` before its first start.
    pub async fn last_alive(&self) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT alive_at FROM server_liveness WHERE id = $1")
            .bind(LIVENESS_ROW)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("alive_at")).transpose()?)
    }
}
