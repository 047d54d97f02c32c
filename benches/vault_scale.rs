//! How a five-replica group's cost grows with the number of accounts it holds (issue 16 goal 4;
//! README "Benchmarks"): memory per account in one replica, durable bytes per account, and the
//! time of a recover and of a wrong-password attempt with 10^3, 10^4 (and, with
//! `VAULT_SCALE_MAX=100000` or `1000000`, 10^5 and 10^6) accounts registered.
//!
//! `cargo bench --bench vault_scale` — the in-memory group of the replicated tests on one core
//! (client → relay → replica → CASPaxos over four peers → reply, every message and durable write
//! sealed, the insecure fast KSF so that the client's key stretching is not in the figure).
//! Accounts are registered through the protocol, one after another. Memory of one replica is
//! what a deep copy of it allocates (a counting allocator), so it is the replica's own heap:
//! records, consensus acceptor state, the trusted write counts. Times are medians of
//! `SAMPLES` operations on accounts drawn across the whole range; only their ratios across
//! sizes in one run mean something on a noisy machine.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::time::Instant;

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::GroupId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::consensus::ReplicaId;
use e2ee_backup::internal::relay::{FirstReplica, Relay, RelayConfig};
use e2ee_backup::internal::vault::{DurableImage, ReplicaPlace, open_replica_write};
use e2ee_backup_testkit::cluster::{Cluster, GROUP, account, fleet};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Counts allocations (the system allocator underneath).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SAMPLES: usize = 200;
const CONNECTION: u64 = 1;

fn name(i: u64) -> String {
    format!("user-{i:08}")
}

/// Registers accounts `from..to`, each through the protocol.
fn register_range(cluster: &mut Cluster, key: &BackupKey, from: u64, to: u64) {
    for i in from..to {
        cluster.add_client(ConnectionId(CONNECTION), &account(&name(i)));
        let outcome = cluster.register(ConnectionId(CONNECTION), b"pw", key, 10);
        assert!(matches!(outcome, ClientOutcome::Registered { .. }));
        // The harness keeps every outcome; only the last one matters here.
        cluster.outcomes.clear();
    }
}

/// Bytes a deep copy of one replica's store (records, acceptor state, trusted counts) allocates.
fn replica_heap(cluster: &Cluster, id: usize) -> usize {
    let vault = cluster.nodes[id].vault.as_ref().expect("replica up");
    let region = Region::new(GLOBAL);
    let copy = vault.store().inner.clone();
    let change = region.change();
    drop(copy);
    change
        .bytes_allocated
        .saturating_sub(change.bytes_deallocated)
}

fn disk_bytes(cluster: &Cluster, id: u8) -> usize {
    cluster
        .copy_disk(id)
        .values()
        .map(|sealed| sealed.len())
        .sum()
}

/// Seconds to open every durable write of replica `id` into a restart image (what a replica
/// host does at every start: `node::hsm`).
fn restart_open_s(cluster: &Cluster, id: u8) -> f64 {
    let disk = cluster.copy_disk(id);
    let fleet = fleet();
    let place = ReplicaPlace {
        group: GroupId(GROUP),
        replica: ReplicaId(id),
    };
    let start = Instant::now();
    let mut image = DurableImage::new();
    for (slot, sealed) in &disk {
        let write = open_replica_write(&cluster.suite, &fleet, place, slot, sealed)
            .expect("the replica's own write opens");
        image.insert(write).expect("one write per slot");
    }
    start.elapsed().as_secs_f64()
}

fn median_us(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median microseconds of `SAMPLES` recovers (right password) and wrong-password attempts on
/// accounts drawn from `0..accounts`.
fn time_operations(
    cluster: &mut Cluster,
    key: &BackupKey,
    accounts: u64,
    rng: &mut ChaCha20Rng,
) -> (f64, f64) {
    let mut right = Vec::with_capacity(SAMPLES);
    let mut wrong = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let i = rng.next_u64() % accounts;
        cluster.add_client(ConnectionId(CONNECTION), &account(&name(i)));
        let start = Instant::now();
        let outcome = cluster.recover(ConnectionId(CONNECTION), b"pw");
        right.push(start.elapsed().as_secs_f64() * 1e6);
        assert_eq!(outcome, ClientOutcome::Recovered(key.clone()));
        let start = Instant::now();
        let outcome = cluster.recover(ConnectionId(CONNECTION), b"not the password");
        wrong.push(start.elapsed().as_secs_f64() * 1e6);
        assert!(matches!(outcome, ClientOutcome::WrongPassword { .. }));
        // The right password again: the counter is back at zero for the next draw.
        assert_eq!(
            cluster.recover(ConnectionId(CONNECTION), b"pw"),
            ClientOutcome::Recovered(key.clone())
        );
        cluster.outcomes.clear();
    }
    (median_us(right), median_us(wrong))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let max: u64 = std::env::var("VAULT_SCALE_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sizes: Vec<u64> = [1_000u64, 10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect();
    let key = BackupKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut cluster = Cluster::new(3);
    // The harness's relay, with room for a token bucket per account, so that the relay's
    // bucket eviction (SPEC.md "Relay") is not part of a figure about the vault.
    cluster.relay = Relay::new(RelayConfig {
        bucket_capacity: 10_000,
        replicas_per_group: 5,
        first_replica: FirstReplica::Fixed(0),
        vault_retry_ms: 700,
        vault_sends_max: 4,
        max_buckets: usize::MAX,
        ..RelayConfig::default()
    });
    let empty_heap = replica_heap(&cluster, 0);
    let empty_disk = disk_bytes(&cluster, 0);
    println!(
        "| accounts | replica heap | heap / account | durable bytes / account | open every write (restart) | register (s, all) | recover p50 | wrong password p50 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut registered = 0;
    for &n in &sizes {
        let start = Instant::now();
        register_range(&mut cluster, &key, registered, n);
        let register_s = start.elapsed().as_secs_f64();
        registered = n;
        let heap = replica_heap(&cluster, 0);
        let disk = disk_bytes(&cluster, 0);
        let open_s = restart_open_s(&cluster, 0);
        let (right, wrong) = time_operations(&mut cluster, &key, n, &mut rng);
        println!(
            "| {n} | {:.1} MiB | {} B | {} B | {:.0} ms | {register_s:.1} | {:.2} ms | {:.2} ms |",
            heap as f64 / (1024.0 * 1024.0),
            (heap - empty_heap) as u64 / n,
            (disk - empty_disk) as u64 / n,
            open_s * 1000.0,
            right / 1000.0,
            wrong / 1000.0,
        );
    }
}
