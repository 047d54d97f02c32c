//! # e2ee-backup-caspaxos
//!
//! Per-key CASPaxos consensus: a generic, sans-I/O replication engine, `no_std + alloc`. The
//! `e2ee-backup` vault replicates its records with it; that workspace's SPEC.md ("Replication
//! (per-account CASPaxos)") is the normative description.
//!
//! A group of `N` replicas keeps one linearizable register per key. Every replica is both
//! proposer and acceptor. An operation is a [`Change`] — a deterministic function of the
//! register's current value — run in two phases (Rystsov, *CASPaxos*, 2018):
//!
//! 1. the proposer sends [`PeerMessage::Prepare`] with a fresh [`Ballot`]; a quorum
//!    (`N/2 + 1`) answers [`PeerMessage::Promise`] with what each has accepted;
//! 2. the proposer applies the change to the value with the highest accepted ballot and sends
//!    [`PeerMessage::Accept`]; a quorum answers [`PeerMessage::Accepted`] and the operation
//!    completes with the change's outcome.
//!
//! Refusals ([`PeerMessage::Reject`]) carry what the acceptor has seen so the proposer retries
//! above it after a backoff. Ballots carry an epoch; a replica that lost its disk fences the
//! group at a new epoch and catches up before it votes again ([`Replica::recover_amnesiac`]).
//!
//! The engine knows nothing about the vault: keys `K`, values `V` and changes `C` are generic.
//! It does no I/O: the host feeds inputs ([`Replica::propose`], [`Replica::handle_message`],
//! [`Replica::handle_timeout`]) and carries out [`Output`]s in order.
//!
//! ```
//! use e2ee_backup_caspaxos::{Change, Config, Output, Replica, ReplicaId};
//!
//! #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
//! struct Add(u32);
//! impl Change<u32> for Add {
//!     type Outcome = u32;
//!     type Context = ();
//!     fn apply(&self, _: &(), current: Option<&u32>) -> (Option<u32>, u32) {
//!         let next = current.copied().unwrap_or(0) + self.0;
//!         (Some(next), next)
//!     }
//! }
//!
//! let config = Config::new([ReplicaId(1), ReplicaId(2), ReplicaId(3)]);
//! let mut group: Vec<Replica<&str, u32, Add>> = config
//!     .replicas
//!     .iter()
//!     .map(|id| Replica::new(*id, config.clone(), u64::from(id.0)).unwrap())
//!     .collect();
//! let op = group[0].propose(0, "alice", Add(5), &());
//! // A tiny lossless network: deliver every Send until nothing moves.
//! let mut done = None;
//! let mut queue = std::collections::VecDeque::new();
//! loop {
//!     for replica in group.iter_mut() {
//!         while let Some(output) = replica.poll_output() {
//!             match output {
//!                 Output::Send { to, message } => queue.push_back((replica.id(), to, message)),
//!                 Output::Completed { op: id, outcome } if id == op => done = Some(outcome),
//!                 _ => {} // a real host writes Persist outputs to disk here, in order
//!             }
//!         }
//!     }
//!     let Some((from, to, message)) = queue.pop_front() else { break };
//!     let target = group.iter_mut().find(|r| r.id() == to).unwrap();
//!     target.handle_message(0, from, message, &());
//! }
//! assert_eq!(done, Some(5));
//! ```
//!
//! ## Features
//!
//! - `fault-injection`: deliberately broken behaviours (`FaultInjection`, set in
//!   `Config::fault`), only for tests that prove a checker can fail. Without it neither exists
//!   and the engine always runs the correct protocol.
#![no_std]
// docs.rs (`--cfg docsrs`, nightly): label each feature-gated item with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(unreachable_pub)]

extern crate alloc;

mod acceptor;
mod ballot;
mod config;
mod messages;
mod node;
mod proposer;
mod recovery;
mod replica;

pub use acceptor::{AcceptorState, DurableState, DurableWrite, ReplicaMeta};
pub use ballot::{Ballot, ReplicaId, RequestTag};
#[cfg(feature = "fault-injection")]
pub use config::FaultInjection;
pub use config::{Change, Config, FailReason, OpId, Output};
pub use messages::{AcceptedValue, PeerMessage, Refusal};
pub use node::CATCH_UP_PAGE_MAX;
pub use replica::{Replica, StartError};
