//! The re-genesis state machine of one replica (SPEC.md "Re-genesis"): its lineage, the census
//! it runs, the freeze it granted, and when a census is due.
//!
//! [`Regenesis`] is driven by the [`ConsensusStore`](super::ConsensusStore) that owns it. Every
//! input takes a [`ReplicaView`] (what the machine reads of its replica at that moment) and
//! returns a [`CensusStep`]: census messages to send, then at most one [`CensusAction`] on the
//! consensus engine (give the state up, or start again in a new lineage), which the store
//! carries out in that order. The machine never touches the engine or the trusted state.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::genesis::{Census, CensusMessage, CensusPhase, CensusVerdict, Freeze, Lineage};
use super::store::{ReplicaBody, ReplicaMessage, StoreFault};
use crate::consensus::{Config, PeerMessage, ReplicaId, RequestTag};
use crate::drops::{DropCounts, DropReason};

/// How long a granted freeze lasts, in rounds.
const FREEZE_ROUNDS: u64 = 6;
/// How long a census waits for its replies, in rounds.
const CENSUS_ROUNDS: u64 = 4;

/// What the machine reads of its replica at one input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplicaView<'a> {
    /// The replica's id.
    pub(crate) me: ReplicaId,
    /// Whether its engine votes (false while it recovers).
    pub(crate) voting: bool,
    /// The group's configuration.
    pub(crate) config: &'a Config,
    /// The store's injected fault (`StoreFault::None` but in the checkers' tests).
    pub(crate) fault: StoreFault,
    /// The tag of the engine's amnesia recovery, while it recovers.
    pub(crate) recovery_tag: Option<RequestTag>,
    /// The store's clock.
    pub(crate) now_ms: u64,
}

impl ReplicaView<'_> {
    fn round(&self) -> u64 {
        self.config.round_timeout_ms.max(1)
    }

    fn others(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        let me = self.me;
        self.config
            .replicas
            .iter()
            .copied()
            .filter(move |r| *r != me)
    }

    /// How many other replicas a census must find frozen at once: a quorum to prove a voter's
    /// lineage dead, all of them to found a new one.
    fn census_needed(&self) -> usize {
        if self.voting {
            let quorum = self.config.quorum();
            if self.fault == StoreFault::CensusQuorumTooSmall {
                return quorum.saturating_sub(1);
            }
            quorum
        } else {
            self.config.replicas.len().saturating_sub(1)
        }
    }
}

/// What the store does with the consensus engine after a census step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CensusAction {
    /// A quorum of others was impaired at one instant: this lineage can never form a quorum
    /// again; give the state up and recover as an amnesiac.
    Abandon,
    /// Every replica was impaired at one instant: start again, empty, in this lineage.
    Join(Lineage),
}

/// The outputs of one input to the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CensusStep {
    /// Census messages to send, in order (stamped with the lineage the replica has before the
    /// action).
    pub(crate) sends: Vec<(ReplicaId, CensusMessage)>,
    /// Then this, if anything.
    pub(crate) action: Option<CensusAction>,
}

/// Whether a consensus message may reach the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Hand it to the engine.
    Admit,
    /// Drop it (another lineage's, or held by a census).
    Drop,
    /// Drop it and start the amnesia recovery again afresh, taking answers of this lineage
    /// from now on: the lineage the recovery read from was lost meanwhile.
    RestartRecovery(Lineage),
}

/// The store's share of re-genesis: its lineage, the census it runs, the freeze it granted, and
/// what it counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Regenesis {
    /// This start's instance (the host's incarnation); census tags and replies carry it.
    instance: u64,
    /// The lineage this replica votes in (`None` while it recovers).
    lineage: Option<Lineage>,
    /// While recovering: the lineage whose answers the recovery takes (the first one seen).
    recovery_lineage: Option<Lineage>,
    /// While recovering: when the current stall period began.
    recovering_since: u64,
    /// When this replica last ran a census as a voter (rate limit).
    last_voter_census: Option<u64>,
    next_census: u64,
    census: Option<Census>,
    freeze: Option<Freeze>,
    /// Per replica, the last census this replica froze for: it never freezes twice for one.
    last_frozen: BTreeMap<ReplicaId, RequestTag>,
    /// The founder resends its commit until then.
    committing: Option<(RequestTag, u64, u64)>,
    /// How many times the engine was replaced (join or abandon); keeps its tags fresh.
    engine_restarts: u64,
    /// Inputs dropped: consensus messages of another lineage.
    drops: DropCounts,
    /// Lineages founded or joined, and states abandoned, by this instance.
    joined: u64,
    abandoned: u64,
}

