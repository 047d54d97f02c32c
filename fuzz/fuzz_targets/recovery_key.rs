//! The recovery-key parser, fed text a person typed (or pasted). No panic; every key it
//! accepts prints and re-parses to itself (in both display forms), and every typo suggestion
//! names a position inside the key.
#![no_main]

use e2ee_backup::{RecoveryKey, RecoveryKeyError, Typo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match RecoveryKey::parse(&text) {
        Ok(key) => {
            let shown = key.to_string();
            assert_eq!(
                RecoveryKey::parse(&shown).as_ref(),
                Ok(&key),
                "Display re-parses"
            );
            let lines = key.to_lines();
            assert_eq!(
                RecoveryKey::parse(&lines).as_ref(),
                Ok(&key),
                "to_lines re-parses"
            );
            let again = RecoveryKey::from_backup_key(&key.to_backup_key());
            assert_eq!(again.to_string(), shown, "one key, one written form");
        }
        Err(err) => {
            // The message for the person must never panic either.
            let _ = err.to_string();
            if let RecoveryKeyError::ChecksumMismatch {
                suggestion: Some(typo),
            } = err
            {
                let (position, group, last) = match typo {
                    Typo::WrongCharacter { position, group } => (position, group, 64),
                    Typo::SwappedCharacters { position, group } => (position, group, 63),
                    other => panic!("a new kind of typo {other:?}: extend this target"),
                };
                assert!(
                    (1..=last).contains(&position),
                    "typo position {position} is in the key"
                );
                assert_eq!(
                    group,
                    (position - 1) / 4 + 1,
                    "typo group matches its position"
                );
            }
        }
    }
});
