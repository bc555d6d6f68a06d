//! Second factors of connector identities, their recovery codes, the wrong guesses counted
//! against them, and what a login request has proved so far (its `amr`).
//!
//! Secrets arrive sealed and recovery codes hashed: this layer never sees either in clear.
//! Every change that decides a login is a compare-and-set, so two replicas (or two tabs)
//! presenting the same code cannot both win.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{Db, Result, StorageError};

/// One enrolled (or enrolling) second factor.
#[derive(Debug, Clone, FromRow)]
pub struct FactorRow {
    pub id: String,
    /// `Identity::subject()`: connector id and the connector's user id.
    pub subject: String,
    pub connector_id: String,
    /// `mfa.authenticators[].id`.
    pub authenticator_id: String,
    /// `totp` or `webauthn` (see `mfa::AuthenticatorKind`).
    pub kind: String,
    /// Sealed: a TOTP secret, or a WebAuthn credential.
    pub secret: String,
    /// TOTP: the last accepted time step (-1: none yet).
    pub last_step: i64,
    pub confirmed_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// WebAuthn: the name the user gave the key.
    pub name: String,
    /// WebAuthn: the credential id (base64url), unique across identities.
    pub credential_id: Option<String>,
    /// WebAuthn: the last signature counter accepted.
    pub sign_count: i64,
}

/// One second factor of an identity as an administrator sees it (no secret).
#[derive(Debug, Clone, FromRow)]
pub struct FactorSummary {
    pub id: String,
    pub subject: String,
    pub connector_id: String,
    pub authenticator_id: String,
    pub kind: String,
    pub name: String,
    pub confirmed_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// What a second factor keeps. The database implements it, and so does the in-memory store
/// of the unit tests (`memory_factors.rs`).
#[async_trait]
pub trait FactorStore: Send + Sync + std::fmt::Debug {
    /// The factors of an identity, oldest first.
    async fn factors_of(&self, subject: &str) -> Result<Vec<FactorRow>>;
    /// Store `f` unless the identity already has a TOTP factor for its authenticator; the row
    /// that is stored afterwards (the new one, or the one that was there).
    async fn add_totp_factor(&self, f: &FactorRow) -> Result<FactorRow>;
    /// Drop the unconfirmed factor of `subject` for `authenticator_id` unless it is `keep_id`.
    async fn drop_enrolment_unless(
        &self,
        subject: &str,
        authenticator_id: &str,
        keep_id: &str,
    ) -> Result<()>;
    /// Accept time step `step` of factor `id` if it is later than every step accepted before,
    /// confirming the factor if it was not; false when an equal or later step was accepted
    /// first (a replay, or a race lost).
    async fn accept_totp_step(&self, id: &str, step: i64, now: i64) -> Result<bool>;
    /// Replace an identity's recovery codes by these hashes.
    async fn replace_recovery_codes(
        &self,
        subject: &str,
        hashes: &[String],
        now: i64,
    ) -> Result<()>;
    /// The hashes of an identity's unused recovery codes.
    async fn unused_recovery_codes(&self, subject: &str) -> Result<Vec<String>>;
    /// Mark a recovery code used; false if it was used already.
    async fn use_recovery_code(&self, subject: &str, hash: &str, now: i64) -> Result<bool>;
    /// Wrong codes of an identity since `since`.
    async fn mfa_failures(&self, subject: &str, since: i64) -> Result<i64>;
    /// Count one guess; a count older than `since` starts over. The count, this guess
    /// included: one statement, so that guesses sent together are each counted.
    async fn record_mfa_failure(&self, subject: &str, now: i64, since: i64) -> Result<i64>;
    async fn clear_mfa_failures(&self, subject: &str) -> Result<()>;
    /// Store a WebAuthn key; false when its credential id is registered already (to anyone).
    async fn add_webauthn_factor(&self, f: &FactorRow) -> Result<bool>;
    /// Record a use of WebAuthn key `id`: its counter goes from `old` to `new` and its sealed
    /// credential becomes `secret`, if the counter is still `old` (false: another use came
    /// between, and this one is refused).
    async fn accept_webauthn_use(
        &self,
        id: &str,
        (old, new): (i64, i64),
        secret: &str,
        now: i64,
    ) -> Result<bool>;
    /// Every identity's factors, by subject, for the admin: one page.
    async fn all_factors(&self, limit: i64, offset: i64) -> Result<Vec<FactorSummary>>;
    /// Remove every factor and recovery code of an identity (and its count of wrong guesses):
    /// (factors, recovery codes) removed.
    async fn reset_factors(&self, subject: &str) -> Result<(u64, u64)>;
    /// Keep the WebAuthn ceremony a request's page started, replacing any before; false when
    /// the request is gone.
    async fn put_ceremony(&self, request_id: &str, ceremony: &str, now: i64) -> Result<bool>;
    /// Take a request's ceremony: the first caller gets it, every later one `None`.
    async fn take_ceremony(&self, request_id: &str, now: i64) -> Result<Option<String>>;
    /// `(amr, acr_values)` of an unexpired request.
    async fn auth_request_amr(&self, id: &str, now: i64) -> Result<(String, String)>;
    /// Set a request's amr to `new` if it is still `old`; false when it changed meanwhile.
    async fn replace_auth_request_amr(&self, id: &str, old: &str, new: &str) -> Result<bool>;
}

#[async_trait]
impl FactorStore for Db {
    async fn factors_of(&self, subject: &str) -> Result<Vec<FactorRow>> {
        Ok(sqlx::query_as::<_, FactorRow>(
            "SELECT * FROM mfa_factors WHERE subject = $1 ORDER BY created_at, id",
        )
        .bind(subject)
        .fetch_all(&self.write)
        .await?)
    }

