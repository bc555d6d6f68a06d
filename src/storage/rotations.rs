//! Group commit for refresh-token rotation: rotations that arrive together share one transaction.
//!
//! A rotation is a compare-and-set on the presented token plus the insert of its successor.
//! One by one, each costs four round trips on the single SQLite writer and a WAL commit, and
//! under load those queue behind each other. Here whatever arrives while a batch commits goes
//! into the next one: one `UPDATE … FROM (VALUES …) RETURNING` says which rotations won, one
//! multi-row `INSERT` adds their successors, one commit. A rotation's caller hears back only
//! after that commit, so a successor it hands out is durable.

use tokio::sync::{mpsc, oneshot};

use super::pool::Pool;
use super::refresh::{RefreshToken, insert};
use super::{Result, StorageError};

/// Most rotations in one transaction: 4 bound values each in the update and 15 in the
/// insert stay far below SQLite's 32766 and PostgreSQL's 65535 parameters.
const MAX_BATCH: usize = 128;

struct Rotation {
    old_id: String,
    next: RefreshToken,
    now: i64,
    done: oneshot::Sender<Result<bool>>,
}

/// Where rotations queue for the writer; cloned with the `Db`.
#[derive(Debug, Clone)]
pub(crate) struct RotationQueue {
    tx: mpsc::Sender<Rotation>,
}

impl RotationQueue {
    /// Start the task that commits batches on `write`; it ends when the last queue is dropped.
    pub(crate) fn start(write: Pool) -> RotationQueue {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(write, rx));
        RotationQueue { tx }
    }

    /// Replace `old_id` by `next` unless another rotation or a revocation came first.
    pub(crate) async fn rotate(&self, old_id: &str, next: &RefreshToken, now: i64) -> Result<bool> {
        let (done, answer) = oneshot::channel();
        let job = Rotation {
            old_id: old_id.to_string(),
            next: next.clone(),
            now,
            done,
        };
        let gone = || StorageError::Unavailable(sqlx::Error::WorkerCrashed);
        self.tx.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(write: Pool, mut rx: mpsc::Receiver<Rotation>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match commit(&write, &batch).await {
            Ok(won) => {
                for r in batch.drain(..) {
                    let _ = r.done.send(Ok(won.contains(&r.next.id)));
                }
            }
            // One bad row must not fail the others: replay them one by one, so each caller
            // gets its own answer (and its own error).
            Err(_) => {
                for r in batch.drain(..) {
                    let one = commit(&write, std::slice::from_ref(&r)).await;
                    let _ = r.done.send(one.map(|won| !won.is_empty()));
                }
            }
        }
    }
}

/// One transaction for the batch; returns the successor ids whose rotation won.
async fn commit(write: &Pool, batch: &[Rotation]) -> Result<Vec<String>> {
    let rows = (0..batch.len())
        .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    // When the same token is presented twice in one batch, the join matches its row twice and
    // the database applies one of them: RETURNING names the single winner.
    let sql = format!(
        "UPDATE refresh_tokens SET rotated_at = v.column2, successor_id = v.column3, \
         last_used_at = v.column2 FROM (VALUES {rows}) AS v \
         WHERE refresh_tokens.id = v.column1 AND refresh_tokens.rotated_at IS NULL \
         AND refresh_tokens.revoked_at IS NULL RETURNING successor_id"
    );
    // Built from placeholders only: every value is bound.
    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
    for r in batch {
        q = q.bind(&r.old_id).bind(r.now).bind(&r.next.id);
    }
    let mut conn = write.acquire().await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let won: Vec<String> = q.fetch_all(&mut *tx).await?;
    let winners: Vec<&RefreshToken> = batch
        .iter()
        .map(|r| &r.next)
        .filter(|n| won.contains(&n.id))
        .collect();
    if !winners.is_empty() {
        insert(&mut *tx, &winners).await?;
    }
    tx.commit().await?;
    Ok(won)
}
