//! Connection handling: the backend choice, pools, migrations and error mapping.

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The `application_name` of Guichet's PostgreSQL sessions, unless the
/// database URL names another (which should start with it).
pub const APPLICATION_NAME: &str = "guichet";

/// How long a read waits for a second connection before going on alone.
const SPARE_WAIT: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique or foreign-key constraint refused the write; `field` names the input at fault.
    #[error("`{field}` conflicts with existing data")]
    Conflict { field: String },
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("database error")]
    Internal(#[source] sqlx::Error),
    /// A write queued for group commit did not reach the database.
    #[error("the write was not committed: {0}")]
    NotCommitted(&'static str),
    /// PostgreSQL chose this transaction to break a deadlock, or could not
    /// serialize it: trying again is all it takes.
    #[error("the database asks to try again")]
    Retry,
    /// Every connection of the pool stayed taken for as long as a request
    /// may wait for one: the server is overloaded, not broken.
    #[error("every database connection stayed busy")]
    Busy,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut => StoreError::Busy,
            // deadlock_detected, serialization_failure
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => StoreError::Retry,
            sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
                // PostgreSQL names the constraint; SQLite only says which columns.
                let what = db.constraint().map_or_else(|| db.message().to_owned(), str::to_owned);
                StoreError::Conflict { field: conflict_field(&what).to_owned() }
            }
            _ => StoreError::Internal(error),
        }
    }
}

/// Maps a constraint (named in the migrations) or SQLite's column list to the input field.
fn conflict_field(what: &str) -> &'static str {
    const FIELDS: &[(&str, &str)] = &[
        ("establishments_uai_key", "uai"),
        ("establishments.uai", "uai"),
        ("users_email_key", "email"),
        ("users.email", "email"),
        ("api_tokens_hash_key", "token"),
        ("api_tokens.token_hash", "token"),
        ("categories_code_key", "code"),
        ("mail_messages_message_id_key", "message_id"),
        ("mail_messages.message_id", "message_id"),
        ("categories.code", "code"),
    ];
    FIELDS.iter().find(|(k, _)| what.contains(k)).map_or("id", |(_, f)| f)
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A pool on one of the two backends.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite has one writer at a time: write transactions queue for the one
    /// connection of `writer` (in order, without the busy-wait sleeps of
    /// competing connections), whose page cache stays warm because no other
    /// connection's write invalidates it. Reads use `readers`.
    Sqlite {
        readers: SqlitePool,
        writer: SqlitePool,
        /// Writes that may share a commit ([`Db::write`]).
        batches: crate::group_commit::WriteQueue,
    },
    Postgres(PgPool),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
/// PostgreSQL connections a node keeps at most, unless configured.
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// Whether a database URL names PostgreSQL (else it is SQLite's).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The lease held by the node applying migrations.
const MIGRATIONS_LEASE: &str = "migrations";
/// How long the migrations lease lasts unless renewed.
const ONE_TIME_LEASE_MICROS: i64 = 30_000_000;
/// The advisory lock key taken while making the leases table ("guichet" in ASCII).
const BOOTSTRAP_LOCK: i64 = 0x0067_7569_6368_6574;

/// A node's database connections at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// What a SQLite commit survives before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: every acknowledged write survives a power cut
    /// or a kernel crash. Group commit pays one fsync per batch, not per write.
    #[default]
    Safe,
    /// `synchronous = NORMAL`: a crash of the process loses nothing, but a
    /// power cut may lose the last writes acknowledged before it.
    Fast,
}

/// The pages of full-text index one merge step rewrites (see [`Db::merge_search_step`]).
pub const SEARCH_MERGE_PAGES: i64 = 500;

/// How long a SQLite connection stays open unused. The pool hands out its
/// idle connections in turn, so the background jobs' queries, a few a
/// second, reach each of eight readers every few seconds: at 10 s none was
/// ever closed after a load, and each held the load's statements and
/// pages, 40 MB of the server's memory at 1,000,000 tickets
/// (docs/performance.md, "Connections and caches given back after a load").
/// Under a load none is unused that long.
pub const SQLITE_IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a SQLite connection serves before it is replaced.
pub const SQLITE_MAX_LIFETIME: Duration = Duration::from_secs(30);

