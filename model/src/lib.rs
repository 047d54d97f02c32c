//! The stateright model checker of the e2ee-backup vault protocol (SPEC.md "Model checking").
//!
//! It drives the crate's real [`e2ee_backup::Client`], [`e2ee_backup::Relay`] and
//! [`e2ee_backup::SingleVault`] with the symbolic crypto suite
//! ([`e2ee_backup::internal::crypto::symbolic`]) over a lossy, duplicating, reordering network with vault
//! crashes and restarts, and checks INV-ATTEMPTS, INV-DISCLOSE, lockout permanence and
//! INV-DURABLE exhaustively on small configurations ([`config::ModelConfig::named`]).
//! [`replicated`] does the same for the replicated vault (3 or 5 real replicas running
//! per-account CASPaxos, crashes, restarts from disk, amnesia, relay failover) and adds
//! INV-LINEAR (stateright's linearizability tester) and liveness.

pub mod challenges;
pub mod config;
pub mod model;
pub mod multiset;
pub mod probe;
pub mod properties;
pub mod replicated;
pub mod rng;
pub mod run;
pub mod state;
