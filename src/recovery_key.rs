//! The recovery key: the [`BackupKey`] written as 64 characters a person can copy
//! (SPEC.md "Recovery key").
//!
//! The 32 key bytes and an 8-byte checksum (`RECOVERY_KEY_CHECKSUM_LABEL`, SHA-256) are written in
//! Crockford base32, 5 bits per character, as 16 groups of 4 characters. Parsing ignores case,
//! whitespace and dashes, reads the look-alikes `O`, `I` and `L` as `0`, `1` and `1`, and rejects a
//! mistyped key before any decryption is tried. When the checksum does not match, the parser looks
//! for the one wrong or swapped character that would explain it and names its position; it never
//! corrects the key silently.

use core::fmt::{self, Write as _};
use core::str::FromStr;

use alloc::string::String;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::backup_key::{BACKUP_KEY_LEN, BackupKey};

/// The 32 characters of a recovery key, in order of their 5-bit value (Crockford base32: no
/// `I`, `L`, `O` or `U`).
pub const RECOVERY_KEY_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Number of significant characters in a recovery key (separators not counted).
pub const RECOVERY_KEY_LEN: usize = 64;

/// Number of characters in one display group.
pub const RECOVERY_KEY_GROUP_LEN: usize = 4;

/// Number of display groups (`RECOVERY_KEY_LEN / RECOVERY_KEY_GROUP_LEN`).
pub const RECOVERY_KEY_GROUPS: usize = RECOVERY_KEY_LEN / RECOVERY_KEY_GROUP_LEN;

/// Number of checksum bytes written after the key bytes.
pub const RECOVERY_KEY_CHECKSUM_LEN: usize = 8;

/// Domain-separation label of the checksum: `checksum = SHA-256(label ‖ key)[0..8]`.
///
/// The `v1` names this version of the recovery key format.
pub const RECOVERY_KEY_CHECKSUM_LABEL: &[u8] = b"e2ee-backup v1 recovery key checksum";

/// Key bytes followed by checksum bytes: 40 bytes = 320 bits = 64 characters of 5 bits.
const PAYLOAD_LEN: usize = BACKUP_KEY_LEN + RECOVERY_KEY_CHECKSUM_LEN;

/// Groups written on one line by the alternate (`{:#}`) display and [`RecoveryKey::to_lines`].
const GROUPS_PER_LINE: usize = 4;

/// One 5-bit value (`0..32`) per character.
type Symbols = [u8; RECOVERY_KEY_LEN];

/// The bytes the characters encode: key ‖ checksum.
type Payload = [u8; PAYLOAD_LEN];

/// A [`BackupKey`] in the form a person can write down and type back in.
///
/// `Display` shows the key itself — that is its purpose — as 16 dash-separated groups of 4
/// characters; the alternate form (`{:#}`, or [`to_lines`](Self::to_lines)) writes four lines of
/// four space-separated groups. Only display it to its owner. `Debug` is redacted, and the key
/// bytes are zeroized on drop.
///
/// # Example
///
/// ```
/// use e2ee_backup::{BackupKey, RecoveryKey, RecoveryKeyError, Typo};
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1); // use OsRng in real code
///
/// let backup_key = BackupKey::generate(&mut rng);
/// let shown = RecoveryKey::from_backup_key(&backup_key).to_string();
/// assert_eq!(shown.len(), 79); // 16 groups of 4 characters, 15 dashes
///
/// // Case, spaces and dashes do not matter when the user types it back in.
/// let typed = shown.to_lowercase().replace('-', " ");
/// let parsed: RecoveryKey = typed.parse()?;
/// assert!(parsed.to_backup_key() == backup_key);
///
/// // One mistyped character is rejected, and its position is suggested.
/// let mut chars: Vec<char> = shown.chars().collect();
/// chars[5] = if chars[5] == 'X' { 'Y' } else { 'X' }; // first character of group 2
/// let mistyped: String = chars.into_iter().collect();
/// assert_eq!(
///     RecoveryKey::parse(&mistyped),
///     Err(RecoveryKeyError::ChecksumMismatch {
///         suggestion: Some(Typo::WrongCharacter { position: 5, group: 2 }),
///     })
/// );
/// # Ok::<(), RecoveryKeyError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey(BackupKey);

impl RecoveryKey {
    /// The recovery key of `key`.
    pub fn from_backup_key(key: &BackupKey) -> Self {
        Self(key.clone())
    }

    /// A copy of the backup key this recovery key writes.
    pub fn to_backup_key(&self) -> BackupKey {
        self.0.clone()
    }

    /// The backup key this recovery key writes.
    pub fn as_backup_key(&self) -> &BackupKey {
        &self.0
    }

