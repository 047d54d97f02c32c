//! The relay (chat front end) role (SPEC.md "Roles and trust", "Relay").
//!
//! A sans-I/O state machine that holds no secret and reads nothing inside a request. Inputs:
//! [`Relay::handle_connection_opened`] (its transport authenticated the account),
//! [`Relay::handle_connection_closed`], [`Relay::handle_client_message`],
//! [`Relay::handle_vault_message`]. Outputs: drain [`Relay::poll_output`] after every input.
//!
//! It binds each connection to its authenticated account, stamps that account on every request
//! it forwards (the vault opens the request only for that account), forwards to the replica
//! group owning the account, routes replies back by route id, and rate-limits per account with a
//! token bucket (time is an input).
//!
//! Replicated groups (`replicas_per_group > 1`, SPEC.md "Replication", "Relay failover"): the
//! relay sends each request to one replica ([`RelayOutput::ToReplica`]), starting from the
//! [`FirstReplica`] policy — by default the account's preferred replica, the same on every relay,
//! so that one replica proposes for an account and proposers do not duel — and skipping replicas
//! it suspects. If no reply arrives
//! within `vault_retry_ms` ([`Relay::handle_timeout`]), it suspects that replica and sends the
//! same bytes (same route id) to the next one, at most `vault_sends_max` times in all. A reply
//! from any replica of the group is routed back; later duplicates find no route and are dropped.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use sha2::{Digest as _, Sha256};

use crate::crypto::labels::LABEL_GROUP_ROUTING;
use crate::drops::{DropCounts, DropReason};
use crate::ids::{AccountId, GroupId};
use crate::wire::{ClientReply, ClientRequest, ReplyBody, RequestKind, VaultReply, VaultRequest};

/// A replica that did not answer in time is avoided for this many retry intervals.
const SUSPECT_RETRY_MULTIPLE: u64 = 10;

/// Names one client connection (chosen by the host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ConnectionId(pub u64);

impl core::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "connection {}", self.0)
    }
}

/// Relay settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RelayConfig {
    /// Requests an account may send in a burst.
    pub bucket_capacity: u32,
    /// One request token comes back every this many milliseconds.
    pub refill_interval_ms: u64,
    /// Number of vault replica groups accounts are spread over (at least 1).
    pub vault_groups: u32,
    /// Replicas in each group (ids `0..replicas_per_group`, one per datacenter); `1` keeps the
    /// single-replica behaviour (every request to replica 0, no retries).
    pub replicas_per_group: u8,
    /// Which replica the relay tries first.
    pub first_replica: FirstReplica,
    /// Replicated groups: resend to another replica after this long without a reply.
    pub vault_retry_ms: u64,
    /// Replicated groups: at most this many sends of one request, over all replicas.
    pub vault_sends_max: u32,
    /// Most requests waiting for a vault reply at once.
    pub max_routes: usize,
    /// A route that got no reply for this long is dropped, in single-replica and replicated
    /// groups alike, so that lost vault replies cannot fill the route table (the client's own
    /// retry timer reports "unavailable" and resends).
    pub route_ttl_ms: u64,
    /// Most per-account token buckets kept. When a new account needs one and the map is full,
    /// buckets that have refilled completely (the same as no bucket) are dropped; if none has,
    /// the fullest `max_buckets / BUCKET_EVICTION_BATCH` (at least one) are.
    pub max_buckets: usize,
    /// Deliberately broken behaviour, only for tests that prove the checkers can fail; always
    /// `RelayFault::None` outside them.
    #[doc(hidden)]
    pub fault: RelayFault,
}

/// Deliberately broken relay behaviours, only for tests and the simulator's `--broken` variants
/// that prove the checkers can fail. Never use anything but `RelayFault::None` outside tests.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub enum RelayFault {
    /// The correct relay.
    #[default]
    None,
    /// A token bucket whose clock stepped back does not re-anchor at the new time (the
    /// behaviour before the re-anchor rule): an empty bucket earns nothing until the clock
    /// catches up again, so a step back of minutes refuses the account for minutes.
    NoReanchorAfterClockStep,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            bucket_capacity: 20,
            refill_interval_ms: 3_000,
            vault_groups: 1,
            replicas_per_group: 1,
            first_replica: FirstReplica::PerAccount,
            vault_retry_ms: 1_000,
            vault_sends_max: 3,
            max_routes: 65_536,
            route_ttl_ms: 30_000,
            max_buckets: 65_536,
            fault: RelayFault::None,
        }
    }
}

