//! The password tests the vault granted, as both models record them for INV-ATTEMPTS.
//!
//! A *password test* is any vault output computed under a live record's OPRF key (SPEC.md
//! INV-ATTEMPTS): a `LoginChallenge`'s credential response, and also a `RegistrationResponse`
//! if it was evaluated under that key (the uncounted OPRF oracle of the broken
//! `shared-oprf-key` variant). The symbolic suite names the key every evaluation used
//! (`crypto::symbolic::inspect::oprf_key_of_response`), and the log learns the key of each
//! live registration from the records it is shown.

use std::collections::{BTreeMap, BTreeSet};

use e2ee_backup::internal::crypto::symbolic::inspect;
use e2ee_backup::internal::vault::{AccountRecord, RecordState};
use e2ee_backup::internal::wire::LoginId;

/// One password test: a counted login, or one OPRF evaluation answering a `RegisterStart`
/// (named by the response, which is a function of the blinded input and the key: the same
/// response sent again is the same test).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PasswordTest {
    /// A `LoginChallenge` of this login id.
    Login(LoginId),
    /// A `RegistrationResponse` with these bytes.
    Registration(Vec<u8>),
}

/// Distinct password tests granted per generation since the generation's attempt window last
/// reset, the generation of every login id ever released, and the OPRF key of every live
/// registration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChallengeLog {
    window: BTreeMap<u64, BTreeSet<PasswordTest>>,
    login_generation: BTreeMap<LoginId, u64>,
    registration_tests: BTreeSet<Vec<u8>>,
    live_keys: BTreeMap<u64, Vec<u8>>,
}

impl ChallengeLog {
    /// A `LoginChallenge` for `login_id` of `generation` left the vault. A stored challenge
    /// sent again (a retried request) is the same response, not a new guess: only a login id
    /// never released before counts. `credential_response`, if its OPRF key is that of another
    /// live registration, counts against that one too.
    pub fn record(&mut self, login_id: LoginId, generation: u64, credential_response: &[u8]) {
        if self.login_generation.insert(login_id, generation).is_none() {
            let mut generations = self.live_under(credential_response);
            generations.insert(generation);
            for g in generations {
                self.window
                    .entry(g)
                    .or_default()
                    .insert(PasswordTest::Login(login_id));
            }
        }
    }

    /// A `RegistrationResponse` left the vault: if it was computed under the OPRF key of a
    /// live registration it is a password test against that registration (INV-ATTEMPTS).
    pub fn record_registration_response(&mut self, registration_response: &[u8]) {
        let generations = self.live_under(registration_response);
        if generations.is_empty()
            || !self
                .registration_tests
                .insert(registration_response.to_vec())
        {
            return;
        }
        for g in generations {
            self.window
                .entry(g)
                .or_default()
                .insert(PasswordTest::Registration(registration_response.to_vec()));
        }
    }

    /// The live generations whose OPRF key `response` was computed under.
    fn live_under(&self, response: &[u8]) -> BTreeSet<u64> {
        let Some(key) = inspect::oprf_key_of_response(response) else {
            return BTreeSet::new();
        };
        self.live_keys
            .iter()
            .filter(|(_, k)| **k == key)
            .map(|(g, _)| *g)
            .collect()
    }

    /// The vault holds `record`: an exposed registration is live under its OPRF key. Only a
    /// `settled` record (durable on the single replica, chosen in a group) ends a registration:
    /// a newer generation, a lockout or a deletion. A record that may still be undone (live
    /// but not yet durable, accepted by too few acceptors) only ever makes one live, so the
    /// log never stops counting a registration the vault may still serve.
    pub fn observe_record(&mut self, record: &AccountRecord, settled: bool) {
        let generation = record.generation;
        if !settled && !matches!(record.state, RecordState::Active(_)) {
            return;
        }
        match &record.state {
            RecordState::Active(active) => {
                if settled {
                    self.live_keys.retain(|g, _| *g >= generation);
                }
                if let Some(key) = inspect::oprf_key_of_registration(
                    active.registration.opaque_registration.expose(),
                ) {
                    self.live_keys.insert(generation, key);
                }
            }
            RecordState::Pending(_) => self.live_keys.retain(|g, _| *g >= generation),
            RecordState::Locked | RecordState::Deleted => {
                self.live_keys.retain(|g, _| *g > generation);
            }
        }
    }

    /// A record of `generation` with `attempts_used = 0` took effect: its window starts again.
    pub fn reset(&mut self, generation: u64) {
        self.window.remove(&generation);
    }

    /// The generation of the released login `login_id`, if it was released.
    pub fn generation_of(&self, login_id: &[u8]) -> Option<u64> {
        let id: LoginId = login_id.try_into().ok()?;
        self.login_generation.get(&id).copied()
    }

    /// Whether every window holds at most `limit` password tests.
    pub fn within(&self, limit: usize) -> bool {
        self.window.values().all(|tests| tests.len() <= limit)
    }

