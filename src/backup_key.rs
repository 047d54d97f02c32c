//! The 32-byte backup key (SPEC.md "Backup key").

use core::fmt;

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a [`BackupKey`] in bytes.
pub const BACKUP_KEY_LEN: usize = 32;

/// The random 256-bit key a device makes once; every backup file derives its own keys from it.
///
/// The bytes are zeroized on drop and never printed by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BackupKey([u8; BACKUP_KEY_LEN]);

impl BackupKey {
    /// Makes a fresh key from the caller's cryptographic RNG.
    pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        let mut bytes = [0u8; BACKUP_KEY_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps existing key bytes (for example, parsed from a recovery key or unwrapped from the vault).
    pub fn from_bytes(bytes: [u8; BACKUP_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes. Handle with care: copies are not zeroized for you.
    pub fn as_bytes(&self) -> &[u8; BACKUP_KEY_LEN] {
        &self.0
    }
}

impl PartialEq for BackupKey {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for BackupKey {}

impl core::hash::Hash for BackupKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let key = BackupKey::from_bytes([0xAB; BACKUP_KEY_LEN]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "BackupKey(<redacted>)");
        assert!(!shown.to_lowercase().contains("ab"));
    }

    #[test]
    fn generated_keys_differ_and_round_trip_through_bytes() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let a = BackupKey::generate(&mut rng);
        let b = BackupKey::generate(&mut rng);
        assert_ne!(a, b);
        assert_eq!(BackupKey::from_bytes(*a.as_bytes()), a);
    }
}
