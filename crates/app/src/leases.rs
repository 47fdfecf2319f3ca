//! Jobs only one node may run at a time hold a lease (see the store's
//! `leases`); each write they make checks, in its own transaction, that the
//! lease is still theirs in the same term (a fence), so that a node that
//! lost it while paused cannot write as if it still held it.

use crate::{App, AppError};
use guichet_store::leases::LeaseRecord;
use guichet_store::Conn;

/// A lease held: its name, this node, and the term it was held in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub name: String,
    pub holder: String,
    pub term: i64,
}

impl App {
    /// Takes or renews the lease `name` for this node for `ttl`; None when
    /// another node holds it.
    pub async fn acquire_lease(&self, name: &str, ttl: std::time::Duration) -> Result<Option<Fence>, AppError> {
        let ttl = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        let mut tx = self.db.begin().await?;
        let term = guichet_store::leases::acquire_lease(&mut tx, name, &self.settings.node, ttl).await?;
        tx.commit().await?;
        Ok(term.map(|term| Fence { name: name.to_owned(), holder: self.settings.node.clone(), term }))
    }

    /// Gives a lease back at once, so that another node takes over without
    /// waiting for it to expire.
    pub async fn release_lease(&self, fence: &Fence) -> Result<(), AppError> {
        let mut tx = self.db.begin().await?;
        guichet_store::leases::release_lease(&mut tx, &fence.name, &fence.holder).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refuses a write made under a lease that is no longer this node's.
    pub(crate) async fn check_fence(&self, tx: &mut Conn, fence: Option<&Fence>) -> Result<(), AppError> {
        let Some(f) = fence else { return Ok(()) };
        if guichet_store::leases::holds_lease(tx, &f.name, &f.holder, f.term).await? {
            Ok(())
        } else {
            Err(AppError::LeaseLost(f.name.clone()))
        }
    }

    /// How long until another node's lease `name` lapses (by the database's
    /// clock): when to try to take it over.
    pub async fn lease_remaining(&self, name: &str) -> Result<Option<std::time::Duration>, AppError> {
        let mut conn = self.db.conn().await?;
        let left = guichet_store::leases::lease_remaining(&mut conn, name).await?;
        Ok(left.map(|micros| std::time::Duration::from_micros(u64::try_from(micros).unwrap_or(0))))
    }

    /// Every lease and who holds it.
    pub async fn leases(&self) -> Result<Vec<LeaseRecord>, AppError> {
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::leases::list_leases(&mut conn).await?)
    }

    /// The leases this node holds now.
    pub async fn leases_held(&self) -> Result<Vec<LeaseRecord>, AppError> {
        let mut conn = self.db.conn().await?;
        let now = guichet_store::leases::database_now(&mut conn).await?;
        let all = guichet_store::leases::list_leases(&mut conn).await?;
        Ok(all.into_iter().filter(|l| l.holder == self.settings.node && l.expires_at > now).collect())
    }
}
