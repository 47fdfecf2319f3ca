//! `guichet backup` and `guichet restore`: a consistent copy of the live
//! database, and putting one back into an empty place. SQLite is copied by
//! the database itself (`VACUUM INTO`), checked, synced and renamed into
//! place, so a backup file either is whole or does not exist. PostgreSQL is
//! PostgreSQL's own business: `pg_dump` and `pg_restore`, found and run here.

use crate::config::Config;
use anyhow::{bail, Context};
use guichet_store::backup::{sqlite_check, sqlite_file, sqlite_snapshot, SQLITE_MAGIC};
use guichet_store::Db;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// What a backup's file name starts with; rotation only touches these.
const PREFIX: &str = "guichet-";
/// The first bytes of a `pg_dump --format=custom` file.
const PG_DUMP_MAGIC: &[u8] = b"PGDMP";

pub async fn backup(config: &Config, to: Option<&Path>, keep: Option<usize>) -> anyhow::Result<ExitCode> {
    let (url, _) = config.database()?;
    let dir = to.map_or_else(|| config.data_dir.join("backups"), Path::to_path_buf);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the backup folder {}", dir.display()))?;
    let started = Instant::now();
    let postgres = !url.starts_with("sqlite:");
    let extension = if postgres { "dump" } else { "db" };
    let stamp = guichet_domain::clock::Clock::now(&guichet_app::SystemClock).format("%Y%m%dT%H%M%SZ");
    let mut name = format!("{PREFIX}{stamp}.{extension}");
    for n in 2.. {
        if !dir.join(&name).exists() {
            break;
        }
        name = format!("{PREFIX}{stamp}-{n}.{extension}");
    }
    let target = dir.join(&name);
    let partial = dir.join(format!(".{name}.partial"));
    let outcome = if postgres {
        pg_dump(&url, &partial, &target)
    } else {
        sqlite_backup(&url, &partial).await.map(|version| format!("schema version {version}"))
    };
    let detail = match outcome {
        Ok(detail) => detail,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    sync_file(&partial)?;
    std::fs::rename(&partial, &target).with_context(|| format!("cannot rename the backup to {}", target.display()))?;
    sync_dir(&dir)?;
    let size = std::fs::metadata(&target)?.len();
    println!(
        "backup written: {} ({:.1} MB, {detail}) in {:.1} s",
        target.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if let Some(keep) = keep {
        for old in rotate(&dir, extension, keep)? {
            println!("removed the older backup {}", old.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Snapshots the live SQLite database into `partial` and checks the copy.
async fn sqlite_backup(url: &str, partial: &Path) -> anyhow::Result<i64> {
    let file = sqlite_file(url)?.context("an in-memory database has nothing to back up")?;
    if !file.exists() {
        bail!("there is no database at {} to back up", file.display());
    }
    let _ = std::fs::remove_file(partial);
    // No migration: a backup copies the database as it is.
    let db = Db::connect(url, false).await.context("cannot open the database")?;
    let progress = crate::progress::Progress::waiting("copying the database");
    let copied = sqlite_snapshot(&db, partial).await;
    progress.finish().await;
    db.close().await;
    copied.context("cannot copy the database")?;
    sqlite_check(partial).await.map_err(|e| anyhow::anyhow!("the copy is not sound ({e}); nothing was kept"))
}

/// `pg_dump` in its custom format (compressed, restored selectively by
/// `pg_restore`), with the password in the environment rather than on a
/// command line that `ps` shows.
fn pg_dump(url: &str, partial: &Path, target: &Path) -> anyhow::Result<String> {
    let (bare, password) = without_password(url)?;
    let Some(pg_dump) = postgres_tool("pg_dump") else {
        bail!(
            "pg_dump was not found (install the postgresql-client package), or run it yourself: \
             pg_dump --format=custom --file={} '{bare}'",
            target.display()
        );
    };
    let mut command = Command::new(&pg_dump);
    command.args(["--format=custom", "--no-password", "--file"]).arg(partial).arg("--dbname").arg(&bare);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let out = command.output().with_context(|| format!("cannot run {}", pg_dump.display()))?;
    if !out.status.success() {
        bail!("pg_dump failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(format!("pg_dump custom format, by {}", pg_dump.display()))
}

/// The URL without its password, and the password (percent-decoded).
fn without_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut parsed = url::Url::parse(url).context("the database URL is not a URL")?;
    let password = parsed.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), password))
}

/// A PostgreSQL client program: on the PATH, or in the newest
/// `/usr/lib/postgresql/*/bin` (Debian installs them there).
fn postgres_tool(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.filter_map(|d| d.ok()).map(|d| d.path().join("bin").join(name)).collect())
        .unwrap_or_default();
    versions
        .sort_by_key(|p| p.components().nth(4).and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok()).unwrap_or(0));
    on_path.into_iter().chain(versions.into_iter().rev()).find(|p| p.is_file())
}

/// Removes the oldest backups of this kind beyond the `keep` newest; returns them.
fn rotate(dir: &Path, extension: &str, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(PREFIX) && name.ends_with(&format!(".{extension}"))
        })
        .collect();
    backups.sort_by_key(|p| age(p.file_name().and_then(|n| n.to_str()).unwrap_or("")));
    let excess = backups.len().saturating_sub(keep.max(1));
    let old: Vec<PathBuf> = backups.into_iter().take(excess).collect();
    for path in &old {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(old)
}

/// A backup's name holds its UTC time, then `-2`, `-3`… for a second
/// backup within the same second: the order of their ages.
fn age(name: &str) -> (String, u32) {
    let stem = name.split('.').next().unwrap_or(name);
    match stem.rsplit_once("Z-") {
        Some((stamp, n)) => (stamp.to_owned(), n.parse().unwrap_or(0)),
        None => (stem.trim_end_matches('Z').to_owned(), 1),
    }
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot write {} to disk", path.display()))
}

/// A rename is durable once its folder is synced.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", dir.display()))
}

