//! The model's unordered network: a multiset of packets (packet → copies in flight).

use std::collections::BTreeMap;

/// Puts one more copy of `packet` in flight.
pub fn put<P: Ord>(network: &mut BTreeMap<P, u8>, packet: P) {
    let copies = network.entry(packet).or_insert(0);
    *copies = copies.saturating_add(1);
}

/// Takes one copy of `packet` out of flight; false if none was there.
pub fn take<P: Ord>(network: &mut BTreeMap<P, u8>, packet: &P) -> bool {
    match network.get_mut(packet) {
        Some(copies) if *copies > 1 => {
            *copies -= 1;
            true
        }
        Some(_) => {
            network.remove(packet);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_taken_one_at_a_time_until_none_is_left() {
        let mut network = BTreeMap::new();
        put(&mut network, "a");
        put(&mut network, "a");
        assert!(take(&mut network, &"a"));
        assert!(take(&mut network, &"a"));
        assert!(!take(&mut network, &"a"));
        assert!(network.is_empty());
    }
}