    async fn add_totp_factor(&self, f: &FactorRow) -> Result<FactorRow> {
        // No conflict target: the partial unique index on (subject, authenticator_id) is the
        // one that can fire, and both dialects skip the row for any.
        sqlx::query(
            "INSERT INTO mfa_factors (id, subject, connector_id, authenticator_id, kind, secret, \
             last_step, confirmed_at, created_at, last_used_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT DO NOTHING",
        )
        .bind(&f.id)
        .bind(&f.subject)
        .bind(&f.connector_id)
        .bind(&f.authenticator_id)
        .bind(&f.kind)
        .bind(&f.secret)
        .bind(f.last_step)
        .bind(f.confirmed_at)
        .bind(f.created_at)
        .bind(f.last_used_at)
        .execute(&self.write)
        .await?;
        sqlx::query_as::<_, FactorRow>(
            "SELECT * FROM mfa_factors WHERE subject = $1 AND authenticator_id = $2 \
             AND kind = $3",
        )
        .bind(&f.subject)
        .bind(&f.authenticator_id)
        .bind(&f.kind)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StorageError::NotFound)
    }

    async fn drop_enrolment_unless(
        &self,
        subject: &str,
        authenticator_id: &str,
        keep_id: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM mfa_factors WHERE subject = $1 AND authenticator_id = $2 \
             AND confirmed_at IS NULL AND id <> $3",
        )
        .bind(subject)
        .bind(authenticator_id)
        .bind(keep_id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn accept_totp_step(&self, id: &str, step: i64, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE mfa_factors SET last_step = $1, last_used_at = $2, \
             confirmed_at = COALESCE(confirmed_at, $2) WHERE id = $3 AND last_step < $1",
        )
        .bind(step)
        .bind(now)
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_recovery_codes(
        &self,
        subject: &str,
        hashes: &[String],
        now: i64,
    ) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE subject = $1")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        for h in hashes {
            sqlx::query(
                "INSERT INTO mfa_recovery_codes (subject, code_hash, created_at) VALUES ($1,$2,$3)",
            )
            .bind(subject)
            .bind(h)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unused_recovery_codes(&self, subject: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT code_hash FROM mfa_recovery_codes WHERE subject = $1 AND used_at IS NULL",
        )
        .bind(subject)
        .fetch_all(&self.write)
        .await?;
        Ok(rows.into_iter().map(|(h,)| h).collect())
    }