/// Which kind of backup a file is, by its first bytes.
fn kind_of(file: &Path) -> anyhow::Result<&'static str> {
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let n = f.read(&mut head).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(if head[..n].starts_with(SQLITE_MAGIC) {
        "sqlite"
    } else if head[..n].starts_with(PG_DUMP_MAGIC) {
        "postgres"
    } else {
        "unknown"
    })
}

pub async fn restore(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    let (url, _) = config.database()?;
    let postgres = !url.starts_with("sqlite:");
    match (kind_of(file)?, postgres) {
        ("sqlite", false) => restore_sqlite(&url, file).await,
        ("postgres", true) => restore_postgres(&url, file).await,
        ("sqlite", true) => {
            bail!("{} is a SQLite backup and the database is PostgreSQL: restore it with --data-dir", file.display())
        }
        ("postgres", false) => bail!(
            "{} is a PostgreSQL dump and the database is SQLite: restore it with --database-url postgres://…",
            file.display()
        ),
        _ => bail!("{} is not a Guichet backup (neither a SQLite database nor a pg_dump file)", file.display()),
    }
}

async fn restore_sqlite(url: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let version =
        sqlite_check(file).await.map_err(|e| anyhow::anyhow!("{} cannot be restored: {e}", file.display()))?;
    let target = sqlite_file(url)?.context("cannot restore into an in-memory database")?;
    if target.exists() {
        bail!(
            "a database already exists at {}: restore only into an empty data directory (stop the service and move it away first)",
            target.display()
        );
    }
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // A write-ahead log without its database belongs to a database that is
    // gone: SQLite would replay it into the restored one.
    for stale in ["-wal", "-shm", "-journal"] {
        let path = PathBuf::from(format!("{}{stale}", target.display()));
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove the stale {}", path.display()))?;
            println!("removed the stale {} left without its database", path.display());
        }
    }
    let partial = PathBuf::from(format!("{}.restoring", target.display()));
    std::fs::copy(file, &partial).with_context(|| format!("cannot copy {} to {}", file.display(), dir.display()))?;
    sync_file(&partial)?;
    // Another restore or a server may have created it meanwhile: never replace it.
    if target.exists() {
        let _ = std::fs::remove_file(&partial);
        bail!("a database appeared at {} during the restore; nothing was changed", target.display());
    }
    std::fs::rename(&partial, &target).with_context(|| format!("cannot put the database at {}", target.display()))?;
    sync_dir(dir)?;
    println!(
        "restored {} into {} (schema version {version}); the next `guichet migrate` or `serve` brings it up to date",
        file.display(),
        target.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn restore_postgres(url: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let db = Db::connect(url, false).await.context("cannot open the database (create it empty first)")?;
    let mut conn = db.conn().await?;
    let sql = "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()";
    let tables: i64 = guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_one(&mut *c).await)?;
    drop(conn);
    db.close().await;
    if tables > 0 {
        bail!("the database already has {tables} tables: restore only into an empty database (createdb a new one)");
    }
    let (bare, password) = without_password(url)?;
    let pg_restore =
        postgres_tool("pg_restore").context("pg_restore was not found: install the postgresql-client package")?;
    let list = restore_list(&pg_restore, file)?;
    let mut command = Command::new(&pg_restore);
    command
        .args(["--exit-on-error", "--no-owner", "--no-privileges", "--single-transaction", "--no-password"])
        .arg("--use-list")
        .arg(list.path())
        .arg("--dbname")
        .arg(&bare)
        .arg(file);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let out = command.output().with_context(|| format!("cannot run {}", pg_restore.display()))?;
    if !out.status.success() {
        bail!("pg_restore failed, nothing was restored: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let db = Db::connect(url, false).await?;
    let version = db.schema_version().await?;
    db.close().await;
    println!(
        "restored {} (schema version {version}); the next `guichet migrate` or `serve` brings it up to date",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The dump's table of contents without the search's RUM extension and
/// indexes: only a superuser may create that extension, and a server may
/// lack it; they are derived data, which `guichet migrate` makes again
/// where it can (`guichet_store::search::ensure_recency_indexes`).
fn restore_list(pg_restore: &Path, file: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let out = Command::new(pg_restore)
        .arg("--list")
        .arg(file)
        .output()
        .with_context(|| format!("cannot run {}", pg_restore.display()))?;
    if !out.status.success() {
        bail!("pg_restore cannot read {}: {}", file.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let mut list = tempfile::NamedTempFile::new().context("cannot write pg_restore's list")?;
    let kept = keep_in_restore(&String::from_utf8_lossy(&out.stdout));
    std::io::Write::write_all(&mut list, kept.as_bytes()).context("cannot write pg_restore's list")?;
    Ok(list)
}

/// The lines of `pg_restore --list` to restore (see [`restore_list`]).
fn keep_in_restore(list: &str) -> String {
    list.lines()
        .filter(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let rum = words.windows(3).any(|w| w == ["EXTENSION", "-", "rum"] || w[1..] == ["EXTENSION", "rum"]);
            let recency_index = words.windows(3).any(|w| w[0] == "INDEX" && w[2].starts_with("search_docs_recent_"));
            !rum && !recency_index
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_leaves_out_the_rum_extension_and_the_indexes_made_from_it() {
        let list = "\
;\n; Archive created at 2026-12-02 23:40:01 UTC\n\
2; 3079 16385 EXTENSION - pg_trgm \n\
4380; 0 0 COMMENT - EXTENSION pg_trgm \n\
3; 3079 16466 EXTENSION - rum \n\
4381; 0 0 COMMENT - EXTENSION rum \n\
215; 1259 16500 TABLE public search_docs postgres\n\
4100; 1259 16900 INDEX public search_docs_recent_0_idx postgres\n\
4101; 1259 16901 INDEX public search_docs_tsv_idx postgres\n\
4102; 1259 16902 INDEX public rumour_idx postgres\n";
        let kept = keep_in_restore(list);
        assert!(kept.contains("EXTENSION - pg_trgm") && kept.contains("COMMENT - EXTENSION pg_trgm"), "{kept}");
        assert!(kept.contains("TABLE public search_docs ") && kept.contains("search_docs_tsv_idx"), "{kept}");
        assert!(kept.contains("rumour_idx"), "{kept}");
        assert!(!kept.contains("EXTENSION - rum") && !kept.contains("EXTENSION rum"), "{kept}");
        assert!(!kept.contains("search_docs_recent_0_idx"), "{kept}");
    }

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (bare, password) = without_password("postgres://guichet:p%40ss%3Aw@127.0.0.1:5432/guichet").unwrap();
        assert_eq!(bare, "postgres://guichet@127.0.0.1:5432/guichet");
        assert_eq!(password.as_deref(), Some("p@ss:w"));
        let (bare, password) = without_password("postgres://127.0.0.1/guichet").unwrap();
        assert_eq!(bare, "postgres://127.0.0.1/guichet");
        assert_eq!(password, None);
    }

    #[test]
    fn rotation_keeps_the_newest_of_its_own_kind_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "guichet-20261201T100000Z.db",
            "guichet-20261202T100000Z.db",
            "guichet-20261202T100000Z-2.db",
            "guichet-20261130T100000Z.dump",
            "notes.db",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let removed = rotate(dir.path(), "db", 2).unwrap();
        assert_eq!(removed, vec![dir.path().join("guichet-20261201T100000Z.db")]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "guichet-20261130T100000Z.dump",
                "guichet-20261202T100000Z-2.db",
                "guichet-20261202T100000Z.db",
                "notes.db"
            ]
        );
    }
}
