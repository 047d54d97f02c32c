//! The vault behind one adapter: host semantics for a [`VaultReplica`] (today one replica per
//! group; the replicated vault plugs in here).
//!
//! The host carries out the replica's outputs in order: a `Persist` goes to the simulated disk
//! and takes `disk_write_ms`; a `ReplyToRelay` is sent only when every earlier `Persist` is on
//! disk (the documented output-order contract). A crash drops the replica's volatile state and
//! every output not yet carried out (including a write in progress); a restart builds a new
//! replica and loads every record from disk with `restore_record`.
//!
//! The host multiplexes relays: it gives each request a host route id (unique per node across
//! restarts), hands the replica that id, and maps the reply back to the relay and its route id.
//!
//! [`HostMode::ReplyBeforePersist`] is the deliberately broken host of `--broken
//! reply-before-persist`: it sends replies at once, before the writes they depend on, so a crash in
//! between forgets a counted attempt that was already answered.

use std::collections::{BTreeMap, VecDeque};

use e2ee_backup::crypto::real::{InsecureFastFleetSecrets, InsecureFastSuite};
use e2ee_backup::ids::AccountId;
use e2ee_backup::vault::{VaultOutput, VaultReplica};
use e2ee_backup::wire::{VaultReply, VaultRequest};
use rand_chacha::ChaCha20Rng;

use crate::network::Dc;
use crate::time::NodeClock;

/// How the host treats the output-order contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostMode {
    /// Every `Persist` completes before any later reply is sent.
    Correct,
    /// Broken on purpose: replies are sent before the writes that precede them.
    ReplyBeforePersist,
}

/// What the host asks the world to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEffect {
    /// Send `bytes` (an encoded [`VaultReply`] for the relay's own route id) to relay `relay`;
    /// `host_route` names the request for the checkers.
    Reply {
        /// Destination relay index.
        relay: usize,
        /// The reply with the relay's route id.
        bytes: Vec<u8>,
        /// The host route id of the request.
        host_route: u64,
    },
    /// A disk write started; call [`VaultNode::handle_disk_done`] with `epoch` after `delay_ms`.
    DiskWrite {
        /// The node's epoch when the write started.
        epoch: u64,
        /// How long the write takes.
        delay_ms: u64,
    },
}

/// One vault replica with its host: disk, pending outputs, relay routes.
pub struct VaultNode {
    /// Replica group.
    pub group: u32,
    /// Datacenter the replica is in.
    pub dc: Dc,
    /// Extra delay of every message to this node (a slow replica).
    pub slow_ms: u64,
    /// The node's clock (what it is told as `now_ms`).
    pub clock: NodeClock,
    replica: Option<VaultReplica<InsecureFastSuite>>,
    disk: BTreeMap<AccountId, Vec<u8>>,
    pending: VecDeque<VaultOutput>,
    writing: bool,
    routes: BTreeMap<u64, (usize, u64)>,
    next_route: u64,
    epoch: u64,
    mode: HostMode,
    disk_write_ms: u64,
    rng: ChaCha20Rng,
}

/// Most requests a host keeps routes for (older ones are forgotten).
pub const ROUTES_MAX: usize = 100_000;

impl VaultNode {
    /// A running node with an empty disk.
    pub fn new(
        group: u32,
        dc: Dc,
        fleet: InsecureFastFleetSecrets,
        mode: HostMode,
        disk_write_ms: u64,
        rng: ChaCha20Rng,
    ) -> Self {
        Self {
            group,
            dc,
            slow_ms: 0,
            clock: NodeClock::default(),
            replica: Some(VaultReplica::new(InsecureFastSuite, fleet)),
            disk: BTreeMap::new(),
            pending: VecDeque::new(),
            writing: false,
            routes: BTreeMap::new(),
            next_route: 0,
            epoch: 0,
            mode,
            disk_write_ms,
            rng,
        }
    }

    /// True while the replica runs.
    pub fn is_up(&self) -> bool {
        self.replica.is_some()
    }

    /// The generation of `account`'s record in the running replica.
    pub fn generation(&self, account: &AccountId) -> Option<u64> {
        let replica = self.replica.as_ref()?;
        replica.store().record(account).map(|r| r.generation)
    }

