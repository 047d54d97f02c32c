//! The vault: one replica of the fleet's key vault (SPEC.md "Vault protocol").

pub mod change;
pub mod consensus_store;
pub mod genesis;
pub mod record;
mod regenesis;
pub mod replica;
pub mod replica_link;
pub mod replica_wire;
pub mod store;
pub mod trusted;

pub use change::{Applied, ChangeOutcome, PreparedLogin, RecordChange};
pub use consensus_store::{ConsensusStore, RecordReplica, StartKind};
pub use genesis::{CensusMessage, Lineage};
pub use record::{
    AccountRecord, ActiveRecord, DEFAULT_ATTEMPT_LIMIT, MAX_ATTEMPT_LIMIT, PendingLogin,
    PendingRecord, RecordState, Registration,
};
pub use replica::{
    OpenedDisk, RestoreError, VaultFault, VaultOutput, VaultReplica, open_disk, open_replica_write,
    ticket_aad, ticket_aad_in,
};
pub use replica_link::{DurableSlot, LinkEnvelope, ReplicaPlace};
pub use store::{
    LocalStore, RecordStore, ReplicaBody, ReplicaMessage, ReplicaPeerMessage, StoreEvent, Ticket,
};
pub use trusted::{
    CountedWrite, DurableImage, DurableOrVolatile, ImageError, MemoryOrVolatileTrust,
    MemoryTrustedState, OwnedTrustedState, ReplicaWrite, TrustedCell, TrustedState,
    TrustedStateError, VolatileTrust,
};
