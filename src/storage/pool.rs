//! A connection pool that times each wait for a connection.
//!
//! Every query names the pool it runs on (`&self.write`, `&self.read`) and sqlx takes a
//! connection inside; this wrapper runs the same queries and records how long that take
//! lasted, so that a pool too small for its load shows as time spent waiting rather than only
//! as slower requests. The histogram is the only thing added: queries run exactly as on the
//! sqlx pool.

use std::time::Instant;

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use prometheus_client::metrics::histogram::Histogram;
use sqlx::any::{Any, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{AnyPool, Describe, Either, Execute, Executor, SqlStr};

/// Seconds a query waited for a connection: microseconds when one is idle, more when every
/// connection is busy (or a new one is being opened).
pub const ACQUIRE_BUCKETS: [f64; 10] =
    [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

#[derive(Debug, Clone)]
pub struct Pool {
    inner: AnyPool,
    waits: Histogram,
}

/// What a pool holds at one moment, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl Pool {
    pub(crate) fn new(inner: AnyPool, waits: Histogram) -> Pool {
        Pool { inner, waits }
    }

    /// A connection, the wait for it recorded (a wait that ends in an error too: a pool that
    /// times out is the one to see).
    pub async fn acquire(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        let started = Instant::now();
        let conn = self.inner.acquire().await;
        self.waits.observe(started.elapsed().as_secs_f64());
        conn
    }

    /// The sqlx pool, for what takes one itself (migrations).
    pub(crate) fn any(&self) -> &AnyPool {
        &self.inner
    }

    pub fn state(&self) -> PoolState {
        PoolState {
            size: self.inner.size(),
            idle: u32::try_from(self.inner.num_idle()).unwrap_or(u32::MAX),
            max: self.inner.options().get_max_connections(),
        }
    }
}

impl<'p> Executor<'p> for &'_ Pool {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let pool = self.clone();
        // The rows are gathered while the connection is held, as `fetch_all` and `execute`
        // (the only ways Gantry reads a stream) would gather them anyway.
        Box::pin(
            futures_util::stream::once(async move {
                let mut conn = pool.acquire().await?;
                conn.fetch_many(query).try_collect::<Vec<_>>().await
            })
            .map_ok(|rows| futures_util::stream::iter(rows.into_iter().map(Ok)))
            .try_flatten(),
        )
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.describe(sql).await })
    }
}