    /// Crashes the node: volatile state, pending outputs and any write in progress are lost.
    pub fn crash(&mut self) {
        self.replica = None;
        self.pending.clear();
        self.writing = false;
        self.routes.clear();
        self.epoch += 1;
    }

    /// Restarts a crashed node from its disk. Returns the number of records that failed to load.
    pub fn restart(&mut self, fleet: InsecureFastFleetSecrets) -> usize {
        if self.replica.is_some() {
            return 0;
        }
        let mut replica = VaultReplica::new(InsecureFastSuite, fleet);
        let mut failed = 0;
        for (account, sealed) in &self.disk {
            if replica.restore_record(account.clone(), sealed).is_err() {
                failed += 1;
            }
        }
        self.replica = Some(replica);
        failed
    }

    /// A relay's request arrives at global time `now_ms` (the replica is told its own clock's
    /// reading). Returns the host route id and the request as the replica saw
    /// it (for the checkers), and the effects.
    pub fn handle_request(
        &mut self,
        now_ms: u64,
        relay: usize,
        bytes: &[u8],
    ) -> (Option<(u64, VaultRequest)>, Vec<NodeEffect>) {
        let Some(replica) = self.replica.as_mut() else {
            return (None, Vec::new());
        };
        let Ok(mut request) = VaultRequest::decode(bytes) else {
            return (None, Vec::new());
        };
        let host_route = (self.epoch << 40) | self.next_route;
        self.next_route += 1;
        if self.routes.len() >= ROUTES_MAX
            && let Some(oldest) = self.routes.keys().next().copied()
        {
            self.routes.remove(&oldest);
        }
        self.routes.insert(host_route, (relay, request.route_id));
        request.route_id = host_route;
        replica.handle_relay_message(
            self.clock.local_ms(now_ms),
            &mut self.rng,
            &request.encode(),
        );
        while let Some(output) = replica.poll_output() {
            self.pending.push_back(output);
        }
        let effects = self.carry_out();
        (Some((host_route, request)), effects)
    }

    /// A disk write started at `epoch` completed.
    pub fn handle_disk_done(&mut self, epoch: u64) -> Vec<NodeEffect> {
        if epoch != self.epoch || !self.writing {
            return Vec::new();
        }
        self.writing = false;
        if let Some(VaultOutput::Persist {
            account,
            sealed_record,
        }) = self.pending.pop_front()
        {
            self.disk.insert(account, sealed_record);
        }
        self.carry_out()
    }

    fn carry_out(&mut self) -> Vec<NodeEffect> {
        let mut effects = Vec::new();
        if self.mode == HostMode::ReplyBeforePersist {
            let mut kept = VecDeque::new();
            while let Some(output) = self.pending.pop_front() {
                match output {
                    VaultOutput::ReplyToRelay { bytes } => self.send_reply(&bytes, &mut effects),
                    other => kept.push_back(other),
                }
            }
            self.pending = kept;
        }
        while !self.writing {
            match self.pending.front() {
                None => break,
                Some(VaultOutput::Persist { .. }) => {
                    self.writing = true;
                    effects.push(NodeEffect::DiskWrite {
                        epoch: self.epoch,
                        delay_ms: self.disk_write_ms,
                    });
                }
                Some(VaultOutput::ReplyToRelay { .. }) => {
                    if let Some(VaultOutput::ReplyToRelay { bytes }) = self.pending.pop_front() {
                        self.send_reply(&bytes, &mut effects);
                    }
                }
                // Outputs this host does not know (the replicated vault's) are not carried out.
                Some(_) => {
                    self.pending.pop_front();
                }
            }
        }
        effects
    }

    fn send_reply(&mut self, bytes: &[u8], effects: &mut Vec<NodeEffect>) {
        let Ok(mut reply) = VaultReply::decode(bytes) else {
            return;
        };
        let host_route = reply.route_id;
        let Some((relay, route_id)) = self.routes.remove(&host_route) else {
            return;
        };
        reply.route_id = route_id;
        effects.push(NodeEffect::Reply {
            relay,
            bytes: reply.encode(),
            host_route,
        });
    }
}
