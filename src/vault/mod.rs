//! The vault: one replica of the fleet's key vault (SPEC.md "Vault protocol").

pub mod change;
pub mod record;
pub mod replica;
pub mod store;

pub use change::{Applied, ChangeOutcome, PreparedLogin, RecordChange};
pub use record::{
    AccountRecord, ActiveRecord, DEFAULT_ATTEMPT_LIMIT, MAX_ATTEMPT_LIMIT, PendingLogin,
    PendingRecord, RecordState, Registration,
};
pub use replica::{RestoreError, VaultOutput, VaultReplica};
pub use store::{LocalStore, RecordStore, StoreEvent, Ticket};
