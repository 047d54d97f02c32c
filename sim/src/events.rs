//! A deterministic event queue: events ordered by (time, insertion sequence), bounded.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// Events waiting for their time; ties are broken by insertion order, never by content.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, E>,
    next_sequence: u64,
    capacity: usize,
    /// Events refused because the queue was full.
    pub refused: u64,
}

impl<E> EventQueue<E> {
    /// An empty queue holding at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_sequence: 0,
            capacity,
            refused: 0,
        }
    }

    /// Schedules `event` at `time_ms`; refused (and counted) when the queue is full.
    pub fn push(&mut self, time_ms: u64, event: E) -> bool {
        if self.events.len() >= self.capacity {
            self.refused += 1;
            return false;
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.heap.push(Reverse((time_ms, sequence)));
        self.events.insert(sequence, event);
        true
    }

    /// The earliest event with its time and sequence number.
    pub fn pop(&mut self) -> Option<(u64, u64, E)> {
        let Reverse((time_ms, sequence)) = self.heap.pop()?;
        let event = self.events.remove(&sequence)?;
        Some((time_ms, sequence, event))
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True if nothing waits.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion_order_and_refuses_beyond_capacity() {
        let mut queue = EventQueue::new(3);
        assert!(queue.push(20, "c"));
        assert!(queue.push(10, "a"));
        assert!(queue.push(10, "b"));
        assert!(!queue.push(5, "refused"));
        let order: Vec<_> = std::iter::from_fn(|| queue.pop().map(|(_, _, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(queue.refused, 1);
    }
}
