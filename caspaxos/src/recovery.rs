//! Amnesia recovery: fence, catch up, then vote (SPEC.md "Replication", amnesia).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::acceptor::{AcceptorState, ReplicaMeta};
use crate::ballot::{ReplicaId, RequestTag};
use crate::messages::{AcceptedValue, PeerMessage};
use crate::node::{CATCH_UP_PAGE_MAX, Node};

/// One catch-up page as received from one replica.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Page<K, V> {
    pub(crate) entries: Vec<(K, AcceptedValue<V>)>,
    pub(crate) more: bool,
}

/// The recovery of a replica that restarted without its durable state; each variant says
/// what it waits for. Only answers from OTHER replicas count, and only to the current tag.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Recovery<K, V> {
    /// Waits for a quorum of others to report their epoch floors (a `Fence` at epoch 0).
    Querying {
        tag: RequestTag,
        floors: BTreeMap<ReplicaId, u64>,
        deadline: u64,
    },
    /// Waits for a quorum of others to durably raise their floor to `epoch`.
    Fencing {
        tag: RequestTag,
        epoch: u64,
        acks: BTreeSet<ReplicaId>,
        deadline: u64,
    },
    /// Waits for a quorum of others to send the page of registers after `after`.
    CatchingUp {
        tag: RequestTag,
        epoch: u64,
        after: Option<K>,
        pages: BTreeMap<ReplicaId, Page<K, V>>,
        deadline: u64,
    },
}

impl<K, V> Recovery<K, V> {
    /// When the current request is re-sent to the replicas that have not answered.
    pub(crate) fn deadline(&self) -> u64 {
        match self {
            Self::Querying { deadline, .. }
            | Self::Fencing { deadline, .. }
            | Self::CatchingUp { deadline, .. } => *deadline,
        }
    }

    /// The tag of the current request.
    pub(crate) fn tag(&self) -> RequestTag {
        match self {
            Self::Querying { tag, .. }
            | Self::Fencing { tag, .. }
            | Self::CatchingUp { tag, .. } => *tag,
        }
    }

    /// The replicas that answered the current request.
    pub(crate) fn answered(&self) -> BTreeSet<ReplicaId> {
        match self {
            Self::Querying { floors, .. } => floors.keys().copied().collect(),
            Self::Fencing { acks, .. } => acks.clone(),
            Self::CatchingUp { pages, .. } => pages.keys().copied().collect(),
        }
    }
}

/// Whether a page answers a request for keys after `after` with at most `limit` entries:
/// strictly increasing keys, all after `after`, and `more` only with at least one entry.
/// Malformed pages are ignored (peer data never panics the engine).
pub(crate) fn page_is_well_formed<K: Ord, V>(
    page: &Page<K, V>,
    after: Option<&K>,
    limit: u32,
) -> bool {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let within_limit = page.entries.len() <= limit;
    let increasing = page.entries.windows(2).all(|w| match w {
        [a, b] => a.0 < b.0,
        _ => true,
    });
    let after_cursor = match (after, page.entries.first()) {
        (Some(cursor), Some(first)) => first.0 > *cursor,
        _ => true,
    };
    let more_has_entries = !page.more || !page.entries.is_empty();
    within_limit && increasing && after_cursor && more_has_entries
}

/// Merges a quorum of pages: for every key covered by ALL pages (up to the smallest last key of
/// the pages that have more), the accepted value with the highest ballot. Returns the merged
/// entries and the next cursor (`None` when every page was the last one).
pub(crate) fn merge_pages<K: Ord + Clone, V: Clone>(
    pages: &BTreeMap<ReplicaId, Page<K, V>>,
) -> (BTreeMap<K, AcceptedValue<V>>, Option<K>) {
    let bound: Option<K> = pages
        .values()
        .filter(|p| p.more)
        .filter_map(|p| p.entries.last().map(|(k, _)| k.clone()))
        .min();
    let mut merged: BTreeMap<K, AcceptedValue<V>> = BTreeMap::new();
    for page in pages.values() {
        for (key, accepted) in &page.entries {
            if bound.as_ref().is_some_and(|b| key > b) {
                break;
            }
            let keep_existing = merged
                .get(key)
                .is_some_and(|existing| existing.ballot >= accepted.ballot);
            if !keep_existing {
                merged.insert(key.clone(), accepted.clone());
            }
        }
    }
    (merged, bound)
}

/// Where a running recovery is after an answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Progress {
    /// It still waits.
    Waiting,
    /// It caught up with the group it fenced: the replica votes again.
    Voting,
}

