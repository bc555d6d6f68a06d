//! Point reads on a SQLite file made on the calling thread, for the grants' hot path.
//!
//! sqlx runs each SQLite connection on a worker thread of its own: every statement is a
//! message to that thread and its rows come back as messages, two thread wake-ups per query.
//! A refresh or a code exchange reads one row by its primary key, which takes SQLite a few
//! microseconds from its page cache; the hand-over cost more than the read (see
//! bench/NOTES.md). Here those reads run on a connection of our own, synchronously, on the
//! task's thread. They never wait on a lock in WAL mode (readers see the last commit and do not
//! block the writer), so they do not hold up the async runtime beyond the read itself.
//!
//! Only reads that tolerate a reader's view come here: what a caller was handed is committed
//! before it hears of it, so a reader always sees it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use super::auth::AuthCode;
use super::refresh::RefreshToken;
use super::{Result, StorageError};

/// Idle connections kept; one is opened when all are in use (one per runtime thread at most,
/// since a read never yields while it holds one).
const KEEP: usize = 8;

#[derive(Debug)]
pub(crate) struct SqliteReads {
    file: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReads {
    pub(crate) fn open(file: &Path) -> Result<SqliteReads> {
        let r = SqliteReads {
            file: file.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        // Fail at start, not on the first grant, when the file cannot be read.
        let c = r.connect()?;
        r.put(c);
        Ok(r)
    }

    fn connect(&self) -> Result<Connection> {
        let c = Connection::open_with_flags(
            &self.file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(direct)?;
        // A reader meets a lock only while SQLite recovers a WAL after a crash: wait for it
        // briefly rather than fail the grant.
        c.busy_timeout(std::time::Duration::from_millis(500))
            .map_err(direct)?;
        Ok(c)
    }

    fn put(&self, c: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push(c);
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let c = match taken {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = f(&c).map_err(direct);
        self.put(c);
        out
    }

    /// The one row `sql` selects by `key`, read by `row`.
    fn one<T>(&self, sql: &str, key: &str, row: fn(&Row<'_>) -> rusqlite::Result<T>) -> Result<T> {
        self.with(|c| c.prepare_cached(sql)?.query_row([key], row).optional())?
            .ok_or(StorageError::NotFound)
    }

    pub(crate) fn refresh_token(&self, id: &str) -> Result<RefreshToken> {
        self.one(
            "SELECT * FROM refresh_tokens WHERE id = ?1",
            id,
            refresh_row,
        )
    }

    pub(crate) fn auth_code(&self, code_hash: &str) -> Result<AuthCode> {
        self.one(
            "SELECT * FROM auth_codes WHERE code_hash = ?1",
            code_hash,
            code_row,
        )
    }
}

fn direct(e: rusqlite::Error) -> StorageError {
    StorageError::Direct(e)
}

fn refresh_row(r: &Row<'_>) -> rusqlite::Result<RefreshToken> {
    Ok(RefreshToken {
        id: r.get("id")?,
        family_id: r.get("family_id")?,
        secret_hash: r.get("secret_hash")?,
        client_id: r.get("client_id")?,
        subject: r.get("subject")?,
        scopes: r.get("scopes")?,
        nonce: r.get("nonce")?,
        identity: r.get("identity")?,
        auth_time: r.get("auth_time")?,
        created_at: r.get("created_at")?,
        last_used_at: r.get("last_used_at")?,
        family_created_at: r.get("family_created_at")?,
        rotated_at: r.get("rotated_at")?,
        successor_id: r.get("successor_id")?,
        revoked_at: r.get("revoked_at")?,
        session_id: r.get("session_id")?,
        amr: r.get("amr")?,
    })
}

fn code_row(r: &Row<'_>) -> rusqlite::Result<AuthCode> {
    Ok(AuthCode {
        code_hash: r.get("code_hash")?,
        client_id: r.get("client_id")?,
        redirect_uri: r.get("redirect_uri")?,
        scopes: r.get("scopes")?,
        nonce: r.get("nonce")?,
        code_challenge: r.get("code_challenge")?,
        code_challenge_method: r.get("code_challenge_method")?,
        identity: r.get("identity")?,
        auth_time: r.get("auth_time")?,
        expires_at: r.get("expires_at")?,
        used_at: r.get("used_at")?,
        access_jti: r.get("access_jti")?,
        access_expires_at: r.get("access_expires_at")?,
        refresh_family: r.get("refresh_family")?,
        session_id: r.get("session_id")?,
        amr: r.get("amr")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageLocation;
    use crate::storage::Db;

    fn token(id: &str, rotated_at: Option<i64>) -> RefreshToken {
        RefreshToken {
            id: id.into(),
            family_id: "fam".into(),
            secret_hash: format!("hash-{id}"),
            client_id: "rp".into(),
            subject: "sub".into(),
            scopes: "openid offline_access".into(),
            nonce: "n".into(),
            identity: r#"{"user_id":"u"}"#.into(),
            auth_time: 1,
            created_at: 2,
            last_used_at: 3,
            family_created_at: 4,
            rotated_at,
            successor_id: None,
            revoked_at: None,
            session_id: Some("sid".into()),
            amr: "pwd otp".into(),
        }
    }

    /// What the writer (sqlx's connection) committed is what a direct read returns, column for
    /// column, and a rotation committed a moment ago is seen by the next read: a client that was
    /// handed a successor can always spend it.
    #[tokio::test]
    async fn direct_reads_see_the_writers_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.db").to_string_lossy().into_owned();
        let db = Db::open(&StorageLocation::Sqlite { file }).await.unwrap();
        assert!(db.direct.is_some(), "a file database reads directly");
        db.create_refresh_token(&token("a", None)).await.unwrap();
        let got = db.get_refresh_token("a").await.unwrap();
        let want = token("a", None);
        assert_eq!(
            (
                got.family_id,
                got.secret_hash,
                got.identity,
                got.session_id,
                got.amr
            ),
            (
                want.family_id,
                want.secret_hash,
                want.identity,
                want.session_id,
                want.amr
            )
        );
        assert_eq!(
            (
                got.auth_time,
                got.created_at,
                got.last_used_at,
                got.family_created_at
            ),
            (1, 2, 3, 4)
        );
        assert!(
            db.rotate_refresh_token("a", &token("b", None), 9)
                .await
                .unwrap()
        );
        let old = db.get_refresh_token("a").await.unwrap();
        assert_eq!(
            (old.rotated_at, old.successor_id.as_deref()),
            (Some(9), Some("b"))
        );
        assert_eq!(db.get_refresh_token("b").await.unwrap().id, "b");
        assert!(matches!(
            db.get_refresh_token("missing").await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            db.get_auth_code("missing").await,
            Err(StorageError::NotFound)
        ));
    }

    /// A database file that cannot be opened is an outage (503, try again), not a bug (500).
    #[test]
    fn an_unopenable_file_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let e = SqliteReads::open(&dir.path().join("none/g.db")).unwrap_err();
        assert!(e.is_unavailable(), "{e}");
    }
}
