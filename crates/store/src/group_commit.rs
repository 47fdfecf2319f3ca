//! Group commit for SQLite's one writer.
//!
//! Every write transaction on SQLite ends with a commit that appends each
//! page it touched to the write-ahead log, and a full-text index flushes its
//! pending terms as a new segment: for a ticket, a few dozen pages. When many
//! tickets arrive at once, one task runs the waiting writes one after another
//! in a single transaction, each inside its own savepoint (a write that fails
//! leaves nothing behind and does not disturb the others), and commits them
//! together: pages shared by the batch are written once. Nobody hears of a
//! write before its commit. sqlx offers no such queue, hence this module.

use crate::db::{Conn, Result, StoreError};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::SqlitePool;
use std::panic::AssertUnwindSafe;
use tokio::sync::mpsc;

/// Delivers a write's outcome once its batch is committed (or not).
pub(crate) type Finish = Box<dyn FnOnce(Result<()>) + Send>;

/// What a write reports when it has run: whether it succeeded (kept) and how
/// to deliver its result.
pub(crate) struct Outcome {
    pub ok: bool,
    pub finish: Finish,
}

/// One queued write. Dropped without running, its caller hears of a failure.
pub(crate) type Job = Box<dyn for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Outcome> + Send>;

/// Enough to share the log's pages, few enough that the first caller of a
/// batch does not wait long for the last.
const MAX_BATCH: usize = 32;

/// Writes that may wait for the writer by default: beyond, a caller waits
/// for room (backpressure) instead of the queue, and the uploads its jobs
/// hold, growing without bound.
pub const DEFAULT_QUEUE: usize = 1024;

/// The writes waiting for SQLite's writer; the task ends with the last clone.
#[derive(Debug, Clone)]
pub struct WriteQueue(mpsc::Sender<Job>);

impl WriteQueue {
    /// Starts the task that runs the queued writes on `writer`.
    pub(crate) fn start(writer: SqlitePool, capacity: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        tokio::spawn(run(writer, receiver));
        WriteQueue(sender)
    }

    pub(crate) async fn push(&self, job: Job) -> Result<()> {
        self.0.send(job).await.map_err(|_| StoreError::NotCommitted("the database is closed"))
    }
}

async fn run(writer: SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut conn = match writer.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => Conn::SqliteTx(tx),
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a write transaction");
                continue;
            }
        };
        // The batch's first write runs bare: alone (the usual case at a
        // desk's pace) it costs no savepoint; if it fails, the transaction is
        // abandoned and the queue goes on in a new one.
        let first = match AssertUnwindSafe(job(&mut conn)).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::error!("a write panicked; its transaction is rolled back");
                continue;
            }
        };
        if !first.ok {
            drop(conn);
            (first.finish)(Ok(()));
            continue;
        }
        let mut kept = vec![first.finish];
        let mut broken = false;
        while kept.len() < MAX_BATCH {
            let Ok(job) = jobs.try_recv() else { break };
            match in_savepoint(&mut conn, job).await {
                Ok(Some(finish)) => kept.push(finish),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "a batch of writes failed; it is rolled back");
                    broken = true;
                    break;
                }
            }
        }
        let committed = if broken { Err(()) } else { conn.commit().await.map_err(|e| tracing::error!(error = %e)) };
        metrics::histogram!("guichet_db_write_batch_size").record(kept.len() as f64);
        for finish in kept {
            finish(committed.map_err(|()| StoreError::NotCommitted("its batch could not be committed")));
        }
        // A write that arrived during the commit starts the next batch.
        next = jobs.try_recv().ok();
    }
}

/// Runs one write of a batch inside a savepoint: kept (its delivery waits for
/// the commit) or rolled back (its error is delivered at once).
async fn in_savepoint(conn: &mut Conn, job: Job) -> std::result::Result<Option<Finish>, StoreError> {
    execute(conn, "SAVEPOINT batched_write").await?;
    let outcome = AssertUnwindSafe(job(conn))
        .catch_unwind()
        .await
        .map_err(|_| StoreError::NotCommitted("a write of its batch panicked"))?;
    if outcome.ok {
        execute(conn, "RELEASE batched_write").await?;
        Ok(Some(outcome.finish))
    } else {
        execute(conn, "ROLLBACK TO batched_write").await?;
        execute(conn, "RELEASE batched_write").await?;
        (outcome.finish)(Ok(()));
        Ok(None)
    }
}

async fn execute(conn: &mut Conn, sql: &str) -> Result<()> {
    crate::on_conn!(conn, |c| sqlx::query(sql).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::db::{Db, StoreError};
    use crate::settings::{find_setting, upsert_setting};

    async fn database() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("guichet.db").display());
        let db = Db::connect(&url, true).await.unwrap();
        db.migrate().await.unwrap();
        (dir, db)
    }

    async fn setting(db: &Db, key: &str) -> Option<String> {
        find_setting(&mut db.conn().await.unwrap(), key).await.unwrap()
    }

    /// Writes `key`, then fails when asked to: what it wrote must vanish.
    async fn write(db: &Db, key: String, fail: bool) -> Result<String, StoreError> {
        db.write(move |tx| {
            Box::pin(async move {
                upsert_setting(tx, &key, "\"written\"").await?;
                if fail {
                    return Err(StoreError::NotFound);
                }
                Ok(key)
            })
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_each_caller_gets_its_own_result() {
        let (_dir, db) = database().await;
        let writes = (0..200).map(|i| write(&db, format!("key-{i}"), i % 7 == 3));
        let results = futures_util::future::join_all(writes).await;
        for (i, result) in results.into_iter().enumerate() {
            let key = format!("key-{i}");
            if i % 7 == 3 {
                assert!(matches!(result, Err(StoreError::NotFound)), "{key}: {result:?}");
                assert_eq!(setting(&db, &key).await, None, "{key}: a failed write leaves nothing");
            } else {
                assert_eq!(result.unwrap(), key);
                assert_eq!(setting(&db, &key).await.as_deref(), Some("\"written\""), "{key}");
            }
        }
    }

    #[tokio::test]
    async fn a_write_that_panics_is_reported_and_the_queue_goes_on() {
        let (_dir, db) = database().await;
        let panicking = db.write(|tx| {
            Box::pin(async move {
                upsert_setting(tx, "half", "\"written\"").await?;
                if tx.backend() == crate::db::Backend::Sqlite {
                    panic!("a bug in a write");
                }
                Ok::<(), StoreError>(())
            })
        });
        assert!(matches!(panicking.await, Err(StoreError::NotCommitted(_))));
        assert_eq!(setting(&db, "half").await, None);
        assert_eq!(write(&db, "after".into(), false).await.unwrap(), "after");
        assert_eq!(setting(&db, "after").await.as_deref(), Some("\"written\""));
    }
}
