//! Re-genesis of a replica group that lost a majority of its state (SPEC.md "Re-genesis").
//!
//! When more than `⌊(N−1)/2⌋` replicas of a group are impaired at once (assumption A1 of the
//! amnesia argument fails), no amnesia recovery can finish: the group's records are out of
//! reach. A **census** proves that enough replicas are *simultaneously* impaired; then
//! - a voting replica that finds a quorum of others impaired knows its lineage can never form
//!   a quorum again and **abandons** its state (it becomes an amnesiac itself), and
//! - a recovering replica that finds every other replica impaired founds a new **lineage**: all
//!   of them start again as an empty group (every account answers `NoRecord`).
//!
//! Every replica message is stamped with its sender's lineage, and a voting replica only
//! listens to its own lineage, so nothing of an older lineage (a delayed Accept, say) can ever
//! reach the new one. This module holds the pure parts: the lineage, the census messages and
//! the two state machines (the census a replica runs, the freeze it grants to another's).

use alloc::collections::BTreeMap;

use crate::consensus::{ReplicaId, RequestTag};

/// Which incarnation of a group's replicated state a replica votes in: the original group, or
/// the one founded by a census (its founder and the census's tag, unique per founder instance).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Lineage {
    /// The replica whose census founded the lineage (`r0` for the original group).
    pub founder: ReplicaId,
    /// The founding census's tag (`{0, 0}` for the original group).
    pub tag: RequestTag,
}

impl Lineage {
    /// The lineage every member of a brand-new group starts in.
    pub const ORIGINAL: Lineage = Lineage {
        founder: ReplicaId(0),
        tag: RequestTag {
            incarnation: 0,
            sequence: 0,
        },
    };
}

/// The census messages (SPEC.md "Re-genesis", messages).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum CensusMessage {
    /// "If you are recovering, freeze your recovery for my census `tag`."
    Query {
        /// The census.
        tag: RequestTag,
    },
    /// "I am recovering and frozen for `tag`" — sent by store instance `instance`.
    Frozen {
        /// The census.
        tag: RequestTag,
        /// The replier's store instance (its start's incarnation).
        instance: u64,
    },
    /// Second phase: "are you still frozen for `tag`?"
    Check {
        /// The census.
        tag: RequestTag,
    },
    /// "I have been frozen for `tag` without a break since my `Frozen`."
    StillFrozen {
        /// The census.
        tag: RequestTag,
        /// The replier's store instance (must be the one that sent `Frozen`).
        instance: u64,
    },
    /// "Every replica was impaired at once: start again, empty, in lineage `{me, tag}`."
    Commit {
        /// The census (the new lineage's tag).
        tag: RequestTag,
    },
}

impl CensusMessage {
    /// The census the message belongs to.
    pub fn tag(&self) -> RequestTag {
        match self {
            Self::Query { tag }
            | Self::Frozen { tag, .. }
            | Self::Check { tag }
            | Self::StillFrozen { tag, .. }
            | Self::Commit { tag } => *tag,
        }
    }

    /// The name of the message kind, as in SPEC.md.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Query { .. } => "CensusQuery",
            Self::Frozen { .. } => "CensusFrozen",
            Self::Check { .. } => "CensusCheck",
            Self::StillFrozen { .. } => "CensusStillFrozen",
            Self::Commit { .. } => "CensusCommit",
        }
    }
}

/// A freeze this replica granted: while it lasts, its amnesia recovery takes no answer, so it
/// stays impaired (the census's simultaneity rests on this).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Freeze {
    /// Who asked, ranked: a voter's census before any recovering replica's, then lower ids.
    pub(crate) rank: (bool, ReplicaId),
    pub(crate) by: ReplicaId,
    pub(crate) tag: RequestTag,
    pub(crate) until: u64,
}

/// The phase of a census this replica runs.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum CensusPhase {
    /// Collecting `Frozen` replies: replica → its instance.
    Querying(BTreeMap<ReplicaId, u64>),
    /// Collecting `StillFrozen` replies from the same instances that froze.
    Checking {
        frozen: BTreeMap<ReplicaId, u64>,
        still: BTreeMap<ReplicaId, u64>,
    },
}

/// A census this replica runs.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Census {
    pub(crate) tag: RequestTag,
    pub(crate) phase: CensusPhase,
    pub(crate) deadline: u64,
}

/// What a census concluded after a reply.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CensusVerdict {
    /// Nothing yet.
    Waiting,
    /// Phase one is complete: send `Check` to these repliers.
    Check,
    /// Enough replicas were impaired at one instant.
    Proven,
}

impl Census {
    /// Counts one reply; `needed` is how many other replicas must be frozen at once.
    pub(crate) fn on_reply(
        &mut self,
        from: ReplicaId,
        message: CensusMessage,
        needed: usize,
    ) -> CensusVerdict {
        if message.tag() != self.tag {
            return CensusVerdict::Waiting;
        }
        match (&mut self.phase, message) {
            (CensusPhase::Querying(frozen), CensusMessage::Frozen { instance, .. }) => {
                frozen.insert(from, instance);
                if frozen.len() >= needed {
                    let frozen = core::mem::take(frozen);
                    self.phase = CensusPhase::Checking {
                        frozen,
                        still: BTreeMap::new(),
                    };
                    return CensusVerdict::Check;
                }
                CensusVerdict::Waiting
            }
            (
                CensusPhase::Checking { frozen, still },
                CensusMessage::StillFrozen { instance, .. },
            ) => {
                // Only the instance that froze counts: a restarted replica is not continuous.
                if frozen.get(&from) == Some(&instance) {
                    still.insert(from, instance);
                }
                if still.len() >= needed {
                    CensusVerdict::Proven
                } else {
                    CensusVerdict::Waiting
                }
            }
            _ => CensusVerdict::Waiting,
        }
    }
}