    /// Reads a recovery key typed by a person (SPEC.md "Recovery key", parsing rules).
    ///
    /// Case does not matter; whitespace and dashes are ignored wherever they appear; `O`, `I` and
    /// `L` are read as `0`, `1` and `1`. On a checksum mismatch the error carries a [`Typo`]
    /// suggestion when exactly one wrong or swapped character explains it.
    ///
    /// # Errors
    ///
    /// See [`RecoveryKeyError`]; the first invalid character is reported before any length error.
    pub fn parse(text: &str) -> Result<Self, RecoveryKeyError> {
        let mut symbols = Zeroizing::new([0u8; RECOVERY_KEY_LEN]);
        let mut count = 0usize;
        for character in text.chars() {
            if is_separator(character) {
                continue;
            }
            count = count.saturating_add(1);
            let Some(value) = symbol_value(character) else {
                return Err(RecoveryKeyError::InvalidCharacter {
                    position: count,
                    character,
                });
            };
            if let Some(slot) = symbols.get_mut(count - 1) {
                *slot = value;
            }
        }
        match count {
            RECOVERY_KEY_LEN => {}
            n if n == RECOVERY_KEY_LEN - 1 => return Err(RecoveryKeyError::MissingCharacter),
            n if n == RECOVERY_KEY_LEN + 1 => return Err(RecoveryKeyError::ExtraCharacter),
            found => return Err(RecoveryKeyError::WrongLength { found }),
        }
        match verified_key(&symbols) {
            Some(key) => Ok(Self(key)),
            None => Err(RecoveryKeyError::ChecksumMismatch {
                suggestion: find_typo(&symbols),
            }),
        }
    }

    /// The key as four lines of four space-separated groups, for writing down (no trailing
    /// newline). Same as `format!("{key:#}")`, but zeroized when dropped.
    pub fn to_lines(&self) -> Zeroizing<String> {
        // Room for 64 characters and 15 separators up front: growing would leave an unzeroized copy.
        let mut lines = Zeroizing::new(String::with_capacity(
            RECOVERY_KEY_LEN + RECOVERY_KEY_GROUPS,
        ));
        // Writing into a String cannot fail.
        let _ = write!(lines, "{self:#}");
        lines
    }

    /// The 5-bit value of each character.
    fn symbols(&self) -> Zeroizing<Symbols> {
        let mut payload = Zeroizing::new([0u8; PAYLOAD_LEN]);
        let (key, sum) = payload.split_at_mut(BACKUP_KEY_LEN);
        key.copy_from_slice(self.0.as_bytes());
        sum.copy_from_slice(&checksum(self.0.as_bytes()));
        Zeroizing::new(symbols_from_payload(&payload))
    }
}

impl ZeroizeOnDrop for RecoveryKey {}

impl FromStr for RecoveryKey {
    type Err = RecoveryKeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl From<&BackupKey> for RecoveryKey {
    fn from(key: &BackupKey) -> Self {
        Self::from_backup_key(key)
    }
}

impl fmt::Display for RecoveryKey {
    /// `XXXX-XXXX-…-XXXX` (16 groups); with `{:#}`, four lines of four space-separated groups.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let written_down = f.alternate();
        let symbols = self.symbols();
        for (group, chunk) in symbols.chunks(RECOVERY_KEY_GROUP_LEN).enumerate() {
            if group > 0 {
                let separator = match (written_down, group % GROUPS_PER_LINE == 0) {
                    (false, _) => '-',
                    (true, false) => ' ',
                    (true, true) => '\n',
                };
                f.write_char(separator)?;
            }
            for &symbol in chunk {
                f.write_char(symbol_char(symbol))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

/// The one mistake that explains a checksum mismatch, as suggested by [`RecoveryKey::parse`].
///
/// Positions count the 64 significant characters from 1 (separators are not counted); groups
/// count the groups of 4 from 1.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typo {
    /// Replacing the character at `position` with some other character gives a valid key.
    WrongCharacter {
        /// Position of the character (1..=64).
        position: usize,
        /// Group holding it (1..=16).
        group: usize,
    },
    /// Swapping the characters at `position` and `position + 1` gives a valid key.
    SwappedCharacters {
        /// Position of the first of the two characters (1..=63).
        position: usize,
        /// Group holding the first of the two characters (1..=16).
        group: usize,
    },
}

/// Why a text is not a recovery key.
///
/// Positions count significant characters from 1: whitespace and dashes are not counted, an
/// invalid character is. The `Display` messages are written for the person who typed the key.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryKeyError {
    /// A character that is not in the recovery key alphabet (nor a separator or look-alike).
    InvalidCharacter {
        /// Position of the first such character (1-based).
        position: usize,
        /// The character as typed.
        character: char,
    },
    /// 63 significant characters: one was left out.
    MissingCharacter,
    /// 65 significant characters: one too many.
    ExtraCharacter,
    /// A number of significant characters other than 63, 64 or 65.
    WrongLength {
        /// Number of significant characters found.
        found: usize,
    },
    /// 64 valid characters whose checksum does not match: a typing mistake, or not a recovery key.
    ChecksumMismatch {
        /// The single mistake that would explain it, when exactly one does.
        suggestion: Option<Typo>,
    },
}

impl fmt::Display for RecoveryKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidCharacter {
                position,
                character,
            } if position <= RECOVERY_KEY_LEN => write!(
                f,
                "character {position} (in group {}) is {character:?}, which is never used in a \
                 recovery key",
                group_of(position)
            ),
            Self::InvalidCharacter {
                position,
                character,
            } => write!(
                f,
                "character {position} is {character:?}, which is never used in a recovery key"
            ),
            Self::MissingCharacter => f.write_str(
                "the recovery key is one character short (63 of 64); check for a skipped character",
            ),
            Self::ExtraCharacter => f.write_str(
                "the recovery key has one character too many (65 of 64); check for a character \
                 typed twice",
            ),
            Self::WrongLength { found } => write!(
                f,
                "a recovery key has {RECOVERY_KEY_LEN} characters, not {found}"
            ),
            Self::ChecksumMismatch { suggestion: None } => f.write_str(
                "the recovery key contains a typing mistake (its checksum does not match); \
                 check it character by character",
            ),
            Self::ChecksumMismatch {
                suggestion: Some(Typo::WrongCharacter { position, group }),
            } => write!(
                f,
                "the recovery key contains a typing mistake; check character {position} \
                 (group {group})"
            ),
            Self::ChecksumMismatch {
                suggestion: Some(Typo::SwappedCharacters { position, group }),
            } => write!(
                f,
                "the recovery key contains a typing mistake; characters {position} and {} \
                 (group {group}) look swapped",
                position + 1
            ),
        }
    }
}

