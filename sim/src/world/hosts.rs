//! The hosts around the protocol code: the vault replicas' effects (replies, replica messages,
//! disk writes) and restarts, the relays' outputs and timers, and the users' phones (their
//! clients' requests and completed operations, their timers, the relay each reaches). Every
//! message a host sends goes through the network (and [`World::transmit`]).

use super::state::{Event, World, node_index};
use crate::checkers::{INV_DURABLE, INV_LINEAR, outcome_name, show};
use crate::latency::operation_floor_ms;
use crate::network::{DATACENTERS, Dc, Endpoint};
use crate::seed::{draw_chance, draw_range, fleet_secrets};
use crate::trace::TraceKind;
use crate::vault_node::NodeEffect;
use crate::workload::Role;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutput;
use e2ee_backup::internal::relay::RelayOutput;
use e2ee_backup::internal::wire::{ClientReply, ClientRequest};

impl World {
    /// Restarts `node` from its disk, if it is down and its datacenter is up (INV-DURABLE: every
    /// durable write opens).
    pub(super) fn restart(&mut self, node: usize) {
        let seed = self.config.seed;
        let now = self.now_ms;
        let Some(vault) = self.nodes.get_mut(node) else {
            return;
        };
        if vault.is_up() || self.net.is_down(vault.dc) {
            return;
        }
        let (group, replica) = (vault.group, vault.replica_id);
        match vault.restart(now, fleet_secrets(seed)) {
            Ok((failed, effects)) => {
                if failed > 0 {
                    self.violate(
                        INV_DURABLE,
                        format!(
                            "group {group} replica {replica}: {failed} durable writes did not open"
                        ),
                    );
                }
                self.apply_effects(node, effects);
            }
            Err(error) => self.violate(
                INV_DURABLE,
                format!("group {group} replica {replica} did not restart: {error:?}"),
            ),
        }
    }

    /// Carries out the effects of replica `node`: replies to relays (perhaps crashing right after),
    /// messages to other replicas (the Byzantine replica's rewritten) and disk writes.
    pub(super) fn apply_effects(&mut self, node: usize, effects: Vec<NodeEffect>) {
        let now = self.now_ms;
        let Some(vault) = self.nodes.get_mut(node) else {
            return;
        };
        vault.note_voting(now);
        let (from, group) = (vault.dc, vault.group);
        for effect in effects {
            match effect {
                NodeEffect::Reply {
                    relay,
                    bytes,
                    host_route,
                } => {
                    self.oracle
                        .observe_reply(self.now_ms, group, host_route, &bytes);
                    if e2ee_backup::internal::wire::VaultReply::decode(&bytes)
                        .is_ok_and(|r| r.body == e2ee_backup::internal::wire::ReplyBody::Rejected)
                    {
                        self.stats.rejected_replies += 1;
                    }
                    let Some(to) = self.relays.get(relay).map(|r| r.dc) else {
                        continue;
                    };
                    for delay_ms in self
                        .net
                        .plan(Endpoint::Datacenter(from), Endpoint::Datacenter(to))
                    {
                        self.transmit(
                            delay_ms,
                            Event::VaultToRelay {
                                relay,
                                bytes: bytes.clone(),
                                node,
                            },
                        );
                    }
                    if !self.healed
                        && draw_chance(&mut self.fault_rng, self.crash_after_reply_per_million)
                    {
                        // Crash right after this send: nothing after it in this batch happens.
                        self.crash_for_a_while(node, TraceKind::CrashAfterReply, 1);
                        return;
                    }
                    if !self.healed
                        && draw_chance(
                            &mut self.fault_rng,
                            self.group_crash_after_reply_per_million,
                        )
                    {
                        // A correlated crash right after this send: every replica of the group.
                        self.crash_group(group);
                        return;
                    }
                }
                NodeEffect::ToReplica { to, bytes } => {
                    let target = node_index(group, to);
                    let byzantine = self.extra.byzantine_replica
                        && !self.healed
                        && self.nodes.get(node).is_some_and(|n| n.replica_id == 0);
                    let bytes = if byzantine {
                        self.byzantine_rewrite(bytes)
                    } else {
                        bytes
                    };
                    let Some((to_dc, slow_ms)) = self.nodes.get(target).map(|n| (n.dc, n.slow_ms))
                    else {
                        continue;
                    };
                    for delay_ms in self
                        .net
                        .plan(Endpoint::Datacenter(from), Endpoint::Datacenter(to_dc))
                    {
                        self.transmit(
                            delay_ms + slow_ms,
                            Event::ReplicaToReplica {
                                node: target,
                                bytes: bytes.clone(),
                                tampered: false,
                            },
                        );
                    }
                }
                NodeEffect::DiskWrite {
                    epoch,
                    sequence,
                    delay_ms,
                } => {
                    let delay_ms = if self.disk_write_ms_max > delay_ms {
                        draw_range(&mut self.fault_rng, delay_ms, self.disk_write_ms_max)
                    } else {
                        delay_ms
                    };
                    // The disk completes writes in order.
                    let Some(vault) = self.nodes.get_mut(node) else {
                        continue;
                    };
                    let done_ms = (self.now_ms + delay_ms).max(vault.disk_busy_until_ms);
                    vault.disk_busy_until_ms = done_ms;
                    self.queue.push(
                        done_ms,
                        Event::DiskDone {
                            node,
                            epoch,
                            sequence,
                        },
                    );
                }
            }
        }
        self.update_node_timer(node);
    }

