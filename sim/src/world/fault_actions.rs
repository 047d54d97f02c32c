//! Faults applied to hosts: the fault plan's scheduled actions (crashes and restarts, datacenter
//! outages, partitions and clogs, disk copies, restores and losses, clock jumps, slow replicas),
//! torn writes at a crash, crashes right after a reply (one replica or a whole group), and the
//! heal that ends the safety phase. The plan itself is [`crate::faults`].

use super::state::{Event, World, node_index};
use crate::faults::{ClockTarget, FaultAction};
use crate::seed::{draw_chance, draw_range};
use crate::trace::TraceKind;
use crate::vault_node::REPLICAS_PER_GROUP;
use crate::workload::Role;

impl World {
    /// Crashes `node`; with `torn_write_per_million` its first write in progress may tear.
    pub(super) fn crash_node(&mut self, node: usize) {
        let torn = self.extra.torn_write_per_million;
        let tear_at = (torn > 0 && !self.healed && draw_chance(&mut self.extra_rng, torn))
            .then(|| draw_range(&mut self.extra_rng, 0, u64::from(u32::MAX)));
        if let Some(vault) = self.nodes.get_mut(node) {
            vault.crash_tearing(self.now_ms, tear_at);
        }
    }

    /// Applies one scheduled action of the fault plan.
    pub(super) fn apply_fault(&mut self, action: FaultAction) {
        let now = self.now_ms;
        match action {
            FaultAction::Crash { group, replica } => self.crash_node(node_index(group, replica)),
            FaultAction::Restart { group, replica } => self.restart(node_index(group, replica)),
            FaultAction::DcDown { dc } => {
                self.net.set_down(dc, true);
                for node in 0..self.nodes.len() {
                    if self.nodes.get(node).is_some_and(|n| n.dc == dc) {
                        self.crash_node(node);
                    }
                }
            }
            FaultAction::DcUp { dc } => {
                self.net.set_down(dc, false);
                for relay in 0..self.relays.len() {
                    if self.relays.get(relay).is_some_and(|r| r.dc == dc) {
                        self.update_relay_timer(relay);
                    }
                }
                for node in 0..self.nodes.len() {
                    if self.nodes.get(node).is_some_and(|n| n.dc == dc) {
                        self.restart(node);
                    }
                }
            }
            FaultAction::Cut { from, to } => self.net.cut(from, to),
            FaultAction::Uncut { from, to } => self.net.uncut(from, to),
            FaultAction::Clog { from, to, extra_ms } => self.net.clog(from, to, extra_ms),
            FaultAction::Unclog { from, to } => self.net.unclog(from, to),
            FaultAction::CopyDisk { group, replica } => {
                if let Some(node) = self.nodes.get_mut(node_index(group, replica)) {
                    node.copy_disk();
                }
            }
            FaultAction::RestoreDisk { group, replica } => {
                if let Some(node) = self.nodes.get_mut(node_index(group, replica)) {
                    node.crash(now);
                    node.restore_disk_copy();
                }
            }
            FaultAction::ClockJump { target, jump_ms } => {
                self.stats.clock_jumps += 1;
                match target {
                    ClockTarget::Replica { group, replica } => {
                        let node = node_index(group, replica);
                        if let Some(vault) = self.nodes.get_mut(node) {
                            vault.clock.offset_ms = vault.clock.offset_ms.saturating_add(jump_ms);
                        }
                        self.update_node_timer(node);
                    }
                    ClockTarget::Relay { relay } => {
                        if let Some(host) = self.relays.get_mut(relay) {
                            host.clock.offset_ms = host.clock.offset_ms.saturating_add(jump_ms);
                        }
                        self.update_relay_timer(relay);
                    }
                }
            }
            FaultAction::LoseDisk { group, replica } => {
                let node = node_index(group, replica);
                if let Some(vault) = self.nodes.get_mut(node) {
                    vault.lose_disk(now);
                }
                let down_ms = draw_range(&mut self.extra_rng, 1_000, 3_000);
                self.schedule(down_ms, Event::RestartNode { node });
            }
            FaultAction::Slow {
                group,
                replica,
                extra_ms,
            } => {
                if let Some(node) = self.nodes.get_mut(node_index(group, replica)) {
                    node.slow_ms = extra_ms;
                }
            }
        }
    }

    /// Ends the safety phase: faults off, every replica restarted, and one more recovery queued
    /// for every account owner (the liveness probes).
    pub(super) fn heal(&mut self) {
        self.healed = true;
        self.disk_write_ms_max = 0;
        self.net.heal();
        for relay in 0..self.relays.len() {
            self.update_relay_timer(relay);
        }
        for node in 0..self.nodes.len() {
            self.restart(node);
            if let Some(vault) = self.nodes.get_mut(node) {
                vault.slow_ms = 0;
            }
        }
        // Liveness probes: every account owner recovers once more with its current password.
        for index in 0..self.users.len() {
            let Some(user) = self.users.get_mut(index) else {
                continue;
            };
            if matches!(user.role, Role::Attacker { .. }) {
                // The attack is part of the safety phase: attackers stop probing now.
                user.lock_probes_left = 0;
                user.script.clear();
            }
            if !user.is_owner() {
                continue;
            }
            let password = user.password;
            user.script
                .push_back(crate::checkers::ModelOp::Recover(password));
            let delay_ms = draw_range(&mut user.rng, 0, 1_000);
            if user.running.is_none() && user.retry.is_none() {
                self.schedule(delay_ms, Event::Wake { user: index });
            }
        }
    }

    /// Crashes every replica of `group` at once; each restarts from its disk 1–3 s later.
    pub(super) fn crash_group(&mut self, group: u32) {
        for replica in 0..REPLICAS_PER_GROUP {
            let node = node_index(group, replica);
            let Some(vault) = self.nodes.get_mut(node) else {
                continue;
            };
            if vault.is_up() {
                self.crash_for_a_while(node, TraceKind::GroupCrash, 1_000);
            }
        }
    }

    /// Crashes `node` and schedules its restart from disk between `down_ms_min` and 3 s later
    /// (traced as `trace_kind`).
    pub(super) fn crash_for_a_while(
        &mut self,
        node: usize,
        trace_kind: TraceKind,
        down_ms_min: u64,
    ) {
        self.crash_node(node);
        let down_ms = draw_range(&mut self.fault_rng, down_ms_min, 3_000);
        self.trace.record(
            self.now_ms,
            trace_kind,
            &[&(node as u64).to_be_bytes(), &down_ms.to_be_bytes()],
        );
        self.schedule(down_ms, Event::RestartNode { node });
    }
}
