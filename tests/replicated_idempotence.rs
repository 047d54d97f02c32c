//! Consensus applies a change at least once (SPEC.md "Replication", at-least-once): every
//! `RecordChange` applied again — at once or after other changes — grants no extra attempt,
//! loses no expose or reset, and never brings erased secrets back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2ee_backup::internal::crypto::SecretBytes;
use e2ee_backup::internal::vault::change::first_login_epoch;
use e2ee_backup::internal::vault::{
    AccountRecord, ChangeOutcome, PreparedLogin, RecordChange, RecordState, Registration,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

fn registration(tag: u8, limit: u32) -> Registration {
    Registration {
        oprf_seed: SecretBytes::new(vec![tag; 64]),
        opaque_registration: SecretBytes::new(vec![tag; 8]),
        wrapped_key: SecretBytes::new(vec![tag; 4]),
        attempt_limit: limit,
        expose_check: [tag; 32],
        delete_check: [tag ^ 0xFF; 32],
        registration_digest: [tag.wrapping_add(1); 32],
    }
}

/// The first login epoch of generation `generation` (its registration is `registration(g)`).
fn first_epoch(generation: u64) -> u64 {
    let tag = u8::try_from(generation).unwrap();
    first_login_epoch(&registration(tag, 3).registration_digest)
}

fn login_start(generation: u64, n: u8) -> RecordChange {
    login_start_in(generation, first_epoch(generation), n)
}

fn login_start_in(generation: u64, login_epoch: u64, n: u8) -> RecordChange {
    RecordChange::LoginStart {
        generation,
        login_epoch,
        request_digest: [n; 32],
        prepared: Some(PreparedLogin {
            login_id: [n; 16],
            sealed_server_login: SecretBytes::new(vec![n; 8]),
            credential_response: vec![n; 8],
        }),
    }
}

/// The pool random histories draw from: two registrations, exposes, logins, finishes, delete.
fn pool() -> Vec<RecordChange> {
    let mut pool = vec![
        RecordChange::Register {
            base_generation: 0,
            registration: registration(1, 3),
        },
        RecordChange::Register {
            base_generation: 1,
            registration: registration(2, 3),
        },
        RecordChange::Expose {
            generation: 1,
            proof_check: [1; 32],
        },
        RecordChange::Expose {
            generation: 2,
            proof_check: [2; 32],
        },
        RecordChange::Delete {
            generation: 1,
            proof_check: [1 ^ 0xFF; 32],
        },
        RecordChange::Read,
    ];
    for generation in 1..=2 {
        for n in 1..=4u8 {
            pool.push(login_start(generation, n));
            // The same login made for the epoch after a success.
            pool.push(login_start_in(
                generation,
                first_epoch(generation) + 1,
                n.wrapping_add(8),
            ));
            for verified in [false, true] {
                pool.push(RecordChange::LoginFinish {
                    generation,
                    login_id: [n; 16],
                    verified,
                });
            }
        }
    }
    pool
}

fn step(
    record: &Option<AccountRecord>,
    change: &RecordChange,
) -> (Option<AccountRecord>, ChangeOutcome) {
    let applied = change.apply(record.as_ref());
    (applied.write.or_else(|| record.clone()), applied.outcome)
}

fn attempts(record: &Option<AccountRecord>) -> Option<u32> {
    match record.as_ref().map(|r| &r.state) {
        Some(RecordState::Active(a)) => Some(a.attempts_used),
        _ => None,
    }
}

fn erased(record: &Option<AccountRecord>) -> bool {
    matches!(
        record.as_ref().map(|r| &r.state),
        Some(RecordState::Locked | RecordState::Deleted)
    )
}

/// Checks one duplicate: `change` (an earlier change of the history) applied again to `before`.
/// `granted` are the login ids the history has answered with a challenge (counted) so far.
fn check_duplicate(before: &Option<AccountRecord>, change: &RecordChange, granted: &[[u8; 16]]) {
    let (after, outcome) = step(before, change);
    let context = format!("{change:?} applied again to {before:?}");
    // No extra attempt: a duplicate answers with a login the history had not counted only if
    // it counts that attempt itself, in the same write (INV-ATTEMPTS).
    let mut counts_one = false;
    let mut resets = false;
    match &outcome {
        ChangeOutcome::LoginChallenge { login_id, .. } if !granted.contains(login_id) => {
            let (b, a) = (attempts(before), attempts(&after));
            assert!(
                b.is_some() && a == b.map(|b| b + 1),
                "uncounted challenge: {context}"
            );
            counts_one = true;
        }
        ChangeOutcome::Released { .. } => {
            // INV-DISCLOSE: only to a login that was counted; a verified login resets the counter.
            if let RecordChange::LoginFinish { login_id, .. } = change {
                assert!(
                    granted.contains(login_id),
                    "release to an uncounted login: {context}"
                );
            }
            resets = true;
        }
        _ => {}
    }
    // A duplicate Register or Expose acts as the client's own retry would (it carries the
    // client's registration or proof; Delete likewise, checked below); logins never move the
    // generation.
    let client_intent = matches!(
        change,
        RecordChange::Register { .. } | RecordChange::Expose { .. }
    );
    let same_generation =
        after.as_ref().map(|r| r.generation) == before.as_ref().map(|r| r.generation);
    assert!(
        same_generation || client_intent,
        "generation moved: {context}"
    );
    if erased(before) && !matches!(change, RecordChange::Register { .. }) {
        assert_eq!(&after, before, "erased record changed: {context}");
    }
    if !same_generation {
        return;
    }
    match (attempts(before), attempts(&after)) {
        (Some(b), Some(a)) => {
            let expected = if resets {
                0
            } else if counts_one {
                b + 1
            } else {
                b
            };
            assert_eq!(a, expected, "counter changed: {context}")
        }
        // Conservative: an Active record may only be erased when no attempt is left.
        (Some(_), None) => {
            let Some(RecordState::Active(active)) = before.as_ref().map(|r| &r.state) else {
                unreachable!()
            };
            let state = after.as_ref().map(|r| &r.state);
            let locked = matches!(state, Some(RecordState::Locked));
            let deleted = matches!(state, Some(RecordState::Deleted))
                && matches!(change, RecordChange::Delete { .. });
            assert!(
                (active.attempts_remaining() == 0 && locked) || deleted,
                "lost expose or reset: {context}"
            );
        }
        (None, Some(_)) => {
            assert!(
                matches!(change, RecordChange::Expose { .. }),
                "activated a record: {context}"
            )
        }
        (None, None) => {}
    }
}

#[test]
fn every_change_applied_twice_in_a_row_changes_nothing_more() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let pool = pool();
    for _ in 0..300 {
        let mut record = None;
        for _ in 0..14 {
            let change = &pool[(rng.next_u64() % pool.len() as u64) as usize];
            let (once, first) = step(&record, change);
            let (twice, second) = step(&once, change);
            assert_eq!(twice, once, "second application of {change:?} wrote again");
            if let ChangeOutcome::LoginChallenge { .. } = first {
                assert_eq!(
                    second, first,
                    "a retried login start must get the same challenge"
                );
            }
            record = once;
        }
    }
}

