//! The vault: one replica of the fleet's key vault (SPEC.md "Vault protocol"): a
//! [`SingleVault`] on its own records, or a [`ReplicatedVault`] in a group.

pub mod change;
pub mod consensus_store;
mod engine;
mod failures;
pub mod genesis;
pub mod record;
mod regenesis;
pub mod replica_link;
pub mod replica_wire;
mod replicated;
mod single;
pub mod store;
pub mod trusted;

pub use change::{Applied, ChangeOutcome, PreparedLogin, RecordChange};
pub use consensus_store::{ConsensusStore, RecordReplica, StartKind};
pub use engine::{IN_FLIGHT_COPIES_MAX, RestoreError, VaultFault, ticket_aad, ticket_aad_in};
pub use failures::FailureCounts;
pub use genesis::{CensusMessage, Lineage};
pub use record::{
    AccountRecord, ActiveRecord, DEFAULT_ATTEMPT_LIMIT, MAX_ATTEMPT_LIMIT, PendingLogin,
    PendingRecord, RecordState, Registration,
};
pub use replica_link::{DurableSlot, LinkEnvelope, ReplicaPlace};
pub use replicated::{
    OpenedDisk, ReplicatedVault, ReplicatedVaultOutput, open_disk, open_replica_write,
};
pub use single::{SingleVault, SingleVaultOutput};
pub use store::{
    LocalStore, RecordStore, RecordWrite, ReplicaBody, ReplicaEffect, ReplicaMessage,
    ReplicaPeerMessage, ReplicatedStore, StoreEvent, StoreFault, Ticket,
};
pub use trusted::{
    CountedWrite, DurableImage, DurableOrVolatile, ImageError, MemoryOrVolatileTrust,
    MemoryTrustedState, OwnedTrustedState, ReplicaWrite, TrustedCell, TrustedState,
    TrustedStateError, VolatileTrust,
};
