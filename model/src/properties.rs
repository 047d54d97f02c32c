//! The properties both models check, by name and by predicate (SPEC.md "Model checking",
//! "Properties", "Replicated vault"). Each `always` has a `sometimes` sibling showing it is not
//! vacuous.
//!
//! The predicates are generic over what a model observes ([`Observes`]): this module knows no
//! model, and each model picks its list (`Model::properties`) from the constructors here and
//! adds the ones only it can judge.

use e2ee_backup::internal::consensus::Ballot;
use stateright::{Model, Property};

use crate::challenges::ChallengeLog;

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

// ---- the replicated model's names ----------------------------------------------------------

/// INV-LINEAR: the account's login requests and replies have a linearization against
/// [`super::spec::AccountSpec`].
pub const INV_LINEAR: &str = "INV-LINEAR: login requests linearize";
/// Sibling of INV-LINEAR: a history with at least two returned requests linearizes.
pub const LINEAR_HISTORY: &str = "sometimes: two or more returned requests linearize";
/// Sibling of INV-DURABLE: a replica restarts from its durable state.
pub const REPLICA_RESTARTS: &str = "sometimes: a replica restarts from its disk";
/// A group with a replica down still completes an operation.
pub const COMPLETES_WHILE_DOWN: &str = "sometimes: an operation completes while a replica is down";
/// An amnesiac replica catches up and votes again.
pub const AMNESIAC_RECOVERS: &str = "sometimes: a replica that lost its disk votes again";
/// The operator put an earlier copy of a replica's disk back.
pub const ROLLBACK_HAPPENS: &str = "sometimes: a replica's disk is rolled back";
/// The owner still recovers the key after a rollback.
pub const RECOVERS_AFTER_ROLLBACK: &str = "sometimes: a recovery succeeds after a rollback";
/// INV-REGENESIS (SPEC.md "Re-genesis", G1): no replica gives its state up, and no lineage is
/// founded, unless a quorum of the group was impaired at once.
pub const INV_REGENESIS: &str =
    "INV-REGENESIS: a group refounds only after a majority was impaired";
/// Sibling of INV-REGENESIS: the group founds a new lineage.
pub const REGENESIS_HAPPENS: &str = "sometimes: the group refounds itself";
/// Skip-Prepare configurations: a change skips phase 1.
pub const SKIPS_PREPARE: &str = "sometimes: a change skips phase 1 (skip-Prepare)";
/// Liveness: every device's script ends (each operation ends with an outcome, possibly
/// `Unavailable`): no operation hangs.
pub const SCRIPTS_END: &str = "eventually: every device's operations end";

/// What both models record for the properties they share, as it happens at the vault's
/// boundary (each model's `History` holds one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Observations {
    /// Per generation: the distinct login ids whose `LoginChallenge` was released since the
    /// record last had `attempts_used = 0` (exposure or a committed successful login):
    /// the password tests granted (INV-ATTEMPTS).
    pub challenges: ChallengeLog,
    /// A `KeyReleased` went to a session not made with the registered password, carried
    /// another key, or came after the erasure of its generation (INV-DISCLOSE).
    pub disclose_violated: bool,
    /// The owner recovered the right key.
    pub recovered: bool,
    /// An erased generation came back to life (released a challenge or the key, or was seen
    /// live again).
    pub lockout_violated: bool,
    /// A record was seen `Locked` (on a disk of the single vault, in a replica's answer).
    pub locked: bool,
    /// A device finished an operation (not `Unavailable`) after a crash.
    pub completed_after_crash: bool,
}

/// A model whose states carry what the shared properties read.
pub trait Observes: Model {
    /// The registration's attempt limit.
    fn attempt_limit(&self) -> usize;
    /// What `state` has observed.
    fn observed(state: &Self::State) -> &Observations;
}

/// INV-ATTEMPTS.
pub fn inv_attempts<M: Observes>() -> Property<M> {
    Property::always(INV_ATTEMPTS, |m: &M, s: &M::State| {
        M::observed(s).challenges.within(m.attempt_limit())
    })
}

/// The sibling of INV-ATTEMPTS.
pub fn attempt_limit_reached<M: Observes>() -> Property<M> {
    Property::sometimes(ATTEMPT_LIMIT_REACHED, |m: &M, s: &M::State| {
        M::observed(s).challenges.reached(m.attempt_limit())
    })
}

/// INV-DISCLOSE.
pub fn inv_disclose<M: Observes>() -> Property<M> {
    Property::always(INV_DISCLOSE, |_, s: &M::State| {
        !M::observed(s).disclose_violated
    })
}

/// The sibling of INV-DISCLOSE.
pub fn recovery_succeeds<M: Observes>() -> Property<M> {
    Property::sometimes(RECOVERY_SUCCEEDS, |_, s: &M::State| {
        M::observed(s).recovered
    })
}

/// Lockout permanence.
pub fn lockout_permanent<M: Observes>() -> Property<M> {
    Property::always(LOCKOUT_PERMANENT, |_, s: &M::State| {
        !M::observed(s).lockout_violated
    })
}

/// The sibling of lockout permanence.
pub fn lockout_happens<M: Observes>() -> Property<M> {
    Property::sometimes(LOCKOUT_HAPPENS, |_, s: &M::State| M::observed(s).locked)
}

/// An operation completes after a crash.
pub fn completes_after_crash<M: Observes>() -> Property<M> {
    Property::sometimes(COMPLETES_AFTER_CRASH, |_, s: &M::State| {
        M::observed(s).completed_after_crash
    })
}

/// A disk's accepted ballot and record generation, if it accepted anything.
pub type DiskSummary = Option<(Ballot, Option<u64>)>;

/// INV-DURABLE on disks: every majority (of `quorum` replicas) of the replicas that are not
/// impaired (`None`: an amnesiac one does not vote until it caught up) holds, at its highest
/// accepted ballot, a record of at least the `acknowledged` generation — so every later read
/// quorum finds it, whatever crashes and restarts from disk happen.
pub fn every_quorum_holds_the_registration(
    acknowledged: u64,
    quorum: usize,
    disks: &[Option<DiskSummary>],
) -> bool {
    if acknowledged == 0 {
        return true;
    }
    let n = disks.len();
    (0u32..(1 << n))
        .filter(|mask| mask.count_ones() as usize == quorum)
        .filter(|mask| (0..n).all(|i| mask & (1 << i) == 0 || disks[i].is_some()))
        .all(|mask| {
            let best = (0..n)
                .filter(|i| mask & (1 << i) != 0)
                .filter_map(|i| disks[i].flatten())
                .max_by_key(|(ballot, _)| *ballot);
            best.and_then(|(_, generation)| generation)
                .is_some_and(|g| g >= acknowledged)
        })
}