impl core::error::Error for RecoveryKeyError {}

/// The group (1-based) holding the character at 1-based `position`.
fn group_of(position: usize) -> usize {
    position.saturating_sub(1) / RECOVERY_KEY_GROUP_LEN + 1
}

/// Whitespace (Unicode `White_Space`) and dashes: ASCII hyphen-minus, the Unicode hyphens and
/// dashes U+2010..=U+2015 that word processors substitute, and the minus sign U+2212.
fn is_separator(character: char) -> bool {
    character.is_whitespace() || matches!(character, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// The 5-bit value of a typed character: case-insensitive, `O` → 0, `I`/`L` → 1; `None` otherwise.
fn symbol_value(character: char) -> Option<u8> {
    let upper = match character.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    let byte = u8::try_from(upper).ok()?;
    let index = RECOVERY_KEY_ALPHABET.iter().position(|&c| c == byte)?;
    u8::try_from(index).ok()
}

/// The character of a 5-bit value (only the low 5 bits are used).
fn symbol_char(symbol: u8) -> char {
    char::from(RECOVERY_KEY_ALPHABET[usize::from(symbol & 0x1f)])
}

/// `SHA-256(RECOVERY_KEY_CHECKSUM_LABEL ‖ key)[0..8]`.
fn checksum(key: &[u8; BACKUP_KEY_LEN]) -> [u8; RECOVERY_KEY_CHECKSUM_LEN] {
    let digest = Sha256::new()
        .chain_update(RECOVERY_KEY_CHECKSUM_LABEL)
        .chain_update(key)
        .finalize();
    let mut sum = [0u8; RECOVERY_KEY_CHECKSUM_LEN];
    sum.copy_from_slice(&digest[..RECOVERY_KEY_CHECKSUM_LEN]);
    sum
}

/// Splits the payload bits into 5-bit values, most significant bit first (RFC 4648 base32 order).
fn symbols_from_payload(payload: &Payload) -> Symbols {
    let mut symbols = [0u8; RECOVERY_KEY_LEN];
    for (bytes, chunk) in payload.chunks_exact(5).zip(symbols.chunks_exact_mut(8)) {
        let mut bits = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        for (index, symbol) in chunk.iter_mut().enumerate() {
            *symbol = ((bits >> (35 - 5 * index)) & 0x1f) as u8;
        }
        bits.zeroize();
    }
    symbols
}

/// Inverse of [`symbols_from_payload`] (values are masked to 5 bits).
fn payload_from_symbols(symbols: &Symbols) -> Zeroizing<Payload> {
    let mut payload = Zeroizing::new([0u8; PAYLOAD_LEN]);
    for (chunk, bytes) in symbols.chunks_exact(8).zip(payload.chunks_exact_mut(5)) {
        let mut bits = chunk
            .iter()
            .fold(0u64, |acc, &s| (acc << 5) | u64::from(s & 0x1f));
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = (bits >> (32 - 8 * index)) as u8;
        }
        bits.zeroize();
    }
    payload
}

/// The key the characters encode, if their checksum matches (compared in constant time).
fn verified_key(symbols: &Symbols) -> Option<BackupKey> {
    let payload = payload_from_symbols(symbols);
    let mut key = Zeroizing::new([0u8; BACKUP_KEY_LEN]);
    key.copy_from_slice(&payload[..BACKUP_KEY_LEN]);
    let expected = checksum(&key);
    let matches: bool = expected[..].ct_eq(&payload[BACKUP_KEY_LEN..]).into();
    matches.then(|| BackupKey::from_bytes(*key))
}

/// The single substitution or adjacent swap that makes `typed` verify, if exactly one does.
///
/// Tries all 64 × 31 substitutions and the 63 swaps of unequal neighbours (at most 2,047
/// checksums); stops at the second candidate.
fn find_typo(typed: &Symbols) -> Option<Typo> {
    let mut candidate = Zeroizing::new(*typed);
    let mut found = None;
    let mut note = |typo: Typo| match found {
        None => {
            found = Some(typo);
            true
        }
        Some(_) => false,
    };
    for index in 0..RECOVERY_KEY_LEN {
        let original = typed[index];
        for symbol in (0..32u8).filter(|&s| s != original) {
            candidate[index] = symbol;
            if verified_key(&candidate).is_some() && !note(wrong_character(index)) {
                return None;
            }
        }
        candidate[index] = original;
    }
    for index in 0..RECOVERY_KEY_LEN - 1 {
        if typed[index] == typed[index + 1] {
            continue;
        }
        candidate.swap(index, index + 1);
        let verifies = verified_key(&candidate).is_some();
        candidate.swap(index, index + 1);
        if verifies && !note(swapped_characters(index)) {
            return None;
        }
    }
    found
}

/// [`Typo::WrongCharacter`] at 0-based `index`.
fn wrong_character(index: usize) -> Typo {
    Typo::WrongCharacter {
        position: index + 1,
        group: group_of(index + 1),
    }
}

/// [`Typo::SwappedCharacters`] starting at 0-based `index`.
fn swapped_characters(index: usize) -> Typo {
    Typo::SwappedCharacters {
        position: index + 1,
        group: group_of(index + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_has_32_distinct_characters_without_look_alikes() {
        let mut sorted = *RECOVERY_KEY_ALPHABET;
        sorted.sort_unstable();
        assert!(sorted.windows(2).all(|w| w[0] < w[1]));
        for excluded in *b"ILOU" {
            assert!(!RECOVERY_KEY_ALPHABET.contains(&excluded));
        }
    }

    #[test]
    fn symbol_value_inverts_symbol_char() {
        for value in 0..32u8 {
            assert_eq!(symbol_value(symbol_char(value)), Some(value));
            let lower = symbol_char(value).to_ascii_lowercase();
            assert_eq!(symbol_value(lower), Some(value));
        }
    }

    #[test]
    fn payload_bits_round_trip_through_symbols() {
        let mut payload = [0u8; PAYLOAD_LEN];
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(97).wrapping_add(13);
        }
        assert_eq!(
            *payload_from_symbols(&symbols_from_payload(&payload)),
            payload
        );
    }

    #[test]
    fn first_symbol_holds_the_top_five_bits() {
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[0] = 0b1010_1000;
        payload[PAYLOAD_LEN - 1] = 0b0000_0011;
        let symbols = symbols_from_payload(&payload);
        assert_eq!(symbols[0], 0b10101);
        assert_eq!(symbols[RECOVERY_KEY_LEN - 1], 0b00011);
    }

    #[test]
    fn every_single_substitution_fails_the_checksum() {
        // Exhaustive over 64 positions x 31 other characters for three keys. (Locating each
        // mistake costs ~2,000 checksums, so tests/recovery_key.rs checks locations on a sample.)
        for bytes in [
            [0u8; BACKUP_KEY_LEN],
            [0xFF; BACKUP_KEY_LEN],
            [0x5A; BACKUP_KEY_LEN],
        ] {
            let valid = RecoveryKey(BackupKey::from_bytes(bytes)).symbols();
            assert!(verified_key(&valid).is_some());
            for index in 0..RECOVERY_KEY_LEN {
                for symbol in (0..32u8).filter(|&s| s != valid[index]) {
                    let mut typed = *valid;
                    typed[index] = symbol;
                    assert!(verified_key(&typed).is_none(), "{index} {symbol}");
                }
            }
        }
    }

    #[test]
    fn group_of_counts_groups_of_four_from_one() {
        assert_eq!(group_of(1), 1);
        assert_eq!(group_of(4), 1);
        assert_eq!(group_of(5), 2);
        assert_eq!(group_of(64), 16);
    }
}
