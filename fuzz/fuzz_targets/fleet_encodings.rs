//! The fleet encodings a host reads from disk: the fleet public keys file a client pins
//! (`FleetPublicKeys::from_bytes`) and the fleet secrets of both real suites
//! (`ProductionFleetSecrets::from_bytes`, `InsecureFastFleetSecrets::from_bytes`). Every input
//! goes to all three decoders. Properties: `e2ee_backup_fuzz::check_codec` for each (no panic;
//! a successful decode re-encodes to exactly its input, and fails with its last byte cut or a
//! byte appended); decoded public keys equal what their encoding decodes to; decoded secrets
//! never load under the other suite, and the public keys they derive round-trip through their
//! file encoding.
#![no_main]

use e2ee_backup::internal::crypto::real::{
    InsecureFastFleetSecrets, InsecureFastSuite, ProductionFleetSecrets, ProductionSuite,
};
use e2ee_backup::internal::crypto::{CryptoError, CryptoSuite, FleetPublicKeys};
use e2ee_backup_fuzz::check_codec;
use libfuzzer_sys::fuzz_target;

/// The fleet public keys a suite derives from decoded secrets must survive their file encoding.
fn derived_public_keys_round_trip(public: FleetPublicKeys) {
    let bytes = public.to_bytes();
    assert_eq!(
        FleetPublicKeys::from_bytes(&bytes).as_ref(),
        Ok(&public),
        "derived public keys round-trip"
    );
}

/// One suite's fleet secrets: `check_codec`, never loading under the other suite
/// (`other_suite_loads`), decode(encode(x)) == x with its fleet id and public keys, and the
/// derived public keys round-trip.
fn check_fleet_secrets<S: CryptoSuite>(
    which: &str,
    data: &[u8],
    suite: S,
    decode: impl Fn(&[u8]) -> Result<S::FleetSecrets, CryptoError>,
    encode: impl Fn(&S::FleetSecrets) -> Vec<u8>,
    other_suite_loads: impl Fn(&[u8]) -> bool,
) {
    check_codec(&format!("{which} fleet secrets"), data, &decode, &encode);
    let Ok(secrets) = decode(data) else {
        return;
    };
    assert!(
        !other_suite_loads(data),
        "{which} secrets never load under the other suite"
    );
    let again = decode(&encode(&secrets)).expect("re-encoded secrets decode");
    assert_eq!(encode(&again), encode(&secrets), "decode(encode(x)) == x");
    assert_eq!(
        suite.fleet_id(&again),
        suite.fleet_id(&secrets),
        "the fleet id survives"
    );
    assert_eq!(
        suite.fleet_public_keys(&again),
        suite.fleet_public_keys(&secrets),
        "the public keys survive"
    );
    derived_public_keys_round_trip(suite.fleet_public_keys(&secrets));
}

fuzz_target!(|data: &[u8]| {
    check_codec(
        "FleetPublicKeys",
        data,
        FleetPublicKeys::from_bytes,
        FleetPublicKeys::to_bytes,
    );
    if let Ok(public) = FleetPublicKeys::from_bytes(data) {
        assert_eq!(
            FleetPublicKeys::from_bytes(&public.to_bytes()).as_ref(),
            Ok(&public),
            "FleetPublicKeys decode(encode(x)) == x"
        );
    }

    check_fleet_secrets(
        "production",
        data,
        ProductionSuite,
        ProductionFleetSecrets::from_bytes,
        |s| s.to_bytes().to_vec(),
        |bytes| InsecureFastFleetSecrets::from_bytes(bytes).is_ok(),
    );
    check_fleet_secrets(
        "insecure",
        data,
        InsecureFastSuite,
        InsecureFastFleetSecrets::from_bytes,
        |s| s.to_bytes().to_vec(),
        |bytes| ProductionFleetSecrets::from_bytes(bytes).is_ok(),
    );
});