impl<K: Ord + Clone, V: Clone + PartialEq> Recovery<K, V> {
    /// Starts a recovery: asks the other replicas for their epoch floors.
    pub(super) fn start<O>(node: &mut Node<K, V, O>, now_ms: u64) -> Self {
        let tag = node.new_tag();
        let recovery = Self::Querying {
            tag,
            floors: BTreeMap::new(),
            deadline: now_ms.saturating_add(node.config.round_timeout_ms),
        };
        node.send_to_others(&PeerMessage::Fence { tag, epoch: 0 });
        recovery
    }

    /// Starts a recovery that catches up at epoch 0 without fencing
    /// (`FaultInjection::SkipFence`, a broken variant).
    pub(super) fn start_unfenced<O>(node: &mut Node<K, V, O>, now_ms: u64) -> Self {
        page_request(node, now_ms, 0, None)
    }
}

/// A request for the page of registers after `after`, sent to every other replica.
fn page_request<K: Ord + Clone, V: Clone + PartialEq, O>(
    node: &mut Node<K, V, O>,
    now_ms: u64,
    epoch: u64,
    after: Option<K>,
) -> Recovery<K, V> {
    let tag = node.new_tag();
    let recovery = Recovery::CatchingUp {
        tag,
        epoch,
        after: after.clone(),
        pages: BTreeMap::new(),
        deadline: now_ms.saturating_add(node.config.round_timeout_ms),
    };
    let limit = node.config.catch_up_page.clamp(1, CATCH_UP_PAGE_MAX);
    node.send_to_others(&PeerMessage::CatchUp {
        tag,
        epoch,
        after,
        limit,
    });
    recovery
}

/// A running recovery at work: its state and the node it shares with the other roles,
/// borrowed for one input.
pub(super) struct Recovering<'a, K, V, O> {
    pub(super) recovery: &'a mut Recovery<K, V>,
    pub(super) node: &'a mut Node<K, V, O>,
}