/// Which replica of a replicated group the relay sends a request to first (SPEC.md "Relay
/// failover").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FirstReplica {
    /// The account's preferred replica, `preferred_replica`: every relay starts from the same
    /// replica for an account, so one replica proposes its changes (no duelling proposers while
    /// that replica is up). The default.
    PerAccount,
    /// This replica for every account (for example the one in the relay's own datacenter).
    /// Relays with different fixed replicas make proposers duel on shared accounts.
    Fixed(u8),
}

/// What the relay asks its host to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RelayOutput {
    /// Send these bytes (an encoded `VaultRequest`) to replica `replica` of group `group`
    /// (always `0` when `replicas_per_group` is 1; in replicated groups the relay picks the
    /// replica and fails over, "Relay failover").
    ToReplica {
        /// The replica group owning the account.
        group: GroupId,
        /// The replica (`0..replicas_per_group`).
        replica: u8,
        /// The encoded request.
        bytes: Vec<u8>,
    },
    /// Send these bytes (an encoded `ClientReply`) on `connection`.
    ToClient {
        /// The connection.
        connection: ConnectionId,
        /// The encoded reply.
        bytes: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Route {
    connection: ConnectionId,
    request_id: u64,
    kind: RequestKind,
    failover: Option<Failover>,
    /// Dropped at this time if no reply came.
    expires_ms: u64,
}

/// A request sent to a replicated group, waiting for a reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Failover {
    group: GroupId,
    replica: u8,
    sends: u32,
    deadline_ms: u64,
    bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Bucket {
    tokens: u32,
    refilled_at_ms: u64,
}

impl Bucket {
    /// Adds the tokens earned by `now_ms` (at most `capacity`). A clock that stepped back
    /// earns nothing for the step, and the bucket counts on from the new time (otherwise an
    /// empty bucket would earn nothing until the clock caught up again: a step back of minutes
    /// refused the account for minutes).
    fn refill(&mut self, now_ms: u64, capacity: u32, interval_ms: u64, fault: RelayFault) {
        if now_ms < self.refilled_at_ms && fault != RelayFault::NoReanchorAfterClockStep {
            self.refilled_at_ms = now_ms;
            return;
        }
        let earned = now_ms.saturating_sub(self.refilled_at_ms) / interval_ms;
        if earned > 0 {
            let earned_tokens = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned_tokens).min(capacity);
            self.refilled_at_ms = self
                .refilled_at_ms
                .saturating_add(earned.saturating_mul(interval_ms));
        }
    }
}

/// A full bucket map makes room for `max_buckets / BUCKET_EVICTION_BATCH` new accounts at once.
pub const BUCKET_EVICTION_BATCH: usize = 16;

/// The relay role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Relay {
    config: RelayConfig,
    connections: BTreeMap<ConnectionId, AccountId>,
    buckets: BTreeMap<AccountId, Bucket>,
    routes: BTreeMap<u64, Route>,
    next_route: u64,
    outputs: VecDeque<RelayOutput>,
    suspects: BTreeMap<(GroupId, u8), u64>,
    drops: DropCounts,
}

/// The replica group that owns `account` among `groups` groups: the first four bytes of
/// SHA-256([`LABEL_GROUP_ROUTING`] ‖ account), big-endian, modulo `groups`.
pub fn group_for(account: &AccountId, groups: u32) -> GroupId {
    RoutingWords::of(account).group(groups)
}

/// The replica (`0..replicas`) every relay tries first for `account` under
/// [`FirstReplica::PerAccount`]: bytes 4..8 of SHA-256(`LABEL_GROUP_ROUTING` ‖ account), as a
/// big-endian u32, mod `replicas` (SPEC.md "Relay failover").
pub fn preferred_replica(account: &AccountId, replicas: u8) -> u8 {
    RoutingWords::of(account).replica(replicas)
}

/// The first two big-endian u32 words of SHA-256(`LABEL_GROUP_ROUTING` ‖ account): one hash
/// gives both the group and the preferred replica.
struct RoutingWords([u32; 2]);

impl RoutingWords {
    fn of(account: &AccountId) -> Self {
        let digest = Sha256::new()
            .chain_update(LABEL_GROUP_ROUTING)
            .chain_update(account.as_bytes())
            .finalize();
        let mut words = [0u32; 2];
        for (word, chunk) in words.iter_mut().zip(digest.chunks_exact(4)) {
            let mut bytes = [0u8; 4];
            bytes.copy_from_slice(chunk);
            *word = u32::from_be_bytes(bytes);
        }
        Self(words)
    }

    fn group(&self, groups: u32) -> GroupId {
        GroupId(self.0[0] % groups.max(1))
    }

    fn replica(&self, replicas: u8) -> u8 {
        u8::try_from(self.0[1] % u32::from(replicas.max(1))).unwrap_or(0)
    }
}

