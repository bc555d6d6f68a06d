//! Group commit for the writes a grant must make before it answers: refresh-token rotations and
//! authorization-code redemptions that arrive together share one transaction.
//!
//! A rotation is a compare-and-set on the presented token plus the insert of its successor; a
//! redemption is a compare-and-set on the code that records what it issued. One by one, each
//! costs its round trips on the single SQLite writer and a WAL commit, and under load those
//! queue behind each other. Here whatever arrives while a batch commits goes into the next one:
//! one `UPDATE … FROM (VALUES …) RETURNING` per kind says which won, one multi-row `INSERT`
//! adds the successors, one commit. A caller hears back only after that commit, so what it
//! hands out is durable.

use tokio::sync::{mpsc, oneshot};

use super::pool::Pool;
use super::refresh::{COLUMNS, RefreshToken, bind, insert};
use super::{Dialect, Result, StorageError};

/// Most writes in one transaction: at most 5 bound values each in an update and 15 in the
/// insert stay far below SQLite's 32766 and PostgreSQL's 65535 parameters.
const MAX_BATCH: usize = 128;

struct Rotation {
    old_id: String,
    next: RefreshToken,
    now: i64,
}

/// A code spent for the tokens it issued (their access token's `jti`, unique per request,
/// names the winner when one code is presented twice in a batch).
struct Redemption {
    code_hash: String,
    now: i64,
    access_jti: String,
    access_expires_at: i64,
    refresh_family: Option<String>,
}

enum Write {
    // Boxed: a successor row is four times a redemption's size.
    Rotate(Box<Rotation>),
    Redeem(Redemption),
}

struct Job {
    write: Write,
    done: oneshot::Sender<Result<bool>>,
}

/// Where grants' writes queue for the writer; cloned with the `Db`.
#[derive(Debug, Clone)]
pub(crate) struct RotationQueue {
    tx: mpsc::Sender<Job>,
}

impl RotationQueue {
    /// Start the task that commits batches on `write`; it ends when the last queue is dropped.
    pub(crate) fn start(write: Pool, dialect: Dialect) -> RotationQueue {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(write, dialect, rx));
        RotationQueue { tx }
    }

    async fn submit(&self, write: Write) -> Result<bool> {
        let (done, answer) = oneshot::channel();
        let gone = || StorageError::Unavailable(sqlx::Error::WorkerCrashed);
        self.tx
            .send(Job { write, done })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Replace `old_id` by `next` unless another rotation or a revocation came first.
    pub(crate) async fn rotate(&self, old_id: &str, next: &RefreshToken, now: i64) -> Result<bool> {
        self.submit(Write::Rotate(Box::new(Rotation {
            old_id: old_id.to_string(),
            next: next.clone(),
            now,
        })))
        .await
    }

    /// Spend code `code_hash`, recording what it issued, unless it was spent already.
    pub(crate) async fn redeem(
        &self,
        code_hash: &str,
        now: i64,
        (access_jti, access_expires_at): (&str, i64),
        refresh_family: Option<&str>,
    ) -> Result<bool> {
        self.submit(Write::Redeem(Redemption {
            code_hash: code_hash.to_string(),
            now,
            access_jti: access_jti.to_string(),
            access_expires_at,
            refresh_family: refresh_family.map(str::to_string),
        }))
        .await
    }
}

async fn run(write: Pool, dialect: Dialect, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let writes: Vec<&Write> = batch.iter().map(|j| &j.write).collect();
        match commit(&write, dialect, &writes).await {
            Ok(won) => {
                for j in batch.drain(..) {
                    let w = won.contains(winner_of(&j.write));
                    let _ = j.done.send(Ok(w));
                }
            }
            // One bad row must not fail the others: replay them one by one, so each caller
            // gets its own answer (and its own error).
            Err(_) => {
                for j in batch.drain(..) {
                    let one = commit(&write, dialect, &[&j.write]).await;
                    let _ = j.done.send(one.map(|won| !won.is_empty()));
                }
            }
        }
    }
}

/// What a winning write's row hands back: a rotation's successor id, a redemption's `jti`.
fn winner_of(w: &Write) -> &String {
    match w {
        Write::Rotate(r) => &r.next.id,
        Write::Redeem(r) => &r.access_jti,
    }
}

/// `($1, …), ($n, …)` groups of `width` placeholders, one per row, numbered in binding order.
///
/// SQLite gets anonymous `?`: a numbered parameter costs sqlx a `sqlite3_bind_parameter_name`
/// per value, and SQLite finds that name by walking the statement's list, so binding a batch of
/// a hundred rows (1,700 values) spent more than its statements (bench/NOTES.md).
pub(super) fn values(dialect: Dialect, rows: usize, width: usize) -> String {
    match dialect {
        Dialect::Sqlite => {
            let row = format!("({})", vec!["?"; width].join(", "));
            vec![row; rows].join(", ")
        }
        Dialect::Postgres => numbered(0, rows, width),
    }
}

