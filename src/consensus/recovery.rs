//! Amnesia recovery: fence, catch up, then vote (SPEC.md "Replication", amnesia).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::acceptor::{AcceptorState, ReplicaMeta};
use super::ballot::{ReplicaId, RequestTag};
use super::config::Change;
use super::messages::{AcceptedValue, PeerMessage};
use super::replica::{CATCH_UP_PAGE_MAX, Replica};

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

impl<K, V, C> Replica<K, V, C>
where
    K: Ord + Clone,
    V: Clone + PartialEq,
    C: Change<V>,
    C::Outcome: Clone,
{
    /// A `FenceAck`: counts for this replica's epoch raise or for its recovery, if the tag matches.
    pub(super) fn on_fence_ack(
        &mut self,
        ctx: &C::Context,
        now_ms: u64,
        from: ReplicaId,
        tag: RequestTag,
        epoch_floor: u64,
    ) {
        if let Some(raise) = self.raise.as_mut()
            && raise.tag == tag
            && epoch_floor >= raise.epoch
        {
            raise.acks.insert(from);
            self.check_raise(ctx, now_ms);
            return;
        }
        if from == self.id {
            return;
        }
        let quorum = self.config.quorum();
        match self.recovery.as_mut() {
            Some(Recovery::Querying {
                tag: expected,
                floors,
                ..
            }) if *expected == tag => {
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
            Some(Recovery::Fencing {
                tag: expected,
                epoch,
                acks,
                ..
            }) if *expected == tag && epoch_floor >= *epoch => {
                acks.insert(from);
                if acks.len() >= quorum {
                    let epoch = *epoch;
                    self.start_page(now_ms, epoch, None);
                }
            }
            Some(Recovery::Querying { .. })
            | Some(Recovery::Fencing { .. })
            | Some(Recovery::CatchingUp { .. })
            | None => {}
        }
    }

    // ---- amnesia recovery -----------------------------------------------------------------

    pub(super) fn start_fencing(&mut self, now_ms: u64, epoch: u64) {
        let tag = self.new_tag();
        self.recovery = Some(Recovery::Fencing {
            tag,
            epoch,
            acks: BTreeSet::new(),
            deadline: now_ms.saturating_add(self.config.round_timeout_ms),
        });
        self.send_to_others(&PeerMessage::Fence { tag, epoch });
    }

    pub(super) fn start_page(&mut self, now_ms: u64, epoch: u64, after: Option<K>) {
        let tag = self.new_tag();
        self.recovery = Some(Recovery::CatchingUp {
            tag,
            epoch,
            after: after.clone(),
            pages: BTreeMap::new(),
            deadline: now_ms.saturating_add(self.config.round_timeout_ms),
        });
        let limit = self.config.catch_up_page.clamp(1, CATCH_UP_PAGE_MAX);
        self.send_to_others(&PeerMessage::CatchUp {
            tag,
            epoch,
            after,
            limit,
        });
    }

    pub(super) fn resend_recovery(&mut self, now_ms: u64) {
        let limit = self.config.catch_up_page.clamp(1, CATCH_UP_PAGE_MAX);
        let Some(recovery) = self.recovery.as_mut() else {
            return;
        };
        let answered = recovery.answered();
        let message = match recovery {
            Recovery::Querying { tag, deadline, .. } => {
                *deadline = now_ms.saturating_add(self.config.round_timeout_ms);
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
                *deadline = now_ms.saturating_add(self.config.round_timeout_ms);
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
                *deadline = now_ms.saturating_add(self.config.round_timeout_ms);
                PeerMessage::CatchUp {
                    tag: *tag,
                    epoch: *epoch,
                    after: after.clone(),
                    limit,
                }
            }
        };
        let missing: alloc::vec::Vec<ReplicaId> = self
            .config
            .replicas
            .iter()
            .copied()
            .filter(|r| *r != self.id && !answered.contains(r))
            .collect();
        for to in missing {
            self.dispatch(to, message.clone());
        }
    }

    pub(super) fn on_catch_up_page(
        &mut self,
        now_ms: u64,
        from: ReplicaId,
        tag: RequestTag,
        page: Page<K, V>,
    ) {
        let quorum = self.config.quorum();
        let limit = self.config.catch_up_page.clamp(1, CATCH_UP_PAGE_MAX);
        let Some(Recovery::CatchingUp {
            tag: expected,
            epoch,
            after,
            pages,
            ..
        }) = self.recovery.as_mut()
        else {
            return;
        };
        if *expected != tag || from == self.id || !page_is_well_formed(&page, after.as_ref(), limit)
        {
            return;
        }
        pages.entry(from).or_insert(page);
        if pages.len() < quorum {
            return;
        }
        let epoch = *epoch;
        let (merged, next) = merge_pages(pages);
        for (key, accepted) in merged {
            let state = AcceptorState {
                promised: Some(accepted.ballot),
                accepted: Some(accepted),
            };
            self.persist_register(&key, &state);
            self.registers.insert(key, state);
        }
        match next {
            Some(cursor) => self.start_page(now_ms, epoch, Some(cursor)),
            None => {
                // Meta last: a durable state without it is incomplete (StartError).
                self.meta = ReplicaMeta {
                    epoch_floor: epoch,
                    established_epoch: epoch,
                    counter_reserved: 0,
                };
                self.next_counter = 0;
                self.wanted_epoch = epoch;
                self.recovery = None;
                self.persist_meta();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ballot::Ballot;
    use super::*;
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
