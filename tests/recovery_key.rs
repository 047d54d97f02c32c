//! Recovery key (SPEC.md "Recovery key"): frozen vectors, round trips, formatting tolerance, typo
//! detection and location, and parsing that never panics.

use e2ee_backup::internal::recovery_key::{RECOVERY_KEY_ALPHABET, RECOVERY_KEY_LEN};
use e2ee_backup::{BACKUP_KEY_LEN, BackupKey, RecoveryKey, RecoveryKeyError, Typo};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// (key hex, recovery key) pairs pinned in SPEC.md "Recovery key", test vectors.
const VECTORS: [(&str, &str); 3] = [
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-0000-1NB5-NQPD-K965",
    ),
    (
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZW-E8C4-H66W-JTYX",
    ),
    (
        // BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(1))
        "9a3744504560639ec670b7a17d492b273e077b0a96bef58ba7760779e544546e",
        "K8VM-8M25-C1HS-XHKG-PYGQ-TJ9B-4WZ0-EYRA-JTZF-B2X7-ER3Q-KSA4-AHQD-6YWY-N0KM-NJCD",
    ),
];

fn key_from_hex(text: &str) -> BackupKey {
    let mut bytes = [0u8; BACKUP_KEY_LEN];
    hex::decode_to_slice(text, &mut bytes).unwrap();
    BackupKey::from_bytes(bytes)
}

/// The 64 significant characters of `key`, without separators.
fn compact(key: &BackupKey) -> Vec<char> {
    RecoveryKey::from_backup_key(key)
        .to_string()
        .chars()
        .filter(|&c| c != '-')
        .collect()
}

/// The `offset`-th alphabet character after `character` (offset 1..=31 gives a different one).
fn other_symbol(character: char, offset: usize) -> char {
    let index = RECOVERY_KEY_ALPHABET
        .iter()
        .position(|&c| char::from(c) == character)
        .unwrap();
    char::from(RECOVERY_KEY_ALPHABET[(index + offset) % 32])
}

fn wrong_character_at(index: usize) -> RecoveryKeyError {
    RecoveryKeyError::ChecksumMismatch {
        suggestion: Some(Typo::WrongCharacter {
            position: index + 1,
            group: index / 4 + 1,
        }),
    }
}

fn vector_keys() -> Vec<BackupKey> {
    VECTORS.iter().map(|(hex, _)| key_from_hex(hex)).collect()
}

fn arbitrary_key() -> impl Strategy<Value = BackupKey> {
    any::<[u8; BACKUP_KEY_LEN]>().prop_map(BackupKey::from_bytes)
}

#[test]
fn frozen_vectors_encode_and_parse_exactly() {
    for (hex, text) in VECTORS {
        let key = key_from_hex(hex);
        assert_eq!(RecoveryKey::from_backup_key(&key).to_string(), text);
        assert!(RecoveryKey::parse(text).unwrap().to_backup_key() == key);
    }
}

#[test]
fn third_vector_is_the_key_generated_from_seed_one() {
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
    assert_eq!(hex::encode(key.as_bytes()), VECTORS[2].0);
}

#[test]
fn written_down_form_is_four_lines_of_four_groups() {
    let recovery = RecoveryKey::parse(VECTORS[2].1).unwrap();
    let expected = "K8VM 8M25 C1HS XHKG\n\
                    PYGQ TJ9B 4WZ0 EYRA\n\
                    JTZF B2X7 ER3Q KSA4\n\
                    AHQD 6YWY N0KM NJCD";
    assert_eq!(recovery.to_lines().as_str(), expected);
    assert_eq!(format!("{recovery:#}"), expected);
    assert_eq!(RecoveryKey::parse(expected).unwrap(), recovery);
}

#[test]
fn debug_output_never_shows_the_key() {
    let recovery = RecoveryKey::parse(VECTORS[2].1).unwrap();
    assert_eq!(format!("{recovery:?}"), "RecoveryKey(<redacted>)");
}

#[test]
fn look_alike_letters_read_as_zero_and_one() {
    let text = VECTORS[0].1; // mostly zeros, and one 1
    let expected = RecoveryKey::parse(text).unwrap();
    for (zero, one) in [('O', 'I'), ('o', 'i'), ('O', 'L'), ('o', 'l')] {
        let typed = text
            .replace('0', &zero.to_string())
            .replace('1', &one.to_string());
        assert_eq!(RecoveryKey::parse(&typed).unwrap(), expected, "{typed}");
    }
}

