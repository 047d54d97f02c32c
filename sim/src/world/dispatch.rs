//! The event loop: pops each scheduled event in order, traces it and hands it to the host,
//! the user, the fault or the heal it is for.

use super::config::EVENTS_MAX;
use super::state::{Event, World};
use crate::checkers::{INV_TAMPER, SIM_LIMIT};
use crate::seed::draw_range;
use crate::trace::TraceKind;
use crate::workload::Role;
use e2ee_backup::ConnectionId;

impl World {
    /// Handles the scheduled events in order until the end of the run (or [`EVENTS_MAX`]).
    pub(super) fn run(&mut self) {
        self.trace.record(
            0,
            TraceKind::RunStarted,
            &[self.mix.as_bytes(), &self.config.seed.to_be_bytes()],
        );
        let mut handled = 0u64;
        while let Some((time_ms, _sequence, event)) = self.queue.pop() {
            if time_ms > self.end_ms {
                break;
            }
            handled += 1;
            if handled > EVENTS_MAX {
                self.violate(SIM_LIMIT, format!("more than {EVENTS_MAX} events"));
                break;
            }
            self.now_ms = self.now_ms.max(time_ms);
            self.handle(event);
        }
        self.now_ms = self.end_ms;
    }

    /// Handles one event at the current time: traces it, then delivers it to its host or user,
    /// or applies the fault, the restart or the heal.
    pub(super) fn handle(&mut self, event: Event) {
        let now = self.now_ms;
        match event {
            Event::PhoneToRelay { user, relay, bytes } => {
                self.trace.record(
                    now,
                    TraceKind::PhoneToRelay,
                    &[
                        &(user as u64).to_be_bytes(),
                        &(relay as u64).to_be_bytes(),
                        &bytes,
                    ],
                );
                let Some(host) = self.relays.get_mut(relay) else {
                    return;
                };
                if self.net.is_down(host.dc) {
                    return;
                }
                let local_ms = host.clock.local_ms(now);
                host.relay
                    .handle_client_message(local_ms, ConnectionId(user as u64), &bytes);
                self.drain_relay(relay);
            }
            Event::RelayToVault { relay, node, bytes } => {
                self.trace.record(
                    now,
                    TraceKind::RelayToVault,
                    &[
                        &(relay as u64).to_be_bytes(),
                        &(node as u64).to_be_bytes(),
                        &bytes,
                    ],
                );
                let Some(vault) = self.nodes.get_mut(node) else {
                    return;
                };
                if self.net.is_down(vault.dc) {
                    return;
                }
                let group = vault.group;
                let (accepted, effects) = vault.handle_request(now, relay, &bytes);
                if let Some((host_route, request)) = accepted {
                    self.oracle
                        .observe_request(now, group, host_route, &request);
                }
                self.apply_effects(node, effects);
            }
            Event::ReplicaToReplica {
                node,
                bytes,
                tampered,
            } => {
                self.trace.record(
                    now,
                    TraceKind::ReplicaToReplica,
                    &[&(node as u64).to_be_bytes(), &bytes],
                );
                let Some(vault) = self.nodes.get_mut(node) else {
                    return;
                };
                if self.net.is_down(vault.dc) {
                    return;
                }
                let running = vault.is_up();
                let drops_before = vault.drops_total();
                let effects = vault.handle_replica_message(now, &bytes);
                let drops_after = vault.drops_total();
                let (group, replica) = (vault.group, vault.replica_id);
                if tampered && running {
                    self.stats.corrupted_link_deliveries += 1;
                    // INV-TAMPER: a corrupted envelope is dropped and counted, never acted on.
                    if drops_after == drops_before {
                        self.violate(
                            INV_TAMPER,
                            format!(
                                "group {group} replica {replica} accepted a corrupted replica \
                                 message without counting a drop"
                            ),
                        );
                    }
                }
                self.apply_effects(node, effects);
            }
            Event::VaultTimer { node } => {
                let Some(vault) = self.nodes.get_mut(node) else {
                    return;
                };
                if vault.timer_at_ms != Some(now) {
                    return;
                }
                self.trace
                    .record(now, TraceKind::VaultTimer, &[&(node as u64).to_be_bytes()]);
                vault.timer_at_ms = None;
                let effects = vault.handle_timeout(now);
                self.apply_effects(node, effects);
            }
            Event::RelayTimer { relay } => {
                let Some(host) = self.relays.get_mut(relay) else {
                    return;
                };
                if host.timer_at_ms != Some(now) {
                    return;
                }
                self.trace
                    .record(now, TraceKind::RelayTimer, &[&(relay as u64).to_be_bytes()]);
                host.timer_at_ms = None;
                // A relay in a datacenter that is down does nothing until it comes back.
                if self.net.is_down(host.dc) {
                    return;
                }
                let local_ms = host.clock.local_ms(now);
                host.relay.handle_timeout(local_ms);
                self.drain_relay(relay);
            }
            Event::VaultToRelay { relay, bytes, node } => {
                self.trace.record(
                    now,
                    TraceKind::VaultToRelay,
                    &[&(relay as u64).to_be_bytes(), &bytes],
                );
                let Some(host) = self.relays.get_mut(relay) else {
                    return;
                };
                if self.net.is_down(host.dc) {
                    return;
                }
                let local_ms = host.clock.local_ms(now);
                host.relay.handle_vault_message(local_ms, &bytes);
                self.reply_from = self.nodes.get(node).map(|n| n.dc);
                self.drain_relay(relay);
                self.reply_from = None;
            }
            Event::RelayToPhone { relay, user, bytes } => {
                self.trace.record(
                    now,
                    TraceKind::RelayToPhone,
                    &[
                        &(relay as u64).to_be_bytes(),
                        &(user as u64).to_be_bytes(),
                        &bytes,
                    ],
                );
                let Some(u) = self.users.get_mut(user) else {
                    return;
                };
                let local_ms = u.clock.local_ms(now);
                u.client.handle_relay_message(local_ms, &mut u.rng, &bytes);
                self.drain_client(user);
            }
            Event::ClientTimer { user } => {
                let Some(u) = self.users.get_mut(user) else {
                    return;
                };
                if u.timer_at_ms != Some(now) {
                    return;
                }
                self.trace
                    .record(now, TraceKind::ClientTimer, &[&(user as u64).to_be_bytes()]);
                u.timer_at_ms = None;
                let local_ms = u.clock.local_ms(now);
                u.client.handle_timeout(local_ms);
                self.drain_client(user);
            }
            Event::Wake { user } => {
                self.trace
                    .record(now, TraceKind::Wake, &[&(user as u64).to_be_bytes()]);
                let Some(u) = self.users.get_mut(user) else {
                    return;
                };
                if u.start_next(now) {
                    if matches!(u.role, Role::Attacker { .. }) {
                        self.stats.guesses += 1;
                    } else {
                        self.stats.attempted += 1;
                    }
                } else if let Some(bytes) = u.probe() {
                    let again = u.probes_left > 0;
                    let think_ms = draw_range(&mut u.rng, 10, 300);
                    self.stats.probes += 1;
                    self.send_from_phone(user, bytes);
                    if again {
                        self.schedule(think_ms, Event::Wake { user });
                    }
                }
                self.drain_client(user);
            }
            Event::DiskDone {
                node,
                epoch,
                sequence,
            } => {
                self.trace.record(
                    now,
                    TraceKind::DiskDone,
                    &[
                        &(node as u64).to_be_bytes(),
                        &epoch.to_be_bytes(),
                        &sequence.to_be_bytes(),
                    ],
                );
                let Some(vault) = self.nodes.get_mut(node) else {
                    return;
                };
                let effects = vault.handle_disk_done(epoch, sequence);
                self.apply_effects(node, effects);
            }
            Event::Fault(action) => {
                self.trace
                    .record(now, TraceKind::Fault, &[format!("{action:?}").as_bytes()]);
                self.apply_fault(action);
            }
            Event::RestartNode { node } => {
                self.trace
                    .record(now, TraceKind::RestartNode, &[&(node as u64).to_be_bytes()]);
                self.restart(node);
            }
            Event::Heal => {
                self.trace.record(now, TraceKind::Heal, &[]);
                self.heal();
            }
        }
    }
}
