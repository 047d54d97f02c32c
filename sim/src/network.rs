//! The simulated network: five datacenters with a latency per pair, loss, duplication, reordering
//! (random jitter), partitions (a datacenter cut off, or one direction of one link), clogging
//! (extra delay on a link) and datacenters that are down. Every draw comes from the network RNG.

use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha20Rng;

use crate::seed::{draw_chance, draw_range};

/// Number of datacenters.
pub const DATACENTERS: usize = 5;

/// A datacenter index, `0..DATACENTERS`.
pub type Dc = usize;

/// One-way base latency between datacenters, milliseconds (symmetric; 1 ms inside one).
pub const LATENCY_MS: [[u64; DATACENTERS]; DATACENTERS] = [
    [1, 12, 45, 80, 150],
    [12, 1, 38, 75, 140],
    [45, 38, 1, 40, 110],
    [80, 75, 40, 1, 90],
    [150, 140, 110, 90, 1],
];

/// Least one-way delay between a phone and a relay (the delay is drawn from this up to
/// [`NetworkConfig::client_latency_ms_max`]).
pub const PHONE_LATENCY_MS_MIN: u64 = 5;

/// Most copies of one message the network ever delivers.
pub const COPIES_MAX: usize = 2;

/// Network settings drawn per run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Chance a message is lost, per million.
    pub loss_per_million: u32,
    /// Chance a message is delivered twice, per million.
    pub duplicate_per_million: u32,
    /// Most random extra delay per message (reorders messages).
    pub jitter_ms_max: u64,
    /// Most one-way latency between a phone and a relay.
    pub client_latency_ms_max: u64,
}

/// Where a message starts or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    /// A phone on the internet (never partitioned, only lossy).
    Phone,
    /// A node inside datacenter `Dc`.
    Datacenter(Dc),
}

/// The network's state.
#[derive(Debug)]
pub struct Network {
    /// Settings.
    pub config: NetworkConfig,
    cut: BTreeSet<(Dc, Dc)>,
    clogged: BTreeMap<(Dc, Dc), u64>,
    down: BTreeSet<Dc>,
    rng: ChaCha20Rng,
}

impl Network {
    /// A healthy network.
    pub fn new(config: NetworkConfig, rng: ChaCha20Rng) -> Self {
        Self {
            config,
            cut: BTreeSet::new(),
            clogged: BTreeMap::new(),
            down: BTreeSet::new(),
            rng,
        }
    }

    /// Drops every message from `from` to `to` (one direction).
    pub fn cut(&mut self, from: Dc, to: Dc) {
        self.cut.insert((from, to));
    }

    /// Restores the link from `from` to `to`.
    pub fn uncut(&mut self, from: Dc, to: Dc) {
        self.cut.remove(&(from, to));
    }

    /// Adds `extra_ms` to every message from `from` to `to`.
    pub fn clog(&mut self, from: Dc, to: Dc, extra_ms: u64) {
        self.clogged.insert((from, to), extra_ms);
    }

    /// Ends the clogging of the link from `from` to `to`.
    pub fn unclog(&mut self, from: Dc, to: Dc) {
        self.clogged.remove(&(from, to));
    }

    /// Marks datacenter `dc` down (nothing in or out) or up.
    pub fn set_down(&mut self, dc: Dc, down: bool) {
        if down {
            self.down.insert(dc);
        } else {
            self.down.remove(&dc);
        }
    }

    /// True if datacenter `dc` is down.
    pub fn is_down(&self, dc: Dc) -> bool {
        self.down.contains(&dc)
    }

    /// Heals every partition, clog and outage.
    pub fn heal(&mut self) {
        self.cut.clear();
        self.clogged.clear();
        self.down.clear();
    }

    /// Decides the fate of one message: the delay of each copy delivered (none: lost).
    pub fn plan(&mut self, from: Endpoint, to: Endpoint) -> Vec<u64> {
        if let (Endpoint::Datacenter(a), Endpoint::Datacenter(b)) = (from, to)
            && self.cut.contains(&(a, b))
        {
            return Vec::new();
        }
        for end in [from, to] {
            if let Endpoint::Datacenter(dc) = end
                && self.down.contains(&dc)
            {
                return Vec::new();
            }
        }
        if draw_chance(&mut self.rng, self.config.loss_per_million) {
            return Vec::new();
        }
        let copies = if draw_chance(&mut self.rng, self.config.duplicate_per_million) {
            COPIES_MAX
        } else {
            1
        };
        let base_ms = match (from, to) {
            (Endpoint::Datacenter(a), Endpoint::Datacenter(b)) => {
                let row = LATENCY_MS.get(a).copied().unwrap_or([1; DATACENTERS]);
                row.get(b).copied().unwrap_or(1) + self.clogged.get(&(a, b)).copied().unwrap_or(0)
            }
            (Endpoint::Phone, _) | (_, Endpoint::Phone) => draw_range(
                &mut self.rng,
                PHONE_LATENCY_MS_MIN,
                self.config.client_latency_ms_max.max(PHONE_LATENCY_MS_MIN),
            ),
        };
        (0..copies)
            .map(|_| base_ms + draw_range(&mut self.rng, 0, self.config.jitter_ms_max))
            .collect()
    }
}

/// How long a disk write takes.
pub const DISK_WRITE_MS: u64 = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::derive_rng;

    #[test]
    fn a_cut_link_drops_only_its_direction() {
        let mut net = Network::new(NetworkConfig::default(), derive_rng(1, "network"));
        net.cut(0, 3);
        assert!(
            net.plan(Endpoint::Datacenter(0), Endpoint::Datacenter(3))
                .is_empty()
        );
        assert_eq!(
            net.plan(Endpoint::Datacenter(3), Endpoint::Datacenter(0)),
            [80]
        );
    }

    #[test]
    fn a_down_datacenter_is_unreachable_until_healed() {
        let mut net = Network::new(NetworkConfig::default(), derive_rng(1, "network"));
        net.set_down(2, true);
        assert!(
            net.plan(Endpoint::Phone, Endpoint::Datacenter(2))
                .is_empty()
        );
        net.heal();
        assert_eq!(
            net.plan(Endpoint::Datacenter(2), Endpoint::Datacenter(2)),
            [1]
        );
    }
}
