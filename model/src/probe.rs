//! The OPRF-oracle probe of issue 10: an attacker with the account's session sends a
//! `RegisterStart` for a guessed password and never finishes the registration (SPEC.md "Model
//! checking", INV-ATTEMPTS). The probe is built with the public client-side pieces (the suite's
//! OPAQUE registration start and request sealing), not with a [`e2ee_backup::Client`], which
//! would go on to `RegisterFinish`.

use e2ee_backup::AccountId;
use e2ee_backup::internal::crypto::symbolic::SymbolicSuite;
use e2ee_backup::internal::crypto::{CryptoSuite as _, FleetPublicKeys};
use e2ee_backup::internal::wire::{ClientRequest, Request, RequestKind, request_aad};

use crate::rng::CounterRng;

/// Request ids of probes start here, far from the ids the device's own client uses (the relay
/// keeps routes per connection and request id; the client ignores replies it did not ask for).
pub const PROBE_REQUEST_ID_BASE: u64 = 1 << 40;

/// The encoded `ClientRequest` of probe number `n`: a `RegisterStart` for `guess`, sealed to
/// the pinned fleet.
pub fn register_start(
    rng: &mut CounterRng,
    pinned: &FleetPublicKeys,
    account: &AccountId,
    guess: &[u8],
    n: usize,
) -> Option<Vec<u8>> {
    let suite = SymbolicSuite;
    let start = suite.client_registration_start(rng, guess).ok()?;
    let request = Request::RegisterStart {
        registration_request: start.message,
    };
    let kind = RequestKind::RegisterStart;
    let sealed = suite
        .seal_request(rng, pinned, &request_aad(account, kind), &request.encode())
        .ok()?;
    Some(
        ClientRequest {
            request_id: PROBE_REQUEST_ID_BASE + u64::try_from(n).ok()?,
            kind,
            sealed: sealed.sealed,
        }
        .encode(),
    )
}
