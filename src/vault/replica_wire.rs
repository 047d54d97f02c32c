//! The replica wire: encodings of the consensus messages and durable writes of a replicated
//! vault (SPEC.md "Replication", "Replica wire").
//!
//! Every encoding starts with [`REPLICA_WIRE_VERSION`] and a typed code; codes are explicit
//! constants, never derived from declaration order. Decoders reject trailing bytes, unknown
//! codes and out-of-range values, and never allocate more than the input can hold.

use alloc::vec::Vec;

use super::genesis::{CensusMessage, Lineage};
use super::record::AccountRecord;
use super::store::{ReplicaBody, ReplicaMessage, ReplicaPeerMessage};
use super::trusted::{CountedWrite, ReplicaWrite};
use crate::consensus::{
    AcceptedValue, AcceptorState, Ballot, CATCH_UP_PAGE_MAX, PeerMessage, Refusal, ReplicaId,
    ReplicaMeta, RequestTag,
};
use crate::ids::AccountId;
use crate::wire::codec::{DecodeError, Reader, Writer};

/// Version byte of every replica-message encoding (2: the sender's lineage and the census).
pub const REPLICA_WIRE_VERSION: u8 = 2;

/// Code of `Prepare`.
pub const CODE_PREPARE: u8 = 0x01;
/// Code of `Promise`.
pub const CODE_PROMISE: u8 = 0x02;
/// Code of `Accept`.
pub const CODE_ACCEPT: u8 = 0x03;
/// Code of `Accepted`.
pub const CODE_ACCEPTED: u8 = 0x04;
/// Code of `Reject`.
pub const CODE_REJECT: u8 = 0x05;
/// Code of `Fence`.
pub const CODE_FENCE: u8 = 0x06;
/// Code of `FenceAck`.
pub const CODE_FENCE_ACK: u8 = 0x07;
/// Code of `CatchUp`.
pub const CODE_CATCH_UP: u8 = 0x08;
/// Code of `CatchUpPage`.
pub const CODE_CATCH_UP_PAGE: u8 = 0x09;

/// Code of `CensusQuery`.
pub const CODE_CENSUS_QUERY: u8 = 0x21;
/// Code of `CensusFrozen`.
pub const CODE_CENSUS_FROZEN: u8 = 0x22;
/// Code of `CensusCheck`.
pub const CODE_CENSUS_CHECK: u8 = 0x23;
/// Code of `CensusStillFrozen`.
pub const CODE_CENSUS_STILL_FROZEN: u8 = 0x24;
/// Code of `CensusCommit`.
pub const CODE_CENSUS_COMMIT: u8 = 0x25;

/// Code of a durable write of the replica-wide `ReplicaMeta`.
pub const CODE_WRITE_META: u8 = 0x11;
/// Code of a durable write of one account's acceptor state.
pub const CODE_WRITE_REGISTER: u8 = 0x12;

/// Smallest encoding of one catch-up entry (bounds the entry count a page may claim).
const MIN_ENTRY_LEN: usize = 1 + 1 + 8 + 8 + 1 + 1;

fn write_account(w: &mut Writer, account: &AccountId) {
    w.bytes8(account.as_bytes());
}

fn read_account(r: &mut Reader<'_>) -> Result<AccountId, DecodeError> {
    AccountId::new(r.bytes8()?).map_err(|_| DecodeError::InvalidValue)
}

fn write_ballot(w: &mut Writer, ballot: &Ballot) {
    w.u64(ballot.epoch).u64(ballot.counter).u8(ballot.replica.0);
}

fn read_ballot(r: &mut Reader<'_>) -> Result<Ballot, DecodeError> {
    Ok(Ballot {
        epoch: r.u64()?,
        counter: r.u64()?,
        replica: ReplicaId(r.u8()?),
    })
}

fn write_flag(w: &mut Writer, present: bool) {
    w.u8(u8::from(present));
}

fn read_flag(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(DecodeError::UnknownCode(other)),
    }
}

fn write_opt_ballot(w: &mut Writer, ballot: &Option<Ballot>) {
    write_flag(w, ballot.is_some());
    if let Some(b) = ballot {
        write_ballot(w, b);
    }
}