impl Relay {
    /// A relay with no connections.
    pub fn new(config: RelayConfig) -> Self {
        Self {
            config,
            connections: BTreeMap::new(),
            buckets: BTreeMap::new(),
            routes: BTreeMap::new(),
            next_route: 0,
            outputs: VecDeque::new(),
            suspects: BTreeMap::new(),
            drops: DropCounts::default(),
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<RelayOutput> {
        self.outputs.pop_front()
    }

    /// The inputs this relay dropped, by reason.
    pub fn drops(&self) -> &DropCounts {
        &self.drops
    }

    /// The host's transport authenticated `account` on `connection`.
    pub fn handle_connection_opened(&mut self, connection: ConnectionId, account: AccountId) {
        self.connections.insert(connection, account);
    }

    /// `connection` closed; replies still on their way to it are dropped.
    pub fn handle_connection_closed(&mut self, connection: ConnectionId) {
        self.connections.remove(&connection);
        self.routes
            .retain(|_, route| route.connection != connection);
    }

    /// Handles the bytes of a `ClientRequest` arriving on `connection`.
    pub fn handle_client_message(&mut self, now_ms: u64, connection: ConnectionId, bytes: &[u8]) {
        let Some(account) = self.connections.get(&connection).cloned() else {
            self.drops.count(DropReason::NotAddressed);
            return;
        };
        let Ok(request) = ClientRequest::decode(bytes) else {
            self.drops.count(DropReason::CannotDecode);
            return;
        };
        if !self.take_token(now_ms, &account) || self.routes.len() >= self.config.max_routes {
            let reply = ClientReply {
                request_id: request.request_id,
                kind: request.kind,
                body: ReplyBody::RateLimited,
            };
            self.outputs.push_back(RelayOutput::ToClient {
                connection,
                bytes: reply.encode(),
            });
            return;
        }
        let route_id = self.next_route;
        self.next_route = self.next_route.wrapping_add(1);
        let routing = RoutingWords::of(&account);
        let group = routing.group(self.config.vault_groups);
        let forward = VaultRequest {
            route_id,
            account,
            kind: request.kind,
            sealed: request.sealed,
        };
        let bytes = forward.encode();
        let failover = if self.config.replicas_per_group > 1 {
            let first = match self.config.first_replica {
                FirstReplica::PerAccount => routing.replica(self.config.replicas_per_group),
                FirstReplica::Fixed(replica) => replica,
            };
            let replica = self.pick_replica(now_ms, group, first, None);
            self.outputs.push_back(RelayOutput::ToReplica {
                group,
                replica,
                bytes: bytes.clone(),
            });
            Some(Failover {
                group,
                replica,
                sends: 1,
                deadline_ms: now_ms.saturating_add(self.config.vault_retry_ms),
                bytes,
            })
        } else {
            self.outputs.push_back(RelayOutput::ToReplica {
                group,
                replica: 0,
                bytes,
            });
            None
        };
        self.routes.insert(
            route_id,
            Route {
                connection,
                request_id: request.request_id,
                kind: request.kind,
                failover,
                expires_ms: now_ms.saturating_add(self.config.route_ttl_ms),
            },
        );
    }

    /// Input: time has reached `now_ms` (when [`Relay::poll_timeout`] says). Routes older than
    /// `route_ttl_ms` are dropped; requests to replicated groups that got no reply in time are
    /// sent to another replica, and those out of sends are dropped (the client's own retry
    /// timer reports "unavailable").
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.routes.retain(|_, route| route.expires_ms > now_ms);
        let due: Vec<u64> = self
            .routes
            .iter()
            .filter(|(_, r)| r.failover.as_ref().is_some_and(|f| f.deadline_ms <= now_ms))
            .map(|(id, _)| *id)
            .collect();
        for route_id in due {
            let Some(failover) = self.routes.get(&route_id).and_then(|r| r.failover.clone()) else {
                continue;
            };
            let suspect_for = self
                .config
                .vault_retry_ms
                .saturating_mul(SUSPECT_RETRY_MULTIPLE);
            self.suspects.insert(
                (failover.group, failover.replica),
                now_ms.saturating_add(suspect_for),
            );
            if failover.sends >= self.config.vault_sends_max {
                self.routes.remove(&route_id);
                continue;
            }
            let replica = self.pick_replica(
                now_ms,
                failover.group,
                failover.replica,
                Some(failover.replica),
            );
            self.outputs.push_back(RelayOutput::ToReplica {
                group: failover.group,
                replica,
                bytes: failover.bytes.clone(),
            });
            if let Some(route) = self.routes.get_mut(&route_id) {
                route.failover = Some(Failover {
                    replica,
                    sends: failover.sends.saturating_add(1),
                    deadline_ms: now_ms.saturating_add(self.config.vault_retry_ms),
                    ..failover
                });
            }
        }
    }

    /// When [`Relay::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.routes
            .values()
            .map(|r| {
                r.failover
                    .as_ref()
                    .map_or(r.expires_ms, |f| f.deadline_ms.min(r.expires_ms))
            })
            .min()
    }

