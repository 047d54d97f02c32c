//! The properties checked on every state (SPEC.md "Model checking", "Properties"). Each
//! `always` has a `sometimes` sibling showing it is not vacuous.

use stateright::{Model, Property};

use crate::model::VaultModel;
use crate::state::ModelState;

/// INV-ATTEMPTS: per generation, the distinct password tests granted since exposure or the last
/// committed successful login never exceed the attempt limit. A password test is any vault
/// output computed under the live record's OPRF key: a `LoginChallenge`, or a
/// `RegistrationResponse` under that key (the broken `shared-oprf-key` vault).
pub const INV_ATTEMPTS: &str = "INV-ATTEMPTS: password tests per registration <= limit";
/// Sibling of INV-ATTEMPTS: the limit is reached.
pub const ATTEMPT_LIMIT_REACHED: &str = "sometimes: the attempt limit is reached";
/// INV-DISCLOSE: a released key goes only to a session made with the registered password, is
/// the registered key, and never comes after the record's erasure.
pub const INV_DISCLOSE: &str = "INV-DISCLOSE: key released only to the password holder";
/// Sibling of INV-DISCLOSE: the owner recovers the key.
pub const RECOVERY_SUCCEEDS: &str = "sometimes: recovery succeeds";
/// Lockout is permanent: an erased generation never becomes live again.
pub const LOCKOUT_PERMANENT: &str = "lockout is permanent";
/// Sibling of lockout permanence: lockout happens.
pub const LOCKOUT_HAPPENS: &str = "sometimes: lockout happens";
/// INV-DURABLE: an acknowledged registration is in the durable record and in the live record
/// after every crash and restart.
pub const INV_DURABLE: &str = "INV-DURABLE: acknowledged registration survives restarts";
/// Sibling of INV-DURABLE: the vault restarts after an acknowledged registration.
pub const RESTART_AFTER_ACK: &str = "sometimes: restart after an acknowledged registration";
/// A crashed vault, once restarted, still completes an operation.
pub const COMPLETES_AFTER_CRASH: &str = "sometimes: an operation completes after a crash";

/// Every property, in report order.
pub fn all() -> Vec<Property<VaultModel>> {
    vec![
        Property::always(INV_ATTEMPTS, |m: &VaultModel, s: &ModelState| {
            let limit = m.config.attempt_limit as usize;
            s.history.challenges.within(limit)
        }),
        Property::sometimes(ATTEMPT_LIMIT_REACHED, |m: &VaultModel, s: &ModelState| {
            let limit = m.config.attempt_limit as usize;
            s.history.challenges.reached(limit)
        }),
        Property::always(INV_DISCLOSE, |_, s: &ModelState| {
            !s.history.disclose_violated
        }),
        Property::sometimes(RECOVERY_SUCCEEDS, |_, s: &ModelState| s.history.recovered),
        Property::always(LOCKOUT_PERMANENT, |_, s: &ModelState| {
            !s.history.lockout_violated
        }),
        Property::sometimes(LOCKOUT_HAPPENS, |_, s: &ModelState| s.history.locked),
        Property::always(INV_DURABLE, |_, s: &ModelState| !s.history.durable_violated),
        Property::sometimes(RESTART_AFTER_ACK, |_, s: &ModelState| {
            s.history.restarted_after_ack
        }),
        Property::sometimes(COMPLETES_AFTER_CRASH, |_, s: &ModelState| {
            s.history.completed_after_crash
        }),
    ]
}

/// Whether `name` is an `always` property (a discovery is a counterexample).
pub fn is_safety(model: &VaultModel, name: &str) -> bool {
    model
        .properties()
        .iter()
        .any(|p| p.name == name && matches!(p.expectation, stateright::Expectation::Always))
}