impl Regenesis {
    /// The machine of a store started as `instance`, voting in `lineage` (`None`: recovering
    /// since `since`).
    pub(crate) fn new(instance: u64, lineage: Option<Lineage>, since: u64) -> Self {
        Self {
            instance,
            lineage,
            recovery_lineage: None,
            recovering_since: since,
            last_voter_census: None,
            next_census: 0,
            census: None,
            freeze: None,
            last_frozen: BTreeMap::new(),
            committing: None,
            engine_restarts: 0,
            drops: DropCounts::default(),
            joined: 0,
            abandoned: 0,
        }
    }

    /// The lineage stamped on outgoing messages: this replica's, while it votes.
    pub(crate) fn stamp(&self, voting: bool) -> Option<Lineage> {
        if voting {
            self.lineage.or(Some(Lineage::ORIGINAL))
        } else {
            None
        }
    }

    /// The lineage a durable write made now belongs to: the one voted in, or the one the
    /// recovery reads from.
    pub(crate) fn write_lineage(&self, voting: bool) -> Lineage {
        self.stamp(voting)
            .or(self.recovery_lineage)
            .unwrap_or(Lineage::ORIGINAL)
    }

    /// Consensus messages dropped because they came from another lineage.
    pub(crate) fn foreign_lineage_drops(&self) -> u64 {
        self.drops.get(DropReason::ForeignLineage)
    }

    /// Counts a consensus message dropped as another lineage's (or held by a census).
    pub(crate) fn count_foreign_drop(&mut self) {
        self.drops.count(DropReason::ForeignLineage);
    }