    /// The first replica from `first` (or after `after`) that is not suspected at `now_ms`; if
    /// every replica is suspected, the next one in turn.
    fn pick_replica(&mut self, now_ms: u64, group: GroupId, first: u8, after: Option<u8>) -> u8 {
        let n = u16::from(self.config.replicas_per_group.max(1));
        self.suspects.retain(|_, until| *until > now_ms);
        let start = match after {
            Some(r) => (u16::from(r) + 1) % n,
            None => u16::from(first) % n,
        };
        let nth = |i: u16| u8::try_from((start + i) % n).unwrap_or(0);
        for replica in (0..n).map(nth) {
            if after != Some(replica) && !self.suspects.contains_key(&(group, replica)) {
                return replica;
            }
        }
        nth(0)
    }

    /// Handles the bytes of a `VaultReply`; forwards it to the connection that asked.
    pub fn handle_vault_message(&mut self, now_ms: u64, bytes: &[u8]) {
        let _ = now_ms;
        let Ok(reply) = VaultReply::decode(bytes) else {
            self.drops.count(DropReason::CannotDecode);
            return;
        };
        let Some(route) = self.routes.get(&reply.route_id) else {
            self.drops.count(DropReason::Replayed);
            return;
        };
        if route.kind != reply.kind {
            self.drops.count(DropReason::Replayed);
            return;
        }
        let Some(route) = self.routes.remove(&reply.route_id) else {
            return;
        };
        let forward = ClientReply {
            request_id: route.request_id,
            kind: reply.kind,
            body: reply.body,
        };
        self.outputs.push_back(RelayOutput::ToClient {
            connection: route.connection,
            bytes: forward.encode(),
        });
    }

    fn take_token(&mut self, now_ms: u64, account: &AccountId) -> bool {
        let capacity = self.config.bucket_capacity;
        let fault = self.config.fault;
        let interval = self.config.refill_interval_ms.max(1);
        if !self.buckets.contains_key(account) && self.buckets.len() >= self.config.max_buckets {
            self.evict_buckets(now_ms);
        }
        let bucket = self.buckets.entry(account.clone()).or_insert(Bucket {
            tokens: capacity,
            refilled_at_ms: now_ms,
        });
        bucket.refill(now_ms, capacity, interval, fault);
        if bucket.tokens == 0 {
            return false;
        }
        bucket.tokens -= 1;
        true
    }

    /// Makes room for more buckets: drops every bucket that has refilled completely (an
    /// account with a full bucket is treated exactly like one without), or else the fullest
    /// `max_buckets / BUCKET_EVICTION_BATCH` (at least one). Each call scans the whole map, so
    /// it makes room for a batch: the next new accounts find room without a scan, and a relay
    /// whose buckets are all partly spent pays one scan per batch of new accounts, not one per
    /// new account. An evicted bucket is the fullest there was, and one bucket is dropped per
    /// new account either way.
    fn evict_buckets(&mut self, now_ms: u64) {
        let capacity = self.config.bucket_capacity;
        let fault = self.config.fault;
        let interval = self.config.refill_interval_ms.max(1);
        self.buckets.retain(|_, bucket| {
            bucket.refill(now_ms, capacity, interval, fault);
            bucket.tokens < capacity
        });
        let max = self.config.max_buckets.max(1);
        if self.buckets.len() >= max {
            let batch = (max / BUCKET_EVICTION_BATCH).max(1);
            let mut by_tokens: Vec<(u32, &AccountId)> = self
                .buckets
                .iter()
                .map(|(account, bucket)| (bucket.tokens, account))
                .collect();
            let keep = by_tokens.len().saturating_sub(batch);
            if keep < by_tokens.len() {
                // Everything from `keep` on holds at least as many tokens as anything before.
                by_tokens.select_nth_unstable_by_key(keep, |(tokens, account)| (*tokens, *account));
            }
            let fullest: Vec<AccountId> = by_tokens
                .iter()
                .skip(keep)
                .map(|(_, account)| (*account).clone())
                .collect();
            for account in fullest {
                self.buckets.remove(&account);
            }
        }
    }

    /// How many per-account token buckets the relay holds (bounded by `max_buckets`).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }
}