fn read_opt_ballot(r: &mut Reader<'_>) -> Result<Option<Ballot>, DecodeError> {
    if read_flag(r)? {
        Ok(Some(read_ballot(r)?))
    } else {
        Ok(None)
    }
}

fn write_value(w: &mut Writer, value: &Option<AccountRecord>) {
    write_flag(w, value.is_some());
    if let Some(record) = value {
        w.bytes32(&record.encode());
    }
}

fn read_value(r: &mut Reader<'_>) -> Result<Option<AccountRecord>, DecodeError> {
    if read_flag(r)? {
        Ok(Some(AccountRecord::decode(r.bytes32()?)?))
    } else {
        Ok(None)
    }
}

fn write_accepted(w: &mut Writer, accepted: &AcceptedValue<AccountRecord>) {
    write_ballot(w, &accepted.ballot);
    write_value(w, &accepted.value);
}

fn read_accepted(r: &mut Reader<'_>) -> Result<AcceptedValue<AccountRecord>, DecodeError> {
    Ok(AcceptedValue {
        ballot: read_ballot(r)?,
        value: read_value(r)?,
    })
}

fn write_opt_accepted(w: &mut Writer, accepted: &Option<AcceptedValue<AccountRecord>>) {
    write_flag(w, accepted.is_some());
    if let Some(a) = accepted {
        write_accepted(w, a);
    }
}

fn read_opt_accepted(
    r: &mut Reader<'_>,
) -> Result<Option<AcceptedValue<AccountRecord>>, DecodeError> {
    if read_flag(r)? {
        Ok(Some(read_accepted(r)?))
    } else {
        Ok(None)
    }
}

fn write_tag(w: &mut Writer, tag: &RequestTag) {
    w.u64(tag.incarnation).u64(tag.sequence);
}

fn read_tag(r: &mut Reader<'_>) -> Result<RequestTag, DecodeError> {
    Ok(RequestTag {
        incarnation: r.u64()?,
        sequence: r.u64()?,
    })
}

fn write_lineage(w: &mut Writer, lineage: &Lineage) {
    w.u8(lineage.founder.0);
    write_tag(w, &lineage.tag);
}

fn read_lineage(r: &mut Reader<'_>) -> Result<Lineage, DecodeError> {
    Ok(Lineage {
        founder: ReplicaId(r.u8()?),
        tag: read_tag(r)?,
    })
}

/// Encodes a replica message (the plaintext that is sealed under the replica-link key):
/// version ‖ lineage flag ‖ [founder u8 ‖ tag] ‖ code ‖ fields.
pub fn encode_replica_message(message: &ReplicaMessage) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(REPLICA_WIRE_VERSION);
    write_flag(&mut w, message.lineage.is_some());
    if let Some(lineage) = &message.lineage {
        write_lineage(&mut w, lineage);
    }
    match &message.body {
        ReplicaBody::Peer(peer) => write_peer(&mut w, peer),
        ReplicaBody::Census(census) => write_census(&mut w, census),
    }
    w.into_bytes()
}

fn write_census(w: &mut Writer, message: &CensusMessage) {
    match message {
        CensusMessage::Query { tag } => {
            w.u8(CODE_CENSUS_QUERY);
            write_tag(w, tag);
        }
        CensusMessage::Frozen { tag, instance } => {
            w.u8(CODE_CENSUS_FROZEN);
            write_tag(w, tag);
            w.u64(*instance);
        }
        CensusMessage::Check { tag } => {
            w.u8(CODE_CENSUS_CHECK);
            write_tag(w, tag);
        }
        CensusMessage::StillFrozen { tag, instance } => {
            w.u8(CODE_CENSUS_STILL_FROZEN);
            write_tag(w, tag);
            w.u64(*instance);
        }
        CensusMessage::Commit { tag } => {
            w.u8(CODE_CENSUS_COMMIT);
            write_tag(w, tag);
        }
    }
}