    /// Whether some window holds `limit` password tests or more.
    pub fn reached(&self, limit: usize) -> bool {
        self.window.values().any(|tests| tests.len() >= limit)
    }

    /// Whether some registration response was counted as a password test.
    pub fn registration_tested(&self) -> bool {
        !self.registration_tests.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_released_again_counts_once_and_a_reset_restarts_the_window() {
        let mut log = ChallengeLog::default();
        log.record([1; 16], 1, b"");
        log.record([1; 16], 1, b"");
        log.record([2; 16], 1, b"");
        assert!(log.within(2) && !log.within(1) && log.reached(2));
        assert_eq!(log.generation_of(&[2; 16]), Some(1));
        assert_eq!(log.generation_of(&[3; 16]), None);
        log.reset(1);
        assert!(log.within(0) && !log.reached(1));
        log.record([1; 16], 1, b"");
        assert!(
            log.within(0),
            "a login released before the reset is not a new guess"
        );
    }

    use e2ee_backup::internal::crypto::symbolic::{SymbolicFleetSecrets, SymbolicSuite};
    use e2ee_backup::internal::crypto::{CryptoSuite as _, Identities, SecretBytes};
    use e2ee_backup::internal::vault::{ActiveRecord, Registration};
    use e2ee_backup::{AccountId, FleetId};

    use crate::rng::CounterRng;

    /// An exposed record of generation 1 registered under `seed`, and the vault's answer to a
    /// fresh `RegisterStart` under `probe_seed` (nonces from RNG stream `stream`).
    fn record_and_probe(
        seed: &SecretBytes,
        probe_seed: &SecretBytes,
        stream: u32,
    ) -> (AccountRecord, Vec<u8>) {
        let suite = SymbolicSuite;
        let fleet = SymbolicFleetSecrets::new(FleetId::new(b"fleet").unwrap());
        let pinned = suite.fleet_public_keys(&fleet);
        let account = AccountId::new(b"alice").unwrap();
        let ids = Identities {
            account: &account,
            fleet: &pinned.fleet_id,
        };
        let mut rng = CounterRng::new(stream);
        let start = suite.client_registration_start(&mut rng, b"pw").unwrap();
        let response = suite
            .server_registration_start(&mut rng, &fleet, seed, &start.message, &account)
            .unwrap();
        let finish = suite
            .client_registration_finish(&mut rng, start.state, b"pw", &response, ids, &pinned)
            .unwrap();
        let registration = suite.server_registration_finish(&finish.message).unwrap();
        let probe = suite.client_registration_start(&mut rng, b"guess").unwrap();
        let probe_response = suite
            .server_registration_start(&mut rng, &fleet, probe_seed, &probe.message, &account)
            .unwrap();
        let record = AccountRecord {
            generation: 1,
            state: RecordState::Active(ActiveRecord {
                registration: Registration {
                    oprf_seed: seed.clone(),
                    opaque_registration: SecretBytes::new(registration),
                    wrapped_key: SecretBytes::new(vec![1]),
                    attempt_limit: 1,
                    expose_check: [0; 32],
                    delete_check: [0; 32],
                    registration_digest: [0; 32],
                },
                attempts_used: 0,
                login_epoch: 0,
                pending_login: None,
                recent_login_digests: Vec::new(),
            }),
        };
        (record, probe_response)
    }

    #[test]
    fn a_registration_response_under_the_live_key_is_a_password_test_and_a_fresh_key_is_not() {
        let mut rng = CounterRng::new(9);
        let live = SymbolicSuite.new_oprf_seed(&mut rng);
        let fresh = SymbolicSuite.new_oprf_seed(&mut rng);

        let (record, shared) = record_and_probe(&live, &live, 7);
        let mut log = ChallengeLog::default();
        log.observe_record(&record, true);
        log.record_registration_response(&shared);
        log.record_registration_response(&shared);
        assert!(log.registration_tested() && log.reached(1) && log.within(1));

        let (record, unrelated) = record_and_probe(&live, &fresh, 7);
        let mut log = ChallengeLog::default();
        log.observe_record(&record, true);
        log.record_registration_response(&unrelated);
        assert!(!log.registration_tested() && log.within(0));

        let (record, shared) = record_and_probe(&live, &live, 7);
        let mut log = ChallengeLog::default();
        log.observe_record(&record, true);
        let locked = AccountRecord {
            generation: 1,
            state: RecordState::Locked,
        };
        log.observe_record(&locked, false);
        log.record_registration_response(&shared);
        assert!(
            log.reached(1),
            "a lockout that may still be undone does not end the registration"
        );
        log.reset(1);
        log.observe_record(&locked, true);
        let (_, other) = record_and_probe(&live, &live, 8);
        assert_ne!(other, shared);
        log.record_registration_response(&other);
        assert!(log.within(0), "an erased registration is not live");
    }
}