#[test]
fn unicode_whitespace_and_dashes_are_separators() {
    let text = VECTORS[2].1;
    let expected = RecoveryKey::parse(text).unwrap();
    for separator in [
        "", " ", "\t", "\r\n", "\u{a0}", "\u{2013}", "\u{2014}", "\u{2212}", " - ",
    ] {
        let typed = text.replace('-', separator);
        assert_eq!(RecoveryKey::parse(&typed).unwrap(), expected, "{typed:?}");
    }
    let padded = format!("\n  {text}  \n");
    assert_eq!(RecoveryKey::parse(&padded).unwrap(), expected);
}

#[test]
fn rejects_u_and_other_foreign_characters_with_their_position() {
    let text = VECTORS[2].1;
    for foreign in ['U', 'u', '!', '_', '.', '\u{0}', 'Ａ', 'é', '😀'] {
        // Replace the 2nd character of group 3 (position 10, string index 11).
        let typed: String = text
            .chars()
            .enumerate()
            .map(|(i, c)| if i == 11 { foreign } else { c })
            .collect();
        assert_eq!(
            RecoveryKey::parse(&typed),
            Err(RecoveryKeyError::InvalidCharacter {
                position: 10,
                character: foreign,
            }),
            "{typed:?}"
        );
    }
}

#[test]
fn foreign_character_is_reported_before_a_wrong_length() {
    assert_eq!(
        RecoveryKey::parse("ABCU"),
        Err(RecoveryKeyError::InvalidCharacter {
            position: 4,
            character: 'U',
        })
    );
}

#[test]
fn rejects_wrong_lengths_with_the_count_found() {
    for (text, found) in [("", 0), ("  -- ", 0), ("ABCD", 4)] {
        assert_eq!(
            RecoveryKey::parse(text),
            Err(RecoveryKeyError::WrongLength { found })
        );
    }
    let doubled = VECTORS[2].1.repeat(2);
    assert_eq!(
        RecoveryKey::parse(&doubled),
        Err(RecoveryKeyError::WrongLength { found: 128 })
    );
    let one_short = &VECTORS[2].1[..VECTORS[2].1.len() - 1];
    assert_eq!(
        RecoveryKey::parse(one_short),
        Err(RecoveryKeyError::MissingCharacter)
    );
    let one_long = format!("{}0", VECTORS[2].1);
    assert_eq!(
        RecoveryKey::parse(&one_long),
        Err(RecoveryKeyError::ExtraCharacter)
    );
}

#[test]
fn every_position_of_the_vector_keys_is_located_after_a_substitution() {
    for key in vector_keys() {
        let valid = compact(&key);
        for index in 0..RECOVERY_KEY_LEN {
            let mut typed = valid.clone();
            typed[index] = other_symbol(valid[index], 1 + index % 31);
            let typed: String = typed.into_iter().collect();
            assert_eq!(
                RecoveryKey::parse(&typed),
                Err(wrong_character_at(index)),
                "{typed}"
            );
        }
    }
}

#[test]
fn every_single_substitution_of_a_key_is_located_exactly() {
    // Exhaustive: all 64 positions x 31 other characters of one key (1,984 mistyped keys, each
    // searched in full for a unique explanation).
    let valid = compact(&key_from_hex(VECTORS[2].0));
    for index in 0..RECOVERY_KEY_LEN {
        for offset in 1..32 {
            let mut typed = valid.clone();
            typed[index] = other_symbol(valid[index], offset);
            let typed: String = typed.into_iter().collect();
            assert_eq!(
                RecoveryKey::parse(&typed),
                Err(wrong_character_at(index)),
                "{typed}"
            );
        }
    }
}

#[test]
fn swapped_neighbours_are_reported_as_a_swap() {
    let valid = compact(&key_from_hex(VECTORS[2].0));
    for index in 0..RECOVERY_KEY_LEN - 1 {
        if valid[index] == valid[index + 1] {
            continue;
        }
        let mut typed = valid.clone();
        typed.swap(index, index + 1);
        let typed: String = typed.into_iter().collect();
        assert_eq!(
            RecoveryKey::parse(&typed),
            Err(RecoveryKeyError::ChecksumMismatch {
                suggestion: Some(Typo::SwappedCharacters {
                    position: index + 1,
                    group: index / 4 + 1,
                }),
            }),
            "{typed}"
        );
    }
}

#[test]
fn a_different_valid_key_with_two_changes_gets_no_suggestion() {
    // Two substitutions far apart: no single mistake explains it, so nothing is suggested.
    let valid = compact(&key_from_hex(VECTORS[2].0));
    let mut typed = valid.clone();
    typed[3] = other_symbol(valid[3], 5);
    typed[40] = other_symbol(valid[40], 9);
    let typed: String = typed.into_iter().collect();
    assert_eq!(
        RecoveryKey::parse(&typed),
        Err(RecoveryKeyError::ChecksumMismatch { suggestion: None })
    );
}