fn write_peer(w: &mut Writer, message: &ReplicaPeerMessage) {
    match message {
        PeerMessage::Prepare { key, ballot } => {
            w.u8(CODE_PREPARE);
            write_account(w, key);
            write_ballot(w, ballot);
        }
        PeerMessage::Promise {
            key,
            ballot,
            accepted,
        } => {
            w.u8(CODE_PROMISE);
            write_account(w, key);
            write_ballot(w, ballot);
            write_opt_accepted(w, accepted);
        }
        PeerMessage::Accept {
            key,
            ballot,
            value,
            next,
        } => {
            w.u8(CODE_ACCEPT);
            write_account(w, key);
            write_ballot(w, ballot);
            write_value(w, value);
            write_opt_ballot(w, next);
        }
        PeerMessage::Accepted { key, ballot, next } => {
            w.u8(CODE_ACCEPTED);
            write_account(w, key);
            write_ballot(w, ballot);
            write_opt_ballot(w, next);
        }
        PeerMessage::Reject {
            key,
            ballot,
            refusal,
        } => {
            w.u8(CODE_REJECT);
            write_account(w, key);
            write_ballot(w, ballot);
            write_opt_ballot(w, &refusal.promised);
            w.u64(refusal.epoch_floor);
        }
        PeerMessage::Fence { tag, epoch } => {
            w.u8(CODE_FENCE);
            write_tag(w, tag);
            w.u64(*epoch);
        }
        PeerMessage::FenceAck { tag, epoch_floor } => {
            w.u8(CODE_FENCE_ACK);
            write_tag(w, tag);
            w.u64(*epoch_floor);
        }
        PeerMessage::CatchUp {
            tag,
            epoch,
            after,
            limit,
        } => {
            w.u8(CODE_CATCH_UP);
            write_tag(w, tag);
            w.u64(*epoch);
            write_flag(w, after.is_some());
            if let Some(account) = after {
                write_account(w, account);
            }
            w.u32(*limit);
        }
        PeerMessage::CatchUpPage { tag, entries, more } => {
            w.u8(CODE_CATCH_UP_PAGE);
            write_tag(w, tag);
            write_flag(w, *more);
            w.u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
            for (account, accepted) in entries {
                write_account(w, account);
                write_accepted(w, accepted);
            }
        }
    }
}

/// Decodes a replica message; rejects trailing bytes, unknown codes and oversized pages.
pub fn decode_replica_message(bytes: &[u8]) -> Result<ReplicaMessage, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    if version != REPLICA_WIRE_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let lineage = if read_flag(&mut r)? {
        Some(read_lineage(&mut r)?)
    } else {
        None
    };
    let body = match r.u8()? {
        CODE_CENSUS_QUERY => ReplicaBody::Census(CensusMessage::Query {
            tag: read_tag(&mut r)?,
        }),
        CODE_CENSUS_FROZEN => ReplicaBody::Census(CensusMessage::Frozen {
            tag: read_tag(&mut r)?,
            instance: r.u64()?,
        }),
        CODE_CENSUS_CHECK => ReplicaBody::Census(CensusMessage::Check {
            tag: read_tag(&mut r)?,
        }),
        CODE_CENSUS_STILL_FROZEN => ReplicaBody::Census(CensusMessage::StillFrozen {
            tag: read_tag(&mut r)?,
            instance: r.u64()?,
        }),
        CODE_CENSUS_COMMIT => ReplicaBody::Census(CensusMessage::Commit {
            tag: read_tag(&mut r)?,
        }),
        code => ReplicaBody::Peer(read_peer(&mut r, code, bytes.len())?),
    };
    r.finish()?;
    Ok(ReplicaMessage { lineage, body })
}