/// One transaction for the batch; returns the winners (see [`winner_of`]).
async fn commit(write: &Pool, dialect: Dialect, batch: &[&Write]) -> Result<Vec<String>> {
    let rotations: Vec<&Rotation> = batch
        .iter()
        .filter_map(|w| match w {
            Write::Rotate(r) => Some(&**r),
            Write::Redeem(_) => None,
        })
        .collect();
    let redemptions: Vec<&Redemption> = batch
        .iter()
        .filter_map(|w| match w {
            Write::Redeem(r) => Some(r),
            Write::Rotate(_) => None,
        })
        .collect();
    if dialect == Dialect::Postgres {
        return commit_in_one_statement(write, &rotations, &redemptions).await;
    }
    let mut conn = write.acquire().await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let mut won: Vec<String> = Vec::with_capacity(batch.len());
    if !rotations.is_empty() {
        // When the same token is presented twice in one batch, the join matches its row twice
        // and the database applies one of them: RETURNING names the single winner.
        let sql = format!(
            "UPDATE refresh_tokens SET rotated_at = v.column2, successor_id = v.column3, \
             last_used_at = v.column2 FROM (VALUES {}) AS v \
             WHERE refresh_tokens.id = v.column1 AND refresh_tokens.rotated_at IS NULL \
             AND refresh_tokens.revoked_at IS NULL RETURNING successor_id",
            values(dialect, rotations.len(), 3)
        );
        // Built from placeholders only: every value is bound.
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for r in &rotations {
            q = q.bind(&r.old_id).bind(r.now).bind(&r.next.id);
        }
        let rotated: Vec<String> = q.fetch_all(&mut *tx).await?;
        let successors: Vec<&RefreshToken> = rotations
            .iter()
            .map(|r| &r.next)
            .filter(|n| rotated.contains(&n.id))
            .collect();
        if !successors.is_empty() {
            insert(&mut *tx, dialect, &successors).await?;
        }
        won.extend(rotated);
    }
    if !redemptions.is_empty() {
        // A code presented twice in one batch: one of its rows is applied, and RETURNING names
        // the request whose tokens it recorded.
        let sql = format!(
            "UPDATE auth_codes SET used_at = v.column2, access_jti = v.column3, \
             access_expires_at = v.column4, refresh_family = v.column5 FROM (VALUES {}) AS v \
             WHERE auth_codes.code_hash = v.column1 AND auth_codes.used_at IS NULL \
             RETURNING auth_codes.access_jti",
            values(dialect, redemptions.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in &redemptions {
            q = bind_redemption(q, r);
        }
        won.extend(first_columns(q.fetch_all(&mut *tx).await?)?);
    }
    tx.commit().await?;
    Ok(won)
}

/// PostgreSQL: the whole batch as one statement, so one round trip and one implicit transaction
/// instead of four (BEGIN, two writes, COMMIT), each of which waits for the server. Data-modifying
/// `WITH` parts all see the same snapshot and commit together; SQLite has no such statement, and
/// its round trips are calls within the process.
async fn commit_in_one_statement(
    write: &Pool,
    rotations: &[&Rotation],
    redemptions: &[&Redemption],
) -> Result<Vec<String>> {
    let mut parts: Vec<String> = Vec::new();
    let mut answers: Vec<&str> = Vec::new();
    let mut at = 0;
    let mut next = |rows: usize, width: usize| {
        let v = numbered(at, rows, width);
        at += rows * width;
        v
    };
    if !rotations.is_empty() {
        // `r`: the presented token, when, and its successor's row. Of two rows naming one token,
        // the update applies one; the insert adds only the successor it named.
        parts.push(format!(
            "r (old_id, now, {COLUMNS}) AS (VALUES {}), \
             rotated AS (UPDATE refresh_tokens t SET rotated_at = r.now, successor_id = r.id, \
             last_used_at = r.now FROM r WHERE t.id = r.old_id AND t.rotated_at IS NULL \
             AND t.revoked_at IS NULL RETURNING t.successor_id), \
             added AS (INSERT INTO refresh_tokens ({COLUMNS}) SELECT {COLUMNS} \
             FROM r WHERE r.id IN (SELECT successor_id FROM rotated))",
            next(rotations.len(), 19)
        ));
        answers.push("SELECT successor_id FROM rotated");
    }
    if !redemptions.is_empty() {
        parts.push(format!(
            "c (code_hash, now, access_jti, access_expires_at, refresh_family) AS (VALUES {}), \
             redeemed AS (UPDATE auth_codes SET used_at = c.now, access_jti = c.access_jti, \
             access_expires_at = c.access_expires_at, refresh_family = c.refresh_family FROM c \
             WHERE auth_codes.code_hash = c.code_hash AND auth_codes.used_at IS NULL \
             RETURNING auth_codes.access_jti)",
            next(redemptions.len(), 5)
        ));
        answers.push("SELECT access_jti FROM redeemed");
    }
    if answers.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("WITH {} {}", parts.join(", "), answers.join(" UNION ALL "));
    // Built from placeholders only: every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rotations {
        q = bind(q.bind(&r.old_id).bind(r.now), &r.next);
    }
    for r in redemptions {
        q = bind_redemption(q, r);
    }
    first_columns(q.fetch_all(write).await?)
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// A redemption's values: code hash, when, and what it issued.
fn bind_redemption<'q>(q: AnyQuery<'q>, r: &'q Redemption) -> AnyQuery<'q> {
    q.bind(&r.code_hash)
        .bind(r.now)
        .bind(&r.access_jti)
        .bind(r.access_expires_at)
        .bind(r.refresh_family.as_deref())
}

/// The first column of each row: what a batch's `RETURNING` names.
fn first_columns(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<String>> {
    rows.iter()
        .map(|row| Ok(sqlx::Row::try_get::<String, _>(row, 0)?))
        .collect()
}

/// `values` for PostgreSQL, numbered from `$first + 1`: one statement holds several lists.
fn numbered(first: usize, rows: usize, width: usize) -> String {
    let mut out = String::with_capacity(rows * width * 6);
    for i in 0..rows {
        out.push_str(if i == 0 { "(" } else { ", (" });
        for c in 1..=width {
            if c > 1 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(first + width * i + c).to_string());
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::StorageLocation;
    use crate::storage::Db;
    use crate::storage::refresh::RefreshToken;

    fn token(id: &str) -> RefreshToken {
        RefreshToken {
            id: id.into(),
            family_id: format!("fam-{id}"),
            secret_hash: format!("hash-{id}"),
            client_id: "rp".into(),
            subject: "sub".into(),
            scopes: "openid".into(),
            nonce: String::new(),
            identity: "{}".into(),
            auth_time: 1,
            created_at: 1,
            last_used_at: 1,
            family_created_at: 1,
            rotated_at: None,
            successor_id: None,
            revoked_at: None,
            session_id: None,
            amr: "pwd".into(),
        }
    }

    /// SQLite rolls a whole transaction back on its own for some errors (a full disk or an I/O
    /// error at COMMIT; here a trigger's `RAISE(ROLLBACK)`, which does the same on demand).
    /// sqlx counts transactions itself and did not see that one end: the writer then wrapped
    /// every later statement in a transaction that never committed, so revocations and new
    /// tokens were answered as stored and lost (found by the outside review of issue 22, with a
    /// full disk). Every write after the failure must be stored and seen by other connections.
    #[tokio::test]
    async fn writes_after_a_transaction_sqlite_rolled_back_itself_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.db").to_string_lossy().into_owned();
        let db = Db::open(&StorageLocation::Sqlite { file }).await.unwrap();
        for id in ["a", "b", "c", "e"] {
            db.create_refresh_token(&token(id)).await.unwrap();
        }
        // `boom` ends the whole transaction (as a full disk at COMMIT does); `abort` fails only
        // its statement and leaves the transaction open, for its caller to roll back.
        for (id, how) in [("boom", "ROLLBACK"), ("abort", "ABORT")] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TRIGGER fail_{id} BEFORE INSERT ON refresh_tokens \
                 WHEN NEW.id = '{id}' BEGIN SELECT RAISE({how}, 'injected failure'); END"
            )))
            .execute(&db.write)
            .await
            .unwrap();
        }
        let failed = db.rotate_refresh_token("a", &token("boom"), 5).await;
        assert!(failed.is_err(), "{failed:?}");
        let failed = db.rotate_refresh_token("e", &token("abort"), 5).await;
        assert!(failed.is_err(), "{failed:?}");
        // A plain write, a batch, another plain write: each must be committed.
        db.create_refresh_token(&token("d")).await.unwrap();
        assert!(db.rotate_refresh_token("b", &token("b2"), 6).await.unwrap());
        db.revoke_refresh_family("fam-c", 7).await.unwrap();
        // Read through the direct (other) connection: only committed rows are there.
        assert_eq!(db.get_refresh_token("d").await.unwrap().id, "d");
        assert_eq!(
            db.get_refresh_token("b")
                .await
                .unwrap()
                .successor_id
                .as_deref(),
            Some("b2")
        );
        assert_eq!(db.get_refresh_token("b2").await.unwrap().id, "b2");
        assert_eq!(db.get_refresh_token("c").await.unwrap().revoked_at, Some(7));
        assert_eq!(
            db.get_refresh_token("a").await.unwrap().rotated_at,
            None,
            "the failed rotation left its token as it was"
        );
    }

    /// A full disk is an outage the client should retry (503), not a server bug (500).
    #[tokio::test]
    async fn a_full_database_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.db").to_string_lossy().into_owned();
        let db = Db::open(&StorageLocation::Sqlite { file }).await.unwrap();
        // The writer may not grow the file beyond its present size.
        sqlx::query("PRAGMA max_page_count = 1")
            .execute(&db.write)
            .await
            .unwrap();
        let big = RefreshToken {
            identity: "x".repeat(200_000),
            ..token("big")
        };
        let e = db.create_refresh_token(&big).await.unwrap_err();
        assert!(e.is_unavailable(), "{e}");
    }
}