    /// Schedules replica `node`'s next timer, if its deadline moved.
    pub(super) fn update_node_timer(&mut self, node: usize) {
        let now = self.now_ms;
        let Some(vault) = self.nodes.get_mut(node) else {
            return;
        };
        let Some(local_deadline) = vault.poll_timeout() else {
            vault.timer_at_ms = None;
            return;
        };
        let at_ms = vault.clock.global_ms(local_deadline, now);
        if vault.timer_at_ms == Some(at_ms) {
            return;
        }
        vault.timer_at_ms = Some(at_ms);
        self.queue.push(at_ms, Event::VaultTimer { node });
    }

    /// Schedules relay `relay`'s next timer, if its deadline moved.
    pub(super) fn update_relay_timer(&mut self, relay: usize) {
        let now = self.now_ms;
        let Some(host) = self.relays.get_mut(relay) else {
            return;
        };
        let Some(local_deadline) = host.relay.poll_timeout() else {
            host.timer_at_ms = None;
            return;
        };
        let at_ms = host.clock.global_ms(local_deadline, now);
        if host.timer_at_ms == Some(at_ms) {
            return;
        }
        host.timer_at_ms = Some(at_ms);
        self.queue.push(at_ms, Event::RelayTimer { relay });
    }

    /// Sends everything relay `relay` has to send (to replicas and phones; a malicious relay
    /// misbehaves), then schedules its timer.
    pub(super) fn drain_relay(&mut self, relay: usize) {
        for _ in 0..10_000 {
            let Some(host) = self.relays.get_mut(relay) else {
                return;
            };
            let from = host.dc;
            let Some(output) = host.relay.poll_output() else {
                break;
            };
            let malicious = self
                .extra
                .malicious_relay
                .filter(|m| m.dc == from && !self.healed);
            match output {
                RelayOutput::ToReplica {
                    group,
                    replica,
                    bytes,
                } => {
                    let node = node_index(group.0, replica);
                    let Some(vault) = self.nodes.get(node) else {
                        continue;
                    };
                    let (to, slow_ms) = (vault.dc, vault.slow_ms);
                    let mut bytes = bytes;
                    let mut extra_ms = 0;
                    if let Some(m) = malicious {
                        let Some((rewritten, delay_ms)) = self.misbehave_to_vault(m, relay, bytes)
                        else {
                            continue;
                        };
                        (bytes, extra_ms) = (rewritten, delay_ms);
                    }
                    for delay_ms in self
                        .net
                        .plan(Endpoint::Datacenter(from), Endpoint::Datacenter(to))
                    {
                        self.transmit(
                            delay_ms + slow_ms + extra_ms,
                            Event::RelayToVault {
                                relay,
                                node,
                                bytes: bytes.clone(),
                            },
                        );
                    }
                }
                RelayOutput::ToClient { connection, bytes } => {
                    let mut user = usize::try_from(connection.0).unwrap_or(usize::MAX);
                    if let Some(replica_dc) = self.reply_from
                        && let Ok(reply) = ClientReply::decode(&bytes)
                        && let Some(u) = self.users.get_mut(user)
                    {
                        u.note_served(reply.request_id, from, replica_dc);
                    }
                    let mut extra_ms = 0;
                    if let Some(m) = malicious {
                        let Some((to_user, delay_ms)) = self.misbehave_to_phone(m, user, &bytes)
                        else {
                            continue;
                        };
                        (user, extra_ms) = (to_user, delay_ms);
                    }
                    for delay_ms in self.net.plan(Endpoint::Datacenter(from), Endpoint::Phone) {
                        self.transmit(
                            delay_ms + extra_ms,
                            Event::RelayToPhone {
                                relay,
                                user,
                                bytes: bytes.clone(),
                            },
                        );
                    }
                }
            }
        }
        self.update_relay_timer(relay);
    }

    /// The relay a phone reaches: in its home datacenter, else the next one that is up.
    pub(super) fn pick_relay(&self, user: usize, home_dc: Dc) -> Option<usize> {
        let per_dc = self.size.relays_per_dc.max(1);
        (0..DATACENTERS)
            .map(|k| (home_dc + k) % DATACENTERS)
            .find(|dc| !self.net.is_down(*dc))
            .map(|dc| dc * per_dc + user % per_dc)
    }

