//! Faults applied to messages in transit: network replays and byte flips (with `--broken
//! unsealed-links`, flips sealed again), the Byzantine replica's rewritten consensus messages,
//! and a malicious relay's drops, rewrites, reordering, misdelivery and replays. The fault plan
//! itself (the rates and the schedule) is [`crate::faults`].

use super::config::Broken;
use super::state::{Event, World, node_index};
use crate::seed::{draw_chance, draw_range, fleet_secrets};
use crate::vault_node::REPLICAS_PER_GROUP;
use e2ee_backup::internal::crypto::CryptoSuite as _;
use e2ee_backup::internal::crypto::real::InsecureFastSuite;
use e2ee_backup::internal::vault::LinkEnvelope;
use e2ee_backup::internal::vault::replica_link::link_aad;
use e2ee_backup::internal::wire::{ClientReply, VaultRequest};

/// Flips one byte of `bytes` (XOR with a nonzero value); with `routed`, bytes 2–9 (the
/// unauthenticated request or route id after version and code) are left alone.
fn flip_byte(bytes: &mut [u8], routed: bool, rng: &mut rand_chacha::ChaCha20Rng) {
    let skipped = if routed && bytes.len() > 10 { 8 } else { 0 };
    let choices = bytes.len().saturating_sub(skipped) as u64;
    if choices == 0 {
        return;
    }
    let mut at = usize::try_from(draw_range(rng, 0, choices - 1)).unwrap_or(0);
    if skipped > 0 && at >= 2 {
        at += skipped;
    }
    let mask = u8::try_from(draw_range(rng, 1, 255)).unwrap_or(1);
    if let Some(byte) = bytes.get_mut(at) {
        *byte ^= mask;
    }
}

/// `--broken unsealed-links`: opens a replica-link envelope with the fleet's link key, flips
/// one byte of the plaintext and seals it again (a link without an AEAD); envelopes that do
/// not open are left alone.
fn reseal_flipped(bytes: &mut Vec<u8>, seed: u64, rng: &mut rand_chacha::ChaCha20Rng) {
    let Ok(mut envelope) = LinkEnvelope::decode(bytes) else {
        return;
    };
    let fleet = fleet_secrets(seed);
    let aad = link_aad(envelope.group, envelope.from, envelope.to);
    let Ok(plain) = InsecureFastSuite.open_link(&fleet, &aad, &envelope.sealed) else {
        return;
    };
    let mut plain = plain.expose().to_vec();
    flip_byte(&mut plain, false, rng);
    let Ok(sealed) = InsecureFastSuite.seal_link(rng, &fleet, &aad, &plain) else {
        return;
    };
    envelope.sealed = sealed;
    *bytes = envelope.encode();
}

/// `--broken unsealed-links` on a relay's request: opens the sealed request with the fleet's
/// secrets, flips one byte of the plaintext and seals it to the fleet again (a request without
/// integrity); requests that do not decode or open are left alone.
fn reseal_request_flipped(bytes: &mut Vec<u8>, seed: u64, rng: &mut rand_chacha::ChaCha20Rng) {
    let Ok(mut request) = VaultRequest::decode(bytes) else {
        return;
    };
    let fleet = fleet_secrets(seed);
    let aad = e2ee_backup::internal::wire::request_aad(&request.account, request.kind);
    let Ok(opened) = InsecureFastSuite.open_request(&fleet, &aad, &request.sealed) else {
        return;
    };
    let mut plain = opened.plaintext.clone();
    flip_byte(&mut plain, false, rng);
    let public = InsecureFastSuite.fleet_public_keys(&fleet);
    let Ok(sealed) = InsecureFastSuite.seal_request(rng, &public, &aad, &plain) else {
        return;
    };
    request.sealed = sealed.sealed;
    *bytes = request.encode();
}

