//! The `LoginChallenge`s the vault released, as both models record them for INV-ATTEMPTS.

use std::collections::{BTreeMap, BTreeSet};

use e2ee_backup::wire::LoginId;

/// Distinct login ids released per generation since the generation's attempt window last
/// reset, and the generation of every login id ever released.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChallengeLog {
    window: BTreeMap<u64, BTreeSet<LoginId>>,
    login_generation: BTreeMap<LoginId, u64>,
}

impl ChallengeLog {
    /// A `LoginChallenge` for `login_id` of `generation` left the vault. A stored challenge
    /// sent again (a retried request) is the same response, not a new guess: only a login id
    /// never released before counts.
    pub fn record(&mut self, login_id: LoginId, generation: u64) {
        if self.login_generation.insert(login_id, generation).is_none() {
            self.window.entry(generation).or_default().insert(login_id);
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

    /// Whether every window holds at most `limit` challenges.
    pub fn within(&self, limit: usize) -> bool {
        self.window.values().all(|ids| ids.len() <= limit)
    }

    /// Whether some window holds `limit` challenges or more.
    pub fn reached(&self, limit: usize) -> bool {
        self.window.values().any(|ids| ids.len() >= limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_released_again_counts_once_and_a_reset_restarts_the_window() {
        let mut log = ChallengeLog::default();
        log.record([1; 16], 1);
        log.record([1; 16], 1);
        log.record([2; 16], 1);
        assert!(log.within(2) && !log.within(1) && log.reached(2));
        assert_eq!(log.generation_of(&[2; 16]), Some(1));
        assert_eq!(log.generation_of(&[3; 16]), None);
        log.reset(1);
        assert!(log.within(0) && !log.reached(1));
        log.record([1; 16], 1);
        assert!(
            log.within(0),
            "a login released before the reset is not a new guess"
        );
    }
}
