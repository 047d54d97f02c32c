//! Seeds: one `u64` master seed drives the whole run; each subsystem gets its own ChaCha20 RNG
//! derived from the master seed and a label, so adding draws in one subsystem never shifts another.

use e2ee_backup::internal::crypto::real::InsecureFastFleetSecrets;
use e2ee_backup::internal::ids::FleetId;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest as _, Sha256};

/// Domain-separation label of the seed derivation (versioned).
pub const LABEL_SIM_SEED: &[u8] = b"e2ee-backup sim seed v1";

/// The RNG of subsystem `label` under `master_seed`: ChaCha20 keyed by
/// SHA-256(`LABEL_SIM_SEED` ‖ master_seed (big-endian) ‖ label).
pub fn derive_rng(master_seed: u64, label: &str) -> ChaCha20Rng {
    let digest = Sha256::new()
        .chain_update(LABEL_SIM_SEED)
        .chain_update(master_seed.to_be_bytes())
        .chain_update(label.as_bytes())
        .finalize();
    let mut seed = [0u8; 32];
    for (dst, src) in seed.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    ChaCha20Rng::from_seed(seed)
}

/// A uniform draw in `low..=high` (inclusive; `high < low` gives `low`).
pub fn draw_range(rng: &mut ChaCha20Rng, low: u64, high: u64) -> u64 {
    use rand_core::RngCore as _;
    if high <= low {
        return low;
    }
    let span = high - low + 1;
    low + rng.next_u64() % span
}

/// True with probability `per_million` / 1 000 000.
pub fn draw_chance(rng: &mut ChaCha20Rng, per_million: u32) -> bool {
    draw_range(rng, 0, 999_999) < u64::from(per_million)
}

/// The fleet secrets of `seed` (the vault's copy and the oracle's copy are made alike).
pub fn fleet_secrets(seed: u64) -> InsecureFastFleetSecrets {
    let fleet_id = FleetId::new(b"sim-fleet").expect("a short fleet id is valid");
    InsecureFastFleetSecrets::generate(&mut derive_rng(seed, "fleet"), fleet_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore as _;

    #[test]
    fn same_label_gives_the_same_stream_and_labels_are_independent() {
        let a = derive_rng(7, "network").next_u64();
        assert_eq!(a, derive_rng(7, "network").next_u64());
        assert_ne!(a, derive_rng(7, "faults").next_u64());
        assert_ne!(a, derive_rng(8, "network").next_u64());
    }
}
