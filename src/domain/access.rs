//! Who may do what: API token roles and what each one may see.
//!
//! - [`Role`]: admin (everything, tokens), staff (read/write inventory,
//!   trigger scans), viewer (read everything), client (read its own
//!   client's data only).
//! - [`Visibility`]: the rows a caller may see; every store read takes one,
//!   so a client token cannot see another client's rows by forgetting a filter.

use std::fmt;

/// The role of an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Staff,
    Viewer,
    Client,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Staff, Role::Viewer, Role::Client];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Staff => "staff",
            Self::Viewer => "viewer",
            Self::Client => "client",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// May the role do `action`?
    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::Read => true,
            Action::ReadAll => !matches!(self, Self::Client),
            Action::Write | Action::Scan => matches!(self, Self::Admin | Self::Staff),
            Action::ManageTokens => matches!(self, Self::Admin),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read rows within the caller's visibility.
    Read,
    /// Read what is not any one client's (metrics of the whole fleet).
    ReadAll,
    /// Create, change or delete clients, contacts, domains, endpoints.
    Write,
    /// Start a scan.
    Scan,
    /// Create, list and revoke API tokens.
    ManageTokens,
}

/// The rows a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    All,
    /// Only this client's (by id).
    Client(i64),
}

impl Visibility {
    /// The client id to filter on, `None` for everything.
    pub fn client_id(self) -> Option<i64> {
        match self {
            Self::All => None,
            Self::Client(id) => Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_exactly_their_actions() {
        use Action::*;
        let table = [
            (Role::Admin, [true, true, true, true, true]),
            (Role::Staff, [true, true, true, true, false]),
            (Role::Viewer, [true, true, false, false, false]),
            (Role::Client, [true, false, false, false, false]),
        ];
        for (role, expected) in table {
            let got = [Read, ReadAll, Write, Scan, ManageTokens].map(|a| role.allows(a));
            assert_eq!(got, expected, "{role}");
        }
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
