//! Who is acting, and what that lets them see. Every permission question about
//! tickets is answered here so that no handler decides on its own.

use crate::ids::{EstablishmentId, UserId};
use crate::user::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: UserId,
    pub role: Role,
    /// The establishments a requester belongs to (empty for staff).
    pub establishments: Vec<EstablishmentId>,
}

/// The tickets an actor may see, applied inside every ticket query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketScope {
    All,
    Establishments(Vec<EstablishmentId>),
}

impl Actor {
    pub fn scope(&self) -> TicketScope {
        if self.role.is_staff() {
            TicketScope::All
        } else {
            TicketScope::Establishments(self.establishments.clone())
        }
    }

    pub fn can_see_establishment(&self, establishment: EstablishmentId) -> bool {
        self.role.is_staff() || self.establishments.contains(&establishment)
    }

    /// Internal notes, their attachments and internal history entries.
    pub fn can_see_internal(&self) -> bool {
        self.role.is_staff()
    }

    /// Establishments, users and categories are managed by admins only.
    pub fn can_manage_directory(&self) -> bool {
        self.role == Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requester_sees_only_own_establishments() {
        let a = Actor { user: UserId(1), role: Role::Requester, establishments: vec![EstablishmentId(3)] };
        assert!(a.can_see_establishment(EstablishmentId(3)));
        assert!(!a.can_see_establishment(EstablishmentId(4)));
        assert!(!a.can_see_internal());
        assert_eq!(a.scope(), TicketScope::Establishments(vec![EstablishmentId(3)]));
    }

    #[test]
    fn staff_see_everything_but_only_admins_manage() {
        for role in [Role::Agent, Role::Technician, Role::Admin] {
            let a = Actor { user: UserId(1), role, establishments: vec![] };
            assert!(a.can_see_establishment(EstablishmentId(9)) && a.can_see_internal());
            assert_eq!(a.can_manage_directory(), role == Role::Admin);
        }
    }
}
