//! The one test harness of e2ee-backup (never published). The core's tests, benches and
//! examples use it instead of each carrying its own copy:
//!
//! - [`fixtures`]: the test fleet (one seed, so every harness and its oracle hold the same
//!   secrets) and account ids;
//! - [`net`]: one vault replica, one relay and any number of clients in memory, with hooks on
//!   every hop and an omniscient reply oracle (INV-ATTEMPTS, INV-DISCLOSE);
//! - [`cluster`]: a five-replica group over a seeded faulty network, crashes, restarts from the
//!   durable image, rollbacks, and the record-change log for INV-LINEAR;
//! - [`consensus`]: the consensus engine on a `u64` register over a seeded faulty network;
//! - [`linearizability`]: the one Wing–Gong search both logs are judged by;
//! - [`observer`]: the one reply observer (opens requests and replies with the fleet's secrets;
//!   login challenges and key releases), used by `net`, `cluster` and the simulator's oracle;
//! - [`judge`]: the one judge of INV-ATTEMPTS and INV-DISCLOSE at the vault boundary, which
//!   `net` and `cluster` assert after every reply and the simulator's oracle reports from;
//! - [`stream`]: stream plaintexts, keys and every way to open a stream;
//! - [`attempt`]: one password attempt as the benches time it and callgrind counts it.
//!
//! A harness panics on anything its test did not expect: that is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod attempt;
pub mod cluster;
pub mod consensus;
pub mod fixtures;
pub mod judge;
pub mod linearizability;
pub mod net;
pub mod observer;
pub mod stream;
