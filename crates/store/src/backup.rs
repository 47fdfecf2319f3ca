//! Consistent copies of a live SQLite database and their checks. The files
//! around them (names, fsync, rotation, pg_dump for PostgreSQL) are the
//! command's business; this is what needs a database connection.

use crate::db::{Db, Raw, Result, StoreError};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The first bytes of every SQLite database file.
pub const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// The file behind a `sqlite://` URL (`None` for an in-memory database or
/// a PostgreSQL URL, which sqlx would otherwise take for a file name).
pub fn sqlite_file(url: &str) -> Result<Option<PathBuf>> {
    if crate::db::is_postgres_url(url) {
        return Ok(None);
    }
    let options = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Config(e.to_string()))?;
    let path = options.get_filename();
    Ok((path != Path::new(":memory:")).then(|| path.to_owned()))
}

/// Writes a consistent copy of the live database to `to` (which must not
/// exist), while writers go on: `VACUUM INTO` reads one snapshot of the
/// write-ahead log, so the copy holds every write committed before it began
/// and none after, compacted, with no `-wal` of its own.
pub async fn sqlite_snapshot(db: &Db, to: &Path) -> Result<()> {
    let mut conn = db.conn().await?;
    let Raw::Sqlite(c) = conn.raw() else {
        return Err(StoreError::Config("a SQLite snapshot needs a SQLite database".into()));
    };
    let to = to.to_str().ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", to.display())))?;
    sqlx::query("VACUUM INTO ?").bind(to).execute(&mut *c).await?;
    Ok(())
}

/// Opens a SQLite file read-only, runs `PRAGMA integrity_check` and reads
/// its schema version: the version, or what is wrong with it.
pub async fn sqlite_check(path: &Path) -> std::result::Result<i64, String> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .connect()
        .await
        .map_err(|e| format!("cannot open it as a SQLite database: {e}"))?;
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("not a SQLite database: {e}"))?;
    if problems != ["ok"] {
        return Err(format!("integrity check failed: {}", problems.join("; ")));
    }
    let version: std::result::Result<i64, _> =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await;
    let _ = conn.close().await;
    version.map_err(|_| "not a Guichet database (it has no schema version)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgresql_url_names_no_sqlite_file() {
        assert_eq!(sqlite_file("postgres://guichet@127.0.0.1:5432/guichet").unwrap(), None);
        assert_eq!(sqlite_file("postgresql://127.0.0.1/guichet").unwrap(), None);
        assert_eq!(sqlite_file("sqlite://data/guichet.db").unwrap(), Some(PathBuf::from("data/guichet.db")));
    }
}