impl World {
    /// Schedules one network copy of a message `delay_ms` from now, with the faults of issue
    /// 12 before the heal: the copy may be kept and delivered again much later (a replay), and
    /// it may have one byte flipped in transit.
    pub(super) fn transmit(&mut self, delay_ms: u64, mut event: Event) {
        let extra = self.extra;
        if self.healed {
            self.schedule(delay_ms, event);
            return;
        }
        if extra.replay_per_million > 0
            && draw_chance(&mut self.extra_rng, extra.replay_per_million)
        {
            let later_ms = draw_range(
                &mut self.extra_rng,
                extra.replay_delay_ms_min,
                extra.replay_delay_ms_max,
            );
            self.stats.replays += 1;
            self.schedule(delay_ms.saturating_add(later_ms), event.clone());
        }
        if extra.corrupt_per_million > 0
            && draw_chance(&mut self.extra_rng, extra.corrupt_per_million)
        {
            self.corrupt(&mut event);
        }
        self.schedule(delay_ms, event);
    }

    /// Flips one byte of a message in transit. The relay's and the client's routing ids
    /// (`ClientRequest::request_id`, `VaultRequest::route_id`, bytes 2–9 after version and
    /// code) are left alone: they are unauthenticated labels by design (a flip only misroutes,
    /// as a malicious relay's rewrite does). With `--broken unsealed-links` a replica-link
    /// envelope, or a relay's request to a replica, is opened, a byte of its plaintext flipped,
    /// and sealed again.
    pub(super) fn corrupt(&mut self, event: &mut Event) {
        let unsealed = self.config.broken == Some(Broken::UnsealedLinks);
        let (bytes, routed) = match event {
            Event::RelayToVault { bytes, .. } if unsealed => {
                self.stats.corrupted += 1;
                reseal_request_flipped(bytes, self.config.seed, &mut self.extra_rng);
                return;
            }
            Event::PhoneToRelay { bytes, .. }
            | Event::RelayToVault { bytes, .. }
            | Event::VaultToRelay { bytes, .. }
            | Event::RelayToPhone { bytes, .. } => (bytes, true),
            Event::ReplicaToReplica {
                bytes, tampered, ..
            } => {
                *tampered = true;
                if unsealed {
                    self.stats.corrupted += 1;
                    let seed = self.config.seed;
                    reseal_flipped(bytes, seed, &mut self.extra_rng);
                    return;
                }
                (bytes, false)
            }
            _ => return,
        };
        self.stats.corrupted += 1;
        flip_byte(bytes, routed, &mut self.extra_rng);
    }

    /// The Byzantine replica's lies: a `Promise` it sends claims it accepted nothing, and an
    /// `Accept` it sends as a proposer refunds every counted attempt of an active record. The
    /// envelope is opened and sealed again with the link key the replica holds (a replica whose
    /// code, not its key, is corrupted).
    pub(super) fn byzantine_rewrite(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        use e2ee_backup::internal::consensus::PeerMessage;
        use e2ee_backup::internal::vault::ReplicaBody;
        use e2ee_backup::internal::vault::replica_wire::{
            decode_replica_message, encode_replica_message,
        };
        let Ok(mut envelope) = LinkEnvelope::decode(&bytes) else {
            return bytes;
        };
        let fleet = fleet_secrets(self.config.seed);
        let aad = link_aad(envelope.group, envelope.from, envelope.to);
        let Ok(plain) = InsecureFastSuite.open_link(&fleet, &aad, &envelope.sealed) else {
            return bytes;
        };
        let Ok(mut message) = decode_replica_message(plain.expose()) else {
            return bytes;
        };
        let ReplicaBody::Peer(peer) = &mut message.body else {
            return bytes;
        };
        match peer {
            PeerMessage::Promise { accepted, .. } if accepted.is_some() => *accepted = None,
            PeerMessage::Accept {
                value: Some(record),
                ..
            } => match &mut record.state {
                e2ee_backup::internal::vault::RecordState::Active(active)
                    if active.attempts_used > 0 =>
                {
                    active.attempts_used = 0;
                }
                _ => return bytes,
            },
            _ => return bytes,
        }
        self.stats.byzantine_lies += 1;
        let Ok(sealed) = InsecureFastSuite.seal_link(
            &mut self.extra_rng,
            &fleet,
            &aad,
            &encode_replica_message(&message),
        ) else {
            return bytes;
        };
        envelope.sealed = sealed;
        envelope.encode()
    }