#[test]
fn error_messages_tell_the_user_where_to_look() {
    let message = |error: RecoveryKeyError| error.to_string();
    assert_eq!(
        message(wrong_character_at(22)),
        "the recovery key contains a typing mistake; check character 23 (group 6)"
    );
    assert_eq!(
        message(RecoveryKeyError::ChecksumMismatch {
            suggestion: Some(Typo::SwappedCharacters {
                position: 8,
                group: 2,
            }),
        }),
        "the recovery key contains a typing mistake; characters 8 and 9 (group 2) look swapped"
    );
    assert_eq!(
        message(RecoveryKeyError::InvalidCharacter {
            position: 17,
            character: 'U',
        }),
        "character 17 (in group 5) is 'U', which is never used in a recovery key"
    );
    assert_eq!(
        message(RecoveryKeyError::InvalidCharacter {
            position: 70,
            character: '\u{7}',
        }),
        "character 70 is '\\u{7}', which is never used in a recovery key"
    );
    assert!(message(RecoveryKeyError::MissingCharacter).contains("one character short"));
    assert!(message(RecoveryKeyError::ExtraCharacter).contains("one character too many"));
    assert_eq!(
        message(RecoveryKeyError::WrongLength { found: 12 }),
        "a recovery key has 64 characters, not 12"
    );
    assert!(
        message(RecoveryKeyError::ChecksumMismatch { suggestion: None }).contains("typing mistake")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_key_round_trips(key in arbitrary_key()) {
        let recovery = RecoveryKey::from_backup_key(&key);
        let text = recovery.to_string();
        prop_assert_eq!(text.len(), 79);
        let parsed = RecoveryKey::parse(&text).unwrap();
        prop_assert!(parsed.to_backup_key() == key);
        prop_assert_eq!(parsed, recovery);
    }

    #[test]
    fn any_case_and_separators_parse_to_the_same_key(
        key in arbitrary_key(),
        lower in prop::collection::vec(any::<bool>(), RECOVERY_KEY_LEN),
        separators in prop::collection::vec(
            prop::sample::select(vec!["", "", "", "-", " ", "  ", " - ", "\t", "\n", "--"]),
            RECOVERY_KEY_LEN + 1,
        ),
    ) {
        let mut typed = String::new();
        for ((character, lower), separator) in compact(&key).into_iter().zip(lower).zip(&separators) {
            typed.push_str(separator);
            typed.push(if lower { character.to_ascii_lowercase() } else { character });
        }
        typed.push_str(separators[RECOVERY_KEY_LEN]);
        prop_assert!(RecoveryKey::parse(&typed).unwrap().to_backup_key() == key);
    }

    #[test]
    fn deleting_one_character_reports_a_missing_character(
        key in arbitrary_key(),
        index in 0..RECOVERY_KEY_LEN,
    ) {
        let mut typed = compact(&key);
        typed.remove(index);
        let typed: String = typed.into_iter().collect();
        prop_assert_eq!(RecoveryKey::parse(&typed), Err(RecoveryKeyError::MissingCharacter));
    }

    #[test]
    fn inserting_one_character_reports_an_extra_character(
        key in arbitrary_key(),
        index in 0..=RECOVERY_KEY_LEN,
        symbol in 0..32usize,
    ) {
        let mut typed = compact(&key);
        typed.insert(index, char::from(RECOVERY_KEY_ALPHABET[symbol]));
        let typed: String = typed.into_iter().collect();
        prop_assert_eq!(RecoveryKey::parse(&typed), Err(RecoveryKeyError::ExtraCharacter));
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = RecoveryKey::parse(&text);
    }
}

proptest! {
    // Each mistyped key costs up to 2,047 checksums to locate the mistake: keep these few.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn one_substituted_character_is_rejected_and_located(
        key in arbitrary_key(),
        index in 0..RECOVERY_KEY_LEN,
        offset in 1..32usize,
    ) {
        let mut typed = compact(&key);
        typed[index] = other_symbol(typed[index], offset);
        let typed: String = typed.into_iter().collect();
        prop_assert_eq!(RecoveryKey::parse(&typed), Err(wrong_character_at(index)));
    }

    #[test]
    fn parsing_near_miss_text_never_panics(
        text in "[0-9A-Za-z \\-]{60,70}",
    ) {
        let _ = RecoveryKey::parse(&text);
    }
}
