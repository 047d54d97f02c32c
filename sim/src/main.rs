//! Deterministic simulator for the e2ee-backup vault (placeholder until the simulator lands).
fn main() {
    println!("e2ee-backup-sim: the deterministic simulator is not built yet.");
}
