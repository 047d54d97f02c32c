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

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use sha2::{Digest as _, Sha256};

use crate::crypto::labels::LABEL_GROUP_ROUTING;
use crate::ids::AccountId;
use crate::wire::{ClientReply, ClientRequest, ReplyBody, RequestKind, VaultReply, VaultRequest};

/// Names one client connection (chosen by the host).
pub type ConnectionId = u64;

/// Relay settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RelayConfig {
    /// Requests an account may send in a burst.
    pub bucket_capacity: u32,
    /// One request token comes back every this many milliseconds.
    pub refill_interval_ms: u64,
    /// Number of vault replica groups accounts are spread over (at least 1).
    pub vault_groups: u32,
    /// Most requests waiting for a vault reply at once.
    pub max_routes: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            bucket_capacity: 20,
            refill_interval_ms: 3_000,
            vault_groups: 1,
            max_routes: 65_536,
        }
    }
}

/// What the relay asks its host to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RelayOutput {
    /// Send these bytes (an encoded [`VaultRequest`]) to replica group `group`.
    ToVault {
        /// The replica group owning the account.
        group: u32,
        /// The encoded request.
        bytes: Vec<u8>,
    },
    /// Send these bytes (an encoded [`ClientReply`]) on `connection`.
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Bucket {
    tokens: u32,
    refilled_at_ms: u64,
}

/// The relay role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Relay {
    config: RelayConfig,
    connections: BTreeMap<ConnectionId, AccountId>,
    buckets: BTreeMap<AccountId, Bucket>,
    routes: BTreeMap<u64, Route>,
    next_route: u64,
    outputs: VecDeque<RelayOutput>,
}

/// The replica group that owns `account` among `groups` groups: the first four bytes of
/// SHA-256([`LABEL_GROUP_ROUTING`] ‖ account), big-endian, modulo `groups`.
pub fn group_for(account: &AccountId, groups: u32) -> u32 {
    let digest = Sha256::new()
        .chain_update(LABEL_GROUP_ROUTING)
        .chain_update(account.as_bytes())
        .finalize();
    let mut head = [0u8; 4];
    for (dst, src) in head.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    u32::from_be_bytes(head) % groups.max(1)
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
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<RelayOutput> {
        self.outputs.pop_front()
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

    /// Handles the bytes of a [`ClientRequest`] arriving on `connection`.
    pub fn handle_client_message(&mut self, now_ms: u64, connection: ConnectionId, bytes: &[u8]) {
        let Some(account) = self.connections.get(&connection).cloned() else {
            return;
        };
        let Ok(request) = ClientRequest::decode(bytes) else {
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
        self.routes.insert(
            route_id,
            Route {
                connection,
                request_id: request.request_id,
                kind: request.kind,
            },
        );
        let group = group_for(&account, self.config.vault_groups);
        let forward = VaultRequest {
            route_id,
            account,
            kind: request.kind,
            sealed: request.sealed,
        };
        self.outputs.push_back(RelayOutput::ToVault {
            group,
            bytes: forward.encode(),
        });
    }

    /// Handles the bytes of a [`VaultReply`]; forwards it to the connection that asked.
    pub fn handle_vault_message(&mut self, now_ms: u64, bytes: &[u8]) {
        let _ = now_ms;
        let Ok(reply) = VaultReply::decode(bytes) else {
            return;
        };
        let Some(route) = self.routes.get(&reply.route_id) else {
            return;
        };
        if route.kind != reply.kind {
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
        let interval = self.config.refill_interval_ms.max(1);
        let bucket = self.buckets.entry(account.clone()).or_insert(Bucket {
            tokens: capacity,
            refilled_at_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(bucket.refilled_at_ms);
        let earned = elapsed / interval;
        if earned > 0 {
            let earned_tokens = u32::try_from(earned).unwrap_or(u32::MAX);
            bucket.tokens = bucket.tokens.saturating_add(earned_tokens).min(capacity);
            bucket.refilled_at_ms = bucket
                .refilled_at_ms
                .saturating_add(earned.saturating_mul(interval));
        }
        if bucket.tokens == 0 {
            return false;
        }
        bucket.tokens -= 1;
        true
    }
}
