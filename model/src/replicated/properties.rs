//! The properties of the replicated model (SPEC.md "Model checking", "Replicated vault").
//! Each `always` has a `sometimes` sibling showing it is not vacuous.

use e2ee_backup::consensus::Ballot;
use stateright::Property;

use super::ReplicatedModel;
use super::state::ReplicatedState;
use crate::config::Op;
pub use crate::properties::{
    ATTEMPT_LIMIT_REACHED, COMPLETES_AFTER_CRASH, INV_ATTEMPTS, INV_DISCLOSE, INV_DURABLE,
    LOCKOUT_HAPPENS, LOCKOUT_PERMANENT, RECOVERY_SUCCEEDS,
};

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

/// Every property of `model`, in report order.
pub fn all(model: &ReplicatedModel) -> Vec<Property<ReplicatedModel>> {
    let honest = model.config.devices.iter().any(|d| d.honest);
    // A guesser who logs in (a prober alone never locks the record).
    let attacker = model
        .config
        .devices
        .iter()
        .any(|d| !d.honest && d.script.contains(&Op::Recover));
    let crashes = model.config.max_crashes > 0;
    // A group that starts with a majority impaired never serves the record again (it waits
    // for a re-genesis): no login is answered, so the siblings that need one are left out;
    // REGENESIS_HAPPENS shows that configuration is not vacuous.
    let serves = usize::from(model.replication.initial_amnesiacs) < model.quorum();
    let mut properties = vec![Property::always(
        INV_ATTEMPTS,
        |m: &ReplicatedModel, s: &ReplicatedState| {
            let limit = m.attempt_limit() as usize;
            s.history.challenges.within(limit)
        },
    )];
    if serves {
        properties.push(Property::sometimes(
            ATTEMPT_LIMIT_REACHED,
            |m: &ReplicatedModel, s: &ReplicatedState| {
                let limit = m.attempt_limit() as usize;
                s.history.challenges.reached(limit)
            },
        ));
    }
    properties.push(Property::always(INV_DISCLOSE, |_, s: &ReplicatedState| {
        !s.history.disclose_violated
    }));
    if honest && serves {
        properties.push(Property::sometimes(
            RECOVERY_SUCCEEDS,
            |_, s: &ReplicatedState| s.history.recovered,
        ));
    }
    properties.push(Property::always(
        LOCKOUT_PERMANENT,
        |_, s: &ReplicatedState| !s.history.lockout_violated,
    ));
    if attacker {
        properties.push(Property::sometimes(
            LOCKOUT_HAPPENS,
            |_, s: &ReplicatedState| s.history.locked,
        ));
    }
    properties.push(Property::always(INV_LINEAR, |_, s: &ReplicatedState| {
        ReplicatedModel::linearizable(s)
    }));
    if serves {
        properties.push(Property::sometimes(
            LINEAR_HISTORY,
            |_, s: &ReplicatedState| s.history.returns >= 2 && ReplicatedModel::linearizable(s),
        ));
    }
    properties.push(Property::always(
        INV_DURABLE,
        |m: &ReplicatedModel, s: &ReplicatedState| {
            // Under assumption A1 only: a group with a majority impaired may lose records.
            s.history.majority_impaired
                || (!s.history.durable_violated && every_quorum_holds_the_registration(m, s))
        },
    ));
    if model.replication.skip_prepare {
        properties.push(Property::sometimes(
            SKIPS_PREPARE,
            |_, s: &ReplicatedState| s.history.skipped_prepare,
        ));
    }
    if model.replication.regenesis {
        properties.push(Property::always(INV_REGENESIS, |_, s: &ReplicatedState| {
            !s.history.regenesis_unjustified
        }));
        if usize::from(model.replication.initial_amnesiacs) >= model.quorum() {
            properties.push(Property::sometimes(
                REGENESIS_HAPPENS,
                |_, s: &ReplicatedState| s.history.refounded,
            ));
        }
    }
    if crashes {
        properties.push(Property::sometimes(
            REPLICA_RESTARTS,
            |_, s: &ReplicatedState| s.history.restarted,
        ));
        properties.push(Property::sometimes(
            COMPLETES_AFTER_CRASH,
            |_, s: &ReplicatedState| s.history.completed_after_crash,
        ));
    }
    if crashes && model.replication.max_down > 0 {
        properties.push(Property::sometimes(
            COMPLETES_WHILE_DOWN,
            |_, s: &ReplicatedState| s.history.completed_while_down,
        ));
    }
    if model.replication.max_amnesia > 0 {
        properties.push(Property::sometimes(
            AMNESIAC_RECOVERS,
            |_, s: &ReplicatedState| s.history.amnesiac_recovered,
        ));
    }
    if model.replication.max_rollbacks > 0 {
        properties.push(Property::sometimes(
            ROLLBACK_HAPPENS,
            |_, s: &ReplicatedState| s.history.rolled_back,
        ));
        if honest {
            properties.push(Property::sometimes(
                RECOVERS_AFTER_ROLLBACK,
                |_, s: &ReplicatedState| s.history.recovered_after_rollback,
            ));
        }
    }
    properties.push(Property::eventually(
        SCRIPTS_END,
        |m: &ReplicatedModel, s: &ReplicatedState| {
            s.devices.iter().enumerate().all(|(i, d)| {
                !d.running && d.next_op >= m.config.devices.get(i).map_or(0, |c| c.script.len())
            })
        },
    ));
    properties
}

/// A disk's accepted ballot and record generation, if it accepted anything.
type DiskSummary = Option<(Ballot, Option<u64>)>;

/// INV-DURABLE on disks: every majority of the replicas that are not impaired (an amnesiac
/// one does not vote until it caught up) holds, at its highest accepted ballot, a record of
/// at least the acknowledged generation — so every later read quorum finds it, whatever
/// crashes and restarts from disk happen.
pub fn every_quorum_holds_the_registration(model: &ReplicatedModel, s: &ReplicatedState) -> bool {
    let acknowledged = s.history.acknowledged;
    if acknowledged == 0 {
        return true;
    }
    let disks: Vec<Option<DiskSummary>> = s
        .replicas
        .iter()
        .map(|host| (!ReplicatedModel::impaired(host)).then_some(host.disk_accepted))
        .collect();
    let n = disks.len();
    let quorum = model.quorum();
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
