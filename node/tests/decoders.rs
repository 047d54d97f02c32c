//! Every decoder the hosts run on bytes from a peer or a disk returns an error, never panics,
//! on arbitrary input; and each accepts its own encoding back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::internal::crypto::FleetPublicKeys;
use e2ee_backup::internal::vault::TrustedCell;
use e2ee_backup_node::files::ReplicaSecrets;
use e2ee_backup_node::token::TokenKey;
use e2ee_backup_node::{FleetSecrets, frame, storage, trust};
use proptest::prelude::*;

proptest! {
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = ReplicaSecrets::from_bytes(&bytes);
        let _ = FleetSecrets::from_bytes(&bytes);
        let _ = FleetPublicKeys::from_bytes(&bytes);
        let _ = trust::decode_cell(&bytes);
        let _ = storage::parse_slot_key(&bytes);
        let _ = frame::parse_hello(&bytes);
        let key = TokenKey::from_bytes(&[7u8; 32]).unwrap();
        let _ = key.verify(&String::from_utf8_lossy(&bytes), 0);
    }

    #[test]
    fn a_trusted_cell_round_trips(incarnation: u64, era: u64, writes: u64) {
        let cell = TrustedCell { incarnation, era, writes };
        prop_assert_eq!(trust::decode_cell(&trust::encode_cell(&cell)), Some(cell));
    }

    #[test]
    fn a_token_with_any_flipped_character_is_refused(pos in 0usize..200, account in "[a-z]{1,20}") {
        let key = TokenKey::from_bytes(&[9u8; 32]).unwrap();
        let id = e2ee_backup::AccountId::new(account.as_bytes()).unwrap();
        let token = key.issue(&id, 10_000);
        prop_assert!(key.verify(&token, 0).is_ok());
        let mut bytes = token.into_bytes();
        let pos = pos % bytes.len();
        bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
        let edited = String::from_utf8(bytes).unwrap();
        prop_assert!(key.verify(&edited, 0).is_err(), "{} verified", edited);
    }
}