impl<K, V, O> Recovering<'_, K, V, O>
where
    K: Ord + Clone,
    V: Clone + PartialEq,
{
    /// A `FenceAck` from another replica: counts if the tag matches.
    pub(super) fn on_fence_ack(
        &mut self,
        now_ms: u64,
        from: ReplicaId,
        tag: RequestTag,
        epoch_floor: u64,
    ) {
        if from == self.node.id {
            return;
        }
        let quorum = self.node.config.quorum();
        match &mut *self.recovery {
            Recovery::Querying {
                tag: expected,
                floors,
                ..
            } if *expected == tag => {
                floors.insert(from, epoch_floor);
                if floors.len() >= quorum {
                    let highest = floors.values().copied().max().unwrap_or(0);
                    // The fence must exceed every floor seen; at the end of the epoch space
                    // the recovery cannot proceed safely and keeps waiting instead.
                    if let Some(epoch) = highest.checked_add(1) {
                        self.start_fencing(now_ms, epoch);
                    }
                }
            }
            Recovery::Fencing {
                tag: expected,
                epoch,
                acks,
                ..
            } if *expected == tag && epoch_floor >= *epoch => {
                acks.insert(from);
                if acks.len() >= quorum {
                    let epoch = *epoch;
                    *self.recovery = page_request(self.node, now_ms, epoch, None);
                }
            }
            Recovery::Querying { .. } | Recovery::Fencing { .. } | Recovery::CatchingUp { .. } => {}
        }
    }

    fn start_fencing(&mut self, now_ms: u64, epoch: u64) {
        let tag = self.node.new_tag();
        *self.recovery = Recovery::Fencing {
            tag,
            epoch,
            acks: BTreeSet::new(),
            deadline: now_ms.saturating_add(self.node.config.round_timeout_ms),
        };
        self.node.send_to_others(&PeerMessage::Fence { tag, epoch });
    }

    /// The current request's deadline passed: re-sends it to the replicas that have not
    /// answered.
    pub(super) fn resend(&mut self, now_ms: u64) {
        let limit = self.node.config.catch_up_page.clamp(1, CATCH_UP_PAGE_MAX);
        let round_timeout_ms = self.node.config.round_timeout_ms;
        let answered = self.recovery.answered();
        let message = match &mut *self.recovery {
            Recovery::Querying { tag, deadline, .. } => {
                *deadline = now_ms.saturating_add(round_timeout_ms);
                PeerMessage::Fence {
                    tag: *tag,
                    epoch: 0,
                }
            }
            Recovery::Fencing {
                tag,
                epoch,
                deadline,
                ..
            } => {
                *deadline = now_ms.saturating_add(round_timeout_ms);
                PeerMessage::Fence {
                    tag: *tag,
                    epoch: *epoch,
                }
            }
            Recovery::CatchingUp {
                tag,
                epoch,
                after,
                deadline,
                ..
            } => {
                *deadline = now_ms.saturating_add(round_timeout_ms);
                PeerMessage::CatchUp {
                    tag: *tag,
                    epoch: *epoch,
                    after: after.clone(),
                    limit,
                }
            }
        };
        let me = self.node.id;
        let missing: Vec<ReplicaId> = self
            .node
            .config
            .replicas
            .iter()
            .copied()
            .filter(|r| *r != me && !answered.contains(r))
            .collect();
        for to in missing {
            self.node.dispatch(to, message.clone());
        }
    }

    /// A `CatchUpPage` from another replica: merges a quorum of pages into the registers
    /// (durably), then asks for the next page or, after the last one, votes again.
    pub(super) fn on_catch_up_page(
        &mut self,
        now_ms: u64,
        from: ReplicaId,
        tag: RequestTag,
        page: Page<K, V>,
    ) -> Progress {
        let quorum = self.node.config.quorum();
        let limit = self.node.config.catch_up_page.clamp(1, CATCH_UP_PAGE_MAX);
        let Recovery::CatchingUp {
            tag: expected,
            epoch,
            after,
            pages,
            ..
        } = &mut *self.recovery
        else {
            return Progress::Waiting;
        };
        if *expected != tag
            || from == self.node.id
            || !page_is_well_formed(&page, after.as_ref(), limit)
        {
            return Progress::Waiting;
        }
        pages.entry(from).or_insert(page);
        if pages.len() < quorum {
            return Progress::Waiting;
        }
        let epoch = *epoch;
        let (merged, next) = merge_pages(pages);
        for (key, accepted) in merged {
            let state = AcceptorState {
                promised: Some(accepted.ballot),
                accepted: Some(accepted),
            };
            self.node.persist_register(&key, &state);
            self.node.registers.insert(key, state);
        }
        match next {
            Some(cursor) => {
                *self.recovery = page_request(self.node, now_ms, epoch, Some(cursor));
                Progress::Waiting
            }
            None => {
                // Meta last: a durable state without it is incomplete (StartError).
                self.node.meta = ReplicaMeta {
                    epoch_floor: epoch,
                    established_epoch: epoch,
                    counter_reserved: 0,
                };
                self.node.persist_meta();
                Progress::Voting
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::Ballot;
    use alloc::vec;

    fn acc(counter: u64, value: u32) -> AcceptedValue<u32> {
        AcceptedValue {
            ballot: Ballot {
                epoch: 0,
                counter,
                replica: ReplicaId(1),
            },
            value: Some(value),
        }
    }

    #[test]
    fn merge_keeps_highest_ballot_and_stops_at_smallest_last_key() {
        let mut pages = BTreeMap::new();
        pages.insert(
            ReplicaId(1),
            Page {
                entries: vec![(1u8, acc(1, 10)), (2, acc(5, 20))],
                more: true,
            },
        );
        pages.insert(
            ReplicaId(2),
            Page {
                entries: vec![(1u8, acc(3, 11)), (3, acc(1, 30))],
                more: false,
            },
        );
        let (merged, next) = merge_pages(&pages);
        assert_eq!(next, Some(2));
        assert_eq!(merged.get(&1), Some(&acc(3, 11)));
        assert_eq!(merged.get(&2), Some(&acc(5, 20)));
        assert_eq!(merged.get(&3), None);
    }

    #[test]
    fn rejects_malformed_pages() {
        let unsorted = Page {
            entries: vec![(2u8, acc(1, 1)), (1, acc(1, 1))],
            more: false,
        };
        assert!(!page_is_well_formed(&unsorted, None, 10));
        let empty_more: Page<u8, u32> = Page {
            entries: vec![],
            more: true,
        };
        assert!(!page_is_well_formed(&empty_more, None, 10));
        let before_cursor = Page {
            entries: vec![(1u8, acc(1, 1))],
            more: false,
        };
        assert!(!page_is_well_formed(&before_cursor, Some(&1), 10));
        assert!(!page_is_well_formed(&before_cursor, None, 0));
        assert!(page_is_well_formed(&before_cursor, None, 1));
    }
}