#[test]
fn an_earlier_change_applied_again_later_grants_no_attempt_and_loses_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let pool = pool();
    let mut duplicates = 0;
    for _ in 0..300 {
        let mut record = None;
        let mut history: Vec<RecordChange> = Vec::new();
        let mut granted = Vec::new();
        for _ in 0..14 {
            let change = pool[(rng.next_u64() % pool.len() as u64) as usize].clone();
            let (next, outcome) = step(&record, &change);
            if let ChangeOutcome::LoginChallenge { login_id, .. } = &outcome {
                granted.push(*login_id);
            }
            record = next;
            history.push(change);
            for earlier in &history {
                check_duplicate(&record, earlier, &granted);
                duplicates += 1;
            }
        }
    }
    assert!(duplicates > 10_000);
}

#[test]
fn a_retried_login_start_after_another_login_is_refused_not_counted() {
    let mut record = None;
    for change in [
        RecordChange::Register {
            base_generation: 0,
            registration: registration(1, 3),
        },
        RecordChange::Expose {
            generation: 1,
            proof_check: [1; 32],
        },
        login_start(1, 1),
        login_start(1, 2),
    ] {
        record = step(&record, &change).0;
    }
    assert_eq!(attempts(&record), Some(2));
    let (after, outcome) = step(&record, &login_start(1, 1));
    assert_eq!(outcome, ChangeOutcome::Busy);
    assert_eq!(attempts(&after), Some(2));
}