    async fn use_recovery_code(&self, subject: &str, hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $1 WHERE subject = $2 AND code_hash = $3 \
             AND used_at IS NULL",
        )
        .bind(now)
        .bind(subject)
        .bind(hash)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mfa_failures(&self, subject: &str, since: i64) -> Result<i64> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT failures FROM mfa_guesses WHERE subject = $1 AND window_start > $2",
        )
        .bind(subject)
        .bind(since)
        .fetch_optional(&self.write)
        .await?;
        Ok(row.map_or(0, |(n,)| n))
    }

    async fn record_mfa_failure(&self, subject: &str, now: i64, since: i64) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "INSERT INTO mfa_guesses (subject, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (subject) DO UPDATE SET \
             failures = CASE WHEN mfa_guesses.window_start > $3 \
                 THEN mfa_guesses.failures + 1 ELSE 1 END, \
             window_start = CASE WHEN mfa_guesses.window_start > $3 \
                 THEN mfa_guesses.window_start ELSE $2 END \
             RETURNING failures",
        )
        .bind(subject)
        .bind(now)
        .bind(since)
        .fetch_one(&self.write)
        .await?;
        Ok(n)
    }

    async fn clear_mfa_failures(&self, subject: &str) -> Result<()> {
        sqlx::query("DELETE FROM mfa_guesses WHERE subject = $1")
            .bind(subject)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn add_webauthn_factor(&self, f: &FactorRow) -> Result<bool> {
        // The partial unique index on credential_id is the one that can fire.
        let done = sqlx::query(
            "INSERT INTO mfa_factors (id, subject, connector_id, authenticator_id, kind, secret, \
             last_step, confirmed_at, created_at, last_used_at, name, credential_id, sign_count) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT DO NOTHING",
        )
        .bind(&f.id)
        .bind(&f.subject)
        .bind(&f.connector_id)
        .bind(&f.authenticator_id)
        .bind(&f.kind)
        .bind(&f.secret)
        .bind(f.last_step)
        .bind(f.confirmed_at)
        .bind(f.created_at)
        .bind(f.last_used_at)
        .bind(&f.name)
        .bind(&f.credential_id)
        .bind(f.sign_count)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn accept_webauthn_use(
        &self,
        id: &str,
        (old, new): (i64, i64),
        secret: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE mfa_factors SET sign_count = $1, secret = $2, last_used_at = $3 \
             WHERE id = $4 AND sign_count = $5",
        )
        .bind(new)
        .bind(secret)
        .bind(now)
        .bind(id)
        .bind(old)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn all_factors(&self, limit: i64, offset: i64) -> Result<Vec<FactorSummary>> {
        Ok(sqlx::query_as::<_, FactorSummary>(
            "SELECT id, subject, connector_id, authenticator_id, kind, name, confirmed_at, \
             created_at, last_used_at FROM mfa_factors ORDER BY subject, created_at, id \
             LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.write)
        .await?)
    }

    async fn reset_factors(&self, subject: &str) -> Result<(u64, u64)> {
        let mut conn = self.write.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let factors = sqlx::query("DELETE FROM mfa_factors WHERE subject = $1")
            .bind(subject)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let codes = sqlx::query("DELETE FROM mfa_recovery_codes WHERE subject = $1")
            .bind(subject)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM mfa_guesses WHERE subject = $1")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((factors, codes))
    }

    async fn put_ceremony(&self, request_id: &str, ceremony: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE auth_requests SET mfa_ceremony = $1 WHERE id = $2 AND expires_at > $3",
        )
        .bind(ceremony)
        .bind(request_id)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn take_ceremony(&self, request_id: &str, now: i64) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT mfa_ceremony FROM auth_requests WHERE id = $1 AND expires_at > $2",
        )
        .bind(request_id)
        .bind(now)
        .fetch_optional(&self.write)
        .await?;
        let Some(c) = row.and_then(|(c,)| c) else {
            return Ok(None);
        };
        // Cleared only if still the one read (each holds its own random challenge): of two
        // answers racing with it (two tabs, two replicas, a replayed form) one gets it.
        let done = sqlx::query(
            "UPDATE auth_requests SET mfa_ceremony = NULL WHERE id = $1 AND mfa_ceremony = $2",
        )
        .bind(request_id)
        .bind(&c)
        .execute(&self.write)
        .await?;
        Ok((done.rows_affected() == 1).then_some(c))
    }

    async fn auth_request_amr(&self, id: &str, now: i64) -> Result<(String, String)> {
        sqlx::query_as::<_, (String, String)>(
            "SELECT amr, acr_values FROM auth_requests WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StorageError::NotFound)
    }

    async fn replace_auth_request_amr(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE auth_requests SET amr = $1 WHERE id = $2 AND amr = $3")
            .bind(new)
            .bind(id)
            .bind(old)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
