//! Sealing of replica-to-replica messages and of consensus durable writes (SPEC.md
//! "Replication", "Replica link").
//!
//! A [`LinkEnvelope`] carries a replica message sealed under the fleet replica-link key with
//! AAD = [`LABEL_REPLICA_LINK_AAD`] ‖ group ‖ from ‖ to: a message cannot be redirected to
//! another group or replica, or attributed to another sender. A durable write is sealed under
//! the storage key with AAD = [`LABEL_REPLICA_STATE_AAD`] ‖ group ‖ replica ‖ slot, so a host
//! cannot move one replica's state to another replica or another account.

use alloc::vec::Vec;

use crate::consensus::ReplicaId;
use crate::crypto::labels::{LABEL_REPLICA_LINK_AAD, LABEL_REPLICA_STATE_AAD};
use crate::ids::{AccountId, GroupId};
use crate::wire::codec::{DecodeError, Reader, Writer};

/// Version byte of a [`LinkEnvelope`].
pub const LINK_ENVELOPE_VERSION: u8 = 1;
/// Slot code of the replica-wide meta record in a durable-write AAD.
pub const SLOT_META: u8 = 0x01;
/// Slot code of one account's acceptor state in a durable-write AAD.
pub const SLOT_REGISTER: u8 = 0x02;

/// Where a sealed consensus durable write belongs (the host's storage key for it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DurableSlot {
    /// The replica-wide `ReplicaMeta`.
    Meta,
    /// The acceptor state of one account's record.
    Register(AccountId),
}

/// Where a replicated store sits: its group and its own replica id (bound into every sealed
/// replica message and durable write; SPEC.md "Replica link").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplicaPlace {
    /// The replica group (as the relay's `group_for` names it).
    pub group: GroupId,
    /// This replica's id within the group.
    pub replica: ReplicaId,
}

/// A sealed replica message as it travels between two replicas of one group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkEnvelope {
    /// The replica group.
    pub group: GroupId,
    /// The sender.
    pub from: ReplicaId,
    /// The receiver.
    pub to: ReplicaId,
    /// The message, sealed under the replica-link key.
    pub sealed: Vec<u8>,
}

impl LinkEnvelope {
    /// Encodes: version ‖ group (u32) ‖ from (u8) ‖ to (u8) ‖ sealed (u32 length + bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(LINK_ENVELOPE_VERSION)
            .u32(self.group.0)
            .u8(self.from.0)
            .u8(self.to.0)
            .bytes32(&self.sealed);
        w.into_bytes()
    }

    /// Decodes; rejects other versions and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != LINK_ENVELOPE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let envelope = Self {
            group: GroupId(r.u32()?),
            from: ReplicaId(r.u8()?),
            to: ReplicaId(r.u8()?),
            sealed: r.bytes32()?.to_vec(),
        };
        r.finish()?;
        Ok(envelope)
    }
}

/// The AAD of a message from `from` to `to` in `group`.
pub fn link_aad(group: GroupId, from: ReplicaId, to: ReplicaId) -> Vec<u8> {
    let mut aad = LABEL_REPLICA_LINK_AAD.to_vec();
    aad.extend_from_slice(&group.0.to_be_bytes());
    aad.push(from.0);
    aad.push(to.0);
    aad
}

/// The AAD of a durable write of `place` in `slot`.
pub fn durable_aad(place: ReplicaPlace, slot: &DurableSlot) -> Vec<u8> {
    let mut aad = LABEL_REPLICA_STATE_AAD.to_vec();
    aad.extend_from_slice(&place.group.0.to_be_bytes());
    aad.push(place.replica.0);
    match slot {
        DurableSlot::Meta => aad.push(SLOT_META),
        DurableSlot::Register(account) => {
            aad.push(SLOT_REGISTER);
            aad.push(u8::try_from(account.as_bytes().len()).unwrap_or(u8::MAX));
            aad.extend_from_slice(account.as_bytes());
        }
    }
    aad
}
