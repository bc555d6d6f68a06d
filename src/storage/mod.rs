//! Persistence: one module per aggregate over one sqlx `Any` pool pair, for SQLite and PostgreSQL.
//!
//! Queries are written once with `$N` placeholders, which both dialects accept. Secrets never
//! reach this layer in clear: callers pass hashes. Read-modify-write goes through
//! compare-and-set updates so replicas sharing one database never lose an update.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod connectors;
pub mod device;
pub mod factors;
pub mod groups;
pub mod keys;
pub mod logout_outbox;
pub mod memory;
pub mod memory_factors;
pub mod passwords;
pub mod pool;
pub mod refresh;
pub mod registry;
pub mod revoked;
pub mod rotations;
pub mod sessions;
mod sqlite_reads;
pub mod store;
mod store_db;
pub mod sweeper;
pub mod token_counts;
pub mod upstream;

use std::str::FromStr;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use sqlx::Executor;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

use self::pool::{ACQUIRE_BUCKETS, Pool, PoolState};

use crate::config::StorageLocation;

/// Errors of the storage layer; the HTTP layer maps all but `NotFound` to an internal error.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// The database cannot be reached (stopped, restarting, network gone, pool exhausted):
    /// answered 503 so that clients retry, not 500.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot open database: {0}")]
    Open(String),
    /// From the reads made on the calling thread (`sqlite_reads`).
    #[error("database error: {0}")]
    Direct(rusqlite::Error),
}

pub type Result<T> = std::result::Result<T, StorageError>;

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        let unreachable = match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL shutting down or starting (57P01-03), or a connection exception (08).
            sqlx::Error::Database(d) => {
                d.code()
                    .is_some_and(|c| c.starts_with("57P0") || c.starts_with("08"))
                    || sqlite_outage(d.as_ref())
            }
            _ => false,
        };
        if unreachable {
            StorageError::Unavailable(e)
        } else {
            StorageError::Db(e)
        }
    }
}

/// SQLite's errors of the machine rather than of the statement: busy or locked past the wait,
/// an I/O error, a full disk, a file that cannot be opened. They pass; a client should retry.
/// One list for both ways Gantry reaches SQLite (sqlx, and the direct reads).
fn sqlite_outage_code(code: i32) -> bool {
    // Extended codes keep the primary code in their low byte.
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)
}

fn sqlite_outage(d: &dyn sqlx::error::DatabaseError) -> bool {
    d.try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .and_then(sqlx::error::DatabaseError::code)
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(sqlite_outage_code)
}

impl StorageError {
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Unavailable(_) => true,
            StorageError::Direct(rusqlite::Error::SqliteFailure(e, _)) => {
                sqlite_outage_code(e.extended_code)
            }
            _ => false,
        }
    }
}

/// Which SQL dialect the pools speak; the only place dialect differences are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The database: one writer pool beside a pool of readers (the same pool on PostgreSQL).
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) write: Pool,
    pub(crate) read: Pool,
    /// Whether `read` is `write` (PostgreSQL, in-memory SQLite).
    shared: bool,
    pub dialect: Dialect,
    rotations: rotations::RotationQueue,
    /// A SQLite file's point reads for the grants, made without sqlx's thread hand-over.
    direct: Option<std::sync::Arc<sqlite_reads::SqliteReads>>,
    waits: AcquireWaits,
}

/// Which pool a wait was for: `write` and `read` on SQLite, `shared` where one pool serves both.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    pub pool: &'static str,
}

/// The time queries waited for a connection, by pool.
pub type AcquireWaits = Family<PoolLabel, Histogram, fn() -> Histogram>;

fn acquire_waits() -> AcquireWaits {
    Family::new_with_constructor(|| Histogram::new(ACQUIRE_BUCKETS))
}

