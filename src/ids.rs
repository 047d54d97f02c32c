//! Identifiers of accounts and vault fleets (SPEC.md "Vault protocol", "Identities").

use alloc::vec::Vec;
use core::fmt;

/// Longest account or fleet identifier, in bytes.
pub const MAX_ID_LEN: usize = 255;

/// Why an identifier was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The identifier was empty.
    Empty,
    /// The identifier was longer than [`MAX_ID_LEN`].
    TooLong,
}

impl core::fmt::Display for IdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => f.write_str("the identifier is empty"),
            Self::TooLong => write!(f, "the identifier is longer than {MAX_ID_LEN} bytes"),
        }
    }
}

impl core::error::Error for IdError {}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// Makes an identifier of 1..=[`MAX_ID_LEN`] bytes.
            pub fn new(bytes: &[u8]) -> Result<Self, IdError> {
                if bytes.is_empty() {
                    return Err(IdError::Empty);
                }
                if bytes.len() > MAX_ID_LEN {
                    return Err(IdError::TooLong);
                }
                Ok(Self(bytes.to_vec()))
            }

            /// The identifier's bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                for b in &self.0 {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(")")
            }
        }
    };
}

id_type!(
    /// The account a relay's transport authenticated (for example a phone number's hash).
    AccountId
);
id_type!(
    /// The vault fleet's identity; OPAQUE's server identity.
    FleetId
);

/// Names one vault replica group (the relay's `group_for` picks an account's group; its
/// replicas are numbered by `ReplicaId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GroupId(pub u32);

impl core::fmt::Display for GroupId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "group {}", self.0)
    }
}

/// Names the relay a vault request came from, as the vault's host knows it (for example one
/// connection from a relay). The vault answers with the same tag
/// (`ToRelay { relay, .. }`), so a host routes a reply without reading it, and the vault keys
/// the requests it works on by (relay, `route_id`): route ids are the relay's own, and two
/// relays' route ids may be equal. Unauthenticated, like the route id: routing only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelayTag(pub u64);

impl core::fmt::Display for RelayTag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "relay {}", self.0)
    }
}