    /// A malicious relay's request to a replica: dropped (`None`), or sent with a rewritten
    /// account id or route id, an extra delay (reordering) and perhaps again 1–60 s later.
    /// Returns the bytes and the extra delay.
    pub(super) fn misbehave_to_vault(
        &mut self,
        m: crate::faults::MaliciousRelay,
        relay: usize,
        bytes: Vec<u8>,
    ) -> Option<(Vec<u8>, u64)> {
        let rng = &mut self.extra_rng;
        if draw_chance(rng, m.drop_per_million) {
            self.stats.relay_tampered += 1;
            return None;
        }
        let mut bytes = bytes;
        let rewrite_account = draw_chance(rng, m.rewrite_account_per_million);
        let rewrite_route = draw_chance(rng, m.rewrite_route_per_million);
        if (rewrite_account || rewrite_route)
            && let Ok(mut request) = VaultRequest::decode(&bytes)
        {
            if rewrite_account {
                let other =
                    usize::try_from(draw_range(rng, 0, self.users.len() as u64 - 1)).unwrap_or(0);
                if let Some(user) = self.users.get(other) {
                    request.account = user.account.clone();
                }
            }
            if rewrite_route {
                request.route_id = draw_range(rng, 0, u64::MAX - 1);
            }
            bytes = request.encode();
            self.stats.relay_tampered += 1;
        }
        let extra_ms = draw_range(rng, 0, m.reorder_ms_max);
        if draw_chance(rng, m.replay_per_million) {
            let later_ms = draw_range(rng, 1_000, 60_000);
            self.replay_to_vault_later(later_ms, relay, &bytes);
        }
        Some((bytes, extra_ms))
    }

    /// Keeps a copy of a malicious relay's request to send it again `later_ms` from now, to a
    /// replica of the account's group chosen at random then.
    pub(super) fn replay_to_vault_later(&mut self, later_ms: u64, relay: usize, bytes: &[u8]) {
        let Ok(request) = VaultRequest::decode(bytes) else {
            return;
        };
        let group = e2ee_backup::internal::relay::group_for(&request.account, self.size.groups);
        let replica = u8::try_from(draw_range(
            &mut self.extra_rng,
            0,
            u64::from(REPLICAS_PER_GROUP) - 1,
        ))
        .unwrap_or(0);
        self.stats.replays += 1;
        self.schedule(
            later_ms,
            Event::RelayToVault {
                relay,
                node: node_index(group.0, replica),
                bytes: bytes.to_vec(),
            },
        );
    }

    /// A malicious relay's reply to a phone: dropped (`None`), or delivered to another phone,
    /// late, and perhaps again 1–60 s later. Returns the phone and the extra delay.
    pub(super) fn misbehave_to_phone(
        &mut self,
        m: crate::faults::MaliciousRelay,
        user: usize,
        bytes: &[u8],
    ) -> Option<(usize, u64)> {
        let rng = &mut self.extra_rng;
        if draw_chance(rng, m.drop_per_million) {
            self.stats.relay_tampered += 1;
            return None;
        }
        let mut to_user = user;
        if draw_chance(rng, m.rewrite_route_per_million) {
            to_user = usize::try_from(draw_range(rng, 0, self.users.len() as u64 - 1)).unwrap_or(0);
            self.stats.relay_tampered += 1;
        }
        let extra_ms = draw_range(rng, 0, m.reorder_ms_max);
        if draw_chance(rng, m.replay_per_million) && ClientReply::decode(bytes).is_ok() {
            let later_ms = draw_range(rng, 1_000, 60_000);
            self.stats.replays += 1;
            self.schedule(
                later_ms,
                Event::RelayToPhone {
                    relay: 0,
                    user: to_user,
                    bytes: bytes.to_vec(),
                },
            );
        }
        Some((to_user, extra_ms))
    }
}
