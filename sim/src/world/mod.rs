//! The world and its core loop: datacenters, relays, vault nodes and users exchange messages
//! through the simulated network, driven by one event queue and one seed.
//!
//! One concern per module: `config` and `result` are what a run is given and gives back;
//! `state` is the `World` itself and the events it schedules; `setup` builds it;
//! `dispatch` is the event loop; `hosts` wires the vault replicas, relays and phones to the
//! network; `tamper` applies the faults to messages in transit and `fault_actions` the faults
//! to hosts (the plan is [`crate::faults`]); `verdict` ends the run with the final checks.
//! Only `state` defines the world's fields; every other module adds `impl World` methods to it
//! and imports `state` (and the value types of `config` and `result`), never another module's
//! behaviour: the methods call each other through `self`, so the imports go one way.

mod config;
mod dispatch;
mod fault_actions;
mod hosts;
mod result;
mod setup;
mod state;
mod tamper;
mod verdict;

pub use config::{
    Broken, EVENTS_MAX, QUEUE_CAPACITY, SimConfig, VAULT_RETRY_MS, VAULT_SENDS_MAX, WorldSize,
};
pub use result::{RunResult, Stats};

/// Runs one seed of one scenario.
pub fn run(config: SimConfig) -> RunResult {
    let mut world = state::World::new(config);
    world.run();
    world.finish()
}
