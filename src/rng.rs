//! Using the current `rand` (0.10) RNGs with this crate, which takes RNGs of `rand_core` 0.6.

use rand_core_0_10::CryptoRng as CryptoRng010;

/// A `rand_core` 0.10 cryptographic RNG (for example `rand::rng()` or
/// `rand::rand_core::UnwrapErr(rand::rngs::SysRng)`) usable where this crate asks for a
/// `rand_core` 0.6 `RngCore + CryptoRng`.
///
/// The crate's RNG parameters (`BackupKey::generate`, `SegmentSealer::new`, the roles'
/// `handle_*` methods) are bounded by the **`rand_core` 0.6** traits, because opaque-ke 4 and
/// the dalek curves it builds on take that line. `rand` 0.10 (today's release) implements
/// **`rand_core` 0.10**. Cargo builds both lines side by side, but their traits are distinct
/// types, so passing `rand::rngs::SysRng` or `rand::rng()` directly fails to compile with
/// "the trait `rand_core::RngCore` is not implemented" (and a note that two versions of
/// `rand_core` are in the build).
///
/// ```compile_fail
/// // Does not compile: rand 0.10's RNGs implement rand_core 0.10, not the 0.6 traits.
/// let key = e2ee_backup::BackupKey::generate(&mut rand::rng());
/// ```
///
/// [`Compat`] bridges the two: it wraps any infallible cryptographic RNG of the 0.10 line
/// (`rand_core::CryptoRng` 0.10, for example `rand::rng()`, or the OS RNG `rand::rngs::SysRng`
/// behind `rand::rand_core::UnwrapErr`) and implements the 0.6 `RngCore + CryptoRng` this crate
/// needs. It is `no_std`, needs no feature, and adds no code path of its own: every call forwards
/// to the wrapped RNG.
///
/// ```
/// use e2ee_backup::Compat;
/// use e2ee_backup::{BackupKey, RecoveryKey};
/// use rand::rand_core::UnwrapErr;
/// use rand::rngs::SysRng;
///
/// // The OS RNG of rand 0.10. `UnwrapErr` makes it infallible: it panics if the OS cannot give
/// // randomness, as rand_core 0.6's own `OsRng` does.
/// let mut os_rng = Compat(UnwrapErr(SysRng));
/// let key = BackupKey::generate(&mut os_rng);
/// assert_eq!(RecoveryKey::from_backup_key(&key).to_string().len(), 79);
///
/// // rand's thread-local CSPRNG (seeded from the OS) works the same way.
/// let mut rng = Compat(rand::rng());
/// let sealed = e2ee_backup::seal_to_vec(&key, 64 * 1024, b"chat history", &mut rng)?;
/// assert_eq!(e2ee_backup::open_to_vec(&key, &sealed)?, b"chat history");
/// # Ok::<(), e2ee_backup::StreamError>(())
/// ```
///
/// Code written against the 0.6 line directly can name it through the re-export
/// [`crate::rand_core`] (`e2ee_backup::rand_core::{CryptoRng, RngCore}`), so it never has to
/// guess which `rand_core` version this crate was built with.
///
/// `try_fill_bytes` never fails: the wrapped RNG is infallible by its type
/// (`rand_core::CryptoRng` 0.10 is `TryCryptoRng<Error = Infallible>`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Compat<R>(pub R);

impl<R> Compat<R> {
    /// The wrapped RNG.
    pub fn into_inner(self) -> R {
        self.0
    }
}

impl<R: CryptoRng010> rand_core::RngCore for Compat<R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// The wrapped RNG is a `rand_core` 0.10 `CryptoRng`, so the 0.6 marker holds too.
impl<R: CryptoRng010> rand_core::CryptoRng for Compat<R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore as _;

    /// A 0.10 RNG that counts up, to check that every call reaches the wrapped RNG.
    struct Counter(u8);

    impl rand_core_0_10::TryRng for Counter {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            self.0 = self.0.wrapping_add(1);
            Ok(u32::from(self.0))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            self.0 = self.0.wrapping_add(1);
            Ok(u64::from(self.0))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for byte in dst {
                self.0 = self.0.wrapping_add(1);
                *byte = self.0;
            }
            Ok(())
        }
    }
    impl rand_core_0_10::TryCryptoRng for Counter {}

    #[test]
    fn forwards_every_call_to_the_wrapped_rng() {
        let mut rng = Compat(Counter(0));
        assert_eq!(rng.next_u32(), 1);
        assert_eq!(rng.next_u64(), 2);
        let mut buf = [0u8; 3];
        rng.fill_bytes(&mut buf);
        assert_eq!(buf, [3, 4, 5]);
        assert!(rng.try_fill_bytes(&mut buf).is_ok());
        assert_eq!(buf, [6, 7, 8]);
        assert_eq!(rng.into_inner().0, 8);
    }

    #[test]
    fn generates_a_backup_key_from_a_rand_core_0_10_rng() {
        let key = crate::BackupKey::generate(&mut Compat(Counter(0)));
        let expected: [u8; 32] = core::array::from_fn(|i| (i + 1) as u8);
        assert_eq!(key.as_bytes(), &expected);
    }
}