    /// Carries out everything user `index`'s client has to do: sends its requests and ends its
    /// completed operations (counts, LIVE and INV-LINEAR checks, the next wake-up), then
    /// schedules its timer.
    pub(super) fn drain_client(&mut self, index: usize) {
        for _ in 0..10_000 {
            let Some(user) = self.users.get_mut(index) else {
                return;
            };
            let Some(output) = user.client.poll_output() else {
                break;
            };
            match output {
                ClientOutput::Send { bytes } => {
                    if let (Ok(request), Some(password)) =
                        (ClientRequest::decode(&bytes), user.running_password())
                    {
                        user.note_sent(request.request_id, request.kind);
                        self.oracle.note_sealed(&request.sealed, password);
                    }
                    self.send_from_phone(index, bytes);
                }
                ClientOutput::Completed { operation, outcome } => {
                    let running = user.running;
                    if running.map(|r| r.operation) != Some(operation) {
                        continue;
                    }
                    let owner = user.is_owner();
                    let floor = (operation_floor_ms(&user.served), user.op_resends);
                    let (complaint, wake_ms) = user.finish(&outcome);
                    let account = show(&user.account);
                    if owner && let e2ee_backup::ClientOutcome::Registered { generation } = outcome
                    {
                        let account_id = user.account.clone();
                        self.oracle
                            .note_acknowledged(self.now_ms, &account_id, generation);
                    }
                    if let Some(running) = running
                        && owner
                    {
                        let succeeded = outcome != e2ee_backup::ClientOutcome::Unavailable;
                        if succeeded {
                            self.stats.succeeded += 1;
                            self.stats
                                .latencies_ms
                                .push(self.now_ms.saturating_sub(running.started_ms));
                        }
                        self.stats
                            .ledger
                            .try_ended(&running, succeeded, self.now_ms, floor);
                        let after_heal = running.first_started_ms >= self.heal_ms;
                        let gave_up = !succeeded && running.tries >= crate::workload::TRIES_MAX;
                        let late = self.now_ms.saturating_sub(running.first_started_ms)
                            > self.size.live_bound_ms;
                        if after_heal && (gave_up || (succeeded && late)) {
                            let detail = format!(
                                "account {account}: {:?} started after healing ended {} after {} ms",
                                running.op,
                                outcome_name(&outcome),
                                self.now_ms.saturating_sub(running.first_started_ms)
                            );
                            self.find_unlive(index, running.first_started_ms, detail);
                        }
                    }
                    if let Some(why) = complaint {
                        self.violate(INV_LINEAR, format!("account {account}: {why}"));
                    }
                    if let Some(delay_ms) = wake_ms {
                        self.schedule(delay_ms, Event::Wake { user: index });
                    }
                    // A victim's acknowledged registration lets its attackers loose.
                    if let Some(running) = running
                        && matches!(outcome, e2ee_backup::ClientOutcome::Registered { .. })
                        && matches!(running.op, crate::checkers::ModelOp::Register(..))
                        && self
                            .users
                            .get(index)
                            .is_some_and(|u| u.role == Role::Victim)
                    {
                        let attackers: Vec<usize> = self
                            .users
                            .iter()
                            .filter(|u| {
                                u.role == (Role::Attacker { victim: index })
                                    || u.role == (Role::Prober { victim: index })
                            })
                            .map(|u| u.index)
                            .collect();
                        for attacker in attackers {
                            self.schedule(100, Event::Wake { user: attacker });
                        }
                    }
                }
            }
        }
        self.update_timer(index);
    }

    /// User `index`'s phone sends `bytes` (an encoded `ClientRequest`) to a relay it reaches.
    pub(super) fn send_from_phone(&mut self, index: usize, bytes: Vec<u8>) {
        let Some(user) = self.users.get(index) else {
            return;
        };
        let Some(relay) = self.pick_relay(index, user.home_dc) else {
            return;
        };
        if let Ok(request) = ClientRequest::decode(&bytes) {
            self.oracle.note_sent(&request.sealed);
        }
        let Some(user) = self.users.get_mut(index) else {
            return;
        };
        if user.connections.insert(relay)
            && let Some(host) = self.relays.get_mut(relay)
        {
            host.relay
                .handle_connection_opened(ConnectionId(index as u64), user.account.clone());
        }
        let to = self.relays.get(relay).map_or(0, |r| r.dc);
        for delay_ms in self.net.plan(Endpoint::Phone, Endpoint::Datacenter(to)) {
            self.transmit(
                delay_ms,
                Event::PhoneToRelay {
                    user: index,
                    relay,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    /// Schedules user `index`'s client timer, if its deadline moved.
    pub(super) fn update_timer(&mut self, index: usize) {
        let now = self.now_ms;
        let Some(user) = self.users.get_mut(index) else {
            return;
        };
        let Some(local_deadline) = user.client.poll_timeout() else {
            user.timer_at_ms = None;
            return;
        };
        let at_ms = user.clock.global_ms(local_deadline, now);
        if user.timer_at_ms == Some(at_ms) {
            return;
        }
        user.timer_at_ms = Some(at_ms);
        self.queue.push(at_ms, Event::ClientTimer { user: index });
    }
}
