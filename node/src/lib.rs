//! # e2ee-backup-node: reference hosts for the vault
//!
//! The core (`e2ee-backup`) is sans-I/O: it says what to send, what to persist and when to wake
//! up. This crate is one way to run it for real, as processes on a network:
//!
//! - `e2ee-vault-replica`: one replica of a replicated vault group ([`replica_host`]). Its
//!   software HSM boundary ([`hsm`]) owns the fleet secrets, the trusted state and the core's
//!   `ReplicatedVault`; the host owns sockets, timers, the disk ([`storage`], redb) and the OS RNG.
//! - `e2ee-vault-relay`: the chat front end ([`relay_host`]): TLS for clients, an account
//!   token per connection ([`token`]), the core's `Relay` for routing, rate limits and failover.
//! - `e2ee-vault`: provisioning ([`provision`]), tokens, a local five-replica fleet and a small
//!   client ([`client_link`]).
//!
//! ## Transport: TCP with length-prefixed frames
//!
//! Every link is TCP carrying frames of a `u32` big-endian length and that many bytes, at most
//! [`frame::FRAME_MAX`] ([`frame`]). QUIC would add its own handshake, congestion control and
//! certificate handling for no gain here: the core already seals every replica-to-replica
//! message (the replica-link key) and every client request (HPKE to the fleet), authenticates
//! the replies, and retries and fails over on its own timers, so the host only needs an ordered
//! byte pipe that can be dropped and reopened. Replica↔replica and relay↔replica links are plain
//! TCP (the core seals what they carry; an attacker on them can drop or delay, which the
//! protocol tolerates). The client↔relay link is TLS (rustls), because the relay binds a
//! connection to an account by a bearer token that must not be readable on the wire.
//!
//! SPEC.md "Hosts" names every frame, file and token format used here.

pub mod accept;
pub mod cli;
pub mod client_link;
pub mod config;
pub mod endpoint;
pub mod files;
pub mod frame;
pub mod hsm;
pub mod provision;
pub mod relay_host;
pub mod replica_host;
pub mod stats;
pub mod storage;
pub mod tls;
pub mod token;
pub mod trust;

/// The crypto suite every host and client of this crate runs (Argon2id key stretching).
pub type Suite = e2ee_backup::internal::crypto::real::ProductionSuite;
/// The fleet secrets of [`Suite`].
pub type FleetSecrets = e2ee_backup::internal::crypto::real::ProductionFleetSecrets;

/// Milliseconds on a monotonic clock since `start` (the time the core is told).
pub fn elapsed_ms(start: std::time::Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The OS RNG as the `rand_core` 0.6 RNG the core takes.
pub fn os_rng() -> e2ee_backup::internal::rng::Compat<rand::rand_core::UnwrapErr<rand::rngs::SysRng>>
{
    e2ee_backup::internal::rng::Compat(rand::rand_core::UnwrapErr(rand::rngs::SysRng))
}
