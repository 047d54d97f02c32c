//! Simulated time: one global virtual clock in milliseconds; each node is told its own drifting
//! clock (`offset_ms` plus `drift_ppm` parts per million of the elapsed time) as `now_ms`.

/// Virtual time at which every run starts (large enough that negative offsets stay positive).
pub const START_MS: u64 = 1_000_000;

/// One node's view of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeClock {
    /// Constant offset from the global clock.
    pub offset_ms: i64,
    /// Rate error, parts per million (positive: runs fast).
    pub drift_ppm: i64,
}

impl NodeClock {
    /// What this node reads at global time `global_ms`.
    pub fn local_ms(&self, global_ms: u64) -> u64 {
        let global = i128::from(global_ms);
        let skew = global * i128::from(self.drift_ppm) / 1_000_000;
        let local = global + skew + i128::from(self.offset_ms);
        u64::try_from(local.max(0)).unwrap_or(u64::MAX)
    }

    /// The earliest global time at which this node reads at least `local_ms` (never before
    /// `not_before_ms`).
    pub fn global_ms(&self, local_ms: u64, not_before_ms: u64) -> u64 {
        let numerator = (i128::from(local_ms) - i128::from(self.offset_ms)) * 1_000_000;
        let denominator = 1_000_000 + i128::from(self.drift_ppm);
        let guess = if denominator > 0 {
            numerator / denominator
        } else {
            numerator
        };
        let mut global = u64::try_from(guess.max(0))
            .unwrap_or(u64::MAX)
            .max(not_before_ms);
        // Rounding may leave the node a millisecond short; a few steps fix it.
        for _ in 0..8 {
            if self.local_ms(global) >= local_ms {
                break;
            }
            global = global.saturating_add(1);
        }
        global
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_time_for_a_local_deadline_reaches_it() {
        let clock = NodeClock {
            offset_ms: -750,
            drift_ppm: 180,
        };
        for local in [
            START_MS,
            START_MS + 1,
            START_MS + 12_345,
            START_MS + 999_999,
        ] {
            let global = clock.global_ms(local, 0);
            assert!(clock.local_ms(global) >= local);
            assert!(clock.local_ms(global.saturating_sub(2)) < local);
        }
    }
}