/// How to open a database, beyond its URL.
#[derive(Debug, Clone, Copy)]
pub struct DbOptions {
    /// Create the SQLite file when missing (the default embedded database only).
    pub create: bool,
    /// Writes that may wait for SQLite's one writer.
    pub write_queue: usize,
    /// The most PostgreSQL connections kept.
    pub pool_size: u32,
    /// SQLite's commits (PostgreSQL keeps its server's own settings).
    pub durability: Durability,
    /// How long a request waits for a connection (PostgreSQL's pool,
    /// SQLite's readers) before it is answered "busy".
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            create: false,
            write_queue: crate::group_commit::DEFAULT_QUEUE,
            pool_size: DEFAULT_POOL_SIZE,
            durability: Durability::Safe,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl Db {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`).
    /// A SQLite file must exist unless `create` is set: a mistyped path is an
    /// error, not a new empty database.
    pub async fn connect(url: &str, create: bool) -> Result<Db> {
        Self::connect_with(url, &DbOptions { create, ..DbOptions::default() }).await
    }

    /// [`Db::connect`] with every option.
    pub async fn connect_with(url: &str, options: &DbOptions) -> Result<Db> {
        let DbOptions { create, write_queue, pool_size, durability, acquire_timeout } = *options;
        if is_postgres_url(url) {
            let mut options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Config(e.to_string()))?;
            // Named, so that `pg_stat_activity` tells Guichet's sessions from
            // others' (and `guichet doctor` finds its statements that never end).
            if options.get_application_name().is_none() {
                options = options.application_name(APPLICATION_NAME);
            }
            let pool = PgPoolOptions::new()
                .max_connections(pool_size.max(1))
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            // `?mode=rwc` asks for the file to be made, as the README says:
            // `create_if_missing` below would otherwise override it.
            let create = create || url.split_once('?').is_some_and(|(_, q)| q.split('&').any(|p| p == "mode=rwc"));
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(e.to_string()))?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match durability {
                    Durability::Safe => SqliteSynchronous::Full,
                    Durability::Fast => SqliteSynchronous::Normal,
                })
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("cache_size", "-32000")
                .pragma("temp_store", "memory")
                .create_if_missing(create);
            let path = options.get_filename().to_owned();
            if !create && path != Path::new(":memory:") && !path.exists() {
                return Err(StoreError::Config(format!(
                    "the SQLite database {} does not exist (add `?mode=rwc` to the URL to create it)",
                    path.display()
                )));
            }
            // A file on this machine cannot drop a connection: no ping (one
            // more round trip to SQLite's thread) before each use.
            let in_memory = path == Path::new(":memory:");
            // A connection keeps its page cache and prepared statements (up to
            // a hundred megabytes for all of them after a busy hour): closed
            // when unused for a while and renewed now and then, reopened in
            // a fraction of a millisecond. Renewal matters: the pool hands out
            // its idle connections in turn, so the background jobs' queries
            // alone keep every one of them from ever being idle that long.
            // Not an in-memory database, which lives only as long as its connection.
            let idle_timeout = (!in_memory).then_some(SQLITE_IDLE_TIMEOUT);
            let max_lifetime = (!in_memory).then_some(SQLITE_MAX_LIFETIME);
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .idle_timeout(idle_timeout)
                .max_lifetime(max_lifetime)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await?;
            // An in-memory database exists once per connection: it cannot be shared.
            let readers = if in_memory {
                writer.clone()
            } else {
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .idle_timeout(idle_timeout)
                    .max_lifetime(max_lifetime)
                    .test_before_acquire(false)
                    .acquire_timeout(acquire_timeout)
                    // The OS page cache serves the readers as well as their
                    // own would: 1 MB each rather than 8 took the server's peak
                    // under eight clients' lists from 227–252 MB to 126 MB, and
                    // the queries and searches at 200k and 1M tickets no slower
                    // (docs/performance.md, "Memory after a load").
                    .connect_with(options.create_if_missing(false).pragma("cache_size", "-1000"))
                    .await?
            };
            let batches = crate::group_commit::WriteQueue::start(writer.clone(), write_queue);
            Ok(Db::Sqlite { readers, writer, batches })
        } else {
            Err(StoreError::Config(format!("unsupported database URL `{url}`: use sqlite://PATH or postgres://…")))
        }
    }

    /// Whether several reads may run side by side (not on an in-memory
    /// SQLite database, whose one connection serves everything).
    pub fn parallel_reads(&self) -> bool {
        match self {
            Db::Sqlite { readers, .. } => readers.options().get_max_connections() > 1,
            Db::Postgres(_) => true,
        }
    }

    /// Before a bulk load: drops PostgreSQL's recency indexes (see
    /// [`crate::search::drop_recency_indexes`]). Returns whether it did, for
    /// [`Db::resume_recency_indexes`] after the load. Nothing on SQLite.
    pub async fn pause_recency_indexes(&self) -> Result<bool> {
        match self {
            Db::Sqlite { .. } => Ok(false),
            Db::Postgres(pool) => crate::search::drop_recency_indexes(pool).await,
        }
    }

    /// After a bulk load: makes the recency indexes again, in one pass each.
    pub async fn resume_recency_indexes(&self) -> Result<()> {
        if let Db::Postgres(pool) = self {
            crate::search::ensure_recency_indexes(pool).await?;
        }
        Ok(())
    }

    /// Cuts the search's newest range of documents when it has grown past
    /// its span (`span` numbers; [`crate::search::recency::SPAN`] but in
    /// tests), building each index without holding writes back: the clock
    /// job's, daily. Nothing on SQLite.
    pub async fn refresh_recency_indexes(&self, span: i64) -> Result<()> {
        if let Db::Postgres(pool) = self {
            crate::search::recency::maintain(pool, span, crate::search::recency::Pass::Refresh).await?;
        }
        Ok(())
    }

    /// Keeps the query planner's statistics fresh, as SQLite advises doing
    /// about daily: `PRAGMA optimize` analyses only the tables whose size
    /// changed much, each on a bounded sample (SQLite 3.46), so it is quick
    /// even at a million tickets. PostgreSQL's autovacuum does this itself.
    pub async fn optimize(&self) -> Result<()> {
        if let Db::Sqlite { writer, .. } = self {
            sqlx::query("PRAGMA optimize=0x10002").execute(writer).await?;
        }
        Ok(())
    }

    /// One step of merging SQLite's full-text indexes into a single
    /// segment; `start` begins a new pass. Returns true when there was
    /// nothing left to merge (always on PostgreSQL, whose GIN and RUM
    /// indexes keep themselves).
    ///
    /// FTS5 adds a segment per batch of writes and merges them level by
    /// level: the demo's million tickets had 24 segments, and a query
    /// looked each word up in every one of them (`text ~ "mot de passe"`
    /// 4.5 s; once merged, 0.65 s). A pass rewrites the index, so it runs
    /// daily (the clock job), in steps of [`SEARCH_MERGE_PAGES`] pages that
    /// each hold the writer for tens of milliseconds (at 1M tickets on a
    /// busy 2-core machine: 74 steps, median 86 ms, longest 270 ms).
    pub async fn merge_search_step(&self, start: bool) -> Result<bool> {
        let Db::Sqlite { writer, .. } = self else {
            return Ok(true);
        };
        let pages = if start { -SEARCH_MERGE_PAGES } else { SEARCH_MERGE_PAGES };
        let mut c = writer.acquire().await?;
        let mut done = true;
        for table in ["search_index", "search_titles"] {
            let before: i64 = sqlx::query_scalar("SELECT total_changes()").fetch_one(&mut *c).await?;
            sqlx::query(&format!("INSERT INTO {table} ({table}, rank) VALUES ('merge', $1)"))
                .bind(pages)
                .execute(&mut *c)
                .await?;
            let after: i64 = sqlx::query_scalar("SELECT total_changes()").fetch_one(&mut *c).await?;
            // The command itself counts as one change; more is work done.
            done &= after - before < 2;
        }
        Ok(done)
    }

    /// Merges the full-text indexes to one segment each, step after step.
    pub async fn merge_search(&self) -> Result<()> {
        let mut start = true;
        while !self.merge_search_step(start).await? {
            start = false;
        }
        self.release_writer_cache().await
    }

    /// Gives SQLite's writer's page cache back (`PRAGMA shrink_memory`;
    /// nothing on PostgreSQL), after work that filled it and is over. A
    /// tick's steps of the full-text merge at 1,000,000 tickets fill its 32
    /// MB, and the jobs' small writes every few seconds may keep the
    /// connection from closing: the server held those pages long after
    /// (docs/performance.md, "Connections and caches given back after a
    /// load"). Pages read again come from the operating system's cache.
    pub async fn release_writer_cache(&self) -> Result<()> {
        if let Db::Sqlite { writer, .. } = self {
            sqlx::query("PRAGMA shrink_memory").execute(writer).await?;
        }
        Ok(())
    }

    /// Connections open and idle, and the most allowed, for the metrics.
    pub fn pool_use(&self) -> PoolUse {
        let of = |size: u32, idle: usize, max: u32| PoolUse { open: size, idle: idle as u32, max };
        match self {
            Db::Sqlite { readers, writer, .. } => {
                let (r, w) = (readers.options().get_max_connections(), writer.options().get_max_connections());
                of(readers.size() + writer.size(), readers.num_idle() + writer.num_idle(), r + w)
            }
            Db::Postgres(pool) => of(pool.size(), pool.num_idle(), pool.options().get_max_connections()),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations and returns the schema version.
    ///
    /// On PostgreSQL several nodes may start at once: one applies the
    /// migrations while holding the `migrations` lease and the others wait
    /// for it, then find nothing left to do. sqlx's own lock is a session
    /// advisory lock, which a pooler in transaction mode (PgBouncer) would
    /// hand to another client: it is turned off.
    pub async fn migrate(&self) -> Result<i64> {
        let map = |e: sqlx::migrate::MigrateError| StoreError::Config(format!("migration failed: {e}"));
        match self {
            Db::Sqlite { writer, .. } => SQLITE_MIGRATIONS.run(writer).await.map_err(map)?,
            Db::Postgres(pool) => {
                let holder = crate::leases::one_time_holder("migrations");
                self.bootstrap_leases().await?;
                let term = self.wait_for_lease(MIGRATIONS_LEASE, &holder).await?;
                let keeper = self.keep_lease_while(MIGRATIONS_LEASE, &holder);
                let mut migrator = sqlx::migrate!("../../migrations/postgres");
                migrator.set_locking(false);
                let outcome = migrator.run(pool).await.map_err(map);
                if outcome.is_ok() {
                    // Derived indexes only: the search works without them.
                    if let Err(e) = crate::search::ensure_recency_indexes(pool).await {
                        tracing::warn!(error = %e, "cannot make the search's recency indexes");
                    }
                }
                keeper.abort();
                let mut tx = self.begin().await?;
                crate::leases::release_lease(&mut tx, MIGRATIONS_LEASE, &holder).await?;
                tx.commit().await?;
                tracing::debug!(term, "migrations done under their lease");
                outcome?;
            }
        }
        self.schema_version().await
    }

    /// Makes the leases table if this database has none yet (a fresh one),
    /// under a transaction-level advisory lock: two nodes making it at once
    /// would collide in PostgreSQL's catalog.
    async fn bootstrap_leases(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        if let Raw::Postgres(c) = tx.raw() {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(BOOTSTRAP_LOCK).execute(&mut *c).await?;
            sqlx::query(crate::leases::CREATE_TABLE_IF_MISSING).execute(&mut *c).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes the lease `name`, waiting while another holder has it.
    async fn wait_for_lease(&self, name: &str, holder: &str) -> Result<i64> {
        let mut waited = false;
        loop {
            let mut tx = self.begin().await?;
            let term = crate::leases::acquire_lease(&mut tx, name, holder, ONE_TIME_LEASE_MICROS).await?;
            tx.commit().await?;
            if let Some(term) = term {
                return Ok(term);
            }
            if !waited {
                tracing::info!(lease = name, "another node holds the lease; waiting for it");
                waited = true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Renews the lease `name` every third of its time until aborted.
    fn keep_lease_while(&self, name: &'static str, holder: &str) -> tokio::task::JoinHandle<()> {
        let (db, holder) = (self.clone(), holder.to_owned());
        tokio::spawn(async move {
            let period = Duration::from_micros(u64::try_from(ONE_TIME_LEASE_MICROS / 3).unwrap_or(1));
            loop {
                tokio::time::sleep(period).await;
                let renewed = async {
                    let mut tx = db.begin().await?;
                    crate::leases::acquire_lease(&mut tx, name, &holder, ONE_TIME_LEASE_MICROS).await?;
                    tx.commit().await
                };
                if let Err(e) = renewed.await {
                    tracing::warn!(lease = name, error = %e, "cannot renew a lease");
                }
            }
        })
    }

    /// The schema version this program's migrations lead to.
    pub fn known_version(&self) -> i64 {
        let migrator = match self {
            Db::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The migrations not yet applied, in order: (version, description).
    pub async fn pending_migrations(&self) -> Result<Vec<(i64, String)>> {
        let migrator = match self {
            Db::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        let mut conn = self.conn().await?;
        let sql = "SELECT version FROM _sqlx_migrations WHERE success";
        // A database never migrated has no such table: everything is pending.
        let applied: Vec<i64> = match on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_all(&mut *c).await) {
            Ok(versions) => versions,
            Err(e) if e.to_string().contains("_sqlx_migrations") => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect())
    }

    pub async fn schema_version(&self) -> Result<i64> {
        let mut conn = self.conn().await?;
        let sql = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";
        let version: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_one(&mut *c).await)?;
        Ok(version)
    }

    /// A pooled connection for reads.
    pub async fn conn(&self) -> Result<Conn> {
        Ok(match self {
            Db::Sqlite { readers, .. } => Conn::SqlitePooled(readers.acquire().await?),
            Db::Postgres(pool) => Conn::PostgresPooled(pool.acquire().await?),
        })
    }

    /// Another connection for part of a read split across connections, if
    /// the pool gives one soon. The caller already holds one: waiting for
    /// more as long as the pool allows, as many readers as connections
    /// would each hold one and wait on the others until the pool's time ran
    /// out. `None` on an in-memory SQLite database, whose one connection
    /// serves everything.
    pub async fn spare(&self) -> Result<Option<Conn>> {
        if !self.parallel_reads() {
            return Ok(None);
        }
        match tokio::time::timeout(SPARE_WAIT, self.conn()).await {
            Ok(conn) => conn.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Runs `work` in a write transaction and commits it; on SQLite, writes
    /// arriving together share one commit (see `group_commit`). `work` sees
    /// a transaction: an error rolls back what it wrote, and only what it
    /// wrote. Its result is returned once committed.
    pub async fn write<T, E, F>(&self, work: F) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> futures_util::future::BoxFuture<'c, std::result::Result<T, E>>
            + Send
            + 'static,
    {
        let Db::Sqlite { batches, .. } = self else {
            let mut tx = self.begin().await?;
            let value = work(&mut tx).await?;
            tx.commit().await?;
            return Ok(value);
        };
        let (deliver, delivered) = tokio::sync::oneshot::channel();
        // The writer is another task: the request id goes along with the write.
        let request = crate::context::current_request_id();
        let job: crate::group_commit::Job = Box::new(move |conn| {
            Box::pin(crate::context::with_request_id(request, async move {
                let result = work(conn).await;
                let ok = result.is_ok();
                let finish: crate::group_commit::Finish = Box::new(move |committed| {
                    let _ = deliver.send(committed.map_err(E::from).and(result));
                });
                crate::group_commit::Outcome { ok, finish }
            }))
        });
        batches.push(job).await?;
        delivered.await.map_err(|_| StoreError::NotCommitted("its transaction could not begin"))?
    }

    /// A transaction: nothing it wrote is visible until [`Conn::commit`].
    pub async fn begin(&self) -> Result<Conn> {
        Ok(match self {
            // IMMEDIATE takes the write lock up front, so that a write outside
            // a transaction (on a reader) waits on busy_timeout instead of
            // failing when one upgrades its read lock.
            Db::Sqlite { writer, .. } => Conn::SqliteTx(writer.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Conn::PostgresTx(pool.begin().await?),
        })
    }

    /// Bytes the database takes on disk (SQLite: the database file, without
    /// its transient write-ahead log; PostgreSQL: the whole database).
    pub async fn size_on_disk(&self) -> Result<i64> {
        let mut conn = self.conn().await?;
        Ok(match conn.raw() {
            Raw::Sqlite(c) => {
                let sql = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()";
                sqlx::query_scalar(sql).fetch_one(&mut *c).await?
            }
            Raw::Postgres(c) => {
                sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&mut *c).await?
            }
        })
    }

    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        on_conn!(conn, |c| sqlx::query("SELECT 1").execute(&mut *c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { readers, writer, .. } => {
                readers.close().await;
                writer.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// A connection, pooled or inside a transaction, on either backend.
pub enum Conn {
    SqlitePooled(PoolConnection<Sqlite>),
    SqliteTx(Transaction<'static, Sqlite>),
    PostgresPooled(PoolConnection<Postgres>),
    PostgresTx(Transaction<'static, Postgres>),
}

/// The raw connection behind a [`Conn`], for [`on_conn!`].
pub enum Raw<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Conn {
    pub fn raw(&mut self) -> Raw<'_> {
        match self {
            Conn::SqlitePooled(c) => Raw::Sqlite(c),
            Conn::SqliteTx(t) => Raw::Sqlite(t),
            Conn::PostgresPooled(c) => Raw::Postgres(c),
            Conn::PostgresTx(t) => Raw::Postgres(t),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Conn::SqlitePooled(_) | Conn::SqliteTx(_) => Backend::Sqlite,
            Conn::PostgresPooled(_) | Conn::PostgresTx(_) => Backend::Postgres,
        }
    }

    /// Whether a statement whose best plan depends on its values may stay
    /// prepared on this connection. SQLite plans a kept statement as it
    /// would a new one (with STAT4, again when a value bound may change the
    /// plan). PostgreSQL plans a prepared statement for its values five
    /// times, then may keep one generic plan for any values: the query
    /// language's lists took 0.3–4.2 s with generic plans at 1,000,000
    /// tickets, against 3–28 ms planned for their values.
    pub fn may_keep_prepared(&self) -> bool {
        self.backend() == Backend::Sqlite
    }

    /// Commits a transaction (a pooled connection has nothing to commit).
    /// Undoes a transaction's writes now (dropping it does too, later).
    pub async fn rollback(self) -> Result<()> {
        match self {
            Conn::SqliteTx(t) => t.rollback().await?,
            Conn::PostgresTx(t) => t.rollback().await?,
            Conn::SqlitePooled(_) | Conn::PostgresPooled(_) => {}
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Conn::SqliteTx(t) => t.commit().await?,
            Conn::PostgresTx(t) => t.commit().await?,
            Conn::SqlitePooled(_) | Conn::PostgresPooled(_) => {}
        }
        Ok(())
    }
}

/// An UPDATE or DELETE aimed at one row: none affected means the row does not exist.
/// `$first, $first+1, …`: `count` numbered parameters of a statement.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

pub fn one_row(affected: u64) -> Result<()> {
    if affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

pub fn opt_from_micros(micros: Option<i64>) -> Option<DateTime<Utc>> {
    micros.map(from_micros)
}

/// Parses a stored vocabulary code; a code the domain does not know is data
/// corruption, reported as an internal error rather than a panic.
pub fn decode<T>(code: &str, parse: impl Fn(&str) -> Result<T, guichet_domain::DomainError>) -> Result<T> {
    parse(code).map_err(|e| StoreError::Internal(sqlx::Error::Decode(e.to_string().into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_left_unused_are_closed_within_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("guichet.db").display());
        let db = Db::connect(&url, true).await.unwrap();
        db.migrate().await.unwrap();
        // Four readers at once, as under a load, beside the writer.
        let held = futures_util::future::join_all((0..4).map(|_| db.conn())).await;
        drop(held);
        let after_load = db.pool_use().open;
        assert!(after_load >= 5, "at least four readers and the writer: {after_load}");
        // In steady use, a connection is handed out again, none reopened.
        drop(db.conn().await.unwrap());
        assert_eq!(db.pool_use().open, after_load);
        // Once the load is over, only the background jobs read, one query
        // a second, each on the connection the pool hands out next: within
        // a few seconds the others are closed, with what they hold.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let conn = &mut db.conn().await.unwrap();
            on_conn!(conn, |c| sqlx::query("SELECT 1").execute(&mut *c).await.map(|_| ())).unwrap();
        }
        let open = db.pool_use().open;
        assert!(open <= 3, "the jobs' reader or two, and the writer: {open} open");
    }

    #[tokio::test]
    async fn sqlite_connections_each_keep_their_own_page_cache() {
        // With SQLITE_ENABLE_MEMORY_MANAGEMENT, which libsqlite3-sys turns
        // on, all of a process's connections share one page cache: once a
        // fourth reader had run a report, the others read each page up to
        // 4.5 times as often (docs/performance.md, "One page cache per
        // connection"). `.cargo/config.toml` turns it off.
        let db = Db::connect("sqlite::memory:", true).await.unwrap();
        let conn = &mut db.conn().await.unwrap();
        let options: Vec<String> =
            on_conn!(conn, |c| sqlx::query_scalar("PRAGMA compile_options").fetch_all(&mut *c).await).unwrap();
        assert!(options.iter().any(|o| o.starts_with("THREADSAFE=")), "the bundled SQLite's options: {options:?}");
        assert!(!options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"), "one page cache for every connection");
    }
}