fn timed(pool: sqlx::AnyPool, name: &'static str, waits: &AcquireWaits) -> Pool {
    Pool::new(pool, waits.get_or_create_owned(&PoolLabel { pool: name }))
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A new database file readable by Gantry's user only (SQLite gives its journal files the
/// same mode): it holds refresh-token hashes, the audit trail and, without `encryption.keys`,
/// private keys. An existing file keeps the mode its owner chose.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl Db {
    /// Open the database and apply migrations.
    pub async fn open(at: &StorageLocation) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let db = match at {
            StorageLocation::Sqlite { file } => {
                if let Some(dir) = std::path::Path::new(file).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StorageError::Open(format!("{}: {e}", dir.display())))?;
                }
                create_private(std::path::Path::new(file))
                    .map_err(|e| StorageError::Open(format!("{file}: {e}")))?;
                Self::sqlite(&format!("sqlite://{file}?mode=rwc"), 4, Some(file)).await?
            }
            StorageLocation::Memory => Self::sqlite("sqlite::memory:", 0, None).await?,
            StorageLocation::Postgres { url, max_conns } => Self::postgres(url, *max_conns).await?,
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn sqlite(url: &str, readers: u32, file: Option<&str>) -> Result<Db> {
        let opts = AnyConnectOptions::from_str(url)?;
        let pragmas = sqlite_pragmas;
        // One writer: more add no throughput on SQLite and stall on its busy-wait.
        // A local file does not drop connections: checking one before each use (sqlx's
        // default) only costs a round trip to SQLite's worker thread.
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .after_connect(pragmas);
        // An in-memory database lives in its one connection: closing it would lose everything.
        let write = if readers == 0 {
            write
        } else {
            write.after_release(release_clean)
        };
        let write = write.connect_with(opts.clone()).await?;
        let waits = acquire_waits();
        let (write, read, shared) = if readers == 0 {
            // An in-memory database exists once per connection: share the writer.
            let shared = timed(write, "shared", &waits);
            (shared.clone(), shared, true)
        } else {
            let read = AnyPoolOptions::new()
                .max_connections(readers)
                .test_before_acquire(false)
                .after_connect(pragmas)
                .connect_with(opts)
                .await?;
            (
                timed(write, "write", &waits),
                timed(read, "read", &waits),
                false,
            )
        };
        Ok(Db {
            rotations: rotations::RotationQueue::start(write.clone(), Dialect::Sqlite),
            direct: match file {
                Some(f) => Some(std::sync::Arc::new(sqlite_reads::SqliteReads::open(
                    std::path::Path::new(f),
                )?)),
                None => None,
            },
            write,
            read,
            shared,
            dialect: Dialect::Sqlite,
            waits,
        })
    }

    async fn postgres(url: &str, max: u32) -> Result<Db> {
        // While the database is down a connection cannot be had (sqlx retries the connect
        // until this passes): answer 503 within a second, the client retries, rather than
        // hold every request for sqlx's default 30 s. Under load a queue for a connection
        // is milliseconds long; a second of it means shedding load is right anyway.
        let pool = AnyPoolOptions::new()
            .max_connections(max.max(2))
            .acquire_timeout(Duration::from_secs(1))
            .after_release(release_clean)
            .connect(url)
            .await?;
        let waits = acquire_waits();
        let pool = timed(pool, "shared", &waits);
        Ok(Db {
            rotations: rotations::RotationQueue::start(pool.clone(), Dialect::Postgres),
            direct: None,
            write: pool.clone(),
            read: pool,
            shared: true,
            dialect: Dialect::Postgres,
            waits,
        })
    }

    async fn migrate(&self) -> Result<()> {
        match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(self.write.any()).await?,
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(self.write.any()).await?,
        }
        Ok(())
    }

    /// Each distinct pool by name and what it holds now.
    pub fn pool_states(&self) -> Vec<(&'static str, PoolState)> {
        if self.shared {
            vec![("shared", self.write.state())]
        } else {
            vec![("write", self.write.state()), ("read", self.read.state())]
        }
    }

    /// The waits for a connection, by pool: registered with the metrics once.
    pub fn acquire_waits(&self) -> AcquireWaits {
        self.waits.clone()
    }

    /// Cheap round trip for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}

type ConnectFuture<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = std::result::Result<(), sqlx::Error>> + Send + 'c>,
>;

fn sqlite_pragmas<'c>(
    conn: &'c mut sqlx::AnyConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> ConnectFuture<'c> {
    Box::pin(async move {
        conn.execute(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
             PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
        )
        .await
        .map(|_| ())
    })
}

/// Whether a connection given back may serve again: not if it still counts a transaction once
/// the rollback of a dropped one has run.
///
/// sqlx counts transactions itself. When SQLite ends one on its own (a full disk or an I/O error
/// at COMMIT rolls the whole transaction back), the `ROLLBACK` sqlx sends fails and its count
/// stays one too high: its next `begin` opens a savepoint, and when that one fails, its
/// `ROLLBACK TO` leaves SQLite inside a transaction that nothing ends, so every later write on the
/// connection is answered and lost (found by the outside review of issue 22). Such a connection
/// is closed and the pool opens a fresh one.
fn release_clean<'c>(
    conn: &'c mut sqlx::AnyConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'c, std::result::Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if !sqlx::Connection::is_in_transaction(conn) {
            return Ok(true);
        }
        // A dropped transaction's rollback is queued ahead of this round trip.
        sqlx::Connection::ping(conn).await?;
        let clean = !sqlx::Connection::is_in_transaction(conn);
        if !clean {
            tracing::warn!("database connection closed: its transaction state was lost");
        }
        Ok(clean)
    })
}

/// Decode a JSON column, reporting corruption rather than panicking.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StorageError::Corrupt(e.to_string()))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StorageError::Corrupt(e.to_string()))
}
