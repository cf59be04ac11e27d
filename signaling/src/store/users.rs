use sqlx::any::AnyRow;
use sqlx::Row;

use super::{conflict_on_unique, parse_column, AccountRole, Store, StoreResult, User};

/// An account with its password hash, for sign-in only.
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: parse_column(row, "role")?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
    })
}

const USER_COLUMNS: &str = "id, username, display_name, role, password_hash, disabled_at";

impl Store {
    pub async fn count_users(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn create_user(
        &self,
        id: &str,
        username: &str,
        display_name: &str,
        role: AccountRole,
        password_hash: Option<&str>,
        now: i64,
    ) -> StoreResult<User> {
        sqlx::query(
            "INSERT INTO users (id, username, display_name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(username)
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(conflict_on_unique("username"))?;
        Ok(User {
            id: id.to_owned(),
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            role,
            disabled: false,
        })
    }

    pub async fn set_password_hash(&self, id: &str, password_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Disables the account (`Some(when)`) or enables it again (`None`); false when there is
    /// no such account.
    pub async fn set_user_disabled(&self, id: &str, disabled_at: Option<i64>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(disabled_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_user_profile(
        &self,
        id: &str,
        username: &str,
        display_name: &str,
        password_hash: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET username = $1, display_name = $2, password_hash = $3 WHERE id = $4",
        )
        .bind(username)
        .bind(display_name)
        .bind(password_hash)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(conflict_on_unique("username"))?;
        Ok(())
    }

    pub async fn credentials(&self, username: &str) -> StoreResult<Option<Credentials>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            user: user_from_row(&row)?,
            password_hash: row.try_get("password_hash")?,
        }))
    }

    pub async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every account, by username in byte order. Sorted here, not with `ORDER BY`: text order
    /// in SQL follows the database's collation (SQLite: bytes; PostgreSQL: usually linguistic,
    /// e.g. case-insensitive first), and both backends must list the same way.
    pub async fn users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        let mut users = rows
            .iter()
            .map(user_from_row)
            .collect::<StoreResult<Vec<User>>>()?;
        users.sort_unstable_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }
}
