//! Resuming an unfinished login (SPEC.md "Resuming an unfinished login"): a recovery whose
//! answers were all lost ends `Unavailable`, but the vault may have counted its attempt; the
//! next recovery with the same password sends the same bytes, gets the stored challenge and
//! spends no second attempt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::rc::Rc;

use e2ee_backup::BackupKey;
use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::internal::vault::RecordState;
use e2ee_backup::internal::wire::{RequestKind, VaultReply};
use e2ee_backup_testkit::net::{Hop, Net, account};

const PASSWORD: &[u8] = b"correct horse";

fn key() -> BackupKey {
    BackupKey::from_bytes([9; 32])
}

/// A network whose vault answers to logins (not to the guess-free `Status` before them) are all
/// lost while `*blackout` is true; returns the flag.
fn with_blackout(
    net: &mut Net<e2ee_backup::internal::crypto::real::InsecureFastSuite>,
) -> Rc<RefCell<bool>> {
    let blackout = Rc::new(RefCell::new(false));
    let flag = blackout.clone();
    net.hook = Some(Box::new(move |hop, bytes| {
        let login_answer = VaultReply::decode(bytes)
            .is_ok_and(|r| matches!(r.kind, RequestKind::LoginStart | RequestKind::LoginFinish));
        if *flag.borrow() && hop == Hop::VaultToRelay && login_answer {
            vec![]
        } else {
            vec![bytes.to_vec()]
        }
    }));
    blackout
}

/// Registers with limit 1, then runs one recovery whose every answer is lost.
fn registered_then_one_lost_login() -> (
    Net<e2ee_backup::internal::crypto::real::InsecureFastSuite>,
    Rc<RefCell<bool>>,
) {
    let mut net = Net::fast(5);
    net.add_client(ConnectionId(1), &account("alice"));
    let blackout = with_blackout(&mut net);
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 1),
        ClientOutcome::Registered { generation: 1 }
    );
    *blackout.borrow_mut() = true;
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Unavailable
    );
    *blackout.borrow_mut() = false;
    // The vault counted the only attempt before its answer was lost.
    match &net.vault.store().record(&account("alice")).unwrap().state {
        RecordState::Active(active) => assert_eq!(active.attempts_used, 1),
        other => panic!("{other:?}"),
    }
    assert!(net.client(ConnectionId(1)).has_unfinished_login());
    (net, blackout)
}

#[test]
fn a_lost_login_is_resumed_and_costs_no_second_attempt() {
    let (mut net, _blackout) = registered_then_one_lost_login();
    // Limit 1: a new login would find no attempt left and erase the record.
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
    assert!(!net.client(ConnectionId(1)).has_unfinished_login());
    // One challenge in all: the resumed login got the stored one.
    assert_eq!(net.oracle.challenges[&(account("alice"), 1)].len(), 1);
}

#[test]
fn without_resuming_the_lost_login_locks_a_limit_of_one() {
    // The same run with the kept login dropped: what resuming protects the user from.
    let (mut net, _blackout) = registered_then_one_lost_login();
    net.client(ConnectionId(1)).forget_unfinished_login();
    assert!(!net.client(ConnectionId(1)).has_unfinished_login());
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Locked
    );
}

#[test]
fn another_password_starts_a_fresh_login_and_drops_the_kept_one() {
    let (mut net, _blackout) = registered_then_one_lost_login();
    assert_eq!(
        net.recover(ConnectionId(1), b"not the password"),
        ClientOutcome::Locked
    );
    assert!(!net.client(ConnectionId(1)).has_unfinished_login());
}

#[test]
fn a_new_registration_drops_the_kept_login() {
    let (mut net, _blackout) = registered_then_one_lost_login();
    assert_eq!(
        net.register(ConnectionId(1), PASSWORD, &key(), 3),
        ClientOutcome::Registered { generation: 2 }
    );
    assert!(!net.client(ConnectionId(1)).has_unfinished_login());
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
}

#[test]
fn a_login_answered_with_an_outcome_is_not_kept() {
    let mut net = Net::fast(6);
    net.add_client(ConnectionId(1), &account("alice"));
    net.register(ConnectionId(1), PASSWORD, &key(), 3);
    assert!(matches!(
        net.recover(ConnectionId(1), b"wrong"),
        ClientOutcome::WrongPassword { .. }
    ));
    assert!(!net.client(ConnectionId(1)).has_unfinished_login());
}

#[test]
fn a_login_whose_release_was_lost_is_resumed_at_its_finish() {
    let mut net = Net::fast(7);
    net.add_client(ConnectionId(1), &account("alice"));
    // From the third answer of the recovery on, every vault answer is lost: the status and the
    // challenge arrive, the release does not (although the vault committed it).
    let answers = Rc::new(RefCell::new(None::<u32>));
    let seen = answers.clone();
    net.hook = Some(Box::new(move |hop, bytes| {
        let mut seen = seen.borrow_mut();
        match (hop, seen.as_mut()) {
            (Hop::VaultToRelay, Some(n)) => {
                *n += 1;
                if *n >= 3 {
                    vec![]
                } else {
                    vec![bytes.to_vec()]
                }
            }
            _ => vec![bytes.to_vec()],
        }
    }));
    net.register(ConnectionId(1), PASSWORD, &key(), 1);
    *answers.borrow_mut() = Some(0);
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Unavailable
    );
    *answers.borrow_mut() = None;
    assert!(net.client(ConnectionId(1)).has_unfinished_login());
    assert_eq!(
        net.recover(ConnectionId(1), PASSWORD),
        ClientOutcome::Recovered(key())
    );
    assert_eq!(net.oracle.challenges[&(account("alice"), 1)].len(), 1);
}
