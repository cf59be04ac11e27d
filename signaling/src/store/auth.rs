//! Sign-in sessions and single-use links. Only token hashes are stored.

use sqlx::Row;

use super::{Store, StoreResult, User};

impl Store {
    pub async fn create_auth_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO auth_sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account signed in with this cookie token, if the sign-in has not expired.
    pub async fn user_for_auth_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT user_id FROM auth_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => {
                let user_id: String = row.try_get("user_id")?;
                // A disabled account's sign-ins were ended; this holds if one raced that.
                Ok(self.user(&user_id).await?.filter(|user| !user.disabled))
            }
            None => Ok(None),
        }
    }

    /// Ends every sign-in of `user_id` but the one with `keep` (its token hash), if given.
    pub async fn delete_auth_sessions_of(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM auth_sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_auth_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create_one_time_token(
        &self,
        token_hash: &str,
        purpose: &str,
        user_id: Option<&str>,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO one_time_tokens (token_hash, purpose, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a single-use token used and returns the account it names (if any). `None` when
    /// the token is unknown, already used, expired or for another purpose. The conditional
    /// update makes two concurrent uses impossible.
    pub async fn consume_one_time_token(
        &self,
        token_hash: &str,
        purpose: &str,
        now: i64,
    ) -> StoreResult<Option<Option<String>>> {
        let updated = sqlx::query(
            "UPDATE one_time_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT user_id FROM one_time_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(row.try_get("user_id")?))
    }

    /// Whether an unused, unexpired single-use token exists (without using it).
    pub async fn one_time_token_valid(
        &self,
        token_hash: &str,
        purpose: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM one_time_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(n > 0)
    }
}