    /// Lineages founded or joined, and states abandoned, by this instance.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.joined, self.abandoned)
    }

    /// A fresh engine incarnation for a replaced engine (its request tags never repeat).
    pub(crate) fn next_engine_incarnation(&mut self) -> u64 {
        self.engine_restarts = self.engine_restarts.saturating_add(1);
        self.instance.rotate_left(32) ^ self.engine_restarts
    }

    /// The engine was replaced at `now_ms` (a join, an abandon or a restarted recovery): no census
    /// or freeze survives it, and a new stall period begins.
    pub(crate) fn engine_replaced(&mut self, now_ms: u64) {
        self.census = None;
        self.freeze = None;
        self.recovery_lineage = None;
        self.recovering_since = now_ms;
    }

    /// The replica now votes, empty, in `lineage`.
    pub(crate) fn note_joined(&mut self, lineage: Lineage) {
        self.lineage = Some(lineage);
        self.joined = self.joined.saturating_add(1);
    }

    /// The replica gave its state up and recovers.
    pub(crate) fn note_abandoned(&mut self) {
        self.lineage = None;
        self.abandoned = self.abandoned.saturating_add(1);
    }

    /// The recovery restarted and takes answers of `lineage` only.
    pub(crate) fn pin_recovery_lineage(&mut self, lineage: Lineage) {
        self.recovery_lineage = Some(lineage);
    }

    /// After an input: a recovery that finished adopts the lineage it recovered from.
    pub(crate) fn note_recovery_end(&mut self, was_voting: bool, voting: bool) {
        if !was_voting && voting {
            self.lineage = Some(self.recovery_lineage.unwrap_or(Lineage::ORIGINAL));
            self.recovery_lineage = None;
        }
    }

    /// Whether this replica's amnesia recovery is held by a census (its own or another's).
    fn is_frozen(&self, view: &ReplicaView<'_>) -> bool {
        let granted = self.freeze.is_some_and(|f| view.now_ms < f.until);
        let own = !view.voting && self.census.is_some();
        granted || own
    }

    /// Whether a freeze for `from`'s census `tag` holds now.
    fn frozen_for(&self, view: &ReplicaView<'_>, from: ReplicaId, tag: RequestTag) -> bool {
        self.freeze
            .is_some_and(|f| view.now_ms < f.until && (f.by, f.tag) == (from, tag))
    }

    /// When a stalled recovery runs its census, if re-genesis is on.
    fn stall_deadline(&self, view: &ReplicaView<'_>) -> Option<u64> {
        if view.voting || self.census.is_some() || self.is_frozen(view) {
            return None;
        }
        let after = view.config.regenesis_after_ms?;
        let stagger = view.round().saturating_mul(u64::from(view.me.0));
        Some(
            self.recovering_since
                .saturating_add(after)
                .saturating_add(stagger),
        )
    }

    fn start_census(&mut self, view: &ReplicaView<'_>, step: &mut CensusStep) {
        let tag = RequestTag {
            incarnation: self.instance,
            sequence: self.next_census,
        };
        self.next_census = self.next_census.saturating_add(1);
        self.census = Some(Census {
            tag,
            phase: CensusPhase::Querying(BTreeMap::new()),
            deadline: view
                .now_ms
                .saturating_add(view.round().saturating_mul(CENSUS_ROUNDS)),
        });
        if view.voting {
            self.last_voter_census = Some(view.now_ms);
        }
        step.sends
            .extend(view.others().map(|to| (to, CensusMessage::Query { tag })));
    }

    /// A census message from `from` (stamped with `sender_lineage`).
    pub(crate) fn on_census(
        &mut self,
        view: &ReplicaView<'_>,
        from: ReplicaId,
        sender_lineage: Option<Lineage>,
        message: CensusMessage,
    ) -> CensusStep {
        let mut step = CensusStep::default();
        let now_ms = view.now_ms;
        let hold = view.round().saturating_mul(FREEZE_ROUNDS);
        let instance = self.instance;
        match message {
            CensusMessage::Query { tag } => {
                if view.voting {
                    let after = view.config.regenesis_after_ms;
                    let rested = match (after, self.last_voter_census) {
                        (None, _) => false,
                        (Some(_), None) => true,
                        (Some(after), Some(last)) => now_ms >= last.saturating_add(after),
                    };
                    if rested && self.census.is_none() {
                        self.start_census(view, &mut step);
                    }
                    return step;
                }
                // A voter's census goes first (voters must give up before any genesis can
                // succeed), then the lowest id; a census or freeze of lower rank yields.
                let rank = (sender_lineage.is_none(), from);
                if self.census.is_some() {
                    if rank > (true, view.me) {
                        return step;
                    }
                    self.census = None;
                }
                if let Some(freeze) = self.freeze
                    && now_ms < freeze.until
                    && (freeze.by, freeze.tag) != (from, tag)
                    && freeze.rank < rank
                {
                    return step;
                }
                if !self.frozen_for(view, from, tag) {
                    if self.last_frozen.get(&from) == Some(&tag) {
                        return step; // never a second, discontinuous freeze for one census
                    }
                    self.freeze = Some(Freeze {
                        rank,
                        by: from,
                        tag,
                        until: now_ms.saturating_add(hold),
                    });
                    self.last_frozen.insert(from, tag);
                    self.recovering_since = now_ms;
                }
                step.sends
                    .push((from, CensusMessage::Frozen { tag, instance }));
            }
            CensusMessage::Check { tag } => {
                if !view.voting && self.frozen_for(view, from, tag) {
                    step.sends
                        .push((from, CensusMessage::StillFrozen { tag, instance }));
                }
            }
            CensusMessage::Commit { tag } => {
                if !view.voting && self.frozen_for(view, from, tag) {
                    step.action = Some(CensusAction::Join(Lineage { founder: from, tag }));
                }
            }
            CensusMessage::Frozen { .. } | CensusMessage::StillFrozen { .. } => {
                let needed = view.census_needed();
                let Some(census) = self.census.as_mut() else {
                    return step;
                };
                match census.on_reply(from, message, needed) {
                    CensusVerdict::Waiting => {}
                    CensusVerdict::Check => {
                        let tag = census.tag;
                        if let CensusPhase::Checking { frozen, .. } = &census.phase {
                            step.sends.extend(
                                frozen.keys().map(|to| (*to, CensusMessage::Check { tag })),
                            );
                        }
                    }
                    CensusVerdict::Proven => {
                        let tag = census.tag;
                        self.census = None;
                        if view.voting {
                            step.action = Some(CensusAction::Abandon);
                        } else {
                            let lineage = Lineage {
                                founder: view.me,
                                tag,
                            };
                            self.committing = Some((tag, now_ms.saturating_add(hold), now_ms));
                            step.sends.extend(
                                view.others().map(|to| (to, CensusMessage::Commit { tag })),
                            );
                            step.action = Some(CensusAction::Join(lineage));
                        }
                    }
                }
            }
        }
        step
    }

    /// Whether a consensus message may reach the engine: a voter takes its own lineage only
    /// (and the recovery requests of replicas that have none); a recovering replica takes
    /// answers of one lineage, and none while a census holds it.
    pub(crate) fn admit(&mut self, view: &ReplicaView<'_>, message: &ReplicaMessage) -> Admission {
        let ReplicaBody::Peer(peer) = &message.body else {
            return Admission::Drop;
        };
        if view.fault == StoreFault::IgnoreLineage {
            return Admission::Admit;
        }
        if view.voting {
            let own = self.stamp(true);
            let recovery_request = matches!(
                peer,
                PeerMessage::Fence { .. } | PeerMessage::CatchUp { .. }
            );
            return if message.lineage == own || (message.lineage.is_none() && recovery_request) {
                Admission::Admit
            } else {
                Admission::Drop
            };
        }
        let tag = match peer {
            PeerMessage::FenceAck { tag, .. } | PeerMessage::CatchUpPage { tag, .. } => *tag,
            _ => return Admission::Admit, // the engine ignores everything else while it recovers
        };
        if self.is_frozen(view) {
            return Admission::Drop;
        }
        let Some(lineage) = message.lineage else {
            return Admission::Drop;
        };
        if view.recovery_tag != Some(tag) {
            return Admission::Admit; // a stale answer: the engine ignores it, and it pins nothing
        }
        match self.recovery_lineage {
            None => {
                self.recovery_lineage = Some(lineage);
                Admission::Admit
            }
            Some(pinned) if pinned == lineage => Admission::Admit,
            // Voters of another lineage answer now: the one this recovery read from was lost
            // meanwhile. Nothing read from it may be kept: recover again, afresh.
            Some(_) => Admission::RestartRecovery(lineage),
        }
    }

    /// Runs the timers that are due at `view.now_ms`.
    pub(crate) fn on_timers(&mut self, view: &ReplicaView<'_>) -> CensusStep {
        let mut step = CensusStep::default();
        let now_ms = view.now_ms;
        if let Some(freeze) = self.freeze
            && now_ms >= freeze.until
        {
            self.freeze = None;
            self.recovering_since = now_ms;
        }
        if let Some(census) = &self.census
            && now_ms >= census.deadline
        {
            self.census = None;
            self.recovering_since = now_ms;
        }
        if let Some((tag, until, last)) = self.committing {
            if now_ms >= until {
                self.committing = None;
            } else if now_ms >= last.saturating_add(view.round()) {
                self.committing = Some((tag, until, now_ms));
                step.sends
                    .extend(view.others().map(|to| (to, CensusMessage::Commit { tag })));
            }
        }
        if self.stall_deadline(view).is_some_and(|d| now_ms >= d) {
            self.start_census(view, &mut step);
        }
        step
    }

    /// When [`Regenesis::on_timers`] should next run, if ever.
    pub(crate) fn next_deadline(&self, view: &ReplicaView<'_>) -> Option<u64> {
        let freeze = self.freeze.map(|f| f.until);
        let census = self.census.as_ref().map(|c| c.deadline);
        let commit = self
            .committing
            .map(|(_, until, last)| until.min(last.saturating_add(view.round())));
        [freeze, census, commit, self.stall_deadline(view)]
            .into_iter()
            .flatten()
            .min()
    }
}
