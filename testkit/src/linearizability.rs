//! The one Wing–Gong linearizability search (INV-LINEAR), for any sequential object: the
//! consensus test register (`consensus`) and the vault's account records (`cluster`) are
//! judged by this same code.
//!
//! A history is a list of operations as the harness saw them ([`Observed`]); [`events`] turns
//! it into the events that must or may have taken effect (a change is at-least-once, SPEC.md
//! "Consensus"), and [`linearizable`] searches for a sequential order of them that respects
//! real time and reproduces every answered outcome.

use std::collections::BTreeSet;

/// What the harness saw of one operation on one object.
#[derive(Clone, Debug)]
pub struct Observed<C, O> {
    /// The change proposed.
    pub change: C,
    /// Logical time of the invocation.
    pub invoked: u64,
    /// Logical time and outcome of a definite answer (`None`: never answered, failed, or
    /// answered without knowing whether it took effect).
    pub answered: Option<(u64, O)>,
    /// Accept rounds run for it: each may have taken effect once.
    pub accept_rounds: usize,
}

/// One possible effect of an operation on its object.
#[derive(Clone, Debug)]
pub struct Event<C, O> {
    /// Logical time of the invocation.
    pub invoked: u64,
    /// Logical time of the response (`u64::MAX` = never answered).
    pub responded: u64,
    /// Mandatory events must take effect (with `expect`); optional ones may or may not.
    pub mandatory: bool,
    /// The change.
    pub change: C,
    /// The outcome a mandatory event must reproduce.
    pub expect: Option<O>,
}

/// The events of a history: an answered operation takes effect once with its outcome, and each
/// of its other Accept rounds may have taken effect once more; an operation without a definite
/// answer may take effect once per Accept round, at any later time.
pub fn events<C: Clone, O: Clone>(history: &[Observed<C, O>]) -> Vec<Event<C, O>> {
    let mut events = Vec::new();
    for op in history {
        let optional = |responded| Event {
            invoked: op.invoked,
            responded,
            mandatory: false,
            change: op.change.clone(),
            expect: None,
        };
        match &op.answered {
            Some((responded, outcome)) => {
                events.push(Event {
                    invoked: op.invoked,
                    responded: *responded,
                    mandatory: true,
                    change: op.change.clone(),
                    expect: Some(outcome.clone()),
                });
                events.extend((1..op.accept_rounds).map(|_| optional(*responded)));
            }
            None => events.extend((0..op.accept_rounds).map(|_| optional(u64::MAX))),
        }
    }
    events
}

/// A sequential object the search replays events on.
pub trait Sequential {
    /// A change.
    type Change;
    /// What a change reports.
    type Outcome: PartialEq;
    /// The object's value (`Default` is its initial value).
    type Value: Clone + Default;
    /// A comparable summary of a value, for the search's memo of visited states.
    type Key: Ord;

    /// Applies `change` to `value`: the new value and the outcome.
    fn apply(change: &Self::Change, value: &Self::Value) -> (Self::Value, Self::Outcome);

    /// The memo key of `value`.
    fn key(value: &Self::Value) -> Self::Key;
}

/// Wing–Gong search: is there a sequential order of the mandatory events (plus any subset of
/// the optional ones) that respects real time and reproduces every expected outcome?
///
/// Panics on more than 128 events (the search's bit set).
pub fn linearizable<S: Sequential>(events: &[Event<S::Change, S::Outcome>]) -> bool {
    assert!(
        events.len() <= 128,
        "history too long for the checker: {}",
        events.len()
    );
    search::<S>(events, 0, S::Value::default(), &mut BTreeSet::new())
}

fn search<S: Sequential>(
    events: &[Event<S::Change, S::Outcome>],
    done: u128,
    value: S::Value,
    seen: &mut BTreeSet<(u128, S::Key)>,
) -> bool {
    let undone = |i: usize| done & (1u128 << i) == 0;
    let horizon = (0..events.len())
        .filter(|&i| undone(i) && events[i].mandatory)
        .map(|i| events[i].responded)
        .min();
    let Some(horizon) = horizon else {
        return true;
    };
    if !seen.insert((done, S::key(&value))) {
        return false;
    }
    for (i, event) in events.iter().enumerate() {
        if !undone(i) || event.invoked > horizon {
            continue;
        }
        let (next, outcome) = S::apply(&event.change, &value);
        if event.mandatory && event.expect.as_ref() != Some(&outcome) {
            continue;
        }
        // Optional events that ended before this one began can no longer take effect.
        let mut mask = done | (1u128 << i);
        for (j, other) in events.iter().enumerate() {
            if undone(j) && !other.mandatory && other.responded < event.invoked {
                mask |= 1u128 << j;
            }
        }
        if search::<S>(events, mask, next, seen) {
            return true;
        }
    }
    false
}
