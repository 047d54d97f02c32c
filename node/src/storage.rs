//! The replica host's disk: one redb database (SPEC.md "Hosts", "Replica database").
//!
//! Why redb rather than SQLite: it is pure Rust (no C toolchain, one `cargo build`), it is a
//! key-value store, which is all the host needs (a slot → sealed bytes map, whole-value
//! replacement), and every commit is ACID with an fsync before `commit` returns (its default
//! `Durability::Immediate`). SQLite would need `synchronous=FULL` and the right journal mode to
//! give the same guarantee, and a SQL layer the host never uses.
//!
//! Table `slots`: key = the slot ([`slot_key`]), value = the sealed durable write exactly as
//! the HSM emitted it (sealed under the fleet storage key and bound to group, replica and slot,
//! so the host can neither read nor move it).

use std::path::Path;

use e2ee_backup::AccountId;
use e2ee_backup::internal::vault::DurableSlot;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

const SLOTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("slots");

/// Key of `slot` in the database: `0x00` for the meta, `0x01` ‖ account id for an account.
pub fn slot_key(slot: &DurableSlot) -> Vec<u8> {
    match slot {
        DurableSlot::Meta => vec![0],
        DurableSlot::Register(account) => {
            let mut key = vec![1];
            key.extend_from_slice(account.as_bytes());
            key
        }
    }
}

/// The slot named by `key`, if it is one.
pub fn parse_slot_key(key: &[u8]) -> Option<DurableSlot> {
    match key.split_first()? {
        (0, []) => Some(DurableSlot::Meta),
        (1, account) => AccountId::new(account).ok().map(DurableSlot::Register),
        _ => None,
    }
}

/// What the disk holds: every slot (`None` for a key that names no slot) with its sealed write.
pub type DiskSlots = Vec<(Option<DurableSlot>, Vec<u8>)>;

/// The database failed.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct StorageError(String);

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

/// The replica's durable writes.
pub struct Storage {
    db: Database,
}

impl Storage {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(SLOTS).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Self { db })
    }

    /// Every slot on disk. Keys that do not name a slot are returned as `None` (counted by
    /// the caller as unusable).
    pub fn load(&self) -> Result<DiskSlots, StorageError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(SLOTS).map_err(err)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            out.push((parse_slot_key(k.value()), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Writes every `(slot, sealed)` in one transaction; returns once it is on disk (fsync).
    pub fn commit(&self, writes: &[(DurableSlot, Vec<u8>)]) -> Result<(), StorageError> {
        if writes.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut table = txn.open_table(SLOTS).map_err(err)?;
            for (slot, sealed) in writes {
                table
                    .insert(slot_key(slot).as_slice(), sealed.as_slice())
                    .map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_writes_are_there_after_reopening_and_the_last_one_wins() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("db");
        let alice = DurableSlot::Register(AccountId::new(b"alice").expect("id"));
        {
            let s = Storage::open(&path).expect("open");
            s.commit(&[
                (DurableSlot::Meta, b"m1".to_vec()),
                (alice.clone(), b"a1".to_vec()),
            ])
            .expect("commit");
            s.commit(&[(alice.clone(), b"a2".to_vec())])
                .expect("commit");
        }
        let s = Storage::open(&path).expect("reopen");
        let loaded = s.load().expect("load");
        assert_eq!(
            loaded,
            vec![
                (Some(DurableSlot::Meta), b"m1".to_vec()),
                (Some(alice), b"a2".to_vec())
            ]
        );
    }

    #[test]
    fn slot_keys_round_trip_and_garbage_names_no_slot() {
        let alice = DurableSlot::Register(AccountId::new(b"alice").expect("id"));
        for slot in [DurableSlot::Meta, alice] {
            assert_eq!(parse_slot_key(&slot_key(&slot)), Some(slot));
        }
        assert_eq!(parse_slot_key(&[0, 0]), None);
        assert_eq!(parse_slot_key(&[1]), None);
        assert_eq!(parse_slot_key(&[2, 1]), None);
        assert_eq!(parse_slot_key(&[]), None);
    }
}