fn read_peer(
    r: &mut Reader<'_>,
    code: u8,
    input_len: usize,
) -> Result<ReplicaPeerMessage, DecodeError> {
    let message = match code {
        CODE_PREPARE => PeerMessage::Prepare {
            key: read_account(r)?,
            ballot: read_ballot(r)?,
        },
        CODE_PROMISE => PeerMessage::Promise {
            key: read_account(r)?,
            ballot: read_ballot(r)?,
            accepted: read_opt_accepted(r)?,
        },
        CODE_ACCEPT => PeerMessage::Accept {
            key: read_account(r)?,
            ballot: read_ballot(r)?,
            value: read_value(r)?,
            next: read_opt_ballot(r)?,
        },
        CODE_ACCEPTED => PeerMessage::Accepted {
            key: read_account(r)?,
            ballot: read_ballot(r)?,
            next: read_opt_ballot(r)?,
        },
        CODE_REJECT => PeerMessage::Reject {
            key: read_account(r)?,
            ballot: read_ballot(r)?,
            refusal: Refusal {
                promised: read_opt_ballot(r)?,
                epoch_floor: r.u64()?,
            },
        },
        CODE_FENCE => PeerMessage::Fence {
            tag: read_tag(r)?,
            epoch: r.u64()?,
        },
        CODE_FENCE_ACK => PeerMessage::FenceAck {
            tag: read_tag(r)?,
            epoch_floor: r.u64()?,
        },
        CODE_CATCH_UP => PeerMessage::CatchUp {
            tag: read_tag(r)?,
            epoch: r.u64()?,
            after: if read_flag(r)? {
                Some(read_account(r)?)
            } else {
                None
            },
            limit: r.u32()?,
        },
        CODE_CATCH_UP_PAGE => {
            let tag = read_tag(r)?;
            let more = read_flag(r)?;
            let count = r.u32()?;
            if count > CATCH_UP_PAGE_MAX {
                return Err(DecodeError::InvalidValue);
            }
            let count = usize::try_from(count).map_err(|_| DecodeError::InvalidValue)?;
            // Never reserve more than the remaining input could possibly hold.
            let mut entries = Vec::with_capacity(count.min(input_len / MIN_ENTRY_LEN));
            for _ in 0..count {
                let account = read_account(r)?;
                entries.push((account, read_accepted(r)?));
            }
            PeerMessage::CatchUpPage { tag, entries, more }
        }
        other => return Err(DecodeError::UnknownCode(other)),
    };
    Ok(message)
}

/// Version byte of a durable-write encoding (2: the write carries its era and slot count; 3:
/// and its lineage).
pub const DURABLE_WRITE_VERSION: u8 = 3;

/// Encodes a consensus durable write with its era, slot count and lineage (the plaintext that
/// is sealed under the storage key): version ‖ code ‖ era u64 ‖ slot writes u64 ‖ founder u8 ‖
/// lineage tag ‖ fields.
pub fn encode_replica_write(counted: &CountedWrite) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(DURABLE_WRITE_VERSION);
    match &counted.write {
        ReplicaWrite::Meta(meta) => {
            w.u8(CODE_WRITE_META)
                .u64(counted.era)
                .u64(counted.slot_writes);
            write_lineage(&mut w, &counted.lineage);
            w.u64(meta.epoch_floor)
                .u64(meta.established_epoch)
                .u64(meta.counter_reserved);
        }
        ReplicaWrite::Register { key, state } => {
            w.u8(CODE_WRITE_REGISTER)
                .u64(counted.era)
                .u64(counted.slot_writes);
            write_lineage(&mut w, &counted.lineage);
            write_account(&mut w, key);
            write_opt_ballot(&mut w, &state.promised);
            write_opt_accepted(&mut w, &state.accepted);
        }
    }
    w.into_bytes()
}

/// Decodes a consensus durable write; rejects other versions, trailing bytes and unknown codes.
pub fn decode_replica_write(bytes: &[u8]) -> Result<CountedWrite, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    if version != DURABLE_WRITE_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let code = r.u8()?;
    let era = r.u64()?;
    let slot_writes = r.u64()?;
    let lineage = read_lineage(&mut r)?;
    let write = match code {
        CODE_WRITE_META => ReplicaWrite::Meta(ReplicaMeta {
            epoch_floor: r.u64()?,
            established_epoch: r.u64()?,
            counter_reserved: r.u64()?,
        }),
        CODE_WRITE_REGISTER => ReplicaWrite::Register {
            key: read_account(&mut r)?,
            state: AcceptorState {
                promised: read_opt_ballot(&mut r)?,
                accepted: read_opt_accepted(&mut r)?,
            },
        },
        other => return Err(DecodeError::UnknownCode(other)),
    };
    r.finish()?;
    Ok(CountedWrite {
        write,
        era,
        slot_writes,
        lineage,
    })
}
