//! The four credential types of Vault's AWS engine, as a closed set.
//!
//! Roles store them as strings (the Go plugin's JSON, so stored roles stay readable by both);
//! everything that acts on a type matches on [`CredentialType`] without a wildcard arm, so a new
//! type does not compile until every place that must handle it does: issue dispatch
//! (`creds.rs`) and the role rules (`roles.rs`, `rules`).

use std::fmt;

/// Defines the enum, its wire strings and [`CredentialType::ALL`] from one list, so the list of
/// all types cannot miss one.
macro_rules! credential_types {
    ($($(#[$doc:meta])* $variant:ident => $wire:literal,)*) => {
        /// A credential type a role can issue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) enum CredentialType {
            $($(#[$doc])* $variant,)*
        }

        impl CredentialType {
            /// Every type, in the order Vault lists them.
            pub(crate) const ALL: &'static [CredentialType] = &[$(CredentialType::$variant,)*];

            /// The stored and wire name (`iam_user`, ...).
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(CredentialType::$variant => $wire,)*
                }
            }
        }
    };
}

credential_types! {
    /// A new IAM user with an access key per lease (`iam:CreateUser`).
    IamUser => "iam_user",
    /// `sts:AssumeRole`.
    AssumedRole => "assumed_role",
    /// `sts:GetFederationToken`.
    FederationToken => "federation_token",
    /// `sts:GetSessionToken` (Vault 1.16+).
    SessionToken => "session_token",
}

impl CredentialType {
    /// The type named `s`, if it is one.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in CredentialType::ALL {
            assert_eq!(CredentialType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(CredentialType::ALL.len(), 4);
        assert_eq!(CredentialType::parse("bogus"), None);
        assert_eq!(CredentialType::parse(""), None);
    }
}
