//! The fleet encodings a host reads from disk: the fleet public keys file a client pins
//! (`FleetPublicKeys::from_bytes`) and the fleet secrets of both real suites
//! (`ProductionFleetSecrets::from_bytes`, `InsecureFastFleetSecrets::from_bytes`). Every input
//! goes to all three decoders. Properties: `e2ee_backup_fuzz::check_codec` for each (no panic;
//! a successful decode re-encodes to exactly its input, and fails with its last byte cut or a
//! byte appended); decoded public keys equal what their encoding decodes to; decoded secrets
//! never load under the other suite, and the public keys they derive round-trip through their
//! file encoding.
#![no_main]

use e2ee_backup::crypto::real::{
    InsecureFastFleetSecrets, InsecureFastSuite, ProductionFleetSecrets, ProductionSuite,
};
use e2ee_backup::crypto::{CryptoSuite, FleetPublicKeys};
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

    check_codec(
        "ProductionFleetSecrets",
        data,
        ProductionFleetSecrets::from_bytes,
        |s: &ProductionFleetSecrets| s.to_bytes().to_vec(),
    );
    if let Ok(secrets) = ProductionFleetSecrets::from_bytes(data) {
        assert!(
            InsecureFastFleetSecrets::from_bytes(data).is_err(),
            "production secrets never load as insecure ones"
        );
        let again = ProductionFleetSecrets::from_bytes(&secrets.to_bytes())
            .expect("re-encoded production secrets decode");
        assert_eq!(again.to_bytes(), secrets.to_bytes(), "decode(encode(x)) == x");
        assert_eq!(again.fleet_id(), secrets.fleet_id(), "the fleet id survives");
        let suite = ProductionSuite;
        assert_eq!(
            suite.fleet_public_keys(&again),
            suite.fleet_public_keys(&secrets),
            "the public keys survive"
        );
        derived_public_keys_round_trip(suite.fleet_public_keys(&secrets));
    }

    check_codec(
        "InsecureFastFleetSecrets",
        data,
        InsecureFastFleetSecrets::from_bytes,
        |s: &InsecureFastFleetSecrets| s.to_bytes().to_vec(),
    );
    if let Ok(secrets) = InsecureFastFleetSecrets::from_bytes(data) {
        assert!(
            ProductionFleetSecrets::from_bytes(data).is_err(),
            "insecure secrets never load as production ones"
        );
        let again = InsecureFastFleetSecrets::from_bytes(&secrets.to_bytes())
            .expect("re-encoded insecure secrets decode");
        assert_eq!(again.to_bytes(), secrets.to_bytes(), "decode(encode(x)) == x");
        assert_eq!(again.fleet_id(), secrets.fleet_id(), "the fleet id survives");
        let suite = InsecureFastSuite;
        assert_eq!(
            suite.fleet_public_keys(&again),
            suite.fleet_public_keys(&secrets),
            "the public keys survive"
        );
        derived_public_keys_round_trip(suite.fleet_public_keys(&secrets));
    }
});
